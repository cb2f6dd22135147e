"""Search plans chosen for speed give the rows, order and totals of the plain plan.

A few hundred random models; random queries (words, filters, sorts, pages) run through ``run_search``
with each plan forced in turn (walking a sort's index or sorting the hits; the index-only tests of
filters) and are compared with one plain SQL query per question.
"""

from __future__ import annotations

import dataclasses
import random
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from comfyui_model_library.core.catalog import search, search_terms
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.facets import facet_counts
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.catalog.search import build_match, run_search
from comfyui_model_library.core.catalog.search_terms import ORDER_BY, sql_filters
from comfyui_model_library.core.catalog.store import Facets
from comfyui_model_library.core.models import SORT_KEYS, ModelQuery
from comfyui_model_library.core.taxonomy import BaseModelType, ModelType, Vocabulary

from .conftest import make_model

WORDS = ("flux", "fluxion", "lora", "anime", "animal", "sdxl", "refiner", "neon", "pony", "portrait")
TYPES = ("lora", "checkpoint", "vae", "text_encoder")
BASES = ("sdxl", "sdxl_refiner", "sd15", "flux1")
TAGS = ("style", "anime", "neon", "photo")
MODELS = 300
ORDER = {key: ORDER_BY[key] for key in SORT_KEYS if key != "relevance"}


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    db = Database(Path(tmp_path_factory.mktemp("plans")) / "catalog.sqlite")
    migrate(db)
    rng = random.Random(5)
    models = []
    for i in range(MODELS):
        name = "_".join(rng.sample(WORDS, rng.randint(1, 3))) + rng.choice(("", "XL", "_v2", " 3"))
        models.append(
            make_model(
                name,
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
        )
    # Letters LIKE folds (ASCII) and letters it does not (É, é), for the name scan.
    models += [make_model(n) for n in ("Éclair_night", "ÉCLAIRnight", "superéclairXL", "NeonÉclair v2")]
    ModelRepository(db).add_many(models)
    with db.read() as connection:
        yield connection
    db.close()


def _reference(conn: sqlite3.Connection, query: ModelQuery) -> list[int]:
    """Every rowid the query finds, in the sort's order: the plainest SQL (ranked: by rowid)."""
    clauses: list[str] = []
    params: list[object] = []
    for attr in ("type", "base_model", "security", "location"):
        if getattr(query, attr) is not None:
            clauses.append(f"m.{attr} = ?")
            params.append(getattr(query, attr))
    if query.favorite is not None:
        clauses.append("m.favorite = ?")
        params.append(int(query.favorite))
    if query.tag is not None:
        clauses.append("EXISTS (SELECT 1 FROM tags t WHERE t.model_id = m.id AND t.tag = ?)")
        params.append(query.tag)
    match = build_match(query.q)
    source = "models m"
    if match is not None:
        source = "models_fts f JOIN models m ON m.rowid = f.rowid"
        clauses.insert(0, "models_fts MATCH ?")
        params.insert(0, match)
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    order = ORDER.get(query.sort, ORDER["name"] if match is None else "m.rowid")
    return [r[0] for r in conn.execute(f"SELECT m.rowid FROM {source}{where} ORDER BY {order}", params)]


queries = st.builds(
    ModelQuery,
    q=st.one_of(
        st.just(""), st.sampled_from(WORDS).map(lambda w: w[: max(1, len(w) - 3)]), st.sampled_from(WORDS)
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
# Each fast path at least once, whatever the draw: favourites on a broad match's pages, an inexact base
# (sdxl) walked, a tag on ranked pages, filtered listings walked.
@example(query=ModelQuery(q="f", favorite=True, limit=10), walk=False, count_cap=10_000, rank_cap=3)
@example(
    query=ModelQuery(q="f", favorite=False, limit=10, offset=5), walk=False, count_cap=10_000, rank_cap=3
)
@example(
    query=ModelQuery(q="an", base_model="sdxl", sort="-size", limit=10), walk=True, count_cap=7, rank_cap=3
)
@example(
    query=ModelQuery(q="l", type="lora", tag="style", limit=10), walk=False, count_cap=10_000, rank_cap=3
)
@example(query=ModelQuery(q="po", security="unknown", sort="name"), walk=True, count_cap=10_000, rank_cap=3)
@example(query=ModelQuery(type="lora", sort="-used", offset=3), walk=True, count_cap=10_000, rank_cap=2_500)
@example(query=ModelQuery(favorite=True, sort="-name"), walk=True, count_cap=10_000, rank_cap=2_500)
@given(
    query=queries,
    walk=st.booleans(),
    count_cap=st.sampled_from((10_000, 7)),
    rank_cap=st.sampled_from((2_500, 3)),
)
def test_every_plan_gives_the_plain_plans_rows_order_and_total(
    conn: sqlite3.Connection, query: ModelQuery, walk: bool, count_cap: int, rank_cap: int
) -> None:
    expected = _reference(conn, query)
    with (
        mock.patch.object(search, "_walks_sort_index", lambda *_args: walk),
        mock.patch.object(search, "COUNT_CAP", count_cap),
        mock.patch.object(search, "RANK_CAP", rank_cap),  # broad matches: name hits first, the rest after
    ):
        result = run_search(conn, query)
    got = [row["rowid"] for row in result.rows]
    if result.strategy == "substring" or (result.total_capped and result.total == 0):
        # The index found nothing (the name scan answers), or, as before these plans, no hit among the
        # first COUNT_CAP passed the other filters: the count says 0 and the name scan or nothing answers.
        assert expected == [] or count_cap < MODELS
        return
    if query.sort != "relevance" or not query.q:
        assert got == expected[query.offset : query.offset + query.limit]
    else:  # ranked: the page holds hits, in an order of its own
        assert set(got) <= set(expected)
        # Past a capped count, a page of the other hits may start off (search.py's _broad_page).
        assert result.total_capped or len(got) == len(expected[query.offset : query.offset + query.limit])
    if not result.total_capped:
        assert result.total == len(expected)
    elif all(getattr(query, a) is None for a in ("tag", "security", "favorite")):
        # Filters the index holds exactly (sdxl not counting sdxl_refiner): the cap itself.
        assert result.total == count_cap < len(expected)
    else:  # the other filters are applied to the first COUNT_CAP hits only
        assert result.total <= min(count_cap, len(expected))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(query=ModelQuery(q="f", favorite=True), limit=4)  # favourites' name hits listed once
@example(query=ModelQuery(q="p", favorite=False), limit=7)
@given(
    query=queries.map(lambda q: dataclasses.replace(q, sort="relevance", offset=0)).filter(lambda q: q.q),
    limit=st.integers(1, 12),
)
def test_ranked_pages_of_a_broad_match_hold_every_hit_once(
    conn: sqlite3.Connection, query: ModelQuery, limit: int
) -> None:
    """Page after page of a match too broad to rank whole (name hits first, then the others): every hit
    comes exactly once, whatever the filters; a page starting off would repeat or skip hits."""
    expected = _reference(conn, query)
    pages: list[int] = []
    with mock.patch.object(search, "RANK_CAP", 3):
        for offset in range(0, len(expected) + limit, limit):
            result = run_search(conn, dataclasses.replace(query, limit=limit, offset=offset))
            assert result.total == len(expected) and not result.total_capped
            pages += [row["rowid"] for row in result.rows]
    assert result.strategy == "fts" or not expected
    assert len(pages) == len(set(pages)) and set(pages) == set(expected)


def test_a_sorted_page_of_a_broad_match_walks_the_sort_index(conn: sqlite3.Connection) -> None:
    """The fast path is taken where it should be (else the test above would compare a plan to itself)."""
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        run_search(conn, ModelQuery(q="f", sort="-size", limit=5))
        run_search(conn, ModelQuery(type="lora", sort="-used", limit=5))
    finally:
        conn.set_trace_callback(None)
    assert any("INDEXED BY models_size_id" in s for s in seen)
    assert any("INDEXED BY models_used_id" in s for s in seen)


def test_listing_totals_and_the_name_index_follow_every_write(repo: ModelRepository, db: Database) -> None:
    """0009's counts per filter combination follow the rows: updates, deletes, a bulk load."""
    models = [
        make_model(f"m{i}", type=TYPES[i % 4], base_model=BASES[i % 3], security=("safe", "unknown")[i % 2])
        for i in range(24)
    ]
    repo.add_many(models[:20])
    with repo.bulk():
        repo.add_many(models[20:])
    repo.update(models[0].id, type="vae")
    repo.update(models[1].id, favorite=True)
    repo.update(models[2].id, favorite=True, base_model="sd15")
    repo.update(models[3].id, location="source", rel_dir="/mnt/x")
    repo.update(models[2].id, favorite=False)
    repo.delete(models[4].id)
    repo.delete_all(location="source")
    listings = [
        ModelQuery(),
        *(ModelQuery(type=t) for t in TYPES),
        *(ModelQuery(base_model=b, favorite=f) for b in BASES for f in (None, True, False)),
        ModelQuery(security="unknown", type="vae"),
        ModelQuery(location="source"),
        ModelQuery(tag="anime", type="lora"),
    ]
    repo.update(models[5].id, name="renamed tornado")
    with db.read() as conn:
        for query in listings:
            assert run_search(conn, query).total == len(_reference(conn, query)), query
            assert facet_counts(conn, query) == _facets_reference(conn, query), query
        # The name index of 0010 follows too (a bulk load rebuilds it; a rename replaces the name).
        conn.execute("INSERT INTO models_trigrams(models_trigrams) VALUES ('integrity-check')")
        assert run_search(conn, ModelQuery(q="rnad")).strategy == "substring"
        assert [r["name"] for r in run_search(conn, ModelQuery(q="rnad")).rows] == ["renamed tornado"]


NAME_PIECES = (*WORDS, "Éclair", "ÉCLAIRnight", "superéclairXL", "NeonÉclair")


def _name_scan_matches(conn: sqlite3.Connection, query: ModelQuery, token: str, walk: bool) -> None:
    with mock.patch.object(search, "_walks_sort_index", lambda *_args: walk):
        got = search._search_substring(conn, query, token)
    clauses, params = sql_filters(query, fts_driven=False)
    where = " AND ".join(["m.name LIKE ?", *clauses])
    order = ORDER.get(query.sort, ORDER["name"])
    sql = f"SELECT m.rowid FROM models m WHERE {where} ORDER BY {order}"
    expected = [r[0] for r in conn.execute(sql, [f"%{token}%", *params])]
    assert [r["rowid"] for r in got.rows] == expected[query.offset : query.offset + query.limit]
    assert (got.total, got.total_capped) == (len(expected), False)


@pytest.mark.parametrize("token", ["Écl", "éCL", "ÉCLAIR", "clairn", "ux", "LUX", "nimal", "orTra", "xion"])
@pytest.mark.parametrize("sort", ["relevance", "-size", "name"])
@pytest.mark.parametrize("walk", [False, True])
def test_the_name_scan_finds_what_like_finds(
    conn: sqlite3.Connection, token: str, sort: str, walk: bool
) -> None:
    """The trigram index folds case beyond ASCII; LIKE does not: "Écl" never finds "éclair"."""
    _name_scan_matches(conn, ModelQuery(sort=sort, limit=5), token, walk)


@pytest.mark.parametrize("filters", [{}, {"type": "lora"}])
def test_a_piece_of_a_name_is_found_whole_not_by_its_trigrams_apart(
    repo: ModelRepository, filters: dict[str, str]
) -> None:
    """ "zorbqua" is found in "xzorbquax" and not in "zorb_orbqua", which holds each of its trigrams but
    never the whole: the index answers alone (no name is read), so its phrase must be exact."""
    whole, apart = make_model("xzorbquax"), make_model("zorb_orbqua")
    repo.add_many([whole, apart, make_model("other")])
    got = repo.list(ModelQuery(q="ZorbQua", **filters))  # type: ignore[arg-type]
    assert ([m.name for m in got.items], got.total) == (["xzorbquax"], 1)
    assert repo.list(ModelQuery(q="rbqu", sort="-size", **filters)).total == 2  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), query=queries.map(lambda q: dataclasses.replace(q, q="")))
def test_the_name_scan_through_trigrams_finds_what_like_finds(
    conn: sqlite3.Connection, data: st.DataObject, query: ModelQuery
) -> None:
    word = data.draw(st.sampled_from(NAME_PIECES))
    start = data.draw(st.integers(0, len(word) - 2))
    token = word[start : start + data.draw(st.integers(2, 6))]
    token = "".join(c.upper() if data.draw(st.booleans()) else c for c in token)  # LIKE folds ASCII only
    _name_scan_matches(conn, query, token, data.draw(st.booleans()))


@pytest.mark.parametrize(
    "filters",
    [{"type": "lora"}, {"base_model": "sdxl"}, {"type": "lora", "tag": "neon"}, {"favorite": True}],
)
def test_a_broad_filtered_match_lists_name_hits_shortest_first(
    repo: ModelRepository, monkeypatch: pytest.MonkeyPatch, filters: dict[str, str]
) -> None:
    """The name hits listed once (an index-side filter, or those passing a favourites filter) come in
    the order the index would give, though more name hits than ``RANK_CAP`` fail the filters."""
    monkeypatch.setattr(search, "RANK_CAP", 4)
    in_name = [make_model(f"neon_{'x' * i}", tags=("neon",), favorite=True) for i in (2, 0, 1)]
    others = [make_model(f"other{i}", tags=("neon",), favorite=True) for i in range(6)]
    wrong = [make_model(f"neon{'y' * i}", type="vae", base_model="sd15", tags=("neon",)) for i in range(3)]
    repo.add_many([*others, *in_name, *wrong])
    first = [m.name for m in repo.list(ModelQuery(q="neon", limit=3, **filters)).items]  # type: ignore[arg-type]
    assert first == ["neon_", "neon_x", "neon_xx"]
    paged = [
        m.name
        for offset in range(0, 10, 2)
        for m in repo.list(ModelQuery(q="neon", limit=2, offset=offset, **filters)).items  # type: ignore[arg-type]
    ]
    assert paged[:3] == first and sorted(paged) == sorted(m.name for m in [*in_name, *others])


def _facets_reference(conn: sqlite3.Connection, query: ModelQuery) -> Facets:
    def grouped(q: ModelQuery, column: str) -> dict[str, int]:
        rowids = _reference(conn, q)
        counts: dict[str, int] = {}
        for rowid in rowids:
            (value,) = conn.execute(f"SELECT {column} FROM models WHERE rowid = ?", (rowid,)).fetchone()
            counts[value] = counts.get(value, 0) + 1
        return dict(sorted(counts.items(), key=lambda p: (-p[1], p[0])))

    return Facets(
        grouped(dataclasses.replace(query, type=None), "type"),
        grouped(dataclasses.replace(query, base_model=None), "base_model"),
        len(_reference(conn, dataclasses.replace(query, favorite=True))),
        len(_reference(conn, query)),
        False,
    )


@settings(max_examples=150, deadline=None)
@given(query=queries.map(lambda q: dataclasses.replace(q, sort="relevance", limit=50, offset=0)))
def test_facets_count_what_the_plain_query_finds(conn: sqlite3.Connection, query: ModelQuery) -> None:
    assert facet_counts(conn, query) == _facets_reference(conn, query)


@pytest.mark.parametrize(("attr", "vocabulary"), [("type", ModelType), ("base_model", BaseModelType)])
def test_each_filter_value_matches_its_own_rows_in_the_index(attr: str, vocabulary: type[Vocabulary]) -> None:
    """The index-side filter of every vocabulary value (and of a made-up one holding another's words
    inside) matches the rows holding exactly that value: what lets the index alone count a filter."""
    values = [*vocabulary.values(), "xl sdxl", "sdxl sdxl"]
    fts = sqlite3.connect(":memory:")
    fts.execute(f'CREATE VIRTUAL TABLE t USING fts5({attr}, tokenize="unicode61 remove_diacritics 2")')
    fts.executemany("INSERT INTO t (rowid, " + attr + ") VALUES (?, ?)", list(enumerate(values, 1)))
    for rowid, value in enumerate(values, 1):
        clause = search_terms._column_phrase(attr, value, values)
        found = [r[0] for r in fts.execute("SELECT rowid FROM t WHERE t MATCH ?", (clause,))]
        if search_terms._is_exact(value, values):
            assert found == [rowid], (value, clause)
        else:
            assert rowid in found, (value, clause)


@pytest.mark.parametrize("walk", [False, True])
@pytest.mark.parametrize("sort", ["relevance", "-size"])
def test_a_piece_of_a_name_counts_the_names_its_pages_list(
    repo: ModelRepository, monkeypatch: pytest.MonkeyPatch, walk: bool, sort: str
) -> None:
    """The trigram index folds the long s (U+017F) to "s" and the Kelvin sign (U+212A) to "k"; LIKE folds
    neither. Whichever plan lists a page (the name index walked and tested, or the index's hits), its
    names are the ones counted: every name the total counts is on some page."""
    names = ["Dream\u017fhaper", "dreamshaperXL", "\u212aeshaper", "other"]
    repo.add_many([make_model(name) for name in names])
    monkeypatch.setattr(search, "_walks_sort_index", lambda *_args: walk)
    for token in ("shaper", "KESHA"):
        first = repo.list(ModelQuery(q=token, sort=sort, limit=1))
        listed = [
            m.name
            for offset in range(4)
            for m in repo.list(ModelQuery(q=token, sort=sort, limit=1, offset=offset)).items
        ]
        assert len(listed) == first.total, (token, listed, first.total)


def test_the_trigram_index_folds_no_other_letter_to_ascii() -> None:
    """search._INDEX_FOLDED names every letter the trigram tokenizer folds to an ASCII one: a newer
    SQLite folding more would make an ASCII token's count and a walked page differ again."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(name, tokenize='trigram')")
    points = [cp for cp in range(0x80, 0x20000) if not 0xD800 <= cp < 0xE000]
    conn.executemany("INSERT INTO t (rowid, name) VALUES (?, ?)", [(cp, f"q{chr(cp)}z") for cp in points])
    folded = {
        (chr(cp), ch)
        for ch in "abcdefghijklmnopqrstuvwxyz0123456789"
        for (cp,) in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (f'"q{ch}z"',))
    }
    assert folded == {("\u017f", "s"), ("\u212a", "k")}
    assert "char(383), 's'" in search._INDEX_FOLDED and "char(8490), 'k'" in search._INDEX_FOLDED


def test_a_long_repetitive_piece_walks_the_trigram_index_for_its_start_only(repo: ModelRepository) -> None:
    """A 256-letter token is 254 trigrams: as one phrase, each term walks the doclist of its trigram
    again, so "000...0" against names that all hold "000" (training steps: "step12000") cost 254 walks
    of the whole doclist (a quarter of a second at 20,000 names) for one unauthenticated request.
    The phrase holds the token's start; LIKE decides the candidates of a longer token."""
    repo.add_many([make_model(f"step{i:05d}000") for i in range(50)])
    statements: list[str] = []
    with repo.db.read() as conn:
        conn.set_trace_callback(statements.append)
        try:
            assert run_search(conn, ModelQuery(q="0" * 256, limit=5)).total == 0
        finally:
            conn.set_trace_callback(None)
    phrases = [p for s in statements if "models_trigrams MATCH" in s for p in re.findall(r"'\"(0+)\"'", s)]
    assert phrases and {len(p) for p in phrases} == {search.PHRASE_MAX_CHARS}, statements


@pytest.mark.parametrize("walk", [False, True])
@pytest.mark.parametrize("sort", ["relevance", "-size"])
def test_a_long_piece_of_a_name_is_found_whole(
    repo: ModelRepository, monkeypatch: pytest.MonkeyPatch, walk: bool, sort: str
) -> None:
    """Past the phrase's letters, LIKE decides: a name holding the token's start but not the whole is
    not counted, one holding it whole in another case (or with the index's long s) is."""
    names = ["x" + "Ab" * 20, "ab" * 6 + "zz" + "ab" * 8, "Ab" * 3 + "a\u017f" + "ab" * 12, "other"]
    repo.add_many([make_model(name) for name in names])
    monkeypatch.setattr(search, "_walks_sort_index", lambda *_args: walk)
    token = "ab" * 15 + "a"
    first = repo.list(ModelQuery(q=token, sort=sort, limit=1))
    listed = {
        m.name for o in range(4) for m in repo.list(ModelQuery(q=token, sort=sort, limit=1, offset=o)).items
    }
    assert (first.total, listed) == (1, {names[0]})
    assert repo.list(ModelQuery(q="AB" * 3 + "as" + "ab" * 12, sort=sort)).total == 1


@pytest.mark.parametrize("filters", [{"type": "lora"}, {"type": "lora", "tag": "neon"}, {"favorite": True}])
def test_more_name_hits_than_rank_cap_come_newest_first_page_after_page(
    repo: ModelRepository, monkeypatch: pytest.MonkeyPatch, filters: dict[str, object]
) -> None:
    """Past ``RANK_CAP`` filtered name hits the page is the newest first: the start of it as the one
    pass over the index lists it, the rest from the index again, with no hit twice or missed."""
    monkeypatch.setattr(search, "RANK_CAP", 4)
    named = [make_model(f"neon {i}", tags=("neon",), favorite=True) for i in range(9)]
    wrong = [make_model(f"neon v{i}", type="vae", tags=("neon",)) for i in range(3)]
    repo.add_many([*named[:4], *wrong, *named[4:]])  # rowids in this order
    newest_first = [m.name for m in reversed(named)]
    pages = [
        [m.name for m in repo.list(ModelQuery(q="neon", limit=3, offset=o, **filters)).items]  # type: ignore[arg-type]
        for o in range(0, 12, 3)
    ]
    assert pages[0] == newest_first[:3]
    assert [n for page in pages for n in page] == newest_first


@pytest.mark.parametrize("filters", [{"type": "lora"}, {"favorite": True}, {"type": "lora", "tag": "neon"}])
def test_name_hits_come_shortest_first_whatever_order_sqlite_scans_in(
    repo: ModelRepository, db: Database, monkeypatch: pytest.MonkeyPatch, filters: dict[str, object]
) -> None:
    """A page of name hits is read through a join with no ORDER BY of its own (``Fts.page_named``):
    SQLite promises no order there. ``reverse_unordered_selects`` scans such selects backwards, as
    another version's plan may: the page must still come shortest name first."""
    monkeypatch.setattr(search, "RANK_CAP", 6)
    repo.add_many(
        [make_model(f"neon_{'x' * i}", tags=("neon",), favorite=True) for i in (3, 0, 2, 1)]
        + [make_model(f"other{i}", tags=("neon",), favorite=True) for i in range(3)]
    )
    query = ModelQuery(q="neo", limit=5, **filters)  # type: ignore[arg-type]
    with db.read() as conn:
        conn.execute("PRAGMA reverse_unordered_selects = ON")
        try:
            names = [r["name"] for r in run_search(conn, query).rows]
        finally:
            conn.execute("PRAGMA reverse_unordered_selects = OFF")
    assert names[:4] == ["neon_", "neon_x", "neon_xx", "neon_xxx"]
