"""extra_model_paths.yaml shapes that are valid YAML ComfyUI reads. One saved by a Windows editor opens
with a UTF-8 byte-order mark: a section of ours without markers right after the mark is cut out as text
like any other (the mark, the user's four-space indentation and comments stay byte for byte), and the
install's folders are read from the same file. One whose top-level keys are all indented gets our keys at
the same column."""

from __future__ import annotations

from pathlib import Path

from comfyui_model_library.core.mapping.comfyui import ComfyInstall, extra_paths_folders
from comfyui_model_library.core.mapping.extra_paths import read_section, remove_section, write_section

VIEWS = Path("/library/views/abc")
CATS = {"loras": "loras"}
USER = "# my settings\nother:\n    base_path: /srv/models\n    loras: |\n        loras\n        more_loras\n"


def test_an_unmarked_section_after_a_byte_order_mark_is_cut_keeping_the_rest_byte_for_byte(
    tmp_path: Path,
) -> None:
    path = tmp_path / "extra_model_paths.yaml"
    ours = "comfyui_model_library:\n    base_path: /old/views\n    loras: loras\n"
    path.write_bytes(("\ufeff" + ours + USER).encode())
    assert write_section(path, VIEWS, CATS)
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff" + USER), text
    assert read_section(path) == {"base_path": str(VIEWS), **CATS}
    assert remove_section(path)
    assert path.read_bytes().decode("utf-8") == "\ufeff" + USER


def test_the_installs_folders_are_read_from_a_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "extra_model_paths.yaml").write_bytes(("\ufeff" + USER).encode())
    found = extra_paths_folders(ComfyInstall(tmp_path, "", "x"))
    assert found == {"loras": [Path("/srv/models/loras"), Path("/srv/models/more_loras")]}


def test_a_file_whose_top_level_keys_are_all_indented_gets_our_keys_lined_up_and_undone_byte_for_byte(
    tmp_path: Path,
) -> None:
    path = tmp_path / "extra_model_paths.yaml"
    original = b"  other:\n      base_path: /srv/models\n      loras: loras\n"
    path.write_bytes(original)  # valid YAML that ComfyUI reads: every top-level key two spaces in
    assert write_section(path, VIEWS, CATS)
    assert read_section(path) == {"base_path": str(VIEWS), **CATS}
    assert remove_section(path)
    assert path.read_bytes() == original
