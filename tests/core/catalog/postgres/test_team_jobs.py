"""Jobs across machines on a shared catalog (issue 18): every machine's jobs are in the catalog database;
a machine killed mid-job has its job marked interrupted by another machine once its lease ran out (never
before), and takes it back as its own interrupted job (to resume) when it starts again.

Machine A is a real process with a host name of its own; it is killed with SIGKILL, so nothing of it
runs on: no cleanup, no lease renewed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from psycopg import errors as pg_errors

from comfyui_model_library.core.catalog.postgres.database import PostgresDatabase
from comfyui_model_library.core.catalog.postgres.jobs import PostgresJobTable
from comfyui_model_library.core.jobs import JobRunner

REPO = Path(__file__).resolve().parents[4]
LEASE_S = 1.5

_MACHINE_A = """
import socket, sys, threading
socket.gethostname = lambda: "machine-a"  # another machine: its runner's owner names this host
from comfyui_model_library.core.catalog.postgres.database import PostgresDatabase
from comfyui_model_library.core.catalog.postgres.jobs import PostgresJobTable
from comfyui_model_library.core.jobs import JobRunner

database = PostgresDatabase(sys.argv[1])
table = PostgresJobTable(database)
runner = JobRunner(table, queues={"io": 1}, lease_s=float(sys.argv[2]))
if sys.argv[3] == "work":
    gate = threading.Event()
    job = runner.submit("download", lambda p, c: gate.wait(120), params={"repo_id": "a/b"}, resumable=True)
    while table.find(job.id)["state"] != "running":  # in memory first, in its row a moment later
        gate.wait(0.005)
    print(job.id, flush=True)
    gate.wait(120)
else:  # started again: which of its jobs it takes for interrupted
    print(" ".join(j.id for j in runner.interrupted()) or "-", flush=True)
    runner.shutdown()
"""


def _machine_a(dsn: str, what: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _MACHINE_A, dsn, str(LEASE_S), what],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def test_a_killed_machines_job_is_interrupted_after_its_lease_and_taken_back_when_it_returns(
    postgres_dsn: str, db: PostgresDatabase
) -> None:
    a = _machine_a(postgres_dsn, "work")
    assert a.stdout is not None
    job_id = a.stdout.readline().strip()
    b = JobRunner(PostgresJobTable(db), lease_s=LEASE_S)  # machine B, idle, watching the others' leases
    try:
        assert b.get(job_id).state == "running" and b.interrupted() == []
        a.kill()  # kill -9: A's lease is renewed no more
        a.wait()
        assert b.get(job_id).state == "running", "not before its lease ran out"
        deadline = time.monotonic() + 10 * LEASE_S
        while b.get(job_id).state == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = b.get(job_id)
        assert seen.state == "failed" and seen.error is not None and seen.error["code"] == "interrupted"
        assert "'machine-a'" in seen.error["message"]
        assert b.interrupted() == []  # B never resumes A's job
    finally:
        b.shutdown()
    again = _machine_a(postgres_dsn, "restart")
    out, _ = again.communicate(timeout=60)
    assert out.split() == [job_id]  # A takes it back, to resume it
    assert JobRunner(PostgresJobTable(db)).get(job_id).error == {
        "code": "interrupted",
        "message": "The process stopped while this job ran.",
    }


def test_a_live_machines_job_is_never_taken(postgres_dsn: str, db: PostgresDatabase) -> None:
    a = _machine_a(postgres_dsn, "work")
    assert a.stdout is not None
    job_id = a.stdout.readline().strip()
    b = JobRunner(PostgresJobTable(db), lease_s=LEASE_S)
    try:
        states: set[str] = set()
        until = time.monotonic() + 3 * LEASE_S  # B sweeps several times; A keeps renewing
        while time.monotonic() < until:
            states.add(b.get(job_id).state)
            time.sleep(0.02)
        assert states == {"running"}
        assert job_id not in {j.id for j in b.list_jobs()}
    finally:
        b.shutdown()
        a.kill()
        a.wait()


def test_an_error_that_is_not_json_stops_no_machine_from_starting(db: PostgresDatabase) -> None:
    """A row an older or broken writer left with an error that is not JSON: never taken for swept,
    and the query for the swept ones still answers."""
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, state, error_json, created_at, updated_at) "
            "VALUES ('old', 'import', 'failed', 'not json: swept', '2026', '2026')"
        )
    runner = JobRunner(PostgresJobTable(db))
    try:
        assert runner.interrupted() == [] and runner.get("old").state == "failed"
    finally:
        runner.shutdown()


# Machine "ubuntu" number two: a cloned VM with the same host name as this one, on the shared catalog.
# Its pid means nothing here (beyond any pid_max): it lives only as long as it keeps its lease.
_CLONE = """
import socket, sys, threading
socket.gethostname = lambda: "ubuntu"
from comfyui_model_library.core import jobs
from comfyui_model_library.core.catalog.postgres.database import PostgresDatabase
from comfyui_model_library.core.catalog.postgres.jobs import PostgresJobTable
from comfyui_model_library.core.owner import ProcessOwner

jobs._this_process = lambda: ProcessOwner("ubuntu", 4_999_999, 1.0)
database = PostgresDatabase(sys.argv[1])
runner = jobs.JobRunner(
    PostgresJobTable(database), queues={"io": 1}, lease_s=float(sys.argv[2]), machine="ubuntu-c1c1c1"
)
gate = threading.Event()
job = runner.submit("download", lambda p, c: gate.wait(120), params={"repo_id": "a/b"}, resumable=True)
while runner.get(job.id).state != "running":
    gate.wait(0.005)
print(job.id, flush=True)
gate.wait(120)
"""


def _start_clone(script: str, dsn: str, db: PostgresDatabase) -> tuple[subprocess.Popen[str], str]:
    """A clone process running a job, once its row says running (its memory says so a moment before)."""
    clone = subprocess.Popen(
        [sys.executable, "-c", script, dsn, str(LEASE_S)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert clone.stdout is not None
    job_id = clone.stdout.readline().strip()
    table, written = PostgresJobTable(db), time.monotonic() + 10
    while (table.find(job_id) or {"state": None})["state"] != "running" and time.monotonic() < written:
        time.sleep(0.01)
    return clone, job_id


def test_a_clone_with_the_same_host_name_never_takes_the_others_running_job(
    postgres_dsn: str, db: PostgresDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cloned VMs and rented GPUs are often all called "ubuntu" (docs/teams.md): a machine starting must
    not take another's running job for one of its own dead process's (and resume it: two machines
    writing one download), nor fail to sweep it once that machine is gone. Machines are told apart by
    the library's machine name, not the host name."""
    from comfyui_model_library.core import jobs, owner
    from comfyui_model_library.core.owner import ProcessOwner

    clone, job_id = _start_clone(_CLONE, postgres_dsn, db)
    monkeypatch.setattr(owner.socket, "gethostname", lambda: "ubuntu")
    monkeypatch.setattr(jobs, "_this_process", lambda: ProcessOwner("ubuntu", 4_999_998, 1.0))
    here = JobRunner(PostgresJobTable(db), lease_s=LEASE_S, machine="ubuntu-a0a0a0")
    try:
        assert here.interrupted() == [], "the clone's job is running"
        assert here.get(job_id).state == "running"
        clone.kill()
        clone.wait()
        deadline = time.monotonic() + 10 * LEASE_S
        while here.get(job_id).state == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = here.get(job_id)
        assert (
            seen.state == "failed" and seen.error is not None and "'ubuntu-c1c1c1'" in seen.error["message"]
        )
    finally:
        here.shutdown()
        clone.kill()
        clone.wait()
    again = JobRunner(PostgresJobTable(db), machine="ubuntu-a0a0a0")
    assert again.interrupted() == [], "never this machine's to resume"
    again.shutdown()


def test_a_swept_job_of_a_live_process_is_not_taken_back_by_another_process_of_its_machine(
    postgres_dsn: str, db: PostgresDatabase
) -> None:
    """Machine A's ComfyUI was paused (or cut off) past its lease and B swept its job; ComfyUI still
    runs it. A CLI started on A meanwhile must not take it back (and resume it: two writers of one
    download); only once that process is gone is it A's interrupted job."""
    a = _machine_a(postgres_dsn, "work")
    assert a.stdout is not None
    job_id = a.stdout.readline().strip()
    a.send_signal(signal.SIGSTOP)  # paused past its lease: it renews nothing, and B sweeps its job
    with db.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET state = 'failed', error_json = %s WHERE id = %s",
            ('{"code": "interrupted", "message": "swept", "swept": true}', job_id),
        )
    try:
        again = _machine_a(postgres_dsn, "restart")  # another process of machine A, A's ComfyUI alive
        out, _ = again.communicate(timeout=60)
        assert out.split() == ["-"]
    finally:
        a.send_signal(signal.SIGCONT)
        a.kill()
        a.wait()
    with db.transaction() as conn:  # swept again once the renewals stop for good
        conn.execute(
            "UPDATE jobs SET state = 'failed', error_json = %s WHERE id = %s",
            ('{"code": "interrupted", "message": "swept", "swept": true}', job_id),
        )
    later = _machine_a(postgres_dsn, "restart")
    out, _ = later.communicate(timeout=60)
    assert out.split() == [job_id]


class _FlakyTable(PostgresJobTable):
    """The catalog database answering with errors PostgresDatabase passes on as they are (not a lost
    connection): a statement timeout set on the role, a full disk on the server."""

    failing = True

    def write(self, *args: object, **kwargs: object) -> None:
        if self.failing:
            raise pg_errors.QueryCanceled("canceling statement due to statement timeout")
        super().write(*args, **kwargs)  # type: ignore[arg-type]

    def unfinished(self) -> list[tuple[str, str]]:
        if self.failing:
            raise pg_errors.DiskFull("could not extend file: No space left on device")
        return super().unfinished()


def test_database_errors_kill_no_worker_and_no_renewer(db: PostgresDatabase) -> None:
    table = _FlakyTable(db)
    table.failing = False
    runner = JobRunner(table, queues={"io": 1}, lease_s=0.3)
    try:
        table.failing = True
        first = runner.submit("demo", lambda p, c: 1)
        deadline = time.monotonic() + 10
        while not runner.get(first.id).finished and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runner.get(first.id).state == "done"
        time.sleep(0.5)  # the renewer sweeps (and fails) at least once
        renewer = [t for t in runner._threads if t.name == "model-library-leases"]
        assert renewer and renewer[0].is_alive()
        table.failing = False
        second = runner.submit("demo", lambda p, c: 2)
        deadline = time.monotonic() + 10
        while not runner.get(second.id).finished and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runner.get(second.id).state == "done", "the worker still runs"
    finally:
        runner.shutdown()


# The clone from an image made after the library ran: its machine.json (so its machine name) is this
# machine's; its boot is its own.
_CLONE_OF_IMAGE = _CLONE.replace(
    "database = PostgresDatabase", 'jobs._boot_id = lambda: "boot-of-the-clone"\ndatabase = PostgresDatabase'
)


def test_a_clone_sharing_the_machine_name_never_takes_the_others_running_job(
    postgres_dsn: str, db: PostgresDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A VM image made after the library first ran holds the state folder, machine.json with it: every
    clone is "ubuntu" with one machine name. A clone starting took another's running job for one of
    its own dead process's, failed it and resumed it (two machines writing one download, in one staging
    folder on the share). Another boot's row is told by its lease; once that ran out (the clone is gone,
    or this machine rebooted) the job is this machine's interrupted one, as before."""
    from comfyui_model_library.core import jobs, owner
    from comfyui_model_library.core.owner import ProcessOwner

    clone, job_id = _start_clone(_CLONE_OF_IMAGE, postgres_dsn, db)
    monkeypatch.setattr(owner.socket, "gethostname", lambda: "ubuntu")
    monkeypatch.setattr(jobs, "_this_process", lambda: ProcessOwner("ubuntu", 4_999_998, 1.0))
    try:
        here = JobRunner(PostgresJobTable(db), lease_s=LEASE_S, machine="ubuntu-c1c1c1")
        try:
            assert [j.id for j in here.interrupted()] == [], "the clone's job is running"
            until = time.monotonic() + 2 * LEASE_S  # this one sweeps meanwhile; the clone renews
            while time.monotonic() < until:
                assert here.get(job_id).state == "running"
                time.sleep(0.05)
        finally:
            here.shutdown()
    finally:
        clone.kill()
        clone.wait()
    time.sleep(LEASE_S * 1.5)  # its lease runs out
    again = JobRunner(PostgresJobTable(db), lease_s=LEASE_S, machine="ubuntu-c1c1c1")
    try:
        assert [j.id for j in again.interrupted()] == [job_id]
    finally:
        again.shutdown()
