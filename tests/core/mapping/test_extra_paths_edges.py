"""extra_model_paths.yaml as users have it: a symlink (also a dangling one), a document closed with
"...", a hand-written section of ours first, four-space indentation; errors name the file's own lines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from comfyui_model_library.core.errors import InvalidConfig, StorageError
from comfyui_model_library.core.mapping.extra_paths import read_section, remove_section, write_section
from comfyui_model_library.core.mapping.yaml_file import read_document

VIEWS = Path("/library/views/abc")
CATS = {"loras": "loras", "checkpoints": "checkpoints"}
USER = "# my settings\nother:\n    base_path: /srv/models\n    loras: |\n        loras\n        more_loras\n"


def test_a_document_closed_with_an_end_marker_gets_our_section_inside_it(tmp_path: Path) -> None:
    path = tmp_path / "extra_model_paths.yaml"
    original = (USER + "...\n").encode()
    path.write_bytes(original)
    assert write_section(path, VIEWS, CATS)
    assert read_section(path) == {"base_path": str(VIEWS), **CATS}
    assert read_document(path)["other"]["base_path"] == "/srv/models"
    assert path.read_text().rstrip().endswith("...")
    assert remove_section(path)
    assert path.read_bytes() == original


def test_an_unmarked_section_of_ours_first_is_replaced_and_the_users_indentation_kept(tmp_path: Path) -> None:
    path = tmp_path / "extra_model_paths.yaml"
    path.write_text("comfyui_model_library:\n    base_path: /old/views\n    loras: loras\n" + USER)
    assert write_section(path, VIEWS, CATS)
    text = path.read_text()
    assert text.startswith(USER)  # byte for byte: comments, four spaces, the block scalar
    assert text.count("comfyui_model_library:") == 1
    assert read_section(path) == {"base_path": str(VIEWS), **CATS}


def test_errors_name_the_files_own_lines(tmp_path: Path) -> None:
    path = tmp_path / "extra_model_paths.yaml"
    path.write_text("a:\n    base_path: /x\nb: [\n")
    with pytest.raises(InvalidConfig, match=r"line 4, column 1"):
        write_section(path, VIEWS, CATS)
    assert path.read_text() == "a:\n    base_path: /x\nb: [\n"


def test_a_symlinked_yaml_is_written_through_with_the_backup_beside_the_link(tmp_path: Path) -> None:
    shared = tmp_path / "shared" / "paths.yaml"
    shared.parent.mkdir()
    shared.write_text(USER)
    install = tmp_path / "ComfyUI"
    install.mkdir()
    link = install / "extra_model_paths.yaml"
    link.symlink_to(shared)
    assert write_section(link, VIEWS, CATS)
    assert link.is_symlink() and read_section(shared) == {"base_path": str(VIEWS), **CATS}
    assert (install / "extra_model_paths.yaml.bak").read_text() == USER
    assert not (shared.parent / "paths.yaml.bak").exists()
    assert remove_section(link)
    assert link.is_symlink() and shared.read_text() == USER


def test_a_dangling_symlink_is_refused_and_nothing_is_created_at_its_target(tmp_path: Path) -> None:
    install = tmp_path / "ComfyUI"
    install.mkdir()
    link = install / "extra_model_paths.yaml"
    gone = tmp_path / "unmounted-share" / "config" / "paths.yaml"
    link.symlink_to(gone)
    with pytest.raises(StorageError, match="does not exist"):
        write_section(link, VIEWS, CATS)
    assert not (tmp_path / "unmounted-share").exists()
    assert os.path.islink(link) and sorted(p.name for p in install.iterdir()) == ["extra_model_paths.yaml"]


def test_a_link_to_a_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    link = tmp_path / "extra_model_paths.yaml"
    link.symlink_to(folder)
    with pytest.raises((StorageError, InvalidConfig)):
        write_section(link, VIEWS, CATS)
    assert list(folder.iterdir()) == []
