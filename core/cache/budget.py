"""``MODEL_LIBRARY_CACHE_BUDGET``: bytes, or a number with a K, M, G or T suffix (powers of 1,024; an
optional "B" or "iB" after it, any case, spaces allowed): "500G", "1.5 TiB", "2048M"."""

from __future__ import annotations

import re

from ..errors import InvalidConfig

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_budget(text: str) -> int:
    """``text`` as a number of bytes; InvalidConfig says what is accepted."""
    match = _BUDGET.match(text or "")
    if match is None:
        raise InvalidConfig(
            f"MODEL_LIBRARY_CACHE_BUDGET={text!r} is not a size; give bytes or a number with K, M, G or T "
            "(e.g. 500G)."
        )
    number, unit = match.groups()
    size = int(float(number) * _UNITS[unit.upper()])
    if size <= 0:
        raise InvalidConfig(f"MODEL_LIBRARY_CACHE_BUDGET={text!r} leaves no room; give a size above zero.")
    return size
