from __future__ import annotations

import threading

import pytest

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.errors import NetworkError
from comfyui_model_library.core.net.cache import Fetched, HttpCache
from comfyui_model_library.core.net.clock import ManualClock


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "catalog.sqlite")
    migrate(database)
    yield database
    database.close()


class Origin:
    """A fetch function that counts calls and answers 304 when the ETag matches."""

    def __init__(self):
        self.body, self.etag, self.calls, self.seen_etags, self.down = b"v1", "e1", 0, [], False

    def __call__(self, etag):
        self.calls += 1
        self.seen_etags.append(etag)
        if self.down:
            raise NetworkError("offline")
        if etag == self.etag:
            return Fetched(not_modified=True)
        return Fetched(self.body, self.etag)


def test_fresh_entries_served_without_a_request_and_persisted(db, tmp_path):
    clock = ManualClock()
    origin = Origin()
    cache = HttpCache(db, clock=clock)
    assert cache.get_or_fetch("k", origin, ttl=60).body == b"v1"
    assert cache.get_or_fetch("k", origin, ttl=60).body == b"v1"
    assert origin.calls == 1
    row = db.execute_read("SELECT etag, status FROM http_cache WHERE key = 'k'")[0]
    assert (row["etag"], row["status"]) == ("e1", 200)


def test_stale_entry_revalidated_with_etag_304_extends(db):
    clock = ManualClock()
    origin = Origin()
    cache = HttpCache(db, clock=clock)
    cache.get_or_fetch("k", origin, ttl=60)
    clock.advance(61)
    result = cache.get_or_fetch("k", origin, ttl=60)
    assert (result.body, result.stale) == (b"v1", False)
    assert origin.seen_etags == [None, "e1"]
    assert cache.get("k").expires_at == pytest.approx(clock.time() + 60)
    origin.body, origin.etag = b"v2", "e2"
    clock.advance(61)
    assert cache.get_or_fetch("k", origin, ttl=60).body == b"v2"


def test_stale_if_error_when_offline_and_error_without_entry(db):
    clock = ManualClock()
    origin = Origin()
    cache = HttpCache(db, clock=clock, stale_window=3600)
    cache.get_or_fetch("k", origin, ttl=60)
    origin.down = True
    clock.advance(120)
    result = cache.get_or_fetch("k", origin, ttl=60)
    assert (result.body, result.stale) == (b"v1", True)
    clock.advance(7200)  # beyond the stale window: the error surfaces
    with pytest.raises(NetworkError):
        cache.get_or_fetch("k", origin, ttl=60)
    with pytest.raises(NetworkError):
        cache.get_or_fetch("other", origin, ttl=60)


def test_stale_while_revalidate_serves_at_once_and_refreshes_behind(db):
    clock = ManualClock()
    origin = Origin()
    cache = HttpCache(db, clock=clock)
    cache.get_or_fetch("k", origin, ttl=60)
    origin.body, origin.etag = b"v2", "e2"
    clock.advance(61)
    tasks = []
    result = cache.get_or_fetch("k", origin, ttl=60, background=tasks.append)
    assert (result.body, result.stale) == (b"v1", True)
    assert len(tasks) == 1
    assert cache.get_or_fetch("k", origin, ttl=60, background=tasks.append).stale
    assert len(tasks) == 1  # one refresh in flight per key
    done = threading.Thread(target=tasks[0])
    done.start()
    done.join()
    assert cache.get_or_fetch("k", origin, ttl=60).body == b"v2"


def test_json_helper_and_purge(db):
    clock = ManualClock()
    cache = HttpCache(db, clock=clock, stale_window=10)
    assert cache.get_or_fetch_json("j", lambda: {"a": [1, 2]}, ttl=5).json() == {"a": [1, 2]}
    clock.advance(100)
    assert cache.purge_expired() == 1
    assert cache.get("j") is None
