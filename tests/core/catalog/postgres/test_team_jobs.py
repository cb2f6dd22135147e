"""Jobs across machines on a shared catalog (issue 18): every machine's jobs are in the catalog database;
a machine killed mid-job has its job marked interrupted by another machine once its lease ran out (never
before), and takes it back as its own interrupted job (to resume) when it starts again.

Machine A is a real process with a host name of its own; it is killed with SIGKILL, so nothing of it
runs on: no cleanup, no lease renewed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

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
