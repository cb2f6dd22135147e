"""What every service that writes checks first, and how services say that models changed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import identity
from ..catalog.db import Database

log = logging.getLogger(__name__)

EventListener = Callable[[str, dict[str, Any]], None]


class WriteGuard:
    """Writes wait while a moved library is unconfirmed (``health --repair`` confirms), and fail before
    any file is touched while the catalog is read-only (its disk is full or refuses writes)."""

    def __init__(self, db: Database, root: Path, machine_root: Path | None = None) -> None:
        self._db = db
        self._root = root
        self._machine_root = machine_root  # a shared library: where this machine records its root

    def __call__(self) -> None:
        self._db.refuse_if_read_only()
        identity.require_writable(self._root, self._machine_root)


class EventBus:
    """``subscribe(fn)`` registers ``fn(event: str, data: dict)``; services publish ``"changed"``
    (``{"ids": [...], "reason": str}``) through ``changed`` whenever catalog rows change."""

    def __init__(self) -> None:
        self._listeners: list[EventListener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: str, data: dict[str, Any]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event, data)
            except Exception:  # a broken listener must not break the library
                log.exception("model library: event listener failed")

    def changed(self, ids: list[str], reason: str) -> None:
        self.publish("changed", {"ids": ids, "reason": reason})
