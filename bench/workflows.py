"""Reading workflows and extracting their model references, over every template ComfyUI ships.

The templates come from the ``comfyui-workflow-templates-json`` package (a test extra: about 650 UI-format
workflows, about 1,200 references). Every file is read into memory first, so the rows time parsing and
extraction only. The baseline, measured in the same run on the same bytes, is plain ``json.loads``:

    json.loads              the baseline: parse each file, nothing else
    read                    read_workflow_bytes: parse + tell UI from API + check the shape
    read + extract          ... + extract_references (loader widgets, subgraphs, models entries)
    PNG: read + extract     the same workflows carried in a PNG's tEXt chunk, as ComfyUI saves images

    python bench/workflows.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import comfyui_workflow_templates_json

from comfyui_model_library.core.workflows import extract_references, read_workflow_bytes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import goal, median, print_goals, ratio_table

GOAL_RATIO = 3.0  # read + extract at most this many times json.loads


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
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
