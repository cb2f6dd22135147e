"""API latency benchmark: GET /models?q= over 10,000 models while a 2 GiB import runs in the same server.

A real server (``server_routes.app.make_app``) runs in a child process on 127.0.0.1; this process is the
client (httpx, one request at a time, a fresh type-ahead query each). The baseline is the same queries
with no import running, measured in the same run. The goal: p99 under 50 ms while the import runs,
which holds only if the handlers keep disk, hashing and SQLite work off the event loop.

    python bench/api.py                    # 10,000 models, 2 GiB import, up to 600 requests per phase
    python bench/api.py --rows 2000 --import-mib 256 --requests 200
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._table import goal, print_goals
from bench.search import WORDS, percentile, synthetic_models

GOAL_P99_MS = 50.0
HEADERS = {"Content-Type": "application/json", "X-Model-Library": "1"}
V1 = "/model-library/v1"


def serve(root: Path, incoming: Path, port: int) -> None:
    """Child process: the standalone server over the prepared library."""
    from comfyui_model_library.core.config import load_config
    from comfyui_model_library.server_routes.app import run_server

    config = load_config(root, import_roots=(incoming,), lookup_after_import=False)
    run_server(config, "127.0.0.1", port, print_fn=None)


def seed(root: Path, incoming: Path, rows: int) -> None:
    from comfyui_model_library.core.config import load_config
    from comfyui_model_library.core.library import Library

    with Library.open(load_config(root, import_roots=(incoming,))) as library:
        started = time.perf_counter()
        library.repo.add_many(synthetic_models(rows))
        print(f"seeded {rows:,} models in {time.perf_counter() - started:.1f} s")


def write_big_model(path: Path, size: int) -> None:
    """A valid safetensors file of ``size`` data bytes, real (non-sparse, non-zero) bytes on disk."""
    header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}).encode()
    header += b" " * (-len(header) % 8)
    block = os.urandom(16 << 20)
    with open(path, "wb") as fh:
        fh.write(len(header).to_bytes(8, "little") + header)
        left = size
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)
    print(f"wrote a {size / (1 << 30):.2f} GiB model file")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def queries(n: int, seed_value: int) -> list[str]:
    rng = random.Random(seed_value)
    out = []
    while len(out) < n:
        word = rng.choice(WORDS)
        out += [word[:k] for k in range(2, min(len(word), 7) + 1)]
    return out[:n]


def timed_get(client: httpx.Client, q: str) -> float:
    started = time.perf_counter()
    resp = client.get(f"{V1}/models", params={"q": q, "limit": 50})
    elapsed = (time.perf_counter() - started) * 1000
    resp.raise_for_status()
    return elapsed


def job_state(client: httpx.Client, job_id: str) -> dict[str, object]:
    return client.get(f"{V1}/jobs/{job_id}").json()  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--import-mib", type=int, default=2048)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--serve", nargs=3, metavar=("ROOT", "INCOMING", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]), int(args.serve[2]))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    root, incoming = workdir / "library", workdir / "incoming"
    incoming.mkdir(parents=True)
    server = None
    try:
        seed(root, incoming, args.rows)
        big = incoming / "big.safetensors"
        write_big_model(big, args.import_mib << 20)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(root), str(incoming), str(port)],
        )
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=30, headers={"X-Model-Library": "1"}
        ) as client:
            for _ in range(200):
                try:
                    client.get(f"{V1}/status").raise_for_status()
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            for q in queries(50, 1):  # warm-up (first query opens the catalog, loads modules)
                timed_get(client, q)

            baseline = [timed_get(client, q) for q in queries(args.requests, 2)]

            resp = client.post(f"{V1}/imports", json={"paths": [str(big)], "mode": "copy"}, headers=HEADERS)
            resp.raise_for_status()
            job_id = resp.json()["job"]["id"]
            loaded: list[float] = []
            started = time.perf_counter()
            for q in queries(args.requests, 3):
                if job_state(client, job_id)["state"] in ("done", "failed", "cancelled"):
                    break
                loaded.append(timed_get(client, q))
            while job_state(client, job_id)["state"] not in ("done", "failed", "cancelled"):
                time.sleep(0.2)
            import_s = time.perf_counter() - started
            final = job_state(client, job_id)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)

    rows = [("no import (baseline)", baseline), (f"during {args.import_mib} MiB import", loaded)]
    base50, base99 = percentile(baseline, 50), percentile(baseline, 99)
    print(
        f"\nGET /models?q= over {args.rows:,} models; import of {args.import_mib} MiB took {import_s:.1f} s "
        f"({final['state']})"
    )
    head = f"{'':<24}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'p50 x':>8}{'p99 x':>8}"
    print(head + "\n" + "-" * len(head))
    for name, samples in rows:
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        print(f"{name:<24}{len(samples):>9}{p50:>9.2f}{p99:>9.2f}{p50 / base50:>7.2f}x{p99 / base99:>7.2f}x")
    loaded99 = percentile(loaded, 99)
    ok = print_goals(
        [
            goal(
                f"p99 during the import < {GOAL_P99_MS:.0f} ms", loaded99 < GOAL_P99_MS, f"{loaded99:.1f} ms"
            ),
            goal("the import succeeded", final["state"] == "done", str(final["state"])),
            goal("enough requests ran during the import", len(loaded) >= 100, str(len(loaded))),
        ]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
