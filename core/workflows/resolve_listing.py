"""What a ComfyUI install lists per category, read as files (the loaders' drop-down lists).

Outside ComfyUI the install is read the way ``folder_paths`` reads it: ``models/<category>`` and every
folder ``extra_model_paths.yaml`` names for it (our own view section included: what we made visible counts),
walked recursively, following links, names relative to their folder with ``/``. The legacy category names
count as their new ones (``clip`` is listed under ``text_encoders``, ``unet`` under ``diffusion_models``), as
ComfyUI maps them. Inside ComfyUI the host passes ``folder_paths.get_filename_list`` instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ..mapping.categories import is_category_name
from ..mapping.comfyui import ComfyInstall, extra_paths_folders
from .loaders import LEGACY_ALIASES

# category -> the names ComfyUI lists for it (as the loader's widget would show them)
Listing = Callable[[str], Iterable[str]]

MAX_LISTED = 200_000  # files per category; a walk beyond this stops (a mis-set folder, not models)


def listing_key(name: str) -> str:
    """Names compare with ``/`` (a workflow saved on Windows says ``SDXL\\model.safetensors``)."""
    return name.replace("\\", "/")


def _categories_for(category: str) -> tuple[str, ...]:
    legacy = tuple(old for old, new in LEGACY_ALIASES.items() if new == category)
    return (category, *legacy)


class InstallListing:
    """A ComfyUI install's files per category, each category walked once, on first use."""

    def __init__(self, install: ComfyInstall) -> None:
        self.install = install
        self._extra: dict[str, list[Path]] | None = None
        self._cache: dict[str, frozenset[str]] = {}

    def folders(self, category: str) -> list[Path]:
        if self._extra is None:
            self._extra = extra_paths_folders(self.install, exclude_section="")
        found: list[Path] = []
        for name in _categories_for(category):
            if not is_category_name(name):
                continue
            found.append(self.install.models_dir / name)
            found += self._extra.get(name, [])
        return found

    def __call__(self, category: str) -> frozenset[str]:
        cached = self._cache.get(category)
        if cached is None:
            cached = self._cache[category] = frozenset(_walk(self.folders(category)))
        return cached


def _walk(folders: Iterable[Path]) -> set[str]:
    names: set[str] = set()
    for folder in folders:
        if not folder.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = os.path.relpath(dirpath, folder)
            prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            names.update(prefix + f for f in filenames if not f.startswith("."))
            if len(names) >= MAX_LISTED:
                return names
    return names
