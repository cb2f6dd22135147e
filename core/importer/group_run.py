"""Running groups of small models (``group.py``) one after another, each staged while the one before it
commits.

Staging a small model is reading and hashing it (CPU, on the staging threads); committing a group is
writing sidecars, journal rows, renames and catalog rows (one thread, mostly kernel and SQLite work).
One after the other, the staging threads idle while a group commits. So the next group's models are
handed to the staging threads before a group commits, and the two overlap; groups still commit in the
order given, so of two identical files the first given names the model.

At most two groups exist at once: the one committing and the one staging, each in its own locked group
folder. A crash leaves what a crash of each alone leaves: recovery finishes the committing group from its
journal rows and discards the staging group's folder (it holds only our copies and hard links; a
grouped stage never moves a file).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelLibraryError
from ..models import ImportItem
from .commit import CommitResult
from .group import GroupTarget, StageOne, commit_group, failed_item, pickle_refused
from .plan import PlannedModel
from .stage import StagedModel, undo_stage
from .stage_lock import StageLock, new_stage_dir

# Models a staging thread takes at a time: handed over one by one, each costs a thread wake-up or two,
# and on a small VM a wake-up costs as much as staging a small file.
STAGE_CHUNK = 16

Outcome = StagedModel | ImportItem  # a staged model, or the failed item of one that was not staged


@dataclass(frozen=True)
class _Staging:
    """One group handed to the staging threads: its locked folder and each model's outcome to come."""

    plans: Sequence[PlannedModel]
    batch: Path
    lock: StageLock
    outcomes: tuple[Future[list[Outcome]], ...]  # one per chunk of ``STAGE_CHUNK`` models, in order

    def close(self) -> None:
        """Wait for every stage, then remove the folder (what is left in it is ours) and free its lock."""
        for future in self.outcomes:
            future.exception()
        shutil.rmtree(self.batch, ignore_errors=True)
        self.lock.release()


def import_groups(
    groups: Sequence[Sequence[PlannedModel]],
    *,
    tmp_dir: Path,
    stage_one: StageOne,
    workers: int,
    target: GroupTarget,
    allow_pickle: bool,
    committed: Callable[[list[ImportItem]], None],
    staging: Callable[[list[str]], None] | None = None,
) -> None:
    """Stage and commit ``groups`` in order (``workers`` models staging at a time). ``committed`` gets
    each group's items (one per model) once it is committed, while the next group stages; ``staging``
    gets each group's source paths just before its first model is staged."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="model-library-import") as pool:

        def start(plans: Sequence[PlannedModel]) -> _Staging:
            if staging is not None:
                staging([str(p.origin) for p in plans])
            batch, lock = new_stage_dir(tmp_dir)

            def stage(plan: PlannedModel) -> Outcome:
                try:
                    staged = stage_one(plan, batch)
                except (ModelLibraryError, OSError) as exc:
                    return failed_item(plan, exc)
                if staged.security == "pickle" and not allow_pickle:
                    undo_stage(staged.stage_dir, staged.files)
                    return pickle_refused(plan)
                return staged

            def stage_chunk(chunk: Sequence[PlannedModel]) -> list[Outcome]:
                return [stage(plan) for plan in chunk]

            chunks = [plans[i : i + STAGE_CHUNK] for i in range(0, len(plans), STAGE_CHUNK)]
            return _Staging(plans, batch, lock, tuple(pool.submit(stage_chunk, c) for c in chunks))

        ahead: _Staging | None = None
        try:
            for index, plans in enumerate(groups):
                current = ahead if ahead is not None else start(plans)
                ahead = None
                try:
                    if index + 1 < len(groups):
                        # Queued behind this group's stages: the threads go on to it while this commits.
                        ahead = start(groups[index + 1])
                    outcomes = [outcome for f in current.outcomes for outcome in f.result()]
                    group_items = _commit(current.plans, outcomes, target)
                finally:
                    current.close()
                committed(group_items)
        finally:
            if ahead is not None:  # an error or an interrupt in the group before: never committed
                ahead.close()


def _commit(plans: Sequence[PlannedModel], outcomes: list[Outcome], target: GroupTarget) -> list[ImportItem]:
    staged = [o for o in outcomes if isinstance(o, StagedModel)]
    committed = iter(commit_group(staged, target))
    items: list[ImportItem] = []
    for plan, outcome in zip(plans, outcomes):
        if isinstance(outcome, ImportItem):
            items.append(outcome)
            continue
        result = next(committed)
        if isinstance(result, CommitResult):
            status = "duplicate" if result.duplicate else "imported"
            items.append(ImportItem(str(plan.origin), status, model=result.model, warnings=outcome.warnings))
        elif isinstance(result, (ModelLibraryError, OSError)):
            items.append(failed_item(plan, result))
        else:
            raise result
    return items
