"""Debian Chromium for the real-browser tests (standalone panel and panel inside ComfyUI)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CHROMIUM = os.environ.get("MODEL_LIBRARY_CHROMIUM", "/usr/bin/chromium")
# Without the networking flags Chromium tries to reach Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots for the docs are refreshed only on request (MODEL_LIBRARY_SCREENSHOTS=1): a test run must
# not rewrite tracked files.
SCREENSHOTS = (
    Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    if os.environ.get("MODEL_LIBRARY_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "model-library-screenshots"
)
