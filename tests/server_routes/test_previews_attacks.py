"""An attacker's pass over the preview routes, through a real app on loopback and a real library: what a
stranger can send to ``PUT``/``GET``/``DELETE /models/{id}/preview``, and what the answers let a browser do.
Each refused attack must also leave every file and row as it was."""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from comfyui_model_library.core.library import Library
from comfyui_model_library.core.previews.store import image_name
from comfyui_model_library.server_routes import previews as previews_routes
from tests.server_routes.conftest import JSON_HEADERS, V1, model_file, snapshot

UP = {"X-Model-Library": "1", "Content-Type": "application/octet-stream"}


def png(color: tuple[int, int, int] = (200, 10, 10), size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def output(tmp_path: Path) -> Path:
    folder = tmp_path / "ComfyUI" / "output"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
async def app_client(make_client: Any, output: Path) -> Any:
    client = await make_client()
    client.ctx._output_dir = lambda: output
    return client


@pytest.fixture
def model_id(library: Library, incoming: Path) -> str:
    [item] = library.imports.import_paths([model_file(incoming, "m.safetensors", seed=7)], lookup=False)
    assert item.model is not None
    assert library.previews.wait_idle()
    return item.model.id


def strict_json(text: str) -> Any:
    """JSON as a browser's ``JSON.parse`` reads it: NaN and Infinity are not JSON."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", UP, 415),
        (b"<!doctype html><script>alert(1)</script>", UP, 415),
        (b"GIF89a" + bytes(64), UP, 415),
        (png()[:40], UP, 415),  # truncated
        (png(), {"X-Model-Library": "1", "Content-Type": "image/png"}, 415),
        (png(), {"X-Model-Library": "1", "Content-Type": "text/plain"}, 415),
        (png(), {"X-Model-Library": "1", "Content-Type": "multipart/form-data; boundary=x"}, 415),
        (png(), {"Content-Type": "application/octet-stream"}, 403),  # no custom header
        (png(), {**UP, "Origin": "http://evil.example"}, 403),
        (png(), {**UP, "Origin": "null"}, 403),
        (png(), {**UP, "Host": "evil.example"}, 403),
        (b'{"output": "x.png"}', {"X-Model-Library": "1", "Content-Type": "text/plain"}, 415),
    ],
)
async def test_hostile_uploads_are_refused_and_change_nothing(
    app_client: Any, library: Library, model_id: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    before = snapshot(library.config.root, library=library)
    resp = await app_client.put(f"{V1}/models/{model_id}/preview", data=body, headers=headers)
    assert resp.status == status, await resp.text()
    assert snapshot(library.config.root, library=library) == before


async def test_a_body_over_32_mib_is_refused_declared_or_chunked(
    app_client: Any, library: Library, model_id: str
) -> None:
    before = snapshot(library.config.root, library=library)
    big = png() + bytes(32 * 1024 * 1024)
    resp = await app_client.put(f"{V1}/models/{model_id}/preview", data=io.BytesIO(big), headers=UP)
    assert resp.status == 413

    async def chunks() -> Any:
        for _ in range(33):
            yield bytes(1024 * 1024)

    resp = await app_client.put(f"{V1}/models/{model_id}/preview", data=chunks(), headers=UP)
    assert resp.status == 413
    assert snapshot(library.config.root, library=library) == before


@pytest.mark.parametrize(
    "name",
    [
        "../outside.png",
        "..\\outside.png",
        "sub/../../outside.png",
        "/etc/passwd",
        "C:\\Windows\\win.ini",
        "link-out.png",
        "zero.png",
        "fifo.png",
        "sub",
        "nul\x00.png",
        "a" * 300 + ".png",
        "",
        "link-dir/outside.png",
    ],
)
async def test_output_escapes_are_refused(
    app_client: Any, library: Library, model_id: str, output: Path, tmp_path: Path, name: str
) -> None:
    (tmp_path / "outside.png").write_bytes(png())
    (output / "sub").mkdir()
    os.symlink(tmp_path / "outside.png", output / "link-out.png")
    os.symlink("/dev/zero", output / "zero.png")
    os.symlink(tmp_path, output / "link-dir")
    os.mkfifo(output / "fifo.png")
    before = snapshot(library.config.root, library=library)
    resp = await app_client.put(
        f"{V1}/models/{model_id}/preview", json={"output": name}, headers=JSON_HEADERS
    )
    assert resp.status in (400, 403, 415), (resp.status, await resp.text())
    assert snapshot(library.config.root, library=library) == before


async def test_an_output_outside_the_folder_is_explained_as_an_output_not_an_import(
    app_client: Any, model_id: str, output: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside.png").write_bytes(png())
    os.symlink(tmp_path / "outside.png", output / "link-out.png")
    resp = await app_client.put(
        f"{V1}/models/{model_id}/preview", json={"output": "link-out.png"}, headers=JSON_HEADERS
    )
    message = (await resp.json())["error"]["message"]
    assert "output" in message and "import root" not in message.lower(), message


async def test_a_served_preview_can_never_render_as_a_document(app_client: Any, model_id: str) -> None:
    resp = await app_client.put(f"{V1}/models/{model_id}/preview", data=png(), headers=UP)
    assert resp.status == 200
    url = (await resp.json())["preview"]["url"]
    for query in ("", "&size=256", "&size=512"):
        got = await app_client.get(url + query)
        assert got.status == 200
        assert got.headers["Content-Type"] == "image/webp"
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in got.headers["Content-Security-Policy"]
        assert (await got.read())[8:12] == b"WEBP"
    for query in ("size=1", "size=-1", "size=abc", "size=99999999999999999999", "size=256.0"):
        got = await app_client.get(f"{V1}/models/{model_id}/preview?{query}")
        assert got.status == 400, query


async def test_if_none_match_tricks(app_client: Any, model_id: str) -> None:
    await app_client.put(f"{V1}/models/{model_id}/preview", data=png(), headers=UP)
    first = await app_client.get(f"{V1}/models/{model_id}/preview")
    etag = first.headers["ETag"]
    assert (
        await app_client.get(f"{V1}/models/{model_id}/preview", headers={"If-None-Match": etag})
    ).status == 304
    for trick in ("*", f"W/{etag}", etag.strip('"'), "x" * 4000, f'"", {etag[:-2]}"'):
        got = await app_client.get(f"{V1}/models/{model_id}/preview", headers={"If-None-Match": trick})
        assert got.status == 200, trick


async def test_a_stale_tag_is_not_cached_forever_under_its_url(app_client: Any, model_id: str) -> None:
    """``?v=`` names exact pixels: a URL whose tag is not the preview's must not be cached as immutable
    (else the browser keeps the new pixels under the old name, or a made-up name, for a year)."""
    resp = await app_client.put(f"{V1}/models/{model_id}/preview", data=png(), headers=UP)
    url = (await resp.json())["preview"]["url"]
    assert "immutable" in (await app_client.get(url)).headers["Cache-Control"]
    got = await app_client.get(f"{V1}/models/{model_id}/preview?v=not-the-tag")
    assert got.status == 200
    assert "immutable" not in got.headers["Cache-Control"]


async def test_a_planted_link_in_the_preview_folder_is_never_served(
    app_client: Any, library: Library, model_id: str, tmp_path: Path
) -> None:
    """Only files we wrote are served: a link planted in ``.preview`` (a shared library folder, another
    machine) must not turn the preview route into a reader of any file on this one."""
    resp = await app_client.put(f"{V1}/models/{model_id}/preview", data=png(), headers=UP)
    assert resp.status == 200
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"ssh-ed25519 AAAA secret key")
    model = library.catalog.get_model(model_id)
    assert model.preview is not None
    full = library.previews.store.folder(model) / image_name(model.preview.tag, None)
    full.unlink()
    os.symlink(secret, full)
    got = await app_client.get(f"{V1}/models/{model_id}/preview")
    assert b"secret" not in await got.read()
    assert got.status == 404


async def test_delete_without_preview_and_unknown_models(app_client: Any, model_id: str) -> None:
    resp = await app_client.delete(f"{V1}/models/{model_id}/preview", headers=JSON_HEADERS)
    assert resp.status == 200 and (await resp.json())["preview"] is None
    for ref in ("0" * 16, "..%2F..%2Fetc", "x" * 5000):
        got = await app_client.get(f"{V1}/models/{ref}/preview")
        assert got.status in (400, 404), ref
        put = await app_client.put(f"{V1}/models/{ref}/preview", data=png(), headers=UP)
        assert put.status in (400, 404), ref


async def test_preview_saves_at_once_are_bounded_and_the_rest_refused_as_busy(
    app_client: Any, library: Library, model_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Red team #12: each save holds up to 32 MiB and decodes up to 40 megapixels. Three sent at once,
    their bodies held back: two take the places, the third waits, then is refused before its body is
    read; once the two finish, a save goes through again."""
    monkeypatch.setattr(previews_routes, "SAVING_WAIT_S", 0.3)
    release = asyncio.Event()
    body = png()

    async def held_back() -> AsyncIterator[bytes]:
        yield body[:64]
        await release.wait()
        yield body[64:]

    url = f"{V1}/models/{model_id}/preview"
    sends = [asyncio.create_task(app_client.put(url, data=held_back(), headers=UP)) for _ in range(3)]
    done, waiting = await asyncio.wait(sends, return_when=asyncio.FIRST_COMPLETED, timeout=10)
    [refused] = done
    answer = await refused.result().json()
    assert refused.result().status == 429 and answer["error"]["code"] == "busy"
    assert "in a moment" in answer["error"]["message"]
    release.set()
    statuses = [(await task).status for task in waiting]
    assert statuses == [200, 200]
    again = await app_client.put(url, data=png((0, 0, 255)), headers=UP)
    assert again.status == 200


async def test_slow_bodies_cannot_hold_the_preview_saves_forever(
    app_client: Any, library: Library, model_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow loris: two bodies trickled a byte now and then would hold both places for as long as their
    senders like (aiohttp sets no read timeout), and every later save would be refused as busy. A body
    has a deadline once it holds a place: past it, 408, and the place is free again."""
    monkeypatch.setattr(previews_routes, "SAVING_WAIT_S", 0.3)
    monkeypatch.setattr(previews_routes, "SAVING_BODY_S", 0.5)
    stop = asyncio.Event()

    async def trickle() -> AsyncIterator[bytes]:
        while not stop.is_set():
            yield b"\x89"
            await asyncio.sleep(0.05)

    url = f"{V1}/models/{model_id}/preview"
    before = snapshot(library.config.root, library=library)
    lorises = [asyncio.create_task(app_client.put(url, data=trickle(), headers=UP)) for _ in range(2)]
    try:
        await asyncio.sleep(0.1)  # both hold a place
        answers = [await asyncio.wait_for(task, 10) for task in lorises]
        assert [a.status for a in answers] == [408, 408]
        assert (await answers[0].json())["error"]["code"] == "body_timeout"
        assert snapshot(library.config.root, library=library) == before
        again = await app_client.put(url, data=png((0, 0, 255)), headers=UP)
        assert again.status == 200
    finally:
        stop.set()
        for task in lorises:
            task.cancel()
