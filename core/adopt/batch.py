"""Adopting many small single-file units together: the steps of ``run.py``, each taken for many units.

Per unit a small file's adoption costs far more than hashing it: a journal sync per step, a catalog
transaction, a folder fsync per link. Units are therefore taken in batches (``BATCH_MODELS``), and each
step is taken for many units before the next step, so each step's journal rows commit in one transaction
and each folder is fsynced once. Consecutive batches go through one importer run, which commits them in
groups (``importer/group.py``), each hashed while the one before it commits (``importer/group_run.py``):

1. as a group is about to be staged, one transaction writes its units' journal rows (``importing``);
2. the importer stores the group; as soon as it is committed, while the next group is hashed, its units
   take steps 3-5:
3. each library file is checked against its original; one transaction moves the rows to ``linking``
   (and deletes the rows of units left alone);
4. per original, a link is swapped over it; each folder holding originals is then fsynced once;
5. one transaction registers the group's links in the table (their rows stay ``linking``);
6. once every unit of a batch is linked (or left alone), one transaction writes the install's link
   records (256 shard files holding every link of the install: written once a batch, not once a group)
   and deletes the batch's rows. A unit linked but not finished yet is a ``linking`` row, which recovery
   finishes: it keeps a registered link still ours, takes out one that is not, and writes the records.

So at any moment some units may be linked and others still ``importing`` or not begun. A crash at any
point leaves, per unit, the row of the step it was in, exactly as a unit adopted alone would:
``recover_adopt`` rolls back ``importing`` rows (the originals are untouched; their bytes in the library
are found again by BLAKE3 when adoption runs again) and finishes ``linking`` rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ModelLibraryError
from ..io.fileops import fsync_many
from ..links.platform import temp_name_for
from ..links.registry import LinkRecord, RecordsKey
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

log = logging.getLogger(__name__)

# A batch ends at this many units or bytes: the install's link records are written then (256 shard files
# holding every link of the install so far, so writing them for N links in batches of B writes about
# N*N/2B entries: 55,000 for 10,000 links in batches of 1,024; about 0.2 s for each write at 10,000
# links). Until then a linked unit's links are in the table and its row is ``linking``, which recovery
# finishes (all rows in one transaction). The importer commits batches in smaller groups
# (``importer/group.py``).
BATCH_MODELS = 16384
BATCH_BYTES = 16 << 30


@dataclass(frozen=True)
class _Ready:
    """A unit whose library file checked out, about to be linked."""

    unit: AdoptUnit
    record: AdoptRecord
    model: Model
    duplicate: bool
    targets: tuple[Path, ...]
    ids: list[tuple[int, int]]  # each library file's (st_dev, st_ino), as ``verify`` found them


@dataclass(frozen=True)
class _Linked:
    """A unit whose links were made, until its batch registers them: what the report needs of it (not
    its model, which would otherwise live, and be scanned by the garbage collector, until then)."""

    unit: AdoptUnit
    duplicate: bool
    targets: tuple[Path, ...]
    device: int
    links: list[LinkRecord]


Linked = list[_Linked]


def adopt_batches(ctx: AdoptContext, batches: Sequence[Sequence[AdoptUnit]], *, fresh: bool = False) -> None:
    """Adopt consecutive ``batches`` of small single-file units in one importer run; the report is
    tallied as for each unit alone. ``fresh``: planned just before (each file stat'd a moment ago), so
    not checked again before staging (10,000 stats); each is still checked before its link replaces it,
    and one changed in between is left alone (its new model forgotten)."""
    live: list[AdoptUnit] = []
    batch_of: dict[str, int] = {}
    for number, units in enumerate(batches):
        for unit in units:
            changed = None if fresh else changed_file(unit)
            if changed is not None:
                ctx.tally.skip(changed, "changed since adoption was planned; left as it is (run adopt again)")
            else:
                live.append(unit)
                batch_of[unit.key] = number
    if not live:
        return
    records = {u.key: AdoptRecord(ctx.install.id, u.files, u.folder, u.category) for u in live}
    by_path = {u.import_path: u for u in live}
    waiting = dict(by_path)  # units the importer has not answered for yet
    unsettled = [0] * len(batches)  # per batch, its units not linked or left alone yet
    for unit in live:
        unsettled[batch_of[unit.key]] += 1
    linked: list[Linked] = [[] for _ in batches]  # per batch, units whose links are in the table
    shards: list[set[RecordsKey]] = [set() for _ in batches]  # per batch, records files to write

    def staging(paths: list[str]) -> None:
        """Step 1 for a group about to be staged."""
        units = [by_path[p] for p in paths if p in by_path]
        ctx.journal.adopts.write_many((u.key, "importing", records[u.key]) for u in units)
        for unit in units:
            ctx.stage("importing", unit.key)

    def settled(units: list[AdoptUnit], made: Linked) -> None:
        """Units linked or left alone: their links go in the table (step 5); a batch all of whose units
        are settled takes step 6."""
        by_batch: dict[int, Linked] = {}
        for done in made:
            by_batch.setdefault(batch_of[done.unit.key], []).append(done)
        if by_batch:
            with ctx.db.transaction():
                for number, done_here in by_batch.items():
                    shards[number] |= ctx.registry.register_rows([r for u in done_here for r in u.links])
            for number, done_here in by_batch.items():
                linked[number] += done_here
                for u in done_here:
                    count_adopted(ctx, u.unit, u.links, u.duplicate, list(u.targets), u.device)
        for unit in units:
            number = batch_of[unit.key]
            unsettled[number] -= 1
            if not unsettled[number]:
                _finish(ctx, linked[number], shards[number])
                linked[number], shards[number] = [], set()

    def committed(items: list[ImportItem]) -> None:
        """Steps 3-6 for the units of a group the importer just committed (the next group stages)."""
        answers: dict[str, list[ImportItem]] = {}
        for item in items:
            answers.setdefault(item.source_path, []).append(item)
        done = [waiting.pop(path) for path in answers if path in waiting]
        settled(done, _link_all(ctx, done, records, {u.key: answers[u.import_path] for u in done}))

    def finish_linked() -> None:
        """Step 6 for every batch whose links are in the table, whatever stopped the run."""
        for number, done in enumerate(linked):
            if done:
                _finish(ctx, done, shards[number])
                linked[number], shards[number] = [], set()

    plans = [u.planned for u in live if u.planned is not None]
    try:
        ctx.importer.run(
            [u.import_path for u in live],
            planned=plans if len(plans) == len(live) else None,  # planned already: not planned again
            hardlink=True,
            allow_pickle=True,
            origin_kind="adopt",
            cancelled=ctx.cancelled,
            on_items=committed,
            on_stage=staging,
        )
    except ModelLibraryError as exc:
        rest = list(waiting.values())
        for unit in rest:
            ctx.tally.fail(unit.key, exc.message)
        _link_all(ctx, [], records, {}, dropped=[u.key for u in rest])
        finish_linked()  # linked and registered before the error
    except BaseException:
        # Interrupted, or a failure no step reported as the library's: what is in the table goes in the
        # records files too (the rest is ``importing`` or ``linking`` rows, which recovery finishes).
        try:
            finish_linked()
        except Exception:  # the first error is the one to raise; recovery finishes these
            log.warning("model library: an interrupted adoption's links are left to recovery", exc_info=True)
        raise
    else:
        rest = list(waiting.values())
        if rest:  # units the importer gave no item for: ``imported`` reports them
            settled(rest, _link_all(ctx, rest, records, {u.key: [] for u in rest}))


def _finish(ctx: AdoptContext, units: Linked, shards: set[RecordsKey]) -> None:
    """Step 6 for a batch whose links are in the table: the install's records files holding them are
    written and the units' rows deleted, in one transaction (until then recovery registers them again
    from their ``linking`` rows and writes the install's records)."""
    if not units:
        return
    with ctx.db.transaction():
        ctx.registry.save_records_of(shards)
        ctx.journal.adopts.delete_many(u.unit.key for u in units)


def _link_all(
    ctx: AdoptContext,
    units: list[AdoptUnit],
    records: dict[str, AdoptRecord],
    items: dict[str, list[ImportItem]],
    dropped: Sequence[str] = (),
) -> Linked:
    """Steps 3-4 for ``units`` (the importer's ``items`` for each): check, link, sync; the links made, to
    register. ``dropped``: keys of units that failed as a whole, whose rows go in the first transaction."""
    ready, left = _check_all(ctx, units, records, items)
    with ctx.db.transaction():
        ctx.journal.adopts.delete_many([*dropped, *left])
        ctx.journal.adopts.write_many((r.unit.key, "linking", r.record) for r in ready)
    for r in ready:
        ctx.stage("linking", r.unit.key)
    linked: Linked = []
    folders: list[Path] = []
    real_folders: dict[str, str] = {}  # a group's originals lie in a few folders: each resolved once
    for r in ready:
        # Checked just before its link replaces it (``link_files``), as a moment ago in ``_check_all``.
        made, where = link_files(
            ctx, r.unit, r.model, list(r.targets), list(r.record.temps), real_folders,
            duplicate=r.duplicate, target_ids=r.ids,
        )  # fmt: skip
        linked.append(_Linked(r.unit, r.duplicate, r.targets, r.ids[0][0], made))
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
            ids = verify(unit, targets, model)
        except ModelLibraryError as exc:
            dropped.append(unit.key)
            ctx.tally.fail(unit.key, exc.message)
            continue
        temps = tuple(temp_name_for(f.path) for f in unit.files)
        record = replace(records.pop(unit.key), model_id=model.id, targets=tuple(str(t) for t in targets),
                         temps=temps)  # fmt: skip
        ready.append(_Ready(unit, record, model, duplicate, tuple(targets), ids))
    return ready, dropped
