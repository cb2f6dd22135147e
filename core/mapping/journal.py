"""The mapping journal (op ``map_apply``): what an apply or a removal in flight may leave half done.

Two records, named and versioned (see ``catalog/journal.py``):

* ``LinkBatch`` (step ``pending`` then ``registered``): one batch of links being made, each a
  ``PendingLink`` (temp name, final name, target, and the old link a retarget may replace);
* ``LinkRemoval`` (step ``removing``): the links being removed.

Version 1 (written before records had versions) held each link as a positional list ``[temp, final,
target, replace, old, at_final]`` (the last two absent in older rows, ``old`` a list ``[target, kind,
inode, device]``); ``from_json`` still reads it, so ``resume_pending`` recovers a crash left by it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..catalog.db import Database
from ..catalog.journal import JournalTable, flag, header, objects, opt_int, record_version, text, texts
from ..links.platform import LinkMaker, default_maker, inside_root
from ..links.registry import LinkRegistry
from ..records.kinds import RecordError

JOURNAL_OP = "map_apply"


@dataclass(frozen=True)
class OldLink:
    """Our registered link that a retarget replaces: only this may be replaced at the final name."""

    target: str
    kind: str
    inode: int | None = None
    device: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "kind": self.kind, "inode": self.inode, "device": self.device}

    @classmethod
    def from_json(cls, d: Any) -> OldLink:
        if isinstance(d, list):  # version 1: [target, kind, inode, device]
            if len(d) != 4:
                raise RecordError("'old' must hold target, kind, inode and device")
            d = dict(zip(("target", "kind", "inode", "device"), d))
        if not isinstance(d, dict):
            raise RecordError("'old' must be an object or null")
        return cls(text(d, "target"), text(d, "kind"), opt_int(d.get("inode"), "inode"),
                   opt_int(d.get("device"), "device"))  # fmt: skip


@dataclass(frozen=True)
class PendingLink:
    temp: str  # where the link is made first; the final name itself when ``at_final``
    final: str
    target: str
    replace: bool = False
    old: OldLink | None = None
    at_final: bool = False  # made right at its final name (it was free): no temp name to rename

    def to_json(self) -> dict[str, Any]:
        """Fields at their default are left out (a batch holds up to 1000 links, written twice)."""
        d: dict[str, Any] = {"temp": self.temp, "final": self.final, "target": self.target}
        if self.replace:
            d["replace"] = True
        if self.old is not None:
            d["old"] = self.old.to_json()
        if self.at_final:
            d["at_final"] = True
        return d

    @classmethod
    def from_json(cls, d: Any) -> PendingLink:
        if isinstance(d, list):  # version 1: [temp, final, target, replace, old, at_final]
            if len(d) < 3:
                raise RecordError("a link must name its temp name, final name and target")
            d = dict(zip(("temp", "final", "target", "replace", "old", "at_final"), d))
        if not isinstance(d, dict):
            raise RecordError("a link must be an object")
        old = d.get("old")
        return cls(
            text(d, "temp"),
            text(d, "final"),
            text(d, "target"),
            flag(d.get("replace", False), "replace"),
            OldLink.from_json(old) if old is not None else None,
            flag(d.get("at_final", False), "at_final"),
        )


@dataclass(frozen=True)
class LinkBatch:
    RECORD: ClassVar[str] = "map-links"
    VERSION: ClassVar[int] = 2
    app_id: str
    link_root: str
    items: tuple[PendingLink, ...]

    def to_json(self) -> dict[str, Any]:
        return {**header(self), "app_id": self.app_id, "link_root": self.link_root,
                "items": [i.to_json() for i in self.items]}  # fmt: skip

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LinkBatch:
        record_version(d, cls.RECORD, cls.VERSION)
        items = tuple(PendingLink.from_json(i) for i in objects(d, "items"))
        return cls(text(d, "app_id", ""), text(d, "link_root", ""), items)


@dataclass(frozen=True)
class LinkRemoval:
    RECORD: ClassVar[str] = "map-removal"
    VERSION: ClassVar[int] = 2
    paths: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {**header(self), "paths": list(self.paths)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LinkRemoval:
        record_version(d, cls.RECORD, cls.VERSION)
        return cls(texts(d, "paths"))


def read_record(d: Mapping[str, Any]) -> LinkBatch | LinkRemoval:
    """Either record; version 1 rows tell them apart by shape (a removal lists ``paths``)."""
    if d.get("record") == LinkRemoval.RECORD or ("record" not in d and "paths" in d):
        return LinkRemoval.from_json(d)
    return LinkBatch.from_json(d)


def mapping_journal(db: Database) -> JournalTable:
    return JournalTable(db, JOURNAL_OP)


def pending_journal_count(db: Database) -> int:
    return mapping_journal(db).count()


def resume_pending(db: Database, maker: LinkMaker | None = None) -> dict[str, int]:
    """Finish or roll back applies interrupted by a crash. -> counts of finished and rolled-back links."""
    maker = maker or default_maker()
    registry = LinkRegistry(db)
    journal = mapping_journal(db)
    counts = {"finished": 0, "rolled_back": 0, "dropped": 0}
    for entry in journal.entries(read_record):
        record = entry.record
        lost: list[str] = []
        if isinstance(record, LinkRemoval):  # an interrupted removal: finish it
            for path in record.paths:
                found = registry.find(path)
                if found is not None:
                    if inside_root(path, found.link_root):
                        maker.remove_link(path, found.target, found.kind, found.inode, found.device)
                    lost.append(path)
                    counts["finished"] += 1
        else:
            for item in record.items:
                _resume_link(item, entry.step == "registered", maker, registry, lost, counts)
        with db.transaction():
            registry.unregister_many(lost)
            journal.delete(entry.key)
    return counts


def _resume_link(
    item: PendingLink,
    registered: bool,
    maker: LinkMaker,
    registry: LinkRegistry,
    lost: list[str],
    counts: dict[str, int],
) -> None:
    if item.at_final:
        if not registered and made_by_us(maker, item.final, item.target):
            os.unlink(item.final)  # never registered: roll it back
            counts["rolled_back"] += 1
        return
    temp_path, final_path = Path(item.temp), Path(item.final)
    temp_there = _is_temp_link(temp_path)
    if not registered:
        if temp_there:
            maker.discard_temp(temp_path)
            counts["rolled_back"] += 1
        return
    record = registry.find(item.final)
    if record is None:
        if temp_there:
            maker.discard_temp(temp_path)
        return
    final_ours = maker.is_our_link(final_path, Path(item.target), record.kind, record.inode, record.device)
    if temp_there and (
        final_ours or not os.path.lexists(final_path) or replaceable(maker, item.final, item.old)
    ):
        maker.commit(temp_path, final_path)
        counts["finished"] += 1
    elif not final_ours:
        if temp_there:
            maker.discard_temp(temp_path)
        lost.append(item.final)
        counts["dropped"] += 1


def made_by_us(maker: LinkMaker, path: str, target: str) -> bool:
    """An unregistered link at ``path`` is ours to roll back only if it is a symlink to ``target`` or a
    hardlink of it (the fallback where symlinks are refused)."""
    if maker.is_our_link(Path(path), Path(target), "symlink"):
        return True
    try:
        st, tt = os.lstat(path), os.stat(target)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and (st.st_ino, st.st_dev) == (tt.st_ino, tt.st_dev)


def replaceable(maker: LinkMaker, path: str, old: OldLink | None) -> bool:
    """Only our own old link (the registered one a retarget replaces) may be replaced: never a file or
    link the user put at that name meanwhile (THREATS #6)."""
    if old is None:
        return False
    return maker.is_our_link(Path(path), Path(old.target), old.kind, old.inode, old.device)


def _is_temp_link(path: Path) -> bool:
    """A temp name recorded in our journal holds our link (or copy), never a folder."""
    if os.path.islink(path):
        return True
    return os.path.lexists(path) and not os.path.isdir(path)
