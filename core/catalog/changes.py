"""``Catalog.update(**fields)`` -> the columns to write, on any backend: the checks of each field's
values and how each becomes columns of ``models`` (tags also rows of ``tags``; the issue-15 values kept
together in ``extras_json`` merged over what the row holds)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput
from ..model_extras import clean_trigger_words
from ..models import EDITABLE_FIELDS, utcnow
from .rows import check_values, dumps, extras_json, extras_of, unique


def _trigger_columns(words: Any) -> dict[str, object]:
    if isinstance(words, str) or not isinstance(words, (list, tuple)):
        raise InvalidInput("trigger_words must be a list of strings, not one string.")
    kept = clean_trigger_words(words)
    return {"trigger_words_json": dumps(list(kept)), "trigger_text": " ".join(kept)}


def _json_or_empty(column: str, to_json: str) -> Callable[[Any], dict[str, object]]:
    def columns(value: Any) -> dict[str, object]:
        return {column: dumps(getattr(value, to_json)()) if value is not None else ""}

    return columns


# The issue-15 fields kept together in ``extras_json``.
_EXTRAS_JSON = frozenset({"preview", "site_origins", "update", "default_strength"})
# The issue-15 fields ``update`` may set, each to the columns it writes.
_EXTRA_COLUMNS: dict[str, Callable[[Any], dict[str, object]]] = {
    "trigger_words": _trigger_columns,
    "about": _json_or_empty("about_json", "to_dict"),
    "favorite": lambda v: {"favorite": 1 if v else 0},
    "used_at": lambda v: {"used_at": str(v)},
}
# Columns the search words come from: a change to one rewrites the model's search entry.
SEARCHED_COLUMNS = frozenset(
    {"name", "tags_text", "type", "base_model", "repo_id", "notes", "aliases", "trigger_text"}
)


@dataclass
class ModelChanges:
    """What one ``update`` writes: ``columns`` of ``models``, the new ``tags`` (None: unchanged) and the
    ``extras`` to merge into ``extras_json`` (needs the row's current value: ``merged_extras``)."""

    columns: dict[str, object] = field(default_factory=dict)
    tags: list[str] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def merged_extras(self, current: str) -> str:
        preview, origins, update, strength = extras_of(current)
        return extras_json(
            self.extras.get("preview", preview),
            tuple(self.extras.get("site_origins", origins)),
            self.extras.get("update", update),
            self.extras.get("default_strength", strength),
        )

    @property
    def searched(self) -> bool:
        return bool(SEARCHED_COLUMNS & set(self.columns))


def changes_of(fields: dict[str, Any]) -> ModelChanges:
    """Check ``fields`` and turn them into columns; InvalidInput names the first bad one."""
    changes = ModelChanges()
    columns = changes.columns
    for key, value in fields.items():
        if key in ("name", "notes", "rel_dir"):
            columns[key] = str(value)
        elif key in ("type", "base_model", "state", "location"):
            check_values(**{key: value})
            columns[key] = value
        elif key == "tags":
            if isinstance(value, str):
                raise InvalidInput("tags must be a list of strings, not one string.")
            changes.tags = unique(str(t) for t in value)
            columns["tags_text"] = " ".join(changes.tags)
        elif key == "source":
            columns["source_json"] = dumps(value.to_dict())
            columns["repo_id"] = value.repo_id or ""
        elif key == "metadata":
            columns["metadata_json"] = dumps({str(k): str(v) for k, v in dict(value).items()})
        elif key == "manual_fields":
            unknown = set(value) - set(EDITABLE_FIELDS)
            if unknown:
                raise InvalidInput(f"manual_fields may only name {EDITABLE_FIELDS}, not {sorted(unknown)}.")
            columns["manual_fields"] = dumps(sorted(value))
        elif key == "warnings":
            columns["warnings_json"] = dumps([str(w) for w in value])
        elif key in _EXTRA_COLUMNS:
            columns.update(_EXTRA_COLUMNS[key](value))
        elif key in _EXTRAS_JSON:
            changes.extras[key] = value
        else:
            raise InvalidInput(f"The field {key!r} cannot be updated.")
    columns["updated_at"] = utcnow()
    return changes
