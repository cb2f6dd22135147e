"""Races on one model's preview, with a real library and a loopback Civitai: the user's pick, a clear and
an enrichment at once must leave the record, the files and the catalog agreeing, and the user's pick
never replaced by a site's image."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from comfyui_model_library.core.library import Library
from comfyui_model_library.core.previews.store import image_name
from tests.civitai_server import CivitaiServer, make_version
from tests.hub_server import HubServer
from tests.sites import library_on_sites, serving
from tests.synth import write_safetensors


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 64), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def civitai() -> Iterator[CivitaiServer]:
    yield from serving(CivitaiServer(images={"cover.png": png((250, 0, 0))}))


@pytest.fixture
def hub() -> Iterator[HubServer]:
    yield from serving(HubServer([]))


@pytest.fixture
def library(tmp_path: Path, civitai: CivitaiServer, hub: HubServer) -> Iterator[Library]:
    yield from library_on_sites(tmp_path, civitai, hub)


def imported(library: Library, tmp_path: Path, seed: int) -> str:
    path = write_safetensors(
        tmp_path / "incoming" / f"race-{seed}.safetensors", {"w": ("F16", (700 + seed,))}, {"s": str(seed)}
    )
    [item] = library.imports.import_paths([path], lookup=False)
    assert item.model is not None
    assert library.previews.wait_idle()
    return item.model.id


def test_a_pick_made_while_a_site_image_downloads_is_not_replaced(
    library: Library, civitai: CivitaiServer, tmp_path: Path
) -> None:
    model_id = imported(library, tmp_path, 1)
    sha = library.catalog.get_model(model_id).hashes.sha256
    civitai.add(
        make_version(31, 9, sha256=sha, images=[{"url": f"{civitai.url}/images/cover.png", "nsfwLevel": 1}])
    )
    civitai.faults.delay_s = 0.6
    civitai.faults.delay_routes = ("images",)
    worker = threading.Thread(target=library.origins.enrich, args=(model_id,))
    worker.start()
    deadline = time.monotonic() + 10
    while not any(p.startswith("/images/") for p in civitai.paths()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    mine = library.previews.set_image(model_id, png((0, 0, 250)))  # the user picks while it downloads
    worker.join(10)
    final = library.catalog.get_model(model_id)
    assert final.preview is not None
    assert final.preview.source == "user", "a site's image replaced the user's pick"
    assert final.preview == mine.preview


def test_set_and_clear_at_once_leave_record_and_files_agreeing(library: Library, tmp_path: Path) -> None:
    model_id = imported(library, tmp_path, 2)
    for round_ in range(15):
        barrier = threading.Barrier(2)

        def put(color: int = round_) -> None:
            barrier.wait()
            library.previews.set_image(model_id, png((color * 10 % 255, 100, 100)))

        def clear() -> None:
            barrier.wait()
            library.previews.clear(model_id)

        threads = [threading.Thread(target=put), threading.Thread(target=clear)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        model = library.catalog.get_model(model_id)
        folder = library.previews.store.folder(model)
        if model.preview is not None:
            full = folder / image_name(model.preview.tag, None)
            assert full.is_file(), f"round {round_}: the record names a preview it lacks"
            assert library.previews.store.read_record(model) == model.preview, f"round {round_}"
        else:
            assert not list(folder.glob("*-full.webp")), f"round {round_}: files of a forgotten preview"


def test_a_full_disk_while_saving_a_preview_is_said_not_a_crash(
    library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC from the preview's files must be the library's disk-full error (507 with what to do), not
    a bare OSError (a 500, and an enrichment job that stops at the first model)."""
    import errno

    from comfyui_model_library.core.errors import InsufficientSpace
    from comfyui_model_library.core.previews import store

    model_id = imported(library, tmp_path, 3)

    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(store, "atomic_write_bytes", full)
    with pytest.raises(InsufficientSpace, match="full"):
        library.previews.set_image(model_id, png((1, 2, 3)))
    assert library.catalog.get_model(model_id).preview is None


def test_a_save_failing_half_way_leaves_the_old_preview_whole(
    library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from comfyui_model_library.core.previews import store

    model_id = imported(library, tmp_path, 4)
    library.previews.set_image(model_id, png((250, 0, 0)))
    old = library.previews.image(model_id)
    old_bytes = old.path.read_bytes()
    real = store.atomic_write_bytes
    calls: list[Path] = []

    def second_fails(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(store, "atomic_write_bytes", second_fails)
    with pytest.raises(OSError):
        library.previews.set_image(model_id, png((0, 250, 0)))
    assert library.previews.image(model_id).path.read_bytes() == old_bytes
