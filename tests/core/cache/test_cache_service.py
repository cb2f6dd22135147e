"""The cache in use: ComfyUI's path to a library file becomes the cached copy, filled on first use and
read locally afterwards; a shared library's second machine fills its own cache once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ImportItem
from tests.synth import write_family


@pytest.fixture
def cached_library(tmp_path: Path) -> Iterator[Library]:
    config = load_config(tmp_path / "library", cache_dir=tmp_path / "fast-disk", cache_budget=64 << 20)
    with Library.open(config) as library:
        yield library


def _import(library: Library, folder: Path, name: str) -> ImportItem:
    folder.mkdir(parents=True, exist_ok=True)
    [item] = library.imports.import_paths([write_family(folder / name, "sdxl_lora_kohya")], lookup=False)
    assert item.model is not None
    return item


def test_a_library_file_is_read_from_the_cache_after_its_first_use(
    cached_library: Library, tmp_path: Path
) -> None:
    item = _import(cached_library, tmp_path / "incoming", "detail.safetensors")
    assert item.model is not None
    on_share = cached_library.catalog.model_file_path(item.model.id)
    link = tmp_path / "ComfyUI" / "models" / "loras" / "detail.safetensors"
    link.parent.mkdir(parents=True)
    link.symlink_to(on_share)  # what ComfyUI resolves through a view
    assert cached_library.cache.route(str(link), fill=False) == str(link)  # one that must not wait
    first = cached_library.cache.route(str(link))
    assert (
        Path(first).is_relative_to(tmp_path / "fast-disk")
        and Path(first).read_bytes() == on_share.read_bytes()
    )
    on_share.rename(on_share.with_suffix(".away"))  # the share's copy is not read again
    assert cached_library.cache.route(str(link)) == first
    status = cached_library.cache.status()
    assert status["enabled"] and status["files"] == 1 and status["used"] == item.model.size
    assert cached_library.cache.clear()["removed"] == 1 and cached_library.cache.status()["files"] == 0


def test_other_files_and_a_library_without_cache_are_left_as_they_are(tmp_path: Path) -> None:
    user_file = tmp_path / "mine.safetensors"
    user_file.write_bytes(b"not the library's")
    with Library.open(load_config(tmp_path / "plain")) as plain:
        assert not plain.cache.enabled and plain.cache.route(str(user_file)) == str(user_file)
        assert plain.cache.status() == {"enabled": False}
    config = load_config(tmp_path / "library", cache_dir=tmp_path / "fast-disk")
    with Library.open(config) as library:
        assert library.cache.route(str(user_file)) == str(user_file)
        assert library.cache.route("") == ""


def test_a_file_the_cache_cannot_take_is_loaded_from_the_share(tmp_path: Path) -> None:
    config = load_config(tmp_path / "library", cache_dir=tmp_path / "fast-disk", cache_budget=1024)
    with Library.open(config) as library:
        item = _import(library, tmp_path / "incoming", "big.safetensors")
        assert item.model is not None
        path = str(library.catalog.model_file_path(item.model.id))
        assert library.cache.route(path) == path  # larger than the budget: read where it is
        report = library.cache.prefetch([item.model.id, "0123456789abcdef"])
        assert report["cached"] == [] and len(report["skipped"]) == 2


def test_a_workflows_models_can_be_cached_before_the_run(cached_library: Library, tmp_path: Path) -> None:
    items = [_import(cached_library, tmp_path / "incoming" / str(i), f"m{i}.safetensors") for i in range(2)]
    ids = [i.model.id for i in items if i.model is not None]
    # two different synthetic files of one family may be the same bytes: one model then
    report = cached_library.cache.prefetch(ids)
    assert report["cached"] == ids and report["skipped"] == []
    assert cached_library.cache.status()["files"] == len(set(ids))


def test_each_machine_of_a_shared_library_fills_its_own_cache_once(tmp_path: Path, postgres_dsn: str) -> None:
    share = tmp_path / "share"

    def open_machine(name: str, cache: Path | None) -> Library:
        return Library.open(
            load_config(
                share,
                catalog=postgres_dsn,
                state_root=tmp_path / f"{name}-state",
                machine=name,
                cache_dir=cache,
            )
        )

    with open_machine("a", None) as a, open_machine("b", tmp_path / "b-cache") as b:
        item = _import(a, tmp_path / "incoming", "travels.safetensors")
        assert item.model is not None
        on_share = share / item.model.rel_dir / "travels.safetensors"
        first = b.cache.route(str(on_share))
        assert Path(first).is_relative_to(tmp_path / "b-cache")
        before = os.stat(first).st_ino
        assert b.cache.route(str(on_share)) == first and os.stat(first).st_ino == before  # not copied again
        assert a.cache.route(str(on_share)) == str(on_share)  # A has no cache: the share directly


def test_a_record_rewritten_since_the_last_lookup_is_read_again(
    cached_library: Library, tmp_path: Path
) -> None:
    """Lookups remember which model a folder's metadata.json names (ComfyUI asks often, also on its event
    loop); a record replaced since is read again, never answered from memory."""
    item = _import(cached_library, tmp_path / "incoming", "detail.safetensors")
    assert item.model is not None
    on_share = cached_library.catalog.model_file_path(item.model.id)
    record = on_share.parent / "metadata.json"
    cached = cached_library.cache.route(str(on_share))
    assert Path(cached).is_relative_to(tmp_path / "fast-disk")
    original = record.read_text(encoding="utf-8")
    swapped = record.with_name("metadata.json.new")
    swapped.write_text(original.replace(item.model.id, "0" * 16), encoding="utf-8")
    swapped.replace(record)  # as every record is written: a new file renamed over the old
    assert cached_library.cache.route(str(on_share)) == str(on_share)  # names no model of the catalog
    swapped.write_text(original, encoding="utf-8")
    swapped.replace(record)
    assert cached_library.cache.route(str(on_share)) == cached
