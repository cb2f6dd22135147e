"""Partial downloads on disk: their names, and the sweep of those nobody resumed.

Kept apart from ``hf`` so that housekeeping at start-up does not load the HTTP stack (httpx pulls in
rich and click, about 10 MiB of a host's resident memory) in a process that may never download.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PARTIAL_SUFFIX = ".incomplete"  # a file being downloaded
STATE_SUFFIX = ".incomplete.json"  # what a resume needs (ETag, bytes so far)
MANIFEST_SUFFIX = ".download.json"  # the finished files of a multi-file download


def cleanup_stale_partials(tmp_dir: Path, older_than_days: float, *, now: float | None = None) -> list[Path]:
    """Delete partial downloads (and their records) untouched for ``older_than_days``. Never follows links."""
    cutoff = (time.time() if now is None else now) - older_than_days * 86400
    removed: list[Path] = []
    suffixes = (PARTIAL_SUFFIX, STATE_SUFFIX, MANIFEST_SUFFIX)
    for dirpath, _dirs, names in os.walk(tmp_dir, followlinks=False):
        for name in names:
            if not name.endswith(suffixes):
                continue
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if path.is_symlink() or st.st_mtime >= cutoff:
                continue
            path.unlink()
            removed.append(path)
    return removed
