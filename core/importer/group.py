"""Group commit: many small models committed together, each as crash-safe as one committed alone.

A small model's commit costs far more than hashing it (a journal sync, a catalog transaction, a lock,
a few folder fsyncs each). Small models are therefore staged inside one locked group folder and
committed in one go, in the order of ``commit.py``, each step durable for the whole group before the
next one starts:

1. every new model's ``metadata.json`` is written into its stage; the sidecars and the folders holding
   them are fsynced together (``fsync_many``);
2. one transaction writes every model's ``Placing`` row (op ``import-group``);
3. each staged folder is renamed into ``models/``; each folder a rename touched is fsynced once;
4. one transaction adds every model to the catalog and deletes the rows.

A crash anywhere leaves what a crash of one model's commit leaves, per model: recovery commits a placed
folder from its ``metadata.json`` and discards a stage that was not placed (the group folder holds only
copies and hard links of ours; moves are never grouped). Models the catalog knows already, the second of
two identical models and a name another process took meanwhile go through the one-model commit after
the group's, so the first given still names the model.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog.db import Database
from ..catalog.journal import JournalTable
from ..catalog.sidecar import SIDECAR_NAME, sidecar_bytes
from ..catalog.store import CatalogStore
from ..errors import Conflict, ModelLibraryError
from ..io.fileops import O_BINARY, O_CLOEXEC, fsync_many
from ..models import ImportItem, Model, ModelSource, utcnow
from .commit import CommitResult, commit_staged, lost_race, new_model, placing_journal, placing_of
from .plan import PlannedModel
from .stage import StagedModel, undo_stage

# A model this size or larger commits alone: reading it costs far more than its commit.
GROUP_MODEL_BYTES = 64 << 20
# A group ends at this many models or bytes: a crash redoes at most one group's work, its rows and
# folders stay few enough for one transaction, and a run of many small models is several groups, each
# staged while the one before it commits (``group_run.py``).
GROUP_MAX_MODELS = 256
GROUP_MAX_BYTES = 256 << 20


StageOne = Callable[[PlannedModel, Path], StagedModel]  # stages a model inside the given group folder


def segments(
    sizes: Sequence[int], *, move: bool, max_models: int = 0, max_bytes: int = 0
) -> Iterator[tuple[bool, range]]:
    """The models (by index, in the order given) split into groups and runs committed one at a time.

    Consecutive small models form groups of at most ``max_models`` models and about ``max_bytes`` bytes
    (``GROUP_MAX_MODELS``, ``GROUP_MAX_BYTES`` when not given); a large model, a lone small one and every
    moved one commit alone as before (a move is journalled per stage)."""
    max_models = max_models or GROUP_MAX_MODELS
    max_bytes = max_bytes or GROUP_MAX_BYTES
    i, n = 0, len(sizes)
    while i < n:
        j = i
        while j < n and not move and sizes[j] < GROUP_MODEL_BYTES:
            j += 1
        if j - i >= 2:
            start, total = i, 0
            for k in range(i, j):
                if k > start and (k - start >= max_models or total + sizes[k] > max_bytes):
                    yield True, range(start, k)
                    start, total = k, 0
                total += sizes[k]
            yield (j - start >= 2), range(start, j)
            i = j
            continue
        j = max(j, i + 1)
        while j < n and (move or sizes[j] >= GROUP_MODEL_BYTES):
            j += 1
        yield False, range(i, j)
        i = j


def failed_item(plan: PlannedModel, exc: ModelLibraryError | OSError) -> ImportItem:
    """The failed item of one model, as the one-model import reports it."""
    if isinstance(exc, ModelLibraryError):
        return ImportItem(str(plan.origin), "failed", error=exc.message, error_code=exc.code)
    return ImportItem(
        str(plan.origin),
        "failed",
        # The path the OS named, which may be the library's own (not always the source's).
        error=f"{exc.filename or plan.origin}: {exc.strerror or exc}; nothing was imported.",
        error_code="storage_error",
    )


def pickle_refused(plan: PlannedModel) -> ImportItem:
    return ImportItem(
        str(plan.origin),
        "failed",
        error=(
            f"{plan.origin.name} is a pickle-format model, which can run code when loaded. "
            "Confirm the import explicitly (allow_pickle) if you trust its origin."
        ),
        error_code="pickle_needs_confirmation",
    )


@dataclass(frozen=True)
class GroupTarget:
    """Where a group commits to, and what its models record about where they came from."""

    library_root: Path
    db: Database
    repo: CatalogStore[Any]
    trash_dir: Path
    origin_kind: str
    source: ModelSource | None


@dataclass
class _Placed:
    index: int
    staged: StagedModel
    model: Model
    final: Path = field(default_factory=Path)


def commit_group(staged: Sequence[StagedModel], target: GroupTarget) -> list[CommitResult | BaseException]:
    """Commit ``staged`` (all stages of one group) in order; each model's result or its error."""
    results: list[CommitResult | BaseException | None] = [None] * len(staged)
    fresh: list[_Placed] = []
    later: list[int] = []
    seen: set[str] = set()
    known = target.repo.by_blake3_many([s.hashes.blake3 for s in staged])  # one query for the group
    for i, s in enumerate(staged):
        digest = s.hashes.blake3
        if digest in seen or digest in known:
            later.append(i)
        else:
            seen.add(digest)
            fresh.append(_Placed(i, s, new_model(s, None, target.source)))
    if fresh:
        try:
            placed, clashed = _place_all(fresh, target, results)
        except BaseException as exc:  # before any rename: every stage is still whole
            for p in fresh:
                _undo(p.staged)
                results[p.index] = exc
            placed, clashed = [], []
        later = sorted(later + clashed)
        for p, outcome in zip(placed, _register_all(placed, target)):
            results[p.index] = outcome
    for i in later:  # the one-model commit: duplicates, attachments, a name taken meanwhile
        try:
            results[i] = commit_staged(
                staged[i], library_root=target.library_root, db=target.db, repo=target.repo,
                trash_dir=target.trash_dir, origin_kind=target.origin_kind, source=target.source,
            )  # fmt: skip
        except BaseException as exc:
            _undo(staged[i])
            results[i] = exc
    return [r if r is not None else RuntimeError("not committed") for r in results]


def _place_all(
    fresh: list[_Placed], target: GroupTarget, results: list[CommitResult | BaseException | None]
) -> tuple[list[_Placed], list[int]]:
    """Steps 1-3. Returns the models placed and the indexes of those whose folder name was taken
    meanwhile (by another process), which the caller commits one at a time; a model that cannot be
    placed gets its error in ``results``."""
    claimed: set[str] = set()
    for p in fresh:
        p.model = p.model.replace(rel_dir=_free_name(target.library_root, p.model.rel_dir, claimed))
        p.final = target.library_root / p.model.rel_dir
        origin = [(str(p.staged.plan.origin), target.origin_kind, utcnow())]
        _write_new(p.staged.files_dir / SIDECAR_NAME, sidecar_bytes(p.model, origins=origin))
    fsync_many(
        files=[p.staged.files_dir / SIDECAR_NAME for p in fresh], dirs=[p.staged.files_dir for p in fresh]
    )
    with target.db.transaction():
        for journal, some in _journals(target.db, fresh):
            journal.write_many(
                (p.staged.stage_dir.name, "placing", placing_of(p.staged, p.model.rel_dir)) for p in some
            )
    placed: list[_Placed] = []
    clashed: list[int] = []
    made: set[Path] = set()
    for p in fresh:
        try:
            if p.final.parent not in made:  # a group's models share a few type/base folders
                p.final.parent.mkdir(parents=True, exist_ok=True)
                made.add(p.final.parent)
            os.rename(p.staged.files_dir, p.final)
        except OSError as exc:
            placing_journal(target.db, p.staged).delete(p.staged.stage_dir.name)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                clashed.append(p.index)  # another process took the name: the one-model commit picks anew
            else:
                _undo(p.staged)
                results[p.index] = exc
            continue
        placed.append(p)
    # Every rename durable before the catalog names the folder (one fsync per folder, not per model).
    fsync_many(dirs=[*(p.final.parent for p in placed), *(p.staged.files_dir.parent for p in placed)])
    return placed, clashed


def _register_all(placed: list[_Placed], target: GroupTarget) -> list[CommitResult | BaseException]:
    """Step 4: one transaction for the group; a model another process added meanwhile makes it fall back
    to one transaction per model, so only that one loses the race."""
    if not placed:
        return []
    db, repo = target.db, target.repo
    try:
        with db.transaction():
            origins = {
                p.model.id: [(str(p.staged.plan.origin), target.origin_kind, utcnow())] for p in placed
            }
            repo.add_many([p.model for p in placed], origins=origins)
            for journal, some in _journals(db, placed):
                journal.delete_many(p.staged.stage_dir.name for p in some)
    except Conflict:
        return [_register_one(p, target) for p in placed]
    except BaseException as exc:  # the rows stay: recovery commits the placed folders at the next open
        return [exc] * len(placed)
    for p in placed:
        _drop_stage(p.staged)
    return [CommitResult(p.model, False) for p in placed]


def _register_one(p: _Placed, target: GroupTarget) -> CommitResult | BaseException:
    try:
        try:
            with target.db.transaction():
                target.repo.add(p.model, origin=(str(p.staged.plan.origin), target.origin_kind))
                placing_journal(target.db, p.staged).delete(p.staged.stage_dir.name)
        except Conflict as exc:
            won = lost_race(p.staged, p.model, target.library_root, target.db, target.repo,
                            target.trash_dir, target.origin_kind)  # fmt: skip
            return won if won is not None else exc
    except BaseException as exc:
        return exc
    _drop_stage(p.staged)
    return CommitResult(p.model, False)


def _drop_stage(staged: StagedModel) -> None:
    """Remove what is left of a placed model's stage: nothing for a grouped stage, which became the
    model's folder (its group folder goes when the group ends)."""
    if staged.batch is None:
        shutil.rmtree(staged.stage_dir, ignore_errors=True)


def _journals(db: Database, placed: list[_Placed]) -> list[tuple[JournalTable, list[_Placed]]]:
    """The models' ``Placing`` rows by the journal they go in (``commit.placing_journal``)."""
    tables: dict[str, tuple[JournalTable, list[_Placed]]] = {}
    for p in placed:
        journal = placing_journal(db, p.staged)
        tables.setdefault(journal.op, (journal, []))[1].append(p)
    return list(tables.values())


def _free_name(library_root: Path, base_rel: str, claimed: set[str]) -> str:
    """The first free folder name for ``base_rel`` (as ``commit._place`` picks), not taken in this group."""
    head, leaf = base_rel.rsplit("/", 1)
    for attempt in range(1, 1000):
        rel = f"{head}/{leaf if attempt == 1 else f'{leaf}-{attempt}'}"
        if rel not in claimed and not os.path.lexists(library_root / rel):
            claimed.add(rel)
            return rel
    raise Conflict(f"Could not find a free folder name for {base_rel} after 999 tries; rename some models.")


def _write_new(path: Path, data: bytes) -> None:
    """Write a file in a fresh stage (no one else sees it until the folder is placed); synced later."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY | O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _undo(staged: StagedModel) -> None:
    if staged.files_dir.exists():  # not placed: its stage is ours alone
        undo_stage(staged.stage_dir, staged.files)
