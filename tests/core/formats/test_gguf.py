"""GGUF headers: valid files parse; hostile counts, lengths and offsets are refused with a reason."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyui_model_library.core.errors import InvalidModelFile
from comfyui_model_library.core.formats import inspect_path
from tests import synth


def _inspect_bytes(tmp_path, data: bytes, name: str = "m.gguf"):
    path = tmp_path / name
    path.write_bytes(data)
    return inspect_path(path)


def _header(version=3, tensors=0, kvs=0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


def test_valid_flux_gguf(tmp_path):
    info = _inspect_bytes(
        tmp_path,
        synth.gguf_bytes(
            "flux",
            kv={
                "general.file_type": 15,
                "general.name": "flux1-dev",
                "general.tags": ["a", "b"],
                "tokenizer.ggml.tokens": ["tok"] * 5000,
                "nested": [[1, 2], [3]],
                "f": 1.5,
                "b": True,
                "big": -(2**40),
            },
        ),
    )
    assert (info.file_format, info.security, info.quantization) == ("gguf", "safe", "q4_k_m")
    assert info.tensors["img_in.weight"].shape == (3072, 64)  # torch order, not GGUF's
    assert info.tensors["double_blocks.0.img_attn.qkv.weight"].dtype == "Q4_K"
    assert info.metadata["general.architecture"] == "flux"
    assert info.metadata["general.name"] == "flux1-dev"
    d = info.detection
    assert (d.type, d.base_model, d.subtype, d.variant) == ("diffusion_model", "flux1", "dev", "q4_k_m")


def test_quantization_from_tensor_types_when_no_file_type(tmp_path):
    tensors = {"a.weight": (8, (64, 64)), "b.weight": (0, (64,))}
    info = _inspect_bytes(tmp_path, synth.gguf_bytes("sd1", tensors))
    assert info.quantization == "q8_0"
    assert info.detection.base_model == "sd15"  # only the architecture tells here
    assert "general.architecture" in info.detection.reason


def test_gguf_v2_accepted(tmp_path):
    info = _inspect_bytes(tmp_path, synth.gguf_bytes(version=2))
    assert info.file_format == "gguf"


HOSTILE = {
    "version_1": (_header(1), "obsolete"),
    "version_big_endian": (b"GGUF" + struct.pack(">IQQ", 3, 0, 0), "big-endian"),
    "tensor_count_huge": (_header(3, 2**63, 0), "tensor count"),
    "kv_count_huge": (_header(3, 0, 2**64 - 1), "metadata count"),
    "kv_count_past_eof": (_header(3, 0, 3) + bytes(20), "metadata count"),
    "key_length_huge": (_header(3, 0, 1) + struct.pack("<Q", 2**62) + bytes(16), "limit"),
    "key_length_past_eof": (_header(3, 0, 1) + struct.pack("<Q", 1000) + bytes(16), "file ends"),
    "string_value_past_eof": (
        _header(3, 0, 1) + synth.gguf_string("k") + struct.pack("<IQ", 8, 10_000) + bytes(8),
        "file ends",
    ),
    "array_count_huge": (
        _header(3, 0, 1) + synth.gguf_string("k") + struct.pack("<IIQ", 9, 4, 2**60) + bytes(8),
        "more than the file holds",
    ),
    "array_nested_deep": (
        _header(3, 0, 1)
        + synth.gguf_string("k")
        + struct.pack("<I", 9)
        + struct.pack("<IQ", 9, 1) * 20
        + bytes(64),
        "deeper",
    ),
    "unknown_value_type": (
        _header(3, 0, 1) + synth.gguf_string("k") + struct.pack("<I", 99) + bytes(16),
        "unknown",
    ),
    "duplicate_key": (
        _header(3, 0, 2) + (synth.gguf_string("k") + struct.pack("<II", 4, 1)) * 2 + bytes(32),
        "duplicate",
    ),
    "bad_alignment": (
        _header(3, 0, 1) + synth.gguf_kv("general.alignment", 3) + bytes(32),
        "power of two",
    ),
    "zero_alignment": (
        _header(3, 0, 1) + synth.gguf_kv("general.alignment", 0) + bytes(32),
        "positive",
    ),
    "too_many_dims": (
        _header(3, 1, 0) + synth.gguf_string("t") + struct.pack("<I", 9) + bytes(128),
        "dimensions",
    ),
    "tensor_offset_past_eof": (
        _header(3, 1, 0) + synth.gguf_string("t") + struct.pack("<IQIQ", 1, 64, 0, 2**40) + bytes(64),
        "past",
    ),
    "tensor_data_truncated": (
        _header(3, 1, 0) + synth.gguf_string("t") + struct.pack("<IQIQ", 1, 1_000_000, 0, 0) + bytes(64),
        "truncated",
    ),
    "tensor_offset_unaligned": (
        _header(3, 1, 0) + synth.gguf_string("t") + struct.pack("<IQIQ", 1, 4, 0, 3) + bytes(64),
        "aligned",
    ),
    "tensors_overlap": (
        _header(3, 2, 0)
        + synth.gguf_string("a")
        + struct.pack("<IQIQ", 1, 64, 0, 0)
        + synth.gguf_string("b")
        + struct.pack("<IQIQ", 1, 64, 0, 32)
        + bytes(512),
        "overlaps",
    ),
    "shape_overflow": (
        _header(3, 1, 0) + synth.gguf_string("t") + struct.pack("<IQQIQ", 2, 2**40, 2**40, 0, 0) + bytes(64),
        "overflows",
    ),
    "block_misfit": (
        _header(3, 1, 0) + synth.gguf_string("t") + struct.pack("<IQIQ", 1, 33, 12, 0) + bytes(512),
        "block",
    ),
    "duplicate_tensor": (
        _header(3, 2, 0) + (synth.gguf_string("a") + struct.pack("<IQIQ", 1, 4, 0, 0)) * 2 + bytes(64),
        "duplicate tensor",
    ),
    "truncated_header": (_header(3, 0, 0)[:12], "needs"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_gguf_rejected(tmp_path, kind):
    data, reason = HOSTILE[kind]
    with pytest.raises(InvalidModelFile, match=reason) as info:  # bench/hostile.py times it
        _inspect_bytes(tmp_path, data)
    assert "GGUF" in info.value.message


def test_non_gguf_named_gguf_rejected(tmp_path):
    with pytest.raises(InvalidModelFile, match="magic"):
        _inspect_bytes(tmp_path, b"not a gguf file at all")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 3), st.integers(0, 4))
def test_fuzz_gguf_only_raises_invalid_model_file(tmp_path_factory, body, tensors, kvs):
    path = tmp_path_factory.mktemp("fuzz") / "f.gguf"
    path.write_bytes(_header(3, tensors, kvs) + body)
    try:
        inspect_path(path)
    except InvalidModelFile:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.binary(min_size=1, max_size=8))
def test_fuzz_corrupted_valid_gguf(tmp_path_factory, position, junk):
    data = bytearray(synth.gguf_bytes(kv={"general.name": "x", "arr": [1, 2, 3]}))
    data[position : position + len(junk)] = junk
    path = tmp_path_factory.mktemp("fuzz") / "f.gguf"
    path.write_bytes(bytes(data))
    try:
        inspect_path(path)
    except InvalidModelFile:
        pass
