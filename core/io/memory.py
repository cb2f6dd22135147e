"""Hand memory the process no longer uses back to the operating system.

glibc keeps freed memory in its arenas (one per thread that allocated), so a burst of work in a
background thread (a first walk, a batch of SQLite writes) would stay in a host's resident size for
good. ``malloc_trim(0)`` returns the free pages of every arena. Elsewhere (macOS, Windows, musl) the
allocator behaves differently and there is nothing to call.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable
from typing import cast


def trim_heap() -> bool:
    """Return free heap pages to the OS; True if the C library could be asked to (glibc)."""
    function = _malloc_trim()
    if function is None:
        return False
    function(0)  # ctypes releases the GIL for the call
    return True


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return cast("Callable[[int], int]", function)
