"""Safetensors validation: valid files pass, every hostile header (THREATS.md #9) is refused fast."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyui_model_library.core.errors import InvalidModelFile
from comfyui_model_library.core.formats import inspect_path
from comfyui_model_library.core.formats import safetensors as sft
from tests import synth

EXPECTED_REASON = {
    "length_max": "exceeds",
    "length_past_eof": "past the end",
    "header_too_large": "exceeds",
    "too_short": "shorter than",
    "deep_nesting": "nests",
    "duplicate_keys": "duplicate key",
    "metadata_not_string": "not a string",
    "metadata_not_object": "__metadata__",
    "offsets_gap": "gap",
    "offsets_overlap": "overlap",
    "offsets_past_eof": "data section holds",
    "offsets_reversed": "before begin",
    "offsets_not_from_zero": "gap",
    "trailing_bytes": "after the last tensor",
    "size_mismatch": "needs 12",
    "not_utf8": "not UTF-8",
    "not_object": "not '{'",
    "not_json": "not valid JSON",
    "unknown_dtype": "unknown dtype",
    "negative_shape": "non-negative",
    "bool_shape": "non-negative",
    "shape_overflow": "overflows",
    "missing_field": "data_offsets",
    "nan_offset": "NaN",
    "lone_surrogate": "surrogate",
    "pickle_disguised": "exceeds",
}


def test_every_hostile_kind_has_an_expected_reason():
    assert set(EXPECTED_REASON) == set(synth.HOSTILE_KINDS)


@pytest.mark.parametrize("kind", synth.HOSTILE_KINDS)
def test_hostile_bytes_rejected_with_reason(kind):
    data = synth.hostile_safetensors(kind)
    with pytest.raises(InvalidModelFile) as info:  # bench/hostile.py times it
        sft.validate_bytes(data)
    assert EXPECTED_REASON[kind] in info.value.message
    assert info.value.code == "invalid_model_file"


@pytest.mark.parametrize("kind", synth.HOSTILE_KINDS)
def test_hostile_file_rejected_through_inspect(tmp_path, kind):
    path = tmp_path / "model.safetensors"
    path.write_bytes(synth.hostile_safetensors(kind))
    if kind == "pickle_disguised":  # by magic it is a pickle, whatever the name says
        info = inspect_path(path)
        assert (info.file_format, info.security) == ("pickle", "pickle")
        return
    with pytest.raises(InvalidModelFile):
        inspect_path(path)


def test_huge_header_rejected_quickly(tmp_path):
    """A 100 MB header of nested brackets is refused without parsing it."""
    body = b'{"a":' + b"[" * (100_000_000 - 6) + b"}"
    path = tmp_path / "big.safetensors"
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(body)) + body)
    with pytest.raises(InvalidModelFile, match="nests"):  # bench/hostile.py times it
        inspect_path(path)


def test_valid_file_round_trip(tmp_path):
    tensors = {
        "a": ("F16", (2, 3)),
        "b": ("BF16", ()),
        "c": ("F8_E4M3", (0,)),
        "d": ("F4", (4,)),
        "e": ("F6_E2M3", (4,)),
        "f": ("I64", (1,)),
    }
    path = synth.write_safetensors(tmp_path / "x.safetensors", tensors, {"modelspec.title": "T"})
    fd = os.open(path, os.O_RDONLY)
    try:
        header = sft.read_header(fd, path.stat().st_size)
    finally:
        os.close(fd)
    assert dict(header.tensors) == tensors
    assert header.metadata == {"modelspec.title": "T"}


def test_sub_byte_dtype_must_fill_whole_bytes():
    data = synth.safetensors_bytes({"x": ("F4", (3,))})  # 12 bits
    with pytest.raises(InvalidModelFile):
        sft.validate_bytes(data)


def test_null_metadata_and_space_padding_accepted():
    header = b'{"__metadata__":null,"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}    '
    parsed = sft.validate_bytes(struct.pack("<Q", len(header)) + header + b"\x00\x00")
    assert parsed.metadata == {} and parsed.tensors["w"] == ("U8", (2,))


def test_leading_whitespace_rejected_like_the_reference():
    header = b' {"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
    with pytest.raises(InvalidModelFile, match="not '\\{'"):
        sft.validate_bytes(struct.pack("<Q", len(header)) + header + b"\x00")


def test_truncated_file_rejected(tmp_path):
    full = synth.safetensors_bytes({"w": ("F32", (16,))})
    path = tmp_path / "t.safetensors"
    path.write_bytes(full[:-10])
    with pytest.raises(InvalidModelFile, match="truncated"):
        inspect_path(path)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_headers_only_raise_invalid_model_file(raw):
    data = struct.pack("<Q", len(raw)) + raw
    try:
        sft.validate_bytes(data)
    except InvalidModelFile:
        pass


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**65) | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["w", "__metadata__", "x"]),
        st.fixed_dictionaries(
            {},
            optional={
                "dtype": st.sampled_from(["F32", "U8", "F4", "nope"]) | _json_values,
                "shape": st.lists(st.integers(-2, 2**40), max_size=3) | _json_values,
                "data_offsets": st.lists(st.integers(-2, 64), max_size=3) | _json_values,
            },
        )
        | _json_values,
    ),
    st.integers(0, 64),
)
def test_fuzz_structured_headers_only_raise_invalid_model_file(obj, data_len):
    import json

    try:
        raw = json.dumps(obj).encode()
    except ValueError:
        return
    data = struct.pack("<Q", len(raw)) + raw + bytes(data_len)
    try:
        sft.validate_bytes(data)
    except InvalidModelFile:
        pass
