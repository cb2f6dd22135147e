"""Adopting many small single-file units together: the steps of ``run.py``, each taken for the whole batch.

Per unit a small file's adoption costs far more than hashing it: a journal sync per step, a catalog
transaction, a folder fsync per link. A batch takes each step for all its units before the next step,
so each step's journal rows commit in one transaction and each folder is fsynced once:

1. one transaction writes every unit's journal row (``importing``);
2. one importer run stores them all (the importer commits small models as a group, ``importer/group.py``);
3. each library file is checked against its original; one transaction moves the rows to ``linking``
   (and deletes the rows of units left alone);
4. per original, a link is swapped over it; each folder holding originals is then fsynced once;
5. one transaction registers every link and deletes every row.

A crash at any point leaves, per unit, the row of the step it was in, exactly as a unit adopted alone
would: ``recover_adopt`` rolls back ``importing`` rows (the originals are untouched; their bytes in the
library are found again by BLAKE3 when adoption runs again) and finishes ``linking`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ModelLibraryError
from ..io.fileops import fsync_many
from ..links.platform import temp_name_for
from ..links.registry import LinkRecord
from ..models import ImportItem, Model
from .journal import AdoptRecord
from .plan import AdoptUnit
from .run import (
    AdoptContext,
    changed_file,
    count_adopted,
    imported,
    left_alone_if_changed,
    library_targets,
    link_files,
    verify,
)


@dataclass(frozen=True)
class _Ready:
    """A unit whose library file checked out, about to be linked."""

    unit: AdoptUnit
    record: AdoptRecord
    model: Model
    duplicate: bool
    targets: tuple[Path, ...]


def adopt_batch(ctx: AdoptContext, units: Sequence[AdoptUnit]) -> None:
    """Adopt ``units`` (small single-file units) as a batch; the report is tallied as for each alone."""
    live: list[AdoptUnit] = []
    for unit in units:
        changed = changed_file(unit)
        if changed is not None:
            ctx.tally.skip(changed, "changed since adoption was planned; left as it is (run adopt again)")
        else:
            live.append(unit)
    if not live:
        return
    records = {u.key: AdoptRecord(ctx.install.id, u.files, u.folder, u.category) for u in live}
    with ctx.db.transaction():
        for unit in live:
            ctx.journal.adopts.write(unit.key, "importing", records[unit.key])
    for unit in live:
        ctx.stage("importing", unit.key)
    items = _import_all(ctx, live)
    ready, dropped = _check_all(ctx, live, records, items)
    with ctx.db.transaction():
        for key in dropped:
            ctx.journal.adopts.delete(key)
        for r in ready:
            ctx.journal.adopts.write(r.unit.key, "linking", r.record)
    for r in ready:
        ctx.stage("linking", r.unit.key)
    linked: list[tuple[_Ready, list[LinkRecord]]] = []
    folders: list[Path] = []
    for r in ready:
        if left_alone_if_changed(ctx, r.unit, r.model, r.duplicate):
            continue
        made, where = link_files(ctx, r.unit, r.model, list(r.targets), list(r.record.temps))
        linked.append((r, made))
        folders += where
    # Every swap durable before the catalog says the original is a link of ours.
    fsync_many(dirs=folders)
    with ctx.db.transaction():
        ctx.registry.register_many([rec for _r, made in linked for rec in made])
        for r, _made in linked:
            ctx.journal.adopts.delete(r.unit.key)
    for r, made in linked:
        count_adopted(ctx, r.unit, made, r.duplicate, list(r.targets))


def _import_all(ctx: AdoptContext, units: list[AdoptUnit]) -> dict[str, list[ImportItem]]:
    """What the importer answered for each unit's path (one run for the batch)."""
    try:
        items = ctx.importer.run(
            [u.import_path for u in units],
            hardlink=True,
            allow_pickle=True,
            origin_kind="adopt",
            cancelled=ctx.cancelled,
        )
    except ModelLibraryError as exc:
        for unit in units:
            ctx.tally.fail(unit.key, exc.message)
        return {}
    by_path: dict[str, list[ImportItem]] = {}
    for item in items:
        by_path.setdefault(item.source_path, []).append(item)
    return {u.key: by_path.get(u.import_path, []) for u in units}


def _check_all(
    ctx: AdoptContext,
    units: list[AdoptUnit],
    records: dict[str, AdoptRecord],
    items: dict[str, list[ImportItem]],
) -> tuple[list[_Ready], list[str]]:
    """The units ready to be linked, and the keys of those left alone (their reason tallied)."""
    ready: list[_Ready] = []
    dropped: list[str] = []
    for unit in units:
        if unit.key not in items:  # the importer failed as a whole: tallied already
            dropped.append(unit.key)
            continue
        item = imported(ctx, unit, items[unit.key])
        if item is None or item.model is None:
            dropped.append(unit.key)
            continue
        model, duplicate = item.model, item.status == "duplicate"
        if changed_file(unit) is not None:
            left_alone_if_changed(ctx, unit, model, duplicate)  # tallies and deletes its row
            continue
        try:
            targets = library_targets(ctx.config, model, unit)
            verify(unit, targets, model)
        except ModelLibraryError as exc:
            dropped.append(unit.key)
            ctx.tally.fail(unit.key, exc.message)
            continue
        temps = tuple(temp_name_for(f.path) for f in unit.files)
        record = replace(records[unit.key], model_id=model.id, targets=tuple(str(t) for t in targets),
                         temps=temps)  # fmt: skip
        ready.append(_Ready(unit, record, model, duplicate, tuple(targets)))
    return ready, dropped
