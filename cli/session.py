"""The library a command works on: opened from ``--library`` (else $MODEL_LIBRARY_ROOT or per-user).

Below both :mod:`.main` (the parser and dispatch) and :mod:`.commands` (one function per command), so
neither imports the other back.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..core.config import load_config
from ..core.errors import DestinationNotWritable


def open_library(args: argparse.Namespace) -> Any:
    # Imported on use: `model-library --help` and bad usage stay fast.
    from ..core.library import Library

    config = load_config(args.library)
    try:
        return Library.open(config)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        # The library's folders could not be made (--library names a file, or a folder we may not write).
        raise DestinationNotWritable(
            f"cannot use {config.root} as the library folder ({exc.strerror}: {exc.filename}); give "
            "--library (or $MODEL_LIBRARY_ROOT) a folder you can write to (it is created if missing)"
        ) from exc
