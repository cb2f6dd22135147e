"""File format from magic bytes, never from the file name.

A ``.safetensors`` that is really a pickle is a pickle (THREATS.md #8). The one exception is ONNX, which has
no magic: a protobuf ``ModelProto`` start is too weak on its own, so "onnx" needs the ``.onnx`` name too.

Pickles of protocol 2 and later open with ``PROTO`` (``\x80`` then the protocol). Protocols 0 and 1 have no
magic at all: they are told by structure. The head is decoded opcode by opcode (``pickletools.genops``,
which builds nothing and imports nothing) while the stack depth each opcode needs is checked; a stream
that opens like a pickle and keeps a consistent stack for its first opcodes, or ends cleanly with STOP,
is one. Text and binary files fail within a few opcodes (an unknown opcode, a missing newline, a pop from
an empty stack). Erring towards "pickle" costs a confirmation, never safety.
"""

from __future__ import annotations

import io
import pickletools
import re
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
    if looks_like_headless_pickle(head, whole=size <= len(head)):
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
    """A pre-1.6 ``torch.save(..., _use_new_zipfile_serialization=False)`` tar: its first real member is
    one of torch's (PAX and GNU long-name headers before it are skipped)."""
    pos = 0
    while pos + 512 <= len(head) and head[pos + 257 : pos + 262] == b"ustar":
        block = head[pos : pos + 512]
        try:
            size = int(block[124:136].split(b"\x00", 1)[0].strip() or b"0", 8)
        except ValueError:
            return False
        if block[156:157] in (b"x", b"g", b"L", b"K"):  # extended headers describe the next member
            pos += 512 + (size + 511) // 512 * 512
            continue
        return block[:100].split(b"\x00", 1)[0] in _TORCH_LEGACY_TAR_MEMBERS
    return False


def _looks_like_onnx(head: bytes) -> bool:
    """``ModelProto`` starts with field 1 (``ir_version``, varint) then usually a length-delimited field."""
    if len(head) < 4 or head[0] != 0x08 or not 1 <= head[1] <= 32:
        return False
    return head[2] in (0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x40, 0x42)


# Opcodes a pickle of protocol 0 or 1 starts with: a mark, an empty container, a global, or a value.
_PICKLE_OPENERS = frozenset(
    {
        "MARK",
        "EMPTY_DICT",
        "EMPTY_LIST",
        "EMPTY_TUPLE",
        "GLOBAL",
        "INST",
        "NONE",
        "INT",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "UNICODE",
        "BINUNICODE",
    }
)
# GLOBAL's argument as genops gives it: "module.path name" (two identifier lines joined by a space).
_GLOBAL_NAME = re.compile(r"[A-Za-z_][\w.]* [A-Za-z_][\w.]*")
# This many opcodes with a consistent stack (and no STOP yet) make a pickle of a long stream.
_PICKLE_OPS_NEEDED = 12


def looks_like_headless_pickle(head: bytes, *, whole: bool = False) -> bool:
    """True when ``head`` (a file's first bytes; ``whole``: all of it) starts a protocol 0 or 1 pickle.

    A short stream must end with STOP where the file ends: text that happens to open with ``}.`` is
    a pickle of ``{}`` followed by junk, which no tool writes."""
    stream = io.BytesIO(head)
    depth = 0
    marks: list[int] = []
    count = 0
    try:
        for op, arg, _pos in pickletools.genops(stream):
            if count == 0 and op.name not in _PICKLE_OPENERS:
                return False
            if op.name in ("GLOBAL", "INST") and not _GLOBAL_NAME.fullmatch(str(arg)):
                return False
            count += 1
            if op.name == "STOP":
                return count >= 3 and depth == 1 and not marks and whole and stream.tell() == len(head)
            depth, ok = _stack_step(op, depth, marks)
            if not ok:
                return False
            if count >= _PICKLE_OPS_NEEDED:
                return True
    except (ValueError, TypeError, struct.error, UnicodeDecodeError, EOFError):
        # The head ended inside an opcode (a long stream cut short) or on bytes that are no opcode.
        return count >= _PICKLE_OPS_NEEDED
    return False


def _stack_step(op: pickletools.OpcodeInfo, depth: int, marks: list[int]) -> tuple[int, bool]:
    """Apply ``op``'s stack effect to a depth counter; False when it would pop what is not there."""
    before = op.stack_before
    if pickletools.markobject in before:  # pops down to the newest mark, then what precedes the mark
        if not marks:
            return depth, False
        depth = marks.pop()
        extra = before.index(pickletools.markobject)
        if depth < extra:
            return depth, False
        depth -= extra
    else:
        if depth < len(before):
            return depth, False
        depth -= len(before)
    if pickletools.markobject in op.stack_after:
        marks.append(depth)
        return depth, True
    return depth + len(op.stack_after), True
