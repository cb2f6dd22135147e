"""A library model made visible under the name a workflow expects (links of purpose ``workflow``).

A shared workflow asks for ``loras/SDXL/detail_v2.safetensors``; the library holds those bytes as
``detail-tweaker.safetensors``. We link the model under the workflow's name in the install's link root (its
view folder, or its own ``models/`` in direct mode), registered like any mapping link, so health checks
it, removing the model removes it, and unmapping the install takes it away. Nothing is copied and no file
of the user's is touched: a name held by something else is reported, never replaced.

In view mode the category joins our ``extra_model_paths.yaml`` section when no rule named it (a template's
``latent_upscale_models``): ``section_changed`` tells a running ComfyUI to add that folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..catalog.db import Database
from ..errors import ModelLibraryError, UnsafePath
from ..links.platform import LinkMaker, default_maker, inside_root
from ..links.registry import AppRecord, LinkRegistry
from ..models import Model, ModelFile
from ..taxonomy import LinkPurpose
from .apply import apply_plan
from .categories import is_category_name
from .config import MappingConfig, check_component
from .extra_paths import write_section
from .planner import Action, Plan, lstat_snapshot, model_file_str
from .service import MAPPING_MODES, link_target, section_categories, section_name

MAX_NAME_PARTS = 8  # sub-folders of a category a workflow may ask for (real ones use one or two)
MAX_NAME_CHARS = 240  # the whole name, so a link path stays within Windows' limits


class LinkStatus(str, Enum):
    LINKED = "linked"  # made now
    ALREADY = "already"  # that name shows this model already
    CONFLICT = "conflict"  # the name holds something else; left alone
    FAILED = "failed"


@dataclass(frozen=True)
class NamedLink:
    status: LinkStatus
    path: str = ""
    comfyui_name: str = ""  # the name ComfyUI lists it under (``/`` separators)
    reason: str = ""
    section_changed: bool = False


def comfyui_name(name: str) -> str:
    """The workflow's name as a relative path with ``/``; UnsafePath for names no folder may hold."""
    parts = name.replace("\\", "/").split("/")
    if not parts or any(p in ("", ".", "..") for p in parts):
        raise UnsafePath(f"{name[:200]!r} is not a file name inside a model folder")
    if len(parts) > MAX_NAME_PARTS or len(name) > MAX_NAME_CHARS:
        raise UnsafePath(
            f"{name[:80]!r}... is {len(parts)} folders deep and {len(name)} characters long; a model name "
            f"may have at most {MAX_NAME_PARTS} parts and {MAX_NAME_CHARS} characters"
        )
    return "/".join(check_component(p) for p in parts)


def model_file_for(model: Model, name: str, sha256: str | None = None) -> ModelFile | None:
    """The file of ``model`` a reference means: its only file, the one with that SHA-256, or that name."""
    if len(model.files) == 1:
        return model.files[0]
    if sha256:
        for f in model.files:
            if f.sha256 == sha256:
                return f
    wanted = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return next((f for f in model.files if f.path.rsplit("/", 1)[-1].lower() == wanted), None)


def link_as(
    db: Database,
    library_root: Path,
    app: AppRecord,
    model: Model,
    category: str,
    name: str,
    config: MappingConfig,
    *,
    sha256: str | None = None,
    maker: LinkMaker | None = None,
) -> NamedLink:
    """Make ``model`` appear as ``category/name`` in the install ``app``."""
    if app.mode not in MAPPING_MODES:
        return NamedLink(LinkStatus.FAILED, reason=f"ComfyUI at {app.root} is not mapped to this library")
    if not is_category_name(category):
        return NamedLink(LinkStatus.FAILED, reason=f"{category[:80]!r} is not a model folder name")
    try:
        rel = comfyui_name(name)
    except UnsafePath as exc:
        return NamedLink(LinkStatus.FAILED, reason=exc.message)
    file = model_file_for(model, name, sha256)
    if file is None:
        wanted = rel.rsplit("/", 1)[-1]
        return NamedLink(
            LinkStatus.FAILED,
            comfyui_name=rel,
            reason=f"the library's {model.name} has {len(model.files)} files; none is {wanted}",
        )
    target = link_target(app, library_root)
    path = os.path.join(target.link_root, category, *rel.split("/"))
    if not inside_root(Path(path), target.link_root):
        return NamedLink(LinkStatus.FAILED, path, rel, "the name leads outside the install's model folders")
    file_target = model_file_str(model, file, os.fspath(library_root))
    maker = maker or default_maker()
    registry = LinkRegistry(db)
    record = registry.find(path)
    entry = lstat_snapshot(path)
    replace = False
    if entry is not None:
        if _shows(entry.kind, entry.destination, path, file_target):
            changed = _section(db, app, config, library_root)
            return NamedLink(LinkStatus.ALREADY, path, rel, section_changed=changed)
        if record is not None and record.model_id != model.id and os.path.exists(path):
            return NamedLink(
                LinkStatus.CONFLICT,
                path,
                rel,
                f"the name shows another library model ({record.model_id[:8]})",
            )
        if record is None or not maker.is_our_link(
            path, record.target, record.kind, record.inode, record.device
        ):
            return NamedLink(
                LinkStatus.CONFLICT, path, rel, "a file that is not ours has this name; it was left as it is"
            )
        replace = True  # our own link, dangling or to an older file of this model
    action = Action(
        "create",
        path,
        model.id,
        file.path,
        file_target,
        category,
        replace=replace,
        record=record,
        purpose=LinkPurpose.WORKFLOW.value,
    )
    plan = Plan(app.id, os.fspath(target.link_root), create=(action,))
    try:
        report = apply_plan(db, plan, maker=maker, allow_copy=config.allow_copy)
    except (OSError, ModelLibraryError) as exc:
        return NamedLink(LinkStatus.FAILED, path, rel, str(exc))
    if path not in report.created:
        # The mapping may have made the very same link meanwhile (a download's auto-sync, the host's
        # remapper): a name that now shows this file is what was asked for.
        now = lstat_snapshot(path)
        if now is not None and _shows(now.kind, now.destination, path, file_target):
            changed = _section(db, app, config, library_root)
            return NamedLink(LinkStatus.ALREADY, path, rel, section_changed=changed)
        why = "; ".join(f["reason"] for f in (*report.failed, *report.skipped)) or "not created"
        return NamedLink(LinkStatus.FAILED, path, rel, why)
    return NamedLink(LinkStatus.LINKED, path, rel, section_changed=_section(db, app, config, library_root))


def _shows(kind: str, destination: str | None, path: str, target: str) -> bool:
    """True when ``path`` already is ``target``: a symlink to it, or a hardlink (or copy) of the same file."""
    if kind == "symlink":
        return destination is not None and os.path.normpath(destination) == os.path.normpath(target)
    try:
        return kind == "file" and os.path.samefile(path, target)
    except OSError:
        return False


def _section(db: Database, app: AppRecord, config: MappingConfig, library_root: Path) -> bool:
    """In view mode, make our yaml section list every category our links use; True if it changed."""
    if app.mode != "view":
        return False
    root = link_target(app, library_root).link_root
    return write_section(
        Path(app.root) / "extra_model_paths.yaml",
        root,
        section_categories(db, app.id, config),
        section_name(library_root),
    )
