"""The job runner on a real catalog file: queues, bounds, cancel, progress throttling, restart."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core import jobs, owner
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.errors import Busy, Cancelled, InvalidModelFile, JobNotFound
from comfyui_model_library.core.job_table import SqliteJobTable
from comfyui_model_library.core.jobs import Job, JobRunner
from comfyui_model_library.core.owner import ProcessOwner

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path):
    database = Database(tmp_path / "catalog.sqlite")
    migrate(database)
    yield database
    database.close()


def wait_for(runner: JobRunner, job_id: str, timeout: float = 10.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = runner.get(job_id)
        if job.finished:
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish: {runner.get(job_id)}")


def test_job_runs_and_result_is_recorded(db: Database) -> None:
    runner = JobRunner(db)
    job = runner.submit("demo", lambda progress, cancelled: {"answer": 42}, params={"x": 1})
    assert job.state == "queued"
    done = wait_for(runner, job.id)
    assert done.state == "done"
    assert done.result == {"answer": 42}
    d = done.to_dict()
    assert d["kind"] == "demo" and d["params"] == {"x": 1} and d["progress"]["stage"] == "done"
    # The finished state is visible in memory a moment before its row is written: wait for the row.
    deadline = time.monotonic() + 10
    row = db.execute_read("SELECT state, result_json FROM jobs WHERE id = ?", (job.id,))[0]
    while row["state"] != "done" and time.monotonic() < deadline:
        time.sleep(0.01)
        row = db.execute_read("SELECT state, result_json FROM jobs WHERE id = ?", (job.id,))[0]
    assert row["state"] == "done" and '"answer": 42' in row["result_json"]
    runner.shutdown()


def test_no_threads_before_first_submit(db: Database) -> None:
    before = {t.name for t in threading.enumerate()}
    runner = JobRunner(db)
    new = [t.name for t in threading.enumerate() if t.name not in before]
    assert not any(name.startswith("model-library-io") for name in new)
    runner.submit("demo", lambda p, c: None)
    assert any(t.name.startswith("model-library-io") for t in threading.enumerate())
    runner.shutdown()


def test_failure_carries_error_code(db: Database) -> None:
    runner = JobRunner(db)

    def boom(progress, cancelled):
        raise InvalidModelFile("bad header in x.safetensors")

    job = wait_for(runner, runner.submit("demo", boom).id)
    assert job.state == "failed"
    assert job.error == {"code": "invalid_model_file", "message": "bad header in x.safetensors"}

    def crash(progress, cancelled):
        raise RuntimeError("secret internals /home/u")

    job = wait_for(runner, runner.submit("demo", crash).id)
    assert job.error is not None and job.error["code"] == "internal_error"
    assert "secret" not in job.error["message"]
    runner.shutdown()


def test_bounded_queue_raises_busy(db: Database) -> None:
    runner = JobRunner(db, queues={"io": 1}, max_queued=3)
    gate = threading.Event()
    first = runner.submit("block", lambda p, c: gate.wait(10))
    while runner.get(first.id).state != "running":
        time.sleep(0.005)
    queued = [runner.submit("demo", lambda p, c: None) for _ in range(3)]
    with pytest.raises(Busy):
        runner.submit("demo", lambda p, c: None)
    gate.set()
    for job in queued:
        assert wait_for(runner, job.id).state == "done"
    runner.shutdown()


def test_cancel_queued_and_running(db: Database) -> None:
    runner = JobRunner(db, queues={"io": 1})
    started = threading.Event()

    def loop(progress, cancelled):
        started.set()
        while not cancelled():
            time.sleep(0.005)
        raise Cancelled("stopped by request")

    running = runner.submit("loop", loop)
    queued = runner.submit("never", lambda p, c: pytest.fail("a cancelled job ran"))
    assert started.wait(5)
    assert runner.cancel(queued.id).state == "cancelled"
    runner.cancel(running.id)
    assert wait_for(runner, running.id).state == "cancelled"
    assert runner.get(queued.id).state == "cancelled"
    with pytest.raises(JobNotFound):
        runner.cancel("nope")
    runner.shutdown()


def test_progress_is_throttled_but_state_changes_always_heard(db: Database) -> None:
    runner = JobRunner(db, notify_hz=10)
    heard: list[Job] = []
    runner.subscribe(heard.append)

    def work(progress, cancelled):
        for i in range(5000):
            progress(i, 5000, "hashing")
        return "ok"

    job = wait_for(runner, runner.submit("demo", work).id)
    deadline = time.monotonic() + 5
    while not any(j.id == job.id and j.finished for j in heard) and time.monotonic() < deadline:
        time.sleep(0.01)  # listeners hear "done" just after the state is set
    mine = [j for j in heard if j.id == job.id]
    assert [j.state for j in mine][:2] == ["queued", "running"]
    assert mine[-1].state == "done"
    # 5000 updates in far less than a second: a handful reach listeners, not thousands.
    assert len(mine) < 50
    runner.shutdown()


def test_listing_is_newest_first_and_capped(db: Database) -> None:
    runner = JobRunner(db)
    ids = [runner.submit("demo", lambda p, c: None).id for _ in range(5)]
    for job_id in ids:
        wait_for(runner, job_id)
    listed = [j.id for j in runner.list_jobs(limit=3)]
    assert listed == list(reversed(ids))[:3]
    runner.shutdown()


_OTHER_PROCESS = """
import sys, threading
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.jobs import JobRunner
db = Database(sys.argv[1])
runner = JobRunner(db, queues={"io": 1})
gate = threading.Event()
blocking = runner.submit("download", lambda p, c: gate.wait(60), params={"repo_id": "a/b"}, resumable=True)
plain = runner.submit("import", lambda p, c: None, params={"paths": ["/x"]})
# Running in memory first, in its row a moment later: the others read the row.
while db.execute_read("SELECT state FROM jobs WHERE id = ?", (blocking.id,))[0][0] != "running":
    gate.wait(0.005)
print(blocking.id, plain.id, flush=True)
gate.wait(60)
"""


def _runner_in_another_process(db: Database) -> tuple[subprocess.Popen[str], str, str]:
    """A process with a resumable job running and a plain job queued behind it, on ``db``'s catalog."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS, str(db.path)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None
    blocking_id, plain_id = proc.stdout.readline().split()
    return proc, blocking_id, plain_id


def test_restart_marks_interrupted_and_resumes_resumable(db: Database) -> None:
    proc, blocking_id, plain_id = _runner_in_another_process(db)
    proc.kill()  # the process dies with its jobs unfinished
    proc.wait()
    restarted = JobRunner(db)
    for job_id in (blocking_id, plain_id):
        job = restarted.get(job_id)
        assert job.state == "failed" and job.error is not None and job.error["code"] == "interrupted"
    resumed = restarted.resume_interrupted(lambda job: lambda p, c: {"resumed": job.params["repo_id"]})
    assert [j.id for j in resumed] == [blocking_id]
    assert wait_for(restarted, blocking_id).result == {"resumed": "a/b"}
    assert restarted.get(plain_id).state == "failed"
    restarted.shutdown()


def test_jobs_of_another_live_process_are_left_to_it(db: Database) -> None:
    """ComfyUI and ``model-library serve`` on one library: neither takes the other's running download
    for an interrupted one (resuming it would make two writers of one partial file)."""
    proc, blocking_id, plain_id = _runner_in_another_process(db)
    try:
        beside = JobRunner(db)
        assert beside.interrupted() == []
        assert beside.get(blocking_id).state == "running", "read from the catalog, as the owner left it"
        assert blocking_id not in {j.id for j in beside.list_jobs()}
        rows = dict(db.execute_read("SELECT id, state FROM jobs"))
        assert rows == {blocking_id: "running", plain_id: "queued"}
        beside.shutdown()
    finally:
        proc.kill()
        proc.wait()
    after = JobRunner(db)  # now the owner is gone
    assert {j.id for j in after.interrupted()} == {blocking_id, plain_id}
    after.shutdown()


def test_a_runner_of_this_process_keeps_its_jobs_until_it_shuts_down(db: Database) -> None:
    runner = JobRunner(db, queues={"io": 1})
    gate = threading.Event()
    blocking = runner.submit("download", lambda p, c: gate.wait(10), resumable=True)
    while runner.get(blocking.id).state != "running":
        time.sleep(0.005)
    assert JobRunner(db).interrupted() == [], "a live runner's job is not interrupted"
    gate.set()
    wait_for(runner, blocking.id)
    runner.shutdown()


def test_shutdown_cancels_queued(db: Database) -> None:
    runner = JobRunner(db, queues={"io": 1})
    gate = threading.Event()
    first = runner.submit("block", lambda p, c: gate.wait(0.2))
    second = runner.submit("demo", lambda p, c: None)
    runner.shutdown(wait=True, timeout=5)
    assert runner.get(second.id).state == "cancelled"
    assert runner.get(first.id).finished
    with pytest.raises(Busy):
        runner.submit("demo", lambda p, c: None)


def _lease(db: Database, job_id: str) -> float:
    [(lease,)] = db.execute_read(
        "SELECT json_extract(params_json, '$._owner.lease_until') FROM jobs WHERE id = ?", (job_id,)
    )
    return float(lease)


def test_another_machines_jobs_are_interrupted_only_once_their_lease_expired(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalog several machines see: whether a runner elsewhere lives cannot be asked of this system,
    so its jobs count as running until their lease (renewed by their runner) has run out."""
    proc, blocking_id, plain_id = _runner_in_another_process(db)
    proc.kill()  # that machine is gone: nobody renews the leases any more
    proc.wait()

    def owned_elsewhere(lease_until: float) -> None:
        with db.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET params_json = json_set(params_json, '$._owner.host', 'another-machine', "
                "'$._owner.machine', 'another-machine', '$._owner.lease_until', ?)",
                (lease_until,),
            )

    owned_elsewhere(time.time() + 60)
    here = JobRunner(db)
    assert here.interrupted() == [] and here.get(blocking_id).state in ("queued", "running")
    here.shutdown()
    owned_elsewhere(time.time() - 1)  # the lease ran out
    later = JobRunner(db)
    assert later.interrupted() == []  # not this machine's to resume
    swept = later.get(blocking_id)
    assert swept.state == "failed" and swept.error is not None and swept.error["code"] == "interrupted"
    assert "'another-machine'" in swept.error["message"] and set(swept.error) == {"code", "message"}
    later.shutdown()
    # That machine starts again: its jobs are its interrupted ones, to resume as if nobody had seen them.
    monkeypatch.setattr(jobs, "_this_process", lambda: ProcessOwner("another-machine", 1, 1.0))
    monkeypatch.setattr(owner.socket, "gethostname", lambda: "another-machine")
    back = JobRunner(db)
    assert {j.id for j in back.interrupted()} == {blocking_id, plain_id}
    assert back.get(blocking_id).error == {
        "code": "interrupted",
        "message": "The process stopped while this job ran.",
    }
    back.shutdown()
    again = JobRunner(db)
    assert again.interrupted() == []  # taken back once
    again.shutdown()


def test_a_running_job_keeps_its_lease_ahead_without_progress(db: Database) -> None:
    runner = JobRunner(db, queues={"io": 1}, lease_s=0.3)
    gate = threading.Event()
    job = runner.submit("download", lambda p, c: gate.wait(10))  # no progress while it waits
    while runner.get(job.id).state != "running":
        time.sleep(0.005)
    first = _lease(db, job.id)
    time.sleep(0.5)
    renewed = _lease(db, job.id)
    assert renewed > first and renewed > time.time()
    gate.set()
    wait_for(runner, job.id)
    runner.shutdown()


class _FailingTable(SqliteJobTable):
    """The real table, whose database fails with an error of its own driver (a PostgreSQL statement
    timeout, a server's full disk: not every such error is one of ours) while ``failing`` is set."""

    shared = True  # so the renewer also sweeps
    failing = threading.Event()

    def write(self, *args: Any, **kwargs: Any) -> None:
        if self.failing.is_set():
            raise RuntimeError("the database driver failed")
        super().write(*args, **kwargs)

    def unfinished(self) -> list[tuple[str, str]]:
        if self.failing.is_set():
            raise RuntimeError("the database driver failed")
        return super().unfinished()


def test_database_errors_kill_no_worker_and_no_renewer(db: Database) -> None:
    table = _FailingTable(db)
    runner = JobRunner(table, queues={"io": 1}, lease_s=0.15)
    try:
        table.failing.set()
        failed_write = runner.submit("demo", lambda p, c: "first")
        assert wait_for(runner, failed_write.id).result == "first"  # the state in memory stays right
        time.sleep(0.3)  # the renewer sweeps (and fails) a few times
        table.failing.clear()
        gate = threading.Event()
        later = runner.submit("download", lambda p, c: gate.wait(10))
        while _row_state(db, later.id) != "running":
            time.sleep(0.005)
        first = _lease(db, later.id)
        time.sleep(0.3)
        assert _lease(db, later.id) > first, "the renewer still renews"
        gate.set()
        assert wait_for(runner, later.id).state == "done", "the worker still works"
    finally:
        table.failing.clear()
        runner.shutdown()


def _row_state(db: Database, job_id: str) -> str | None:
    rows = db.execute_read("SELECT state FROM jobs WHERE id = ?", (job_id,))
    return str(rows[0][0]) if rows else None


class _SlowRenewals(SqliteJobTable):
    """The renewer's writes take a while (a catalog database across the network)."""

    renewing = threading.Event()

    def write(self, job_id: str, values: Any, *, insert: bool, kind: str, created_at: str) -> None:
        if threading.current_thread().name == "model-library-leases" and values[0] == "running":
            self.renewing.set()
            time.sleep(0.4)
        super().write(job_id, values, insert=insert, kind=kind, created_at=created_at)


def test_a_lease_renewed_as_the_job_finishes_never_writes_it_back_running(db: Database) -> None:
    """The renewer took a running job's snapshot, the job finished and its row said done, then the
    renewal landed: the row said running again (with a fresh lease), for good. A restart (or, on a
    shared catalog, another machine once the lease ran out) then took it for interrupted, and resumed a
    finished download. The last write of a job's row is its latest state."""
    table = _SlowRenewals(db)
    runner = JobRunner(table, queues={"io": 1}, lease_s=0.3)
    gate = threading.Event()
    job = runner.submit("download", lambda p, c: gate.wait(10), resumable=True)
    assert table.renewing.wait(10)
    gate.set()
    assert wait_for(runner, job.id).state == "done"
    time.sleep(0.6)
    [(state,)] = db.execute_read("SELECT state FROM jobs WHERE id = ?", (job.id,))
    assert state == "done"
    runner.shutdown()
    assert JobRunner(db).interrupted() == []
