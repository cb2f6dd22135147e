"""``pretty_json``: the text ``json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)`` gives,
written in about two thirds of the time.

Every model's ``metadata.json`` is written indented, for people to read. ``json`` encodes indented text
with its pure-Python encoder (before Python 3.14): about 60 us for one sidecar, 40 here, on the main
thread of an adoption for every small file. This writer walks the containers itself and
leaves every string to ``json``'s C escaping, so the text is byte for byte what ``json.dumps`` gives
(``tests/core/io/test_jsonfmt.py`` holds it to that); a value it does not know (a key that is not a
string, a float that is not finite, anything not JSON) is handed to ``json.dumps`` whole.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring  # C when available
from typing import Any

_INDENT = "  "


class _Unusual(Exception):
    """A value this writer leaves to ``json.dumps``."""


def pretty_json(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)``, faster."""
    parts: list[str] = []
    try:
        _write(value, "\n", parts)
    except (_Unusual, RecursionError):  # RecursionError: a cycle, which json.dumps reports as one
        return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    return "".join(parts)


def _write(value: Any, newline: str, parts: list[str]) -> None:
    # Subclasses (str enums above all) are written as json writes them: by their str, int or float value.
    if isinstance(value, str):
        parts.append(encode_basestring(value))
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        inner = newline + _INDENT
        lead = "{" + inner
        # json sorts items(), not keys: the same order, and a dict subclass's items() (not its []) is what
        # it writes. Raises TypeError for mixed key types, as json.dumps does.
        for key, item in sorted(value.items()):
            if not isinstance(key, str):
                raise _Unusual  # json writes numbers and None as text keys
            parts.append(lead + encode_basestring(key) + ": ")
            _write(item, inner, parts)
            lead = "," + inner
        parts.append(newline + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            parts.append("[]")
            return
        inner = newline + _INDENT
        lead = "[" + inner
        for item in value:
            parts.append(lead)
            _write(item, inner, parts)
            lead = "," + inner
        parts.append(newline + "]")
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float) and math.isfinite(value):
        parts.append(float.__repr__(value))
    else:
        raise _Unusual  # NaN, infinities, anything json must judge (or refuse)
