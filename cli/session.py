"""The library a command works on: opened from ``--library`` (else $MODEL_LIBRARY_ROOT or per-user).

Below both :mod:`.main` (the parser and dispatch) and :mod:`.commands` (one function per command), so
neither imports the other back.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..core.config import load_config


def open_library(args: argparse.Namespace) -> Any:
    # Imported on use: `model-library --help` and bad usage stay fast.
    from ..core.library import Library

    return Library.open(load_config(args.library))
