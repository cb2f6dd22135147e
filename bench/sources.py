"""Catalogue 10,000 header-bearing model files in place: time to a complete listing, warm list and search
latency, RSS growth. Baseline in the same run: a bare ``os.walk`` + ``stat`` of the same tree (the floor
any in-place catalogue has to pay), and ComfyUI-Model-Manager's approach of walking on every list call.

    python -m bench.sources [--files 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth

FAMILIES = [
    "sdxl_lora_kohya",
    "sd15_lora_kohya",
    "flux_lora_peft",
    "vae_sdxl",
    "clip_l",
    "sdxl_checkpoint",
    "controlnet_sd15",
    "esrgan_new",
]
CATEGORY = {
    "sdxl_lora_kohya": "loras",
    "sd15_lora_kohya": "loras",
    "flux_lora_peft": "loras",
    "vae_sdxl": "vae",
    "clip_l": "text_encoders",
    "sdxl_checkpoint": "checkpoints",
    "controlnet_sd15": "controlnet",
    "esrgan_new": "upscale_models",
}


def make_tree(root: Path, n: int) -> None:
    templates = {}
    tmpl_dir = root.parent / "templates"
    tmpl_dir.mkdir(parents=True, exist_ok=True)
    for fam in FAMILIES:
        templates[fam] = synth.write_family(tmpl_dir / f"{fam}.safetensors", fam).read_bytes()
    words = [
        "detail",
        "anime",
        "realistic",
        "portrait",
        "cinematic",
        "pixel",
        "sketch",
        "neon",
        "film",
        "ink",
    ]
    for i in range(n):
        fam = FAMILIES[i % len(FAMILIES)]
        folder = root / CATEGORY[fam] / f"set{i % 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{words[i % 10]}_{words[(i // 10) % 10]}_v{i}.safetensors"
        # Unique bytes per file (a different tail), so nothing is a duplicate.
        data = templates[fam][:-8] + i.to_bytes(8, "little")
        (folder / name).write_bytes(data)


def walk_stat(root: Path) -> int:
    count = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            os.stat(os.path.join(dirpath, f))
            count += 1
    return count


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-sources-", dir=os.environ.get("BENCH_DIR", "/var/tmp")))
    try:
        tree = work / "ComfyUI" / "models"
        t0 = time.perf_counter()
        make_tree(tree, args.files)
        print(f"made {args.files} files in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

        walks = []
        for _ in range(3):
            t = time.perf_counter()
            walk_stat(tree)
            walks.append(time.perf_counter() - t)
        walk = statistics.median(walks)

        proc = psutil.Process()
        rss0 = proc.memory_info().rss
        lib = Library.open(load_config(work / "library"))
        lib.sources.add(tree, scan=False)
        t = time.perf_counter()
        lib.sources.scan(inspect=False)
        first_scan = time.perf_counter() - t
        total = lib.catalog.list_models(ModelQuery(limit=1)).total
        assert total == args.files, total
        t = time.perf_counter()
        lib.sources.inspect_pending()
        inspect = time.perf_counter() - t
        t = time.perf_counter()
        lib.sources.scan()
        rescan = time.perf_counter() - t
        rss1 = proc.memory_info().rss

        list_times, search_times = [], []
        queries = ["detail", "anime port", "cinematic", "neon_film", "sketch", "ink v12", "real", "pix"]
        for i in range(400):
            t = time.perf_counter()
            lib.catalog.list_models(ModelQuery(limit=50, offset=(i * 50) % 5000, sort="name"))
            list_times.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            lib.catalog.list_models(ModelQuery(q=queries[i % len(queries)], limit=50))
            search_times.append((time.perf_counter() - t) * 1000)
        lib.close()

        rows = [
            ("walk+stat of the tree (baseline)", walk, 1.0, ""),
            ("first scan: walk -> complete listing", first_scan, first_scan / walk, ""),
            ("then headers read (type, base model)", inspect, inspect / walk, "background"),
            ("rescan, nothing changed", rescan, rescan / walk, ""),
            ("walk per list call (Model-Manager style)", walk, 1.0, "per call"),
        ]
        print(f"\n{args.files} files in place")
        print(f"{'step':<46} {'seconds':>9} {'x walk':>8}")
        for name, secs, ratio, note in rows:
            print(f"{name:<46} {secs:>9.3f} {ratio:>8.2f} {note}")
        print(f"\n{'latency':<30} {'p50 ms':>8} {'p99 ms':>8} {'goal':>10}")
        for name, values in (("warm list (50 rows)", list_times), ("search (50 rows)", search_times)):
            p50, p99 = pct(values, 0.5), pct(values, 0.99)
            print(f"{name:<30} {p50:>8.2f} {p99:>8.2f} {'p50<5 ms':>10} {'PASS' if p50 < 5 else 'FAIL'}")
        print(f"\nwalk per call / our warm list p50: {walk * 1000 / pct(list_times, 0.5):.0f}x faster")
        growth = (rss1 - rss0) / 2**20
        print(f"RSS growth: {growth:.1f} MiB (goal < 50 MiB) {'PASS' if growth < 50 else 'FAIL'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
