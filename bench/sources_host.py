"""Issue 8's goals measured in a REAL ComfyUI with 10,000 models in the install's own folders.

Runs, in one temp shadow install (tests/host/conftest.py) holding the same 10,000 header-bearing files:

1. baseline: the same ComfyUI WITHOUT the plugin (``--baseline-runs`` starts; the start-up and RSS
   baseline, and ComfyUI's own ``/api/models/loras`` latency without us);
2. first start with the plugin and a fresh library: time from "GET / answers 200" to a complete listing,
   warm list / search latency over HTTP against ComfyUI's own model list in the same process, RSS growth
   over the baseline, the printed import time;
3. second start (``--warm-runs``): the catalog exists, so the listing should be complete at once.

    COMFYUI_PATH=/work/comfyui-host/ComfyUI COMFYUI_PYTHON=/work/comfyui-host/venv/bin/python \\
        python -m bench.sources_host [--files 10000]

Needs about 7 GB free under ``BENCH_DIR`` (default /var/tmp): ``bench.sources.make_tree`` writes full files.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._table import goal, median, print_goals
from bench.sources import make_tree, pct
from tests.host.conftest import PACKAGE_PARTS, PLUGIN_FOLDER, PROJECT, free_port, shadow_install

POLL_S = 0.010
READY_TIMEOUT_S = 180.0
COMPLETE_TIMEOUT_S = 120.0
SETTLE_TIMEOUT_S = 600.0
LIST_PATH = "/api/model-library/v1/models"
QUERIES = ["detail", "anime port", "cinematic", "neon_film", "sketch", "ink v12", "real", "pix"]
# Figures from issue 8 (measured by its author on another machine, not here): context, not a baseline.
ISSUE_FIGURES = {
    "Lora-Manager: list complete after start": "13.6 s",
    "Lora-Manager: list call / search call": "49 ms / 53 ms",
    "Lora-Manager: added to start-up": "+0.3 s",
    "Model-Manager: list call (walks every call)": "1.3 s",
}
IMPORT_LINE = re.compile(r"^\s*([0-9.]+) seconds(?: \(IMPORT FAILED\))?: (.+)$", re.MULTILINE)


@dataclass
class Run:
    label: str
    start_to_ready: float = 0.0
    complete_after_ready: float | None = None  # None: never polled (baseline)
    complete_at_first_poll: bool = False
    first_poll_total: int | None = None
    headers_after_ready: float | None = None
    settle_after_ready: float | None = None
    import_s: str = "-"
    rss_mib: float = 0.0
    rss_ready_mib: float = 0.0
    threads: int = 0
    rss_settled_mib: float = 0.0
    hwm_mib: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    took_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def vm_hwm_mib(pid: int) -> float:
    """Peak RSS of a process (Linux ``VmHWM``), 0 where unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mib(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def pending_hashes(library: Path) -> int | None:
    """Models still waiting for their content hash (the background work), read from the catalog."""
    return _count(library, "SELECT count(*) FROM models WHERE blake3 LIKE 'pending:%'")


def pending_headers(library: Path) -> int | None:
    """Files listed whose header nobody has read yet (type and base model still the folder's guess)."""
    return _count(library, "SELECT count(*) FROM source_files WHERE inspected = 0")


def _count(library: Path, sql: str) -> int | None:
    db = library / "catalog.sqlite"
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0) as conn:
            row = conn.execute(sql).fetchone()
        return int(row[0])
    except sqlite3.Error:
        return None


class Host:
    """One ComfyUI process on the shadow install; stopped by its own PID only."""

    def __init__(self, python: Path, install: Path, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.t_start = time.monotonic()
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(python),
                    "main.py",
                    "--cpu",
                    "--listen",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--database-url",
                    "sqlite:///:memory:",
                ],
                cwd=install,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.client = httpx.Client(base_url=self.url, timeout=30.0)

    def wait_ready(self) -> float:
        """Seconds since the process started until ``GET /`` first answers 200 (polled every 10 ms)."""
        deadline = self.t_start + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                if self.client.get("/", timeout=2.0).status_code == 200:
                    return time.monotonic() - self.t_start
            except httpx.HTTPError:
                pass
            time.sleep(POLL_S)
        raise RuntimeError(f"ComfyUI not ready after {READY_TIMEOUT_S:.0f} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def wait_complete(host: Host, files: int, run: Run, t_ready: float) -> None:
    """Poll ``?limit=1`` every 10 ms until ``total`` reaches ``files``; time it from ready."""
    deadline = time.monotonic() + COMPLETE_TIMEOUT_S
    first = True
    while time.monotonic() < deadline:
        try:
            response = host.client.get(LIST_PATH, params={"limit": 1})
            total = int(response.json().get("total", -1)) if response.status_code == 200 else -1
        except (httpx.HTTPError, ValueError):
            total = -1
        if first:
            run.first_poll_total, first = total, False
        if total >= files:
            run.complete_after_ready = time.monotonic() - host.t_start - t_ready
            run.complete_at_first_poll = run.first_poll_total is not None and run.first_poll_total >= files
            return
        time.sleep(POLL_S)
    run.errors.append(f"listing not complete {COMPLETE_TIMEOUT_S:.0f} s after ready")


def wait_settled(host: Host, library: Path, run: Run, t_ready: float) -> None:
    """Wait for the background header reading, then the hashing, to finish (no ``pending:`` model left)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        if run.headers_after_ready is None and pending_headers(library) == 0:
            run.headers_after_ready = time.monotonic() - host.t_start - t_ready
        if run.headers_after_ready is not None and pending_hashes(library) == 0:
            run.settle_after_ready = time.monotonic() - host.t_start - t_ready
            return
        time.sleep(0.1)
    run.errors.append(f"background hashing not done {SETTLE_TIMEOUT_S:.0f} s after ready")


def timed(
    client: httpx.Client,
    n: int,
    make: Callable[[int], tuple[str, dict[str, object]]],
    took: list[float] | None = None,
) -> list[float]:
    """Milliseconds per request, keep-alive; each answer must be 200 with a body read in full.

    ``took`` collects the server's own ``took_ms`` (the library's share) when the answer has one.
    """
    times: list[float] = []
    for i in range(n):
        path, params = make(i)
        t = time.perf_counter()
        response = client.get(path, params=params)  # type: ignore[arg-type]
        _ = response.content
        times.append((time.perf_counter() - t) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} {params} answered {response.status_code}: {response.text[:300]}")
        if took is not None:
            took.append(float(response.json().get("took_ms", 0.0)))
    return times


def comfy_latencies(host: Host, n: int) -> dict[str, list[float]]:
    timed(host.client, 5, lambda i: ("/api/models/loras", {}))  # ComfyUI fills its file-list cache
    return {
        "ComfyUI /api/models/loras": timed(host.client, n, lambda i: ("/api/models/loras", {})),
        "ComfyUI /api/experiment/models/loras": timed(
            host.client, n, lambda i: ("/api/experiment/models/loras", {})
        ),
    }


LIST_ROW = "ours: list 50 rows (sort=name, paged)"
FIRST_PAGE_ROW = "ours: list first page (offset 0)"
SEARCH_ROW = "ours: search q=<term> 50 rows"


def our_latencies(host: Host, n: int, files: int, took: dict[str, list[float]]) -> dict[str, list[float]]:
    pages = max(1, min(files, 5000) // 50)
    timed(host.client, 10, lambda i: (LIST_PATH, {"limit": 50}))
    took[LIST_ROW], took[SEARCH_ROW], took[FIRST_PAGE_ROW] = [], [], []
    return {
        FIRST_PAGE_ROW: timed(
            host.client, n, lambda i: (LIST_PATH, {"limit": 50, "sort": "name"}), took[FIRST_PAGE_ROW]
        ),
        LIST_ROW: timed(
            host.client,
            n,
            lambda i: (LIST_PATH, {"limit": 50, "offset": (i % pages) * 50, "sort": "name"}),
            took[LIST_ROW],
        ),
        SEARCH_ROW: timed(
            host.client,
            n,
            lambda i: (LIST_PATH, {"q": QUERIES[i % len(QUERIES)], "limit": 50}),
            took[SEARCH_ROW],
        ),
    }


def import_time(log: str) -> str:
    for seconds, name in IMPORT_LINE.findall(log):
        if PLUGIN_FOLDER in name:
            return seconds + (" (IMPORT FAILED)" if "IMPORT FAILED" in name else "")
    return "not printed"


def one_run(
    label: str,
    python: Path,
    install: Path,
    env: dict[str, str],
    work: Path,
    *,
    files: int,
    n: int,
    plugin: bool,
    library: Path,
    wait_hashing: bool,
) -> Run:
    run = Run(label)
    host = Host(python, install, env, work / f"{label.replace(' ', '-')}.log")
    try:
        t_ready = host.wait_ready()
        run.start_to_ready = t_ready
        run.rss_ready_mib = rss_mib(host.process.pid)
        if plugin:
            wait_complete(host, files, run, t_ready)
            if wait_hashing:
                wait_settled(host, library, run, t_ready)
        time.sleep(2.0)
        run.rss_settled_mib = rss_mib(host.process.pid)
        run.latencies.update(comfy_latencies(host, n))
        if plugin:
            run.latencies.update(our_latencies(host, n, files, run.took_ms))
        time.sleep(1.0)
        run.rss_mib = rss_mib(host.process.pid)
        run.hwm_mib = vm_hwm_mib(host.process.pid)
        run.threads = psutil.Process(host.process.pid).num_threads()
        if plugin:
            run.import_s = import_time(host.log())
            bad = [ln for ln in host.log().splitlines() if "model-library" in ln and "Error" in ln]
            run.errors.extend(bad[:5])
    finally:
        host.stop()
    print(f"  {label}: ready {run.start_to_ready:.2f} s; {load()}", file=sys.stderr)
    return run


def warm_up(python: Path, install: Path, env: dict[str, str], work: Path) -> None:
    """One start not counted: the first start after the files were made pays for cold caches."""
    host = Host(python, install, env, work / "warm-up.log")
    try:
        ready = host.wait_ready()
    finally:
        host.stop()
    print(f"  warm-up start (not counted): ready {ready:.2f} s", file=sys.stderr)


def fmt_complete(run: Run) -> str:
    if run.complete_after_ready is None:
        return "never"
    note = " (complete at the first request)" if run.complete_at_first_poll else ""
    return f"{run.complete_after_ready:.3f} s{note}"


def report(args: argparse.Namespace, base: list[Run], first: Run, warm: list[Run]) -> bool:
    print(f"\nIssue 8 in a real ComfyUI 0.3.64: {args.files} models in the install's folders, {load()}")
    base_ready = median([r.start_to_ready for r in base])
    print(f"\n{'start-up (process start -> GET / 200)':<44}{'seconds':>9}{'x baseline':>12}")
    print(f"{'baseline: no plugin (median of ' + str(len(base)) + ')':<44}{base_ready:>9.2f}{1.0:>11.2f}x")
    for run in [first, *warm]:
        print(f"{run.label:<44}{run.start_to_ready:>9.2f}{run.start_to_ready / base_ready:>11.2f}x")
    print(f"\n{'listing complete after ready':<44}")
    for run in [first, *warm]:
        print(f"  {run.label:<42}{fmt_complete(run)}   (first poll saw total={run.first_poll_total})")
    if first.headers_after_ready is not None:
        headers = first.headers_after_ready
        print(f"  every header read (type, base model) {headers:.2f} s after ready (first start)")
    if first.settle_after_ready is not None:
        print(
            f"  background headers + hashing done {first.settle_after_ready:.1f} s after ready (first start)"
        )

    comfy_ref = median(first.latencies["ComfyUI /api/models/loras"])
    print(
        f"\n{'HTTP latency, keep-alive, ' + str(args.requests) + ' requests':<44}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'x ComfyUI loras':>17}{'took_ms p50':>14}"
    )
    for run, prefix in ((base[0], "no plugin: "), (first, "")):
        for name, values in run.latencies.items():
            p50, p99 = pct(values, 0.5), pct(values, 0.99)
            took = run.took_ms.get(name)
            server = f"{pct(took, 0.5):>14.2f}" if took else f"{'-':>14}"
            print(f"{prefix + name:<44}{p50:>8.2f}{p99:>8.2f}{p50 / comfy_ref:>16.2f}x{server}")
    base_rss = median([r.rss_mib for r in base])
    growth = first.rss_mib - base_rss
    print(
        f"\n{'RSS MiB (same calls in every run)':<44}{'at ready':>10}{'settled':>9}{'end':>7}{'peak':>7}"
        f"{'growth':>8}{'threads':>9}"
    )
    for run in [*base, first, *warm]:
        print(
            f"{run.label:<44}{run.rss_ready_mib:>10.0f}{run.rss_settled_mib:>9.0f}{run.rss_mib:>7.0f}"
            f"{run.hwm_mib:>7.0f}{run.rss_mib - base_rss:>+8.0f}{run.threads:>9}"
        )
    print("\nissue 8's competitor figures (measured by its author on another machine; context only):")
    for name, value in ISSUE_FIGURES.items():
        print(f"  {name:<46}{value}")
    list_p50 = pct(first.latencies[LIST_ROW], 0.5)
    search_p50 = pct(first.latencies[SEARCH_ROW], 0.5)
    startup_cost = first.start_to_ready - base_ready
    complete = first.complete_after_ready
    warm_complete = max((r.complete_after_ready or 1e9) for r in warm) if warm else None
    goals = [
        goal(
            "complete listing <= 0.5 s after ready (first start)",
            complete is not None and complete <= 0.5,
            fmt_complete(first),
        ),
        goal(
            "warm list p50 < 5 ms",
            list_p50 < 5,
            f"{list_p50:.2f} ms ({list_p50 / comfy_ref:.2f}x ComfyUI loras)",
        ),
        goal("search p50 < 5 ms", search_p50 < 5, f"{search_p50:.2f} ms ({search_p50 / comfy_ref:.2f}x)"),
        goal("RSS growth < 50 MiB (first start)", growth < 50, f"{growth:+.1f} MiB"),
        *(
            goal(
                f"RSS growth < 50 MiB ({r.label})",
                r.rss_mib - base_rss < 50,
                f"{r.rss_mib - base_rss:+.1f} MiB",
            )
            for r in warm
        ),
        goal(
            "import time printed 0.0 s",
            all(r.import_s == "0.0" for r in [first, *warm]),
            ", ".join(f"{r.label}: {r.import_s}" for r in [first, *warm]),
        ),
        goal(
            "start-up cost (info: issue's rival adds 0.3 s)",
            True,
            f"{startup_cost:+.2f} s, {first.start_to_ready / base_ready:.2f}x baseline",
        ),
    ]
    if warm_complete is not None:
        goals.append(
            goal(
                "second start: complete listing ~0 after ready",
                warm_complete <= 0.5,
                "; ".join(fmt_complete(r) for r in warm),
            )
        )
    print()
    ok = print_goals(goals)
    for run in [*base, first, *warm]:
        for error in run.errors:
            print(f"note ({run.label}): {error}")
    return ok


def git_state() -> str:
    head = subprocess.run(
        ["git", "-C", str(PROJECT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(PROJECT), "status", "--short", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    dirty = [d.strip() for d in dirty if d.strip()]
    return f"plugin tree {PROJECT} at {head}" + (f", uncommitted: {' '.join(dirty)}" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--baseline-runs", type=int, default=2)
    parser.add_argument("--warm-runs", type=int, default=2)
    parser.add_argument("--no-wait-hashing", action="store_true", help="measure before hashing is done")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    args = parser.parse_args()
    comfy, python = os.environ.get("COMFYUI_PATH"), os.environ.get("COMFYUI_PYTHON")
    if not comfy or not python:
        sys.exit("set COMFYUI_PATH and COMFYUI_PYTHON (see docs/host.md)")
    work = Path(tempfile.mkdtemp(prefix="bench-sources-host-", dir=os.environ.get("BENCH_DIR", "/var/tmp")))
    print(f"{git_state()}\nwork folder {work}; {load()}", file=sys.stderr)
    try:
        install, library = shadow_install(Path(comfy), work / "ComfyUI"), work / "library"
        library.mkdir()
        t = time.perf_counter()
        make_tree(install / "models", args.files)
        print(f"made {args.files} files in {time.perf_counter() - t:.1f} s; {load()}", file=sys.stderr)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_LIBRARY_", "HF_TOKEN"))}
        env.update(
            MODEL_LIBRARY_ROOT=str(library),
            HF_HUB_OFFLINE="1",
            HF_HOME=str(work / "hf-home"),
            PYTHONUNBUFFERED="1",
        )
        subprocess.run(
            [python, "-m", "compileall", "-q", *(str(PROJECT / p) for p in PACKAGE_PARTS)],
            check=True,
            env=env,
        )
        common = dict(
            files=args.files, n=args.requests, library=library, wait_hashing=not args.no_wait_hashing
        )
        warm_up(Path(python), install, env, work)
        base = [
            one_run(f"no plugin #{i + 1}", Path(python), install, env, work, plugin=False, **common)
            for i in range(args.baseline_runs)
        ]
        (install / "custom_nodes" / PLUGIN_FOLDER).symlink_to(PROJECT, target_is_directory=True)
        first = one_run("plugin, first start", Path(python), install, env, work, plugin=True, **common)
        warm = [
            one_run(f"plugin, start #{i + 2}", Path(python), install, env, work, plugin=True, **common)
            for i in range(args.warm_runs)
        ]
        ok = report(args, base, first, warm)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
