"""Adopting a ComfyUI install in place: its model files move into the library, duplicates stored once,
and a link left at every original path so every name ComfyUI and its workflows use resolves to the same
bytes. Crash-safe through the journal; undone per install.

``AdoptService(config, db, repo, importer)``:

- ``plan(dir)`` -> AdoptPlan (no change, no hashing);
- ``adopt(dir, dry_run=..., progress=..., cancelled=...)`` -> AdoptReport (a dry run changes nothing; it
  hashes only files whose size matches another's, to count the bytes adoption would free);
- ``undo(dir, progress=..., cancelled=...)`` -> UndoReport;
- ``release_model(model_id)`` -> UndoReport: real files back at every adopt link of one model (call it
  before the model's files leave the library, or the original names would dangle).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from filelock import FileLock, Timeout

from ..catalog.db import Database
from ..catalog.store import CatalogStore
from ..config import LibraryConfig
from ..errors import Busy
from ..importer.group import GROUP_MODEL_BYTES, segments
from ..importer.pipeline import Importer
from ..importer.stage import composite_hashes
from ..io.hashing import hash_path
from ..links.platform import LinkMaker, default_maker
from ..links.registry import AppRecord, AppRegistry, LinkRegistry
from ..mapping.comfyui import ComfyInstall, read_install
from ..models import ModelFile
from ..types import CancelCheck, OnChanged, StageProgress, WriteCheck
from .batch import BATCH_BYTES, BATCH_MODELS, adopt_batches
from .journal import AdoptJournal
from .plan import AdoptPlan, AdoptUnit, duplicate_candidates, plan_install
from .report import AdoptReport, Tally, UndoReport
from .run import AdoptContext, adopt_unit, recover_adopt
from .undo import UndoContext, recover_undo, restore_link

__all__ = ["AdoptPlan", "AdoptReport", "AdoptService", "AdoptUnit", "UndoReport"]

_CANCELLED = "cancelled before it was adopted; run adopt again to continue"
APP_MODE = "adopt"  # an apps row made by adoption alone (not mapped): mapping must not link into it


class AdoptService:
    def __init__(
        self,
        config: LibraryConfig,
        db: Database,
        repo: CatalogStore[Any],
        importer: Importer,
        registry: LinkRegistry | None = None,
        *,
        maker: LinkMaker | None = None,
        guard: WriteCheck | None = None,
        on_changed: OnChanged | None = None,
    ) -> None:
        self._guard = guard  # raises when the library may not be written now
        self._on_changed = on_changed  # publishes "changed" after an adoption or an undo
        self.config = config
        self.db = db
        self.repo = repo
        self.importer = importer
        self.registry = registry or LinkRegistry(db)
        self.maker = maker or default_maker()
        self.journal = AdoptJournal(db)

    # -- plan ----------------------------------------------------------------------------------------
    def plan(self, comfyui_dir: str | os.PathLike[str]) -> AdoptPlan:
        install = read_install(comfyui_dir)
        return plan_install(install, self.config.root, self.config.models_dir, self._adopted_paths(install))

    def _adopted_paths(self, install: ComfyInstall) -> frozenset[str]:
        return frozenset(
            r.link_path
            for r in self.registry.by_app(install.id)
            if r.purpose == "adopt"
            and self.maker.is_our_link(r.link_path, r.target, r.kind, r.inode, r.device)
        )

    # -- adopt ---------------------------------------------------------------------------------------
    def adopt(
        self,
        comfyui_dir: str | os.PathLike[str],
        *,
        dry_run: bool = False,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> AdoptReport:
        if dry_run:
            return self._dry_run(self.plan(read_install(comfyui_dir).root), progress)
        if self._guard is not None:
            self._guard()
        report = self._adopt(read_install(comfyui_dir), progress, cancelled)
        if self._on_changed is not None and (report.adopted or report.duplicates):
            self._on_changed([], "adopted")
        return report

    def _adopt(
        self, install: ComfyInstall, progress: StageProgress | None, cancelled: CancelCheck | None
    ) -> AdoptReport:
        tally = Tally()
        with self._locked(install):
            ctx = self._context(install, tally, cancelled)
            recover_adopt(ctx)
            plan = self.plan(install.root)
            total = plan.total_bytes
            sizes_of = {u.key: u.size for u in plan.units}
            done = progressed = 0  # bytes of units adopted so far; of units done with, adopted or not

            def stage(label: str, path: str) -> None:
                nonlocal done
                if label == "adopted":  # a unit of a batch run, whose other units may still be hashed
                    done = min(total, done + sizes_of.get(path, 0))
                if progress is not None:
                    progress(done, total, f"{label} {os.path.basename(path)}")

            ctx.stage = stage
            if plan.units:
                self._register_app(install)
            # Small single files are adopted in batches (one journal sync and one catalog transaction
            # for each step of a batch), consecutive batches in one importer run; the others alone, as a
            # batch's steps would gain them nothing.
            sizes = [u.size if u.format == "single-file" else GROUP_MODEL_BYTES for u in plan.units]
            parts = segments(sizes, move=False, max_models=BATCH_MODELS, max_bytes=BATCH_BYTES)
            for number, (batched, run) in enumerate(itertools.groupby(parts, key=lambda p: p[0])):
                batches = [[plan.units[i] for i in part] for _batched, part in run]
                if batched:
                    if cancelled is not None and cancelled():
                        for unit in itertools.chain.from_iterable(batches):
                            tally.skip(unit.key, _CANCELLED)
                        continue
                    adopt_batches(ctx, batches, fresh=number == 0)  # the first: planned a moment ago
                    done = progressed + sum(u.size for units in batches for u in units)
                    progressed = done
                    continue
                for unit in itertools.chain.from_iterable(batches):
                    if cancelled is not None and cancelled():
                        tally.skip(unit.key, _CANCELLED)
                        continue
                    adopt_unit(ctx, unit)
                    done = progressed = progressed + unit.size
            if progress is not None:
                progress(total, total, "done")
        return self._report(plan, tally)

    def _report(self, plan: AdoptPlan, tally: Tally, *, dry_run: bool = False) -> AdoptReport:
        return AdoptReport(
            install_id=plan.install.id,
            install_root=str(plan.install.root),
            dry_run=dry_run,
            planned=len(plan.units),
            planned_bytes=plan.total_bytes,
            adopted=tally.adopted,
            duplicates=tally.duplicates,
            already_adopted=len(plan.already_adopted),
            bytes_freed=tally.bytes_freed,
            bytes_copied=tally.bytes_copied,
            links_created=tally.links_created,
            skipped=tuple(tally.skipped),
            failed=tuple(tally.failed),
            conflicts=plan.skipped,
            recovered=tuple(tally.recovered),
            folders=tuple(str(f.path) for f in plan.folders),
        )

    def _dry_run(self, plan: AdoptPlan, progress: StageProgress | None) -> AdoptReport:
        """Count what adoption would do. Only units whose size matches another's (or a library file's) can
        be duplicates; those are hashed (``hashed_bytes``) to find the bytes adoption would free."""
        library_sizes = {f.size for m in self.repo.iter_all() if m.location == "library" for f in m.files}
        candidates = duplicate_candidates(plan.units, library_sizes)
        to_hash = sum(u.size for u in plan.units if u.key in candidates)
        models_dev = os.stat(self.config.models_dir).st_dev
        tally = Tally()
        seen: set[str] = set()
        counted: set[tuple[int, int]] = set()
        hashed = 0
        for unit in plan.units:
            duplicate = False
            if unit.key in candidates:
                content = self._content_hash(unit)
                hashed += unit.size
                if progress is not None:
                    progress(hashed, to_hash, f"hashing {os.path.basename(unit.key)}")
                existing = self.repo.by_blake3(content)
                duplicate = content in seen or (existing is not None and existing.location == "library")
                seen.add(content)
            if duplicate:
                tally.duplicates += 1
                for f, linked in zip(unit.files, unit.linked):
                    if not linked and (f.device, f.inode) not in counted:
                        counted.add((f.device, f.inode))
                        tally.bytes_freed += f.size
            elif unit.files[0].device != models_dev:
                tally.bytes_copied += unit.size
        report = self._report(plan, tally, dry_run=True)
        return AdoptReport(**{**report.__dict__, "hashed_bytes": hashed})

    @staticmethod
    def _content_hash(unit: AdoptUnit) -> str:
        files = []
        for f, rel in zip(unit.files, unit.rel_paths):
            digests = hash_path(f.path)
            files.append(ModelFile(rel, digests.size, digests.blake3, digests.sha256))
        return composite_hashes(tuple(files)).blake3

    # -- undo ----------------------------------------------------------------------------------------
    def undo(
        self,
        comfyui_dir: str | os.PathLike[str],
        *,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> UndoReport:
        if self._guard is not None:
            self._guard()
        report = self._undo(read_install(comfyui_dir), progress, cancelled)
        if self._on_changed is not None:
            self._on_changed([], "unadopted")
        return report

    def _undo(
        self, install: ComfyInstall, progress: StageProgress | None, cancelled: CancelCheck | None
    ) -> UndoReport:
        tally = Tally()
        with self._locked(install):
            # An adoption killed halfway first registers the links it made, so they are given back too.
            recover_adopt(self._context(install, tally, None))
            ctx = UndoContext(self.config, self.db, self.repo, self.registry, self.maker, self.journal,
                              install.id, tally, _no_stage)  # fmt: skip
            recover_undo(ctx)
            records = [r for r in self.registry.by_app(install.id) if r.purpose == "adopt"]
            touched = {r.model_id for r in records}
            done = 0

            def stage(label: str, path: str) -> None:
                if progress is not None:
                    progress(done, len(records), f"{label} {os.path.basename(path)}")

            ctx.stage = stage
            for record in records:
                if cancelled is not None and cancelled():
                    tally.skip(record.link_path, "cancelled; run the undo again to finish")
                    continue
                restore_link(ctx, record)
                done += 1
            if progress is not None:
                progress(len(records), len(records), "done")
            self._forget_app_if_unused(install.id)
        return UndoReport(
            install_id=install.id,
            install_root=str(install.root),
            restored=tally.restored_by_hardlink + tally.restored_by_copy,
            restored_by_hardlink=tally.restored_by_hardlink,
            restored_by_copy=tally.restored_by_copy,
            skipped=tuple(tally.skipped),
            failed=tuple(tally.failed),
            unreferenced=tuple(self._unreferenced(touched)),
            recovered=tuple(tally.recovered),
        )

    def release_adopted(self, model_id: str) -> UndoReport | None:
        """Before a model's files go: its adopted original names get real files back (None: it has none)."""
        return self.release_model(model_id) if self.registry.has_links(model_id, "adopt") else None

    def release_model(self, model_id: str) -> UndoReport:
        """Real files back at every adopt link of one model, in every install (before it is removed)."""
        tally = Tally()
        records = [r for r in self.registry.by_model(model_id) if r.purpose == "adopt"]
        for record in records:
            ctx = UndoContext(self.config, self.db, self.repo, self.registry, self.maker, self.journal,
                              record.app_id or "", tally, _no_stage)  # fmt: skip
            restore_link(ctx, record)
        return UndoReport(
            install_id="",
            install_root="",
            restored=tally.restored_by_hardlink + tally.restored_by_copy,
            restored_by_hardlink=tally.restored_by_hardlink,
            restored_by_copy=tally.restored_by_copy,
            skipped=tuple(tally.skipped),
            failed=tuple(tally.failed),
        )

    def _unreferenced(self, model_ids: set[str]) -> list[dict[str, object]]:
        found: list[dict[str, object]] = []
        for model_id in sorted(model_ids):
            if self.registry.by_model(model_id):
                continue
            model = self.repo.find(model_id)
            if model is not None:
                found.append({"id": model.id, "name": model.name, "size": model.size})
        return found

    # -- helpers -------------------------------------------------------------------------------------
    def _context(self, install: ComfyInstall, tally: Tally, cancelled: CancelCheck | None) -> AdoptContext:
        return AdoptContext(self.config, self.db, self.repo, self.importer, self.registry, self.maker,
                            self.journal, install, tally, _no_stage, cancelled, set())  # fmt: skip

    def _register_app(self, install: ComfyInstall) -> None:
        apps = AppRegistry(self.db)
        if apps.get(install.id) is None:
            apps.upsert(AppRecord(install.id, str(install.root), install.version, APP_MODE))

    def _forget_app_if_unused(self, app_id: str) -> None:
        apps = AppRegistry(self.db)
        app = apps.get(app_id)
        if app is not None and app.mode == APP_MODE and not self.registry.by_app(app_id):
            apps.remove(app_id)

    @contextmanager
    def _locked(self, install: ComfyInstall) -> Iterator[None]:
        self.config.tmp_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.config.tmp_dir / f"adopt-{install.id}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise Busy(
                f"Another adoption or undo of {install.root} is running; wait for it to finish, then retry."
            ) from None
        try:
            yield
        finally:
            lock.release()


def _no_stage(stage: str, path: str) -> None:
    return None
