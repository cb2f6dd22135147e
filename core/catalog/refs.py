"""How a model reference given by a person or a workflow resolves, on any backend: an id, a unique id
prefix, a ``blake3:``/``sha256:`` hash, a unique exact name (then case-insensitively), and, only when
asked, the unique start of a name. The backend answers the lookups (``Lookups``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import InvalidInput, ModelNotFound
from ..models import Model

MIN_ID_PREFIX = 6
# Enough to say "several" and name ten of them.
CANDIDATES = 11


@dataclass(frozen=True)
class Lookups:
    find: Callable[[str], Model | None]
    by_blake3: Callable[[str], Model | None]
    by_sha256: Callable[[str], list[Model]]
    id_prefix: Callable[[str], list[Model]]  # up to CANDIDATES, ordered by id
    named: Callable[[str, bool], list[Model]]  # (name, ignoring ASCII case) -> up to CANDIDATES
    name_start: Callable[[str], list[Model]]  # names starting with the text (literally), up to CANDIDATES


def is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def like_pattern(text: str) -> str:
    """``text`` as the literal start of a LIKE pattern (ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def not_found(ref: str) -> ModelNotFound:
    return ModelNotFound(
        f"No model {ref!r} in the catalog. Use `model-library search` to find its id, "
        "or `model-library rebuild` if the catalog is out of date."
    )


def one_of(found: Sequence[Model], ref: str) -> Model:
    if not found:
        raise not_found(ref)
    if len(found) > 1:
        names = ", ".join(f"{m.id} ({m.name})" for m in found[:10])
        more = " and more" if len(found) > 10 else ""
        raise InvalidInput(f"{ref!r} matches several models: {names}{more}. Use a longer id or a hash.")
    return found[0]


def _listed(model: Model | None) -> list[Model]:
    return [model] if model is not None else []


def resolve(ref: str, lookups: Lookups, *, name_prefix: bool = False) -> Model:
    text = ref.strip()
    if not text:
        raise InvalidInput("An empty model reference; give an id, an id prefix, a hash or a name.")
    algo, _, digest = text.partition(":")
    if digest and algo.lower() in ("blake3", "sha256"):
        found = lookups.by_sha256(digest) if algo.lower() == "sha256" else _listed(lookups.by_blake3(digest))
        return one_of(found, text)
    exact = lookups.find(text.lower())
    if exact is not None:
        return exact
    if len(text) == 64 and is_hex(text):
        found = _listed(lookups.by_blake3(text)) or lookups.by_sha256(text)
        if found:
            return one_of(found, text)
    if len(text) >= MIN_ID_PREFIX and is_hex(text):
        found = lookups.id_prefix(text.lower())
        if found:
            return one_of(found, text)
    named = lookups.named(text, False) or lookups.named(text, True)
    if not named and name_prefix:  # the start of a name ("jugg" for juggernautXL_v9), if unique
        named = lookups.name_start(text)
    return one_of(named, text)
