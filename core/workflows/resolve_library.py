"""Finding a workflow reference in the library (or a source), and the candidates when it is not there.

In this order, and only through the ``Catalog`` Protocol (indexed look-ups, one search per reference):

1. by content hash, when the workflow gives one (``sha256`` of a models entry, ``blake3`` of our nodes'
   ``model_ref``), or by the model id our nodes name (``match: "hash"`` / ``"id"``);
2. by exact file name: a model one of whose files (or the file it came from on the Hub) has the name the
   workflow asks, compared by base name (``match: "file_name"``); exact case first, then any case;
3. by a name match the type and base model confirm (``match: "name"``): the same name once precision and
   variant markers are set aside (``flux1-dev-fp8`` ~ ``flux1-dev``), of a type the category loads, and of
   the workflow's base model when the workflow's other models tell it, else the only such model.

A model whose files are gone (``state: missing``) or not hashed yet is never a match. The search's other
hits of a fitting type are the candidates (``score`` 0..1, best first).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Protocol

from ..errors import ModelLibraryError
from ..models import Model, ModelQuery, Page
from ..taxonomy import ModelState, ModelType
from .references import WorkflowReference, base_name

MAX_CANDIDATES = 5
CANDIDATE_MIN_SCORE = 0.5
SEARCH_LIMIT = 8  # hits read per search: the best-ranked by name; each costs a hydrated row
MAX_QUERY_WORDS = 8

# ComfyUI category -> the model types its loaders load (UNKNOWN: a model we could not classify fits any).
CATEGORY_TYPES: dict[str, frozenset[str]] = {
    "checkpoints": frozenset({ModelType.CHECKPOINT}),
    "loras": frozenset({ModelType.LORA}),
    "vae": frozenset({ModelType.VAE}),
    "text_encoders": frozenset({ModelType.TEXT_ENCODER}),
    "diffusion_models": frozenset({ModelType.DIFFUSION_MODEL}),
    "controlnet": frozenset({ModelType.CONTROLNET}),
    "t2i_adapter": frozenset({ModelType.CONTROLNET}),
    "clip_vision": frozenset({ModelType.CLIP_VISION}),
    "upscale_models": frozenset({ModelType.UPSCALER}),
    "embeddings": frozenset({ModelType.EMBEDDING}),
    "style_models": frozenset({ModelType.STYLE_MODEL}),
    "hypernetworks": frozenset({ModelType.HYPERNETWORK}),
    "photomaker": frozenset({ModelType.PHOTOMAKER}),
    "gligen": frozenset({ModelType.GLIGEN}),
    "ipadapter": frozenset({ModelType.IPADAPTER}),
}


@functools.lru_cache(maxsize=65_536)
def bare(name: str) -> str:
    """A file name without extension, case, separators, precision and variant markers
    (``Flux1-Dev_fp8.safetensors`` -> ``flux1dev``). core/hf/naming.py, imported on use: the ``hf``
    package brings the network client, which a check never needs."""
    from ..hf.naming import parse_name

    return re.sub(r"[-_.\s]+", "", parse_name(name).base.lower())


def similarity(a: str, b: str) -> float:
    """0..1: 1 for the same bare name, else how alike the bare names are (as core/hf/naming.py)."""
    na, nb = bare(a), bare(b)
    if not na or not nb:
        return 0.0
    return 1.0 if na == nb else SequenceMatcher(None, na, nb).ratio()


class ModelLookup(Protocol):
    """The part of the catalog (core/catalog/store.py ``Catalog``) resolution reads."""

    def find(self, model_id: str) -> Model | None: ...
    def by_blake3(self, blake3_hex: str) -> Model | None: ...
    def by_sha256(self, sha256_hex: str) -> list[Model]: ...
    def by_file_hash(self, blake3_hex: str) -> list[Model]: ...
    def resolve(self, ref: str) -> Model: ...
    def list(self, query: ModelQuery) -> Page: ...


@dataclass(frozen=True)
class Candidate:
    model: Model
    score: float


@dataclass(frozen=True)
class LibraryMatch:
    """The model found (or None), how (``hash|id|file_name|name``), and the other candidates."""

    model: Model | None
    match: str | None
    candidates: tuple[Candidate, ...] = ()


def usable(model: Model | None) -> bool:
    return model is not None and model.state == ModelState.READY and model.hashed


def fits(model: Model, category: str) -> bool:
    """A model of a type the category's loaders load (any type for a category we do not know)."""
    types = CATEGORY_TYPES.get(category)
    return types is None or model.type in types or model.type == ModelType.UNKNOWN


def file_names(model: Model) -> set[str]:
    names = {base_name(f.path) for f in model.files}
    if model.source.filename:
        names.add(base_name(model.source.filename))
    return names


def by_hash(catalog: ModelLookup, ref: WorkflowReference) -> LibraryMatch | None:
    digest = ref.hash
    if digest is not None:
        if digest.algorithm == "sha256":
            found = [m for m in catalog.by_sha256(digest.hex) if usable(m)]
        else:
            one = catalog.by_blake3(digest.hex)
            found = [one] if one is not None and usable(one) else []
            found = found or [m for m in catalog.by_file_hash(digest.hex) if usable(m)]
        if found:
            return LibraryMatch(_prefer_library(found), "hash")
    if ref.library_id:
        model = catalog.find(ref.library_id)
        if model is None and len(ref.library_id) < 64:
            try:
                model = catalog.resolve(ref.library_id)
            except ModelLibraryError:
                model = None
        if usable(model):
            return LibraryMatch(model, "id")
    return None


def _prefer_library(models: Sequence[Model]) -> Model:
    """The library's own copy before one catalogued in place."""
    return sorted(models, key=lambda m: (m.location != "library", m.id))[0]


@functools.lru_cache(maxsize=4096)
def _queries(name: str, *, broad: bool) -> tuple[str, ...]:
    """The file's stem as words, then its bare name (no precision/variant); ``broad``: its first half,
    then its first word."""
    from ..hf.naming import parse_name

    parts = parse_name(base_name(name))
    words = [w for w in re.split(r"[\s_.\-]+", parts.base) if w][:MAX_QUERY_WORDS]
    if broad:  # its first half, then its first word (``flux1-krea-dev`` finds ``flux1-dev-fp8``)
        texts = [" ".join(words[: (len(words) + 1) // 2]), words[0]] if len(words) > 1 else []
    else:
        texts = [parts.stem.replace("_", " ").replace("-", " ").replace(".", " "), " ".join(words)]
    return tuple(q for q in dict.fromkeys(" ".join(t.split())[:200] for t in texts) if q)


def search(catalog: ModelLookup, ref: WorkflowReference, *, broad: bool = False) -> list[Model]:
    """Models whose name, aliases or repo look like the reference's file name: full-text searches for
    its stem, then its bare name, until one finds something. ``broad`` (candidates for a missing model,
    when those found nothing): for the first half of its name."""
    seen: dict[str, Model] = {}
    for query in _queries(ref.name, broad=broad):
        try:
            page = catalog.list(ModelQuery(q=query, limit=SEARCH_LIMIT))
        except ModelLibraryError:
            continue
        for model in page.items:
            seen.setdefault(model.id, model)
        if seen:
            break
    return list(seen.values())


def by_name(
    catalog: ModelLookup, ref: WorkflowReference, workflow_bases: frozenset[str], found: Iterable[Model]
) -> LibraryMatch:
    wanted = base_name(ref.name)
    hits = [m for m in found if usable(m) and fits(m, ref.category)]
    exact = [m for m in hits if wanted in file_names(m)]
    if not exact:
        lowered = wanted.lower()
        exact = [m for m in hits if lowered in {n.lower() for n in file_names(m)}]
    if exact:
        model = _prefer_library(exact)
        return LibraryMatch(model, "file_name", _candidates(ref, exact, model))
    same = [m for m in hits if any(bare(n) == bare(wanted) for n in file_names(m))]
    confirmed = _confirmed(same, workflow_bases)
    if confirmed is not None:
        return LibraryMatch(confirmed, "name", _candidates(ref, same, confirmed))
    return LibraryMatch(None, None, _candidates(ref, hits, None))


def _confirmed(same: list[Model], workflow_bases: frozenset[str]) -> Model | None:
    known = [m for m in same if m.base_model != "unknown"]
    if workflow_bases:
        fitting = [m for m in known if m.base_model in workflow_bases]
        return _prefer_library(fitting) if fitting else None
    return known[0] if len(known) == 1 else None


def _candidates(ref: WorkflowReference, hits: Sequence[Model], chosen: Model | None) -> tuple[Candidate, ...]:
    wanted = base_name(ref.name)
    scored = []
    for model in hits:
        if chosen is not None and model.id == chosen.id:
            continue
        score = max((similarity(wanted, n) for n in file_names(model) | {model.name}), default=0.0)
        if score >= CANDIDATE_MIN_SCORE:
            scored.append(Candidate(model, round(score, 3)))
    scored.sort(key=lambda c: (-c.score, c.model.name, c.model.id))
    return tuple(scored[:MAX_CANDIDATES])


def same_base_candidates(
    catalog: ModelLookup, ref: WorkflowReference, workflow_bases: frozenset[str], have: Sequence[Candidate]
) -> tuple[Candidate, ...]:
    """When name-alike candidates are few: models of the category's type and the workflow's base model."""
    types = sorted(CATEGORY_TYPES.get(ref.category, ()))
    if len(have) >= MAX_CANDIDATES or len(types) != 1 or len(workflow_bases) != 1:
        return tuple(have)
    try:
        base = next(iter(workflow_bases))
        page = catalog.list(ModelQuery(type=types[0], base_model=base, sort="name", limit=MAX_CANDIDATES))
    except ModelLibraryError:
        return tuple(have)
    out = list(have)
    known = {c.model.id for c in have}
    wanted = base_name(ref.name)
    for model in page.items:
        if len(out) >= MAX_CANDIDATES:
            break
        if model.id not in known and usable(model):
            score = max((similarity(wanted, n) for n in file_names(model)), default=0.0)
            out.append(Candidate(model, round(min(score, CANDIDATE_MIN_SCORE - 0.01), 3)))
    return tuple(out)
