"""Run in a subprocess by the kill -9 tests: adopt (or undo) an install, printing each stage as it starts.

Usage: python adopt_child.py LIBRARY_ROOT COMFYUI_DIR adopt|undo SEED
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path


def main() -> int:
    from comfyui_model_library.core.adopt import AdoptService
    from comfyui_model_library.core.config import load_config
    from comfyui_model_library.core.importer import group
    from comfyui_model_library.core.library import Library

    # Groups of four: a batch spans several groups, so a kill can land after a group's links are in the
    # table and before the batch writes the records files and deletes its rows.
    group.GROUP_MAX_MODELS = 4

    root, install, mode, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    rng = random.Random(seed)

    def progress(done: int, total: int, stage: str) -> None:
        print(stage, flush=True)
        time.sleep(rng.random() * 0.004)  # spreads the kill over the steps that follow a stage

    library = Library.open(load_config(Path(root)))
    service = AdoptService(library.config, library.db, library.repo, library.importer)
    if mode == "undo":
        service.undo(install, progress=progress)
    else:
        service.adopt(install, progress=progress)
    print("FINISHED", flush=True)
    library.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
