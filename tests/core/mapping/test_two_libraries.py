"""One ComfyUI install, several libraries: each library writes its own section (named by its id), mapping an
install another library maps asks first, and an earlier version's shared-name block is taken over on upgrade.
Real libraries (Library.open) on real folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.errors import Conflict
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.mapping.comfyui import read_install
from comfyui_model_library.core.mapping.extra_paths import library_sections, write_section
from comfyui_model_library.core.mapping.service import section_name, view_root
from comfyui_model_library.core.workflows.resolve_listing import InstallListing
from tests import synth

USER_YAML = b"# my own paths\r\nother_ui:\r\n    base_path: /data/sd\r\n    loras: models/Lora\r\n"


def open_library(tmp_path: Path, name: str, comfy: Path) -> Library:
    return Library.open(
        load_config(tmp_path / name, import_roots=(tmp_path / f"in-{name}",), comfyui_root=comfy)
    )


def add_lora(lib: Library, tmp_path: Path, file_name: str) -> None:
    folder = Path(lib.config.import_roots[0])
    folder.mkdir(exist_ok=True)
    path = synth.write_safetensors(
        folder / file_name, synth.FAMILIES["sdxl_lora_kohya"]["tensors"], {"n": file_name}
    )
    (item,) = lib.imports.import_paths([path], lookup=False)
    assert item.model is not None


@pytest.fixture
def comfy(tmp_path: Path) -> Path:
    root = synth.comfyui_install(tmp_path / "ComfyUI", "loras")
    (root / "extra_model_paths.yaml").write_bytes(USER_YAML)
    return root


@pytest.fixture
def two(tmp_path: Path, comfy: Path) -> Iterator[tuple[Library, Library]]:
    a, b = open_library(tmp_path, "a", comfy), open_library(tmp_path, "b", comfy)
    add_lora(a, tmp_path, "from_a.safetensors")
    add_lora(b, tmp_path, "from_b.safetensors")
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_a_second_library_asks_first_then_both_keep_their_own_section(
    two: tuple[Library, Library], comfy: Path
) -> None:
    a, b = two
    yaml_file = comfy / "extra_model_paths.yaml"
    a.mapping.apply(comfy)
    after_a = yaml_file.read_bytes()
    assert set(library_sections(yaml_file)) == {section_name(a.config.root)}

    with pytest.raises(Conflict, match="--shared") as refused:
        b.mapping.apply(comfy)
    assert section_name(a.config.root) in refused.value.message
    assert yaml_file.read_bytes() == after_a  # nothing changed
    assert not list((Path(b.config.root) / "views").rglob("*.safetensors"))

    b.mapping.apply(comfy, shared=True)
    sections = library_sections(yaml_file)
    assert set(sections) == {section_name(a.config.root), section_name(b.config.root)}
    assert section_name(a.config.root) != section_name(b.config.root)
    listed = InstallListing(read_install(comfy))("loras")
    assert {"from_a.safetensors", "from_b.safetensors"} <= set(listed)

    # Each library's own catalogue never takes the other's links for models.
    assert {m.name for m in b.catalog.list_models(_all()).items} == {"from_b"}

    # Unmapping one leaves the other's section and links; unmapping both gives the user's file back.
    a.mapping.unmap(comfy)
    assert set(library_sections(yaml_file)) == {section_name(b.config.root)}
    assert "from_b.safetensors" in InstallListing(read_install(comfy))("loras")
    assert "from_a.safetensors" not in InstallListing(read_install(comfy))("loras")
    b.mapping.unmap(comfy)
    assert yaml_file.read_bytes() == USER_YAML


def test_the_block_an_earlier_version_wrote_is_taken_over_and_unmap_restores_the_users_file(
    tmp_path: Path, comfy: Path
) -> None:
    lib = open_library(tmp_path, "lib", comfy)
    try:
        add_lora(lib, tmp_path, "mine.safetensors")
        yaml_file = comfy / "extra_model_paths.yaml"
        install = read_install(comfy)
        # What an earlier version wrote: the shared name, this library's views.
        write_section(yaml_file, view_root(Path(lib.config.root), install.id), {"loras": "loras"})
        assert set(library_sections(yaml_file)) == {"comfyui_model_library"}

        lib.mapping.apply(comfy)  # no question: the old block is this library's own
        assert set(library_sections(yaml_file)) == {section_name(lib.config.root)}
        assert "mine.safetensors" in InstallListing(install)("loras")
        assert lib.health.check().status == "healthy"

        lib.mapping.unmap(comfy)
        assert yaml_file.read_bytes() == USER_YAML
    finally:
        lib.close()


def test_an_earlier_versions_block_of_another_library_is_not_taken(tmp_path: Path, comfy: Path) -> None:
    lib = open_library(tmp_path, "lib", comfy)
    try:
        yaml_file = comfy / "extra_model_paths.yaml"
        write_section(yaml_file, tmp_path / "someone-else" / "views" / "x", {"loras": "loras"})
        before = yaml_file.read_bytes()
        with pytest.raises(Conflict, match="another model library"):
            lib.mapping.apply(comfy)
        assert yaml_file.read_bytes() == before
    finally:
        lib.close()


def _all() -> object:
    from comfyui_model_library.core.models import ModelQuery

    return ModelQuery(limit=100)
