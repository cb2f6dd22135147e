"""Giving the page caches back: never waits long behind a write, never breaks the connections."""

from __future__ import annotations

import sys
import threading

import pytest

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.io.memory import trim_heap


def _fill(db: Database, rows: int = 2_000) -> None:
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO kv (key, value) VALUES (?, ?)", [(f"k{i}", "v" * 500) for i in range(rows)]
        )


def test_caches_are_released_and_the_catalog_still_works(db: Database) -> None:
    _fill(db)
    assert db.execute_read("SELECT count(*) FROM kv WHERE value LIKE 'v%'")[0][0] == 2_000
    db.release_memory()
    assert db.execute_read("SELECT count(*) FROM kv")[0][0] == 2_000
    with db.transaction() as conn:
        conn.execute("INSERT INTO kv (key, value) VALUES ('after', 'x')")
    assert db.execute_read("SELECT value FROM kv WHERE key = 'after'")[0][0] == "x"


def test_a_long_write_in_another_thread_is_not_waited_for(db: Database) -> None:
    inside, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with db.transaction() as conn:
            conn.execute("INSERT INTO kv (key, value) VALUES ('slow', 'x')")
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=long_write)
    thread.start()
    try:
        assert inside.wait(10)
        db.release_memory()
        # It came back while the writer still holds its transaction (waiting for it would return only
        # once the writer let go, after `release` is set below).
        assert thread.is_alive() and not release.is_set()
    finally:
        release.set()
        thread.join()
    assert db.execute_read("SELECT value FROM kv WHERE key = 'slow'")[0][0] == "x"


def test_inside_a_transaction_of_the_same_thread_it_changes_nothing(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO kv (key, value) VALUES ('held', 'x')")
        db.release_memory()
        assert conn.in_transaction
    assert db.execute_read("SELECT value FROM kv WHERE key = 'held'")[0][0] == "x"


def test_a_closed_catalog_is_left_alone(db: Database) -> None:
    db.close()
    db.release_memory()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_the_heap_is_trimmed_on_glibc() -> None:
    assert trim_heap() is True
