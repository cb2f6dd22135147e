"""Reads started beside a search on another pooled connection, so a second CPU runs them meanwhile.

A broad filtered search needs its total and, separately, its name hits: two passes over the full-text
index, each intersecting the filter's long list of rows (type=lora holds half the catalog). Run one after
the other they cost about twice one; the second started aside costs little more than one. Nothing here
waits on the connection pool: a read that finds no idle connection is not run, and the search runs it
itself (four searches each holding a reader and waiting for a fifth would wait for ever).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, Protocol, TypeVar

from .db import Database

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
WORKERS = 2


class Pending(Protocol[T_co]):
    def take(self) -> T_co | None:
        """The read's result, or None when it did not run (then the caller runs it)."""
        ...

    def drop(self) -> None:
        """Not needed after all: not run if not yet started (a flood of searches queues no backlog)."""
        ...


class Aside(Protocol):
    def start(self, read: Callable[[sqlite3.Connection], T]) -> Pending[T]: ...


class _Future(Generic[T]):
    def __init__(self, future: Future[T | None]) -> None:
        self._future = future

    def take(self) -> T | None:
        if self._future.cancel():  # still queued behind other searches' reads: quicker done here
            return None
        return self._future.result()

    def drop(self) -> None:
        self._future.cancel()


class _NotStarted(Generic[T]):
    def take(self) -> T | None:
        return None

    def drop(self) -> None:
        pass


class ReadsAside:
    """``Aside`` on a catalog's reader pool, with threads made on first use (never at import)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def start(self, read: Callable[[sqlite3.Connection], T]) -> Pending[T]:
        with self._lock:
            try:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="model-library-search")
                return _Future(self._pool.submit(self._run, read))
            except RuntimeError:
                # The interpreter is shutting down (the pool takes no more work), or no thread can be
                # started: the search runs the read itself, as when no reader is idle.
                return _NotStarted()

    def _run(self, read: Callable[[sqlite3.Connection], T]) -> T | None:
        with self._db.read_if_idle() as conn:
            return None if conn is None else read(conn)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
