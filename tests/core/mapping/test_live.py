"""Mapping the running install "live" (inside ComfyUI, the plugin registers the views): nothing is
written into the install unless the user asks; an earlier version's block is taken back on upgrade."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.mapping.comfyui import read_install
from comfyui_model_library.core.mapping.extra_paths import library_sections, remove_section, write_section
from comfyui_model_library.core.mapping.service import section_name, view_root
from tests import synth

USER_YAML = b"other_ui:\n    base_path: /data/sd\n    loras: models/Lora"  # no final newline: "joined"


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[Library]:
    comfy = synth.comfyui_install(tmp_path / "ComfyUI", "loras")
    library = Library.open(load_config(tmp_path / "lib", import_roots=(tmp_path / "in",), comfyui_root=comfy))
    (tmp_path / "in").mkdir()
    path = synth.write_family(tmp_path / "in" / "detail.safetensors", "sdxl_lora_kohya")
    library.imports.import_paths([path], lookup=False)
    try:
        yield library
    finally:
        library.close()


def comfy_of(lib: Library) -> Path:
    assert lib.config.comfyui_root is not None
    return Path(lib.config.comfyui_root)


def views_links(lib: Library) -> list[str]:
    return sorted(p.name for p in (Path(lib.config.root) / "views").rglob("*.safetensors"))


def test_a_first_start_writes_nothing_into_the_install(lib: Library) -> None:
    comfy = comfy_of(lib)
    assert lib.mapping.wants_live(comfy, write_yaml=False)
    lib.mapping.apply(comfy, live=True)
    assert not (comfy / "extra_model_paths.yaml").exists()
    assert views_links(lib) == ["detail.safetensors"]
    assert [a["mode"] for a in lib.mapping.installs()] == ["live"]
    assert lib.health.check().status == "healthy"
    lib.mapping.unmap(comfy)
    assert views_links(lib) == [] and not (comfy / "extra_model_paths.yaml").exists()


def test_an_earlier_versions_block_is_taken_back_byte_for_byte(lib: Library) -> None:
    comfy = comfy_of(lib)
    yaml_file = comfy / "extra_model_paths.yaml"
    yaml_file.write_bytes(USER_YAML)
    lib.mapping.apply(comfy)  # the app in view mode, as the earlier version left it ...
    remove_section(yaml_file, section_name(Path(lib.config.root)))  # ... with its block under the old name
    write_section(yaml_file, view_root(Path(lib.config.root), read_install(comfy).id), {"loras": "loras"})
    assert set(library_sections(yaml_file)) == {"comfyui_model_library"}
    assert lib.mapping.wants_live(comfy, write_yaml=False)
    lib.mapping.apply(comfy, live=True)
    assert yaml_file.read_bytes() == USER_YAML
    assert views_links(lib) == ["detail.safetensors"]


def test_a_yaml_the_user_asked_for_stays(lib: Library) -> None:
    comfy = comfy_of(lib)
    lib.mapping.apply(comfy)  # `map apply`: the user asked for the section
    assert not lib.mapping.wants_live(comfy, write_yaml=False)
    assert len(library_sections(comfy / "extra_model_paths.yaml")) == 1
    # The setting asks for it too; switching the setting off later does not remove what map apply made.
    assert not lib.mapping.wants_live(comfy, write_yaml=True)
    lib.mapping.apply(comfy, live=True)  # an explicit switch to live takes it away
    assert not (comfy / "extra_model_paths.yaml").exists()
    assert lib.mapping.wants_live(comfy, write_yaml=False)
