"""The PostgreSQL catalog's search answers as the SQLite catalog's: the same models in both, random
queries (words, filters, sorts, pages) with small caps so that every path runs (ranked whole, broad name
hits first then the others, capped totals), compared store against store. Ranking differs by design
(bm25 against ts_rank), so a ranked page is compared by what it holds, a sorted one row for row."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from comfyui_model_library.core.catalog import search as sqlite_search
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.catalog.postgres import search as pg_search
from comfyui_model_library.core.catalog.postgres.database import PostgresDatabase
from comfyui_model_library.core.catalog.postgres.schema import migrate as migrate_pg
from comfyui_model_library.core.catalog.postgres.store import PostgresCatalog
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.models import SORT_KEYS, ModelQuery, Page
from tests.postgres_server import PostgresServer

from ..conftest import make_model

WORDS = ("flux", "fluxion", "lora", "anime", "animal", "sdxl", "refiner", "neon", "pony", "portrait")
TYPES = ("lora", "checkpoint", "vae", "text_encoder")
BASES = ("sdxl", "sdxl_refiner", "sd15", "flux1")
TAGS = ("style", "anime", "neon", "photo")
MODELS = 300
COUNT_CAP, RANK_CAP = 40, 12


@pytest.fixture(scope="module")
def stores(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ModelRepository, PostgresCatalog]]:
    rng = random.Random(5)
    models = [
        make_model(
            # ASCII names: SQLite's NOCASE and PostgreSQL's lower() fold them alike
            "_".join(rng.sample(WORDS, rng.randint(1, 3))) + rng.choice(("", "XL", "_v2", " 3")),
            type=rng.choice(TYPES),
            base_model=rng.choice(BASES),
            tags=tuple(rng.sample(TAGS, rng.randint(0, 2))),
            size=rng.randint(1, 40),  # ties: the id decides
            added_at=f"2024-01-{rng.randint(1, 9):02d}T00:00:00+00:00",
            used_at=rng.choice(("", "", f"2025-02-0{rng.randint(1, 9)}T00:00:00+00:00")),
            favorite=rng.random() < 0.2,
            notes=rng.choice(("", "", "neon vibe", "sdxl refiner notes")),
            security=rng.choice(("safe", "safe", "unknown")),
        )
        for _ in range(MODELS)
    ]
    sqlite_db = Database(Path(tmp_path_factory.mktemp("both")) / "catalog.sqlite")
    migrate(sqlite_db)
    pg_db = PostgresDatabase(postgres_server.new_database())
    migrate_pg(pg_db)
    lite, pg = ModelRepository(sqlite_db), PostgresCatalog(pg_db)
    lite.add_many(models)
    pg.add_many(models)
    yield lite, pg
    pg.close()
    sqlite_db.close()


def _ids(page: Page) -> list[str]:
    return [m.id for m in page.items]


queries = st.builds(
    ModelQuery,
    q=st.one_of(
        st.just(""),
        st.sampled_from(WORDS).map(lambda w: w[: max(1, len(w) - 3)]),
        st.sampled_from(WORDS),
        st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)).map(lambda p: f"{p[0]} {p[1][:2]}"),
    ),
    type=st.none() | st.sampled_from(TYPES),
    base_model=st.none() | st.sampled_from(BASES),
    tag=st.none() | st.sampled_from(TAGS),
    security=st.none() | st.just("unknown"),
    favorite=st.none() | st.booleans(),
    sort=st.sampled_from(SORT_KEYS),
    limit=st.integers(1, 30),
    offset=st.integers(0, 60),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(query=ModelQuery(q="f", limit=30))  # broad: name hits first, then the others
@example(query=ModelQuery(q="f", favorite=True, limit=10, offset=5))
@example(query=ModelQuery(q="an", base_model="sdxl", sort="-size", limit=10))
@example(query=ModelQuery(q="neo", type="lora", favorite=False, sort="name", offset=3))
@example(query=ModelQuery(q="flux lo", limit=30))  # two words: ranked first, more than RANK_CAP
@example(query=ModelQuery(q="pony portr", type="vae", limit=30))  # two words, few: ranked whole
@given(query=queries)
def test_both_catalogs_answer_alike(
    stores: tuple[ModelRepository, PostgresCatalog], query: ModelQuery
) -> None:
    lite, pg = stores
    with (
        mock.patch.object(sqlite_search, "COUNT_CAP", COUNT_CAP),
        mock.patch.object(sqlite_search, "RANK_CAP", RANK_CAP),
        mock.patch.object(pg_search, "COUNT_CAP", COUNT_CAP),
        mock.patch.object(pg_search, "RANK_CAP", RANK_CAP),
    ):
        expected, got = lite.list(query), pg.list(query)
    assert (got.total, got.total_capped) == (expected.total, expected.total_capped)
    if query.sort != "relevance" or not query.q:
        assert _ids(got) == _ids(expected)
    else:  # ranked apart: as many hits on the page, each once, and all of them when they fit on it
        assert len(got.items) == len(set(_ids(got))) == len(expected.items)
        if query.offset == 0 and not expected.total_capped and expected.total <= query.limit:
            assert set(_ids(got)) == set(_ids(expected))


def test_a_text_querys_filters_are_conditions_of_the_words_index(
    stores: tuple[ModelRepository, PostgresCatalog],
) -> None:
    """Migration 0002 indexes type, base model and favourite beside the words: written as FILTER_KEYS,
    a filtered text query's filters narrow the index scan instead of filtering the rows it fetched."""
    _lite, pg = stores
    query = ModelQuery(q="neo", type="lora", base_model="sdxl", favorite=True)
    clauses, params = pg_search.filters(query, keyed=True)
    with pg.db.transaction() as conn:
        conn.execute("SET LOCAL enable_seqscan = off")  # a few hundred rows: a scan would do otherwise
        rows = conn.execute(
            "EXPLAIN SELECT 1 FROM model_search s WHERE s.doc @@ %s::tsquery AND " + " AND ".join(clauses),
            ["'neo':*", *params],
        ).fetchall()
    plan = "\n".join(row["QUERY PLAN"] for row in rows)
    assert "Bitmap Index Scan on model_search_words" in plan
    assert "Filter:" not in plan, plan


@pytest.mark.parametrize("text", ["flux lo", "pony portr", "neon an", "anime anim", "sdxl refiner"])
@pytest.mark.parametrize("offset", [0, 7])
def test_ranking_first_pages_as_counting_first_does(
    stores: tuple[ModelRepository, PostgresCatalog], text: str, offset: int
) -> None:
    """Words likely to find few hits are ranked before they are counted: the same total and the same
    page, row for row, as counting them first, whether they were few (ranked whole) or not."""
    _lite, pg = stores
    for cap in (3, 12, 2_500):
        query = ModelQuery(q=text, limit=10, offset=offset)
        with mock.patch.object(pg_search, "RANK_CAP", cap):
            with mock.patch.object(pg_search, "_likely_few", return_value=False):
                counted = pg.list(query)
            with mock.patch.object(pg_search, "_likely_few", return_value=True):
                ranked = pg.list(query)
        assert (ranked.total, _ids(ranked)) == (counted.total, _ids(counted))


def test_words_likely_to_find_few_hits() -> None:
    assert pg_search._likely_few("portrait flux") and pg_search._likely_few("Flux LoRA v2")
    for one_word in ("juggernaut", "lightning li", "dev dev", "cyberpunk CYB", "  "):
        assert not pg_search._likely_few(one_word), one_word
