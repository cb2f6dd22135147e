"""Images a model already has, found without the network: one beside its file in the user's folder (the
conventions of ComfyUI and A1111 users) or the file's own ``modelspec.thumbnail``.

Only what sits beside a file the model was found at is looked at (its folder catalogued in place, or the
paths it was imported from); a candidate is read through ``O_NOFOLLOW`` as a regular file of bounded
size, and only its decoded pixels are ever kept.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePath

from ..errors import InvalidImage
from ..taxonomy import PreviewSource
from .images import MAX_IMAGE_BYTES, image_from_data_uri

SIDECAR_SUFFIXES = (
    ".preview.png",
    ".preview.jpg",
    ".preview.jpeg",
    ".preview.webp",
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
)
_MODEL_SUFFIXES = (".safetensors", ".sft", ".gguf", ".ckpt", ".pt", ".pth", ".bin", ".onnx")


@dataclass(frozen=True)
class FoundImage:
    source: PreviewSource
    data: bytes
    where: str  # for messages: the file it came from, or "modelspec.thumbnail"


def sidecar_candidates(model_path: str) -> list[str]:
    """``<stem>.preview.png``, ``<stem>.png``, ... beside ``model_path``, most specific first."""
    path = PurePath(model_path)
    stem = path.name
    for suffix in _MODEL_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return [str(path.with_name(stem + suffix)) for suffix in SIDECAR_SUFFIXES]


def read_small_file(path: str, limit: int = MAX_IMAGE_BYTES) -> bytes | None:
    """A regular file's bytes if it is at most ``limit`` long; None if absent, a link, or anything else."""
    flags = (
        os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    )
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit or st.st_size == 0:
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


def beside(model_paths: Iterable[str]) -> Iterator[FoundImage]:
    """Image files beside any of the model's files, in the order of ``model_paths``."""
    seen: set[str] = set()
    for model_path in model_paths:
        for candidate in sidecar_candidates(model_path):
            if candidate in seen:
                continue
            seen.add(candidate)
            data = read_small_file(candidate)
            if data is not None:
                yield FoundImage(PreviewSource.SIDECAR, data, candidate)


def embedded(metadata: dict[str, str] | None) -> FoundImage | None:
    """The file's own ``modelspec.thumbnail`` (a data URI), if it holds a usable one."""
    uri = (metadata or {}).get("modelspec.thumbnail")
    if not uri:
        return None
    try:
        return FoundImage(PreviewSource.EMBEDDED, image_from_data_uri(uri), "modelspec.thumbnail")
    except InvalidImage:
        return None
