"""Favourites in the words' index (migration 0012): a filter FTS5 intersects instead of a set of rowids
tested hit by hit.

A favourites search used to walk every hit of its text and test each rowid against the favourites (a
two-letter prefix at 100,000 models: 5 ms to count). Each model's index entry now also holds a word
saying whether it is a favourite, so ``"re"* AND <favourite>`` is one intersection of two lists (0.5 ms),
exact like the type and base model filters.

The words start with U+E000, a private-use letter: the tokenizer keeps it inside a word (category Co),
and nobody types it. Should somebody, ``build_match`` keeps their word out of the flags column, so
typed text never finds a model for being a favourite.
"""

# The SQL here is built from the fixed column list above it; nothing comes from a caller.
# ruff: noqa: S608

from __future__ import annotations

# The flag words, as SQL builds them (``char(57344)`` is U+E000) and as a query names them.
_MARK = "\ue000"
FAVOURITE = _MARK + "favourite"
NOT_FAVOURITE = _MARK + "other"
FLAGS_COLUMN = "search_flags"
# Every column user text may match: all but the flags.
TEXT_COLUMNS = "{name tags_text type base_model repo_id notes aliases trigger_text}"


def favourite_clause(favourite: bool) -> str:
    """The FTS clause keeping the favourites (or the others)."""
    return f'{FLAGS_COLUMN} : "{FAVOURITE if favourite else NOT_FAVOURITE}"'


def holds_mark(token: str) -> bool:
    """Whether a typed word could match a flag word (and must be kept to the text columns)."""
    return _MARK in token


_COLUMNS = "name, tags_text, type, base_model, repo_id, notes, aliases, trigger_text, search_flags"


def _values(row: str) -> str:
    return ", ".join(f"{row}.{c}" for c in _COLUMNS.split(", "))


FAVOURITES_INDEXED = f"""
ALTER TABLE models ADD COLUMN search_flags TEXT GENERATED ALWAYS AS (
    char(57344) || CASE WHEN favorite THEN 'favourite' ELSE 'other' END
) VIRTUAL;
DROP TRIGGER models_ai;
DROP TRIGGER models_ad;
DROP TRIGGER models_au;
DROP TABLE models_fts;
CREATE VIRTUAL TABLE models_fts USING fts5(
    {_COLUMNS},
    content='models', content_rowid='rowid',
    tokenize="unicode61 remove_diacritics 2",
    prefix='1 2 3 4'
);
CREATE TRIGGER models_ai AFTER INSERT ON models
WHEN NOT EXISTS (SELECT 1 FROM kv WHERE key = 'fts_deferred') BEGIN
    INSERT INTO models_fts(rowid, {_COLUMNS}) VALUES (new.rowid, {_values("new")});
END;
CREATE TRIGGER models_ad AFTER DELETE ON models BEGIN
    INSERT INTO models_fts(models_fts, rowid, {_COLUMNS}) VALUES ('delete', old.rowid, {_values("old")});
END;
CREATE TRIGGER models_au AFTER UPDATE OF name, tags_text, type, base_model, repo_id, notes, aliases,
    trigger_text, favorite ON models BEGIN
    INSERT INTO models_fts(models_fts, rowid, {_COLUMNS}) VALUES ('delete', old.rowid, {_values("old")});
    INSERT INTO models_fts(rowid, {_COLUMNS}) VALUES (new.rowid, {_values("new")});
END;
INSERT INTO models_fts(models_fts) VALUES ('rebuild');
"""

# in_place.py indexes the rows it inserted at once, with the triggers suspended.
INDEX_ROWS_AFTER = (
    f"INSERT INTO models_fts (rowid, {_COLUMNS}) SELECT rowid, {_COLUMNS} FROM models WHERE rowid > ?"
)
