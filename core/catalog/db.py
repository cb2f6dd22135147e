"""The SQLite connection helper: pragmas at open, one ``transaction()``, serialized writes.

Writes go through one connection guarded by a lock (SQLite allows one writer anyway; serializing in
Python turns "database is locked" into waiting). Reads borrow one of a few pooled connections, which WAL
lets run beside the writer: a host may call in from dozens of threads, and a connection per thread would
keep a page cache per thread. A database that fails ``PRAGMA quick_check`` at open is never written:
the caller is told to rebuild (which sets the corrupt file aside first).

Not every failure to open is damage. A full disk (SQLite cannot grow the ``-shm`` or ``-wal`` file and
says "disk I/O error"), a permission problem or a failing drive leave a sound file behind: those raise
``InsufficientSpace`` or ``CatalogUnavailable``, never ``CatalogCorrupt``, so nothing sets a healthy
catalog aside. With ``read_only_fallback`` a full disk opens the catalog read-only instead (reads work,
every write raises ``InsufficientSpace``), and so does a readable catalog on a disk that refuses writes
(mounted read-only, as the kernel does after I/O errors; writes raise ``DestinationNotWritable``): the file
itself when its write-ahead log is empty, else a
private snapshot of file and log in the temporary folder (SQLite ignores the log of an immutable file).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import (
    CatalogCorrupt,
    CatalogError,
    CatalogLocked,
    CatalogUnavailable,
    DestinationNotWritable,
    InsufficientSpace,
)
from ..io.memory import trim_heap
from .diagnose import Problem, diagnose, mapped_error, read_only_message, refuses_writes, space_message

BUSY_TIMEOUT_MS = 10_000
# Reader connections at most, whatever the number of threads (each keeps up to cache_size of pages).
MAX_READERS = 4


def _quick_check(path: Path) -> tuple[str] | None:
    """``quick_check`` reads every page: on a short-lived connection, so its cache goes with it."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute("PRAGMA cache_size = -2048")
        row = conn.execute("PRAGMA quick_check").fetchone()
        return (str(row[0]),) if row is not None else None
    finally:
        conn.close()


def _configure(conn: sqlite3.Connection) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA temp_store = MEMORY")
    # Search joins FTS hits to wide model rows: the default 2 MiB page cache turns joins into OS reads.
    # Pages are allocated only as used; 8 MiB a connection keeps a host process's memory in bounds.
    conn.execute("PRAGMA cache_size = -8192")


class Database:
    """One catalog file. Thread-safe: any thread may read; writes are serialized."""

    def __init__(self, path: str | Path, *, check: bool = True, read_only_fallback: bool = False) -> None:
        self.path = Path(path)
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._idle: list[sqlite3.Connection] = []  # pooled readers not lent out
        self._readers = 0
        self._pool_cv = threading.Condition()
        self._queue: deque[object] = deque()  # threads waiting for a reader, in their order
        self._active = 0  # reads in progress, so that close() waits for them
        self._active_cv = threading.Condition()
        self._all_lock = threading.Lock()
        self._closed = False
        # Read-only (a full disk): every connection opens this URI instead of the path.
        self.read_only = False
        self.read_only_problem: Problem | None = None
        self._uri: str | None = None
        self._snapshot: str | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = self._connect()
            mode = self._writer.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                # Some filesystems (network shares) refuse WAL; the catalog still works, with less
                # concurrency.
                self._writer.execute("PRAGMA journal_mode = DELETE")
            if check:
                row = _quick_check(self.path)
                if row is None or row[0] != "ok":
                    raise CatalogCorrupt(
                        f"The catalog {self.path} is damaged ({row[0] if row else 'no answer'}). "
                        "Run `model-library rebuild`: it sets the damaged file aside and rebuilds the "
                        "catalog from the library's metadata.json files."
                    )
        except sqlite3.DatabaseError as exc:
            self._close_all()
            self._opening_failed(exc, read_only_fallback)

    def _opening_failed(self, exc: sqlite3.DatabaseError, read_only_fallback: bool) -> None:
        """Tell a full disk, an unreadable file and real damage apart (only damage is CatalogCorrupt)."""
        if "locked" in str(exc).lower():
            raise CatalogLocked(
                f"The catalog {self.path} is locked by another process; try again when it finishes."
            ) from exc
        problem = diagnose(self.path, exc)
        if problem is Problem.SPACE:
            if read_only_fallback and self._open_read_only():
                self.read_only_problem = problem
                return
            raise InsufficientSpace(space_message(self.path, writing=True)) from exc
        if problem is Problem.UNAVAILABLE and refuses_writes(self.path):
            # A readable file on a disk that takes no writes (mounted read-only, as the kernel does
            # after I/O errors): reading works, writes say which disk refuses them.
            if read_only_fallback and self._open_read_only():
                self.read_only_problem = problem
                return
            raise DestinationNotWritable(read_only_message(self.path)) from exc
        if problem is Problem.DAMAGED:
            raise CatalogCorrupt(
                f"The catalog {self.path} cannot be opened ({exc}). Run `model-library rebuild` to set it "
                "aside and rebuild it from the library's metadata.json files."
            ) from exc
        raise CatalogUnavailable(
            f"The catalog {self.path} cannot be read ({exc}), but the file is not damaged: check the "
            "drive and the file's permissions (the user running this must be able to read and write "
            "it and its folder), then try again. Do not rebuild: nothing would be gained."
        ) from exc

    def refuse_if_read_only(self) -> None:
        """Raise the error a write gets while the catalog is open read-only: InsufficientSpace on a full
        disk, DestinationNotWritable on a disk that refuses writes. Callers check before touching files."""
        if not self.read_only:
            return
        with self._write_lock:
            if self._leave_read_only():
                return
        if self.read_only_problem is Problem.SPACE:
            raise InsufficientSpace(space_message(self.path, writing=True))
        raise DestinationNotWritable(read_only_message(self.path))

    def _leave_read_only(self) -> bool:
        """Under the write lock: reopen for writing when the disk takes writes again (a host that
        started on a full disk must not stay read-only until restarted). False when it still refuses."""
        if not self.read_only:
            return True
        try:
            writer = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error:
            return False
        try:
            _configure(writer)
            mode = writer.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                writer.execute("PRAGMA journal_mode = DELETE")
            writer.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error:
            writer.close()
            return False
        with self._active_cv:  # no read in progress: the read-only connections go, normal ones come
            self._active_cv.wait_for(lambda: self._active == 0, timeout=30)
            with self._pool_cv:
                self._idle = []
                self._readers = 0
            self._close_all()
            self._drop_snapshot()
            self._uri = None
            self.read_only = False
            self.read_only_problem = None
            with self._all_lock:
                self._all.append(writer)
            self._writer = writer
        return True

    def _open_read_only(self) -> bool:
        """Open for reading on a full disk; False when not even that is possible."""
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            wal_size = wal.stat().st_size
        except FileNotFoundError:
            wal_size = 0
        try:
            if wal_size == 0:
                self._uri = self.path.absolute().as_uri() + "?immutable=1"
            else:  # the log holds committed rows: read a private copy of both
                self._snapshot = tempfile.mkdtemp(prefix="model-library-readonly-")
                copy = Path(self._snapshot) / self.path.name
                shutil.copyfile(self.path, copy)
                shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
                self._uri = copy.as_uri()
            self.read_only = True
            self._writer = self._connect()
            self._writer.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return True
        except (OSError, sqlite3.DatabaseError):
            self._close_all()
            self._drop_snapshot()
            self.read_only = False
            return False

    def _drop_snapshot(self) -> None:
        if self._snapshot is not None:
            shutil.rmtree(self._snapshot, ignore_errors=True)
            self._snapshot = None

    def _connect(self) -> sqlite3.Connection:
        target: str | Path = self._uri if self._uri is not None else self.path
        conn = sqlite3.connect(
            target,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            uri=self._uri is not None,
        )
        _configure(conn)
        with self._all_lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``), committed on success, rolled back on error.

        Re-entrant within one thread: an inner ``transaction()`` joins the outer one.
        """
        with self._write_lock:
            self._check_open()
            self.refuse_if_read_only()
            conn = self._writer
            if conn.in_transaction:
                yield conn
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise CatalogLocked(
                    f"The catalog {self.path} is locked by another process ({exc}); try again shortly."
                ) from exc
            try:
                yield conn
            except sqlite3.OperationalError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise mapped_error(exc, self.path) from exc
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (disk full, I/O error)
                    conn.execute("ROLLBACK")
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.OperationalError as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise mapped_error(exc, self.path) from exc

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads, the calling thread's alone until the block ends.

        Inside a write transaction on this thread, the writer is returned so reads see uncommitted rows;
        a read inside a read on one thread gets the same connection. Keep blocks short and fetch the rows
        inside them: the connection goes back to the pool at the end of the block.
        """
        if self._write_lock_owned() and self._writer.in_transaction:
            yield self._writer
            return
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        with self._lent(wait=True) as conn:
            assert conn is not None
            yield conn

    @contextmanager
    def read_if_idle(self) -> Iterator[sqlite3.Connection | None]:
        """``read()``'s connection only if the pool lends one at once, else None (and None once closed):
        for reads the caller would as well do itself. Never waits: searches each holding a reader and
        waiting for another would wait for ever."""
        with self._active_cv:
            closed = self._closed
            self._active += not closed
        if closed:
            yield None
            return
        with self._lent(wait=False, counted=True) as conn:
            yield conn

    @contextmanager
    def _lent(self, *, wait: bool, counted: bool = False) -> Iterator[sqlite3.Connection | None]:
        if not counted:
            with self._active_cv:
                self._check_open()
                self._active += 1
        try:
            conn = self._borrow(wait)
            if conn is None:
                yield None
                return
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None
                self._give_back(conn)
        finally:
            with self._active_cv:
                self._active -= 1
                self._active_cv.notify_all()

    def _check_open(self) -> None:
        if self._closed:
            raise CatalogError(f"The catalog {self.path} was closed (the library is shutting down).")

    def _borrow(self, wait: bool = True) -> sqlite3.Connection | None:
        """A reader, first come first served: a thread giving one back (it still holds the GIL) would
        otherwise take it again at once, and a few busy threads keep the pool while others wait."""
        with self._pool_cv:
            if self._queue or not (self._idle or self._readers < MAX_READERS):
                if not wait:
                    return None
                me = object()
                self._queue.append(me)
                try:
                    while self._queue[0] is not me or not (self._idle or self._readers < MAX_READERS):
                        self._pool_cv.wait()
                finally:
                    self._queue.remove(me)
                    self._pool_cv.notify_all()  # the next in line may go too
            if self._idle:
                return self._idle.pop()
            self._readers += 1
        try:
            return self._connect()
        except BaseException:
            with self._pool_cv:
                self._readers -= 1
                self._pool_cv.notify_all()
            raise

    def _give_back(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:  # a reader left inside BEGIN would pin an old snapshot of the WAL
            conn.execute("ROLLBACK")
        with self._pool_cv:
            self._idle.append(conn)
            self._pool_cv.notify_all()  # the first in line, whichever thread was woken

    def _write_lock_owned(self) -> bool:
        return bool(self._write_lock._is_owned())  # type: ignore[attr-defined]

    def execute_read(
        self, sql: str, params: tuple[object, ...] | dict[str, object] = ()
    ) -> list[sqlite3.Row]:
        with self.read() as conn:
            return list(conn.execute(sql, params).fetchall())

    def release_memory(self) -> None:
        """Empty the page caches of the writer and of the idle readers, then hand the freed
        memory back to the OS. For background threads going idle after a burst of work: each cache
        holds up to ``cache_size`` of pages, which a long-running host would otherwise keep for good."""
        if self._closed:
            return
        if self._write_lock.acquire(timeout=0.5):  # never wait behind a long write for this
            try:
                if not self._writer.in_transaction:
                    self._writer.execute("PRAGMA shrink_memory")
            finally:
                self._write_lock.release()
        with self._pool_cv:  # idle readers only: nobody can borrow one while the lock is held
            for reader in self._idle:
                reader.execute("PRAGMA shrink_memory")
        trim_heap()

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database (after a bulk write: a large WAL slows reads)."""
        if self.read_only:
            return
        with self._write_lock:
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self, timeout: float = 30.0) -> None:
        """Close every connection once the reads and the write in progress are done (closing a
        connection another thread is using crashes the process); new work is refused meanwhile."""
        if self._closed:
            return
        self._closed = True
        with self._active_cv:
            self._active_cv.wait_for(lambda: self._active == 0, timeout=timeout)
        got_writer = self._write_lock.acquire(timeout=timeout)
        try:
            self._close_all()
            self._drop_snapshot()
        finally:
            if got_writer:
                self._write_lock.release()

    def _close_all(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
