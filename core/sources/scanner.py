"""Walk a source folder and bring the catalog up to date with it, without writing into the folder.

Only files whose (size, mtime, inode) changed since the last scan are looked at. The walk alone makes
the listing complete (type from the folder name, ComfyUI's categories); ``inspect_pending`` then reads
each new header (a few KB: format, type, base model) and the background hasher reads the bytes. A file that
vanished is marked missing, never dropped; a file that reappears under another name with the same inode,
size and mtime is a rename and keeps its model and metadata. A source folder that cannot be read (an
unmounted share) marks the source unavailable and leaves its files as they were.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog.db import Database
from ..catalog.store import ProvisionalFile, ProvisionalRow
from ..errors import Cancelled, InvalidInput, ModelLibraryError
from ..formats.inspect import inspect_path
from ..models import PENDING_PREFIX, utcnow
from ..origins.trigger_words import local_trigger_words
from ..types import CancelCheck, StageProgress
from .registry import SourceRegistry
from .rows import KnownFile, SourceRow
from .walk import Found, readable_target, walk_models

# ComfyUI's folder names tell a model's type when its header cannot.
CATEGORY_TYPES = {
    "checkpoints": "checkpoint",
    "loras": "lora",
    "vae": "vae",
    "text_encoders": "text_encoder",
    "clip": "text_encoder",
    "diffusion_models": "diffusion_model",
    "unet": "diffusion_model",
    "controlnet": "controlnet",
    "t2i_adapter": "controlnet",
    "clip_vision": "clip_vision",
    "upscale_models": "upscaler",
    "embeddings": "embedding",
    "style_models": "style_model",
    "hypernetworks": "hypernetwork",
    "photomaker": "photomaker",
    "gligen": "gligen",
}


@dataclass
class ScanReport:
    source: str
    state: str = "ok"
    seen: int = 0
    added: int = 0
    changed: int = 0
    renamed: int = 0
    missing: int = 0
    unchanged: int = 0
    links_out: int = 0  # files reached through a symlink to outside the source
    errors: list[str] = field(default_factory=list)
    took_s: float = 0.0
    changed_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "changed_ids"}
        d["took_s"] = round(self.took_s, 3)
        return d


def provisional_id(device: int, inode: int, mtime_ns: int) -> str:
    """An id before hashing: stable across a rename (same inode and mtime), new for a new file that the
    filesystem gave a freed inode."""
    return "p" + hashlib.blake2b(f"{device}:{inode}:{mtime_ns}".encode(), digest_size=8).hexdigest()[:15]


def scan_source(
    source: SourceRow,
    db: Database,
    registry: SourceRegistry,
    *,
    skip_roots: tuple[Path, ...] = (),
    progress: StageProgress | None = None,
    cancelled: CancelCheck | None = None,
    batch: int = 2000,
) -> ScanReport:
    started = time.monotonic()
    report = ScanReport(source.path)
    root = source.path
    skip = tuple(str(r) for r in skip_roots)
    inside = os.path.realpath(root) + os.sep
    known = registry.files(source.id)
    seen_paths: set[str] = set()
    pending: list[Found] = []
    try:
        if not os.path.isdir(root) or not os.access(root, os.R_OK | os.X_OK):
            raise OSError(f"{root} cannot be read")
        for index, found in enumerate(walk_models(root, skip)):
            if cancelled is not None and cancelled():
                raise Cancelled(f"Scan of {root} was cancelled; what was scanned is kept.")
            report.seen += 1
            if progress is not None and index % 500 == 0:  # also over unchanged files: a sign of life
                progress(index, 0, f"scanning {os.path.basename(root)}")
            for e in found.entries:
                seen_paths.add(e["path"])
                if "target" in e and not e["target"].startswith(inside):
                    report.links_out += 1
            if all(_unchanged(known.get(e["path"]), e) for e in found.entries):
                report.unchanged += 1
                continue
            pending.append(found)
            if len(pending) >= batch:
                _commit(pending, known, source, db, registry, report)
                pending = []
    except OSError as exc:
        registry.set_state(source.id, "unavailable")
        report.state = "unavailable"
        report.errors.append(f"{root}: {exc}; its models are kept as they were until it is back")
        report.took_s = time.monotonic() - started
        return report
    _commit(pending, known, source, db, registry, report)
    present_before = sum(1 for r in known.values() if r.state == "present")
    if report.seen == 0 and present_before:
        # A mount point with nothing mounted is an empty, readable folder: that is a share gone away, not
        # every model deleted. Keep them as they were until it is back.
        registry.set_state(source.id, "unavailable")
        report.state = "unavailable"
        report.errors.append(f"{root} is empty now; its {present_before} models are kept until it is back")
        report.took_s = time.monotonic() - started
        return report
    back = [p for p in seen_paths if (r := known.get(p)) is not None and r.state == "missing"]
    if back:
        with db.transaction() as conn:
            report.changed_ids.extend(registry.mark_present(conn, back))
    # Re-read only when something moved: renames matched during commit moved their rows.
    current = registry.files(source.id) if report.renamed else known
    vanished = [p for p, row in current.items() if p not in seen_paths and row.state == "present"]
    if vanished:
        with db.transaction() as conn:
            report.changed_ids.extend(registry.mark_missing(conn, vanished))
        report.missing = len(vanished)
    registry.set_state(source.id, "ok", scanned=True)
    if progress is not None:
        progress(report.seen, report.seen, f"scanned {os.path.basename(root)}")
    report.took_s = time.monotonic() - started
    return report


def _unchanged(row: KnownFile | None, entry: dict[str, Any]) -> bool:
    return (
        row is not None
        and row.state in ("present", "ignored", "missing")
        and row.size == entry["size"]
        and row.mtime_ns == entry["mtime_ns"]
        and row.inode == entry["inode"]
    )


def _commit(
    pending: list[Found],
    known: dict[str, KnownFile],
    source: SourceRow,
    db: Database,
    registry: SourceRegistry,
    report: ScanReport,
) -> None:
    if not pending:
        return
    by_identity = {(r.device, r.inode, r.size, r.mtime_ns): r for r in known.values()} if known else {}
    rows: list[ProvisionalRow] = []
    files: list[ProvisionalFile] = []
    file_entries: list[tuple[dict[str, Any], str]] = []
    renames: list[tuple[int, str]] = []
    stale_models: set[str] = set()
    batch_ids: set[str] = set()
    now = utcnow()
    folder_type = functools.lru_cache(maxsize=None)(_type_from_folder)  # one lookup per folder
    for found in pending:
        main = found.entries[0]
        old = known.get(main["path"])
        if old is None and by_identity and len(found.entries) == 1:
            candidate = by_identity.get((main["device"], main["inode"], main["size"], main["mtime_ns"]))
            if (
                candidate is not None
                and candidate.path != main["path"]
                and not os.path.lexists(candidate.path)
            ):
                renames.append((candidate.id, main["path"]))
                report.renamed += 1
                continue
        if old is not None and old.model_id:
            stale_models.add(old.model_id)
            report.changed += 1
        else:
            report.added += 1
        model_id = provisional_id(main["device"], main["inode"], main["mtime_ns"])
        if model_id in batch_ids:
            # Another name of the same inode (a hardlink) in this batch: one more location of that model.
            file_entries.extend((e, model_id) for e in found.entries)
            continue
        batch_ids.add(model_id)
        fmt = "diffusers" if found.format == "diffusion-folder" else "unknown"
        size = sum(e["size"] for e in found.entries)
        rows.append(
            (
                model_id,
                found.name,
                folder_type(found.folder),
                found.format,
                fmt,
                size,
                found.folder,
                PENDING_PREFIX + model_id,
                now,
                now,
            )
        )
        prefix = len(found.folder) + 1
        for e in found.entries:
            files.append((model_id, e["path"][prefix:].replace(os.sep, "/"), e["size"]))
            file_entries.append((e, model_id))
    with db.transaction() as conn:
        for file_id, new_path in renames:
            registry.rename_file(conn, file_id, new_path)
        ids = [r[0] for r in rows]
        existing = registry.models.existing_ids(conn, ids)
        registry.models.insert_provisional(
            conn, [r for r in rows if r[0] not in existing], [f for f in files if f[0] not in existing]
        )
        registry.models.refresh_provisional(conn, [(r[2], r[5], now, r[0]) for r in rows if r[0] in existing])
        registry.upsert_files(conn, source.id, file_entries)
        registry.models.drop_orphans(conn, sorted(stale_models - set(ids)))
    report.changed_ids.extend(ids)


def inspect_pending(
    db: Database, registry: SourceRegistry, *, limit: int = 500, cancelled: CancelCheck | None = None
) -> int:
    """Read the header of files the walk listed but nobody has looked into yet; refine their models."""
    rows = registry.models.uninspected(limit)
    updates: list[tuple[Any, ...]] = []
    done: list[tuple[Any, ...]] = []  # (file id, size, mtime_ns, inode): the version whose header we read
    now = utcnow()
    for row in rows:
        if cancelled is not None and cancelled():
            break
        version = (row.file_id, row.size, row.mtime_ns, row.inode)
        done.append(version)
        path = Path(row.path)
        found: tuple[str, str, str, str, dict[str, str], tuple[str, ...]]
        try:
            if row.format == "diffusion-folder":
                from ..formats.detect import detect_diffusers_folder

                det = detect_diffusers_folder(Path(row.rel_dir))
                found = (det.type, det.base_model, "diffusers", "unknown", {}, ())
            elif row.format == "sharded-set" and not is_first_weight(path):
                continue
            else:
                readable = readable_target(row.path, row.root)
                if readable is None:
                    raise InvalidInput(
                        f"{path} links to a file outside its source whose name is not a model file's; "
                        "it is not read"
                    )
                info = inspect_path(Path(readable))
                found = (
                    info.detection.type,
                    info.detection.base_model,
                    info.file_format,
                    info.security,
                    dict(info.metadata),
                    info.warnings,  # an unknown format, a pickle's imports: shown as for an import
                )
        except (ModelLibraryError, OSError) as exc:
            updates.append(
                (
                    "unknown",
                    "unknown",
                    "unknown",
                    "unknown",
                    "{}",
                    json.dumps([f"unreadable header: {exc}"[:300]]),
                    "[]",
                    "",
                    now,
                    *version,
                )
            )
            continue
        det_type, base, file_format, security, metadata, warnings = found
        updates.append(
            (
                None if det_type == "unknown" else det_type,  # else keep the folder's hint
                base,
                file_format,
                security,
                json.dumps(metadata, ensure_ascii=False),
                json.dumps(list(warnings), ensure_ascii=False),
                json.dumps(list(words := local_trigger_words(metadata)), ensure_ascii=False),
                " ".join(words),
                now,
                *version,
            )
        )
    with db.transaction() as conn:
        # Read now, not from the SELECT above: hashing may have re-keyed the model (or merged it into one
        # the user edited) meanwhile, and a rescan may have seen a new version of the file (its header
        # is read next time). The user's own type and base model always stay.
        registry.models.apply_headers(conn, updates)
        conn.executemany(
            "UPDATE source_files SET inspected = 1 WHERE id = ? AND size = ? AND mtime_ns = ? AND inode = ?",
            done,
        )
    return len(done)


def is_first_weight(path: Path) -> bool:
    from ..importer.shards import shard_of

    shard = shard_of(path.name)
    return shard is None or shard[2] in (0, 1)


def _type_from_folder(folder: str) -> str:
    for part in reversed(folder.replace("\\", "/").split("/")):
        found = CATEGORY_TYPES.get(part.lower())
        if found:
            return found
    return "unknown"
