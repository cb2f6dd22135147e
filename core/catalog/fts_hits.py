"""One FTS query's hits for search.py: counted (up to a cap), tested against the SQL filters and paged,
reading no more of each hit than its rowid and 0008's narrow index entry until the page is chosen.
"""

# SQL here is assembled only from fixed fragments (column names, ORDER BY clauses); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3

from .rows import LIST_COLUMN_NAMES
from .search_terms import ORDER_BY, SORT_INDEX, sql_where

# bm25 weights in models_fts column order: name, tags_text, type, base_model, repo_id, notes, aliases,
# trigger_text, search_flags (typed text never matches the flags).
_BM25 = "bm25(models_fts, 10.0, 5.0, 2.0, 2.0, 3.0, 1.0, 4.0, 4.0, 0.0)"

# Rowids in hand, bound as one JSON array (one parameter, however many).
_LISTED = "(SELECT value FROM json_each(?))"

# 0008's narrow index by rowid: what a hit is filtered and ordered by, without reading its row.
KEYS = "models m INDEXED BY models_search_keys"
# Name hits of a broad match: the shortest name (the closest to what was typed) first.
NAME_FIRST = "length(m.name), m.name COLLATE NOCASE, m.id"
_KEYED_ORDERS = (
    "rank",
    "f.rowid DESC",
    NAME_FIRST,
    ORDER_BY["name"],
    ORDER_BY["-name"],
    ORDER_BY["type"],
    ORDER_BY["-type"],
)


def _early(clauses: list[str], alias: str) -> list[str]:
    """``clauses`` with those testing a hit's rowid alone (favourites) moved onto the FTS side's
    ``alias``, so SQLite tests them before joining the hit's row. ``+``: offered to the FTS table as a
    rowid constraint, the set would run the match once per favourite."""
    return [c.replace("m.rowid ", f"+{alias}.rowid ", 1) if c.startswith("m.rowid ") else c for c in clauses]


def _rowids_decide(clauses: list[str]) -> bool:
    """Whether the SQL filters test only a hit's rowid (favourites), so no row need be joined."""
    return all(c.startswith("m.rowid ") for c in clauses)


class Fts:
    """One FTS query's SQL pieces: the SQL filters, their parameters, and whether the index-side filters
    (``index_filters``) already decide them exactly."""

    def __init__(
        self, conn: sqlite3.Connection, clauses: list[str], params: list[object], exact: bool
    ) -> None:
        self.conn, self.clauses, self.params, self.exact = conn, clauses, params, exact

    def on(self, conn: sqlite3.Connection) -> Fts:
        """The same query's pieces on another connection (a read aside)."""
        return Fts(conn, self.clauses, self.params, self.exact)

    def count(self, expr: str, cap: int, *, filtered: bool) -> tuple[int, bool]:
        """Hits of ``expr`` up to ``cap`` (True when there are more). ``filtered`` applies the SQL filters
        to the first ``cap`` index hits only, so a count never costs more than ``cap`` row lookups."""
        hits_sql = f"SELECT rowid FROM models_fts WHERE models_fts MATCH ? LIMIT {cap + 1}"
        if not (filtered and self.clauses):
            (hits,) = self.conn.execute(f"SELECT count(*) FROM ({hits_sql})", (expr,)).fetchone()
            return min(int(hits), cap), hits > cap
        passing = " AND ".join(f"({c})" for c in self.clauses)
        # Hits and those passing the filters in one pass over the index (each filter is 0 or 1); the
        # filters' parameters come first, as their placeholders do.
        source = f"({hits_sql}) h JOIN {KEYS} ON m.rowid = h.rowid"
        sql = f"SELECT count(*), coalesce(sum({passing}), 0) FROM {source}"
        hits, total = self.conn.execute(sql, (*self.params, expr)).fetchone()
        if hits <= cap or total >= cap:
            return min(int(total), cap), hits > cap
        # Fewer than ``cap`` of the first hits pass the filters: counting only those would say "none"
        # of matches further on. Count on over every hit, until ``cap`` pass: dearer, but never a wrong
        # total.
        every = "SELECT rowid FROM models_fts WHERE models_fts MATCH ?"
        source = f"({every}) h JOIN {KEYS} ON m.rowid = h.rowid"
        sql = f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {passing} LIMIT {cap + 1})"
        (passed,) = self.conn.execute(sql, (expr, *self.params)).fetchone()
        return min(int(passed), cap), passed > cap

    def page_named(self, expr: str, cap: int, limit: int, offset: int) -> tuple[list[int], int, int]:
        """The first ``cap + 1`` hits of ``expr`` (one holding the index-side filters): how many there
        are, how many pass the SQL filters, and a page of those passing, name first (none past ``cap``:
        the caller pages those newest first, from the index).

        One pass over the index: its hits are kept in a temporary table, counted and sorted there
        (listing them into Python and back cost a millisecond more at two thousand hits). Past ``cap``
        no row is read to sort them."""
        clauses, params = self._filters(prefiltered=True)
        hits = f"SELECT rowid FROM models_fts WHERE models_fts MATCH ? LIMIT {cap + 1}"
        joined = f"h JOIN {KEYS} ON m.rowid = h.rowid"
        every = "(SELECT count(*) FROM h)"
        passing = f"(SELECT count(*) FROM {joined}{sql_where(clauses)})" if clauses else every
        # The counts, and the page joined to them: a page of nothing (past the end, or ``cap``: the
        # test of the count is made once, before the loop) still gives the counts. The join keeps no
        # order SQLite promises: the page's keys come along and order it again (a page's few rows).
        page = (
            f"SELECT m.rowid AS hit, length(m.name) AS k, m.name AS n, m.id AS i "
            f"FROM {joined}{sql_where([f'{every} <= {cap}', *clauses])} "
            f"ORDER BY {NAME_FIRST} LIMIT ? OFFSET ?"
        )
        sql = (
            f"WITH h AS MATERIALIZED ({hits}) SELECT c.hits, c.passing, p.hit "
            f"FROM (SELECT {every} AS hits, {passing} AS passing) c LEFT JOIN ({page}) p "
            "ORDER BY p.k, p.n COLLATE NOCASE, p.i"
        )
        rows = self.conn.execute(sql, (expr, *params, *params, limit, offset)).fetchall()
        return [r[2] for r in rows if r[2] is not None], int(rows[0][0]), int(rows[0][1])

    def _filters(self, prefiltered: bool) -> tuple[list[str], list[object]]:
        """The SQL filters still to apply to hits of an expression (``prefiltered``: one holding the
        index-side filters, which may decide alone)."""
        return ([], []) if prefiltered and self.exact else (self.clauses, self.params)

    def page(self, expr: str, order: str, limit: int, offset: int, *, prefiltered: bool) -> list[sqlite3.Row]:
        """One page of hits of ``expr``: ``order`` is "rank" (bm25) or an ORDER BY over ``m``/``f``.

        Sorting carries only (rowid, key); whole rows are read for the page alone, so wide rows
        never pass through the sorter."""
        return self.rows(self.page_ids(expr, order, limit, offset, prefiltered=prefiltered))

    def page_ids(self, expr: str, order: str, limit: int, offset: int, *, prefiltered: bool) -> list[int]:
        """``page``'s rowids."""
        clauses, params = self._filters(prefiltered)
        by_rowid = _rowids_decide(clauses)  # (or no filter): then no row need be joined to filter
        clauses = _early(clauses, "f")
        where = sql_where(["models_fts MATCH ?", *clauses])
        if order == "f.rowid DESC" and by_rowid:
            source = "models_fts f"  # the index alone answers: no row read at all
        else:
            source = (
                f"models_fts f JOIN {KEYS if order in _KEYED_ORDERS else 'models m'} ON m.rowid = f.rowid"
            )
        if order == "rank":
            source = "models_fts f" + ("" if by_rowid else f" JOIN {KEYS} ON m.rowid = f.rowid")
            order = f"{_BM25}, f.rowid"
        sql = f"SELECT f.rowid FROM {source}{where} ORDER BY {order} LIMIT ? OFFSET ?"
        return [r[0] for r in self.conn.execute(sql, (expr, *params, limit, offset))]

    def walk(self, expr: str, sort: str, limit: int, offset: int) -> list[sqlite3.Row]:
        """One page of hits of ``expr`` (holding the index-side filters) in ``sort``'s order, for many
        hits: their rowids become a set, and the sort's index is walked until the page is full. Only the
        rows the remaining SQL filters test (none, when the index decides) and the page's are read."""
        return self.rows(self.walk_ids(expr, sort, limit, offset))

    def walk_ids(
        self, expr: str, sort: str, limit: int, offset: int, *, above: int = 0, upto: int | None = None
    ) -> list[int]:
        """``walk``'s rowids, of the hits with a rowid above ``above`` and up to ``upto``."""
        clauses, params = self._filters(prefiltered=True)
        hits = "SELECT rowid FROM models_fts WHERE models_fts MATCH ? AND rowid > ?"
        values: list[object] = [expr, above]
        if upto is not None:
            hits += " AND rowid <= ?"
            values.append(upto)
        sql = (
            f"SELECT m.rowid FROM models m INDEXED BY {SORT_INDEX[sort.lstrip('-')]} WHERE "
            + " AND ".join([f"m.rowid IN ({hits})", *clauses])
            + f" ORDER BY {ORDER_BY[sort]} LIMIT ? OFFSET ?"
        )
        return [r[0] for r in self.conn.execute(sql, (*values, *params, limit, offset))]

    def sorted_ids(self, rowids: list[int], sort: str, limit: int, offset: int) -> list[int]:
        """A page of ``rowids`` in ``sort``'s order."""
        listed = f"SELECT m.rowid FROM models m WHERE m.rowid IN {_LISTED}"
        sql = f"{listed} ORDER BY {ORDER_BY[sort]} LIMIT ? OFFSET ?"
        return [r[0] for r in self.conn.execute(sql, (json.dumps(rowids), limit, offset))]

    def rows(self, rowids: list[int]) -> list[sqlite3.Row]:
        return rows_of(self.conn, rowids)


def rows_of(conn: sqlite3.Connection, rowids: list[int]) -> list[sqlite3.Row]:
    """The list columns of ``rowids``' rows, in that order."""
    if not rowids:
        return []
    marks = ",".join("?" * len(rowids))
    by_rowid = {
        r[0]: r
        for r in conn.execute(
            f"SELECT rowid AS rid, {LIST_COLUMN_NAMES} FROM models WHERE rowid IN ({marks})", rowids
        )
    }
    return [by_rowid[rowid] for rowid in rowids if rowid in by_rowid]
