"""A broad filtered search pages its name hits on another pooled connection while it counts
(core/catalog/aside.py): the same page and total as one connection gives, never a wait on the pool, and
never a read that misses the rows of the transaction it runs in."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import pytest

from comfyui_model_library.core.catalog import search
from comfyui_model_library.core.catalog.db import MAX_READERS, Database
from comfyui_model_library.core.catalog.fts_hits import Fts
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.catalog.search import run_search
from comfyui_model_library.core.models import ModelQuery

from .conftest import make_model


@pytest.fixture
def broad(repo: ModelRepository, monkeypatch: pytest.MonkeyPatch) -> ModelRepository:
    """Name hits and other hits of "neon", most of them loras: too many to rank (RANK_CAP 4)."""
    monkeypatch.setattr(search, "RANK_CAP", 4)
    models = [
        make_model(f"neon_{'x' * i}", type="lora" if i % 3 else "vae", favorite=i % 3 == 1) for i in range(12)
    ]
    models += [make_model(f"other{i}", tags=("neon",)) for i in range(6)]
    repo.add_many(models)
    return repo


def _threads_listing_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the threads that list name hits, from now on."""
    threads: list[str] = []
    paged = search._named_page

    def spy(*args: Any) -> tuple[list[int], int, int]:
        threads.append(threading.current_thread().name)
        return paged(*args)

    monkeypatch.setattr(search, "_named_page", spy)
    return threads


@pytest.mark.parametrize("offset", [0, 3, 8, 15])
@pytest.mark.parametrize(
    ("filters", "total"), [({"type": "lora"}, 14), ({"favorite": True}, 4), ({}, 18)]
)  # without a filter: one short word, likely broad
def test_the_page_and_total_are_those_of_one_connection(
    broad: ModelRepository,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    offset: int,
    filters: dict[str, object],
    total: int,
) -> None:
    threads = _threads_listing_names(monkeypatch)
    query = ModelQuery(q="neo", limit=4, offset=offset, **filters)  # type: ignore[arg-type]
    page = broad.list(query)
    with db.read() as conn:
        alone = run_search(conn, query)
    assert ([m.id for m in page.items], page.total) == ([r["id"] for r in alone.rows], alone.total)
    assert page.total == total and len(page.items) == max(0, min(4, total - offset))
    assert threads[0].startswith("model-library-search"), "listed beside the count"


def test_a_search_never_waits_for_a_reader_the_pool_cannot_lend(
    broad: ModelRepository, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every reader lent out: the name hits are listed on the search's own connection, at once."""
    threads = _threads_listing_names(monkeypatch)
    held, release = threading.Barrier(MAX_READERS), threading.Event()

    def hold() -> None:
        with db.read():
            held.wait(timeout=10)
            release.wait(timeout=30)

    with ThreadPoolExecutor(MAX_READERS) as pool:
        holders = [pool.submit(hold) for _ in range(MAX_READERS - 1)]
        try:
            with db.read():  # this thread's reader: the search below shares it
                held.wait(timeout=10)
                with db.read_if_idle() as none:
                    assert none is None
                page = broad.list(ModelQuery(q="neo", type="lora", limit=4))
        finally:
            release.set()
        for holder in holders:
            holder.result(timeout=10)
    assert page.total == 14
    assert "MainThread" in threads


def test_searches_holding_every_reader_all_finish(broad: ModelRepository, db: Database) -> None:
    """As many searches as readers, each holding one while it starts a read aside."""
    start = threading.Barrier(MAX_READERS * 2)

    def search_once(_: int) -> int:
        start.wait(timeout=10)
        return broad.list(ModelQuery(q="neo", type="lora", limit=4)).total

    with ThreadPoolExecutor(MAX_READERS * 2) as pool:
        totals = list(pool.map(search_once, range(MAX_READERS * 2), timeout=60))
    assert totals == [14] * (MAX_READERS * 2)


def test_inside_a_transaction_the_name_hits_are_its_own(
    broad: ModelRepository, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection would not see rows not yet committed: no reads aside there."""
    threads = _threads_listing_names(monkeypatch)
    with ExitStack() as stack:
        stack.enter_context(db.transaction())
        broad.add(make_model("neon"))  # the shortest name hit: first on the page
        page = broad.list(ModelQuery(q="neo", type="lora", limit=4))
    assert page.items[0].name == "neon" and page.total == 15
    assert threads == ["MainThread"]


def test_a_closed_catalog_lends_no_reader(db: Database) -> None:
    db.close()
    with db.read_if_idle() as conn:
        assert conn is None


def test_a_read_not_needed_is_dropped_before_it_runs(
    broad: ModelRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads aside wait in a queue: one its search did not need (a narrow match, ranked whole) never
    runs later, so a flood of searches leaves no backlog of work behind."""
    busy, release = threading.Barrier(3), threading.Event()

    def block(_conn: object) -> None:
        busy.wait(timeout=10)
        release.wait(timeout=30)

    blockers = [broad._aside.start(block) for _ in range(2)]  # both workers taken
    busy.wait(timeout=10)
    threads = _threads_listing_names(monkeypatch)
    try:
        page = broad.list(ModelQuery(q="xxxxxxxxxx", type="lora"))  # two hits: ranked whole
    finally:
        release.set()
    for blocker in blockers:
        blocker.take()
    broad._aside.close()  # every queued read run or dropped by now
    assert page.total == 2 and threads == []


# A search still running when the interpreter shuts down (ComfyUI stopped while a request or a job
# searches): the pool takes no more work then, and the search runs its read itself.
LATE_SEARCH = r"""
import sys, threading
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.models import ModelQuery

db = Database(sys.argv[1])
repo = ModelRepository(db)


def late() -> None:
    threading.main_thread().join()  # the interpreter is shutting down from here on
    try:
        page = repo.list(ModelQuery(q="neo", type="lora", limit=4))
        print("total", page.total, flush=True)
    except Exception as exc:
        print("failed", type(exc).__name__, exc, flush=True)


threading.Thread(target=late).start()
"""


def test_a_search_during_interpreter_shutdown_runs_its_reads_itself(
    broad: ModelRepository, db: Database
) -> None:
    path = str(db.path)
    db.close()
    done = subprocess.run(
        [sys.executable, "-c", LATE_SEARCH, path], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "total 14", done.stdout + done.stderr


@pytest.mark.parametrize("sort", ["name", "-name", "-size", "added", "-used"])
@pytest.mark.parametrize("offset", [0, 5, 16])
def test_a_sorted_match_of_too_many_hits_walks_its_halves_aside_to_the_same_page(
    broad: ModelRepository, db: Database, monkeypatch: pytest.MonkeyPatch, sort: str, offset: int
) -> None:
    """Past COUNT_CAP hits a sorted page walks the older half of the rowids on another connection and
    the newer half here: the page of both is the page one connection walks whole."""
    monkeypatch.setattr(search, "COUNT_CAP", 3)
    threads: list[str] = []
    walked = Fts.walk_ids

    def spy(self: Fts, *args: Any, **kwargs: Any) -> list[int]:
        threads.append(threading.current_thread().name)
        return walked(self, *args, **kwargs)

    monkeypatch.setattr(Fts, "walk_ids", spy)
    query = ModelQuery(q="neo", sort=sort, limit=4, offset=offset)
    page = broad.list(query)
    with db.read() as conn:
        alone = run_search(conn, query)
    assert [m.id for m in page.items] == [r["id"] for r in alone.rows]
    assert len(page.items) == max(0, min(4, 18 - offset)) and page.total_capped
    assert any(t.startswith("model-library-search") for t in threads), "one half walked aside"


def test_a_deep_sorted_page_walks_once_not_every_hit_of_both_halves(
    broad: ModelRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each half lists its first offset + limit rowids into Python, and the page of both sorts them
    all by reading their rows: at a deep offset (anybody may send offset=10**9) that is every hit, ten
    times the cost of one walk of the sort's index (100,000 models: 58 -> 575 ms). A deep page walks
    once, listing a page's rowids alone."""
    monkeypatch.setattr(search, "COUNT_CAP", 3)
    listed: list[int] = []
    walked = Fts.walk_ids

    def spy(self: Fts, *args: Any, **kwargs: Any) -> list[int]:
        ids = walked(self, *args, **kwargs)
        listed.append(len(ids))
        return ids

    monkeypatch.setattr(Fts, "walk_ids", spy)
    monkeypatch.setattr(search, "HALVES_MAX_ROWS", 8)
    deep = broad.list(ModelQuery(q="neo", sort="name", limit=2, offset=10))
    assert len(deep.items) == 2 and deep.total_capped
    assert listed == [2], "one walk, one page of rowids"
    listed.clear()
    broad.list(ModelQuery(q="neo", sort="name", limit=2, offset=4))  # shallow: both halves walked
    assert len(listed) == 2


def test_a_model_renamed_between_the_name_hits_and_the_rest_shows_once(
    repo: ModelRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name hits are read first (aside, or here), the other hits after: a model renamed in between
    is a name hit in the first read and another hit in the second, and is listed once."""
    monkeypatch.setattr(search, "RANK_CAP", 3)
    models = [make_model(f"neon {i}", tags=("neon",)) for i in range(3)]
    models += [make_model(f"other {i}", tags=("neon",)) for i in range(3)]
    repo.add_many(models)
    paged = search._named_page

    def rename_after(*args: Any) -> tuple[list[int], int, int]:
        page = paged(*args)
        repo.update(models[0].id, name="renamed 0")  # still a hit (its tag), no longer in the name
        return page

    monkeypatch.setattr(search, "_named_page", rename_after)
    ids = [m.id for m in repo.list(ModelQuery(q="neon", limit=10)).items]
    assert sorted(ids) == sorted(m.id for m in models)
