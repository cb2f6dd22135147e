"""Run in a subprocess by the group-commit crash tests: adopt an install (or import a folder) and kill -9
itself just before the N-th call of one system call or step, in the middle of a batch.

Usage: python group_child.py LIBRARY_ROOT PATH adopt|import POINT N [GROUP_MODELS [BATCH_MODELS]]

POINT is ``rename`` (a staged model's folder moved into the library), ``replace`` (a link swapped over an
original, or an atomic write), ``symlink`` (a link made at its temp name) or ``fsync_many`` (a batch's
files or folders about to be synced, between two of its steps).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any


def _kill_before(module: Any, name: str, n: int) -> None:
    real = getattr(module, name)
    calls = [0]

    def hooked(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    setattr(module, name, hooked)


def main() -> int:
    from comfyui_model_library.core.adopt import AdoptService
    from comfyui_model_library.core.config import load_config
    from comfyui_model_library.core.importer import group
    from comfyui_model_library.core.library import Library

    root, path, mode, point, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    if len(sys.argv) > 6:  # small groups: several in one batch, each staged while the one before commits
        group.GROUP_MAX_MODELS = int(sys.argv[6])
    if len(sys.argv) > 7:  # small batches: several in one importer run, registered as each one ends
        import comfyui_model_library.core.adopt as adopt_package

        adopt_package.BATCH_MODELS = int(sys.argv[7])  # read there when the units are split
    library = Library.open(load_config(Path(root)))
    if point == "fsync_many":
        from comfyui_model_library.core.adopt import batch

        for module in (group, batch):  # counted together: the batch's steps in the order they run
            module.fsync_many = _counted(module.fsync_many, n)  # type: ignore[attr-defined]
    else:
        _kill_before(os, point, n)
    if mode == "adopt":
        AdoptService(library.config, library.db, library.repo, library.importer).adopt(path)
    else:
        library.importer.run([path])
    print("FINISHED", flush=True)
    library.close()
    return 0


_FSYNC_CALLS = [0]


def _counted(real: Any, n: int) -> Any:
    def hooked(*args: Any, **kwargs: Any) -> Any:
        _FSYNC_CALLS[0] += 1
        if _FSYNC_CALLS[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    return hooked


if __name__ == "__main__":
    sys.exit(main())
