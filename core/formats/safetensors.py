"""Safetensors header validation, as strict as the reference reader (huggingface/safetensors ``tensor.rs``).

Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON (an object, maybe space-padded), then
the data section. Every tensor's ``data_offsets`` are relative to the data section; sorted, they must tile
it exactly from 0 to its end, and each span must be exactly ``numel * bits / 8`` bytes.

Every rejection is an ``InvalidModelFile`` whose message says what is wrong. Hostile headers (THREATS.md #9)
are cut short before any costly work: the length is checked against the cap and the file size before a
byte of JSON is read, and deep nesting is refused before the JSON parser recurses.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ..errors import InvalidModelFile

MAX_HEADER_SIZE = 100_000_000
"""The reference reader's cap on N."""

MAX_JSON_DEPTH = 32
"""A valid header nests 3 deep ({name: {shape: [...]}}); the reference parser stops at 128."""

DTYPE_BITS: Mapping[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}

_DEEP_OPENERS = re.compile(rb"[\[{](?:\s*[\[{]){%d}" % MAX_JSON_DEPTH)
_MAX_INT = 2**64 - 1


@dataclass(frozen=True)
class SafetensorsHeader:
    """A validated header. ``tensors`` maps name -> (dtype, shape); ``metadata`` is ``__metadata__``."""

    header_size: int
    data_size: int
    tensors: Mapping[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)


def _reject(what: str) -> NoReturn:
    raise InvalidModelFile(f"not a valid safetensors file: {what}; the file is damaged or not safetensors")


def header_length(prefix: bytes, file_size: int) -> int:
    """N from the first 8 bytes, checked against the cap and the file size."""
    if file_size < 8 or len(prefix) < 8:
        _reject(f"file is {file_size} bytes, shorter than the 8-byte header length")
    n = int(struct.unpack("<Q", prefix[:8])[0])
    if n > MAX_HEADER_SIZE:
        _reject(f"header length {n} exceeds the {MAX_HEADER_SIZE}-byte limit")
    if 8 + n > file_size:
        _reject(f"header length {n} runs past the end of the {file_size}-byte file")
    if n < 2:
        _reject(f"header length {n} is too small for a JSON object")
    return n


def parse_header(raw: bytes, file_size: int) -> SafetensorsHeader:
    """Validate the N header bytes (without the 8-byte length) of a file of ``file_size`` bytes."""
    n = len(raw)
    if raw[:1] != b"{":
        _reject(f"header starts with {raw[:1]!r}, not '{{'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        _reject(f"header is not UTF-8 (byte {exc.start})")
    if _DEEP_OPENERS.search(raw):
        _reject(f"header JSON nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except RecursionError:
        _reject("header JSON nests too deeply")
    except _DuplicateKey as exc:
        _reject(f"duplicate key {str(exc)[:200]!r} in header")
    except ValueError as exc:
        _reject(f"header is not valid JSON ({str(exc)[:200]})")
    if not isinstance(obj, dict):
        _reject("header JSON is not an object")
    metadata = _metadata(obj.pop("__metadata__", None))
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    spans: list[tuple[int, int, str]] = []
    for name, info in obj.items():
        _check_text(name, "tensor name")
        dtype, shape, begin, end = _tensor_info(name, info)
        tensors[name] = (dtype, shape)
        spans.append((begin, end, name))
    data_size = file_size - 8 - n
    _check_layout(spans, tensors, data_size)
    return SafetensorsHeader(header_size=n, data_size=data_size, tensors=tensors, metadata=metadata)


def validate_bytes(data: bytes) -> SafetensorsHeader:
    """Validate a whole file held in memory."""
    n = header_length(data[:8], len(data))
    return parse_header(data[8 : 8 + n], len(data))


def read_header(fd: int, file_size: int, head: bytes = b"") -> SafetensorsHeader:
    """Validate the header of an open file with ``os.pread``: reads 8 + N bytes, never the tensor data.
    ``head``: the file's first bytes, read already (a small file's header is often all in them)."""
    n = header_length(head[:8] if len(head) >= 8 else _pread_exact(fd, 8, 0), file_size)
    if 8 + n <= len(head):
        return parse_header(head[8 : 8 + n], file_size)
    return parse_header(_pread_exact(fd, n, 8), file_size)


def _pread_exact(fd: int, count: int, offset: int) -> bytes:
    chunks: list[bytes] = []
    got = 0
    while got < count:
        chunk = os.pread(fd, min(count - got, 1 << 24), offset + got)
        if not chunk:
            _reject(f"file ended at byte {offset + got} while reading its header (was it truncated?)")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _check_text(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        _reject(f"{what} {value[:80]!r} holds a lone UTF-16 surrogate")


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        _reject(f"__metadata__ is a {type(value).__name__}, not an object of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            _reject(f"__metadata__ value for {key[:80]!r} is a {type(item).__name__}, not a string")
        _check_text(key, "__metadata__ key")
        _check_text(item, f"__metadata__ value for {key[:80]!r}")
    return value


def _is_uint(value: Any) -> bool:
    return type(value) is int and 0 <= value <= _MAX_INT


def _tensor_info(name: str, info: Any) -> tuple[str, tuple[int, ...], int, int]:
    label = repr(name[:120])
    if not isinstance(info, dict):
        _reject(f"tensor {label} is a {type(info).__name__}, not an object")
    dtype = info.get("dtype")
    shape = info.get("shape")
    offsets = info.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        _reject(f"tensor {label} has unknown dtype {str(dtype)[:40]!r}")
    if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
        _reject(f"tensor {label} shape {str(shape)[:80]} is not a list of non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_uint(o) for o in offsets):
        _reject(f"tensor {label} data_offsets {str(offsets)[:80]} is not [begin, end]")
    begin, end = offsets
    if end < begin:
        _reject(f"tensor {label} data_offsets end {end} is before begin {begin}")
    return dtype, tuple(shape), begin, end


def _check_layout(
    spans: list[tuple[int, int, str]], tensors: Mapping[str, tuple[str, tuple[int, ...]]], data_size: int
) -> None:
    spans.sort()
    position = 0
    for begin, end, name in spans:
        label = repr(name[:120])
        if begin != position:
            kind = "gap before" if begin > position else "overlap at"
            _reject(f"{kind} tensor {label}: data_offsets begin {begin}, expected {position}")
        dtype, shape = tensors[name]
        numel = 1
        for dim in shape:
            numel *= dim
        bits = numel * DTYPE_BITS[dtype]
        if bits > _MAX_INT:
            _reject(f"tensor {label} shape {list(shape)[:8]} overflows")
        if bits % 8:
            _reject(f"tensor {label} ({dtype} x {numel}) does not fill a whole number of bytes")
        if end - begin != bits // 8:
            _reject(f"tensor {label} spans {end - begin} bytes but {dtype} {list(shape)} needs {bits // 8}")
        position = end
    if position > data_size:
        _reject(f"tensor data ends at {position} but the data section holds {data_size} bytes (truncated?)")
    if position < data_size:
        _reject(
            f"{data_size - position} bytes after the last tensor (data ends at {position} of {data_size})"
        )
