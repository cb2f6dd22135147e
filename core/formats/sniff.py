"""File format from magic bytes and structure, never from the file name.

A ``.safetensors`` that is really a pickle is a pickle (THREATS.md #8), and so is every pickle
``pickle.load`` or ``torch.load`` would run, whatever its protocol:

* protocols 2-5 start with ``PROTO`` (``\\x80 <2..5>``); legacy ``torch.save`` files (not zip) too, with
  a pickled magic number (``\\x80\\x02\\x8a\\x0a...``);
* protocols 0 and 1 have no magic (and ``pickle.load`` also takes ``PROTO 0/1``, any first opcode, and
  ignores what follows STOP): their opcodes are decoded with ``pickletools.genops`` (which builds nothing
  and imports nothing) and judged by structure (see :func:`pickle_by_structure`). Erring towards
  "pickle" costs a confirmation, never safety;
* torch's zip checkpoints hold ``<any folder>/data.pkl``; legacy torch tar files hold ``pickle``,
  ``storages`` and ``tensors`` members.

ONNX has no magic: a protobuf ``ModelProto`` start is too weak on its own, so "onnx" needs the ``.onnx``
name too.
"""

from __future__ import annotations

import io
import pickletools
import struct
from collections.abc import Callable

from .pickle_scan import tar_members

SNIFF_BYTES = 4096
"""How much of the file's head ``sniff_bytes`` wants; less works, it only sees less."""

_ZIP_LOCAL = b"PK\x03\x04"
_TORCH_TAR_FIRST = frozenset({"sys_info", "pickle", "storages", "tensors"})

# A protocol 0/1 pickle cut off at the end of the head must have decoded this many opcodes, or at
# least _FEW that began the way picklers begin (a container, a MARK, a GLOBAL import).
_MANY = 8
_FEW = 3
_OPENERS = frozenset({"PROTO", "MARK", "GLOBAL", "EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE"})
_WINDOW = SNIFF_BYTES
_WINDOWS = 256  # at most 1 MiB of opcodes is decoded (arguments stepped over are not read)
_LENGTH_WIDTH = {
    "SHORT_BINSTRING": 1,
    "SHORT_BINUNICODE": 1,
    "SHORT_BINBYTES": 1,
    "BINSTRING": 4,
    "BINUNICODE": 4,
    "BINBYTES": 4,
    "BINUNICODE8": 8,
    "BINBYTES8": 8,
    "BYTEARRAY8": 8,
}
MAX_LINE = 64 * 1024 * 1024
# Opcodes whose argument is a line (a quoted string, a number): stepped over when longer than a window.
# GLOBAL and INST are not: a name that long imports nothing.
_LINE_OPS = {
    op.code.encode("latin-1")[0]: op
    for op in pickletools.opcodes
    if op.arg is not None and op.arg.n == pickletools.UP_TO_NEWLINE and op.name not in ("GLOBAL", "INST")
}
_ARGUMENT_OPS = {op.code.encode("latin-1")[0]: op for op in pickletools.opcodes if op.name in _LENGTH_WIDTH}
_IMPORTS = frozenset({"GLOBAL", "INST", "STACK_GLOBAL", "EXT1", "EXT2", "EXT4"})
_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})


def sniff_bytes(head: bytes, size: int, name: str = "") -> str:
    """One of ``safetensors|gguf|pickle|zip-pickle|onnx|unknown`` for a file of ``size`` bytes.

    ``head`` is the start of the file (``SNIFF_BYTES`` or fewer). ``name`` is only a hint, used for ONNX.
    """
    if head[:4] == b"GGUF":
        return "gguf"
    if len(head) >= 9 and head[8:9] == b"{" and size >= 10:
        return "safetensors"  # an 8-byte header length, then the JSON header
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if head[:4] == _ZIP_LOCAL:
        return "zip-pickle" if _zip_head_has_pickle(head) else "unknown"
    if is_torch_tar_head(head, size):
        return "pickle"
    if looks_like_headless_pickle(head, whole=size <= len(head), size=size):
        return "pickle"
    if name.lower().endswith(".onnx") and _looks_like_onnx(head):
        return "onnx"
    return "unknown"


def zip_has_pickle(member_names: list[str]) -> bool:
    """A torch zip checkpoint stores its pickle as ``<archive>/data.pkl`` (or ``data.pkl`` at the top)."""
    return any(n == "data.pkl" or n.endswith("/data.pkl") or n.endswith(".pkl") for n in member_names)


def tar_has_pickle(member_names: list[str]) -> bool:
    """A legacy torch tar file: a ``pickle`` member beside ``storages`` or ``tensors``."""
    names = set(member_names)
    return "pickle" in names and bool(names & {"storages", "tensors"})


def is_torch_tar_head(head: bytes, size: int) -> bool:
    """A tar whose members seen in ``head`` are all torch's legacy ones (``sys_info``, ``pickle``...)."""

    def read(count: int, offset: int) -> bytes:
        return head[offset : offset + count]

    names = list(tar_members(read, min(size, len(head))))
    return bool(names) and set(names) <= _TORCH_TAR_FIRST


def looks_like_headless_pickle(head: bytes, *, whole: bool = False, size: int | None = None) -> bool:
    """Whether ``head``, a file's first bytes (``whole``: all of it; else ``size`` is the file's size),
    is a pickle without the ``\x80 <2..5>`` magic: protocol 0 or 1, or a crafted stream."""
    total = len(head) if whole else max(size or 0, len(head) + 1)

    def read(count: int, offset: int) -> bytes:
        return head[offset : offset + count]

    return pickle_by_structure(read, total, limit=len(head))


def pickle_by_structure(read: Callable[[int, int], bytes], size: int, *, limit: int | None = None) -> bool:
    """Whether the file of ``size`` bytes read by ``read(count, offset)`` is a pickle, any protocol.

    The opcodes are decoded by ``pickletools.genops`` window by window and their stack effects replayed
    (MARKs, pops, memo puts and gets, as ``pickle.load`` checks them), so text or binary that merely
    holds opcode bytes fails within a few bytes. A long string or bytes argument is stepped over by its
    declared length (never read), so a large leading argument does not hide what follows it; one that
    claims to run past the end of the file is no pickle. Accepted: a whole pickle (STOP with an empty
    stack) of a few opcodes; or a stream still valid where reading stops (the first ``limit`` bytes, or
    ``_WINDOWS`` windows) after many opcodes, or after a few that began as picklers begin. Nothing is
    built, nothing imported.
    """
    limit = size if limit is None else min(limit, size)
    state = _Replay()
    offset = 0
    for _ in range(_WINDOWS):
        if offset >= limit:
            break
        chunk = read(min(_WINDOW, limit - offset), offset)
        stream = io.BytesIO(chunk)
        done = 0  # where the last whole opcode ended in ``chunk``
        try:
            for op, arg, _pos in pickletools.genops(stream):
                if not state.step(op, arg):
                    return False
                if op.name == "STOP":
                    return state.stopped(ends_file=offset + stream.tell() >= size)
                done = stream.tell()
        except (ValueError, TypeError, struct.error, UnicodeDecodeError, OverflowError, Warning):
            if stream.tell() < len(chunk) or offset + len(chunk) >= size:
                return False  # a byte no opcode starts with, a bad argument, or a file ending early
        at = offset + done
        cut = _ARGUMENT_OPS.get(chunk[done]) if done < len(chunk) else None
        if cut is None:  # cut off inside a short argument (a line, a number): decode on from its start
            if done > 0:
                offset = at
                continue
            line = _LINE_OPS.get(chunk[0]) if chunk else None
            end = _line_end(read, at + 1, limit) if line is not None else None
            if line is None or end is None or not state.step(line, None):
                break  # judged on what was seen
            offset = end  # a line longer than a window (a 10 kB string first) hides nothing behind it
            continue
        if at + 1 + _LENGTH_WIDTH[cut.name] > limit:
            break
        end = _argument_end(read, cut, at)
        if end is None or end > size:
            return False
        if end > limit:
            break
        if not state.step(cut, None):
            return False
        offset = end
    return state.ops >= _MANY or (state.ops >= _FEW and state.first in _OPENERS)


def _line_end(read: Callable[[int, int], bytes], start: int, limit: int) -> int | None:
    """Where the line from ``start`` ends (after its newline), looked for up to ``MAX_LINE`` bytes."""
    pos = start
    while pos < min(limit, start + MAX_LINE):
        chunk = read(min(64 * 1024, limit - pos), pos)
        at = chunk.find(b"\n")
        if at >= 0:
            return pos + at + 1
        if not chunk:
            break
        pos += len(chunk)
    return None


def _argument_end(read: Callable[[int, int], bytes], op: pickletools.OpcodeInfo, at: int) -> int | None:
    """Where the length-prefixed opcode ``op`` at ``at`` ends, from its declared length (None: unreadable)."""
    width = _LENGTH_WIDTH[op.name]
    raw = read(width, at + 1)
    if len(raw) < width:
        return None
    length = int.from_bytes(raw, "little", signed=width == 4)
    return at + 1 + width + length if length >= 0 else None


class _Replay:
    """The stack effects of the opcodes seen so far: what ``pickle.load`` would refuse is refused."""

    def __init__(self) -> None:
        self.depth = 0  # objects on the stack, marks not counted
        self.marks: list[int] = []  # the depth at each MARK
        self.memo: set[object] = set()
        self.ops = 0
        self.first = ""
        self.imports = False

    def stopped(self, *, ends_file: bool) -> bool:
        """A whole pickle ended: one whose STOP ends the file, or one that imports something (every
        gadget does) or is long. ``pickle.load`` ignores bytes after STOP, so they decide nothing."""
        if self.depth != 0 or self.marks or self.ops < _FEW:
            return False
        return ends_file or self.imports or self.ops >= _MANY

    def step(self, op: pickletools.OpcodeInfo, arg: object) -> bool:
        self.first = self.first or op.name
        self.ops += 1
        self.imports = self.imports or op.name in _IMPORTS
        self.depth = _replay(op, arg, self.depth, self.marks, self.memo)
        return self.depth >= 0


def _replay(op: pickletools.OpcodeInfo, arg: object, depth: int, marks: list[int], memo: set[object]) -> int:
    """The stack depth after ``op``, or -1 when ``op`` is impossible here (what ``pickle.load`` refuses)."""
    floor = marks[-1] if marks else 0  # objects below the last MARK cannot be popped by plain ops
    before, after = op.stack_before, op.stack_after
    if op.name in _PUTS:
        if depth <= floor:
            return -1  # nothing (or a MARK) to store
        memo.add(len(memo) if op.name == "MEMOIZE" else arg)
        return depth
    if op.name in _GETS and arg not in memo:
        return -1
    if op.name in ("GLOBAL", "INST") and not _importable(arg):
        return -1  # ``pickle.load`` could not import it: text that happens to start with "c" or "i"
    if op.name == "POP" and marks and depth == floor:
        marks.pop()  # POP of a MARK
        return depth
    if pickletools.markobject in before:
        at = before.index(pickletools.markobject)
        above = [x for x in before[at + 1 :] if x is not pickletools.stackslice]
        if not marks or depth - marks[-1] < len(above):
            return -1
        depth = marks.pop()
        floor = marks[-1] if marks else 0
        if depth - floor < at:
            return -1
        return depth - at + len(after)
    if depth - floor < len(before):
        return -1
    depth -= len(before)
    if pickletools.markobject in after:
        marks.append(depth)
        return depth
    return depth + len(after)


def _importable(arg: object) -> bool:
    """``module name`` as GLOBAL spells it: both dotted Python identifiers."""
    parts = arg.split(" ") if isinstance(arg, str) else []
    return len(parts) == 2 and all(p.isidentifier() for part in parts for p in part.split("."))


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


def _looks_like_onnx(head: bytes) -> bool:
    """``ModelProto`` starts with field 1 (``ir_version``, varint) then usually a length-delimited field."""
    if len(head) < 4 or head[0] != 0x08 or not 1 <= head[1] <= 32:
        return False
    return head[2] in (0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x40, 0x42)
