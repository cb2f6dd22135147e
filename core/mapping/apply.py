"""Carrying out a mapping Plan: remove, resolve conflicts, create, register, journalled against ``kill -9``.

Links are made in batches. For each batch:

1. journal ``pending`` with every (temp name, final name, model, file) pair;
2. make each link at its temporary name (``.<name>.<random>.mlib-tmp``, invisible to ComfyUI);
3. register the links and move the journal to ``registered``, in one transaction;
4. rename each temporary link over its final name;
5. delete the journal row.

A crash before (3) leaves only temporary links, which ``resume_pending`` deletes; a crash after (3) leaves
registered links that ``resume_pending`` finishes renaming. So no link we made is ever left unregistered,
and a registered link is either in place or reported broken by health.

Overwrite touches only our own links; a user's file or folder in the way is renamed to ``<name>.old`` (a
unique name), never deleted.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..catalog.db import Database
from ..errors import InvalidInput, ModelLibraryError
from ..links.platform import LinkMaker, default_maker, inside_root, prune_empty_dirs, temp_name_for
from ..links.registry import LinkRecord, LinkRegistry
from ..models import utcnow
from .journal import (
    LinkBatch,
    LinkRemoval,
    OldLink,
    PendingLink,
    mapping_journal,
    replaceable,
    resume_pending,
)
from .planner import Action, Plan

RESOLUTIONS = ("skip", "overwrite", "rename")


@dataclass(frozen=True)
class ApplyReport:
    created: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: tuple[dict[str, str], ...] = ()
    failed: tuple[dict[str, str], ...] = ()
    moved_aside: tuple[dict[str, str], ...] = ()
    registered: tuple[str, ...] = ()  # correct links found unregistered, now recorded

    def merge(self, other: ApplyReport) -> ApplyReport:
        return ApplyReport(*(getattr(self, f) + getattr(other, f) for f in _FIELDS))

    def to_dict(self) -> dict[str, Any]:
        return {f: list(getattr(self, f)) for f in _FIELDS}


_FIELDS = ("created", "removed", "skipped", "failed", "moved_aside", "registered")


@dataclass
class _Run:
    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    moved_aside: list[dict[str, str]] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)

    def report(self) -> ApplyReport:
        return ApplyReport(*(tuple(getattr(self, f)) for f in _FIELDS))


@dataclass(frozen=True)
class _Creation:
    link_path: str
    target: str
    model_id: str
    file_path: str
    category: str
    replace: bool
    purpose: str = "mapping"


def apply_plan(
    db: Database,
    plan: Plan,
    *,
    resolutions: Mapping[str, str] | None = None,
    on_conflict: str = "skip",
    maker: LinkMaker | None = None,
    allow_copy: bool = False,
    batch_size: int = 1000,
) -> ApplyReport:
    """Apply ``plan``; each conflict is resolved by ``resolutions[link_path]``, else ``on_conflict``."""
    resolutions = resolutions or {}
    for value in (on_conflict, *resolutions.values()):
        if value not in RESOLUTIONS:
            raise InvalidInput(f"Conflict resolution {value!r} is not one of {', '.join(RESOLUTIONS)}.")
    maker = maker or default_maker()
    registry = LinkRegistry(db)
    resume_pending(db, maker)
    run = _Run()
    link_root = Path(plan.link_root)
    _remove(plan.remove, link_root, maker, registry, run)
    creations = [
        _Creation(a.link_path, a.target, a.model_id, a.file_path, a.category, a.replace, a.purpose)
        for a in plan.create
    ]
    for action in plan.conflicts:
        choice = resolutions.get(action.link_path, on_conflict)
        resolved = _resolve(action, choice, maker, registry, run)
        if resolved is not None:
            creations.append(resolved)
    with registry.records_at_end():  # one write per touched records file, not one per batch
        _register_found(plan.ok, plan, maker, registry, run)
        for start in range(0, len(creations), batch_size):
            _create_batch(db, plan, creations[start : start + batch_size], maker, registry, allow_copy, run)
    return run.report()


def _remove(
    actions: Sequence[Action], link_root: Path, maker: LinkMaker, registry: LinkRegistry, run: _Run
) -> None:
    gone: list[str] = []
    doomed = [a.link_path for a in actions if a.record is not None]
    if not doomed:
        return
    # Journalled so a crash between unlink and unregister is finished by resume_pending.
    key = f"remove:{secrets.token_hex(8)}"
    journal = mapping_journal(registry.db)
    journal.write(key, "removing", LinkRemoval(tuple(doomed)))
    for action in actions:
        record = action.record
        if record is None:
            continue
        path = Path(action.link_path)
        if not inside_root(path, Path(record.link_root)):
            run.failed.append({"path": action.link_path, "reason": "outside_link_root"})
            gone.append(action.link_path)
            continue
        try:
            outcome = maker.remove_link(path, Path(record.target), record.kind, record.inode, record.device)
        except (OSError, ModelLibraryError) as exc:
            run.failed.append({"path": action.link_path, "reason": str(exc)})
            continue
        if outcome == "not_ours":
            run.skipped.append({"path": action.link_path, "reason": "not_ours"})
        else:
            run.removed.append(action.link_path)
            prune_empty_dirs(path.parent, Path(record.link_root))
        gone.append(action.link_path)
    with registry.db.transaction():
        registry.unregister_many(gone)
        journal.delete(key)


def move_aside(path: Path) -> Path:
    """Rename a user's file or folder to a free ``<name>.old`` / ``<name>.old.N``; never deletes."""
    for n in range(1000):
        candidate = path.with_name(path.name + (".old" if n == 0 else f".old.{n}"))
        if not os.path.lexists(candidate):
            os.rename(path, candidate)
            return candidate
    raise InvalidInput(f"Too many .old copies next to {path}; clean them up and retry.")


def _resolve(
    action: Action, choice: str, maker: LinkMaker, registry: LinkRegistry, run: _Run
) -> _Creation | None:
    if action.conflict == "invalid_name" or choice == "skip":
        run.skipped.append({"path": action.link_path, "reason": action.conflict or "skipped"})
        return None
    path = Path(action.link_path)
    if choice == "rename":
        alt = Path(action.alternative)
        if not action.alternative or os.path.lexists(alt):
            run.skipped.append({"path": action.link_path, "reason": "rename_target_exists"})
            return None
        return _Creation(str(alt), action.target, action.model_id, action.file_path, action.category, False)
    record = action.record
    if action.conflict == "already_linked" and record is None:
        run.skipped.append({"path": action.link_path, "reason": "wanted_by_another_model"})
        return None
    try:
        if record is not None and os.path.lexists(path):
            outcome = maker.remove_link(path, Path(record.target), record.kind, record.inode, record.device)
            if outcome == "removed":
                run.removed.append(action.link_path)
        if os.path.lexists(path):
            moved = move_aside(path)
            run.moved_aside.append({"path": action.link_path, "moved_to": str(moved)})
    except (OSError, ModelLibraryError) as exc:
        run.failed.append({"path": action.link_path, "reason": str(exc)})
        return None
    if record is not None:
        registry.unregister(action.link_path)
    return _Creation(
        action.link_path, action.target, action.model_id, action.file_path, action.category, False
    )


def _register_found(
    actions: Sequence[Action], plan: Plan, maker: LinkMaker, registry: LinkRegistry, run: _Run
) -> None:
    records = []
    for a in actions:
        if a.reason != "unregistered":
            continue
        path = Path(a.link_path)
        if maker.is_our_link(path, Path(a.target), "symlink"):
            relative = not os.path.isabs(os.readlink(path))
            records.append(
                _record(
                    plan,
                    a.link_path,
                    a.model_id,
                    a.file_path,
                    a.target,
                    a.category,
                    "symlink",
                    relative,
                    None,
                    None,
                )
            )
        else:
            st = os.stat(a.target)
            records.append(
                _record(
                    plan,
                    a.link_path,
                    a.model_id,
                    a.file_path,
                    a.target,
                    a.category,
                    "hardlink",
                    False,
                    st.st_ino,
                    st.st_dev,
                )
            )
    registry.register_many(records)
    run.registered.extend(r.link_path for r in records)


def _record(
    plan: Plan,
    link_path: str,
    model_id: str,
    file_path: str,
    target: str,
    category: str,
    kind: str,
    relative: bool,
    inode: int | None,
    device: int | None,
    purpose: str = "mapping",
) -> LinkRecord:
    return LinkRecord(
        model_id=model_id,
        file_path=file_path,
        link_path=link_path,
        kind=kind,
        relative=relative,
        target=target,
        link_root=plan.link_root,
        app_id=plan.app_id,
        category=category,
        inode=inode,
        device=device,
        purpose=purpose,
        created_at=utcnow(),
    )


def _create_batch(
    db: Database,
    plan: Plan,
    batch: Sequence[_Creation],
    maker: LinkMaker,
    registry: LinkRegistry,
    allow_copy: bool,
    run: _Run,
) -> None:
    key = f"{plan.app_id}:{secrets.token_hex(8)}"
    items: list[tuple[PendingLink, _Creation]] = []
    folders: set[str] = set()
    for c in batch:
        folder = os.path.dirname(c.link_path)
        if folder not in folders:
            os.makedirs(folder, exist_ok=True)
            folders.add(folder)
        # A link whose name is free is made right there (one metadata operation; a crash before it is
        # registered is rolled back by ``resume_pending``); only a replacement goes through a temp name.
        direct = not c.replace and not os.path.lexists(c.link_path)
        # What a retarget may replace: our old link there, as registered before this batch.
        found = registry.find(c.link_path) if c.replace else None
        old = OldLink(found.target, found.kind, found.inode, found.device) if found is not None else None
        temp = c.link_path if direct else temp_name_for(c.link_path)
        items.append((PendingLink(temp, c.link_path, c.target, c.replace, old, direct), c))
    journal = mapping_journal(db)
    pending = LinkBatch(plan.app_id, plan.link_root, tuple(p for p, _c in items))
    journal.write(key, "pending", pending)
    made: list[tuple[PendingLink, _Creation]] = []
    records: list[LinkRecord] = []
    for p, c in items:
        try:
            link = maker.make_link_at(c.target, p.temp, allow_copy=allow_copy)
        except FileExistsError:
            run.skipped.append({"path": c.link_path, "reason": "file_exists"})  # appeared since planning
            continue
        except (OSError, ModelLibraryError) as exc:
            if p.at_final and isinstance(exc.__cause__, FileExistsError):
                run.skipped.append({"path": c.link_path, "reason": "file_exists"})
                continue
            run.failed.append({"path": c.link_path, "reason": str(exc)})
            continue
        made.append((p, c))
        records.append(
            _record(
                plan,
                c.link_path,
                c.model_id,
                c.file_path,
                c.target,
                c.category,
                link.kind,
                link.relative,
                link.inode,
                link.device,
                c.purpose,
            )
        )
    with db.transaction():
        registry.register_many(records)
        journal.write(key, "registered", replace(pending, items=tuple(p for p, _c in made)))
    lost: list[str] = []
    for p, c in made:
        if p.at_final:  # made at its final name already
            run.created.append(c.link_path)
            continue
        if os.path.lexists(c.link_path) and not replaceable(maker, c.link_path, p.old):
            # Something that is not our old link is at the final name now: it is not ours to replace.
            maker.discard_temp(p.temp)
            lost.append(c.link_path)
            run.skipped.append({"path": c.link_path, "reason": "file_exists"})
            continue
        try:
            maker.commit(p.temp, c.link_path)
        except (OSError, ModelLibraryError) as exc:
            maker.discard_temp(p.temp)
            lost.append(c.link_path)
            run.failed.append({"path": c.link_path, "reason": str(exc)})
            continue
        run.created.append(c.link_path)
    with db.transaction():
        registry.unregister_many(lost)
        journal.delete(key)
