"""The mapping planner: models + rules + registered links + what is on disk -> a Plan. Pure.

What is on disk comes in through ``snapshot(path) -> DiskEntry | None`` (``lstat_snapshot`` in real use), so
the planner itself touches nothing and tests can feed it any situation.

Outcomes per wanted link: ``create``; ``ok`` (already correct); a conflict: ``already_linked`` (another
model of ours holds that name), ``linked_to_different_source`` (a symlink there points somewhere else),
``file_exists`` (a real file or folder of the user's), ``invalid_name`` (a name no filesystem takes). Each
registered link no longer wanted is a ``remove``: ``broken``, ``model_gone`` or ``unmatched``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UnsafePath
from ..links.platform import link_destination
from ..links.registry import LinkRecord
from ..models import Model, ModelFile
from .config import (
    MappingConfig,
    Placement,
    check_component,
    expand,
    ordered_rules,
    resolve,
    sanitize_component,
    template_values,
)


@dataclass(frozen=True)
class DiskEntry:
    kind: str  # symlink | file | dir | other
    destination: str | None = None  # a symlink's target, absolute and normalised (not resolved)
    inode: int | None = None
    device: int | None = None
    nlink: int = 1


Snapshot = Callable[[str], "DiskEntry | None"]


class LstatSnapshot:
    """What is at a path, without following it; one per plan. A symlink's destination is resolved as the
    kernel does, from the real path of its folder (each folder's resolved once per plan): a category
    folder linked to another disk must not make our links look foreign, or dangling ones look fine."""

    def __init__(self) -> None:
        self._real: dict[str, str] = {}

    def __call__(self, path: str) -> DiskEntry | None:
        return lstat_snapshot(path, self._real)


def lstat_snapshot(path: str, real_folders: dict[str, str] | None = None) -> DiskEntry | None:
    """What is at ``path``, without following it (``real_folders``: a cache of resolved folders)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        try:
            text = os.readlink(path)
        except OSError:
            text = ""
        folder = os.path.dirname(path)
        real = real_folders.get(folder) if real_folders is not None else None
        if real is None:
            real = os.path.realpath(folder)
            if real_folders is not None:
                real_folders[folder] = real
        return DiskEntry("symlink", link_destination(path, text, real))
    if stat.S_ISREG(st.st_mode):
        return DiskEntry("file", None, st.st_ino, st.st_dev, st.st_nlink)
    return DiskEntry("dir" if stat.S_ISDIR(st.st_mode) else "other")


def model_file_path(model: Model, file: ModelFile, library_root: Path) -> Path:
    """Where a model's file lives: below the library for ``library`` models, in place for ``source`` ones."""
    return Path(model_file_str(model, file, os.fspath(library_root)))


def model_file_str(model: Model, file: ModelFile, library_root: str) -> str:
    """``model_file_path`` as a string (the planner's hot loop avoids pathlib)."""
    if model.location == "source":
        return os.path.join(model.rel_dir, *file.path.split("/"))
    return os.path.join(library_root, *model.rel_dir.split("/"), *file.path.split("/"))


@dataclass(frozen=True)
class LinkTarget:
    """Where one install's links go: ``link_root/<category>/...``."""

    app_id: str
    link_root: Path
    comfyui_version: str = ""


@dataclass(frozen=True)
class Action:
    op: str  # create | ok | conflict | remove
    link_path: str
    model_id: str
    file_path: str = ""
    target: str = ""
    category: str = ""
    conflict: str = ""
    reason: str = ""
    other_model_id: str = ""
    existing_target: str = ""
    alternative: str = ""  # for conflicts: the link path a "rename" resolution uses
    replace: bool = False  # the path holds our own (stale or broken) link, which creation replaces
    record: LinkRecord | None = field(default=None, compare=False)
    purpose: str = "mapping"  # the purpose a created link is registered with (taxonomy.LinkPurpose)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.link_path, "model_id": self.model_id}
        for key in (
            "file_path",
            "target",
            "category",
            "conflict",
            "reason",
            "other_model_id",
            "existing_target",
        ):
            value = getattr(self, key)
            if value:
                d["type" if key == "conflict" else key] = value
        if self.record is not None:
            d["kind"] = self.record.kind
        return d


@dataclass(frozen=True)
class Plan:
    app_id: str
    link_root: str
    create: tuple[Action, ...] = ()
    ok: tuple[Action, ...] = ()
    conflicts: tuple[Action, ...] = ()
    remove: tuple[Action, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.create or self.conflicts or self.remove)

    def to_dict(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "link_root": self.link_root,
            "create": [a.to_dict() for a in self.create],
            "ok": [a.to_dict() for a in self.ok],
            "conflicts": [a.to_dict() for a in self.conflicts],
            "remove": [a.to_dict() for a in self.remove],
            "counts": {
                "create": len(self.create),
                "ok": len(self.ok),
                "conflicts": len(self.conflicts),
                "remove": len(self.remove),
            },
        }


@dataclass(frozen=True)
class _Wanted:
    model: Model
    file: ModelFile
    link_path: str
    target: str
    category: str
    alternative: str


def _renamed(model: Model, file_name: str) -> str:
    """The link name of a single-file model: its file's name, or the name the user gave the model
    (``edit --name``) with the file's extension, so ComfyUI lists it under that name."""
    if "name" not in model.manual_fields:
        return file_name
    ext = os.path.splitext(file_name)[1]
    stem = sanitize_component(model.name)
    return stem if ext and stem.lower().endswith(ext.lower()) else f"{stem}{ext}"


def wanted_links(
    model: Model, placement: Placement, link_root: Path, library_root: Path
) -> list[tuple[ModelFile, str, str, str]]:
    """(file, link path, target, alternative path) for each file of ``model``. Raises UnsafePath."""
    if not model.files:
        return []
    root, lib = os.fspath(link_root), os.fspath(library_root)
    base = [placement.category]
    single = len(model.files) == 1 and "/" not in model.files[0].path
    if single:
        file = model.files[0]
        if placement.subfolder or placement.link_name:
            values = template_values(model, file.path)
            base += expand(placement.subfolder, values)
            name = (
                expand(placement.link_name, values)[-1] if placement.link_name else check_component(file.path)
            )
        else:
            name = check_component(_renamed(model, file.path))
        path = os.path.join(root, *base, name)
        return [(file, path, model_file_str(model, file, lib), _alt(path, model))]
    folder_default = model.rel_dir.rstrip("/").rsplit("/", 1)[-1] if model.rel_dir else model.name
    if "name" in model.manual_fields:
        folder_default = sanitize_component(model.name)
    values = template_values(model, folder_default)
    base += expand(placement.subfolder, values)
    folder = (
        expand(placement.link_name, values)[-1] if placement.link_name else check_component(folder_default)
    )
    out = []
    for file in model.files:
        parts = [check_component(p) for p in file.path.split("/")]
        path = os.path.join(root, *base, folder, *parts)
        alt = os.path.join(root, *base, f"{folder}.{model.id[:8]}", *parts)
        out.append((file, path, model_file_str(model, file, lib), alt))
    return out


def _alt(path: str, model: Model) -> str:
    folder, name = os.path.split(path)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return os.path.join(folder, f"{name}.{model.id[:8]}")
    return os.path.join(folder, f"{stem}.{model.id[:8]}.{ext}")


def plan_links(
    models: Iterable[Model],
    config: MappingConfig,
    target: LinkTarget,
    library_root: Path,
    existing: Iterable[LinkRecord],
    snapshot: Snapshot,
    *,
    scope: Collection[str] | None = None,
    purposes: Collection[str] = ("mapping",),
) -> Plan:
    """Plan one install. ``existing``: registered links of this install (at least those of the models in
    scope and those at the paths they want). ``scope``: model ids considered for removal (None = all).
    ``purposes``: the registered links this plan owns (unmapping takes the workflows' names too)."""
    rules = ordered_rules(config)
    # Only mapping links are the planner's: an adopted install's links (purpose "adopt") keep its
    # original names working and must never be planned away.
    registered = {r.link_path: r for r in existing if r.app_id == target.app_id and r.purpose in purposes}
    wanted: dict[str, _Wanted] = {}
    create: list[Action] = []
    ok: list[Action] = []
    conflicts: list[Action] = []
    model_ids: set[str] = set()
    for model in models:
        model_ids.add(model.id)
        if model.state != "ready":
            continue
        placement = resolve(rules, model, target.comfyui_version)
        if placement is None:
            continue
        try:
            links = wanted_links(model, placement, target.link_root, library_root)
        except UnsafePath as exc:
            conflicts.append(Action("conflict", "", model.id, conflict="invalid_name", reason=exc.message))
            continue
        for file, link_path, file_target, alt in links:
            if link_path in wanted:
                holder = wanted[link_path]
                conflicts.append(
                    Action(
                        "conflict",
                        link_path,
                        model.id,
                        file.path,
                        file_target,
                        placement.category,
                        conflict="already_linked",
                        other_model_id=holder.model.id,
                        alternative=alt,
                    )
                )
                continue
            wanted[link_path] = _Wanted(model, file, link_path, file_target, placement.category, alt)
    for link_path, w in wanted.items():
        action = _decide(w, registered.get(link_path), snapshot)
        {"create": create, "ok": ok, "conflict": conflicts}[action.op].append(action)
    remove: list[Action] = []
    for link_path, record in registered.items():
        if link_path in wanted or (scope is not None and record.model_id not in scope):
            continue
        entry = snapshot(link_path)
        if record.model_id not in model_ids:
            reason = "model_gone"
        elif entry is None or (entry.kind == "symlink" and snapshot(record.target) is None):
            reason = "broken"
        else:
            reason = "unmatched"
        remove.append(
            Action(
                "remove",
                link_path,
                record.model_id,
                record.file_path,
                record.target,
                record.category,
                reason=reason,
                record=record,
            )
        )
    return Plan(
        target.app_id, str(target.link_root), tuple(create), tuple(ok), tuple(conflicts), tuple(remove)
    )


def _decide(w: _Wanted, record: LinkRecord | None, snapshot: Snapshot) -> Action:
    entry = snapshot(w.link_path)

    def make(op: str, **kw: Any) -> Action:
        return Action(
            op,
            w.link_path,
            w.model.id,
            w.file.path,
            w.target,
            w.category,
            alternative=w.alternative,
            record=record,
            **kw,
        )

    if record is not None and record.model_id != w.model.id:
        return make("conflict", conflict="already_linked", other_model_id=record.model_id)
    if entry is None:
        return make("create", reason="recreate" if record else "new", replace=False)
    if entry.kind == "symlink":
        if _same(entry.destination, w.target):
            if record is not None and record.file_path == w.file.path:
                return make("ok")
            return make("ok", reason="unregistered")
        if record is not None and _same(entry.destination, record.target):
            return make("create", reason="retarget", replace=True)
        return make(
            "conflict", conflict="linked_to_different_source", existing_target=entry.destination or ""
        )
    if entry.kind == "file":
        if (
            record is not None
            and record.inode is not None
            and (entry.inode, entry.device)
            == (
                record.inode,
                record.device,
            )
        ):
            target_entry = snapshot(w.target)
            if record.kind == "copy" or (target_entry is not None and target_entry.inode == entry.inode):
                return make("ok")
            return make("create", reason="retarget", replace=True)
        if entry.nlink > 1:
            target_entry = snapshot(w.target)
            if target_entry is not None and (target_entry.inode, target_entry.device) == (
                entry.inode,
                entry.device,
            ):
                return make("ok", reason="unregistered")
    return make("conflict", conflict="file_exists")


def _same(a: str | None, b: str) -> bool:
    return a is not None and os.path.normcase(os.path.normpath(a)) == os.path.normcase(os.path.normpath(b))
