"""Search on the PostgreSQL catalog: the same queries, filters, sorts, pages and capped totals as the
SQLite catalog's (core/catalog/search.py), over the ``doc`` tsvector (GIN: words and prefixes) and, when a
single word finds nothing, a substring of names (trigram index where ``pg_trgm`` exists).

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
from ..search import COUNT_CAP, RANK_CAP, SUBSTRING_MIN_CHARS, build_match, tokenize, validate_query
from ..store import Facets
from .database import Conn
from .documents import query as ts_query
from .rows import LIST_COLUMNS_PG

_NAME = 'lower(m.name) COLLATE "C"'
_ORDER_BY = {
    "name": f"{_NAME}, m.id",
    "-name": f"{_NAME} DESC, m.id DESC",
    "added": "m.added_at, m.id",
    "-added": "m.added_at DESC, m.id DESC",
    "size": "m.size, m.id",
    "-size": "m.size DESC, m.id DESC",
    "type": f"m.type, {_NAME}, m.id",
    "-type": f"m.type DESC, {_NAME} DESC, m.id DESC",
    "-used": "m.used_at DESC, m.id DESC",
    "used": "m.used_at, m.id",
}
_FILTER_COLUMNS = (
    ("type", "m.type"),
    ("base_model", "m.base_model"),
    ("location", "m.location"),
    ("security", "m.security"),
    ("file_format", "m.file_format"),
)
_FACETS = ("type", "base_model", "file_format", "security", "location")
_RANK_WEIGHTS = "'{0.1, 0.2, 0.4, 1.0}'"  # D, C, B, A: as SQLite's bm25 weights favour names


@dataclass(frozen=True)
class SearchResult:
    rows: tuple[dict[str, Any], ...]
    total: int
    total_capped: bool
    strategy: str  # all | fts | substring


def filters(query: ModelQuery) -> tuple[list[str], list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    for attr, column in _FILTER_COLUMNS:
        value = getattr(query, attr)
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if query.tag is not None:
        clauses.append("EXISTS (SELECT 1 FROM tags t WHERE t.model_id = m.id AND t.tag = %s)")
        params.append(query.tag)
    if query.favorite is not None:
        clauses.append("m.favorite = %s")
        params.append(1 if query.favorite else 0)
    return clauses, params


def _where(clauses: Sequence[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _capped_count(conn: Conn, where: str, params: Sequence[object], cap: int) -> tuple[int, bool]:
    row = conn.execute(
        f"SELECT count(*) AS n FROM (SELECT 1 FROM models m{where} LIMIT {cap + 1}) h", params
    ).fetchone()
    hits = int(row["n"]) if row else 0
    return min(hits, cap), hits > cap


def run_search(conn: Conn, query: ModelQuery) -> SearchResult:
    """Validate ``query`` and run it: one page of ``models`` rows and the total."""
    validate_query(query)
    build_match(query.q)  # the same limits on words as the SQLite catalog
    clauses, params = filters(query)
    tsq = ts_query(query.q)
    if tsq is None:
        order = _ORDER_BY.get(query.sort, _ORDER_BY["name"])
        rows = conn.execute(
            f"SELECT {LIST_COLUMNS_PG} FROM models m{_where(clauses)} ORDER BY {order} LIMIT %s OFFSET %s",
            (*params, query.limit, query.offset),
        ).fetchall()
        row = conn.execute(f"SELECT count(*) AS n FROM models m{_where(clauses)}", params).fetchone()
        return SearchResult(tuple(rows), int(row["n"]) if row else 0, False, "all")
    where = _where(["m.doc @@ %s::tsquery", *clauses])
    matched = [tsq, *params]
    total, capped = _capped_count(conn, where, matched, COUNT_CAP)
    if total == 0:
        tokens = tokenize(query.q)
        if len(tokens) == 1 and len(tokens[0]) >= SUBSTRING_MIN_CHARS:
            return _substring(conn, query, tokens[0], clauses, params)
        return SearchResult((), 0, False, "fts")
    ranked: list[object] = []  # the ORDER BY's parameters, after the WHERE's
    if query.sort != "relevance":
        order = _ORDER_BY[query.sort]
    elif capped or total > RANK_CAP:  # too broad to rank whole: name hits first, newest first
        order = "(m.doc @@ %s::tsquery) DESC, m.rowid DESC"
        ranked = [ts_query(query.q, weights="A")]
    else:
        order = (
            f"(m.doc @@ %s::tsquery) DESC, ts_rank({_RANK_WEIGHTS}, m.doc, %s::tsquery) DESC, "
            f"length(m.name), {_NAME}, m.id"
        )
        ranked = [ts_query(query.q, weights="A"), tsq]
    rows = conn.execute(
        f"SELECT {LIST_COLUMNS_PG} FROM models m{where} ORDER BY {order} LIMIT %s OFFSET %s",
        (*matched, *ranked, query.limit, query.offset),
    ).fetchall()
    return SearchResult(tuple(rows), total, capped, "fts")


def _substring(
    conn: Conn, query: ModelQuery, token: str, clauses: list[str], params: list[object]
) -> SearchResult:
    pattern = "%" + token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where = _where(["lower(m.name) LIKE lower(%s)", *clauses])
    order = _ORDER_BY.get(query.sort, _ORDER_BY["name"])
    rows = conn.execute(
        f"SELECT {LIST_COLUMNS_PG} FROM models m{where} ORDER BY {order} LIMIT %s OFFSET %s",
        (pattern, *params, query.limit, query.offset),
    ).fetchall()
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
        capped = _capped_count(conn, " WHERE m.doc @@ %s::tsquery", [tsq], COUNT_CAP)[1]

    def grouped(narrowed: ModelQuery, column: str | None) -> list[tuple[Any, int]]:
        clauses, params = filters(narrowed)
        source = "models m"
        if tsq is not None:
            source = (
                f"(SELECT rowid AS rid FROM models WHERE doc @@ %s::tsquery LIMIT {COUNT_CAP}) h "
                "JOIN models m ON m.rowid = h.rid"
            )
            params = [tsq, *params]
        if column is None:
            row = conn.execute(f"SELECT count(*) AS n FROM {source}{_where(clauses)}", params).fetchone()
            return [(None, int(row["n"]) if row else 0)]
        rows = conn.execute(
            f"SELECT {column} AS v, count(*) AS n FROM {source}{_where(clauses)} GROUP BY {column}", params
        ).fetchall()
        return [(r["v"], int(r["n"])) for r in rows]

    def counts(attr: str) -> dict[str, int]:
        # A chip's count ignores its own filter: clicking "lora" while "vae" is picked shows the LoRAs.
        narrowed = (
            dataclasses.replace(query, type=None)
            if attr == "type"
            else dataclasses.replace(query, base_model=None)
        )
        pairs = grouped(narrowed, f"m.{attr}")
        return {str(value): n for value, n in sorted(pairs, key=lambda p: (-p[1], str(p[0])))}

    total = grouped(query, None)[0][1]
    favorites = grouped(dataclasses.replace(query, favorite=True), None)[0][1]
    return Facets(counts("type"), counts("base_model"), favorites, total, capped)


def facet_values(conn: Conn) -> dict[str, list[tuple[str, int]]]:
    """Counts per value of type, base_model, file_format, security and location."""
    found: dict[str, list[tuple[str, int]]] = {}
    for column in _FACETS:
        rows = conn.execute(
            f"SELECT {column} AS v, count(*) AS n FROM models GROUP BY {column} "
            f'ORDER BY n DESC, {column} COLLATE "C"'
        ).fetchall()
        found[column] = [(r["v"], int(r["n"])) for r in rows]
    return found
