"""Readers come from a small pool: many threads never mean many connections (each with its page
cache), a read inside a read shares one connection, and an error never leaks one."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from comfyui_model_library.core.catalog.db import MAX_READERS, Database


def _open_handles(path: Path) -> int:
    """File descriptors of this process open on ``path`` (one per SQLite connection)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            continue
    return count


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/fd")
def test_many_threads_share_a_few_reader_connections(db: Database) -> None:
    barrier = threading.Barrier(24)

    def read(_: int) -> int:
        barrier.wait(timeout=10)
        with db.read() as conn:
            return int(conn.execute("SELECT count(*) FROM models").fetchone()[0])

    with ThreadPoolExecutor(max_workers=24) as pool:
        assert list(pool.map(read, range(24))) == [0] * 24
    assert _open_handles(db.path) <= 1 + MAX_READERS, "the writer and at most MAX_READERS readers"


def test_a_read_inside_a_read_shares_the_connection(db: Database) -> None:
    with db.read() as outer, db.read() as inner:
        assert inner is outer
    with db.transaction() as writer, db.read() as conn:
        assert conn is writer, "inside a transaction reads see its uncommitted rows"


def test_errors_inside_reads_never_leak_a_connection(db: Database) -> None:
    for _ in range(MAX_READERS * 3):
        with pytest.raises(ZeroDivisionError), db.read():
            raise ZeroDivisionError
    done = threading.Event()

    def read() -> None:
        with db.read() as conn:
            conn.execute("SELECT 1").fetchone()
        done.set()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert done.wait(5), "a reader was left lent out"


def test_a_reader_left_inside_begin_is_reset_before_reuse(db: Database) -> None:
    with db.read() as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM models").fetchone()
    with db.read() as again:
        assert not again.in_transaction


def test_a_thread_waits_for_a_reader_when_all_are_lent(db: Database) -> None:
    lent = threading.Barrier(MAX_READERS + 1)
    release = threading.Event()

    def hold() -> None:
        with db.read():
            lent.wait(timeout=10)
            release.wait(10)

    holders = [threading.Thread(target=hold) for _ in range(MAX_READERS)]
    for thread in holders:
        thread.start()
    lent.wait(timeout=10)
    got = threading.Event()

    def late() -> None:
        with db.read():
            got.set()

    waiter = threading.Thread(target=late)
    waiter.start()
    assert not got.wait(0.3), "a fifth reader would have been opened"
    release.set()
    assert got.wait(5)
    for thread in [*holders, waiter]:
        thread.join(5)


def test_a_waiting_thread_gets_a_reader_before_one_that_just_gave_one_back(db: Database) -> None:
    """More threads reading than readers (a flood of searches): a reader given back goes to the thread
    that waited longest. Taken back at once by the thread giving it (it still holds the lock and the
    GIL), four busy threads kept the readers for as long as they read, and the others waited."""
    threads = MAX_READERS * 2
    start, stop = threading.Barrier(threads), threading.Event()

    def read(_: int) -> int:
        start.wait(timeout=10)
        reads = 0
        while not stop.is_set():
            with db.read() as conn:
                conn.execute("SELECT count(*) FROM models").fetchone()
            reads += 1
        return reads

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(read, i) for i in range(threads)]
        stop.wait(1.0)
        stop.set()
        reads = [f.result(timeout=30) for f in futures]
    assert min(reads) * 20 > max(reads), reads
