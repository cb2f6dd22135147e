"""Writing our section keeps the user's extra_model_paths.yaml what it was: a symlink stays a symlink, the
mode (and owner, where we may) stays, and removing our section gives the same file back."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from comfyui_model_library.core.mapping.extra_paths import remove_section, write_section


def test_symlinked_yaml_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles" / "extra_model_paths.yaml"
    dotfiles.parent.mkdir()
    original = b"# shared\nother:\n    base_path: /srv/models\n"
    dotfiles.write_bytes(original)
    install = tmp_path / "ComfyUI"
    install.mkdir()
    link = install / "extra_model_paths.yaml"
    link.symlink_to(dotfiles)
    write_section(link, tmp_path / "views", {"loras": "loras"})
    assert link.is_symlink() and b"comfyui_model_library" in dotfiles.read_bytes()
    remove_section(link)
    assert link.is_symlink() and dotfiles.read_bytes() == original


def test_mode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "extra_model_paths.yaml"
    path.write_text("other:\n    base_path: /srv/models\n")
    os.chmod(path, 0o640)
    write_section(path, tmp_path / "views", {"loras": "loras"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    remove_section(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
