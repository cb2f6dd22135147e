"""Enrichment against a loopback Civitai and a loopback Hub: what the sites say is kept and shown, the
user's words are never overwritten, a site that forgets a model leaves what it said, and offline sites
leave the model pending."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from comfyui_model_library.core.catalog.sidecar import SIDECAR_NAME
from comfyui_model_library.core.errors import NetworkError
from comfyui_model_library.core.library import Library
from tests.civitai_server import CivitaiServer, make_version, sha256_of
from tests.hub_server import HubServer
from tests.sites import library_on_sites, serving
from tests.synth import write_safetensors


def png(color: tuple[int, int, int] = (250, 20, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 480), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def civitai() -> Iterator[CivitaiServer]:
    yield from serving(CivitaiServer(images={"cover.png": png(), "svg.png": b"<svg onload=alert(1)/>"}))


@pytest.fixture
def hub() -> Iterator[HubServer]:
    yield from serving(HubServer([]))


@pytest.fixture
def library(tmp_path: Path, civitai: CivitaiServer, hub: HubServer) -> Iterator[Library]:
    yield from library_on_sites(tmp_path, civitai, hub)


def mystery_file(folder: Path, seed: int) -> Path:
    """A safetensors file no detector recognises (type and base unknown), unique per seed; over 1 KiB, so
    the Hub keeps it in LFS (with a SHA-256 to match)."""
    return write_safetensors(
        folder / f"mystery-{seed}.safetensors", {"w": ("F16", (600 + seed,))}, {"s": str(seed)}
    )


def import_one(library: Library, path: Path) -> Any:
    [item] = library.imports.import_paths([path], lookup=False)
    assert item.model is not None
    return item.model


def publish(civitai: CivitaiServer, path: Path, **kw: Any) -> dict[str, Any]:
    images = kw.pop("images", [{"url": f"{civitai.url}/images/cover.png", "nsfwLevel": 4, "type": "image"}])
    return civitai.add(
        make_version(kw.pop("version_id", 11), 5, sha256=sha256_of(path.read_bytes()), images=images, **kw)
    )


def test_a_civitai_hash_match_fills_origin_about_trigger_words_update_and_preview(
    library: Library, civitai: CivitaiServer, tmp_path: Path
) -> None:
    path = mystery_file(tmp_path / "incoming", 1)
    publish(
        civitai,
        path,
        trained_words=("zorblax style", "pixel <b>art</b>"),
        description='<p>Makes <b>pixels</b>.</p><script>alert(1)</script><img src=x onerror="alert(2)">',
        base_model="SDXL 1.0",
        name="v1.0",
        created_at="2024-01-01T00:00:00.000Z",
    )
    civitai.add(make_version(12, 5, sha256="f" * 64, name="v2.0", created_at="2024-06-01T00:00:00.000Z"))
    model = import_one(library, path)
    enriched = library.origins.enrich(model.id)
    [origin] = enriched.site_origins
    assert (origin.site, origin.match, origin.confidence) == ("civitai", "hash", 1.0)
    assert origin.url.startswith(civitai.url) and "modelVersionId=11" in origin.url
    assert enriched.trigger_words == ("zorblax style", "pixel <b>art</b>")  # text, shown as text
    assert enriched.about is not None and "pixels" in enriched.about.description
    assert "<" not in enriched.about.description and "alert" not in enriched.about.description
    assert enriched.about.creator == "alice" and "commercial use" in (enriched.about.license or "")
    assert enriched.update is not None and enriched.update.version_name == "v2.0"
    assert enriched.base_model == "sdxl"  # unknown before: Civitai's base model fills it
    assert enriched.preview is not None and (enriched.preview.source, enriched.preview.nsfw_level) == (
        "civitai",
        4,
    )
    sidecar = json.loads((library.catalog.model_dir(enriched) / SIDECAR_NAME).read_text())
    assert sidecar["fetched"]["civitai"]["version_id"] == 11
    # The catalog finds it by its trigger words; the detail shows everything.
    assert [m.id for m in library.catalog.list_models(_q("zorblax")).items] == [model.id]
    detail = library.catalog.model_detail(model.id)
    assert detail["origins"][0]["version_name"] == "v1.0" and detail["update"]["site"] == "civitai"


def test_the_users_trigger_words_and_base_stay_and_a_deleted_model_stays_known(
    library: Library, civitai: CivitaiServer, tmp_path: Path
) -> None:
    path = mystery_file(tmp_path / "incoming", 2)
    publish(civitai, path, trained_words=("site words",))
    model = import_one(library, path)
    library.catalog.edit_model(model.id, trigger_words=["my words"], base_model="sd15")
    enriched = library.origins.enrich(model.id)
    assert enriched.trigger_words == ("my words",) and enriched.base_model == "sd15"
    assert enriched.site_origins  # found, and shown
    civitai.versions.clear()  # the site deletes the model
    again = library.origins.enrich(model.id)
    assert again.site_origins == enriched.site_origins and again.about == enriched.about
    sidecar = json.loads((library.catalog.model_dir(again) / SIDECAR_NAME).read_text())
    assert sidecar["fetched"]["civitai"]["trained_words"] == ["site words"]


def test_a_users_preview_is_never_replaced_by_a_sites_and_a_hostile_site_image_is_refused(
    library: Library, civitai: CivitaiServer, tmp_path: Path
) -> None:
    first = mystery_file(tmp_path / "incoming", 3)
    publish(civitai, first)
    model = import_one(library, first)
    mine = library.previews.set_image(model.id, png((0, 0, 255)))
    assert library.origins.enrich(model.id).preview == mine.preview
    second = mystery_file(tmp_path / "incoming", 4)
    publish(civitai, second, version_id=21, images=[{"url": f"{civitai.url}/images/svg.png", "nsfwLevel": 1}])
    other = import_one(library, second)
    assert library.origins.enrich(other.id).preview is None


def test_an_unreachable_civitai_leaves_the_model_pending_and_keeps_the_rest(
    library: Library, civitai: CivitaiServer, tmp_path: Path
) -> None:
    path = mystery_file(tmp_path / "incoming", 5)
    model = import_one(library, path)
    civitai.faults.status_for_hash = 404  # not retried: the model is simply not there
    assert library.origins.enrich(model.id).site_origins == ()
    model = import_one(library, mystery_file(tmp_path / "incoming", 8))  # its hash was never asked
    civitai.stop()
    with pytest.raises(NetworkError, match="Civitai"):
        library.origins.enrich(model.id)
    assert [p["model_id"] for p in library.hub.pending()] == [model.id]
    report = library.origins.enrich_many([model.id])
    assert report.pending and report.pending[0]["id"] == model.id and not report.failed


def test_enrich_many_counts_what_it_found(library: Library, civitai: CivitaiServer, tmp_path: Path) -> None:
    found = mystery_file(tmp_path / "incoming", 6)
    publish(civitai, found, version_id=31)
    ids = [import_one(library, found).id, import_one(library, mystery_file(tmp_path / "incoming", 7)).id]
    seen: list[tuple[int, int]] = []
    report = library.origins.enrich_many(ids, progress=lambda done, total, stage: seen.append((done, total)))
    assert report.to_dict()["found"] == {"civitai": 1, "huggingface": 0}
    assert report.enriched == 2 and report.previews == 1 and seen[-1] == (2, 2)
    lookup = library.origins.lookup(ids[0])
    assert lookup["civitai"]["version_id"] == 31 and lookup["huggingface"] == [] and lookup["errors"] == {}


def _q(text: str) -> Any:
    from comfyui_model_library.core.models import ModelQuery

    return ModelQuery(q=text)


def test_a_hub_origin_brings_its_card_trigger_words_preview_and_a_newer_file(
    library: Library, hub: HubServer, tmp_path: Path
) -> None:
    from tests.hub_server import make_repo

    path = mystery_file(tmp_path / "incoming", 9).rename(tmp_path / "incoming" / "pixel-lora.safetensors")
    data = path.read_bytes()
    card = {
        "license": "openrail++",
        "instance_prompt": "pxl style, 8bit",
        "base_model": "stabilityai/stable-diffusion-xl-base-1.0",
        "widget": [
            {"text": "a cat", "output": {"url": "images/example.png"}},
            {"output": {"url": "../x.png"}},
        ],
        "tags": ["lora", "pixel"],
    }
    repo = make_repo(
        "acme/pixel-lora", {"pixel-lora.safetensors": data, "images/example.png": png((0, 200, 0))}
    )
    repo.card = card
    hub.add(repo)
    model = import_one(library, path)
    enriched = library.origins.enrich(model.id)
    assert enriched.source.repo_id == "acme/pixel-lora" and enriched.source.match == "hash"
    [origin] = enriched.site_origins
    assert (
        origin.site == "huggingface"
        and origin.url == f"{hub.url}/acme/pixel-lora/blob/main/pixel-lora.safetensors"
    )
    assert enriched.about is not None and enriched.about.license == "openrail++"
    assert enriched.trigger_words == ("pxl style", "8bit")
    assert enriched.preview is not None and enriched.preview.source == "huggingface"
    assert enriched.update is None
    # The file changes on main: an update is shown, nothing is downloaded.
    newer = make_repo("acme/pixel-lora", {"pixel-lora.safetensors": data + b"\0" * 16})
    newer.card = card
    hub.add(newer)
    library.hub.client.cache = None  # the listing of main is cached for hours; ask again now
    requests_before = len(hub.requests)
    again = library.origins.enrich(model.id)
    assert again.update is not None and again.update.site == "huggingface"
    assert not any("/resolve/" in path for _, path, _ in hub.requests[requests_before:])


def test_the_gallery_fetches_each_site_image_once_re_encoded_and_one_can_become_the_preview(
    library: Library, civitai: CivitaiServer, tmp_path: Path
) -> None:
    from comfyui_model_library.core.errors import InvalidImage, NotFound

    path = mystery_file(tmp_path / "incoming", 11)
    images = [
        {"url": f"{civitai.url}/images/cover.png", "nsfwLevel": 2, "type": "image"},
        {"url": f"{civitai.url}/images/svg.png", "nsfwLevel": 1, "type": "image"},
        {"url": f"{civitai.url}/images/clip.mp4", "nsfwLevel": 1, "type": "video"},  # not an image: left out
    ]
    publish(civitai, path, version_id=51, images=images)
    model = import_one(library, path)
    library.origins.enrich(model.id, previews=False)
    items = library.origins.gallery(model.id)
    assert [(i.index, i.site, i.nsfw_level) for i in items] == [(0, "civitai", 2), (1, "civitai", 1)]
    first = library.origins.gallery_image(model.id, 0, 256)
    assert first.path.read_bytes()[8:12] == b"WEBP" and library.config.root in first.path.parents
    fetched = civitai.paths().count("/images/cover.png")
    library.origins.gallery_image(model.id, 0, 512)
    library.origins.gallery_image(model.id, 0)
    assert civitai.paths().count("/images/cover.png") == fetched  # once, then from our own copy
    with pytest.raises(InvalidImage):
        library.origins.gallery_image(model.id, 1)  # an SVG named .png: refused, nothing kept
    assert not (first.path.parent / "1-full.webp").exists()
    with pytest.raises(NotFound):
        library.origins.gallery_image(model.id, 7)
    picked = library.origins.use_gallery_image(model.id, 0)
    assert picked.preview is not None and picked.preview.source == "user"
