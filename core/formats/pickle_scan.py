"""Look inside pickle checkpoints WITHOUT unpickling: zip member names and the pickle's imports.

``pickletools.genops`` only decodes opcodes; it never builds objects or imports anything. The imports a
pickle would perform (GLOBAL / STACK_GLOBAL) are listed so the user can be warned about, e.g.,
``builtins.exec`` or ``os.system``. Every read and loop is bounded: a hostile file ends the scan early,
it never makes it slow or large.
"""

from __future__ import annotations

import io
import os
import pickletools
import struct
import zlib
from collections.abc import Callable

MAX_PICKLE_BYTES = 64 * 1024 * 1024
MAX_OPS = 2_000_000
MAX_ZIP_DIRECTORY = 16 * 1024 * 1024
MAX_ZIP_MEMBERS = 100_000
MAX_TAR_MEMBERS = 64
_TAR_BLOCK = 512

# What a plain PyTorch state dict pickle imports; anything else is reported.
SAFE_GLOBALS = frozenset(
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_device_tensor_from_numpy",
        "torch.BFloat16Storage",
        "torch.HalfStorage",
        "torch.FloatStorage",
        "torch.DoubleStorage",
        "torch.LongStorage",
        "torch.IntStorage",
        "torch.ShortStorage",
        "torch.CharStorage",
        "torch.ByteStorage",
        "torch.BoolStorage",
        "torch.float16",
        "torch.float32",
        "torch.bfloat16",
        "torch.Size",
        "numpy.core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy.dtype",
        "numpy.ndarray",
        "_codecs.encode",
        "builtins.set",
        "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
    }
)


def _pread(fd: int, count: int, offset: int) -> bytes:
    out = bytearray()
    while len(out) < count:
        chunk = os.pread(fd, count - len(out), offset + len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def zip_members(fd: int, size: int) -> dict[str, tuple[int, int, int, int]]:
    """name -> (local header offset, method, compressed size, uncompressed size), from the central directory.

    Returns {} when the directory cannot be found or is implausible (the caller then says "unknown").
    """
    tail_len = min(size, 65536 + 22)
    tail = _pread(fd, tail_len, size - tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return {}
    count, cd_size, cd_offset = struct.unpack_from("<HII", tail, at + 10)
    if cd_size > MAX_ZIP_DIRECTORY or cd_offset + cd_size > size:
        return {}
    directory = _pread(fd, cd_size, cd_offset)
    members: dict[str, tuple[int, int, int, int]] = {}
    pos = 0
    while pos + 46 <= len(directory) and len(members) < min(count or MAX_ZIP_MEMBERS, MAX_ZIP_MEMBERS):
        if directory[pos : pos + 4] != b"PK\x01\x02":
            break
        method = struct.unpack_from("<H", directory, pos + 10)[0]
        comp, uncomp = struct.unpack_from("<II", directory, pos + 20)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", directory, pos + 28)
        local = struct.unpack_from("<I", directory, pos + 42)[0]
        name = directory[pos + 46 : pos + 46 + name_len].decode("utf-8", "replace")
        members[name] = (local, method, comp, uncomp)
        pos += 46 + name_len + extra_len + comment_len
    return members


def tar_members(read: Callable[[int, int], bytes], size: int) -> dict[str, tuple[int, int]]:
    """name -> (data offset, data size) of a ustar/GNU/PAX tar's regular members, walking the headers.

    ``read(count, offset)`` reads the file (or its head: the walk stops where the bytes end). Each
    header's checksum must be right, so text that happens to say ``ustar`` is no tar. At most
    ``MAX_TAR_MEMBERS`` headers are read; extended headers (PAX, GNU long names) are passed over.
    """
    members: dict[str, tuple[int, int]] = {}
    pos = 0
    for _ in range(MAX_TAR_MEMBERS):
        if pos + _TAR_BLOCK > size:
            break
        header = read(_TAR_BLOCK, pos)
        if len(header) < _TAR_BLOCK or header == bytes(_TAR_BLOCK) or header[257:262] != b"ustar":
            break
        length = _tar_number(header[124:136])
        if length is None or _tar_number(header[148:156]) != _tar_checksum(header):
            break
        if header[156:157] in (b"0", b"\0"):
            name = header[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
            members[name] = (pos + _TAR_BLOCK, length)
        pos += _TAR_BLOCK + -(-length // _TAR_BLOCK) * _TAR_BLOCK
    return members


def _tar_number(field: bytes) -> int | None:
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        return None


def _tar_checksum(header: bytes) -> int:
    return sum(header[:148]) + 8 * 0x20 + sum(header[156:])


def zip_member_bytes(fd: int, size: int, entry: tuple[int, int, int, int], cap: int) -> bytes | None:
    """A member's bytes (stored or deflated), at most ``cap``; None when unreadable."""
    local, method, comp, _ = entry
    header = _pread(fd, 30, local)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        return None
    name_len, extra_len = struct.unpack_from("<HH", header, 26)
    start = local + 30 + name_len + extra_len
    if start + comp > size:
        return None
    raw = _pread(fd, min(comp, cap), start)
    if method == 0:
        return raw
    if method == 8:
        try:
            return zlib.decompressobj(-15).decompress(raw, cap)
        except zlib.error:
            return None
    return None


def pickle_globals(data: bytes) -> tuple[list[str], bool]:
    """The ``module.name`` imports a pickle would perform, and whether the whole stream was read."""
    found: list[str] = []
    recent: list[str] = []
    memo: dict[int, str] = {}
    stream = io.BytesIO(data)
    count = 0
    try:
        # A legacy torch file is several pickles in a row (magic, protocol, sys info, the state dict).
        for _ in range(8):
            if stream.tell() >= len(data):
                break
            for op, arg, _pos in pickletools.genops(stream):
                count += 1
                if count >= MAX_OPS:
                    return found, False
                _step(op.name, arg, found, recent, memo)
    except (ValueError, TypeError, struct.error, UnicodeDecodeError, Warning):
        return found, False
    return found, stream.tell() >= len(data)


def _step(name: str, arg: object, found: list[str], recent: list[str], memo: dict[int, str]) -> None:
    if name in ("GLOBAL", "INST") and isinstance(arg, str):
        _add(found, arg.replace(" ", ".", 1))
    elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE") and isinstance(arg, str):
        _push(recent, arg)
    elif name == "MEMOIZE" and recent:
        memo[len(memo)] = recent[-1]
    elif name in ("BINPUT", "LONG_BINPUT", "PUT") and isinstance(arg, int) and recent:
        memo[arg] = recent[-1]
    elif name in ("BINGET", "LONG_BINGET", "GET") and isinstance(arg, int) and arg in memo:
        _push(recent, memo[arg])
    elif name == "STACK_GLOBAL" and len(recent) == 2:
        _add(found, f"{recent[0]}.{recent[1]}")


def _push(recent: list[str], value: str) -> None:
    recent.append(value)
    del recent[:-2]


def _add(found: list[str], name: str) -> None:
    if name not in found and len(found) < 200:
        found.append(name[:200])


def unsafe_globals(names: list[str]) -> list[str]:
    return [n for n in names if n not in SAFE_GLOBALS]
