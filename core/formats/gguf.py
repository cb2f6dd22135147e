"""GGUF v2/v3 header parsing with every count, length and offset bounded by the file (THREATS.md #9).

Layout: ``GGUF``, u32 version, u64 tensor_count, u64 kv_count, the KV pairs, the tensor infos, padding to
``general.alignment`` (default 32), then the tensor data. Nothing is allocated from an untrusted count: a
count is first checked against the bytes left in the file (each item needs at least a few bytes) and a cap.
Big arrays (tokenizer vocabularies) are stepped over, not kept.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from ..errors import InvalidModelFile

MAX_TENSORS = 1_000_000
MAX_KV = 1_000_000
MAX_STRING = 64 * 1024 * 1024
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_ARRAY_DEPTH = 8
KEEP_STRING = 64 * 1024
KEEP_ARRAY = 64
_CHUNK = 1 << 20

_SCALARS: Mapping[int, tuple[str, int]] = {
    0: ("<B", 1),
    1: ("<b", 1),
    2: ("<H", 2),
    3: ("<h", 2),
    4: ("<I", 4),
    5: ("<i", 4),
    6: ("<f", 4),
    7: ("<B", 1),
    10: ("<Q", 8),
    11: ("<q", 8),
    12: ("<d", 8),
}
_STRING, _ARRAY, _BOOL = 8, 9, 7

# ggml type id -> (name, elements per block, bytes per block)
GGML_TYPES: Mapping[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}

# llama.cpp's LLAMA_FTYPE (general.file_type) -> quantisation name
FILE_TYPES: Mapping[int, str] = {
    0: "f32",
    1: "f16",
    2: "q4_0",
    3: "q4_1",
    7: "q8_0",
    8: "q5_0",
    9: "q5_1",
    10: "q2_k",
    11: "q3_k_s",
    12: "q3_k_m",
    13: "q3_k_l",
    14: "q4_k_s",
    15: "q4_k_m",
    16: "q5_k_s",
    17: "q5_k_m",
    18: "q6_k",
    19: "iq2_xxs",
    20: "iq2_xs",
    21: "q2_k_s",
    22: "iq3_xs",
    23: "iq3_xxs",
    24: "iq1_s",
    25: "iq4_nl",
    26: "iq3_s",
    27: "iq3_m",
    28: "iq2_s",
    29: "iq2_m",
    30: "iq4_xs",
    31: "iq1_m",
    32: "bf16",
    36: "tq1_0",
    37: "tq2_0",
    38: "mxfp4_moe",
}


@dataclass(frozen=True)
class GgufInfo:
    """A validated GGUF header. Shapes are in PyTorch order (GGUF stores them innermost first)."""

    version: int
    architecture: str
    alignment: int
    header_size: int
    data_offset: int
    kv: Mapping[str, object] = field(default_factory=dict)
    tensors: Mapping[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    quantization: str | None = None


def _reject(what: str) -> NoReturn:
    raise InvalidModelFile(f"not a valid GGUF file: {what}; the file is damaged or not GGUF")


class _Reader:
    """Sequential reads over ``os.pread`` that never pass the end of the file."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self.pos = 0
        self._buf = b""
        self._buf_at = 0

    def left(self) -> int:
        return self.size - self.pos

    def read(self, n: int, what: str) -> bytes:
        if n > self.left():
            _reject(f"{what} needs {n} bytes at offset {self.pos} but the file ends at {self.size}")
        start = self.pos - self._buf_at
        if start < 0 or start + n > len(self._buf):
            want = max(n, _CHUNK)
            self._buf = os.pread(self.fd, min(want, self.left()), self.pos)
            self._buf_at = self.pos
            start = 0
            if len(self._buf) < n:
                _reject(f"file ended early at offset {self.pos + len(self._buf)} reading {what}")
        self.pos += n
        return self._buf[start : start + n]

    def skip(self, n: int, what: str) -> None:
        if n > self.left():
            _reject(f"{what} needs {n} bytes at offset {self.pos} but the file ends at {self.size}")
        self.pos += n

    def u32(self, what: str) -> int:
        return int(struct.unpack("<I", self.read(4, what))[0])

    def u64(self, what: str) -> int:
        return int(struct.unpack("<Q", self.read(8, what))[0])

    def string(self, what: str, keep: int = KEEP_STRING) -> str:
        n = self.u64(f"{what} length")
        if n > MAX_STRING:
            _reject(f"{what} length {n} exceeds the {MAX_STRING}-byte limit")
        if n > keep:
            self.skip(n, what)
            return ""
        return self.read(n, what).decode("utf-8", "replace")


def read_gguf(fd: int, size: int) -> GgufInfo:
    """Parse and bound-check the header of an open GGUF file of ``size`` bytes (reads only the header)."""
    r = _Reader(fd, size)
    if r.read(4, "magic") != b"GGUF":
        _reject("magic is not 'GGUF'")
    version = r.u32("version")
    if version in (1,):
        _reject("GGUF version 1 is obsolete and not supported; convert the file with a current tool")
    if version not in (2, 3):
        hint = " (a big-endian file?)" if version >= 1 << 16 else ""
        _reject(f"unsupported GGUF version {version}{hint}")
    tensor_count = r.u64("tensor count")
    kv_count = r.u64("metadata count")
    if tensor_count > MAX_TENSORS or tensor_count * 32 > r.left():
        _reject(f"tensor count {tensor_count} is impossible for a {size}-byte file")
    if kv_count > MAX_KV or kv_count * 13 > r.left():
        _reject(f"metadata count {kv_count} is impossible for a {size}-byte file")
    kv: dict[str, object] = {}
    for _ in range(kv_count):
        key = r.string("metadata key", keep=MAX_STRING)
        if len(key) > 65535:
            _reject(f"metadata key of {len(key)} bytes is too long")
        if key in kv:
            _reject(f"duplicate metadata key {key[:80]!r}")
        kv[key] = _value(r, r.u32(f"type of {key[:80]!r}"), key, 0)
    alignment = kv.get("general.alignment", 32)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0:
        _reject(f"general.alignment {alignment!r} is not a positive integer")
    if alignment & (alignment - 1) or alignment > 1 << 20:
        _reject(f"general.alignment {alignment} is not a power of two up to 1 MiB")
    tensors, spans = _tensor_infos(r, tensor_count)
    header_size = r.pos
    data_offset = header_size + (-header_size % alignment)
    if data_offset > size:
        _reject(f"tensor data would start at {data_offset}, past the end of the {size}-byte file")
    _check_spans(spans, alignment, size - data_offset)
    arch = kv.get("general.architecture")
    return GgufInfo(
        version=version,
        architecture=arch if isinstance(arch, str) else "",
        alignment=alignment,
        header_size=header_size,
        data_offset=data_offset,
        kv=kv,
        tensors=tensors,
        quantization=quantization_name(kv, tensors),
    )


def _value(r: _Reader, vtype: int, key: str, depth: int) -> object:
    what = f"value of {key[:80]!r}"
    if vtype in _SCALARS:
        fmt, width = _SCALARS[vtype]
        value = struct.unpack(fmt, r.read(width, what))[0]
        return bool(value) if vtype == _BOOL else value
    if vtype == _STRING:
        return r.string(what)
    if vtype != _ARRAY:
        _reject(f"{what} has unknown type {vtype}")
    if depth >= MAX_ARRAY_DEPTH:
        _reject(f"{what} nests arrays deeper than {MAX_ARRAY_DEPTH}")
    etype = r.u32(f"{what} element type")
    count = r.u64(f"{what} element count")
    min_width = _SCALARS[etype][1] if etype in _SCALARS else 8 if etype in (_STRING,) else 12
    if etype not in _SCALARS and etype not in (_STRING, _ARRAY):
        _reject(f"{what} has unknown element type {etype}")
    if count * min_width > r.left():
        _reject(f"{what} claims {count} elements, more than the file holds")
    if etype in _SCALARS and count > KEEP_ARRAY:
        r.skip(count * min_width, what)
        return None
    if count > KEEP_ARRAY:  # step over (a tokenizer vocabulary), keep nothing
        for _ in range(count):
            _value(r, etype, key, depth + 1)
        return None
    return tuple(_value(r, etype, key, depth + 1) for _ in range(count))


def _tensor_infos(
    r: _Reader, count: int
) -> tuple[dict[str, tuple[str, tuple[int, ...]]], list[tuple[int, int, str]]]:
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    spans: list[tuple[int, int, str]] = []
    for _ in range(count):
        name = r.string("tensor name", keep=65536)
        label = repr(name[:120])
        if name in tensors:
            _reject(f"duplicate tensor name {label}")
        n_dims = r.u32(f"dimension count of {label}")
        if not 1 <= n_dims <= MAX_DIMS:
            _reject(f"tensor {label} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")
        dims = [r.u64(f"dimension of {label}") for _ in range(n_dims)]
        numel = 1
        for d in dims:
            numel *= d
        if numel >= 1 << 63:
            _reject(f"tensor {label} shape {dims} overflows")
        ggml_type = r.u32(f"type of {label}")
        offset = r.u64(f"offset of {label}")
        type_name, block, block_bytes = GGML_TYPES.get(ggml_type, (f"GGML_TYPE_{ggml_type}", 0, 0))
        if block:
            if dims[0] % block:
                _reject(f"tensor {label} row of {dims[0]} is not a multiple of the {type_name} block {block}")
            spans.append((offset, offset + numel // block * block_bytes, name))
        else:
            spans.append((offset, offset, name))
        tensors[name] = (type_name, tuple(reversed(dims)))
    return tensors, spans


def _check_spans(spans: list[tuple[int, int, str]], alignment: int, data_size: int) -> None:
    spans.sort()
    previous_end = 0
    for begin, end, name in spans:
        label = repr(name[:120])
        if begin % alignment:
            _reject(f"tensor {label} offset {begin} is not aligned to {alignment}")
        if begin < previous_end:
            _reject(f"tensor {label} at offset {begin} overlaps the tensor before it")
        if end > data_size:
            _reject(f"tensor {label} data ends at {end}, past the {data_size}-byte data section (truncated?)")
        previous_end = end


def quantization_name(
    kv: Mapping[str, object], tensors: Mapping[str, tuple[str, tuple[int, ...]]]
) -> str | None:
    """``general.file_type`` when set, else the type holding most weights of the 2-D+ tensors."""
    file_type = kv.get("general.file_type")
    if isinstance(file_type, int) and not isinstance(file_type, bool) and file_type in FILE_TYPES:
        return FILE_TYPES[file_type]
    weight: dict[str, int] = {}
    for type_name, shape in tensors.values():
        if len(shape) >= 2:
            numel = 1
            for d in shape:
                numel *= d
            weight[type_name] = weight.get(type_name, 0) + numel
    if not weight:
        return None
    return max(weight.items(), key=lambda item: item[1])[0].lower()
