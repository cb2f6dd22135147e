"""File format from magic bytes, never from the file name.

A ``.safetensors`` that is really a pickle is a pickle (THREATS.md #8). The one exception is ONNX, which has
no magic: a protobuf ``ModelProto`` start is too weak on its own, so "onnx" needs the ``.onnx`` name too.
"""

from __future__ import annotations

import struct

SNIFF_BYTES = 4096
"""How much of the file's head ``sniff_bytes`` wants; less works, it only sees less."""

_ZIP_LOCAL = b"PK\x03\x04"
_ZIP_EMPTY = b"PK\x05\x06"
_TORCH_LEGACY_TAR_MEMBERS = (b"sys_info", b"pickle", b"storages", b"tensors")


def sniff_bytes(head: bytes, size: int, name: str = "") -> str:
    """One of ``safetensors|gguf|pickle|zip-pickle|onnx|unknown`` for a file of ``size`` bytes.

    ``head`` is the start of the file (``SNIFF_BYTES`` or fewer). ``name`` is only a hint, used for ONNX.
    """
    if head[:4] == b"GGUF":
        return "gguf"
    if len(head) >= 9 and head[8:9] == b"{" and size >= 10:
        return "safetensors"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if head[:4] == _ZIP_LOCAL:
        return "zip-pickle" if _zip_head_has_pickle(head) else "unknown"
    if _is_torch_legacy_tar(head):
        return "pickle"
    if name.lower().endswith(".onnx") and _looks_like_onnx(head):
        return "onnx"
    return "unknown"


def zip_has_pickle(member_names: list[str]) -> bool:
    """A torch zip checkpoint stores its pickle as ``<archive>/data.pkl`` (or ``data.pkl`` at the top)."""
    return any(n == "data.pkl" or n.endswith("/data.pkl") or n.endswith(".pkl") for n in member_names)


def _zip_head_has_pickle(head: bytes) -> bool:
    """Walk the local file headers visible in ``head``; torch writes ``data.pkl`` first."""
    names: list[str] = []
    pos = 0
    while pos + 30 <= len(head) and head[pos : pos + 4] == _ZIP_LOCAL and len(names) < 64:
        flags, _method = struct.unpack_from("<HH", head, pos + 6)
        comp_size = struct.unpack_from("<I", head, pos + 18)[0]
        name_len, extra_len = struct.unpack_from("<HH", head, pos + 26)
        name = head[pos + 30 : pos + 30 + name_len].decode("utf-8", "replace")
        names.append(name)
        if flags & 0x08:  # sizes follow the data: cannot walk further from the head alone
            break
        pos += 30 + name_len + extra_len + comp_size
    return zip_has_pickle(names)


def _is_torch_legacy_tar(head: bytes) -> bool:
    if len(head) < 263 or head[257:262] != b"ustar":
        return False
    first = head[:100].split(b"\x00", 1)[0]
    return first in _TORCH_LEGACY_TAR_MEMBERS


def _looks_like_onnx(head: bytes) -> bool:
    """``ModelProto`` starts with field 1 (``ir_version``, varint) then usually a length-delimited field."""
    if len(head) < 4 or head[0] != 0x08 or not 1 <= head[1] <= 32:
        return False
    return head[2] in (0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x40, 0x42)
