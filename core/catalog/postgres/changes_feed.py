"""Catalog changes across machines: PostgreSQL LISTEN/NOTIFY (issue 18).

Every machine publishes the changes its services announce (``EventBus.changed``) on one channel, and
listens on it on a connection of its own: a model imported on one machine reaches every other machine's
event bus (its panels, over the websocket, and its mapping, which links the model into its ComfyUI)
within moments of the commit. A notification carries the model ids (none for a change of many: "refresh
everything"), the reason and the sending process, so nobody hears its own changes twice.

The listener reconnects after losing the server (every ``RECONNECT_S``); what changed meanwhile is
announced as one change of everything once it is back, since notifications are not kept for absent
listeners.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from .database import CONNECT_TIMEOUT_S

log = logging.getLogger(__name__)

CHANNEL = "model_library_changes"
MAX_IDS = 200  # a NOTIFY payload stops at 8,000 bytes: more ids become "everything changed"
RECONNECT_S = 2.0
POLL_S = 0.5  # how often the listener looks up from waiting (to stop)

OnRemote = Callable[[list[str], str, str], None]  # (ids, reason, machine)


class ChangeFeed:
    """Publish this machine's catalog changes; hear the others' (``on_remote``) in a daemon thread."""

    def __init__(self, dsn: str, machine: str, on_remote: OnRemote) -> None:
        self._dsn = dsn
        self._machine = machine
        self._sender = uuid.uuid4().hex  # this process: its own notifications come back and are skipped
        self._on_remote = on_remote
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._publisher: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    # -- publishing ------------------------------------------------------------------------------------
    def publish(self, ids: Sequence[str], reason: str) -> None:
        """Tell the other machines (after the change committed: services announce committed changes)."""
        payload = json.dumps(
            {
                "ids": list(ids) if len(ids) <= MAX_IDS else [],
                "reason": str(reason)[:100],
                "machine": self._machine,
                "sender": self._sender,
            }
        )
        try:
            with self._lock:
                if self._publisher is None or self._publisher.closed:
                    self._publisher = psycopg.connect(
                        self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                    )
                self._publisher.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        except psycopg.Error as exc:  # the other machines catch up on their next refresh
            log.warning("model library: could not tell the other machines of a change: %s", exc)
            with self._lock:
                self._publisher = None

    # -- listening -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._listen, name="model-library-changes", daemon=True)
        self._thread.start()
        self._ready.wait(CONNECT_TIMEOUT_S)  # listening before the first change this machine could miss

    def _listen(self) -> None:
        missed = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    if missed:  # changes made while we were away were not kept for us
                        self._on_remote([], "reconnected", "")
                        missed = False
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=POLL_S, stop_after=None):
                            self._heard(note.payload)
            except psycopg.Error as exc:
                log.warning(
                    "model library: listening for other machines' changes stopped (%s); retrying", exc
                )
                self._ready.set()
                missed = True
                self._stop.wait(RECONNECT_S)

    def _heard(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            if data.get("sender") == self._sender:
                return
            ids = [str(i) for i in data.get("ids") or []]
            self._on_remote(ids, str(data.get("reason") or "changed"), str(data.get("machine") or ""))
        except (ValueError, TypeError, AttributeError):
            log.warning("model library: ignored a malformed change notice")
        except Exception:  # a failing listener must not stop the feed
            log.exception("model library: handling another machine's change failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=POLL_S * 4)
        with self._lock:
            if self._publisher is not None:
                self._publisher.close()
                self._publisher = None
