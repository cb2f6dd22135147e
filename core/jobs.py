"""The job runner: long work (imports, downloads, scans) off the caller's thread, with bounded queues.

A job is a function ``fn(progress, cancelled) -> result`` submitted to a named queue; each queue has a
fixed number of daemon worker threads (started on the first submit, never at import) and holds at most
``max_queued`` waiting jobs, so a flood of requests gets :class:`~.errors.Busy` instead of an unbounded
backlog (THREATS #13).

Cancelling a queued job ends it at once; a running job sees ``cancelled()`` turn true and is expected to
raise :class:`~.errors.Cancelled` at its next check. Progress updates are cheap for the job: listeners
hear at most ``notify_hz`` updates a second per job (every state change is always heard), and the
``jobs`` table is written at most once a second per job plus on every state change, so a restart shows
what was running. Each row names the runner (host, pid, start time) that owns it: jobs found queued or
running at start-up whose owner is gone are marked failed with error code ``interrupted``, and those
submitted as ``resumable`` (downloads, uploads) can be run again with
:meth:`JobRunner.resume_interrupted`. Jobs of a runner still alive (ComfyUI beside ``serve`` on one
library) are left to it.

Whether a runner on *another machine* is alive cannot be asked of the system, so each row also carries a
lease (``lease_until``), renewed every ``lease_s / 3`` seconds while the job is unfinished: another
machine takes the job as interrupted only once its lease has expired (a machine that was killed, or cut
off for longer than the lease). With a shared catalog the rows are every machine's (core/job_table.py),
and each runner also sweeps the others' expired leases every ``lease_s / 3`` seconds. A job so taken
is marked ``swept``: when its machine starts again, it takes its job back as its own interrupted job
(and resumes it, if it can), as it would had nobody else seen it.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from .catalog.db import Database
from .errors import Busy, Cancelled, InvalidInput, JobNotFound, ModelLibraryError
from .job_table import JobTable, SqliteJobTable
from .models import Progress
from .owner import ProcessOwner
from .taxonomy import JobState
from .types import CancelCheck, StageProgress

log = logging.getLogger(__name__)

JobFn = Callable[[StageProgress, CancelCheck], Any]
JobListener = Callable[["Job"], None]
# Given an interrupted resumable job, return the function that continues it (or None to leave it).
ResumeFactory = Callable[["Job"], JobFn | None]

DEFAULT_QUEUES: Mapping[str, int] = {"io": 2, "download": 2}
FINISHED_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})
# Finished jobs kept in memory (and listed); older ones stay in the table until pruned.
KEEP_FINISHED = 200
PERSIST_INTERVAL_S = 1.0
LEASE_S = 30.0


# Runners of this process that have not been shut down: jobs of a live runner are never "interrupted".
_LIVE_RUNNERS: set[str] = set()


@functools.cache
def _this_process() -> ProcessOwner:
    return ProcessOwner.current()


def _owner_of(params_json: str | None) -> tuple[ProcessOwner, dict[str, Any]] | None:
    """The runner a job's row names as its owner, and what the row keeps of it (None for rows written
    before owners were kept, or not JSON)."""
    try:
        data = json.loads(params_json or "{}").get("_owner")
    except (ValueError, AttributeError):
        return None
    owner = ProcessOwner.from_json(data)
    return (owner, data) if owner is not None else None


def _machine_of(owner: ProcessOwner, data: dict[str, Any]) -> str:
    """The machine a row's owner runs on: the library's name for it (``machine``; cloned VMs share host
    names), else, in rows written before machines were named, its host name."""
    machine = data.get("machine")
    return machine if isinstance(machine, str) and machine else owner.host


def _on_machine(owner: ProcessOwner, data: dict[str, Any], machine: str) -> bool:
    """The row's owner runs on ``machine`` (this one): only then can its pid be asked of this system."""
    if isinstance(data.get("machine"), str) and data["machine"]:
        return bool(data["machine"] == machine) and owner.host == _this_process().host
    return owner.host == _this_process().host


def _owner_alive(params_json: str | None, machine: str) -> bool:
    """The job's row names a runner that still runs, here or in another process (rows written before
    owners were kept name none: interrupted, as before)."""
    found = _owner_of(params_json)
    if found is None:
        return False
    owner, data = found
    if owner == _this_process() and _on_machine(owner, data, machine):
        return str(data.get("runner")) in _LIVE_RUNNERS
    if not _on_machine(owner, data, machine):
        if "lease_until" not in data:
            return True  # another machine, and no lease to tell: taken as running
        try:
            return float(data["lease_until"]) > time.time()  # its owner renews it while it runs
        except (TypeError, ValueError):
            return False
    return owner.alive()


_INTERRUPTED = {"code": "interrupted", "message": "The process stopped while this job ran."}


def _swept_error(machine: str) -> str:
    return json.dumps(
        {
            "code": "interrupted",
            "message": f"The machine {machine!r} running this job stopped renewing it (it stopped, or lost "
            "the network); that machine takes it up again when it starts.",
            "swept": True,
        }
    )


def _json_value(text: str | None) -> Any:
    """A column's JSON; None when empty or not JSON (a row some other writer damaged: every machine
    sharing the table reads it, and none may fail to start over it)."""
    try:
        return json.loads(text) if text else None
    except (ValueError, RecursionError):
        return None


def _json_dict(text: str | None) -> dict[str, Any]:
    value = _json_value(text)
    return value if isinstance(value, dict) else {}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Job:
    """One unit of long work as the API shows it (CONTRACT.md's Job shape, plus bookkeeping)."""

    id: str
    kind: str
    state: JobState
    progress: Progress
    queue: str = "io"
    params: Mapping[str, Any] = field(default_factory=dict)
    result: Any = None
    error: Mapping[str, str] | None = None
    created_at: str = ""
    updated_at: str = ""
    resumable: bool = False

    def __post_init__(self) -> None:
        if type(self.state) is not JobState:  # a row of the jobs table holds the plain string
            object.__setattr__(self, "state", JobState.of(self.state))

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": self.progress.to_dict(),
            "params": dict(self.params),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.result is not None:
            d["result"] = self.result
        if self.error is not None:
            d["error"] = dict(self.error)
        return d


@dataclass
class _Entry:
    """The runner's mutable record of a job; ``job`` is the latest immutable snapshot."""

    job: Job
    fn: JobFn | None
    seq: int
    cancel_event: threading.Event = field(default_factory=threading.Event)
    last_notify: float = 0.0
    last_persist: float = 0.0
    # Held while a lease is renewed and while a finished state is written: a renewal taken from a
    # snapshot of the running job never lands after the row says the job finished.
    writing: threading.Lock = field(default_factory=threading.Lock)


class FailedWithResult(Exception):
    """Raised by a job function to end ``failed`` and still keep its result (an import whose every item
    failed: the panel must not show it as done, and the items say why each one failed)."""

    def __init__(self, error: ModelLibraryError, result: Any) -> None:
        super().__init__(error.message)
        self.error = error
        self.result = result


def _error_of(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, ModelLibraryError):
        return {"code": exc.code, "message": exc.message}
    return {"code": "internal_error", "message": f"The job failed unexpectedly ({type(exc).__name__})."}


def _jsonable(value: Any) -> Any:
    """Results cross HTTP as JSON: anything with ``to_dict`` is converted, lists element by element."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


class JobRunner:
    """Runs jobs on per-queue worker threads. Thread-safe; every method returns quickly."""

    def __init__(
        self,
        db: Database | JobTable,
        *,
        queues: Mapping[str, int] | None = None,
        max_queued: int = 100,
        notify_hz: float = 10.0,
        lease_s: float = LEASE_S,
        machine: str | None = None,
    ) -> None:
        self._table: JobTable = SqliteJobTable(db) if isinstance(db, Database) else db
        self._queue_sizes = dict(queues or DEFAULT_QUEUES)
        for name, workers in self._queue_sizes.items():
            if workers < 1:
                raise InvalidInput(f"queue {name!r} needs at least one worker, got {workers}")
        self._max_queued = max_queued
        self._notify_interval = 1.0 / notify_hz if notify_hz > 0 else 0.0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._entries: dict[str, _Entry] = {}
        self._pending: dict[str, deque[str]] = {name: deque() for name in self._queue_sizes}
        self._threads: list[threading.Thread] = []
        self._listeners: list[JobListener] = []
        self._seq = 0
        self._stopping = False
        self._workers_started = False
        self._renewer_started = False
        # This machine among those sharing the jobs' rows: the library's name for it (config.machine_name),
        # else its host name.
        self._machine = machine or _this_process().host
        self._owner = {**_this_process().to_json(), "machine": self._machine, "runner": secrets.token_hex(8)}
        self._lease_s = lease_s
        self._interrupted = self._recover()
        _LIVE_RUNNERS.add(self._owner["runner"])
        if self._table.shared:  # the others' leases are watched even while this machine runs nothing
            with self._lock:
                self._start_renewer()

    # -- start-up ------------------------------------------------------------------------------------
    def _recover(self) -> list[Job]:
        """Mark jobs left queued/running by a dead process as interrupted; load recent ones for listing.

        Jobs another live process runs on the same library (ComfyUI beside ``serve``) are left to it:
        neither marked nor listed here."""
        now = _now()
        unfinished = self._table.unfinished()
        elsewhere = {job_id for job_id, params in unfinished if _owner_alive(params, self._machine)}
        stale = [row for row in unfinished if row[0] not in elsewhere]
        ours = [row for row in stale if self._mine(row[1]) is not False]
        failed = set(self._table.mark_failed(ours, json.dumps(_INTERRUPTED), now))
        self._sweep(stale)
        failed |= self._take_back()
        for row in reversed(self._table.recent(KEEP_FINISHED)):
            if row["id"] in elsewhere:
                continue
            job = self._job_from_row(row)
            self._seq += 1
            self._entries[job.id] = _Entry(job=job, fn=None, seq=self._seq)
        return [e.job for e in self._entries.values() if e.job.id in failed]

    def _mine(self, params_json: str | None) -> bool | None:
        """Whether a row's owner runs on this machine (None: the row names no owner)."""
        found = _owner_of(params_json)
        return None if found is None else _on_machine(*found, self._machine)

    def _sweep(self, unfinished: list[tuple[str, str]] | None = None) -> None:
        """Mark the unfinished jobs of other machines whose lease ran out as interrupted (``swept``)."""
        rows = self._table.unfinished() if unfinished is None else unfinished
        by_machine: dict[str, list[tuple[str, str]]] = {}
        for job_id, params in rows:
            found = _owner_of(params)
            if found is None or _on_machine(*found, self._machine) or _owner_alive(params, self._machine):
                continue
            by_machine.setdefault(_machine_of(*found), []).append((job_id, params))
        for machine, theirs in by_machine.items():
            self._table.mark_failed(theirs, _swept_error(machine), _now())

    def _take_back(self) -> set[str]:
        """This machine's jobs another machine swept while it was away: its interrupted jobs again. Not
        those of a process of this machine that still runs (paused, or cut off, past its lease): it
        takes them up itself. Taken once: two processes starting at once do not both resume one."""
        taken: set[str] = set()
        for job_id, params, error in self._table.swept():
            mine = self._mine(params) and not _owner_alive(params, self._machine)
            if mine and self._table.take_back(job_id, error, json.dumps(_INTERRUPTED)):
                taken.add(job_id)
        return taken

    @staticmethod
    def _job_from_row(row: Any) -> Job:
        params = _json_dict(row["params_json"])
        params.pop("_owner", None)
        error: dict[str, str] | None = None
        if row["error_json"]:  # {code, message} only: "swept" is the runners' bookkeeping
            found = _json_value(row["error_json"])
            if not isinstance(found, dict):  # a row some other writer left: shown as text
                found = {"code": "failed", "message": str(row["error_json"])[:500]}
            error = {
                "code": str(found.get("code") or "internal_error"),
                "message": str(found.get("message") or "The job failed."),
            }
        progress = _json_dict(row["progress_json"])
        return Job(
            id=row["id"],
            kind=row["kind"],
            state=row["state"],
            progress=Progress(
                int(progress.get("done", 0)), int(progress.get("total", 0)), str(progress.get("stage", ""))
            ),
            queue=str(params.pop("_queue", "io")),
            resumable=bool(params.pop("_resumable", False)),
            params=params,
            result=_json_value(row["result_json"]),
            error=error,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    # -- listeners -----------------------------------------------------------------------------------
    def subscribe(self, listener: JobListener) -> Callable[[], None]:
        """``listener(job)`` hears every state change and throttled progress. Called on worker threads."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, job: Job) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(job)
            except Exception:
                log.exception("job listener failed for job %s", job.id)

    # -- submit / cancel -----------------------------------------------------------------------------
    def submit(
        self,
        kind: str,
        fn: JobFn,
        *,
        queue: str = "io",
        params: Mapping[str, Any] | None = None,
        resumable: bool = False,
    ) -> Job:
        """Queue ``fn``; raises Busy when the queue already holds ``max_queued`` waiting jobs."""
        if queue not in self._pending:
            raise InvalidInput(f"unknown job queue {queue!r}; known: {', '.join(sorted(self._pending))}")
        now = _now()
        job = Job(
            id=secrets.token_hex(8),
            kind=kind,
            state=JobState.QUEUED,
            progress=Progress(0, 0, "queued"),
            queue=queue,
            params=dict(params or {}),
            created_at=now,
            updated_at=now,
            resumable=resumable,
        )
        with self._lock:
            if self._stopping:
                raise Busy("The job runner is shutting down; try again after the restart.")
            if len(self._pending[queue]) >= self._max_queued:
                raise Busy(
                    f"Too many {queue} jobs are waiting ({self._max_queued}); "
                    "try again when some have finished, or cancel some."
                )
            self._seq += 1
            self._entries[job.id] = _Entry(job=job, fn=fn, seq=self._seq)
            self._pending[queue].append(job.id)
            self._start_workers()
            self._prune()
        self._persist(job, insert=True)
        with self._lock:
            self._wake.notify_all()
        self._notify(job)
        return job

    def _resubmit(self, job: Job, fn: JobFn) -> Job:
        with self._lock:
            entry = self._entries.get(job.id)
            if entry is None or entry.job.state != JobState.FAILED:
                raise InvalidInput(f"job {job.id} is not an interrupted job")
            fresh = replace(
                entry.job,
                state=JobState.QUEUED,
                error=None,
                updated_at=_now(),
                progress=Progress(0, 0, "queued"),
            )
            entry.job, entry.fn = fresh, fn
            entry.cancel_event.clear()
            self._pending[fresh.queue].append(fresh.id)
            self._start_workers()
        self._persist(fresh)
        with self._lock:
            self._wake.notify_all()
        self._notify(fresh)
        return fresh

    def resume_interrupted(self, factory: ResumeFactory) -> list[Job]:
        """Run again the resumable jobs that a previous process left unfinished (same ids)."""
        resumed: list[Job] = []
        for job in self._interrupted:
            if not job.resumable or job.queue not in self._pending:
                continue
            fn = factory(job)
            if fn is not None:
                resumed.append(self._resubmit(job, fn))
        self._interrupted = []
        return resumed

    def interrupted(self) -> list[Job]:
        """Jobs found unfinished at start-up (already marked failed/interrupted)."""
        return list(self._interrupted)

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: at once when queued; a running job stops at its next ``cancelled()`` check."""
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None:
                raise JobNotFound(f"No job {job_id!r}; list jobs with GET /jobs.")
            if entry.job.finished:
                return entry.job
            entry.cancel_event.set()
            if entry.job.state != JobState.QUEUED:
                return entry.job
            try:
                self._pending[entry.job.queue].remove(job_id)
            except ValueError:
                pass
            job = self._set(
                entry, state=JobState.CANCELLED, progress=replace(entry.job.progress, stage="cancelled")
            )
        self._persist(job)
        self._notify(job)
        return job

    # -- queries -------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is not None:
                return entry.job
        row = self._table.find(job_id)
        if row is None:
            raise JobNotFound(f"No job {job_id!r}; list jobs with GET /jobs.")
        return self._job_from_row(row)

    def list_jobs(self, *, limit: int = 100, states: Iterable[str] | None = None) -> list[Job]:
        """Newest first, at most ``limit``."""
        wanted = set(states) if states is not None else None
        with self._lock:
            entries = sorted(self._entries.values(), key=lambda e: e.seq, reverse=True)
        jobs = [e.job for e in entries if wanted is None or e.job.state in wanted]
        return jobs[: max(0, limit)]

    def count(self, state: str) -> int:
        with self._lock:
            return sum(1 for e in self._entries.values() if e.job.state == state)

    # -- workers -------------------------------------------------------------------------------------
    def _start_workers(self) -> None:
        """Start the worker threads on first use (caller holds the lock)."""
        if self._workers_started:
            return
        self._workers_started = True
        self._start_renewer()
        for queue, workers in self._queue_sizes.items():
            for n in range(workers):
                thread = threading.Thread(
                    target=self._work, args=(queue,), name=f"model-library-{queue}-{n}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _start_renewer(self) -> None:
        """Start the lease renewer (and sweeper) once (caller holds the lock)."""
        if self._renewer_started:
            return
        self._renewer_started = True
        renewer = threading.Thread(target=self._renew_leases, name="model-library-leases", daemon=True)
        self._threads.append(renewer)
        renewer.start()

    def _work(self, queue: str) -> None:
        while True:
            with self._lock:
                while not self._pending[queue] and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                entry = self._entries[self._pending[queue].popleft()]
                job = self._set(
                    entry, state=JobState.RUNNING, progress=replace(entry.job.progress, stage="starting")
                )
                fn = entry.fn
            self._persist(job)
            self._notify(job)
            self._run(entry, fn)

    def _renew_leases(self) -> None:
        """Keep the leases of this runner's unfinished jobs ahead of the clock (see the module's doc)."""
        while True:
            with self._lock:
                self._wake.wait_for(lambda: self._stopping, timeout=self._lease_s / 3)
                if self._stopping:
                    return
                unfinished = [
                    e.job for e in self._entries.values() if e.fn is not None and not e.job.finished
                ]
            for job in unfinished:
                self._renew(job.id)
            if self._table.shared:
                try:
                    self._sweep()
                except Exception:  # a database's own error too: a dead renewer would let others sweep us
                    log.warning("could not look for other machines' interrupted jobs", exc_info=True)

    def _run(self, entry: _Entry, fn: JobFn | None) -> None:
        def progress(done: int, total: int, stage: str) -> None:
            self._progress(entry, done, total, stage)

        def cancelled() -> bool:
            return entry.cancel_event.is_set()

        try:
            if fn is None:
                raise RuntimeError("job has no function")
            result = _jsonable(fn(progress, cancelled))
        except Cancelled as exc:
            final: dict[str, Any] = {"state": JobState.CANCELLED, "error": _error_of(exc)}
        except FailedWithResult as exc:
            final = {"state": JobState.FAILED, "error": _error_of(exc.error), "result": _jsonable(exc.result)}
        except Exception as exc:
            if entry.cancel_event.is_set():
                final = {"state": JobState.CANCELLED, "error": _error_of(exc)}
            else:
                if not isinstance(exc, ModelLibraryError):
                    log.exception("job %s (%s) failed", entry.job.id, entry.job.kind)
                final = {"state": JobState.FAILED, "error": _error_of(exc)}
        else:
            final = {"state": JobState.DONE, "result": result}
        with self._lock:
            stage = final["state"]
            job = self._set(entry, progress=replace(entry.job.progress, stage=str(stage)), **final)
            entry.fn = None
        self._persist(job)
        self._notify(job)

    def _progress(self, entry: _Entry, done: int, total: int, stage: str) -> None:
        now = time.monotonic()
        with self._lock:
            if entry.job.state != JobState.RUNNING:
                return
            changed_stage = stage != entry.job.progress.stage
            job = self._set(entry, progress=Progress(int(done), int(total), str(stage)))
            notify = changed_stage or now - entry.last_notify >= self._notify_interval
            persist = changed_stage or now - entry.last_persist >= PERSIST_INTERVAL_S
            if notify:
                entry.last_notify = now
            if persist:
                entry.last_persist = now
        if persist:
            self._persist(job)
        if notify:
            self._notify(job)

    def _set(self, entry: _Entry, **changes: Any) -> Job:
        """Replace the entry's snapshot (caller holds the lock)."""
        entry.job = replace(entry.job, updated_at=_now(), **changes)
        return entry.job

    def _prune(self) -> None:
        """Forget the oldest finished jobs beyond KEEP_FINISHED (caller holds the lock)."""
        finished = [e for e in self._entries.values() if e.job.finished]
        if len(finished) <= KEEP_FINISHED:
            return
        finished.sort(key=lambda e: e.seq)
        for entry in finished[: len(finished) - KEEP_FINISHED]:
            del self._entries[entry.job.id]

    def _persist(self, job: Job, *, insert: bool = False) -> None:
        """Write the job's row. A finished state is written under the entry's ``writing`` lock, as the
        lease renewals are (``_renew``): a renewal never lands after it."""
        if not job.finished:
            self._write(job, insert=insert)
            return
        with self._lock:
            entry = self._entries.get(job.id)
        if entry is None:
            self._write(job, insert=insert)
            return
        with entry.writing:
            self._write(job, insert=insert)

    def _renew(self, job_id: str) -> None:
        """Renew a job's lease: its row written again from its latest state, unless it has finished
        meanwhile (its final write is done, or waits for this one and comes after)."""
        with self._lock:
            entry = self._entries.get(job_id)
        if entry is None:
            return
        with entry.writing:
            with self._lock:
                latest = entry.job
            if not latest.finished:
                self._write(latest, insert=False)

    def _write(self, job: Job, *, insert: bool) -> None:
        owner = {**self._owner, "lease_until": round(time.time() + self._lease_s, 3)}
        params = {**job.params, "_queue": job.queue, "_resumable": job.resumable, "_owner": owner}
        values = (
            job.state,
            json.dumps(params, default=str),
            json.dumps(job.progress.to_dict()),
            json.dumps(job.result, default=str) if job.result is not None else None,
            json.dumps(dict(job.error)) if job.error is not None else None,
            job.updated_at,
        )
        try:
            self._table.write(job.id, values, insert=insert, kind=job.kind, created_at=job.created_at)
        except Exception:
            # A locked, broken or closed catalog must not kill a worker: the in-memory state stays right.
            # Not only our errors and sqlite3's: a PostgreSQL driver's own (a statement timeout) too.
            log.warning("could not record job %s state %s", job.id, job.state, exc_info=True)

    # -- shutdown ------------------------------------------------------------------------------------
    def shutdown(self, *, wait: bool = True, timeout: float | None = 30.0) -> None:
        """Cancel what is queued, ask running jobs to stop, and (optionally) wait for the workers."""
        with self._lock:
            self._stopping = True
            queued = [self._entries[i] for q in self._pending.values() for i in q]
            for q in self._pending.values():
                q.clear()
            jobs = [self._set(e, state=JobState.CANCELLED) for e in queued]
            for entry in self._entries.values():
                entry.cancel_event.set()
            self._wake.notify_all()
            threads = list(self._threads)
        for job in jobs:
            self._persist(job)
            self._notify(job)
        _LIVE_RUNNERS.discard(self._owner["runner"])
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            for thread in threads:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                thread.join(remaining)
