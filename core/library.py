"""The facade: the one object the CLI, the HTTP routes and the nodes hold.

It opens and closes the library and holds its services, each typed by a small Protocol
(``core/services/base.py``) and wired in one place (``core/services/compose.py``); the glue asks the
service it needs:

- ``catalog``: list, show, edit, remove models; empty the trash; rebuild from metadata.json;
- ``imports``: files, folders, uploads;
- ``mapping``: the rules and the links in ComfyUI installs;  ``health``: check and repair;
- ``sources``: folders catalogued in place;  ``hub``: Hugging Face lookups and downloads;
- ``adopt``: bring an install in in place, give it back;
- ``workflows``: the models a workflow references, checked (and made available);
- ``cache``: this machine's local copies of a shared library's files (``MODEL_LIBRARY_CACHE``);
- ``events``: ``subscribe(fn)`` registers ``fn(event: str, data: dict)``; ``"changed"``
  (``{"ids": [...], "reason": str}``) is published whenever catalog rows change.

No service imports this module back. Every method is synchronous and may block on disk: the HTTP glue runs
it in a thread, never on the event loop.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from . import __version__
from .catalog.backends import close_store
from .catalog.backup import backup_due, backups_dir, take_backup
from .catalog.db import Database
from .catalog.diagnose import Problem, space_message
from .catalog.migrations import migrate, pending_migrations
from .catalog.opening import holds_models, open_catalog, replace_damaged
from .config import LibraryConfig
from .errors import CatalogCorrupt, InsufficientSpace
from .identity import ensure_identity, mark_shared, refuse_unshared_open
from .importer.commit import recover
from .mapping.journal import resume_pending
from .records.restore import ensure_records, restore_machine_records
from .services.compose import compose

log = logging.getLogger(__name__)

# A partial download is kept this long for a resume (a job resumed after a restart picks it up).
PARTIAL_RETENTION_DAYS = 7.0


class Library:
    """A model library rooted at ``config.root``. Open with ``Library.open(config)``."""

    def __init__(self, config: LibraryConfig, db: Database) -> None:
        self.config = config
        self.db = db
        services = compose(config, db)
        self.events = services.events
        self.repo = services.repo
        self.importer = services.importer
        self.catalog = services.catalog
        self.imports = services.imports
        self.mapping = services.mapping
        self.health = services.health
        self.sources = services.sources
        self.hub = services.hub
        self.adopt = services.adopt
        self.workflows = services.workflows
        self.previews = services.previews
        self.origins = services.origins
        self.cache = services.cache
        self.recovered: list[str] = []

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
        if not config.shared:
            refuse_unshared_open(config.root)
        existed = config.catalog_path.exists()
        opened = open_catalog(config.catalog_path, config.models_dir)
        db = opened.db
        if db.read_only:
            try:
                if pending_migrations(db):  # raises CatalogTooNew for a newer version's catalog
                    raise InsufficientSpace(space_message(config.catalog_path, writing=False))
            except BaseException:
                db.close()
                raise
            library = cls(config, db)
            full = db.read_only_problem is Problem.SPACE
            why = "is full" if full else "refuses writes (mounted read-only?)"
            library.recovered = [
                f"The library's disk {why}: opened read-only (listing, searching and showing work; "
                "changes wait until the disk takes writes again)."
            ]
            log.warning("model-library: %s", library.recovered[0])
            return library
        try:
            migrate(db)
        except BaseException:  # a newer version's catalog (CatalogTooNew), a full disk: let it go
            db.close()
            raise
        ensure_identity(config.root)
        if config.shared:
            mark_shared(config.root)
        if existed and not opened.rebuild:
            ensure_records(db)  # a catalog from before records/: write the missing ones
        library = cls(config, db)
        library.recovered = list(opened.notes)
        rebuild_models = opened.rebuild
        if opened.rebuild and config.shared:
            # A shared catalog's models are on the server: only this machine's own tables were lost
            # (or never were: a machine joining the library). The server's rows are rebuilt only when
            # it has lost them too (below).
            library.recovered = restore_machine_records(db, config.root)
            rebuild_models = False
        if rebuild_models or library._lost_rows():
            if not rebuild_models:
                library.recovered.append(
                    "The catalog listed no models although the library holds some: rebuilt it from the "
                    "models' metadata.json files."
                )
            library.catalog.rebuild()
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
        if not config.shared:
            refuse_unshared_open(config.root)
        try:
            db = Database(config.catalog_path)
        except CatalogCorrupt as exc:
            db, notes, moved = replace_damaged(
                config.catalog_path, f"the catalog was damaged ({exc.__cause__ or exc})"
            )
        migrate(db)
        library = cls(config, db)
        report = library.catalog.rebuild()
        if notes:
            report["notes"] = notes
        if moved is not None:
            report["set_aside"] = str(moved)
        return library, report

    def start_background(self, *, poll_seconds: float = 30.0, lookups: bool = True) -> None:
        """Watch and hash the sources, and run pending Hub lookups, in daemon threads (ComfyUI, ``serve``)."""
        self.housekeeping()
        self.sources.start_background(poll_seconds=poll_seconds)
        if lookups:
            self.hub.start_retry_loop()

    def housekeeping(self) -> dict[str, Any]:
        """Empty the trash past its retention period and drop partial downloads nobody resumed."""
        from .io.partials import cleanup_stale_partials
        from .io.trash import empty_trash

        trashed = empty_trash(self.config.trash_dir, self.config.trash_retention_days)
        partials = cleanup_stale_partials(self.config.tmp_dir / "downloads", PARTIAL_RETENTION_DAYS)
        return {"trash_emptied": [str(p) for p in trashed], "partials_removed": [str(p) for p in partials]}

    def close(self) -> None:
        self.previews.close()  # first: it finishes the previews an import queued (and reads the catalog)
        self.sources.stop_background()
        self.hub.close()
        self.origins.close()
        close_store(self.repo)  # a shared catalog's connections
        self.db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- status --------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "library_root": str(self.config.root),
            "models": self.repo.count(),
            "network": self.hub.network_status(),
            # Which catalog (never its URL: it may hold a password) and, when shared, this machine's name.
            "catalog": "postgresql" if self.config.shared else "sqlite",
            **({"machine": self.config.machine} if self.config.shared else {}),
        }
