"""Giving an install back: a real file at every original path, for one install, crash-safe.

Per adopt link: the journal row (``adopt-undo``) names the temp name first; a hardlink to the library
file is made there where the volume allows (O(1)), else a copy checked against the catalog's BLAKE3; it
replaces the path with ``os.replace`` only while the path is still our link; the link is unregistered and
the row deleted in one transaction. A link the user replaced or removed is forgotten and left alone.
The library keeps its copy: other installs may link to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog.db import Database
from ..catalog.store import CatalogStore
from ..config import LibraryConfig
from ..errors import ModelLibraryError
from ..io.copying import copy_and_hash
from ..io.fileops import fsync_dir, open_source
from ..links.platform import LinkMaker, temp_name_for
from ..links.registry import LinkRecord, LinkRegistry
from .journal import AdoptJournal, UndoRecord, discard_temp
from .report import Tally

StageFn = Callable[[str, str], None]


@dataclass
class UndoContext:
    config: LibraryConfig
    db: Database
    repo: CatalogStore[Any]
    registry: LinkRegistry
    maker: LinkMaker
    journal: AdoptJournal
    install_id: str
    tally: Tally
    stage: StageFn


def recover_undo(ctx: UndoContext) -> None:
    """Finish restores a killed run left: a path no longer our link was replaced (forget the link); one
    still our link was not (its temp name goes; the restore runs again)."""
    for entry in ctx.journal.undo_entries(ctx.install_id):
        path, temp = entry.record.path or entry.key, entry.record.temp
        record = ctx.registry.find(path)
        still_ours = record is not None and ctx.maker.is_our_link(path, record.target, record.kind,
                                                                  record.inode, record.device)  # fmt: skip
        if temp:
            discard_temp(temp)
        with ctx.db.transaction():
            if record is not None and not still_ours:
                ctx.registry.unregister(path)
            ctx.journal.undos.delete(entry.key)
        ctx.tally.recovered.append(f"{path}: {'restore redone' if still_ours else 'restore finished'}")


def library_file(ctx: UndoContext, record: LinkRecord) -> tuple[Path, str]:
    """The library file a link stands for now (the model may have been renamed since) and its BLAKE3."""
    model = ctx.repo.find(record.model_id)
    if model is not None and model.location == "library":
        for f in model.files:
            if f.path == record.file_path:
                return ctx.config.root.joinpath(*model.rel_dir.split("/"), *f.path.split("/")), f.blake3
    return Path(record.target), ""


def restore_link(ctx: UndoContext, record: LinkRecord) -> None:
    """Put a real file back at ``record.link_path`` (see the module docstring); updates ``ctx.tally``."""
    path = record.link_path
    tally = ctx.tally
    target, blake3 = library_file(ctx, record)
    if not ctx.maker.exists(path):
        ctx.registry.unregister(path)
        tally.skip(path, "the link was removed since adoption; nothing was put back")
        return
    ours = ctx.maker.is_our_link(path, target, record.kind, record.inode, record.device) or (
        ctx.maker.is_our_link(path, record.target, record.kind, record.inode, record.device)
    )
    if not ours:
        ctx.registry.unregister(path)
        tally.skip(path, "no longer the link adoption made (replaced since); left as it is")
        return
    if record.kind != "symlink":
        # A hardlink is a real file already, with the library's bytes: nothing to put back.
        ctx.registry.unregister(path)
        tally.restored_by_hardlink += 1
        return
    if not os.path.isfile(target):
        tally.fail(path, f"the library file {target} is missing; run `model-library health --repair` first")
        return
    temp = temp_name_for(path)
    ctx.journal.undos.write(path, "restoring", UndoRecord(ctx.install_id, path, temp))
    ctx.stage("restoring", path)
    try:
        how = _place_copy(target, temp, blake3)
        if not ctx.maker.is_our_link(path, record.target, "symlink") and not ctx.maker.is_our_link(
            path, target, "symlink"
        ):
            discard_temp(temp)
            ctx.journal.undos.delete(path)
            tally.skip(path, "changed during undo; left as it is")
            return
        ctx.maker.commit(temp, path)
        fsync_dir(Path(path).parent)
    except (OSError, ModelLibraryError) as exc:
        discard_temp(temp)
        ctx.journal.undos.delete(path)
        tally.fail(path, exc.message if isinstance(exc, ModelLibraryError) else f"{path}: {exc}")
        return
    with ctx.db.transaction():
        ctx.registry.unregister(path)
        ctx.journal.undos.delete(path)
    ctx.stage("restored", path)
    if how == "hardlink":
        tally.restored_by_hardlink += 1
    else:
        tally.restored_by_copy += 1


def _place_copy(target: Path, temp: str, blake3: str) -> str:
    """A real file at ``temp`` with the library file's bytes: a hardlink (O(1)) or a verified copy."""
    try:
        os.link(target, temp, follow_symlinks=False)
        return "hardlink"
    except OSError:
        pass  # another volume, or no hardlinks there: copy
    fd, st = open_source(target)
    try:
        digests = copy_and_hash(fd, st, Path(temp), src_path=target)
    finally:
        os.close(fd)
    if blake3 and digests.blake3 != blake3:
        discard_temp(temp)
        raise ModelLibraryError(
            f"the library file {target} does not match its catalog hash; nothing was put back. "
            "Run `model-library health` to check the library."
        )
    return "copy"
