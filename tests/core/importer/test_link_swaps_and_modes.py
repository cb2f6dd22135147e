"""Red team of 'a folder import reads only what is in the folder' and 'never more readable than its
source': a link swapped after the plan looked at it, a copy owned by another group, a copy made where
links are refused. Real links into a fake home (HOME is a temp folder), real modes."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from comfyui_model_library.core.library import Library
from comfyui_model_library.core.links.platform import LinkMaker, OsOps
from tests import synth

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX symlinks and modes")

KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n"


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    path = home / ".ssh" / "id_ed25519"
    path.write_bytes(KEY)
    path.chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    return path


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _stored(library: Library) -> list[bytes]:
    return [p.read_bytes() for p in library.config.root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_a_link_swapped_after_the_plan_is_judged_again_when_read(
    library: Library, incoming: Path, key: Path, tmp_path: Path
) -> None:
    """The plan accepts ``model.safetensors -> a model``; before the copy starts (after minutes of other
    models, in life) the link is pointed at the user's key. The copy must not read it."""
    real = synth.write_family(tmp_path / "disk2" / "model.safetensors", "vae_sd15")
    folder = incoming / "pack"
    folder.mkdir()
    link = folder / "model.safetensors"
    link.symlink_to(real)

    def swap(_done: int, _total: int, stage: str) -> None:
        if stage == "planning" and link.resolve() == real:
            link.unlink()
            link.symlink_to(key)

    [item] = library.imports.import_paths([folder], progress=swap)
    assert (item.status, item.error_code) == ("failed", "unsafe_path"), item
    assert not any(KEY in b for b in _stored(library))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_group_read_is_kept_only_for_the_sources_own_group(
    library: Library, incoming: Path, umask: None
) -> None:
    src = synth.write_family(incoming / "team.safetensors", "vae_sd15")
    other_gid = os.getegid() + 4242
    os.chown(src, -1, other_gid)
    src.chmod(0o640)  # readable by the members of group 4242+, not by the library user's group
    [item] = library.imports.import_paths([src])
    assert item.model is not None
    stored = library.catalog.model_file_path(item.model.id)
    assert stored.stat().st_gid != other_gid
    assert _mode(stored) == 0o600
    assert _mode(stored.parent / "metadata.json") & 0o077 == 0, "its record is the owner's only too"


class _NoLinks(OsOps):
    """A filesystem refusing symlinks and hardlinks (FAT, some shares): links become copies."""

    def symlink(self, target: str, link: str) -> None:
        raise OSError(errno.EPERM, "symlinks refused")

    def link(self, src: str, dst: str) -> None:
        raise OSError(errno.EXDEV, "hardlinks refused")


def test_a_copy_made_where_links_are_refused_keeps_a_private_models_mode(tmp_path: Path, umask: None) -> None:
    model = tmp_path / "library" / "model.safetensors"
    model.parent.mkdir()
    model.write_bytes(b"private weights")
    model.chmod(0o600)
    view = tmp_path / "ComfyUI" / "models" / "loras"
    view.mkdir(parents=True)
    made = LinkMaker(_NoLinks()).make_link_at(model, view / "model.safetensors", allow_copy=True)
    assert made.kind == "copy"
    assert _mode(view / "model.safetensors") == 0o600


def test_importing_the_home_folder_does_not_read_a_model_named_link_to_its_key(
    library: Library, key: Path
) -> None:
    """Everything of home is 'inside the imported folder' then: a single model file's link must still
    lead to a file named like a model."""
    home = key.parent.parent
    downloads = home / "Downloads"
    downloads.mkdir()
    synth.write_family(downloads / "real.safetensors", "vae_sd15")
    (downloads / "model.safetensors").symlink_to(key)
    items = {Path(i.source_path).name: i for i in library.imports.import_paths([home])}
    assert items["real.safetensors"].status == "imported"
    assert (items["model.safetensors"].status, items["model.safetensors"].error_code) == (
        "failed",
        "unsafe_path",
    )
    assert not any(KEY in b for b in _stored(library))
