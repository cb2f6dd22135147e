"""The local content-addressed cache (issue 18) with real files, real hashing and real processes holding
files open: filled once and verified, least recently used out first, never a file in use."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from blake3 import blake3

from comfyui_model_library.core.cache.budget import parse_budget
from comfyui_model_library.core.cache.open_files import held_paths
from comfyui_model_library.core.cache.store import CacheEntry, ContentCache
from comfyui_model_library.core.errors import HashMismatch, InsufficientSpace, InvalidConfig
from comfyui_model_library.core.models import ModelFile

MIB = 1 << 20


def share_file(folder: Path, name: str, size: int = MIB) -> tuple[ModelFile, Path]:
    """A model file on the "share" and the ModelFile the catalog holds for it."""
    folder.mkdir(parents=True, exist_ok=True)
    data = os.urandom(size)
    path = folder / name
    path.write_bytes(data)
    return ModelFile(name, size, blake3(data).hexdigest(), "0" * 64), path


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_file_is_copied_once_verified_and_read_only(tmp_path: Path, clock: Clock) -> None:
    cache = ContentCache(tmp_path / "cache", 10 * MIB, recent_s=0, clock=clock)
    file, source = share_file(tmp_path / "share", "detail.safetensors")
    assert cache.lookup(file) is None
    cached = cache.fill(file, source)
    assert cached.read_bytes() == source.read_bytes() and cached.suffix == ".safetensors"
    assert not os.access(cached, os.W_OK) or os.geteuid() == 0
    assert oct(cached.stat().st_mode & 0o777) == "0o444"
    source.unlink()  # the share is gone: the cache still serves, without reading it
    assert cache.fill(file, source) == cached == cache.lookup(file)
    assert not list((tmp_path / "cache" / "tmp").iterdir())


def test_bytes_that_are_not_the_catalogs_never_reach_the_cache(tmp_path: Path, clock: Clock) -> None:
    cache = ContentCache(tmp_path / "cache", 10 * MIB, recent_s=0, clock=clock)
    file, source = share_file(tmp_path / "share", "lora.safetensors")
    source.write_bytes(os.urandom(MIB))  # replaced on the share after it was catalogued
    with pytest.raises(HashMismatch, match="model-library health"):
        cache.fill(file, source)
    assert cache.lookup(file) is None and cache.entries() == []
    assert not list((tmp_path / "cache" / "tmp").iterdir())


def test_the_least_recently_used_goes_first(tmp_path: Path, clock: Clock) -> None:
    evicted: list[CacheEntry] = []

    def note(entry: CacheEntry) -> None:
        assert entry.path.exists(), "told before the bytes go, so links can turn back to the share first"
        evicted.append(entry)

    cache = ContentCache(tmp_path / "cache", 3 * MIB, recent_s=0, clock=clock, on_evicted=note)
    files = [share_file(tmp_path / "share", f"m{i}.safetensors") for i in range(4)]
    for file, source in files[:3]:
        cache.fill(file, source)
    assert cache.lookup(files[0][0]) is not None  # used again: now the most recent
    cache.fill(*files[3])
    assert [e.blake3 for e in evicted] == [files[1][0].blake3]
    assert cache.lookup(files[1][0]) is None and cache.used() == 3 * MIB
    assert all(cache.lookup(f) is not None for f, _ in (files[0], files[2], files[3]))


@pytest.fixture
def holder() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def _hold(path: Path, how: str, started: list[subprocess.Popen[bytes]]) -> None:
    """Another process (a ComfyUI) holds ``path``: an open descriptor, or a mapping it closed the fd of."""
    code = (
        "import mmap, sys, time\n"
        f"f = open({str(path)!r}, 'rb')\n"
        + ("m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ); f.close()\n" if how == "mapped" else "")
        + "print('ready', flush=True)\ntime.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    started.append(process)
    assert process.stdout is not None and process.stdout.readline().strip() == b"ready"


@pytest.mark.parametrize("how", ["open", "mapped"])
def test_a_file_a_process_holds_is_never_evicted(
    tmp_path: Path, clock: Clock, holder: list[subprocess.Popen[bytes]], how: str
) -> None:
    cache = ContentCache(tmp_path / "cache", 2 * MIB, recent_s=0, clock=clock)
    files = [share_file(tmp_path / "share", f"m{i}.safetensors") for i in range(4)]
    oldest = cache.fill(*files[0])
    cache.fill(*files[1])
    _hold(oldest, how, holder)
    assert os.path.realpath(oldest) in held_paths(tmp_path / "cache")
    cache.fill(*files[2])  # the oldest is held: the next one goes instead
    assert cache.lookup(files[0][0]) is not None and cache.lookup(files[1][0]) is None
    held_too = cache.lookup(files[2][0])
    assert held_too is not None
    _hold(held_too, how, holder)
    with pytest.raises(InsufficientSpace, match="in use"):
        cache.fill(*files[3])  # everything is held: this one is loaded from the share
    assert cache.lookup(files[3][0]) is None and cache.used() == 2 * MIB


def test_recently_used_files_are_kept_for_processes_it_cannot_see(tmp_path: Path, clock: Clock) -> None:
    cache = ContentCache(tmp_path / "cache", MIB, recent_s=600, clock=clock, held=lambda _: set())
    first, second = (share_file(tmp_path / "share", f"m{i}.safetensors") for i in range(2))
    cache.fill(*first)
    with pytest.raises(InsufficientSpace):
        cache.fill(*second)
    clock.now += 601
    cache.fill(*second)
    assert cache.lookup(first[0]) is None


def test_a_file_larger_than_the_budget_is_not_cached(tmp_path: Path, clock: Clock) -> None:
    cache = ContentCache(tmp_path / "cache", MIB // 2, clock=clock)
    with pytest.raises(InsufficientSpace, match="MODEL_LIBRARY_CACHE_BUDGET"):
        cache.fill(*share_file(tmp_path / "share", "big.safetensors"))


def test_several_loads_of_one_file_at_once_copy_it_once(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path / "cache", 10 * MIB, recent_s=0)
    file, source = share_file(tmp_path / "share", "shared.safetensors", 8 * MIB)
    copied: dict[int, int] = {}  # loader -> bytes it copied itself (done bytes of its own stream)
    results: list[Path] = []
    barrier = threading.Barrier(4)

    def load(n: int) -> None:
        barrier.wait()
        results.append(cache.fill(file, source, progress=lambda done: copied.__setitem__(n, done)))

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 1 and len(cache.entries()) == 1
    assert sorted(copied.values()) == [file.size], copied  # one loader copied; three found it there


def test_budgets_read_as_people_write_them() -> None:
    assert parse_budget("500G") == 500 << 30
    assert parse_budget("1.5 TiB") == int(1.5 * (1 << 40))
    assert parse_budget("2048m") == 2048 << 20
    assert parse_budget("123") == 123
    for bad in ("", "lots", "-1G", "0", "5 PB", "1e9"):
        with pytest.raises(InvalidConfig):
            parse_budget(bad)


def test_any_byte_source_can_fill_it_not_only_a_folder(tmp_path: Path, clock: Clock) -> None:
    """The byte store behind the cache is a small Protocol (an S3-compatible store can follow): a source
    that is not a file on the share fills the cache the same way, verified the same way."""
    from comfyui_model_library.core.cache.sources import FolderFile
    from comfyui_model_library.core.io.hashing import Digests

    file, on_share = share_file(tmp_path / "share", "remote.safetensors")

    class Remote:
        """Bytes fetched from elsewhere: here, from memory, as an object store's GET would give them."""

        def __init__(self, data: bytes) -> None:
            self.data = data

        def copy_into(self, dest: Path, **_: object) -> Digests:
            dest.write_bytes(self.data)
            return Digests(len(self.data), blake3(self.data).hexdigest(), "0" * 64)

        def describe(self) -> str:
            return "s3://bucket/remote.safetensors"

    cache = ContentCache(tmp_path / "cache", 10 * MIB, recent_s=0, clock=clock)
    assert cache.fill(file, Remote(on_share.read_bytes())).read_bytes() == on_share.read_bytes()
    other, _ = share_file(tmp_path / "share", "other.safetensors")
    with pytest.raises(HashMismatch, match="s3://bucket"):
        cache.fill(other, Remote(b"not those bytes"))
    assert FolderFile(on_share).describe() == str(on_share)
