"""Run a script as root of its own user and mount namespace: real tmpfs mounts (a small full disk, a share
mounted late) without being root, and gone with the process. Skips where namespaces are not allowed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_in_mount_namespace(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"no user and mount namespaces here: {probe.stderr.decode(errors='replace')[:200]}")
    path = Path(args[0]) / "namespace_script.py" if args else None
    if path is None:
        raise ValueError("the first argument is the test's temporary folder (the script is written there)")
    path.write_text(script)
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
