"""Validating a user's metadata edit: what may change, and how text is cleaned before it is stored."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import InvalidInput
from .model_extras import clean_trigger_words
from .models import Model
from .taxonomy import BaseModelType, ModelType

MAX_NAME = 200
MAX_TAG = 64
MAX_TAGS = 100
MAX_NOTES = 20_000
MAX_STRENGTH = 100.0


def strength_change(model: Model, strength: object) -> dict[str, Any]:
    """The change of a model's default LoRA strength (a number; "" clears it)."""
    if strength == "":
        return {"default_strength": None} if model.default_strength is not None else {}
    if (
        isinstance(strength, bool)
        or not isinstance(strength, (int, float))
        or not -MAX_STRENGTH <= strength <= MAX_STRENGTH  # NaN fails both comparisons
    ):
        raise InvalidInput(f"A default strength is a number from -100 to 100, not {strength!r}.")
    return {"default_strength": float(strength)} if float(strength) != model.default_strength else {}


def clean_tag(tag: str) -> str:
    clean = " ".join(str(tag).strip().split()).lower()
    if not clean or len(clean) > MAX_TAG or any(ord(c) < 32 for c in clean):
        raise InvalidInput(f"Tag {tag!r} is not usable: give 1-{MAX_TAG} printable characters.")
    return clean


def edit_changes(
    model: Model,
    *,
    name: str | None = None,
    type: str | None = None,
    base_model: str | None = None,
    tags: Sequence[str] | None = None,
    add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (),
    notes: str | None = None,
    trigger_words: Sequence[str] | None = None,
    favorite: bool | None = None,
    default_strength: object = None,
) -> dict[str, Any]:
    """The repository updates an edit implies (empty when nothing changes), edited fields marked manual."""
    changes: dict[str, Any] = {}
    if name is not None:
        clean = name.strip()
        if not clean or len(clean) > MAX_NAME or any(ord(c) < 32 for c in clean):
            raise InvalidInput(f"Name {name!r} is not usable: give 1-{MAX_NAME} printable characters.")
        changes["name"] = clean
    if type is not None:
        if not ModelType.has(type):
            raise InvalidInput(f"Unknown type {type!r}; use one of: {', '.join(ModelType.values())}.")
        changes["type"] = ModelType.of(type)
    if base_model is not None:
        if not BaseModelType.has(base_model):
            raise InvalidInput(
                f"Unknown base model {base_model!r}; use one of: {', '.join(BaseModelType.values())}."
            )
        changes["base_model"] = BaseModelType.of(base_model)
    if tags is not None or add_tags or remove_tags:
        current = list(model.tags) if tags is None else []
        for tag in (*(tags or ()), *add_tags):
            cleaned = clean_tag(tag)
            if cleaned not in current:
                current.append(cleaned)
        removed = {clean_tag(t) for t in remove_tags}
        final = tuple(t for t in current if t not in removed)
        if len(final) > MAX_TAGS:
            raise InvalidInput(f"A model may have at most {MAX_TAGS} tags.")
        changes["tags"] = final
    if notes is not None:
        if len(notes) > MAX_NOTES:
            raise InvalidInput(f"Notes are limited to {MAX_NOTES:,} characters.")
        if "\x00" in notes:  # a shared catalog (PostgreSQL) cannot hold it, nor a rebuild bring it back
            raise InvalidInput("Notes cannot hold the NUL character (\\x00); remove it.")
        changes["notes"] = notes
    if trigger_words is not None:
        if isinstance(trigger_words, str):
            raise InvalidInput("trigger_words must be a list of words, not one string.")
        changes["trigger_words"] = clean_trigger_words(trigger_words)
    if changes:
        changes["manual_fields"] = frozenset(model.manual_fields | set(changes))
    if favorite is not None and favorite != model.favorite:
        changes["favorite"] = bool(favorite)  # the user's own state, not metadata: never "manual"
    if default_strength is not None:  # "" clears it
        changes.update(strength_change(model, default_strength))
    return changes
