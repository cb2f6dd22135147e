"""Download throughput: ours (SHA-256 + BLAKE3 while receiving) vs huggingface_hub.hf_hub_download.

One file (default 1 GiB) served by the loopback Hub (tests/hub_server.py) in its own process; both
clients fetch the same file from the same server, interleaved, a fresh destination each round. Prints
medians and the ratio ours/theirs; goal: ours >= 1.0x.

    python bench/download.py [--size-mib 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_file(path: Path, size: int) -> str:
    h = hashlib.sha256()
    block = os.urandom(8 << 20)
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = block[: min(len(block), left)]
            fh.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from comfyui_model_library.core.config import LibraryConfig
    from comfyui_model_library.core.hf.client import HubClient
    from comfyui_model_library.core.hf.download import download_files

    work = Path(tempfile.mkdtemp(prefix="bench-download-"))
    try:
        src = work / "big.safetensors"
        size = args.size_mib << 20
        sha = make_file(src, size)
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "hub_server.py"), "--file", str(src), "--sha256", sha],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            config = LibraryConfig(root=work / "lib", hf_endpoint=url)
            hub = HubClient(config)

            def ours(i: int) -> float:
                dest = work / f"ours-{i}"
                t = time.perf_counter()
                result = download_files(hub, "bench/big", [src.name], None, dest)
                elapsed = time.perf_counter() - t
                assert result.files[0].digests.sha256 == sha
                shutil.rmtree(dest)
                (work / f"ours-{i}.download.json").unlink()
                return elapsed

            def theirs(i: int) -> float:
                from huggingface_hub import hf_hub_download

                cache = work / f"hf-{i}"
                t = time.perf_counter()
                path = hf_hub_download("bench/big", src.name, endpoint=url, cache_dir=cache)
                elapsed = time.perf_counter() - t
                assert os.path.getsize(path) == size
                shutil.rmtree(cache)
                return elapsed

            ours(-1)  # warm-up (page cache on the server side, connections)
            t_ours: list[float] = []
            t_hf: list[float] = []
            for i in range(args.rounds):
                if i % 2:
                    t_hf.append(theirs(i))
                    t_ours.append(ours(i))
                else:
                    t_ours.append(ours(i))
                    t_hf.append(theirs(i))
            hub.close()
        finally:
            server.terminate()
            server.wait(10)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mib = size / (1 << 20)
    m_ours, m_hf = statistics.median(t_ours), statistics.median(t_hf)
    ratio = (mib / m_ours) / (mib / m_hf)
    print(f"file: {mib:.0f} MiB, rounds: {args.rounds}, cores: {os.cpu_count()}")
    print(f"{'client':<42} {'median s':>9} {'MiB/s':>8} {'ratio':>7}")
    print(f"{'huggingface_hub.hf_hub_download (no hash)':<42} {m_hf:>9.2f} {mib / m_hf:>8.0f} {1.0:>7.2f}")
    label = "ours (SHA-256 + BLAKE3 while receiving)"
    print(f"{label:<42} {m_ours:>9.2f} {mib / m_ours:>8.0f} {ratio:>7.2f}")
    print(f"rounds ours: {[round(t, 2) for t in t_ours]}  hf: {[round(t, 2) for t in t_hf]}")
    print(f"goal ours >= 1.00x: {'PASS' if ratio >= 1.0 else 'FAIL'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
