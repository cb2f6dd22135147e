"""Counts for the panel's filter chips: how many models of each type and base model, and how many
favourites, under the query's other filters (a chip's count says what clicking it would show).

Without text (nor a tag) the counts sum 0009's counts per filter combination; with text they group the
first ``COUNT_CAP`` index hits, so a broad word never costs more than a capped search.
"""

# SQL here is assembled only from fixed fragments (column names); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

from ..models import ModelQuery
from .fts_hits import KEYS
from .search import COUNT_CAP, build_match, validate_query
from .search_terms import sql_filters, sql_where
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
    if match is None and query.tag is None:
        # 0009's counts per combination of the filter columns: a few hundred rows, not every model.
        clauses, params = sql_filters(query, fts_driven=False)
        if column is None:
            (n,) = conn.execute(
                f"SELECT coalesce(sum(n), 0) FROM model_counts m{sql_where(clauses)}", params
            ).fetchone()
            return [(None, int(n))]
        grouped = f"GROUP BY {column} HAVING sum(n) > 0"  # combinations emptied by deletes stay, at 0
        sql = f"SELECT {column}, sum(n) FROM model_counts m{sql_where(clauses)} {grouped}"
        rows = conn.execute(sql, params)
        return [(r[0], int(r[1])) for r in rows]
    # The hits are tested on 0008's narrow index (favourites on their own), not the wide rows.
    clauses, params = sql_filters(query, fts_driven=match is not None)
    source = "models m"
    if match is not None:
        source = (
            f"(SELECT rowid AS rid FROM models_fts WHERE models_fts MATCH ? LIMIT {COUNT_CAP}) h "
            f"JOIN {KEYS} ON m.rowid = h.rid"
        )
        params = [match, *params]
    where = sql_where(clauses)
    if column is None:
        (n,) = conn.execute(f"SELECT count(*) FROM {source}{where}", params).fetchone()
        return [(None, int(n))]
    rows = conn.execute(f"SELECT {column}, count(*) FROM {source}{where} GROUP BY {column}", params)
    return [(r[0], int(r[1])) for r in rows]
