"""Which files running processes hold: open descriptors and memory maps (ComfyUI maps safetensors files
and may close the descriptor after). Read through psutil; processes we may not look into (another user's)
are skipped, so the cache only evicts what nobody it can see is using, and files in use by processes it
cannot see are protected by the caller's own recency (a file used within ``RECENT_S`` is never evicted)."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

RECENT_S = 600.0


def held_paths(under: Path) -> set[str]:
    """Real paths below ``under`` that a process holds open or mapped."""
    prefix = os.path.join(os.path.realpath(under), "")
    held: set[str] = set()
    for process in psutil.process_iter():
        try:
            paths = [f.path for f in process.open_files()]
            paths += [m.path for m in process.memory_maps(grouped=True)]
        except (psutil.Error, OSError):
            continue  # gone, a zombie, or not ours to look into
        held.update(p for p in paths if p.startswith(prefix))
    return held
