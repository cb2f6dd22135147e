"""Counts for the panel's filter chips: how many models of each type and base model, and how many
favourites, under the query's other filters (a chip's count says what clicking it would show).

Without text the counts walk indexes; with text they group the first ``COUNT_CAP`` index hits, so a broad
word never costs more than a capped search.
"""

# SQL here is assembled only from fixed fragments (column names); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

from ..models import ModelQuery
from .search import COUNT_CAP, build_match, validate_query
from .search_terms import sql_filters
from .store import Facets

_COLUMNS = {"type": "m.type", "base_model": "m.base_model"}


def facet_counts(conn: sqlite3.Connection, query: ModelQuery) -> Facets:
    validate_query(query)
    match = build_match(query.q)
    capped = False
    if match is not None:
        (hits,) = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM models_fts WHERE models_fts MATCH ? LIMIT {COUNT_CAP + 1})",
            (match,),
        ).fetchone()
        capped = hits > COUNT_CAP

    def counts(attr: str) -> dict[str, int]:
        # A chip's count ignores its own filter: clicking "lora" while "vae" is picked shows the LoRAs.
        narrowed = (
            dataclasses.replace(query, type=None)
            if attr == "type"
            else dataclasses.replace(query, base_model=None)
        )
        pairs = _grouped(conn, narrowed, match, _COLUMNS[attr])
        return {str(value): n for value, n in sorted(pairs, key=lambda p: (-p[1], str(p[0])))}

    total = _grouped(conn, query, match, None)[0][1]
    favorites = _grouped(conn, dataclasses.replace(query, favorite=True), match, None)[0][1]
    return Facets(counts("type"), counts("base_model"), favorites, total, capped)


def _grouped(
    conn: sqlite3.Connection, query: ModelQuery, match: str | None, column: str | None
) -> list[tuple[Any, int]]:
    """Counts of the models ``query`` filters (and ``match`` finds), per value of ``column`` or in all."""
    clauses, params = sql_filters(query, fts_driven=False)
    source = "models m"
    if match is not None:
        source = (
            f"(SELECT rowid AS rid FROM models_fts WHERE models_fts MATCH ? LIMIT {COUNT_CAP}) h "
            "JOIN models m ON m.rowid = h.rid"
        )
        params = [match, *params]
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    if column is None:
        (n,) = conn.execute(f"SELECT count(*) FROM {source}{where}", params).fetchone()
        return [(None, int(n))]
    rows = conn.execute(f"SELECT {column}, count(*) FROM {source}{where} GROUP BY {column}", params)
    return [(r[0], int(r[1])) for r in rows]
