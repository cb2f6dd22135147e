"""How long ComfyUI takes to import the plugin (it prints this per plugin; ours must read 0.0 s).

Loads the project the way ComfyUI does (tests/host/test_entry.py's LOAD_LIKE_COMFYUI: a folder under
custom_nodes/, imported by path) in fresh interpreters, after one warm-up run (an installed plugin has its
bytecode cached). Baseline, measured in the same run: importing the stdlib's ``xml.dom.minidom`` the
same way, a small module. ComfyUI prints 0.0 for anything under 0.05 s: the goal.

    python -m bench.entry
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench._table import goal, print_goals, ratio_table
from tests.host.test_entry import LOAD_LIKE_COMFYUI, PROJECT, run_python

BASELINE = r"""
import json, sys, time
start = time.perf_counter()
import importlib
importlib.import_module("xml.dom.minidom")
print(json.dumps({"elapsed": time.perf_counter() - start}))
"""
RUNS = 7
GOAL_S = 0.05


def main() -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "custom_nodes" / "comfyui-model-library"
        folder.parent.mkdir()
        folder.symlink_to(PROJECT, target_is_directory=True)
        library = Path(tmp) / "library"
        run_python(LOAD_LIKE_COMFYUI, str(folder), library=library)  # warm the bytecode cache
        ours = [run_python(LOAD_LIKE_COMFYUI, str(folder), library=library)["elapsed"] for _ in range(RUNS)]
        base = [run_python(BASELINE, library=library)["elapsed"] for _ in range(RUNS)]
    samples = {"xml.dom.minidom": base, "plugin": ours}
    print(ratio_table("Plugin import, as ComfyUI does it", samples, "xml.dom.minidom"))
    best = min(ours)
    return print_goals(
        [
            goal(
                "plugin import < 0.05 s (ComfyUI prints 0.0)",
                best < GOAL_S,
                f"{best / GOAL_S:.2f} of the goal",
            )
        ]
    )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
