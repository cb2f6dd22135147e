"""Closing the catalog while other threads work on it never crashes the process: close waits for the
work in progress, and work that starts later gets a clear error."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.errors import CatalogError


def test_close_waits_for_a_transaction_and_refuses_later_work(tmp_path: Path) -> None:
    db = Database(tmp_path / "c.sqlite")
    migrate(db)
    inside = threading.Event()
    finished: list[str] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with db.transaction() as conn:
                inside.set()
                time.sleep(0.3)
                conn.execute("INSERT INTO kv (key, value) VALUES ('a', 'b')")
            finished.append("committed")
            for _ in range(100):
                with db.transaction() as conn:
                    conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES ('a', 'c')")
        except CatalogError as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    inside.wait(5)
    db.close()  # must wait for the open transaction rather than pull the connection from under it
    thread.join(5)
    assert finished == ["committed"]
    assert errors and "closed" in str(errors[0])
    with pytest.raises(CatalogError):
        db.execute_read("SELECT 1")
