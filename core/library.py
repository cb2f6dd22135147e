"""The facade: the one object the CLI, the HTTP routes and the nodes talk to.

It only wires and delegates: each method hands its work to a service module (importer, catalog,
mapping, health, sources, hf, adopt). No service imports this module back. Every method is synchronous
and may block on disk: the HTTP glue runs it in a thread, never on the event loop.

Events: ``subscribe(fn)`` registers ``fn(event: str, data: dict)``; the library publishes
``"changed"`` (``{"ids": [...], "reason": str}``) whenever catalog rows change.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .catalog.backup import backup_due, backups_dir, take_backup
from .catalog.db import Database
from .catalog.diagnose import Problem, space_message
from .catalog.migrations import migrate, pending_migrations
from .catalog.opening import holds_models, open_catalog, replace_damaged
from .catalog.rebuild import rebuild_catalog
from .catalog.repository import ModelRepository
from .catalog.sidecar import write_sidecar
from .config import LibraryConfig
from .editing import edit_changes
from .errors import CatalogCorrupt, Conflict, InsufficientSpace
from .hub_service import HubService
from .identity import ensure_identity
from .importer.commit import recover
from .importer.pipeline import Importer
from .io.trash import empty_trash, move_to_trash
from .library_adopt import AdoptPart
from .library_hub import HubSourcesPart
from .library_links import MappingPart
from .mapping.journal import resume_pending
from .models import ImportItem, Link, Model, ModelQuery, Page
from .records.restore import ensure_records
from .sources import SourceService
from .types import CancelCheck, StageProgress

log = logging.getLogger(__name__)

EventListener = Callable[[str, dict[str, Any]], None]


class Library(MappingPart, AdoptPart, HubSourcesPart):
    """A model library rooted at ``config.root``. Open with ``Library.open(config)``.

    Mapping, health and relocation live in ``MappingPart`` (core/library_links.py).
    """

    def __init__(self, config: LibraryConfig, db: Database) -> None:
        self.config = config
        self.db = db
        self.repo = ModelRepository(db)
        self.importer = Importer(config, db, self.repo)
        self.sources = SourceService(config, db, on_changed=self._changed)
        self.hub = HubService(config, db, self.repo, on_changed=self._changed)
        self._listeners: list[EventListener] = []
        self.recovered: list[str] = []
        self._listeners_lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------------
    @classmethod
    def open(cls, config: LibraryConfig, *, recover_interrupted: bool = True) -> Library:
        """Open (creating if needed) the library at ``config.root``.

        A catalog that is missing, empty or damaged beside stored models is set aside and rebuilt (from
        the newest good backup, then the models' metadata.json files); ``recovered`` says so. On a full
        disk the library opens read-only: reads work, writes raise InsufficientSpace. Imports a crash
        interrupted are finished or undone. A daily backup of the catalog is taken at most once a day.
        """
        for folder in (config.root, config.models_dir, config.tmp_dir, config.trash_dir, config.inbox_dir):
            folder.mkdir(parents=True, exist_ok=True)
        existed = config.catalog_path.exists()
        opened = open_catalog(config.catalog_path, config.models_dir)
        db = opened.db
        if db.read_only:
            if pending_migrations(db):
                db.close()
                raise InsufficientSpace(space_message(config.catalog_path, writing=False))
            library = cls(config, db)
            full = db.read_only_problem is Problem.SPACE
            why = "is full" if full else "refuses writes (mounted read-only?)"
            library.recovered = [
                f"The library's disk {why}: opened read-only (listing, searching and showing work; "
                "changes wait until the disk takes writes again)."
            ]
            log.warning("model-library: %s", library.recovered[0])
            return library
        migrate(db)
        ensure_identity(config.root)
        if existed and not opened.rebuild:
            ensure_records(db)  # a catalog from before records/: write the missing ones
        library = cls(config, db)
        library.recovered = list(opened.notes)
        if opened.rebuild or library._lost_rows():
            if not opened.rebuild:
                library.recovered.append(
                    "The catalog listed no models although the library holds some: rebuilt it from the "
                    "models' metadata.json files."
                )
            library.rebuild()
        if recover_interrupted:
            library.recovered += recover(config.root, config.tmp_dir, db, library.repo)
            resumed = resume_pending(db)
            if any(resumed.values()):
                library.recovered.append(f"finished interrupted link changes: {resumed}")
        if existed and not opened.rebuild:
            library._daily_backup()
        for note in library.recovered:
            log.warning("model-library: %s", note)
        return library

    def _lost_rows(self) -> bool:
        """True when the catalog holds no library model but model folders exist (an emptied catalog)."""
        if self.repo.any_at("library"):
            return False
        return holds_models(self.config.models_dir)

    def _daily_backup(self) -> None:
        folder = backups_dir(self.config.catalog_path)
        if backup_due(folder):
            with self.db.read() as conn:
                take_backup(conn, self.config.catalog_path, folder, "daily")

    @classmethod
    def rebuild_at(cls, config: LibraryConfig) -> tuple[Library, dict[str, Any]]:
        """Rebuild the catalog from disk. A damaged catalog is set aside first (never overwritten) and
        the newest good backup restored under the rebuild; a sound one is rebuilt in place; a full disk
        or an unreadable file is reported, and nothing is set aside."""
        notes: list[str] = []
        moved: Path | None = None
        try:
            db = Database(config.catalog_path)
        except CatalogCorrupt as exc:
            db, notes, moved = replace_damaged(
                config.catalog_path, f"the catalog was damaged ({exc.__cause__ or exc})"
            )
        migrate(db)
        library = cls(config, db)
        report = library.rebuild()
        if notes:
            report["notes"] = notes
        if moved is not None:
            report["set_aside"] = str(moved)
        return library, report

    def close(self) -> None:
        self.sources.stop_background()
        self.hub.close()
        self.db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- events --------------------------------------------------------------------------------------
    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: str, data: dict[str, Any]) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event, data)
            except Exception:  # a broken listener must not break the library
                log.exception("model library: event listener failed")

    def _changed(self, ids: list[str], reason: str) -> None:
        self.publish("changed", {"ids": ids, "reason": reason})

    # -- catalog -------------------------------------------------------------------------------------
    def list_models(self, query: ModelQuery) -> Page:
        return self.repo.list(query)

    def get_model(self, ref: str) -> Model:
        """By id, unique id prefix, ``blake3:<hex>`` / ``sha256:<hex>``, or a unique name."""
        return self.repo.resolve(ref)

    def model_dir(self, model: Model) -> Path:
        if model.location == "library":
            return self.config.root.joinpath(*model.rel_dir.split("/"))
        return Path(model.rel_dir)

    def model_links(self, model_id: str) -> tuple[Link, ...]:
        rows = self.db.execute_read(
            "SELECT link_path, kind FROM links WHERE model_id = ? ORDER BY link_path", (model_id,)
        )
        return tuple(Link(path=r["link_path"], kind=r["kind"]) for r in rows)

    def model_detail(self, ref: str) -> dict[str, Any]:
        """The detail JSON: the model plus ``dir``, ``links``, absolute file paths and origins."""
        model = self.get_model(ref)
        detail = model.to_dict(library_root=str(self.config.root), links=self.model_links(model.id))
        folder = self.model_dir(model)
        for entry in detail["files"]:
            entry["abs_path"] = str(folder.joinpath(*entry["path"].split("/")))
        detail["origins"] = [
            {"path": p, "kind": k, "recorded_at": at} for p, k, at in self.repo.origins(model.id)
        ]
        detail["locations"] = self.sources.locations(model.id)
        return detail

    def model_file_path(self, ref: str) -> Path:
        """The absolute path of a model's main file (its folder for a Diffusers model)."""
        model = self.get_model(ref)
        folder = self.model_dir(model)
        if model.format == "diffusion-folder":
            return folder
        weights = [f for f in model.files if not f.path.endswith(".json")]
        return folder.joinpath(*(weights or list(model.files))[0].path.split("/"))

    def edit_model(
        self,
        ref: str,
        *,
        name: str | None = None,
        type: str | None = None,
        base_model: str | None = None,
        tags: Sequence[str] | None = None,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
        notes: str | None = None,
    ) -> Model:
        """Edit metadata; every edited field is marked manual (never overwritten by enrichment)."""
        model = self.get_model(ref)
        changes = edit_changes(
            model,
            name=name,
            type=type,
            base_model=base_model,
            tags=tags,
            add_tags=add_tags,
            remove_tags=remove_tags,
            notes=notes,
        )
        if not changes:
            return model
        self._writable()
        updated = self.repo.update(model.id, **changes)
        if updated.location == "library":
            write_sidecar(self.model_dir(updated), updated, origins=self.repo.origins(updated.id))
        if {"type", "base_model", "tags", "name"} & set(changes):
            self.sync_models([updated.id])  # a rule may now place it elsewhere
        self.publish("changed", {"ids": [updated.id], "reason": "edited"})
        return updated

    def remove_model(self, ref: str) -> dict[str, Any]:
        """Cascade: our links, then the files to the trash, then the row.

        Source models (catalogued in place) are only forgotten: their files are the user's.
        """
        model = self.get_model(ref)
        self._writable()
        released = self._release_adopted(model.id)
        if released is not None and released.failed:
            raise Conflict(
                f"{model.name} was adopted and {len(released.failed)} of its original names could not get a "
                f"real file back ({released.failed[0].get('error', '')}); nothing was removed. "
                "Free space there and try again."
            )
        removed_links, not_ours = self._remove_links(model.id)
        trashed: str | None = None
        if model.location == "library":
            folder = self.model_dir(model)
            if folder.exists():
                trashed = str(move_to_trash(folder, self.config.trash_dir, model.id))
        try:
            with self.db.transaction() as conn:
                self.sources.registry.hide_model_files(conn, model.id)
                self.repo.delete(model.id)
        except BaseException:
            if trashed is not None:  # the row stays (a full disk): so do its files, never a row without
                os.replace(trashed, self.model_dir(model))  # a rename back on the same disk: no space
            raise
        self.publish("changed", {"ids": [model.id], "reason": "removed"})
        report: dict[str, Any] = {
            "id": model.id,
            "removed_links": removed_links,
            "not_ours": not_ours,
            "trashed": trashed,
        }
        if released is not None:
            report["restored_originals"] = released.to_dict()
        return report

    def empty_trash(self, older_than_days: float | None = None) -> list[str]:
        days = self.config.trash_retention_days if older_than_days is None else older_than_days
        return [str(p) for p in empty_trash(self.config.trash_dir, days)]

    def rebuild(self) -> dict[str, Any]:
        """Recreate the model rows from the library's metadata.json files; what else the catalog lacks
        (sources, installs, links, pending lookups) comes back from ``records/``."""
        report = rebuild_catalog(self.db, self.config.models_dir, self.config.root)  # one bulk transaction
        self.db.checkpoint()
        self.publish("changed", {"ids": [], "reason": "rebuilt"})
        return report.to_dict()

    # -- import --------------------------------------------------------------------------------------
    def import_paths(
        self,
        paths: Sequence[str | Path],
        *,
        move: bool = False,
        confine: bool = False,
        allow_pickle: bool = True,
        lookup: bool = True,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[ImportItem]:
        """Import files, Diffusers folders, sharded sets, or folders of models.

        ``confine=True`` (HTTP callers) requires every path to resolve inside the configured import roots;
        ``lookup`` queues a HuggingFace origin lookup for each new model.
        """
        self._writable()
        refused: list[ImportItem] = []
        if move:
            paths, refused = self.sources.split_read_only(paths)
        items = refused + self.importer.run(
            paths,
            move=move,
            confine=confine,
            allow_pickle=allow_pickle,
            progress=progress,
            cancelled=cancelled,
        )
        self._after_import(items, lookup=lookup)
        return items

    def import_uploaded(
        self,
        path: Path,
        filename: str,
        *,
        allow_pickle: bool = True,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[ImportItem]:
        """Import a finished upload (a file in the library's uploads folder), moving it in (O(1))."""
        self._writable()
        items = self.importer.run(
            [path],
            move=True,
            confine=True,
            allow_pickle=allow_pickle,
            progress=progress,
            cancelled=cancelled,
            origin_kind="upload",
            name=_stem(filename),
        )
        self._after_import(items)
        return items

    def import_uploaded_paths(
        self,
        paths: Sequence[str | Path],
        *,
        allow_pickle: bool = True,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[ImportItem]:
        """Import a finished group of uploads (a dropped folder), moved in and confined, as ``upload``s."""
        self._writable()
        items = self.importer.run(
            paths,
            move=True,
            confine=True,
            allow_pickle=allow_pickle,
            progress=progress,
            cancelled=cancelled,
            origin_kind="upload",
        )
        self._after_import(items)
        return items

    def _after_import(self, items: Sequence[ImportItem], *, lookup: bool = True) -> None:
        ids = [i.model.id for i in items if i.model is not None and i.status == "imported"]
        if ids:
            self.sync_models(ids)
            self.publish("changed", {"ids": ids, "reason": "imported"})
            if lookup and self.config.lookup_after_import:
                self.queue_lookups(ids)

    # -- status --------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "library_root": str(self.config.root),
            "models": self.repo.count(),
            "network": self.network_status(),
        }


def _stem(filename: str) -> str:
    from .importer.plan import model_name_from_file

    return model_name_from_file(Path(filename).name)
