"""Folders catalogued in place: ComfyUI's model folders, NAS shares. Nothing is ever written into them.

``SourceService`` (``library.sources``) adds, lists, moves and removes sources, scans them (a listing
complete as soon as the walk is done) and hashes their files in the background; what changed goes out
through the ``on_changed`` it is given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..catalog.db import Database
from ..config import LibraryConfig
from ..errors import InvalidInput
from ..io.hashing import release_buffers
from ..io.paths import is_within
from ..models import ImportItem, ModelFile
from ..types import CancelCheck, OnChanged, StageProgress, WriteCheck
from .background import SourceWatcher, hash_pending
from .registry import SourceRegistry, check_source_path
from .restore import restore_hashes
from .scanner import ScanReport, inspect_pending, scan_source

__all__ = ["SourceRegistry", "SourceService"]


def _composite(files: tuple[ModelFile, ...]) -> tuple[str, str]:
    from ..importer.stage import composite_hashes

    hashes = composite_hashes(files)
    return hashes.blake3, hashes.sha256


class SourceService:
    def __init__(
        self,
        config: LibraryConfig,
        db: Database,
        on_changed: OnChanged | None = None,
        *,
        guard: WriteCheck | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.registry = SourceRegistry(db)
        self._on_changed = on_changed
        self._guard = guard  # raises when the library may not be written now (services/guard.py)
        self._scan_lock = threading.Lock()
        self._watcher: SourceWatcher | None = None
        self._released_once = False
        self._links_out: dict[str, int] = {}  # source path -> files linked from outside it (last walk)
        # True while another process reads the headers (the host's first walk in a child): scans here
        # leave them to it rather than read each header twice.
        self.inspecting_elsewhere: Callable[[], bool] = lambda: False

    # -- management ------------------------------------------------------------------------------------
    def add(
        self,
        path: str | Path,
        *,
        read_only: bool = True,
        auto: bool = False,
        app_id: str | None = None,
        scan: bool = True,
    ) -> dict[str, Any]:
        if self.config.shared:
            why = (
                "Folders are catalogued in place on one machine's own catalog; this library's catalog is "
                "shared by several machines (MODEL_LIBRARY_CATALOG), so its models are imported or adopted "
                "into the shared library instead (docs/teams.md)."
            )
            if auto:  # the host's own model folders: nothing to report to the user
                return {"path": str(path), "skipped": why}
            raise InvalidInput(why)
        folder = check_source_path(Path(path), self.config.root)
        for existing in self.registry.all():
            other = Path(existing.path)
            if other != folder and (other in folder.parents or folder in other.parents):
                raise InvalidInput(
                    f"{folder} overlaps the source {other}; catalogue either the parent folder or its "
                    "sub-folders, not both."
                )
        row = self.registry.add(folder, read_only=read_only, auto=auto, app_id=app_id)
        result: dict[str, Any] = row.to_dict()
        if scan:
            result["scan"] = self._scan_one(row.id).to_dict()
            result["scan"]["inspected"] = self.inspect_pending()
        return result

    def list_sources(self) -> list[dict[str, Any]]:
        stats = self.registry.stats()
        out = []
        for row in self.registry.all():
            entry = row.to_dict()
            entry.update(stats.get(row.id, {"files": 0, "missing": 0, "unhashed": 0, "bytes": 0}))
            out.append(entry)
        return out

    def remove(self, ref: str | int) -> dict[str, Any]:
        row = self.registry.get(_normalise_ref(ref))
        dropped = self.registry.remove(row.id)
        self._links_out.pop(row.path, None)
        self._changed([], "source_removed")
        return {"removed": row.to_dict(), "models_forgotten": dropped}

    def move(self, old: str | Path, new: str | Path) -> dict[str, Any]:
        """A source folder now lives elsewhere (a drive mounted at another place): every stored path under
        it moves to the new place in one transaction, so its models keep their metadata and edits."""
        from ..errors import NotFound
        from ..identity import rewrite_prefix

        if self._guard is not None:
            self._guard()
        source = next((s for s in self.list_sources() if Path(s["path"]) == Path(old)), None)
        if source is None:
            raise NotFound(f"No source at {old}; `model-library sources list` shows the catalogued folders.")
        target = check_source_path(Path(new), self.config.root)
        if any(Path(s["path"]) == target for s in self.list_sources()):
            raise InvalidInput(f"{target} is already a source.")
        counts = rewrite_prefix(self.db, str(Path(old)), str(target), sources=True)
        report = self.scan()
        return {"moved": counts, "scan": report}

    # -- scanning --------------------------------------------------------------------------------------
    def scan(
        self,
        *,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
        only: set[Path] | None = None,
        inspect: bool = True,
        hash_files: bool = False,
    ) -> dict[str, Any]:
        """Walk the sources (the listing is complete after this), then read the new headers; with
        ``hash_files``, hash the files not hashed yet too (``hashed``: how many)."""
        reports = []
        for row in self.registry.all():
            if only and not any(Path(row.path) == p or Path(row.path) in p.parents for p in only):
                continue
            reports.append(self._scan_one(row.id, progress=progress, cancelled=cancelled))
        inspect = inspect and not self.inspecting_elsewhere()
        inspected = self.inspect_pending(cancelled=cancelled) if inspect else 0
        report: dict[str, Any] = {
            "inspected": inspected,
            "sources": [r.to_dict() for r in reports],
            "added": sum(r.added for r in reports),
            "changed": sum(r.changed for r in reports),
            "missing": sum(r.missing for r in reports),
            "renamed": sum(r.renamed for r in reports),
        }
        if hash_files:
            report["hashed"] = self.hash_pending(cancelled=cancelled)
        return report

    def _scan_one(
        self, source_id: int, *, progress: StageProgress | None = None, cancelled: CancelCheck | None = None
    ) -> ScanReport:
        row = self.registry.get(source_id)
        first = row.last_scan_at is None
        # Links into the library (its views) or into another source (walked there) are not followed.
        others = tuple(Path(r.path) for r in self.registry.all() if r.id != source_id)
        skip = (self.config.root.resolve(), *others)
        with self._scan_lock:
            report = scan_source(
                row, self.db, self.registry, skip_roots=skip, progress=progress, cancelled=cancelled
            )
            if first and report.state == "ok":
                # A source the catalog had lost and could not walk at the rebuild (an unmounted share):
                # the hashes recorded before come back now, so nothing unchanged is hashed again.
                report.changed_ids.extend(restore_hashes(self.registry, row.id, row.path))
        if report.state == "ok":
            self._links_out[row.path] = report.links_out
        if report.changed_ids or report.missing or report.renamed:
            self._changed(report.changed_ids, "scanned")
        return report

    def inspect_pending(self, *, cancelled: CancelCheck | None = None) -> int:
        """Read the headers the walk has not read yet (type, base model, format); returns how many."""
        total = 0
        while True:
            done = inspect_pending(self.db, self.registry, cancelled=cancelled)
            total += done
            if done == 0 or (cancelled is not None and cancelled()):
                break
            self._changed([], "inspected")
        return total

    def hash_pending(self, *, cancelled: CancelCheck | None = None, limit: int | None = None) -> int:
        return hash_pending(
            self.registry,
            composite=_composite,
            cancelled=cancelled,
            limit=limit,
            on_settled=lambda model_id: self._changed([model_id], "hashed"),
            guard=self._scan_lock,
        )

    def split_read_only(self, paths: Sequence[str | Path]) -> tuple[list[str | Path], list[ImportItem]]:
        """Paths a move may take, and refusals for those inside (or holding) a read-only source."""
        read_only = [Path(r.path) for r in self.registry.all() if r.read_only]
        if not read_only:
            return list(paths), []
        allowed: list[str | Path] = []
        refused: list[ImportItem] = []
        for raw in paths:
            try:
                path = Path(raw).expanduser().resolve()
            except OSError:
                allowed.append(raw)  # the importer reports it
                continue
            hit = next((r for r in read_only if is_within(path, r) or is_within(r, path)), None)
            if hit is None:
                allowed.append(raw)
                continue
            refused.append(
                ImportItem(
                    str(raw),
                    "failed",
                    error=(
                        f"{raw} is in the read-only source {hit}: a move would take it away from there. "
                        "Import it as a copy, or adopt the folder (`model-library adopt`)."
                    ),
                    error_code="read_only_source",
                )
            )
        return allowed, refused

    def duplicates(self) -> dict[str, Any]:
        return self.registry.duplicates()

    def locations(self, model_id: str) -> list[dict[str, Any]]:
        return self.registry.locations(model_id)

    # -- background --------------------------------------------------------------------------------------
    def start_background(self, *, poll_seconds: float = 30.0) -> None:
        """Scan now, then watch for changes and hash new files, in one daemon thread."""
        if self._watcher is not None:
            return
        self._watcher = SourceWatcher(
            folders=lambda: [Path(r.path) for r in self.registry.all()],
            on_change=lambda changed: self.scan(only=changed or None),
            on_idle=self._idle_work,
            poll_seconds=poll_seconds,
            links_out=self._sources_with_links_out,
        )
        self._watcher.start()

    def _sources_with_links_out(self) -> set[Path]:
        """Sources holding links to files outside them: only rescans see those targets change."""
        return {Path(path) for path, count in self._links_out.items() if count}

    def _idle_work(self) -> None:
        """Hash what is new, then give back the memory a burst used (the thread then sleeps).

        Only after the first pass or real work: the 30 s rescans of an unchanged tree would otherwise
        empty the readers' page caches each time, and the next search would read them back."""
        hashed = 0
        try:
            hashed = self.hash_pending()
        finally:
            if hashed or not self._released_once:
                self._released_once = True
                release_buffers()
                self.db.release_memory()

    def stop_background(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None

    def _changed(self, ids: list[str], reason: str) -> None:
        if self._on_changed is not None:
            self._on_changed(ids, reason)


def _normalise_ref(ref: str | int) -> str | int:
    if isinstance(ref, str) and not ref.isdigit():
        try:
            return str(Path(ref).expanduser().resolve())
        except OSError:
            return ref
    return ref
