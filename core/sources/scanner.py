"""Walk a source folder and bring the catalog up to date with it, without writing into the folder.

Only files whose (size, mtime, inode) changed since the last scan are looked at. The walk alone makes
the listing complete (type from the folder name, ComfyUI's categories); ``inspect_pending`` then reads
each new header (a few KB: format, type, base model) and the background hasher reads the bytes. A file that
vanished is marked missing, never dropped; a file that reappears under another name with the same inode,
size and mtime is a rename and keeps its model and metadata. A source folder that cannot be read (an
unmounted share) marks the source unavailable and leaves its files as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog.db import Database
from ..errors import Cancelled, ModelLibraryError
from ..formats.inspect import inspect_path
from ..importer.plan import PlannedModel, plan_paths
from ..models import PENDING_PREFIX, Hashes, Model, ModelFile, utcnow
from .registry import FileRow, SourceRegistry, SourceRow

ProgressFn = Callable[[int, int, str], None]
CancelledFn = Callable[[], bool]

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
    errors: list[str] = field(default_factory=list)
    took_s: float = 0.0
    changed_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "changed_ids"}
        d["took_s"] = round(self.took_s, 3)
        return d


def provisional_id(device: int, inode: int) -> str:
    return "p" + hashlib.blake2b(f"{device}:{inode}".encode(), digest_size=8).hexdigest()[:15]


def scan_source(
    source: SourceRow,
    db: Database,
    registry: SourceRegistry,
    *,
    skip_roots: tuple[Path, ...] = (),
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
    batch: int = 500,
) -> ScanReport:
    started = time.monotonic()
    report = ScanReport(source.path)
    root = Path(source.path)
    try:
        if not root.is_dir() or not os.access(root, os.R_OK | os.X_OK):
            raise OSError(f"{root} cannot be read")
        planned, failures = plan_paths([root])
    except OSError as exc:
        registry.set_state(source.id, "unavailable")
        report.state = "unavailable"
        report.errors.append(f"{root}: {exc}; its models are kept as they were until it is back")
        report.took_s = time.monotonic() - started
        return report
    report.errors.extend(f"{f.path}: {f.reason}" for f in failures)
    known = registry.files(source.id)
    seen_paths: set[str] = set()
    pending: list[tuple[PlannedModel, list[dict[str, Any]]]] = []
    total = len(planned)
    for index, plan in enumerate(planned):
        if cancelled is not None and cancelled():
            raise Cancelled(f"Scan of {root} was cancelled; what was scanned is kept.")
        entries = _stat_files(plan, skip_roots)
        if entries is None:
            continue
        report.seen += 1
        seen_paths.update(e["path"] for e in entries)
        if all(_unchanged(known.get(e["path"]), e) for e in entries):
            report.unchanged += 1
            continue
        pending.append((plan, entries))
        if len(pending) >= batch:
            _commit(pending, known, source, db, registry, report)
            pending = []
        if progress is not None and index % 200 == 0:
            progress(index, total, f"scanning {root.name}")
    _commit(pending, known, source, db, registry, report)
    # Re-read: renames matched during commit moved their rows to the new path.
    current = registry.files(source.id) if (pending or report.renamed or known) else {}
    vanished = [p for p, row in current.items() if p not in seen_paths and row.state == "present"]
    if vanished:
        with db.transaction() as conn:
            report.changed_ids.extend(registry.mark_missing(conn, vanished))
        report.missing = len(vanished)
    registry.set_state(source.id, "ok", scanned=True)
    if progress is not None:
        progress(total, total, f"scanned {root.name}")
    report.took_s = time.monotonic() - started
    return report


def _stat_files(plan: PlannedModel, skip_roots: tuple[Path, ...]) -> list[dict[str, Any]] | None:
    entries: list[dict[str, Any]] = []
    for path in plan.files:
        try:
            lst = os.lstat(path)
            if stat.S_ISLNK(lst.st_mode):
                target = path.resolve(strict=True)
                if any(r == target or r in target.parents for r in skip_roots):
                    return None  # one of our own links: the library already holds the model
            st = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        entries.append(
            {
                "path": str(path),
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "inode": st.st_ino,
                "device": st.st_dev,
            }
        )
    return entries


def _unchanged(row: FileRow | None, entry: dict[str, Any]) -> bool:
    return (
        row is not None
        and row.state in ("present", "ignored")
        and row.size == entry["size"]
        and row.mtime_ns == entry["mtime_ns"]
        and row.inode == entry["inode"]
    )


def _commit(
    pending: list[tuple[PlannedModel, list[dict[str, Any]]]],
    known: dict[str, FileRow],
    source: SourceRow,
    db: Database,
    registry: SourceRegistry,
    report: ScanReport,
) -> None:
    if not pending:
        return
    by_identity = {(r.device, r.inode, r.size, r.mtime_ns): r for r in known.values()}
    new_models: list[Model] = []
    file_entries: list[dict[str, Any]] = []
    renames: list[tuple[int, str]] = []
    stale_models: set[str] = set()
    for plan, entries in pending:
        main = entries[0]
        old = known.get(main["path"])
        moved_from = None
        if old is None:
            candidate = by_identity.get((main["device"], main["inode"], main["size"], main["mtime_ns"]))
            if (
                candidate is not None
                and candidate.path not in {e["path"] for e in entries}
                and not os.path.lexists(candidate.path)
            ):
                moved_from = candidate
        if moved_from is not None and len(entries) == 1:
            renames.append((moved_from.id, main["path"]))
            report.renamed += 1
            continue
        if old is not None and old.model_id:
            stale_models.add(old.model_id)
            report.changed += 1
        else:
            report.added += 1
        model = _provisional_model(plan, entries)
        if model is None:
            report.errors.append(f"{plan.origin}: not a readable model file")
            continue
        new_models.append(model)
        for e in entries:
            file_entries.append({**e, "model_id": model.id})
    with db.transaction() as conn:
        for file_id, new_path in renames:
            registry.rename_file(conn, file_id, new_path)
        # A changed file is a new version: its old provisional/source-only model goes unless other
        # locations still hold it.
        ids = [m.id for m in new_models]
        if ids:
            marks = ",".join("?" * len(ids))
            existing = {r[0] for r in conn.execute(f"SELECT id FROM models WHERE id IN ({marks})", ids)}  # noqa: S608
        else:
            existing = set()
        fresh = [m for m in new_models if m.id not in existing]
        _insert_models(conn, fresh)
        for m in new_models:
            if m.id in existing:
                conn.execute(
                    "UPDATE models SET type = ?, base_model = ?, size = ?, state = 'ready', updated_at = ? "
                    "WHERE id = ? AND blake3 LIKE 'pending:%'",
                    (m.type, m.base_model, m.size, utcnow(), m.id),
                )
        registry.upsert_files(conn, source.id, file_entries)
        registry.detach(conn, sorted(stale_models - set(ids)))
    report.changed_ids.extend(m.id for m in new_models)


def _provisional_model(plan: PlannedModel, entries: list[dict[str, Any]]) -> Model | None:
    main = entries[0]
    model_id = provisional_id(main["device"], main["inode"])
    detection_type = _type_from_folder(plan.files[0])
    file_format = "diffusers" if plan.format == "diffusion-folder" else "unknown"
    folder = plan.origin if plan.format == "diffusion-folder" else plan.files[0].parent
    files = tuple(
        ModelFile(Path(e["path"]).relative_to(folder).as_posix(), e["size"], "", "") for e in entries
    )
    now = utcnow()
    return Model(
        id=model_id,
        name=plan.name,
        type=detection_type,
        base_model="unknown",
        format=plan.format,
        file_format=file_format,
        security="unknown",
        size=sum(e["size"] for e in entries),
        hashes=Hashes(PENDING_PREFIX + model_id, ""),
        files=files,
        location="source",
        rel_dir=str(folder),
        added_at=now,
        updated_at=now,
        warnings=plan.warnings,
    )


def inspect_pending(
    db: Database, registry: SourceRegistry, *, limit: int = 500, cancelled: CancelledFn | None = None
) -> int:
    """Read the header of files the walk listed but nobody has looked into yet; refine their models."""
    rows = db.execute_read(
        "SELECT f.id, f.path, f.model_id, m.format, m.rel_dir, m.manual_fields FROM source_files f "
        "JOIN models m ON m.id = f.model_id WHERE f.inspected = 0 AND f.state = 'present' LIMIT ?",
        (limit,),
    )
    updates: list[tuple[Any, ...]] = []
    done_ids: list[int] = []
    for row in rows:
        if cancelled is not None and cancelled():
            break
        done_ids.append(row["id"])
        path = Path(row["path"])
        found: tuple[str, str, str, str, dict[str, str]]
        try:
            if row["format"] == "diffusion-folder":
                from ..formats.detect import detect_diffusers_folder

                det = detect_diffusers_folder(Path(row["rel_dir"]))
                found = (det.type, det.base_model, "diffusers", "unknown", {})
            elif row["format"] == "sharded-set" and not is_first_weight(path):
                continue
            else:
                info = inspect_path(path)
                found = (
                    info.detection.type,
                    info.detection.base_model,
                    info.file_format,
                    info.security,
                    dict(info.metadata),
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
                    row["model_id"],
                    row["model_id"],
                )
            )
            continue
        det_type, base, file_format, security, metadata = found
        manual = set(json.loads(row["manual_fields"] or "[]"))
        updates.append(
            (
                det_type,
                base,
                file_format,
                security,
                json.dumps(metadata, ensure_ascii=False),
                "[]",
                row["model_id"],
                row["model_id"],
            )
        )
        if det_type == "unknown" or "type" in manual:
            # Keep the folder's hint (or the user's choice) rather than a header that tells nothing.
            updates[-1] = (None, *updates[-1][1:])
        if "base_model" in manual:
            updates[-1] = (updates[-1][0], None, *updates[-1][2:])
    with db.transaction() as conn:
        conn.executemany(
            "UPDATE models SET type = COALESCE(?, type), base_model = COALESCE(?, base_model), "
            "file_format = ?, security = ?, metadata_json = ?, warnings_json = ?, "
            "updated_at = datetime('now') WHERE id = ? AND location = 'source' AND id = ?",
            updates,
        )
        conn.executemany("UPDATE source_files SET inspected = 1 WHERE id = ?", [(i,) for i in done_ids])
    return len(done_ids)


def is_first_weight(path: Path) -> bool:
    from ..importer.plan import shard_of

    shard = shard_of(path.name)
    return shard is None or shard[2] in (0, 1)


def _type_from_folder(path: Path) -> str:
    for parent in path.parents:
        found = CATEGORY_TYPES.get(parent.name.lower())
        if found:
            return found
    return "unknown"


def _insert_models(conn: Any, models: list[Model]) -> None:
    from ..catalog.repository import _INSERT_MODEL, _model_params

    if not models:
        return
    conn.executemany(_INSERT_MODEL, [_model_params(m) for m in models])
    conn.executemany(
        "INSERT INTO model_files (model_id, path, size, blake3, sha256) VALUES (?,?,?,?,?)",
        [(m.id, f.path, f.size, f.blake3, f.sha256) for m in models for f in m.files],
    )
