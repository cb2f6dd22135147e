"""Every pickle protocol is a pickle: 0 and 1 carry no magic byte and are told by structure."""

from __future__ import annotations

import collections
import os
import pickle
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyui_model_library.core.formats.inspect import inspect_path
from comfyui_model_library.core.formats.sniff import looks_like_headless_pickle, sniff_bytes
from comfyui_model_library.core.library import Library
from tests import synth

STATE = collections.OrderedDict((f"model.diffusion_model.layer{i}.weight", [0.5] * 4) for i in range(30))


@pytest.mark.parametrize("protocol", range(6))
def test_a_state_dict_pickle_of_every_protocol_is_a_pickle(protocol: int) -> None:
    data = pickle.dumps(STATE, protocol=protocol)
    assert sniff_bytes(data[:4096], len(data), "model.ckpt") == "pickle"


@pytest.mark.parametrize("protocol", [0, 1])
def test_a_small_headless_pickle_is_a_pickle(protocol: int) -> None:
    data = pickle.dumps({"a": 1}, protocol=protocol)
    assert sniff_bytes(data, len(data)) == "pickle"


@pytest.mark.parametrize("protocol", range(6))
def test_a_code_running_pickle_of_every_protocol_is_refused_without_the_confirmation(
    library: Library, incoming: Path, tmp_path: Path, protocol: int
) -> None:
    target = tmp_path / "pwned"
    src = incoming / "innocent.safetensors"  # a pickle wearing a safe name
    src.write_bytes(synth.malicious_pickle_bytes(target, protocol=protocol))
    [refused] = library.imports.import_paths([src], allow_pickle=False)
    assert refused.status == "failed" and "pickle" in (refused.error or "")
    ckpt = incoming / "innocent.ckpt"
    ckpt.write_bytes(synth.malicious_pickle_bytes(target, protocol=protocol))
    [stored] = library.imports.import_paths([ckpt])
    assert stored.model is not None and stored.model.security == "pickle"
    assert any("builtins" in w or "io.open" in w for w in stored.warnings), stored.warnings
    assert not target.exists()


def test_a_legacy_torch_tar_is_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    with tarfile.open(path, "w") as tar:
        for member in ("sys_info", "pickle", "storages", "tensors"):
            body = tmp_path / member
            body.write_bytes(pickle.dumps({"x": 1}, protocol=2))
            tar.add(body, arcname=member)
    assert inspect_path(path).security == "pickle"


def test_a_ckpt_that_is_no_known_format_imports_with_a_visible_warning(
    library: Library, incoming: Path
) -> None:
    src = incoming / "mystery.ckpt"
    src.write_bytes(b"\x00\x01 not a pickle, not safetensors " + os.urandom(2048))
    [item] = library.imports.import_paths([src])
    assert item.model is not None and item.model.security == "unknown"
    assert any("format not recognised" in w and "PyTorch" in w for w in item.warnings), item.warnings


@pytest.mark.parametrize(
    "head",
    [
        b"hello world, this is text\n" * 40,
        b'{"json": true, "list": [1, 2, 3]}',
        b"(just a parenthesis) and a text file\n" * 10,
        b"# comment\nimport os\nprint('x')\n" * 20,
        bytes(4096),
        synth.safetensors_bytes({"a": ("F16", (2, 2))}),
    ],
)
def test_text_and_other_formats_are_not_taken_for_pickles(head: bytes) -> None:
    assert not looks_like_headless_pickle(head[:4096], whole=len(head) <= 4096)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), min_size=40, max_size=600))
def test_printable_text_is_not_a_pickle(text: str) -> None:
    assert not looks_like_headless_pickle(text.encode(), whole=True)
