"""The metadata response cache, persisted in the catalog's ``http_cache`` table.

TTL + ETag + stale-while-revalidate: a fresh entry is served without a request; a stale one is revalidated
with its ETag (a ``304`` only extends it) -- or, when a ``background`` runner is given and the entry is
within the stale window, served at once while the refresh runs behind. When the Hub cannot be reached a
stale entry is served rather than failing (stale-if-error). Only metadata lives here, never file bytes.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..catalog.db import Database
from ..errors import NetworkError
from .clock import SYSTEM_CLOCK, Clock

_log = logging.getLogger(__name__)

DEFAULT_TTL = 6 * 3600.0
DEFAULT_STALE_WINDOW = 7 * 24 * 3600.0


@dataclass(frozen=True)
class CacheEntry:
    key: str
    body: bytes
    etag: str | None
    status: int
    fetched_at: float
    expires_at: float

    def is_fresh(self, now: float) -> bool:
        return now < self.expires_at


@dataclass(frozen=True)
class Fetched:
    """What a fetch function returns: a new body (and its ETag), or ``not_modified`` for a 304."""

    body: bytes = b""
    etag: str | None = None
    status: int = 200
    not_modified: bool = False


@dataclass(frozen=True)
class Cached:
    body: bytes
    stale: bool  # served past its TTL (revalidation pending or the Hub unreachable)

    def json(self) -> Any:
        return json.loads(self.body)


Fetch = Callable[[str | None], Fetched]  # called with the stored ETag (or None)
Background = Callable[[Callable[[], None]], None]


def thread_background(task: Callable[[], None]) -> None:
    threading.Thread(target=task, name="model-library-cache-refresh", daemon=True).start()


class HttpCache:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = SYSTEM_CLOCK,
        stale_window: float = DEFAULT_STALE_WINDOW,
    ) -> None:
        self.db = db
        self.clock = clock
        self.stale_window = stale_window
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def get(self, key: str) -> CacheEntry | None:
        rows = self.db.execute_read(
            "SELECT key, etag, body, status, fetched_at, expires_at FROM http_cache WHERE key = ?", (key,)
        )
        if not rows:
            return None
        r = rows[0]
        return CacheEntry(
            r["key"], bytes(r["body"]), r["etag"], r["status"], r["fetched_at"], r["expires_at"]
        )

    def put(
        self, key: str, body: bytes, *, ttl: float, etag: str | None = None, status: int = 200
    ) -> CacheEntry:
        now = self.clock.time()
        entry = CacheEntry(key, body, etag, status, now, now + ttl)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO http_cache(key, etag, body, status, fetched_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, etag, body, status, entry.fetched_at, entry.expires_at),
            )
        return entry

    def extend(self, key: str, ttl: float) -> None:
        now = self.clock.time()
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE http_cache SET fetched_at = ?, expires_at = ? WHERE key = ?", (now, now + ttl, key)
            )

    def delete(self, key: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM http_cache WHERE key = ?", (key,))

    def purge_expired(self) -> int:
        """Drop entries past TTL + stale window; returns how many."""
        cutoff = self.clock.time() - self.stale_window
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM http_cache WHERE expires_at < ?", (cutoff,)).rowcount

    def _refresh(self, key: str, fetch: Fetch, ttl: float, entry: CacheEntry | None) -> bytes:
        result = fetch(entry.etag if entry else None)
        if result.not_modified and entry is not None:
            self.extend(key, ttl)
            return entry.body
        self.put(key, result.body, ttl=ttl, etag=result.etag, status=result.status)
        return result.body

    def get_or_fetch(
        self, key: str, fetch: Fetch, *, ttl: float = DEFAULT_TTL, background: Background | None = None
    ) -> Cached:
        entry = self.get(key)
        now = self.clock.time()
        if entry is not None and entry.is_fresh(now):
            return Cached(entry.body, stale=False)
        within_window = entry is not None and now < entry.expires_at + self.stale_window
        if entry is not None and within_window and background is not None:
            self._schedule(key, fetch, ttl, entry, background)
            return Cached(entry.body, stale=True)
        try:
            return Cached(self._refresh(key, fetch, ttl, entry), stale=False)
        except NetworkError:
            if entry is not None and within_window:
                return Cached(entry.body, stale=True)
            raise

    def get_or_fetch_json(
        self,
        key: str,
        produce: Callable[[], Any],
        *,
        ttl: float = DEFAULT_TTL,
        background: Background | None = None,
    ) -> Cached:
        """Cache the JSON of what ``produce`` returns (for APIs without ETags, like huggingface_hub's)."""

        def fetch(_etag: str | None) -> Fetched:
            return Fetched(json.dumps(produce(), sort_keys=True).encode("utf-8"))

        return self.get_or_fetch(key, fetch, ttl=ttl, background=background)

    def _schedule(
        self, key: str, fetch: Fetch, ttl: float, entry: CacheEntry, background: Background
    ) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def task() -> None:
            try:
                self._refresh(key, fetch, ttl, entry)
            except Exception as exc:
                # A failed background refresh keeps the stale entry; the next call tries again.
                _log.debug("background refresh of %s failed: %s", key, exc)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        background(task)
