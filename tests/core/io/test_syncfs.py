"""fsync_many syncs many paths of one filesystem with one syncfs, and path by path whenever that one call
would not cover them all or could wait for others' bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from comfyui_model_library.core.io import fileops, syncfs


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Every syncfs (the folder of the fd) and every fsync (the path of the fd), without the real calls."""
    seen: dict[str, list[str]] = {"syncfs": [], "fsync": []}

    def fake_syncfs(fd: int) -> int:
        seen["syncfs"].append(os.readlink(f"/proc/self/fd/{fd}"))
        return 0

    def fake_fsync(fd: int) -> None:
        seen["fsync"].append(os.readlink(f"/proc/self/fd/{fd}"))

    monkeypatch.setattr(syncfs, "_loaded", fake_syncfs)
    monkeypatch.setattr(syncfs, "dirty_bytes", lambda: 0)
    monkeypatch.setattr(os, "fsync", fake_fsync)
    return seen


pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names fds through /proc")


def _tree(root: Path, count: int) -> tuple[list[Path], list[Path]]:
    files, dirs = [], []
    for i in range(count):
        folder = root / f"m{i}"
        folder.mkdir(parents=True)
        (folder / "metadata.json").write_text("{}")
        files.append(folder / "metadata.json")
        dirs.append(folder)
    return files, dirs


def test_many_paths_of_one_filesystem_take_one_syncfs(tmp_path: Path, calls: dict[str, list[str]]) -> None:
    files, dirs = _tree(tmp_path, syncfs.SYNCFS_MIN_PATHS)
    fileops.fsync_many(files=files, dirs=dirs)
    assert calls == {"syncfs": [str(dirs[0])], "fsync": []}


def test_few_paths_are_fsynced_one_by_one(tmp_path: Path, calls: dict[str, list[str]]) -> None:
    files, dirs = _tree(tmp_path, 3)
    fileops.fsync_many(files=files, dirs=dirs)
    assert calls["syncfs"] == []
    assert sorted(calls["fsync"]) == sorted(str(p) for p in [*files, *dirs])


def test_much_dirty_data_elsewhere_means_fsyncs(
    tmp_path: Path, calls: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(syncfs, "dirty_bytes", lambda: syncfs.SYNCFS_MAX_DIRTY + 1)
    files, dirs = _tree(tmp_path, syncfs.SYNCFS_MIN_PATHS)
    fileops.fsync_many(files=files, dirs=dirs)
    assert calls["syncfs"] == []
    assert len(calls["fsync"]) == 2 * syncfs.SYNCFS_MIN_PATHS


def test_a_path_syncfs_would_not_cover_means_fsyncs(
    tmp_path: Path, calls: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    files, dirs = _tree(tmp_path, syncfs.SYNCFS_MIN_PATHS)
    real_stat = os.stat

    def stat(path: os.PathLike[str] | str, **kwargs: object) -> os.stat_result:
        st = real_stat(path, **kwargs)  # type: ignore[arg-type]
        if Path(path) == dirs[-1]:  # as if a mount point: another filesystem
            values = list(st)
            values[2] = st.st_dev + 1
            return os.stat_result(values)
        return st

    monkeypatch.setattr(os, "stat", stat)
    fileops.fsync_many(files=files, dirs=dirs)
    assert calls["syncfs"] == []
    assert len(calls["fsync"]) == 2 * syncfs.SYNCFS_MIN_PATHS


def test_a_link_among_the_files_means_fsyncs_which_refuse_it(
    tmp_path: Path, calls: dict[str, list[str]]
) -> None:
    files, dirs = _tree(tmp_path, syncfs.SYNCFS_MIN_PATHS)
    files[-1].unlink()
    files[-1].symlink_to(files[0])
    with pytest.raises(OSError):
        fileops.fsync_many(files=files, dirs=dirs)  # fsync_file opens with O_NOFOLLOW
    assert calls["syncfs"] == []


def test_a_failed_syncfs_falls_back_to_fsyncs(
    tmp_path: Path, calls: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(syncfs, "_loaded", lambda fd: -1)
    files, dirs = _tree(tmp_path, syncfs.SYNCFS_MIN_PATHS)
    fileops.fsync_many(files=files, dirs=dirs)
    assert len(calls["fsync"]) == 2 * syncfs.SYNCFS_MIN_PATHS


def test_the_real_syncfs_runs_where_there_is_one(tmp_path: Path) -> None:
    if syncfs._syncfs() is None:
        pytest.skip("no syncfs here (not Linux 5.8+)")
    files, dirs = _tree(tmp_path, 2)
    assert syncfs.sync_all_at(files, dirs) or (syncfs.dirty_bytes() or 0) > syncfs.SYNCFS_MAX_DIRTY
