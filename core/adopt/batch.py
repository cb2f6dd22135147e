"""Adopting many small single-file units together: the steps of ``run.py``, each taken for many units.

Per unit a small file's adoption costs far more than hashing it: a journal sync per step, a catalog
transaction, a folder fsync per link. A batch takes each step for many units before the next step,
so each step's journal rows commit in one transaction and each folder is fsynced once:

1. one transaction writes every unit's journal row (``importing``);
2. one importer run stores them all, committing them in groups (``importer/group.py``); as each group is
   committed, while the next one is hashed (``importer/group_run.py``), its units take steps 3-4:
3. each library file is checked against its original; one transaction moves the rows to ``linking``
   (and deletes the rows of units left alone);
4. per original, a link is swapped over it; each folder holding originals is then fsynced once;
5. once every group is linked, one transaction registers every link and deletes every row (a unit
   linked but not registered yet is a ``linking`` row, which recovery finishes).

So at any moment some units of a batch may be linked and others still ``importing``. A crash at any
point leaves, per unit, the row of the step it was in, exactly as a unit adopted alone would:
``recover_adopt`` rolls back ``importing`` rows (the originals are untouched; their bytes in the library
are found again by BLAKE3 when adoption runs again) and finishes ``linking`` rows.
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

# A batch ends at this many units or bytes: its journal rows, links and link records are written in one
# transaction each. The importer commits a batch in smaller groups, each staged while the one before it
# commits (``importer/group_run.py``).
BATCH_MODELS = 1024
BATCH_BYTES = 1 << 30


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
    ctx.journal.adopts.write_many((u.key, "importing", records[u.key]) for u in live)
    for unit in live:
        ctx.stage("importing", unit.key)
    waiting = {u.import_path: u for u in live}
    linked: list[tuple[_Ready, list[LinkRecord]]] = []

    def committed(items: list[ImportItem]) -> None:
        """Steps 3-5 for the units of a group the importer just committed (the next group stages)."""
        by_path: dict[str, list[ImportItem]] = {}
        for item in items:
            by_path.setdefault(item.source_path, []).append(item)
        done = [waiting.pop(path) for path in by_path if path in waiting]
        linked.extend(_link_all(ctx, done, records, {u.key: by_path[u.import_path] for u in done}))

    try:
        ctx.importer.run(
            [u.import_path for u in live],
            hardlink=True,
            allow_pickle=True,
            origin_kind="adopt",
            cancelled=ctx.cancelled,
            on_items=committed,
        )
    except ModelLibraryError as exc:
        for unit in waiting.values():
            ctx.tally.fail(unit.key, exc.message)
        _link_all(ctx, [], records, {}, dropped=[u.key for u in waiting.values()])
    else:
        rest = list(waiting.values())
        if rest:  # units the importer gave no item for: ``imported`` reports them
            _link_all(ctx, rest, records, {u.key: [] for u in rest})
    # Step 5 once for the batch: the link records are rewritten once, however many groups linked.
    with ctx.db.transaction():
        ctx.registry.register_many([rec for _r, made in linked for rec in made])
        ctx.journal.adopts.delete_many(r.unit.key for r, _made in linked)
    for r, made in linked:
        count_adopted(ctx, r.unit, made, r.duplicate, list(r.targets))


def _link_all(
    ctx: AdoptContext,
    units: list[AdoptUnit],
    records: dict[str, AdoptRecord],
    items: dict[str, list[ImportItem]],
    dropped: Sequence[str] = (),
) -> list[tuple[_Ready, list[LinkRecord]]]:
    """Steps 3-4 for ``units`` (the importer's ``items`` for each): check, link, sync; the links made, to
    register. ``dropped``: keys of units that failed as a whole, whose rows go in the first transaction."""
    ready, left = _check_all(ctx, units, records, items)
    with ctx.db.transaction():
        ctx.journal.adopts.delete_many([*dropped, *left])
        ctx.journal.adopts.write_many((r.unit.key, "linking", r.record) for r in ready)
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
    if folders:
        fsync_many(dirs=folders)
    return linked


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
