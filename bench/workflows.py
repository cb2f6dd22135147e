"""Reading workflows and extracting their model references, over every template ComfyUI ships.

The templates come from the ``comfyui-workflow-templates-json`` package (a test extra: about 650 UI-format
workflows, about 1,200 references). Every file is read into memory first, so the rows time parsing and
extraction only. The baseline, measured in the same run on the same bytes, is plain ``json.loads``:

    json.loads              the baseline: parse each file, nothing else
    read                    read_workflow_bytes: parse + tell UI from API + check the shape
    read + extract          ... + extract_references (loader widgets, subgraphs, models entries)
    PNG: read + extract     the same workflows carried in a PNG's tEXt chunk, as ComfyUI saves images

    python bench/workflows.py [--rounds 5]

``--check`` times instead what ``model-library workflow check`` does after reading: resolving a
40-reference workflow against a catalog of ``--rows`` synthetic models (100,000; the rows of
bench/search.py): 10 references found by SHA-256, 10 by exact file name, 10 unknown names with a Hub url
(downloadable) and 10 unknown names without one (missing, with candidates: the slowest path, several
searches each). Goal: p99 under 50 ms.

    python bench/workflows.py --check [--rows 100000] [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import comfyui_workflow_templates_json

from comfyui_model_library.core.workflows import extract_references, read_workflow_bytes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import goal, median, print_goals, ratio_table

GOAL_RATIO = 3.0  # read + extract at most this many times json.loads
GOAL_CHECK_P99_MS = 50.0
TYPE_CATEGORY = {"lora": "loras", "checkpoint": "checkpoints", "vae": "vae", "controlnet": "controlnet"}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def as_png(workflow: bytes) -> bytes:
    """A 1x1 PNG carrying the workflow in a tEXt chunk (compact JSON, as ComfyUI's json.dumps writes)."""
    text = json.dumps(json.loads(workflow)).encode("latin-1")
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    idat = _chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + _chunk(b"tEXt", b"workflow\0" + text) + idat + _chunk(b"IEND", b"")


def templates() -> list[bytes]:
    folder = Path(comfyui_workflow_templates_json.__file__).parent / "templates"
    files = sorted(p for p in folder.glob("*.json") if not p.name.startswith("index"))
    return [p.read_bytes() for p in files if p.name != "fuse_options.json"]


def timed(fn: Callable[[bytes], object], inputs: list[bytes]) -> float:
    start = time.perf_counter()
    for data in inputs:
        fn(data)
    return time.perf_counter() - start


def extract_count(data: bytes) -> int:
    return len(extract_references(read_workflow_bytes(data)).references)


def check_workflow(models: list[Any], rng: random.Random) -> dict[str, Any]:
    """A UI workflow of 40 loader nodes (see the module's docstring)."""
    picked = rng.sample([m for m in models if m.type in TYPE_CATEGORY], 20)
    nodes: list[dict[str, Any]] = []

    def node(category: str, name: str, entry: dict[str, Any] | None = None) -> None:
        node_type = {
            "loras": "LoraLoaderModelOnly",
            "checkpoints": "CheckpointLoaderSimple",
            "vae": "VAELoader",
            "controlnet": "ControlNetLoader",
        }[category]
        item: dict[str, Any] = {"id": len(nodes) + 1, "type": node_type, "widgets_values": [name]}
        if node_type == "LoraLoaderModelOnly":
            item["widgets_values"].append(1.0)
        if entry is not None:
            item["properties"] = {"models": [{"name": name, "directory": category, **entry}]}
        nodes.append(item)

    for i, model in enumerate(picked):
        category = TYPE_CATEGORY[model.type]
        if i < 10:  # by hash, under another name
            node(category, f"renamed_{i}.safetensors", {"hash": model.hashes.sha256, "hash_type": "SHA256"})
        else:  # by exact file name
            node(category, model.files[0].path)
    others = rng.sample([m for m in models if m.type in TYPE_CATEGORY], 20)
    for i, model in enumerate(others):  # not in the library: a near name (a candidate), a url for half
        name = model.files[0].path.replace(".safetensors", f"_retrained{i}.safetensors")
        url = f"https://huggingface.co/someone/repo{i}/resolve/main/{name}" if i < 10 else None
        node(TYPE_CATEGORY[model.type], name, {"url": url} if url else None)
    return {"nodes": nodes, "links": []}


def run_check_bench(rows: int, runs: int) -> bool:
    from search import synthetic_models

    from comfyui_model_library.core.catalog.db import Database
    from comfyui_model_library.core.catalog.migrations import migrate
    from comfyui_model_library.core.catalog.repository import ModelRepository
    from comfyui_model_library.core.workflows import workflow_from_json
    from comfyui_model_library.core.workflows.resolve import RefStatus, Resolver

    with tempfile.TemporaryDirectory(prefix="bench-wfcheck-") as tmp:
        db = Database(Path(tmp) / "catalog.sqlite")
        migrate(db)
        repo = ModelRepository(db)
        models = list(synthetic_models(rows))
        started = time.perf_counter()
        repo.add_many(models)
        print(f"inserted {rows:,} models in {time.perf_counter() - started:.1f} s")
        with db.read() as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        extraction = extract_references(workflow_from_json(check_workflow(models, random.Random(5))))
        assert len(extraction.references) == 40, len(extraction.references)
        resolver = Resolver(repo)
        first = resolver.check(extraction)
        counts = first.counts()
        print(f"40 references: {counts}")
        assert counts["in_library"] >= 20 and counts["downloadable"] == 10, counts
        assert all(r.candidates for r in first.items[30:] if r.status is RefStatus.MISSING)
        wall, cpu = [], []
        for _ in range(runs):
            started, started_cpu = time.perf_counter(), time.thread_time()
            Resolver(repo).check(extraction)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - started_cpu) * 1000)
        db.close()

    def pct(samples: list[float], q: float) -> float:
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    p50, p99 = pct(wall, 0.5), pct(wall, 0.99)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"check, {runs} runs: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(wall):.1f} ms (wall)")
    print(f"                 p50 {pct(cpu, 0.5):.1f} ms, p99 {pct(cpu, 0.99):.1f} ms (this thread's CPU)")
    label = f"check of 40 references against {rows:,} models: p99 < {GOAL_CHECK_P99_MS:.0f} ms"
    return print_goals([goal(label, p99 < GOAL_CHECK_P99_MS, f"{p99:.1f} ms")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="time the check against a large library")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    if args.check:
        return 0 if run_check_bench(args.rows, args.runs) else 1
    jsons = templates()
    pngs = [as_png(data) for data in jsons]
    refs = sum(extract_count(data) for data in jsons)
    assert refs == sum(extract_count(data) for data in pngs)
    rows: dict[str, tuple[Callable[[bytes], object], list[bytes]]] = {
        "json.loads": (json.loads, jsons),
        "read": (read_workflow_bytes, jsons),
        "read + extract": (extract_count, jsons),
        "PNG: read + extract": (extract_count, pngs),
    }
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.rounds):
        for name, (fn, inputs) in rows.items():
            samples[name].append(timed(fn, inputs))
    size = sum(len(data) for data in jsons)
    title = f"{len(jsons)} templates, {refs} references, {size / (1 << 20):.1f} MiB (median of {args.rounds})"
    print(ratio_table(title, samples, baseline="json.loads", size_bytes=size))
    for name in ("read + extract", "PNG: read + extract"):
        seconds = median(samples[name])
        print(f"{name}: {len(jsons) / seconds:,.0f} workflows/s, {refs / seconds:,.0f} references/s")
    ratio = median(samples["read + extract"]) / median(samples["json.loads"])
    label = f"read + extract <= {GOAL_RATIO:.0f}x json.loads"
    ok = print_goals([goal(label, ratio <= GOAL_RATIO, f"{ratio:.2f}x")])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
