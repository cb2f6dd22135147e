"""Our section of extra_model_paths.yaml: round trip with the user's file, byte-identical removal."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml as pyyaml  # the loader ComfyUI itself uses

from comfyui_model_library.core.errors import InvalidConfig, UnsafePath
from comfyui_model_library.core.mapping.comfyui import ComfyInstall, extra_paths_folders, read_install
from comfyui_model_library.core.mapping.extra_paths import (
    read_section,
    remove_section,
    section_matches,
    write_section,
)

USER_YAML = """\
# My ComfyUI paths (hand-written, with comments)
a111:
    base_path: /home/u/stable-diffusion-webui/   # the old UI

    checkpoints: models/Stable-diffusion
    loras: |
        models/Lora
        models/LyCORIS
    custom_nodes: /home/u/my_nodes   # the user's own choice, left alone

#other:
#    base_path: /mnt/other
"""

VIEW = Path("/lib/views/abc")


def test_add_then_remove_gives_back_the_users_bytes(tmp_path: Path) -> None:
    path = tmp_path / "extra_model_paths.yaml"
    path.write_text(USER_YAML)
    original = path.read_bytes()
    assert write_section(path, VIEW, {"checkpoints": "checkpoints", "loras": "loras"})
    text = path.read_text()
    assert text.startswith(USER_YAML)  # the user's part is untouched, comments included
    parsed = pyyaml.safe_load(text)
    assert parsed["comfyui_model_library"] == {
        "base_path": str(VIEW),
        "checkpoints": "checkpoints",
        "loras": "loras",
    }
    assert parsed["a111"]["custom_nodes"] == "/home/u/my_nodes"
    assert "custom_nodes" not in parsed["comfyui_model_library"]
    assert (tmp_path / "extra_model_paths.yaml.bak").read_bytes() == original
    assert not write_section(path, VIEW, {"checkpoints": "checkpoints", "loras": "loras"})  # no change
    assert write_section(path, VIEW, {"vae": "vae"})  # update in place
    assert read_section(path) == {"base_path": str(VIEW), "vae": "vae"}
    assert remove_section(path)
    assert path.read_bytes() == original


def test_files_without_final_newline_and_crlf_come_back_identical(tmp_path: Path) -> None:
    for original in (b"a:\n  base_path: /x\n  vae: v", b"a:\r\n  base_path: /x\r\n  vae: v\r\n", b""):
        path = tmp_path / "extra_model_paths.yaml"
        path.write_bytes(original)
        write_section(path, VIEW, {"vae": "vae"})
        assert pyyaml.safe_load(path.read_text())["comfyui_model_library"]["vae"] == "vae"
        remove_section(path)
        assert path.read_bytes() == original


def test_a_file_we_created_is_removed_again(tmp_path: Path) -> None:
    path = tmp_path / "extra_model_paths.yaml"
    write_section(path, VIEW, {"loras": "loras"})
    assert section_matches(path, VIEW, {"loras": "loras"})
    assert not section_matches(path, Path("/elsewhere"), {"loras": "loras"})
    assert remove_section(path)
    assert not path.exists()
    assert not remove_section(path)


def test_unmarked_section_is_replaced_keeping_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "extra_model_paths.yaml"
    path.write_text("# keep me\nother:\n  base_path: /o\ncomfyui_model_library:\n  base_path: /old\n")
    write_section(path, VIEW, {"vae": "vae"})
    text = path.read_text()
    assert "# keep me" in text and "/old" not in text
    assert pyyaml.safe_load(text)["other"] == {"base_path": "/o"}


@pytest.mark.parametrize(
    "categories, error",
    [
        ({"custom_nodes": "x"}, InvalidConfig),
        ({"configs": "x"}, InvalidConfig),
        ({"loras": "a\nb"}, UnsafePath),
        ({"loras": "a\x00"}, UnsafePath),
    ],
)
def test_injection_is_refused_and_nothing_written(
    tmp_path: Path, categories: dict[str, str], error: type
) -> None:
    path = tmp_path / "extra_model_paths.yaml"
    path.write_text(USER_YAML)
    with pytest.raises(error):
        write_section(path, VIEW, categories)
    with pytest.raises(UnsafePath):
        write_section(path, Path("relative/views"), {"loras": "loras"})
    assert path.read_text() == USER_YAML


def test_broken_user_files_are_reported_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "extra_model_paths.yaml"
    for text in ("a: [unclosed\n", "- a list\n- at the top\n", "{a: 1"):
        path.write_text(text)
        with pytest.raises(InvalidConfig):
            write_section(path, VIEW, {"loras": "loras"})
        assert path.read_text() == text


def test_reading_an_install(tmp_path: Path) -> None:
    from .support import make_comfy

    comfy = make_comfy(tmp_path / "ComfyUI", "0.3.64")
    (comfy / "extra_model_paths.yaml").write_text(USER_YAML)
    install = read_install(comfy)
    assert install.version == "0.3.64" and len(install.id) == 12
    assert read_install(comfy).id == install.id
    write_section(install.extra_paths_file, tmp_path / "views", {"loras": "loras"})
    folders = extra_paths_folders(install)
    assert folders["loras"] == [
        Path("/home/u/stable-diffusion-webui/models/Lora"),
        Path("/home/u/stable-diffusion-webui/models/LyCORIS"),
    ]
    assert "custom_nodes" not in folders
    with pytest.raises(Exception, match="does not look like a ComfyUI"):
        read_install(tmp_path)
    (comfy / "extra_model_paths.yaml").write_text("x:\n  loras:\n    - a\n    - b\n")
    with pytest.raises(InvalidConfig, match="not a list"):
        extra_paths_folders(ComfyInstall(comfy, "", "x"))
