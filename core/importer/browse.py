"""Browsing the folders models may be imported from (the panel's "Import path…" picker).

Only the import roots and what lies inside them are listed: a path is resolved (links followed) and must
fall inside a root before anything is read, so a request can neither list ``/etc`` nor step out through a
symlink. A folder shows its sub-folders and its model files (by extension), hidden entries left out, at
most ``MAX_ENTRIES`` of them (``truncated`` then says so).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..io.paths import confine, lexically_at_or_under
from .plan import is_model_file

MAX_ENTRIES = 2000


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    kind: str  # folder | model
    size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "path": self.path, "kind": self.kind}
        if self.size is not None:
            d["size"] = self.size
        return d


@dataclass(frozen=True)
class FolderListing:
    path: str | None  # None: the roots themselves
    parent: str | None  # the folder above, while it is still inside a root
    entries: tuple[Entry, ...]
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "parent": self.parent,
            "entries": [e.to_dict() for e in self.entries],
            "truncated": self.truncated,
        }


def browse(roots: Sequence[Path], path: str | None = None) -> FolderListing:
    """The roots (``path`` None), or one folder inside them. InvalidInput / UnsafePath otherwise."""
    existing = [r for r in roots if r.is_dir()]
    if path is None:
        return FolderListing(None, None, tuple(Entry(os.fspath(r), os.fspath(r), "folder") for r in existing))
    folder = confine(path, existing)
    if not folder.is_dir():
        raise InvalidInput(f"{path} is not a folder; pick a folder to list, or import the file itself.")
    entries: list[Entry] = []
    truncated = False
    try:
        with os.scandir(folder) as it:
            found = sorted(it, key=lambda e: e.name.lower())
    except OSError as exc:
        raise InvalidInput(
            f"{folder} cannot be read ({exc.strerror or exc}); check its permissions."
        ) from exc
    for item in found:
        if item.name.startswith("."):
            continue
        if len(entries) >= MAX_ENTRIES:
            truncated = True
            break
        try:
            if item.is_dir():
                entries.append(Entry(item.name, item.path, "folder"))
            elif item.is_file() and is_model_file(item.name):
                entries.append(Entry(item.name, item.path, "model", item.stat().st_size))
        except OSError:
            continue  # a dangling link, a file gone meanwhile
    return FolderListing(os.fspath(folder), _parent(folder, existing), tuple(entries), truncated)


def _parent(folder: Path, roots: Sequence[Path]) -> str | None:
    parent = folder.parent
    for root in roots:
        real = root.resolve()
        if folder != real and lexically_at_or_under(parent, real):
            return os.fspath(parent)
    return None
