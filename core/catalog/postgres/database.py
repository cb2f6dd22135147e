"""Connections to a PostgreSQL catalog: a small pool, one ``transaction()`` and one ``read()`` helper.

The server may sit on another machine: a lost connection or a refused login is ``CatalogUnavailable``
(the message names the server, never the password), a lock not granted or a deadlock is
``CatalogLocked`` (try again), as for a locked SQLite catalog. Several machines write at once, so every
write transaction runs at
READ COMMITTED with row locks where a read decides a write (``SELECT ... FOR UPDATE``) and unique
constraints as the last word (a second insert of the same bytes is a ``Conflict``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import urlsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import CatalogLocked, CatalogUnavailable, InvalidConfig, InvalidInput

Conn = psycopg.Connection[dict[str, Any]]

# Four readers (as the SQLite catalog keeps) and a content lock beside each importing worker's writes.
POOL_SIZE = 8
CONNECT_TIMEOUT_S = 10
# Two machines' transactions waiting on each other: one is cancelled by the server. Retrying is the
# caller's (as for SQLite's locked catalog): the same error class, the same advice.
_BUSY = (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected, pg_errors.SerializationFailure)


def _connection_lost(exc: psycopg.Error) -> bool:
    # No SQLSTATE: the client lost the server; class 08 (connection) and 57P (the server shutting down).
    state = exc.sqlstate
    return state is None or state.startswith(("08", "57P"))


def redacted(dsn: str) -> str:
    """``dsn`` without its password (``user:password@`` or libpq's ``?password=``), for messages and logs.
    The hosts are kept as written: libpq takes several (``h1:5432,h2:5433``), which urlsplit cannot parse."""
    parts = urlsplit(dsn)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    shown = f"{parts.scheme}://{userinfo}{at}{hosts}{parts.path}"  # urlunsplit drops postgresql:///db's //
    return shown + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def check_dsn(dsn: str) -> str:
    """The URL ``MODEL_LIBRARY_CATALOG`` gave, checked before any connection is tried."""
    scheme = urlsplit(dsn).scheme
    if scheme not in ("postgresql", "postgres"):
        raise InvalidConfig(
            f"MODEL_LIBRARY_CATALOG={redacted(dsn)!r} is not a postgresql:// URL; give "
            "postgresql://user@host/database, or 'sqlite' for the catalog file in the library."
        )
    return dsn


class PostgresDatabase:
    """A pool of connections to one catalog database; rows come back as dicts."""

    def __init__(
        self, dsn: str, *, pool_size: int = POOL_SIZE, connect_timeout: float = CONNECT_TIMEOUT_S
    ) -> None:
        self.dsn = check_dsn(dsn)
        self.where = redacted(dsn)
        self._timeout = connect_timeout  # how long opening, and each request, waits for a connection
        self._local = threading.local()
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            kwargs={"row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_S},
            # A pooled connection may have died idle (the server restarted, a firewall dropped it): one
            # round trip before each use replaces it, where it would fail the request that got it.
            check=ConnectionPool.check_connection,
            open=False,
            name="model-library-catalog",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: BaseException) -> CatalogUnavailable:
        return CatalogUnavailable(
            f"The PostgreSQL catalog at {self.where} cannot be reached ({type(exc).__name__}). Check that "
            "the server runs and that this machine may log in (docs/teams.md), then try again."
        )

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        try:
            with self._pool.connection(timeout=self._timeout) as conn:
                yield cast(Conn, conn)  # rows are dicts: kwargs' row_factory
        except PoolTimeout as exc:
            raise self._unavailable(exc) from exc
        except _BUSY as exc:
            raise CatalogLocked(
                f"The PostgreSQL catalog at {self.where} is busy (another machine held what this change "
                "needed); try again."
            ) from exc
        except psycopg.OperationalError as exc:
            if _connection_lost(exc):
                raise self._unavailable(exc) from exc
            raise
        except psycopg.DataError as exc:
            # Refused before it was sent (no SQLSTATE): a value PostgreSQL cannot hold, above all a NUL
            # character ("\x00") in a text, which SQLite stores. The user's value, not a server fault.
            if exc.sqlstate is None:
                raise InvalidInput(
                    f"The shared catalog cannot store or look up this value ({exc}); remove the NUL "
                    "character (\\x00) it holds and try again."
                ) from exc
            raise

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """One write transaction, committed when the block ends, rolled back when it raises.

        Re-entrant within one thread, as the SQLite catalog's: an inner ``transaction()`` or ``read()``
        joins the outer one (and sees its rows)."""
        held: Conn | None = getattr(self._local, "conn", None)
        if held is not None and held.autocommit:  # inside a read(): its own transaction on that connection
            with held.transaction():
                yield held
            return
        if held is not None:
            yield held
            return
        with self.connection() as conn, conn.transaction():
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    @contextmanager
    def read(self) -> Iterator[Conn]:
        """A connection for reads; inside a transaction on this thread, that transaction's.

        Outside one, each statement runs on its own (autocommit): at READ COMMITTED a transaction gives
        each statement a fresh snapshot anyway, so its BEGIN and COMMIT were two round trips for nothing
        (a page of search is one statement)."""
        held: Conn | None = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        with self.connection() as conn:
            self._local.conn = conn
            conn.autocommit = True
            try:
                yield conn
            finally:
                self._local.conn = None
                if conn.info.transaction_status == pq.TransactionStatus.IDLE:  # else the pool drops it
                    conn.autocommit = False  # as the pool hands connections out

    def close(self) -> None:
        self._pool.close()
