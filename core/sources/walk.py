"""One fast pass over a source folder: every model found, with one ``stat`` per file.

The listing of a source must be complete as soon as this walk ends, so it avoids everything a walk can
avoid: ``os.scandir`` gives the entry type without a syscall, each file is stat-ed once, paths stay
strings. Grouping is the importer's (``core/importer/plan.py``): a folder with ``model_index.json`` is one
Diffusers model, shards of a set are one model, every other model file is one model.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..config import CATALOG_FILE, IDENTITY_FILE
from ..importer.plan import SKIP_DIRS, is_model_file, model_name_from_file, readable_link_target
from ..importer.shards import group_shards, shard_of
from ..io.paths import at_or_under


@dataclass
class Found:
    format: str  # single-file | sharded-set | diffusion-folder
    folder: str  # the model's folder (rel_dir of a source model)
    name: str
    entries: list[dict[str, Any]] = field(default_factory=list)  # path, size, mtime_ns, inode, device


def walk_models(root: str, skip_roots: tuple[str, ...] = ()) -> Iterator[Found]:
    """Yield every model under ``root``. Unreadable folders are passed over (an ``OSError`` on ``root``
    itself propagates, so the caller can tell an unmounted share from an empty one).

    Links to folders (and Windows junctions) are followed, as ComfyUI follows them (a shared model folder
    linked in as ``models/loras`` is the common case): see :func:`_follows`. Each real folder is walked
    once, and no folder inside ``skip_roots`` (the library, other sources) is walked, however it was
    reached. Files found through a link carry their real path as ``target``."""
    root_real = os.path.realpath(root)
    _is_library_root.cache_clear()  # asked again each walk: a library made since is seen
    stack: list[tuple[str, str | None]] = [(root, None)]  # (folder, its real path if reached by a link)
    visited: set[tuple[int, int]] = set()
    first = True
    while stack:
        folder, real = stack.pop()
        if real is not None and _within(real, skip_roots):
            continue
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in visited:
                continue
            visited.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            if first:
                raise
            continue
        first = False
        names = {e.name for e in entries}
        if "model_index.json" in names and folder != root:
            found = _diffusers(folder, skip_roots)
            if found is not None:
                if real is not None:
                    for e in found.entries:
                        e.setdefault("target", real + e["path"][len(folder) :])
                yield found
            continue
        shards: dict[tuple[str, str, str], list[os.DirEntry[str]]] = {}
        for entry in sorted(entries, key=lambda e: e.name):
            name = entry.name
            if name.startswith("."):
                continue
            try:
                link = entry.is_symlink() or _is_junction(entry)
                is_dir = entry.is_dir(follow_symlinks=link)  # a link: the kind of its target
            except OSError:
                continue
            if is_dir:
                if name in SKIP_DIRS:
                    continue
                if link:
                    target = os.path.realpath(entry.path)
                    if _follows(target, root_real, skip_roots):
                        stack.append((entry.path, target))
                else:
                    child = os.path.join(real, name) if real is not None else None
                    # A registered source holding the library (from before that was refused), or another
                    # source nested in this one: their files are catalogued there, never twice.
                    if _within(child or root_real + entry.path[len(root) :], skip_roots):
                        continue
                    stack.append((entry.path, child))
                continue
            if not is_model_file(name):
                continue
            shard = shard_of(name)
            if shard is not None:
                shards.setdefault((shard[0], shard[1], shard[4]), []).append(entry)
                continue
            stat_entry = _stat(entry, skip_roots, real)
            if stat_entry is not None:
                yield Found("single-file", folder, model_name_from_file(name), [stat_entry])
        for (stem, ext, style), members in shards.items():
            by_name = {m.name: m for m in members}
            in_set, singles = group_shards(folder, list(by_name))
            stats = [s for s in (_stat(by_name[n], skip_roots, real) for n in in_set) if s is not None]
            if stats:
                base = stem[: -len(ext)] if style == "part" and stem.endswith(ext) else stem
                yield Found("sharded-set", folder, model_name_from_file(base), stats)
            for name in singles:
                single = _stat(by_name[name], skip_roots, real)
                if single is not None:
                    yield Found("single-file", folder, model_name_from_file(name), [single])


def _diffusers(folder: str, skip_roots: tuple[str, ...]) -> Found | None:
    stats: list[dict[str, Any]] = []
    index: dict[str, Any] | None = None
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            entry = _stat_path(os.path.join(dirpath, name), skip_roots)
            if entry is None:
                continue
            if dirpath == folder and name == "model_index.json":
                index = entry
            else:
                stats.append(entry)
    if index is None:
        return None
    return Found("diffusion-folder", folder, os.path.basename(folder), [index, *stats])


def _stat(entry: os.DirEntry[str], skip_roots: tuple[str, ...], real: str | None) -> dict[str, Any] | None:
    try:
        if entry.is_symlink():
            return _stat_path(entry.path, skip_roots)
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return None
    row = _row(entry.path, st)
    if row is not None and real is not None:
        row["target"] = os.path.join(real, entry.name)  # in a folder reached through a link
    return row


def in_another_library(path: str) -> bool:
    """Whether ``path`` (a real path) lies in a model library's folder: one holding our identity file
    and a catalog. Our own library is a skip root before this is asked, so any library found here is
    another one (two libraries mapping one install must not catalogue each other's links as models)."""
    folder = os.path.dirname(path)
    while True:
        if _is_library_root(folder):
            return True
        parent = os.path.dirname(folder)
        if parent == folder:
            return False
        folder = parent


@functools.lru_cache(maxsize=4096)
def _is_library_root(folder: str) -> bool:
    # Cached within one walk (cleared at its start): it asks for every link's folder and its parents.
    return os.path.isfile(os.path.join(folder, IDENTITY_FILE)) and os.path.isfile(
        os.path.join(folder, CATALOG_FILE)
    )


def _within(path: str, roots: tuple[str, ...]) -> bool:
    return any(at_or_under(path, r) for r in roots)


def _is_junction(entry: os.DirEntry[str]) -> bool:
    is_junction = getattr(entry, "is_junction", None)  # Python 3.12+; junctions exist on Windows only
    return bool(is_junction()) if is_junction is not None else False


def _follows(target: str, root_real: str, skip_roots: tuple[str, ...]) -> bool:
    """Whether a link to the folder ``target`` is walked: not into the source itself (its real folder is
    walked anyway, under its real name), not into the library or another source, and not to a folder
    holding the source, the whole disk or the home folder (a link to ``~`` would list every model-named
    file of the user's, every 30 seconds)."""
    home = os.path.realpath(os.path.expanduser("~"))
    top = os.path.splitdrive(target)[0] + os.sep
    return not (
        _within(target, (root_real, *skip_roots))
        or _within(root_real, (target,))
        or target in (top, home)
        or in_another_library(target)
    )


def readable_target(path: str, source_root: str) -> str | None:
    """The file to read for ``path``, a file of the source ``source_root``: the importer's rule
    (``readable_link_target``), so a folder import and a source read exactly the same files."""
    return readable_link_target(path, source_root)


def _stat_path(path: str, skip_roots: tuple[str, ...]) -> dict[str, Any] | None:
    target = None
    try:
        if os.path.islink(path):
            target = os.path.realpath(path)
            if _within(target, skip_roots):
                return None  # one of our own links: the library already holds the model
            if in_another_library(target):
                return None  # another library's link (it maps the same install): its model, not ours
        st = os.stat(path)
    except OSError:
        return None
    row = _row(path, st)
    if row is not None and target is not None:
        row["target"] = target  # a watch of the source does not see the target change
    return row


def _row(path: str, st: os.stat_result) -> dict[str, Any] | None:
    if not stat.S_ISREG(st.st_mode):
        return None
    return {
        "path": path,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "inode": st.st_ino,
        "device": st.st_dev,
    }
