"""Search on the PostgreSQL catalog: the same queries, filters, sorts, pages and capped totals as the
SQLite catalog's (core/catalog/search.py), over ``model_search`` (schema.py: one narrow row per model,
its ``doc`` tsvector under a GIN index for words and prefixes) and, when a single word finds nothing, a
substring of names (trigram index where ``pg_trgm`` exists). A page is ordered on the narrow rows; only
its own rows are read from ``models``, with their files and tags (0004's copies on the row).

One statement per page, planned for its values each time: the total (a text query's counted on
``model_words``, 0003, half the pages of ``model_search``) and the page chosen by it. The filters the chips
set are tested inside the words' indexes (``FILTER_KEYS``, 0002).

Relevance: hits in the name first; among at most ``RANK_CAP`` hits, by ``ts_rank`` over the field weights
then the shortest name (the closest to what was typed); past that, newest first, as SQLite's broad matches.
"""

# SQL here is assembled only from fixed fragments (column names, ORDER BY clauses); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...models import ModelQuery
from ..rows import LIST_COLUMNS
from ..search import COUNT_CAP, RANK_CAP, SUBSTRING_MIN_CHARS, build_match, validate_query
from ..search_terms import tokenize
from ..store import Facets
from .database import Conn
from .documents import query as ts_query
from .documents import words

_ORDER_BY = {
    "name": "s.name_key, s.id",
    "-name": "s.name_key DESC, s.id DESC",
    "added": "s.added_at, s.id",
    "-added": "s.added_at DESC, s.id DESC",
    "size": "s.size, s.id",
    "-size": "s.size DESC, s.id DESC",
    "type": "s.type, s.name_key, s.id",
    "-type": "s.type DESC, s.name_key DESC, s.id DESC",
    "-used": "s.used_at DESC, s.id DESC",
    "used": "s.used_at, s.id",
}
# A page's rows with their files and tags (0004's copies on the row: rows.hydrate reads them).
_PAGE_COLUMNS = f"{LIST_COLUMNS}, m.files_listed, m.tags_listed"
_FILTER_COLUMNS = ("type", "base_model", "location", "security", "file_format")
# Migrations 0002's and 0003's second column of the words' indexes, written as it is there: a text query
# tests its type, base model and favourite filters against it in the same index scan as the words.
FILTER_KEYS = "ARRAY['t:' || {a}type, 'b:' || {a}base_model, 'f:' || {a}favorite]"
_KEYED = ("type", "base_model", "favorite")
_FACETS = ("type", "base_model", "file_format", "security", "location")
_RANK_WEIGHTS = "'{0.1, 0.2, 0.4, 1.0}'"  # D, C, B, A: as SQLite's bm25 weights favour names
# Relevance among few hits: in the name first, then by rank, then the shortest name (closest to the text).
_RANKED = (
    f"(s.doc @@ %s::tsquery) DESC, ts_rank({_RANK_WEIGHTS}, s.doc, %s::tsquery) DESC, "
    "s.name_length, s.name_key, s.id"
)


@dataclass(frozen=True)
class SearchResult:
    rows: tuple[dict[str, Any], ...]
    total: int
    total_capped: bool
    strategy: str  # all | fts | substring


def filters(query: ModelQuery, alias: str = "s.", *, keyed: bool = False) -> tuple[list[str], list[object]]:
    """The query's filters on ``model_search`` (``alias`` "s.") or on ``model_counts`` (alias "", no tag).

    ``keyed``: type, base model and favourite as one test of ``FILTER_KEYS``, for a text query (the words'
    index then applies them; as columns, the planner would AND in a scan of their own index)."""
    clauses: list[str] = []
    params: list[object] = []
    for column in _FILTER_COLUMNS:
        value = getattr(query, column)
        if value is not None and not (keyed and column in _KEYED):
            clauses.append(f"{alias}{column} = %s")
            params.append(value)
    if query.tag is not None:
        clauses.append("EXISTS (SELECT 1 FROM tags t WHERE t.model_id = s.id AND t.tag = %s)")
        params.append(query.tag)
    if query.favorite is not None and not keyed:
        clauses.append(f"{alias}favorite = %s")
        params.append(1 if query.favorite else 0)
    keys = _keys(query)
    if keyed and keys:
        clauses.append(f"{FILTER_KEYS.format(a=alias)} @> %s::text[]")
        params.append(keys)
    return clauses, params


def _keys(query: ModelQuery) -> list[str]:
    """The query's type, base model and favourite filters as values of ``FILTER_KEYS``."""
    keys = [f"{a[0]}:{getattr(query, a)}" for a in ("type", "base_model") if getattr(query, a) is not None]
    if query.favorite is not None:
        keys.append(f"f:{1 if query.favorite else 0}")
    return keys


def _hits(query: ModelQuery, tsq: str, where: str, matched: list[object]) -> tuple[str, list[object]]:
    """A statement counting a text query's hits up to ``COUNT_CAP`` + 1 (as ``total``), and its
    parameters: on 0003's narrow rows when they hold every filter of the query (``where`` and
    ``matched``, its test on model_search, otherwise)."""
    limit = f"LIMIT {COUNT_CAP + 1}"
    if any(getattr(query, attr) is not None for attr in ("location", "security", "file_format", "tag")):
        return f"SELECT count(*) AS total FROM (SELECT 1 FROM model_search s{where} {limit}) h", matched
    keys = _keys(query)
    tests = ["w.words @@ %s::tsquery", *([f"{FILTER_KEYS.format(a='w.')} @> %s::text[]"] if keys else [])]
    counted = f"SELECT count(*) AS total FROM (SELECT 1 FROM model_words w{_where(tests)} {limit}) h"
    return counted, [tsq, *([keys] if keys else [])]


def _counted(conn: Conn, query: ModelQuery, column: str | None = None) -> list[tuple[Any, int]]:
    """Models the filters of a query without text or tag select, from ``model_counts`` (exact), in all
    or per value of ``column``."""
    clauses, params = filters(query, alias="")
    if column is None:
        row = conn.execute(
            f"SELECT coalesce(sum(n), 0) AS n FROM model_counts{_where(clauses)}", params
        ).fetchone()
        return [(None, int(row["n"]) if row else 0)]
    rows = conn.execute(
        f"SELECT {column} AS v, sum(n) AS n FROM model_counts{_where(clauses)} GROUP BY {column} "
        "HAVING sum(n) > 0",
        params,
    ).fetchall()
    return [(r["v"], int(r["n"])) for r in rows]


def _where(clauses: Sequence[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _capped_count(conn: Conn, where: str, params: Sequence[object], cap: int) -> tuple[int, bool]:
    row = conn.execute(
        f"SELECT count(*) AS n FROM (SELECT 1 FROM model_search s{where} LIMIT {cap + 1}) h",
        params,
        prepare=False,  # planned for its words or pattern each time, never a generic plan
    ).fetchone()
    hits = int(row["n"]) if row else 0
    return min(hits, cap), hits > cap


def _page(
    conn: Conn, where: str, params: Sequence[object], order: str, query: ModelQuery
) -> list[dict[str, Any]]:
    """The page's rows of ``models``, in the order the narrow rows gave, in one statement (the page's
    rowids ordered on ``model_search``, then only those rows read whole)."""
    return conn.execute(
        f"SELECT {_PAGE_COLUMNS} FROM unnest(ARRAY(SELECT s.rowid FROM model_search s{where} "
        f"ORDER BY {order} LIMIT %s OFFSET %s)) WITH ORDINALITY AS p(rid, pos) "
        "JOIN models m ON m.rowid = p.rid ORDER BY p.pos",
        (*params, query.limit, query.offset),
        prepare=False,  # planned for its values each time ("lora" holds half the models, "vae" few)
    ).fetchall()


def _text_page(
    conn: Conn, query: ModelQuery, tsq: str, in_name: str, clauses: list[str], params: list[object]
) -> tuple[int, list[dict[str, Any]]]:
    """A text query's hits (at most ``COUNT_CAP`` + 1) and its page, in one statement.

    The count keeps nothing of a hit: copying each hit's words for a ranking that thousands of hits never
    get cost more than the count itself. So the page is a second pass, chosen by the count: sorted, the
    planner's (the sort's index walked or the hits sorted); by relevance, at most ``RANK_CAP`` hits ranked
    whole, or past that the hits in the name (``in_name``) newest first along the primary key, a few rows
    read rather than thousands (``_others`` follows them when they run out). Words that likely find few
    hits (``_likely_few``) are ranked first instead, and counted from the ranking when it held them all."""
    where = _where(["s.doc @@ %s::tsquery", *clauses])  # with ``in_name`` for the words: the name hits
    matched: list[object] = [tsq, *params]
    limits = (query.limit, query.offset)
    count, counted = _hits(query, tsq, where, matched)
    if query.sort != "relevance":
        page = (
            f"ARRAY(SELECT s.rowid FROM model_search s{where} ORDER BY {_ORDER_BY[query.sort]} "
            "LIMIT %s OFFSET %s)"
        )
        return _counted_page(conn, count, counted, page, [*matched, *limits])
    named = f"ARRAY(SELECT s.rowid FROM model_search s{where} ORDER BY s.rowid DESC LIMIT %s OFFSET %s)"
    named_params = [in_name, *params, *limits]
    if _likely_few(query.q):
        # The hits with what ranks them, at most RANK_CAP + 1: all of them (their count too) when few.
        ranked = (
            f"r AS MATERIALIZED (SELECT s.rowid, (s.doc @@ %s::tsquery) AS named, "
            f"ts_rank({_RANK_WEIGHTS}, s.doc, %s::tsquery) AS rank, s.name_length, s.name_key, s.id "
            f"FROM model_search s{where} LIMIT {RANK_CAP + 1}), k AS (SELECT count(*) AS c FROM r), "
        )
        count = (
            f"SELECT CASE WHEN (SELECT c FROM k) <= {RANK_CAP} THEN (SELECT c FROM k) "
            f"ELSE ({count}) END AS total"
        )
        page = (
            f"CASE WHEN (SELECT total FROM n) <= {RANK_CAP} THEN ARRAY(SELECT r.rowid FROM r "
            "ORDER BY r.named DESC, r.rank DESC, r.name_length, r.name_key, r.id LIMIT %s OFFSET %s) "
            f"ELSE {named} END"
        )
        ranking = [in_name, tsq, *matched, *counted]
        return _counted_page(conn, count, ranking, page, [*limits, *named_params], before=ranked)
    page = (
        f"CASE WHEN (SELECT total FROM n) <= {RANK_CAP} "
        f"THEN ARRAY(SELECT s.rowid FROM model_search s{where} ORDER BY {_RANKED} LIMIT %s OFFSET %s) "
        f"ELSE {named} END"
    )
    return _counted_page(conn, count, counted, page, [*matched, in_name, tsq, *limits, *named_params])


def _likely_few(text: str) -> bool:
    """Whether a text likely finds few hits (at most ``RANK_CAP``: ranked whole), so that ranking them
    first costs less than counting them first: two words or more, none implied by another. The prefix
    "li" of "lightning li" adds nothing, that is "lightning" alone: thousands of hits, counted first
    (ranking the first RANK_CAP + 1 of them before finding out would be lost)."""
    found = words(text)
    terms = set(found[:-1])
    if found and not any(term.startswith(found[-1]) for term in terms):
        terms.add(found[-1])
    return len(terms) > 1


def _counted_page(
    conn: Conn,
    count: str,
    count_params: Sequence[object],
    page: str,
    page_params: Sequence[object],
    *,
    before: str = "",
) -> tuple[int, list[dict[str, Any]]]:
    """``count`` (a statement giving ``total``, the CTE ``n`` the page may read) and the rows of
    ``page`` (an array of rowids, in order) in one statement: one round trip, even for an empty page.
    ``before``: CTEs both may read, each ending with ", "."""
    rows = conn.execute(
        f"WITH {before}n AS ({count}) SELECT n.total, {_PAGE_COLUMNS} FROM n "
        f"LEFT JOIN LATERAL unnest({page}) WITH ORDINALITY AS p(rid, pos) ON true "
        "LEFT JOIN models m ON m.rowid = p.rid ORDER BY p.pos",
        (*count_params, *page_params),
        prepare=False,  # planned for its values each time: a generic plan scans for "s" as for "juggernaut"
    ).fetchall()
    total = int(rows[0]["total"]) if rows else 0
    return total, [row for row in rows if row["id"] is not None]


def run_search(conn: Conn, query: ModelQuery) -> SearchResult:
    """Validate ``query`` and run it: one page of ``models`` rows and the total."""
    validate_query(query)
    build_match(query.q)  # the same limits on words as the SQLite catalog
    clauses, params = filters(query)
    tsq, in_name = ts_query(query.q), ts_query(query.q, weights="A")
    if tsq is None or in_name is None:
        order = _ORDER_BY.get(query.sort, _ORDER_BY["name"])
        where = _where(clauses)
        page = f"ARRAY(SELECT s.rowid FROM model_search s{where} ORDER BY {order} LIMIT %s OFFSET %s)"
        if query.tag is None:  # exact, from the counts per filter combination
            by_filters, counted = filters(query, alias="")
            count = f"SELECT coalesce(sum(n), 0) AS total FROM model_counts{_where(by_filters)}"
        else:
            count, counted = f"SELECT count(*) AS total FROM model_search s{where}", params
        total, rows = _counted_page(conn, count, counted, page, [*params, query.limit, query.offset])
        return SearchResult(tuple(rows), total, False, "all")
    keyed, keys = filters(query, keyed=True)
    hits, rows = _text_page(conn, query, tsq, in_name, keyed, keys)
    total, capped = min(hits, COUNT_CAP), hits > COUNT_CAP
    if total == 0:
        tokens = tokenize(query.q)
        if len(tokens) == 1 and len(tokens[0]) >= SUBSTRING_MIN_CHARS:
            return _substring(conn, query, tokens[0], clauses, params)
        return SearchResult((), 0, False, "fts")
    if query.sort == "relevance" and hits > RANK_CAP and len(rows) < query.limit:
        rows += _others(conn, query, tsq, in_name, keyed, keys, len(rows))
    return SearchResult(tuple(rows), total, capped, "fts")


def _others(
    conn: Conn,
    query: ModelQuery,
    tsq: str,
    in_name: str,
    clauses: list[str],
    params: list[object],
    have: int,
) -> list[dict[str, Any]]:
    """The rest of a broad match's page once its name hits ran out (``have`` of them on it): the other
    hits, newest first, from where the name hits end."""
    named, _ = _capped_count(conn, _where(["s.doc @@ %s::tsquery", *clauses]), [in_name, *params], COUNT_CAP)
    rest = ModelQuery(limit=query.limit - have, offset=max(0, query.offset - named))
    others = _where(["s.doc @@ %s::tsquery", "NOT (s.doc @@ %s::tsquery)", *clauses])
    return _page(conn, others, [tsq, in_name, *params], "s.rowid DESC", rest)


def _substring(
    conn: Conn, query: ModelQuery, token: str, clauses: list[str], params: list[object]
) -> SearchResult:
    pattern = "%" + token.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where = _where(["s.name_key LIKE %s", *clauses])
    order = _ORDER_BY.get(query.sort, _ORDER_BY["name"])
    rows = _page(conn, where, [pattern, *params], order, query)
    total, capped = _capped_count(conn, where, [pattern, *params], COUNT_CAP)
    return SearchResult(tuple(rows), total, capped, "substring")


def facets(conn: Conn, query: ModelQuery) -> Facets:
    """Counts per type and base model (each under the query's other filters), favourites, total; with
    text, over the first ``COUNT_CAP`` hits."""
    validate_query(query)
    build_match(query.q)
    tsq = ts_query(query.q)
    capped = False
    if tsq is not None:
        capped = _capped_count(conn, " WHERE s.doc @@ %s::tsquery", [tsq], COUNT_CAP)[1]

    def grouped(narrowed: ModelQuery, column: str | None) -> list[tuple[Any, int]]:
        if tsq is None and narrowed.tag is None:
            return _counted(conn, narrowed, column)
        clauses, params = filters(narrowed)
        source = "model_search s"
        if tsq is not None:
            source = (
                f"(SELECT rowid AS rid FROM model_search WHERE doc @@ %s::tsquery LIMIT {COUNT_CAP}) h "
                "JOIN model_search s ON s.rowid = h.rid"
            )
            params = [tsq, *params]
        if column is None:
            row = conn.execute(f"SELECT count(*) AS n FROM {source}{_where(clauses)}", params).fetchone()
            return [(None, int(row["n"]) if row else 0)]
        rows = conn.execute(
            f"SELECT s.{column} AS v, count(*) AS n FROM {source}{_where(clauses)} GROUP BY s.{column}",
            params,
        ).fetchall()
        return [(r["v"], int(r["n"])) for r in rows]

    def counts(attr: str) -> dict[str, int]:
        # A chip's count ignores its own filter: clicking "lora" while "vae" is picked shows the LoRAs.
        narrowed = (
            dataclasses.replace(query, type=None)
            if attr == "type"
            else dataclasses.replace(query, base_model=None)
        )
        pairs = grouped(narrowed, attr)
        return {str(value): n for value, n in sorted(pairs, key=lambda p: (-p[1], str(p[0])))}

    total = grouped(query, None)[0][1]
    favorites = grouped(dataclasses.replace(query, favorite=True), None)[0][1]
    return Facets(counts("type"), counts("base_model"), favorites, total, capped)


def facet_values(conn: Conn) -> dict[str, list[tuple[str, int]]]:
    """Counts per value of type, base_model, file_format, security and location."""
    found: dict[str, list[tuple[str, int]]] = {}
    for column in _FACETS:
        rows = conn.execute(
            f"SELECT {column} AS v, sum(n) AS n FROM model_counts GROUP BY {column} HAVING sum(n) > 0 "
            f'ORDER BY n DESC, {column} COLLATE "C"'
        ).fetchall()
        found[column] = [(r["v"], int(r["n"])) for r in rows]
    return found
