"""The one name validator: every THREATS #5 name, plus property tests for sanitize and confine."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyui_model_library.core.errors import InvalidInput, UnsafePath
from comfyui_model_library.core.io import paths
from comfyui_model_library.core.io.paths import (
    confine,
    is_within,
    sanitize_component,
    unique_child,
    validate_component,
    validate_relpath,
)

HOSTILE_NAMES = [
    "",
    ".",
    "..",
    "../../custom_nodes/x/__init__.py",
    "..\\..\\x",
    "/etc/passwd",
    "C:evil",
    "C:",
    "C:\\Users\\u\\x",
    "\\\\host\\share\\x",
    "a\x00b",
    "line\nbreak",
    "tab\there",
    "bell\x07",
    "del\x7f",
    "c1\x85",
    "CON",
    "con",
    "nul.txt",
    "NUL.tar.gz",
    "Prn",
    "aux.safetensors",
    "COM1",
    "com9.bin",
    "LPT1",
    "lpt3.txt",
    "COM¹",
    "lpt².x",
    "CON .txt",
    "CONIN$",
    "trailing.",
    "trailing ",
    "model.safetensors.",
    "a" * 256,
    "é" * 128,
    "what?",
    "a*b",
    "a|b",
    "a<b>",
    'quote"d',
]

SAFE_NAMES = [
    "model.safetensors",
    "v1-5-pruned-emaonly.ckpt",
    "日本語モデル.gguf",
    ".hidden",
    "a" * 255,
    "CONSOLE",
    "nullable.txt",
    "COM10",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafePath) as info:
        validate_component(name)
    assert info.value.message  # says why
    safe = sanitize_component(name)
    assert validate_component(safe) == safe


@pytest.mark.parametrize("name", SAFE_NAMES)
def test_ordinary_names_pass_unchanged(name: str) -> None:
    assert validate_component(name) == name


def test_sanitize_keeps_names_readable() -> None:
    assert sanitize_component("My LoRA: v2 / final?") == "My LoRA_ v2 _ final_"
    assert sanitize_component("nul.txt") == "_nul.txt"
    assert sanitize_component("...") == "model"
    assert sanitize_component("", fallback="upload") == "upload"
    long = sanitize_component("x" * 500 + ".safetensors")
    assert long.endswith(".safetensors") and len(long.encode()) <= 120
    cut = sanitize_component("é" * 200, max_bytes=11)
    assert cut == "é" * 5  # cut on a UTF-8 boundary
    assert sanitize_component("e\u0301") == "\u00e9"  # NFC


@given(st.text(max_size=400), st.integers(min_value=1, max_value=300))
@settings(max_examples=400)
def test_sanitize_output_always_validates(name: str, max_bytes: int) -> None:
    safe = sanitize_component(name, max_bytes=max_bytes)
    assert validate_component(safe) == safe
    assert len(safe.encode("utf-8")) <= max(max_bytes, len(b"model"))


@pytest.mark.parametrize(
    "rel",
    ["../x", "a/../../x", "/abs/x", "a\\b", "C:/x", "a//b", "a/", "a/./b", "unet/CON", "x/\x00"],
)
def test_hostile_relpaths_are_refused(rel: str) -> None:
    with pytest.raises(UnsafePath):
        validate_relpath(rel)


def test_relpaths_of_hf_repos_pass() -> None:
    assert validate_relpath("unet/diffusion_pytorch_model.safetensors") == PurePosixPath(
        "unet", "diffusion_pytorch_model.safetensors"
    )


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "incoming"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "m.safetensors").write_bytes(b"x")
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "id_ed25519").write_text("key")
    (root / "escape").symlink_to(outside)
    (root / "key-link").symlink_to(outside / "id_ed25519")
    (tmp_path / "incoming2").mkdir()
    (tmp_path / "incoming2" / "x").write_text("sibling with a common prefix")
    return root, outside


def test_confine_accepts_inside_and_refuses_escapes(roots: tuple[Path, Path], tmp_path: Path) -> None:
    root, outside = roots
    assert confine(root / "sub" / "m.safetensors", [root]) == (root / "sub" / "m.safetensors").resolve()
    for escape in [
        root / "escape" / "id_ed25519",
        root / "key-link",
        root / ".." / "secret" / "id_ed25519",
        outside / "id_ed25519",
        tmp_path / "incoming2" / "x",  # string prefix "incoming" is not containment
    ]:
        with pytest.raises(UnsafePath, match="outside the folders models may be imported from"):
            confine(escape, [root])
        assert not is_within(escape, root)
    many = [tmp_path / f"root{i}" for i in range(38)]
    with pytest.raises(UnsafePath) as refused:  # one sentence, not a wall of 38 folders
        confine(outside / "id_ed25519", many)
    assert f"{many[0]}, {many[1]}, {many[2]} and 35 more" in refused.value.message
    assert str(many[3]) not in refused.value.message and "Import roots" in refused.value.message
    with pytest.raises(InvalidInput, match="does not exist"):
        confine(root / "nope", [root])


def test_confine_refuses_a_link_loop(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(InvalidInput):
        confine(tmp_path / "loop", [tmp_path])


PARTS = ["..", "sub", "escape", "key-link", ".", "m.safetensors", "secret"]


@given(st.lists(st.sampled_from(PARTS), max_size=6))
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_confine_never_returns_outside_the_roots(roots: tuple[Path, Path], parts: list[str]) -> None:
    root, _ = roots
    candidate = root.joinpath(*parts) if parts else root
    try:
        result = confine(candidate, [root])
    except InvalidInput:
        return
    assert result.is_relative_to(root.resolve())
    assert os.path.realpath(candidate) == str(result)


def test_unique_child_counts_up_before_the_extension(tmp_path: Path) -> None:
    assert unique_child(tmp_path, "m.safetensors") == tmp_path / "m.safetensors"
    (tmp_path / "m.safetensors").touch()
    (tmp_path / "m-2.safetensors").touch()
    assert unique_child(tmp_path, "m.safetensors") == tmp_path / "m-3.safetensors"
    (tmp_path / "folder").mkdir()
    assert unique_child(tmp_path, "folder") == tmp_path / "folder-2"
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert unique_child(tmp_path, "dangling") == tmp_path / "dangling-2"
    long = "a" * 250 + ".safetensors"[:5]
    (tmp_path / long).touch()
    assert len(unique_child(tmp_path, long).name.encode()) <= 255
    with pytest.raises(UnsafePath):
        unique_child(tmp_path, "../x")


def test_the_refused_characters_are_the_windows_ones_and_every_control_character() -> None:
    """One character class stands for <>:"|?*/\\ and Unicode's Cc category (a stable set): every code
    point is judged as the category says, and a name holding one is refused or sanitized."""
    every = "".join(map(chr, range(0x110000)))
    expected = {ch for ch in every if ch in '<>:"|?*/\\' or unicodedata.category(ch) == "Cc"}
    assert set(paths._REFUSED_CHARS.findall(every)) == expected
    assert sanitize_component("a\x85b\x9fc") == "a_b_c"  # C1 controls, past ASCII
    with pytest.raises(UnsafePath, match="contains"):
        validate_component("a\u0085b")
