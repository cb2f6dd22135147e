"""What the PostgreSQL catalog searches: a model's words as a weighted ``tsvector``, and user text as a
``tsquery``, both built here in Python.

PostgreSQL's own parser splits words by the database's locale (a C-locale database sees no letters beyond
ASCII) and its dictionaries stem; the SQLite catalog's unicode61 tokenizer does neither. So both backends
split text with the same function (``search.tokenize``), fold case and diacritics the same way, and hand
PostgreSQL finished lexemes: a model named "Café_XL-v2" is found by "cafe", "xl" and "v2" on either.

Weights rank where a word was found: A the name, B tags, other names and trigger words, C type, base model
and repository, D notes. A query restricted to names (``in_name``) asks for weight A only.

User text never reaches PostgreSQL as syntax: every lexeme is quoted (``'...'`` with quotes and
backslashes escaped) and the expression is bound as a parameter and cast to ``tsquery``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

from ..search_terms import tokenize

# tsvector positions stop at 16,383; a model's words never come near (names, tags, notes are capped).
MAX_POSITION = 16_383
# PostgreSQL refuses a lexeme longer than 2,046 bytes and a tsvector over 1 MiB, where SQLite indexes any
# word: a long word (a pasted hash in the notes) keeps its first 2,046 bytes (a search, at most 256
# characters, still finds it by prefix) and words past ``MAX_DOC_BYTES`` (notes from a metadata.json no
# edit capped) are not searchable here, so that no text a model may hold fails its add or its edit.
MAX_LEXEME_BYTES = 2046
MAX_DOC_BYTES = 512 * 1024
# Fields of ``models`` by weight, in the order positions are given.
WEIGHTED_FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "A"),
    ("tags_text", "B"),
    ("aliases", "B"),
    ("trigger_text", "B"),
    ("type", "C"),
    ("base_model", "C"),
    ("repo_id", "C"),
    ("notes", "D"),
)
DOC_FIELDS = tuple(field for field, _weight in WEIGHTED_FIELDS)


def fold(word: str) -> str:
    """Lower case without diacritics, as unicode61's ``remove_diacritics 2`` folds words."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def words(text: str) -> list[str]:
    return [_fit(w) for w in (fold(token) for token in tokenize(text)) if w]


def _fit(word: str) -> str:
    """``word`` cut to ``MAX_LEXEME_BYTES`` of UTF-8, on a character's boundary."""
    encoded = word.encode()
    return word if len(encoded) <= MAX_LEXEME_BYTES else encoded[:MAX_LEXEME_BYTES].decode(errors="ignore")


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def document(row: Mapping[str, object]) -> str:
    """The ``doc`` column (tsvector input syntax) of a model row holding ``DOC_FIELDS``."""
    position = size = 0
    lexemes: list[str] = []
    for field, weight in WEIGHTED_FIELDS:
        for word in words(str(row.get(field) or "")):
            size += len(word.encode()) + 8  # the lexeme, its entry and a position: more than it takes
            if size > MAX_DOC_BYTES:
                return " ".join(lexemes)
            position = min(position + 1, MAX_POSITION)
            lexemes.append(f"{_quote(word)}:{position}{weight}")
    return " ".join(lexemes)


def query(text: str, *, weights: str = "") -> str | None:
    """User text -> a tsquery (every word, the last one as a prefix), or None when it holds no words.
    ``weights`` ("A": names only) restricts where each word may be found."""
    found = words(text)
    if not found:
        return None
    parts = [f"{_quote(w)}:{weights}" if weights else _quote(w) for w in found[:-1]]
    parts.append(f"{_quote(found[-1])}:*{weights}")
    return " & ".join(parts)


def documents(rows: Iterable[Mapping[str, object]]) -> list[tuple[str, str]]:
    """(doc, id) pairs for an UPDATE of many rows."""
    return [(document(row), str(row["id"])) for row in rows]
