"""Adopting one unit, crash-safe, and finishing what a killed run left in the journal.

Per unit, each step durable before the next:

1. the journal row (``importing``) names the original files and their identity;
2. the importer stores the unit with ``hardlink=True``: on the library's filesystem the library gets a
   second name for the original's inode (O(1), the original untouched); elsewhere a durable, hashed copy.
   The importer de-duplicates by BLAKE3, so bytes the library holds already return the existing model;
3. the library's files are checked against the originals (same inode, or the size of the bytes the
   importer hashed from the original);
4. the journal row moves to ``linking`` with the temp names about to be made;
5. per file: a link to the library file at the temp name, then ``os.replace`` over the original, so the
   name always resolves, to the old bytes or to the library's identical bytes;
6. the links are registered (purpose ``adopt``) and the journal row deleted, in one transaction.

A file whose size, mtime or inode differ from the plan is left as it is and reported. Small single-file
units take the same steps as a batch, each step for all of them at once (``batch.py``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..catalog.db import Database
from ..catalog.store import CatalogStore
from ..config import LibraryConfig
from ..errors import ModelLibraryError
from ..importer.pipeline import Importer
from ..io.fileops import fsync_many
from ..io.hashing import hash_path
from ..io.trash import move_to_trash
from ..links.platform import LinkMaker, temp_name_for
from ..links.registry import LinkRecord, LinkRegistry
from ..mapping.comfyui import ComfyInstall
from ..models import ImportItem, Model, utcnow
from ..types import CancelCheck
from .journal import AdoptJournal, AdoptRecord, discard_temp
from .plan import AdoptUnit
from .report import Tally

StageFn = Callable[[str, str], None]  # (stage, path): tells the caller where a unit is


@dataclass
class AdoptContext:
    config: LibraryConfig
    db: Database
    repo: CatalogStore[Any]
    importer: Importer
    registry: LinkRegistry
    maker: LinkMaker
    journal: AdoptJournal
    install: ComfyInstall
    tally: Tally
    stage: StageFn
    cancelled: CancelCheck | None = None
    counted_inodes: set[tuple[int, int]] | None = None


_SKIP_CODES = {
    "invalid_model_file": "not a model file the library can read ({msg}); left as it is",
    "source_changed": "changed while it was read; left as it is (run adopt again when it is not written)",
    "pickle_needs_confirmation": "{msg}",
    "unsafe_path": "{msg}",
}


def adopt_unit(ctx: AdoptContext, unit: AdoptUnit) -> None:
    tally = ctx.tally
    changed = changed_file(unit)
    if changed is not None:
        tally.skip(changed, "changed since adoption was planned; left as it is (run adopt again)")
        return
    record = AdoptRecord(ctx.install.id, unit.files, unit.folder, unit.category)
    ctx.journal.adopts.write(unit.key, "importing", record)
    ctx.stage("importing", unit.key)
    item = _import(ctx, unit)
    if item is None or item.model is None:
        ctx.journal.adopts.delete(unit.key)
        return
    model, duplicate = item.model, item.status == "duplicate"
    if left_alone_if_changed(ctx, unit, model, duplicate):
        return
    try:
        targets = library_targets(ctx.config, model, unit)
        ids = verify(unit, targets, model)
    except ModelLibraryError as exc:
        ctx.journal.adopts.delete(unit.key)
        tally.fail(unit.key, exc.message)
        return
    temps = [temp_name_for(f.path) for f in unit.files]
    record = replace(record, model_id=model.id, targets=tuple(str(t) for t in targets), temps=tuple(temps))
    ctx.journal.adopts.write(unit.key, "linking", record)
    ctx.stage("linking", unit.key)
    if left_alone_if_changed(ctx, unit, model, duplicate):
        return
    records, folders = link_files(ctx, unit, model, targets, temps, duplicate=duplicate, target_ids=ids)
    fsync_many(dirs=folders)
    with ctx.db.transaction():
        ctx.registry.register_many(records)
        ctx.journal.adopts.delete(unit.key)
    count_adopted(ctx, unit, records, duplicate, targets, ids[0][0])


def count_adopted(
    ctx: AdoptContext,
    unit: AdoptUnit,
    records: list[LinkRecord],
    duplicate: bool,
    targets: list[Path],
    device: int,
) -> None:
    """Once the unit's links are registered: what it adds to the report. ``device``: the first library
    file's, as ``verify`` found it."""
    tally = ctx.tally
    if len(records) + sum(unit.linked) == len(unit.files):
        tally.adopted += 1
        tally.links_created += len(records)
        if duplicate:
            tally.duplicates += 1
            tally.bytes_freed += _freed(ctx, unit, targets)
        elif unit.files[0].device != device:
            tally.bytes_copied += unit.size
    ctx.stage("adopted", unit.key)


def left_alone_if_changed(ctx: AdoptContext, unit: AdoptUnit, model: Model, duplicate: bool) -> bool:
    changed = changed_file(unit)
    if changed is None:
        return False
    _forget_if_shared(ctx, model, duplicate, unit)
    ctx.journal.adopts.delete(unit.key)
    ctx.tally.skip(changed, "changed during adoption; left as it is (run adopt again)")
    return True


def _import(ctx: AdoptContext, unit: AdoptUnit) -> ImportItem | None:
    try:
        items = ctx.importer.run(
            [unit.import_path], hardlink=True, allow_pickle=True, origin_kind="adopt", cancelled=ctx.cancelled
        )
    except ModelLibraryError as exc:
        ctx.tally.fail(unit.key, exc.message)
        return None
    return imported(ctx, unit, items)


def imported(ctx: AdoptContext, unit: AdoptUnit, items: list[ImportItem]) -> ImportItem | None:
    """The library model the importer made of ``unit`` (``items``: what it answered for the unit alone);
    None, with the reason tallied, when the unit is not adopted."""
    if len(items) != 1:
        ctx.tally.fail(unit.key, f"the importer saw {len(items)} models where one was planned; left as it is")
        return None
    item = items[0]
    if item.status == "failed" or item.model is None:
        code, msg = item.error_code or "", item.error or "import failed"
        if code in _SKIP_CODES:
            ctx.tally.skip(unit.key, _SKIP_CODES[code].format(msg=msg))
        elif code == "cancelled":
            ctx.tally.skip(unit.key, "cancelled before it was adopted; run adopt again to continue")
        else:
            ctx.tally.fail(unit.key, msg)
        return None
    if item.model.location != "library":
        ctx.tally.skip(
            unit.key,
            f"its bytes are catalogued in place (model {item.model.id}, a source folder) and not stored in "
            "the library; left as it is",
        )
        return None
    return item


def library_targets(config: LibraryConfig, model: Model, unit: AdoptUnit) -> list[Path]:
    """The library file each original becomes a link to."""
    folder = config.root.joinpath(*model.rel_dir.split("/"))
    if unit.format == "single-file" and len(model.files) == 1:
        return [folder.joinpath(*model.files[0].path.split("/"))]
    known = {f.path for f in model.files}
    missing = [r for r in unit.rel_paths if r not in known]
    if missing:
        raise ModelLibraryError(
            f"the library model {model.id} has no file {missing[0]!r} matching {unit.key}; left as it is"
        )
    return [folder.joinpath(*rel.split("/")) for rel in unit.rel_paths]


def verify(unit: AdoptUnit, targets: list[Path], model: Model) -> list[tuple[int, int]]:
    """The library file must hold the original's bytes before the original's name points at it; each
    library file's ``(st_dev, st_ino)`` (links are checked to land on it; the report counts the bytes of
    a model stored on another device).

    A hardlink (the same inode) is the original itself. Any other file (a duplicate found by the catalog's
    BLAKE3, or a copy) is read and hashed: the catalog's hash says what the bytes were, not what they are
    now (a file the user edited through a link or a hardlink keeps its size)."""
    expected = {f.path: f.blake3 for f in model.files}
    ids: list[tuple[int, int]] = []
    for state, rel, target in zip(unit.files, unit.rel_paths, targets):
        try:
            st = os.stat(target)
        except OSError as exc:
            raise ModelLibraryError(
                f"the library file {target} cannot be read ({exc}); {state.path} left as it is"
            ) from exc
        if not stat.S_ISREG(st.st_mode) or st.st_size != state.size:
            raise ModelLibraryError(
                f"the library file {target} does not match {state.path} (size {st.st_size:,} vs "
                f"{state.size:,}); left as it is; run `model-library health`"
            )
        ids.append((st.st_dev, st.st_ino))
        if (st.st_dev, st.st_ino) == (state.device, state.inode):
            continue
        want = expected.get(rel) or (model.files[0].blake3 if len(model.files) == 1 else "")
        got = hash_path(target).blake3
        if not want or got != want:
            raise ModelLibraryError(
                f"the library file {target} no longer holds the bytes recorded for it (changed behind our "
                f"back); {state.path} left as it is; run `model-library health`"
            )
    return ids


def link_files(
    ctx: AdoptContext,
    unit: AdoptUnit,
    model: Model,
    targets: list[Path],
    temps: list[str],
    real_folders: dict[str, str] | None = None,
    *,
    duplicate: bool,
    target_ids: list[tuple[int, int]] | None = None,
) -> tuple[list[LinkRecord], list[Path]]:
    """Swap a link over each original; the links made and the folders to fsync before registering them
    (the caller syncs each folder once, however many originals it holds). ``real_folders``: the real
    paths of the originals' folders, found once for a batch of units (``LinkMaker.make_link_at``);
    ``target_ids``: the library files' ``(st_dev, st_ino)`` as ``verify`` found them.

    Each original is compared with its plan just before its link replaces it. One that changed is left
    as it is; if nothing of the unit was linked yet, a new model sharing its inode is forgotten, as
    ``left_alone_if_changed`` does (``duplicate``: the model was the library's already)."""
    records: list[LinkRecord] = []
    folders: list[Path] = []
    for index, (state, rel, target, temp, linked) in enumerate(
        zip(unit.files, unit.rel_paths, targets, temps, unit.linked)
    ):
        if linked:
            continue
        target_id = target_ids[index] if target_ids is not None else None
        try:
            created = ctx.maker.make_link_at(
                target, temp, allow_copy=False, real_folders=real_folders, target_id=target_id
            )
        except (OSError, ModelLibraryError) as exc:
            discard_temp(temp)
            message = exc.message if isinstance(exc, ModelLibraryError) else str(exc)
            ctx.tally.skip(state.path, f"no link can be made here ({message}); left as it is")
            break
        try:
            current = os.lstat(state.path)
        except OSError:
            current = None
        if current is None or not state.same_as(current):
            discard_temp(temp)
            if not records:  # no original points at the model yet: it may go
                _forget_if_shared(ctx, model, duplicate, unit)
            ctx.tally.skip(state.path, "changed during adoption; left as it is (run adopt again)")
            break
        try:
            ctx.maker.commit(temp, state.path)
        except (OSError, ModelLibraryError) as exc:
            discard_temp(temp)
            ctx.tally.fail(state.path, exc.message if isinstance(exc, ModelLibraryError) else str(exc))
            break
        folders.append(Path(state.path).parent)
        file_rel = _model_file_rel(model, unit, rel)
        records.append(
            LinkRecord(model.id, file_rel, state.path, created.kind, created.relative, str(target),
                       unit.folder, ctx.install.id, unit.category, created.inode, created.device, "adopt",
                       utcnow())
        )  # fmt: skip
    return records, folders


def _model_file_rel(model: Model, unit: AdoptUnit, rel: str) -> str:
    if unit.format == "single-file" and len(model.files) == 1:
        return model.files[0].path
    return rel


def changed_file(unit: AdoptUnit) -> str | None:
    for state, linked in zip(unit.files, unit.linked):
        try:
            st = os.lstat(state.path)
        except OSError:
            return state.path
        if not linked and not state.same_as(st):
            return state.path
    return None


def _forget_if_shared(ctx: AdoptContext, model: Model, duplicate: bool, unit: AdoptUnit) -> None:
    """A new model that still shares its inode with an original that changed holds changed bytes: the
    library must not keep it (its hash is wrong). It goes to the library's trash and out of the catalog."""
    if duplicate or ctx.registry.by_model(model.id):
        return
    folder = ctx.config.root.joinpath(*model.rel_dir.split("/"))
    for state in unit.files:
        try:
            st = os.lstat(state.path)
        except OSError:
            continue
        for f in model.files:
            try:
                lib = os.stat(folder.joinpath(*f.path.split("/")))
            except OSError:
                continue
            if (lib.st_ino, lib.st_dev) == (st.st_ino, st.st_dev):
                move_to_trash(folder, ctx.config.trash_dir, f"adopt-changed-{model.id}")
                ctx.repo.delete(model.id)
                return


def _freed(ctx: AdoptContext, unit: AdoptUnit, targets: list[Path]) -> int:
    """Bytes of a duplicate's originals no other name keeps (a hardlinked original is counted once)."""
    counted = ctx.counted_inodes if ctx.counted_inodes is not None else set()
    freed = 0
    for state, target, linked in zip(unit.files, targets, unit.linked):
        key = (state.device, state.inode)
        if linked or key in counted:
            continue
        counted.add(key)
        try:
            lib = os.stat(target)
        except OSError:
            continue
        if (lib.st_dev, lib.st_ino) != key:
            freed += state.size
    return freed


def recover_adopt(ctx: AdoptContext) -> None:
    """Finish what a killed run left: register originals already replaced by our link, drop temp names.

    Originals still regular files are left for this run's plan, which adopts them again (the library
    de-duplicates, so nothing is stored twice). A batch registers each group's links in the table before
    it writes the install's records files and deletes its rows (``batch.py``): a link the table has is
    kept if it is still ours and taken out if not, and the install's records are written from the table.
    """
    entries = ctx.journal.adopt_entries(ctx.install.id)
    if not entries:
        return
    registered = ctx.registry.find_many(
        [state.path for entry in entries if entry.step == "linking" for state in entry.record.files]
    )
    finished: list[LinkRecord] = []
    stale: list[str] = []
    keys: list[str] = []
    for entry in entries:
        records: list[LinkRecord] = []
        kept = 0
        data = entry.record
        model = ctx.repo.find(data.model_id) if entry.step == "linking" else None
        if model is not None:
            for state, target in zip(data.files, data.targets):
                row = registered.get(state.path)
                if row is not None and row.model_id == model.id and row.purpose == "adopt":
                    if ctx.maker.is_our_link(state.path, row.target, row.kind, row.inode, row.device):
                        kept += 1
                    else:
                        stale.append(state.path)
                elif ctx.maker.is_our_link(state.path, target, "symlink"):
                    relative = not os.path.isabs(os.readlink(state.path))
                    folder, category = _folder_of(data, state.path)
                    records.append(
                        LinkRecord(model.id, _rel_in_model(ctx.config, model, target), state.path, "symlink",
                                   relative, target, folder, ctx.install.id, category, None, None, "adopt",
                                   utcnow())
                    )  # fmt: skip
        for temp in data.temps:
            discard_temp(temp)
        finished += records
        keys.append(entry.key)
        done = len(records) + kept
        ctx.tally.recovered.append(
            f"{entry.key}: {done} link(s) finished" if done else f"{entry.key}: rolled back"
        )
    # One transaction for every row, and the install's records written once from the table (a batch
    # killed while linking leaves thousands of rows).
    with ctx.db.transaction():
        # A row registered here may have moved a path from another model's (or install's) records file.
        touched = ctx.registry.register_rows(finished) | ctx.registry.unregister_rows(stale)
        ctx.registry.save_install_records(ctx.install.id, also=touched)
        ctx.journal.adopts.delete_many(keys)


def _folder_of(data: AdoptRecord, path: str) -> tuple[str, str]:
    return data.folder or os.path.dirname(path), data.category


def _rel_in_model(config: LibraryConfig, model: Model, target: str) -> str:
    folder = config.root.joinpath(*model.rel_dir.split("/"))
    try:
        return Path(target).relative_to(folder).as_posix()
    except ValueError:
        return model.files[0].path
