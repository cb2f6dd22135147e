"""Link creation, identity and removal; Windows behaviour by simulation through OsOps."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from comfyui_model_library.core.errors import LinkConflict, StorageError
from comfyui_model_library.core.links.platform import (
    IO_REPARSE_TAG_MOUNT_POINT,
    TEMP_MARK,
    LinkMaker,
    OsOps,
    inside_root,
    long_path,
    strip_long_prefix,
    temp_name_for,
)


def winerror(code: int, message: str = "simulated") -> OSError:
    exc = OSError(errno.EINVAL, message)
    exc.winerror = code  # type: ignore[attr-defined]
    return exc


class NoSymlinks(OsOps):
    """Windows without Developer Mode: every symlink answers WinError 1314."""

    def __init__(self) -> None:
        self.symlink_calls = 0

    def symlink(self, target: str, link: str) -> None:
        self.symlink_calls += 1
        raise winerror(1314, "A required privilege is not held by the client")


class NoLinksAtAll(NoSymlinks):
    def link(self, src: str, dst: str) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")


class OtherDrive(OsOps):
    def relpath(self, path: str, start: str) -> str:
        raise ValueError("path is on mount 'D:', start on mount 'C:'")


class BusyReplace(OsOps):
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sleeps: list[float] = []

    def replace(self, src: str, dst: str) -> None:
        if self.failures:
            self.failures -= 1
            raise winerror(32, "The process cannot access the file because it is being used")
        super().replace(src, dst)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


class JunctionStat(OsOps):
    """lstat reports a directory junction (a mount-point reparse point) at one path."""

    def __init__(self, junction: str) -> None:
        self.junction = junction

    def lstat(self, path: str) -> os.stat_result:
        st = super().lstat(path)
        if path != self.junction:
            return st
        return _Junction(st)  # type: ignore[return-value]


class _Junction:
    def __init__(self, st: os.stat_result) -> None:
        self._st = st
        self.st_reparse_tag = IO_REPARSE_TAG_MOUNT_POINT

    def __getattr__(self, name: str) -> object:
        return getattr(self._st, name)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    f = tmp_path / "library" / "models" / "a" / "model.safetensors"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"weights")
    return f


def test_relative_symlink_survives_moving_the_whole_tree(tmp_path: Path, target: Path) -> None:
    link = tmp_path / "library" / "views" / "x" / "loras" / "model.safetensors"
    made = LinkMaker().create_link(target, link)
    assert (made.kind, made.relative) == ("symlink", True)
    assert not os.path.isabs(os.readlink(link))
    assert LinkMaker().is_our_link(link, target, "symlink")
    shutil.move(str(tmp_path / "library"), str(tmp_path / "moved"))
    moved_link = tmp_path / "moved" / "views" / "x" / "loras" / "model.safetensors"
    assert moved_link.read_bytes() == b"weights"


def test_links_made_through_a_symlinked_folder_are_written_from_its_real_path(
    tmp_path: Path, target: Path
) -> None:
    """A batch resolves its folders once (``real_folders``): every link still resolves to its target when
    the folder is reached through a symlink to a place of another depth."""
    real = tmp_path / "other-disk" / "loras"
    real.mkdir(parents=True)
    seen = tmp_path / "ComfyUI" / "models" / "loras"
    seen.parent.mkdir(parents=True)
    os.symlink(real, seen)
    cache: dict[str, str] = {}
    for name in ("a.safetensors", "b.safetensors"):
        made = LinkMaker().make_link_at(target, seen / name, real_folders=cache)
        assert (made.kind, made.relative) == ("symlink", True)
        assert os.path.realpath(seen / name) == str(target), os.readlink(seen / name)
    assert cache == {str(seen): str(real)}


@pytest.mark.parametrize("known", [False, True])
def test_a_folder_moved_behind_a_symlink_mid_batch_still_gets_links_that_resolve(
    tmp_path: Path, target: Path, known: bool
) -> None:
    """A category folder moved elsewhere (same drive: its inodes, and so the originals' checks, unchanged)
    and replaced by a symlink while a batch links: a real path cached before the move would write link
    text that dangles from where the folder now is. ``known``: the caller gives the target's identity
    (one stat fewer), as adoption does."""
    seen = tmp_path / "ComfyUI" / "models" / "loras"
    seen.mkdir(parents=True)
    cache: dict[str, str] = {}
    LinkMaker().make_link_at(target, seen / "a.safetensors", real_folders=cache)
    moved = tmp_path / "disk" / "of" / "another" / "depth" / "loras"
    moved.parent.mkdir(parents=True)
    os.rename(seen, moved)
    os.symlink(moved, seen)
    st = target.stat()
    target_id = (st.st_dev, st.st_ino) if known else None
    made = LinkMaker().make_link_at(target, seen / "b.safetensors", real_folders=cache, target_id=target_id)
    assert made.kind == "symlink"
    assert os.path.realpath(seen / "b.safetensors") == str(target), os.readlink(seen / "b.safetensors")


def test_absolute_symlink_when_no_relative_path_exists(tmp_path: Path, target: Path) -> None:
    made = LinkMaker(OtherDrive()).create_link(target, tmp_path / "v" / "m.safetensors")
    assert (made.kind, made.relative) == ("symlink", False)
    assert os.readlink(tmp_path / "v" / "m.safetensors") == str(target)


def test_winerror_1314_falls_back_to_hardlink_and_probes_once_per_folder(
    tmp_path: Path, target: Path
) -> None:
    ops = NoSymlinks()
    maker = LinkMaker(ops)
    first = maker.create_link(target, tmp_path / "v" / "a.safetensors")
    second = maker.create_link(target, tmp_path / "v" / "b.safetensors")
    assert first.kind == second.kind == "hardlink"
    assert ops.symlink_calls == 1
    assert first.inode == target.stat().st_ino
    assert maker.is_our_link(tmp_path / "v" / "a.safetensors", target, "hardlink", first.inode, first.device)
    maker.create_link(target, tmp_path / "w" / "c.safetensors")
    assert ops.symlink_calls == 2  # another folder is probed on its own


def test_copy_only_when_allowed(tmp_path: Path, target: Path) -> None:
    maker = LinkMaker(NoLinksAtAll())
    with pytest.raises(StorageError, match="allow copies"):
        maker.create_link(target, tmp_path / "v" / "a.safetensors")
    assert not (tmp_path / "v" / "a.safetensors").exists()
    made = maker.create_link(target, tmp_path / "v" / "a.safetensors", allow_copy=True)
    assert made.kind == "copy"
    assert (tmp_path / "v" / "a.safetensors").read_bytes() == b"weights"
    assert maker.is_our_link(tmp_path / "v" / "a.safetensors", target, "copy", made.inode, made.device)
    assert not list((tmp_path / "v").glob(".*mlib-tmp"))


def test_file_in_use_is_retried_then_reported(tmp_path: Path, target: Path) -> None:
    ops = BusyReplace(failures=2)
    LinkMaker(ops, retries=3).create_link(target, tmp_path / "v" / "a.safetensors")
    assert len(ops.sleeps) == 2
    ops = BusyReplace(failures=10)
    with pytest.raises(StorageError, match="in use"):
        LinkMaker(ops, retries=2).create_link(target, tmp_path / "v" / "b.safetensors")
    assert not os.path.lexists(tmp_path / "v" / "b.safetensors")
    assert not list((tmp_path / "v").glob(".*mlib-tmp"))  # the temp link was cleaned up


def test_existing_path_is_never_replaced_unless_ours(tmp_path: Path, target: Path) -> None:
    user = tmp_path / "v" / "a.safetensors"
    user.parent.mkdir()
    user.write_bytes(b"user")
    with pytest.raises(LinkConflict):
        LinkMaker().create_link(target, user)
    assert user.read_bytes() == b"user"


def test_what_is_not_ours(tmp_path: Path, target: Path) -> None:
    maker = LinkMaker()
    views = tmp_path / "v"
    views.mkdir()
    (views / "file").write_bytes(b"user")
    (views / "folder").mkdir()
    other = tmp_path / "other.bin"
    other.write_bytes(b"x")
    os.symlink(other, views / "elsewhere")
    assert not maker.is_our_link(views / "file", target, "symlink")
    assert not maker.is_our_link(views / "folder", target, "symlink")
    assert not maker.is_our_link(views / "elsewhere", target, "symlink")
    st = target.stat()
    assert not maker.is_our_link(views / "file", target, "hardlink", st.st_ino, st.st_dev)
    assert maker.remove_link(views / "file", target, "symlink") == "not_ours"
    assert maker.remove_link(views / "folder", target, "hardlink", st.st_ino, st.st_dev) == "not_ours"
    assert (views / "file").read_bytes() == b"user" and (views / "folder").is_dir()
    assert maker.remove_link(views / "missing", target, "symlink") == "missing"


def test_a_junction_is_never_ours(tmp_path: Path, target: Path) -> None:
    link = tmp_path / "v" / "j"
    LinkMaker().create_link(target, link)
    maker = LinkMaker(JunctionStat(str(link)))
    assert not maker.is_our_link(link, target, "symlink")
    assert maker.remove_link(link, target, "symlink") == "not_ours"
    assert os.path.lexists(link)


def test_remove_our_link_leaves_the_target(tmp_path: Path, target: Path) -> None:
    maker = LinkMaker()
    link = tmp_path / "v" / "a"
    maker.create_link(target, link)
    assert maker.remove_link(link, target, "symlink") == "removed"
    assert not os.path.lexists(link) and target.read_bytes() == b"weights"


def test_long_paths() -> None:
    short = "C:\\models\\a.safetensors"
    assert long_path(short) == short
    deep = "C:\\" + "\\".join(["d" * 50] * 6) + "\\a.safetensors"
    assert long_path(deep).startswith("\\\\?\\C:\\")
    unc = "\\\\server\\share\\" + "x" * 300
    assert long_path(unc).startswith("\\\\?\\UNC\\server\\share\\")
    assert strip_long_prefix(long_path(deep)) == deep
    assert strip_long_prefix(long_path(unc)) == unc


def test_long_paths_reach_the_os_when_simulating_windows(tmp_path: Path, target: Path) -> None:
    seen: list[str] = []

    class Windows(NoSymlinks):
        is_windows = True

        def link(self, src: str, dst: str) -> None:
            seen.append(dst)
            raise OSError(errno.EXDEV, "cross-device")

    deep = tmp_path / ("d" * 120) / ("e" * 120) / "model.safetensors"
    with pytest.raises(StorageError):
        LinkMaker(Windows()).make_link_at(target, deep)
    assert seen and seen[0].startswith("\\\\?\\")


def test_inside_root_refuses_a_parent_swapped_for_a_symlink(tmp_path: Path) -> None:
    root = tmp_path / "views"
    root.mkdir()
    documents = tmp_path / "Documents"
    documents.mkdir()
    os.symlink(documents, root / "loras")
    assert inside_root(root / "a" / "b.safetensors", root)
    assert not inside_root(root / "loras" / "thesis.docx", root)
    assert not inside_root(tmp_path / "elsewhere", root)
    assert not inside_root(root, root)


def test_inside_root_allows_a_category_of_an_installs_models_folder_linked_to_another_disk(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ComfyUI" / "models"
    root.mkdir(parents=True)
    big = tmp_path / "big" / "loras"
    (big / "sd15").mkdir(parents=True)
    os.symlink(big, root / "loras")
    assert inside_root(root / "loras" / "sd15" / "x.safetensors", root)
    os.symlink(tmp_path / "Documents", big / "deeper")  # below the category, no further link passes
    assert not inside_root(root / "loras" / "deeper" / "x.safetensors", root)


def test_temp_names_are_hidden_distinct_and_not_repeated_by_a_forked_child(tmp_path: Path) -> None:
    link = tmp_path / "m.safetensors"
    names = [temp_name_for(link) for _ in range(1000)]
    assert len(set(names)) == 1000
    assert all(Path(n).parent == tmp_path and Path(n).name.startswith(".m.safetensors.") for n in names)
    assert all(n.endswith(TEMP_MARK) for n in names)
    if not hasattr(os, "fork"):
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next name, then out without running the parent's cleanups
        os.write(write, temp_name_for(link).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 4096).decode()
    os.close(read)
    mine = temp_name_for(link)
    assert child not in names and child != mine
    assert child.split(".")[-2][:8] != mine.split(".")[-2][:8]  # a random part of its own
