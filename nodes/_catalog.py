"""What the nodes need from the library: choice labels, resolution of a stored choice, file paths.

A node stores two things in the workflow: the picked label (``"name [1a2b3c4d]"``, the bracket holding the
start of the model id, itself the start of the content BLAKE3) and, in ``model_ref``, the full
``blake3:<hex>`` (or an id). Another machine resolves the same bytes through either, whatever the model is
called there. The library comes from a provider the composition root binds (``bind_library``), so this
module never builds one itself.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.errors import ModelLibraryError, ModelNotFound

if TYPE_CHECKING:
    from ..core.library import Library
    from ..core.models import Model

log = logging.getLogger("comfyui_model_library")

log = logging.getLogger("comfyui_model_library")

LIST_PAGE = 500
LABEL_ID_CHARS = 8
_LABEL_ID = re.compile(r"\[([0-9a-fA-F]{6,64})\]\s*$")
_REF = re.compile(r"^(?:(?:blake3|sha256):[0-9a-fA-F]{8,64}|[0-9a-fA-F]{6,64})$")

LibraryProvider = Callable[[], "Library"]
_provider: LibraryProvider | None = None


def bind_library(provider: LibraryProvider) -> None:
    """Called once by the composition root: how the nodes reach the library."""
    global _provider
    _provider = provider


def library() -> Library:
    if _provider is None:
        from .._host import get_library

        return get_library()
    return _provider()


# -- labels -------------------------------------------------------------------------------------------------
def label_for(model: Model, *, with_type: bool = False) -> str:
    name = f"{model.type}/{model.name}" if with_type else model.name
    return f"{name} [{model.id[:LABEL_ID_CHARS]}]"


_LISTS = contextvars.ContextVar("model_library_lists", default=True)


@contextmanager
def without_lists() -> Iterator[None]:
    """Node declarations made inside give empty choice lists: ComfyUI reads a V3 node's schema once
    while it imports plugins, when the library must not be opened (import time stays 0.0 s)."""
    token = _LISTS.set(False)
    try:
        yield
    finally:
        _LISTS.reset(token)


def choices(model_type: str | None) -> list[str]:
    """Labels of every ready model of ``model_type`` (every model for None), sorted by name.

    Never raises: a library that cannot open gives an empty list (and one log line), because ComfyUI
    asks for these while it answers ``/object_info``.
    """
    from ..core.models import ModelQuery

    if not _LISTS.get():
        return []
    try:
        lib = library()
        labels: list[str] = []
        offset = 0
        while True:
            page = lib.catalog.list_models(
                ModelQuery(type=model_type, sort="name", limit=LIST_PAGE, offset=offset)
            )
            labels.extend(label_for(m, with_type=model_type is None) for m in page.items)
            offset += len(page.items)
            if not page.items or offset >= page.total:
                break
        return labels
    except Exception as exc:  # a broken library must not break ComfyUI's node list
        log.warning("model-library: cannot list library models for the nodes: %s", exc)
        return []


def name_from_label(label: str) -> str:
    return _LABEL_ID.sub("", label or "").strip()


# -- resolution ---------------------------------------------------------------------------------------------
def _refs(label: str, model_ref: str) -> list[str]:
    refs: list[str] = []
    ref = (model_ref or "").strip()
    if ref:
        refs.append(ref.lower() if _REF.match(ref) else ref)
    match = _LABEL_ID.search(label or "")
    if match:
        refs.append(match.group(1).lower())
    elif (label or "").strip():
        refs.append(label.strip())  # a hand-written workflow naming the model: a unique name resolves
    return refs


def resolve(label: str, model_ref: str = "") -> Model:
    """The library model a node input points at: by ``model_ref`` first, else the label's id (or name).

    Raises ModelNotFound naming the model and its hash, and what to do.
    """
    refs = _refs(label, model_ref)
    if not refs:
        raise ModelNotFound(
            f"The node names no library model ({label!r}); pick a model in the node, or import one first."
        )
    lib = library()
    for ref in refs:
        try:
            return lib.catalog.get_model(ref)
        except ModelNotFound:
            continue
    name = name_from_label(label) or "(unnamed)"
    raise ModelNotFound(
        f"Library model {name!r} ({refs[0]}) is not in the library at {lib.config.root}. Import the "
        "file with that hash (`model-library import FILE`, or drop it on the Model Library panel), or "
        "pick another model in the node."
    )


def validate(label: str, model_ref: str = "") -> bool | str:
    """ComfyUI's VALIDATE_INPUTS answer: True, or the message shown to the user."""
    try:
        resolve(label, model_ref)
    except ModelLibraryError as exc:
        return exc.message
    except Exception as exc:  # shown to the user instead of a traceback
        return f"The model library could not be read: {exc}"
    return True


def fingerprint(label: str, model_ref: str = "") -> str:
    """What ComfyUI compares to decide whether to re-run: the content hash (the ref if unresolved)."""
    try:
        return "blake3:" + resolve(label, model_ref).hashes.blake3
    except Exception:  # validation reports the problem; this only keys the cache
        return "unresolved:" + "|".join(_refs(label, model_ref))


@dataclass(frozen=True)
class ModelFiles:
    model: Model
    path: str  # the file a loader opens (the folder itself for a Diffusers folder)
    links: tuple[str, ...]  # where the mapping made the model visible to ComfyUI


def files_of(model: Model) -> ModelFiles:
    lib = library()
    path = str(lib.catalog.model_file_path(model.id))
    links = tuple(link.path for link in lib.catalog.model_links(model.id))
    return ModelFiles(model=model, path=path, links=links)


def locate(label: str, model_ref: str = "") -> ModelFiles:
    """The model's files, checked to exist (a clear error rather than a loader's traceback)."""
    found = files_of(resolve(label, model_ref))
    if not os.path.exists(found.path):
        raise ModelNotFound(
            f"Library model {found.model.name!r} (blake3:{found.model.hashes.blake3}) is in the catalog but "
            f"its file {found.path} is missing. Run `model-library health --repair`, or import it again."
        )
    mark_used(found.model)
    return dataclasses.replace(found, path=_cached(found.path))


def _cached(path: str) -> str:
    """The file's copy in this machine's cache (MODEL_LIBRARY_CACHE), filled on this first use; the
    library's own path when there is no cache or the file cannot be cached (never a failed load)."""
    try:
        return str(library().cache.route(path))
    except Exception:
        log.warning(
            "model-library: the cache could not answer for %s; loading it in place", path, exc_info=True
        )
        return path


def mark_used(model: Model) -> None:
    """The panel's "Recently used": a loader ran with this model (at most one write a minute per model).
    Never fails a prompt: a read-only library or a busy catalog only loses the mark."""
    try:
        library().catalog.mark_used(model.id)
    except Exception:  # bookkeeping must not stop the prompt
        log.debug("model-library: could not mark %s as used", model.id, exc_info=True)


def loadable_path(label: str, model_ref: str = "") -> str:
    return locate(label, model_ref).path


def trigger_words(model: Model) -> str:
    """The model's trigger words as one prompt fragment (``"word1, word2"``); empty when it has none."""
    return ", ".join(w.strip() for w in model.trigger_words if w.strip())
