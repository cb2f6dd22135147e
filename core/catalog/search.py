"""Catalog search: user text -> a safe FTS5 expression, filters, sort, pagination, capped counts.

User text never reaches SQLite as syntax (THREATS #11). It is split into tokens the way the ``unicode61``
tokenizer splits it (letters, digits and combining marks form tokens; everything else separates), each
token becomes a double-quoted FTS5 string, tokens are ANDed, and the last one gets a prefix ``*`` so the
list narrows as the user types. Operators (``AND``, ``NEAR(``, ``col:``, ``^``) therefore become plain
words. Values are always bound as parameters; column names come from the fixed tables of search_terms.py.

Names typed as one run of letters ("juggernautXL") are one token, so "jugger" finds them by prefix. A
word from the middle of such a name ("xl") is found by a capped substring scan of names, used only when
the index finds nothing for a single token.

Counting every hit of a broad match costs as much as ranking it, so totals stop at ``COUNT_CAP``:
``SearchResult.total_capped`` tells the caller that "10,000" means "10,000 or more".
"""

# SQL here is assembled only from fixed fragments (column names, ORDER BY clauses); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from ..errors import InvalidInput
from ..models import SORT_KEYS, ModelQuery
from .aside import Aside, Pending
from .fts_hits import KEYS, NAME_FIRST, Fts, rows_of
from .rows import LIST_COLUMNS
from .search_flags import TEXT_COLUMNS, holds_mark
from .search_terms import (
    FILTERS,
    ORDER_BY,
    SORT_INDEX,
    and_,
    index_filters,
    sql_filters,
    sql_where,
    tokenize,
)

MAX_QUERY_CHARS = 256
MAX_QUERY_TOKENS = 16
MAX_LIMIT = 500
MAX_TAG_CHARS = 128
COUNT_CAP = 10_000
# Matches with more hits than this are not ranked whole (bm25 costs about a microsecond per hit).
RANK_CAP = 2_500
# A sorted page walks a broad match's halves on two connections while the halves' pages hold at most this
# many rows (offset + limit): deeper, each half lists every hit it passes into Python and the page of both
# reads and sorts them all, dearer than one walk (100,000 models, offset 20,000: 33 -> 240 ms).
HALVES_MAX_ROWS = 1_000
# A single word this short is likely to match too many models to rank (see _likely_broad).
BROAD_WORD_CHARS = 5
# Substring fallback: only for one token at least this long.
SUBSTRING_MIN_CHARS = 2


@dataclass(frozen=True)
class SearchResult:
    """The rows of ``models`` for one page, in order, and the (possibly capped) total."""

    rows: tuple[sqlite3.Row, ...]
    total: int
    total_capped: bool
    strategy: str  # all | fts | substring


def _check_length(text: str) -> None:
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(
            f"The search text is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}. "
            "Search for a shorter part of the name."
        )


def build_match(text: str) -> str | None:
    """User text -> an FTS5 MATCH expression SQLite always accepts, or None when it holds no words.

    >>> build_match('flux lora')
    '"flux" "lora"*'
    >>> build_match('NEAR( col:* "') is None
    False
    """
    _check_length(text)
    tokens = tokenize(text)
    if not tokens:
        return None
    if len(tokens) > MAX_QUERY_TOKENS:
        raise InvalidInput(
            f"The search text has {len(tokens)} words; the limit is {MAX_QUERY_TOKENS}. Use fewer words."
        )
    quoted = ['"' + token.replace('"', '""') + '"' for token in tokens]
    quoted[-1] += "*"
    # A word holding the flags' private-use mark is kept to the text columns (search_flags.py).
    return " ".join(f"{TEXT_COLUMNS} : {q}" if holds_mark(t) else q for t, q in zip(tokens, quoted))


def validate_query(query: ModelQuery) -> None:
    """Raise InvalidInput naming the first bad value of ``query``."""
    if not isinstance(query.q, str):
        raise InvalidInput(f"The search text must be a string, not {type(query.q).__name__}.")
    _check_length(query.q)
    if query.sort not in SORT_KEYS:
        raise InvalidInput(f"Unknown sort {query.sort!r}; use one of: {', '.join(SORT_KEYS)}.")
    for attr, _column, allowed in FILTERS:
        value = getattr(query, attr)
        if value is not None and (not isinstance(value, str) or (allowed and value not in allowed)):
            raise InvalidInput(f"Unknown {attr} {value!r}; use one of: {', '.join(allowed or ())}.")
    if query.favorite is not None and not isinstance(query.favorite, bool):
        raise InvalidInput(f"favorite must be true or false, not {query.favorite!r}.")
    if query.tag is not None and (not isinstance(query.tag, str) or len(query.tag) > MAX_TAG_CHARS):
        raise InvalidInput(f"The tag filter must be a string of at most {MAX_TAG_CHARS} characters.")
    for attr, low, high in (("limit", 1, MAX_LIMIT), ("offset", 0, None)):
        value = getattr(query, attr)
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (high and value > high):
            bounds = f"{low}..{high}" if high else f">= {low}"
            raise InvalidInput(f"{attr} must be an integer {bounds}, not {value!r}.")


def run_search(conn: sqlite3.Connection, query: ModelQuery, aside: Aside | None = None) -> SearchResult:
    """Validate ``query`` and run it: one page of ``models`` rows and the total. ``aside``: where a read
    the plan may need is started while the total is counted (another connection, another CPU)."""
    validate_query(query)
    match = build_match(query.q)
    if match is None:
        return _search_all(conn, query)
    result = _search_fts(conn, query, match, aside)
    if result.total == 0:
        tokens = tokenize(query.q)
        if len(tokens) == 1 and len(tokens[0]) >= SUBSTRING_MIN_CHARS:
            return _search_substring(conn, query, tokens[0])
    return result


def _walks_sort_index(conn: sqlite3.Connection, matching: int, query: ModelQuery) -> bool:
    """Whether to walk the sort's index, testing each entry, rather than sort ``matching`` rows.

    Walking visits about (offset + limit) * rows / matching entries, cheap ones; sorting reads each
    matching row. The two cost the same near matching = sqrt((offset + limit) * rows / 16)."""
    (rows,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM models").fetchone()  # rowids: an estimate
    return matching * matching * 16 >= (query.offset + query.limit) * int(rows)


def _count_all(query: ModelQuery, clauses: list[str], params: list[object]) -> tuple[str, list[object]]:
    """The exact count of a listing: from 0009's counts per filter combination, or (a tag) an index."""
    if query.tag is not None:
        return f"SELECT count(*) FROM models m{sql_where(clauses)}", params
    # The filters are ``m.<column> = ...`` on model_counts' own columns.
    return f"SELECT coalesce(sum(n), 0) FROM model_counts m{sql_where(clauses)}", params


def _search_all(conn: sqlite3.Connection, query: ModelQuery) -> SearchResult:
    clauses, params = sql_filters(query, fts_driven=False)
    order = ORDER_BY.get(query.sort, ORDER_BY["name"])  # relevance without text: by name
    (total,) = conn.execute(*_count_all(query, clauses, params)).fetchone()
    # A filter matching many rows (type=lora) is best served by walking the sort's index; SQLite would
    # rather take the filter's index and sort every match (a tenth of a second at 100,000 models).
    source = "models m"
    if clauses and _walks_sort_index(conn, int(total), query):
        sort = "name" if query.sort == "relevance" else query.sort
        source = f"models m INDEXED BY {SORT_INDEX[sort.lstrip('-')]}"
    # The offset is walked over rowids in the sort's index (0005's composite indexes end with id); only
    # the page's rows are read whole. Reading wide rows through a deep OFFSET cost milliseconds.
    page = f"SELECT m.rowid FROM {source}{sql_where(clauses)} ORDER BY {order} LIMIT ? OFFSET ?"
    rows = conn.execute(
        f"SELECT {LIST_COLUMNS} FROM models m WHERE m.rowid IN ({page}) ORDER BY {order}",
        (*params, query.limit, query.offset),
    ).fetchall()
    return SearchResult(tuple(rows), int(total), False, "all")


def _search_fts(
    conn: sqlite3.Connection, query: ModelQuery, match: str, aside: Aside | None = None
) -> SearchResult:
    clauses, params = sql_filters(query, fts_driven=True)
    prefilter, exact = index_filters(query)
    fts = Fts(conn, clauses, params, exact)
    named: Pending[tuple[list[int], int, int]] | None = None
    if aside is not None and query.sort == "relevance" and (prefilter or _likely_broad(match)):
        # A broad match (the likelier the shorter the text) pages its name hits holding the filters
        # (_broad_page) aside while the total is counted: with a filter both intersect its hits, as dear
        # as each other. Without one only for one short word: a pass wasted on a narrow match (two
        # words, a long one) slowed type-ahead's median by a sixth.
        named = aside.start(lambda other: _named_page(fts.on(other), query, match, prefilter))
    if not clauses:
        hits, hits_capped = fts.count(match, COUNT_CAP, filtered=False)
        total, capped = hits, hits_capped
    else:
        # Filters the index holds narrow the count without touching rows; the rest need the join.
        total, capped = fts.count(and_(match, *prefilter), COUNT_CAP, filtered=not exact)
        if total and not capped and total <= RANK_CAP:
            # Ranking cost follows the unfiltered hits: count them, but only as far as the cap.
            hits, hits_capped = fts.count(match, RANK_CAP, filtered=False)
        else:
            hits, hits_capped = total, True  # too broad to rank whole either way
    if total == 0:
        rows: list[sqlite3.Row] = []
    elif query.sort != "relevance":
        # The index-side filters narrow the hits read (no bm25 here to pay a rarity scan for them).
        narrowed = and_(match, *prefilter)
        if capped:
            rows = _walk_halves(fts, narrowed, query, aside)
        elif _walks_sort_index(conn, total, query):
            rows = fts.walk(narrowed, query.sort, query.limit, query.offset)
        else:
            rows = fts.page(narrowed, ORDER_BY[query.sort], query.limit, query.offset, prefiltered=True)
    elif not hits_capped and hits <= RANK_CAP and _phrases_narrow(fts, match):
        rows = fts.page(match, "rank", query.limit, query.offset, prefiltered=False)
    else:
        rows = _broad_page(fts, query, match, prefilter, exact, named)
    if named is not None:
        named.drop()  # taken, or not needed
    return SearchResult(tuple(rows), total, capped, "fts")


def _walk_halves(fts: Fts, expr: str, query: ModelQuery, aside: Aside | None) -> list[sqlite3.Row]:
    """``Fts.walk`` for a match of more than ``COUNT_CAP`` hits, the older and the newer half of the
    rowids each on its own connection (the other aside): each half's page, then the page of both (a
    page deeper than ``HALVES_MAX_ROWS`` walks once).

    Walking costs about a tenth of a microsecond per hit, each put in a set (a two-letter prefix at a
    million models: three hundred thousand hits, 70 ms); two CPUs halve it."""
    if aside is None or query.offset + query.limit > HALVES_MAX_ROWS:
        return fts.walk(expr, query.sort, query.limit, query.offset)
    (last,) = fts.conn.execute("SELECT coalesce(max(rowid), 0) FROM models").fetchone()
    need, middle = query.offset + query.limit, int(last) // 2

    def older(conn: sqlite3.Connection) -> list[int]:
        return fts.on(conn).walk_ids(expr, query.sort, need, 0, upto=middle)

    pending = aside.start(older)
    newer = fts.walk_ids(expr, query.sort, need, 0, above=middle)
    firsts = pending.take()
    if firsts is None:  # not started aside: walked here
        firsts = older(fts.conn)
    return fts.rows(fts.sorted_ids(firsts + newer, query.sort, query.limit, query.offset))


def _likely_broad(match: str) -> bool:
    """One short word (a prefix being typed): the matches most likely too broad to rank."""
    return " " not in match and len(match) <= BROAD_WORD_CHARS + 3  # the quotes and the star


def _named_page(fts: Fts, query: ModelQuery, match: str, prefilter: list[str]) -> tuple[list[int], int, int]:
    """The name hits of ``match`` holding the filters: a page of them shortest name first (none past
    ``RANK_CAP``), how many there are (up to ``RANK_CAP + 1``) and how many pass the SQL filters.

    With an index-side filter each pass over the index is dear (it intersects the filter's hits): one
    pass keeps the hits in a table, then counts and sorts them there. Without one, counting them and
    then sorting them from the index again costs a third less."""
    in_name = and_(f"name : ({match})", *prefilter)
    if prefilter:
        return fts.page_named(in_name, RANK_CAP, query.limit, query.offset)
    named, capped = fts.count(in_name, RANK_CAP, filtered=not fts.exact)
    if capped or query.offset >= named:
        return [], RANK_CAP + 1 if capped else named, named
    return fts.page_ids(in_name, NAME_FIRST, query.limit, query.offset, prefiltered=True), named, named


# One word of a match: a quoted token (quotes doubled inside), its prefix star, and the text columns it
# is kept to when it holds the flags' mark (``{name tags_text ...} : "..."``, spaces inside).
_PHRASE = re.compile(r'(?:\{[^}]*\} : )?"(?:[^"]|"")*"\*?')


def _phrases_narrow(fts: Fts, match: str) -> bool:
    """bm25 first scans every hit of each word alone (for its rarity), so rank only when each is rare."""
    phrases = _PHRASE.findall(match)
    if len(phrases) == 1:
        return True
    if len(phrases) > 4:
        return False  # checking each would cost more than the ranking saves
    return all(not fts.count(phrase, RANK_CAP, filtered=False)[1] for phrase in phrases)


def _broad_page(
    fts: Fts,
    query: ModelQuery,
    match: str,
    prefilter: list[str],
    exact: bool,
    named_aside: Pending[tuple[list[int], int, int]] | None = None,
) -> list[sqlite3.Row]:
    """A page of a match too broad to rank by bm25: hits in the name first, shortest name first (the
    closest to what was typed) while they are few enough, then the other hits newest first.
    Past ``COUNT_CAP`` name hits, pages of the other hits may start a little off.

    No bm25 here, so the index-side filters can narrow every step without costing a rarity scan."""
    in_name = and_(f"name : ({match})", *prefilter)
    paged = named_aside.take() if named_aside is not None else None
    listed, hits, named = paged if paged is not None else _named_page(fts, query, match, prefilter)
    named_capped = hits > RANK_CAP
    if named_capped:  # too many to sort: the newest first
        named = RANK_CAP
        rows = fts.page(in_name, "f.rowid DESC", query.limit, query.offset, prefiltered=True)
    else:
        rows = fts.rows(listed)
    if len(rows) < query.limit:
        if named_capped:  # past the end of the name hits (a deep page): where do the others start?
            named, _ = fts.count(in_name, COUNT_CAP, filtered=not exact)
        rest = and_(f"({match}) NOT (name : ({match}))", *prefilter)
        rest_offset = max(0, query.offset - named)
        others = fts.page(rest, "f.rowid DESC", query.limit - len(rows), rest_offset, prefiltered=True)
        # The name hits may come from another connection's read: a model renamed in between is both.
        shown = {row["rowid"] for row in rows}
        rows += [row for row in others if row["rowid"] not in shown]
    return rows


# The trigram index folds case beyond ASCII, and two letters that are not ASCII fold to ASCII ones: the
# long s (U+017F) to "s", the Kelvin sign (U+212A) to "k" (no other, as of SQLite 3.40). LIKE folds
# ASCII only, so an ASCII token's phrase finds "Dream\u017fhaper" for "shaper" and LIKE does not: a
# name tested by LIKE is first folded so, and every plan lists the names the phrase counts.
_INDEX_FOLDED = "replace(replace(m.name, char(383), 's'), char(8490), 'k')"
# Letters of a token its trigram phrase holds (10 trigrams). Each term of a phrase walks its trigram's
# hits again: a 256-letter token of common trigrams ("000...0" beside names holding "000") was 254 walks
# of each. Longer tokens are told apart by LIKE among the phrase's few hits.
PHRASE_MAX_CHARS = 12


def _trigram_phrase(token: str) -> str | None:
    """An expression for the trigram index (0011: with positions) matching the names that hold ``token``
    with case folded: its trigrams as one phrase, quoted (a string, never syntax). None when the token is
    shorter than three letters."""
    return '"' + token.replace('"', '""') + '"' if len(token) >= 3 else None


def _search_substring(conn: sqlite3.Connection, query: ModelQuery, token: str) -> SearchResult:
    """The names holding ``token`` as LIKE finds them (the case of ASCII letters folded, no other; for
    an ASCII token, also the two letters the index folds to ASCII: ``_INDEX_FOLDED``)."""
    clauses, params = sql_filters(query, fts_driven=False)
    pattern = "%" + token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    like, order = "m.name LIKE ? ESCAPE '\\'", ORDER_BY.get(query.sort, ORDER_BY["name"])
    sort = "name" if query.sort == "relevance" else query.sort
    phrase = _trigram_phrase(token[:PHRASE_MAX_CHARS])
    # LIKE on the name folded as the index folds it, for an ASCII token: what its phrase finds. Folded
    # only when it holds one of the two letters: LIKE alone walks a name three times faster.
    folded_like, folded_values = (like, [pattern])
    if token.isascii():
        folded_like = (
            f"({like} OR (instr(m.name, char(383)) + instr(m.name, char(8490)) > 0 "
            f"AND {_INDEX_FOLDED} LIKE ? ESCAPE '\\'))"
        )
        folded_values = [pattern, pattern]
    if phrase is None:  # too short for the trigram index: every name is read
        where = sql_where([like, *clauses])
        count_sql, page_sql = f"SELECT 1 FROM models m{where}", f"SELECT m.rowid FROM models m{where}"
        count_values = page_values = [pattern, *params]
    else:
        # The index folds case beyond ASCII: for an ASCII token (almost every one) its hits are LIKE's
        # and no name is read; other hits (and a long token's) are tested by LIKE. Filters are tested
        # on 0008's narrow index.
        exact = token.isascii() and len(token) <= PHRASE_MAX_CHARS
        tests, values = (clauses, params) if exact else ([folded_like, *clauses], [*folded_values, *params])
        hits = "SELECT rowid FROM models_trigrams WHERE models_trigrams MATCH ?"
        count_sql = (
            f"SELECT 1 FROM models_trigrams t JOIN {KEYS} ON m.rowid = t.rowid"
            + sql_where(["models_trigrams MATCH ?", *tests])
            if tests
            else hits
        )
        count_values = [phrase, *values]
    (total,) = conn.execute(
        f"SELECT count(*) FROM ({count_sql} LIMIT {COUNT_CAP + 1})", count_values
    ).fetchone()
    if phrase is not None:
        in_phrase = f"m.rowid IN ({hits})"
        if not (total > COUNT_CAP or _walks_sort_index(conn, int(total), query)):
            page_sql = f"SELECT m.rowid FROM {KEYS}" + sql_where([in_phrase, *tests])
            page_values = count_values
        elif sort.lstrip("-") == "name":  # many: the name index is walked, each name tested by LIKE
            page_sql = "SELECT m.rowid FROM models m INDEXED BY models_name_id" + sql_where(
                [folded_like, *clauses]
            )
            page_values = [*folded_values, *params]
        else:  # many, in another order: that index is walked through the hits
            index = SORT_INDEX[sort.lstrip("-")]
            page_sql = f"SELECT m.rowid FROM models m INDEXED BY {index}" + sql_where([in_phrase, *tests])
            page_values = count_values
    rowids = conn.execute(
        f"{page_sql} ORDER BY {order} LIMIT ? OFFSET ?", (*page_values, query.limit, query.offset)
    ).fetchall()
    rows = rows_of(conn, [r[0] for r in rowids])
    return SearchResult(tuple(rows), min(int(total), COUNT_CAP), total > COUNT_CAP, "substring")
