"""The facade: the one object the CLI, the HTTP routes and the nodes talk to.

It only wires and delegates: each method hands its work to a service module (importer, catalog,
mapping, health, sources, hf, adopt). No service imports this module back. Every method is synchronous
and may block on disk: the HTTP glue runs it in a thread, never on the event loop.

Events: ``subscribe(fn)`` registers ``fn(event: str, data: dict)``; the library publishes
``"changed"`` (``{"ids": [...], "reason": str}``) whenever catalog rows change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .catalog.db import Database
from .catalog.migrations import migrate
from .config import LibraryConfig
from .models import ImportItem, Model, ModelQuery, Page

EventListener = Callable[[str, dict[str, Any]], None]
ProgressFn = Callable[[int, int, str], None]  # (done, total, stage)
CancelledFn = Callable[[], bool]


class Library:
    """A model library rooted at ``config.root``. Open with ``Library.open(config)``."""

    def __init__(self, config: LibraryConfig, db: Database) -> None:
        self.config = config
        self.db = db
        self._listeners: list[EventListener] = []
        self._listeners_lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------------
    @classmethod
    def open(cls, config: LibraryConfig) -> Library:
        for folder in (config.root, config.models_dir, config.tmp_dir, config.trash_dir, config.inbox_dir):
            folder.mkdir(parents=True, exist_ok=True)
        db = Database(config.catalog_path)
        migrate(db)
        return cls(config, db)

    def close(self) -> None:
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
            except Exception:  # noqa: BLE001 - a broken listener must not break the library
                pass

    # -- catalog -------------------------------------------------------------------------------------
    def list_models(self, query: ModelQuery) -> Page:
        raise NotImplementedError

    def get_model(self, ref: str) -> Model:
        """By id, unique id prefix, or ``blake3:<hex>`` / ``sha256:<hex>``. Raises ModelNotFound."""
        raise NotImplementedError

    def model_detail(self, ref: str) -> dict[str, Any]:
        """The detail JSON: the model plus ``dir`` and ``links``."""
        raise NotImplementedError

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
        raise NotImplementedError

    def remove_model(self, ref: str) -> dict[str, Any]:
        """Cascade: our links, then files to the trash, then the row. -> {removed_links, not_ours, trashed}"""
        raise NotImplementedError

    def rebuild(self) -> dict[str, Any]:
        raise NotImplementedError

    # -- import --------------------------------------------------------------------------------------
    def import_paths(
        self,
        paths: Sequence[str | Path],
        *,
        move: bool = False,
        confine: bool = False,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> list[ImportItem]:
        """Import files, Diffusers folders, sharded sets, or folders of models.

        ``confine=True`` (HTTP callers) requires every path to resolve inside the configured import roots.
        """
        raise NotImplementedError
