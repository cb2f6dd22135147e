"""What adopting an install means: its model folders, the model units in them, what is left alone.

A *unit* is what the importer stores as one model: a file, a sharded set or a Diffusers folder. Its files
are recorded with (size, mtime, inode, device) so a file that changes before it is linked is noticed and
left alone. Symlinks already pointing into the library are "already adopted"; other symlinks are the
user's and are reported, never touched. Files that are not models are never planned.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..importer.plan import PlannedModel, plan_paths
from ..io.paths import at_or_under
from ..mapping.comfyui import ComfyInstall, extra_paths_folders, model_folders


@dataclass(frozen=True)
class FileState:
    """One original file as planned: its identity, compared again just before it is replaced."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    device: int
    nlink: int = 1

    @classmethod
    def of(cls, path: str | os.PathLike[str], st: os.stat_result) -> FileState:
        return cls(os.fspath(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_nlink)

    def same_as(self, st: os.stat_result) -> bool:
        return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev) == (
            self.size,
            self.mtime_ns,
            self.inode,
            self.device,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "mtime_ns": self.mtime_ns, "inode": self.inode,
                "device": self.device}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileState:
        return cls(str(d["path"]), int(d["size"]), int(d["mtime_ns"]), int(d["inode"]), int(d["device"]))


@dataclass(frozen=True)
class AdoptUnit:
    """One model to adopt. ``files[i]`` becomes a link to the library's ``rel_paths[i]``.

    ``linked`` marks files that are already links into the library (a run interrupted halfway through a
    multi-file model); the importer follows them, and they are not replaced again. ``planned``: the model
    as the plan found it, handed to the importer so that it is not planned again.
    """

    key: str  # the main file's path: the journal key
    import_path: str  # what the importer is given (a file, or a Diffusers folder)
    format: str
    files: tuple[FileState, ...]
    rel_paths: tuple[str, ...]
    linked: tuple[bool, ...]
    folder: str  # the model folder it was found in: the links' root
    category: str
    planned: PlannedModel | None = field(default=None, compare=False, repr=False)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class ModelFolder:
    category: str
    path: Path


@dataclass(frozen=True)
class AdoptPlan:
    install: ComfyInstall
    folders: tuple[ModelFolder, ...]
    units: tuple[AdoptUnit, ...]
    already_adopted: tuple[str, ...]
    skipped: tuple[dict[str, str], ...]

    @property
    def total_bytes(self) -> int:
        return sum(u.size for u in self.units)


def install_folders(install: ComfyInstall, library_root: Path) -> list[ModelFolder]:
    """``models/<category>`` and the extra_model_paths.yaml folders, without the library's own, deduplicated.

    A folder inside another planned folder is dropped: the outer walk covers it.
    """
    candidates = [ModelFolder(c, p) for c, p in model_folders(install).items()]
    for category, paths in extra_paths_folders(install, exclude_under=library_root).items():
        candidates.extend(ModelFolder(category, p) for p in paths if p.is_dir())
    library_real = os.path.realpath(library_root)
    seen: dict[str, ModelFolder] = {}
    for folder in candidates:
        real = os.path.realpath(folder.path)
        if at_or_under(real, library_real):
            continue  # a folder of the library itself (a view, or models/): nothing to adopt there
        seen.setdefault(real, ModelFolder(folder.category, Path(real)))
    reals = sorted(seen)
    return [seen[r] for r in reals if not any(o != r and at_or_under(r, o) for o in reals)]


def plan_install(
    install: ComfyInstall, library_root: Path, models_dir: Path, adopted: frozenset[str] = frozenset()
) -> AdoptPlan:
    """Plan the install. ``adopted``: paths registered as this install's adopt links (a hardlink made where
    symlinks were refused is a regular file; the registry knows it is ours)."""
    folders = install_folders(install, library_root)
    models_real = os.path.realpath(models_dir)
    units: list[AdoptUnit] = []
    already: list[str] = []
    skipped: list[dict[str, str]] = []
    seen: set[str] = set()
    for folder in folders:
        planned, failures = plan_paths([folder.path])
        skipped.extend({"path": str(f.path), "reason": f.reason} for f in failures)
        for model in planned:
            names = [os.fspath(p) for p in model.files]
            if names[0] in seen:
                continue
            seen.update(names)
            unit = _unit(model, names, folder, models_real, adopted, already, skipped)
            if unit is not None:
                units.append(unit)
    return AdoptPlan(install, tuple(folders), tuple(units), tuple(already), tuple(skipped))


def _unit(
    model: PlannedModel,
    names: list[str],
    folder: ModelFolder,
    models_real: str,
    adopted: frozenset[str],
    already: list[str],
    skipped: list[dict[str, str]],
) -> AdoptUnit | None:
    """``names``: the model's files as text (thousands of units: each path turned into text once)."""
    states: list[FileState] = []
    linked: list[bool] = []
    for path in names:
        try:
            lst = os.lstat(path)
        except OSError as exc:
            skipped.append({"path": path, "reason": f"cannot be read ({exc.strerror or exc}); left as it is"})
            return None
        if path in adopted:
            linked.append(True)
        elif stat.S_ISLNK(lst.st_mode):
            real = os.path.realpath(path)
            if not at_or_under(real, models_real):
                reason = f"a symbolic link to {real}; links are left as they are"
                skipped.append({"path": path, "reason": reason})
                return None
            linked.append(True)
        elif stat.S_ISREG(lst.st_mode):
            linked.append(False)
        else:
            skipped.append({"path": path, "reason": "not a regular file; left as it is"})
            return None
        states.append(FileState.of(path, lst))
    if all(linked):
        already.append(names[0])
        return None
    import_path = os.fspath(model.origin) if model.format == "diffusion-folder" else names[0]
    return AdoptUnit(
        key=names[0],
        import_path=import_path,
        format=model.format,
        files=tuple(states),
        rel_paths=model.rel_paths,
        linked=tuple(linked),
        folder=str(folder.path),
        category=folder.category,
        planned=model,
    )


def duplicate_candidates(units: Iterable[AdoptUnit], library_sizes: set[int]) -> set[str]:
    """Keys of units whose size matches another unit's or a library model's: only these can be duplicates,
    so a dry run hashes only these."""
    by_size: dict[tuple[int, int], list[str]] = {}
    for unit in units:
        by_size.setdefault((len(unit.files), unit.size), []).append(unit.key)
    found: set[str] = set()
    for (count, size), keys in by_size.items():
        if len(keys) > 1 or (count == 1 and size in library_sizes):
            found.update(keys)
    return found
