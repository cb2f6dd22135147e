"""Search's SQL and FTS fragments: sort orders and the indexes serving them, filters as SQL clauses and
as FTS clauses, and the tokenizer the FTS clauses share with the user's text (see search.py).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence

from ..models import ModelQuery
from ..taxonomy import BaseModelType, FileFormat, Location, ModelType, SecurityLevel
from .search_flags import favourite_clause

ORDER_BY = {
    "name": "m.name COLLATE NOCASE, m.id",
    "-name": "m.name COLLATE NOCASE DESC, m.id DESC",
    "added": "m.added_at, m.id",
    "-added": "m.added_at DESC, m.id DESC",
    "size": "m.size, m.id",
    "-size": "m.size DESC, m.id DESC",
    "type": "m.type, m.name COLLATE NOCASE, m.id",
    "-type": "m.type DESC, m.name COLLATE NOCASE DESC, m.id DESC",
    # Recently used first; never-used models ('') last.
    "-used": "m.used_at DESC, m.id DESC",
    "used": "m.used_at, m.id",
}

# The index serving each sort (0005, 0007): its entries end with the rowid, so walking one and testing
# rowids against a set never reads a row.
SORT_INDEX = {
    "name": "models_name_id",
    "added": "models_added_id",
    "size": "models_size_id",
    "type": "models_type_name_id",
    "used": "models_used_id",
}

# (ModelQuery attribute, column, allowed values or None for free text)
FILTERS: tuple[tuple[str, str, Sequence[str] | None], ...] = (
    ("type", "m.type", ModelType.values()),
    ("base_model", "m.base_model", BaseModelType.values()),
    ("location", "m.location", Location.values()),
    ("security", "m.security", SecurityLevel.values()),
    ("file_format", "m.file_format", FileFormat.values()),
)


def _is_token_char(ch: str) -> bool:
    # unicode61's default token classes are L* N* Co; combining marks stay inside the token (they are
    # folded away by remove_diacritics), so "a" + U+0301 + "b" stays one word as it is in the index.
    category = unicodedata.category(ch)
    return category[0] in "LNM" or category == "Co"


def tokenize(text: str) -> list[str]:
    """Split ``text`` into words the way the index's tokenizer does (case is left to SQLite)."""
    tokens: list[str] = []
    current: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if _is_token_char(ch):
            current.append(ch)
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


def sql_filters(query: ModelQuery, *, fts_driven: bool) -> tuple[list[str], list[object]]:
    """The query's filters as SQL over ``models m`` and their parameters (``fts_driven``: FTS hits are
    joined to ``m``, so no models index may lead)."""
    # A unary ``+`` keeps SQLite from driving the query off a models index when the FTS index should.
    plus = "+" if fts_driven else ""
    clauses: list[str] = []
    params: list[object] = []
    for attr, column, _allowed in FILTERS:
        value = getattr(query, attr)
        if value is not None:
            clauses.append(f"{plus}{column} = ?")
            params.append(value)
    if query.tag is not None:
        clauses.append("EXISTS (SELECT 1 FROM tags t WHERE t.model_id = m.id AND t.tag = ?)")
        params.append(query.tag)
    if query.favorite is not None and fts_driven:
        # Favourites are few and have their own index (0007): a set of rowids tests a hit without
        # reading its row.
        clauses.append(f"m.rowid {'' if query.favorite else 'NOT '}IN {FAVOURITES}")
    elif query.favorite is not None:
        # A literal, not a parameter: only then may SQLite use the partial index of favourites.
        clauses.append(f"m.favorite = {1 if query.favorite else 0}")
    return clauses, params


FAVOURITES = "(SELECT rowid FROM models WHERE favorite = 1)"


def sql_where(clauses: Sequence[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _phrase(value: str) -> str:
    return '"' + " ".join(tokenize(value)) + '"'


@functools.lru_cache(maxsize=256)
def _words(value: str) -> tuple[str, ...]:
    # Vocabulary values only (type, base model): every filtered search compares one with all the others.
    return tuple(tokenize(value.lower()))


def _column_phrase(attr: str, value: str, allowed: Sequence[str]) -> str:
    """An FTS clause matching the rows holding exactly ``value`` in a column of ``allowed`` values.

    ``attr : "sdxl"`` alone would also match "sdxl_refiner" (it holds the same words): such values
    are excluded by a word of theirs that ``value`` lacks (``NOT attr : "refiner"``), so the index alone
    can count the filter. Without ``^`` (a first-token test reads every position) it costs a fifth less."""
    words = _words(value)
    runs = [o for o in allowed if o != value and _holds_run(_words(o), words)]
    extra = [next((w for w in _words(o) if w not in words), None) for o in runs]
    if None in extra:  # a value made of the same words (never in the vocabularies): the first-token form
        longer = [o for o in allowed if o != value and _words(o)[: len(words)] == words]
        return " NOT ".join([f"{attr} : ^{_phrase(value)}", *(f"{attr} : ^{_phrase(o)}" for o in longer)])
    exclusions = [f'{attr} : "{w}"' for w in dict.fromkeys(w for w in extra if w is not None)]
    return " NOT ".join([f"{attr} : {_phrase(value)}", *exclusions])


def _holds_run(words: tuple[str, ...], run: tuple[str, ...]) -> bool:
    return any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1))


def _is_exact(value: str, allowed: Sequence[str]) -> bool:
    """True when ``_column_phrase`` matches that value only (no other value has the same words)."""
    return not any(other != value and _words(other) == _words(value) for other in allowed)


def index_filters(query: ModelQuery) -> tuple[list[str], bool]:
    """FTS clauses narrowing hits by the filters the index also holds, and whether they are exact.

    Inexact ones (a tag) still narrow the scan; the SQL filters on ``models`` decide. Exact ones let
    the total come from the index alone.
    """
    parts: list[str] = []
    exact = all(getattr(query, a) is None for a in ("location", "security", "file_format"))
    for attr, allowed in (("type", ModelType.values()), ("base_model", BaseModelType.values())):
        value = getattr(query, attr)
        if value is not None:
            parts.append(_column_phrase(attr, value, allowed))
            exact = exact and _is_exact(value, allowed)
    if query.favorite is not None:
        parts.append(favourite_clause(query.favorite))
    if query.tag is not None:
        exact = False
        if tokenize(query.tag):
            parts.append(f"tags_text : {_phrase(query.tag)}")
    return parts, exact


def and_(*parts: str) -> str:
    return " AND ".join(f"({p})" for p in parts)
