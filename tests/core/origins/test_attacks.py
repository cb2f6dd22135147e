"""Hostile Civitai answers and hostile records on disk, through a real library and a loopback Civitai:
whatever they say, enrichment keeps what it can, what is shown is plain, finite JSON, links are http(s)
only, and names carry no characters that reorder text on screen."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from comfyui_model_library.core.catalog.sidecar import SIDECAR_NAME
from comfyui_model_library.core.library import Library
from tests.civitai_server import CivitaiServer, make_version
from tests.hub_server import HubServer
from tests.sites import library_on_sites, serving
from tests.synth import write_safetensors

BIDI = "\u202e"


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(out, "PNG")
    return out.getvalue()


def strict(data: Any) -> Any:
    """``data`` as JSON a browser's ``JSON.parse`` reads (no NaN, no Infinity), parsed back."""
    return json.loads(json.dumps(data, default=str, allow_nan=False))


@pytest.fixture
def civitai() -> Iterator[CivitaiServer]:
    yield from serving(CivitaiServer(images={"c.png": png()}))


@pytest.fixture
def hub() -> Iterator[HubServer]:
    yield from serving(HubServer([]))


@pytest.fixture
def library(tmp_path: Path, civitai: CivitaiServer, hub: HubServer) -> Iterator[Library]:
    yield from library_on_sites(tmp_path, civitai, hub)


def imported(library: Library, tmp_path: Path, seed: int) -> Any:
    path = write_safetensors(
        tmp_path / "incoming" / f"h{seed}.safetensors", {"w": ("F16", (640 + seed,))}, {"s": str(seed)}
    )
    [item] = library.imports.import_paths([path], lookup=False)
    assert item.model is not None
    return item.model


@pytest.mark.parametrize("model_id", [-5, 0, 2**70])
def test_an_absurd_civitai_model_id_is_civitais_fault_not_the_users(
    library: Library, civitai: CivitaiServer, tmp_path: Path, model_id: int
) -> None:
    """A model id Civitai cannot have must not surface as 'give a positive whole number' (a 400 blaming
    the user) nor throw away the rest of the answer."""
    model = imported(library, tmp_path, 1)
    civitai.add(make_version(41, model_id, sha256=model.hashes.sha256, images=[]))
    report = library.origins.enrich_many([model.id])
    assert report.failed == [], report.failed
    assert library.origins.lookup(model.id)["errors"].get("civitai", {}).get("code") != "invalid_input"


def test_an_infinite_file_size_never_reaches_json(
    library: Library, civitai: CivitaiServer, tmp_path: Path
) -> None:
    model = imported(library, tmp_path, 2)
    version = make_version(42, 7, sha256=model.hashes.sha256, images=[])
    version["files"][0]["sizeKB"] = float("inf")  # the loopback sends it as Infinity, as 1e999 reads
    civitai.add(version)
    strict(library.origins.lookup(model.id))
    enriched = library.origins.enrich(model.id)
    sidecar = (library.catalog.model_dir(enriched) / SIDECAR_NAME).read_text()
    json.loads(sidecar, parse_constant=lambda name: pytest.fail(f"metadata.json holds {name}"))


def test_names_from_civitai_cannot_reorder_text_on_screen(
    library: Library, civitai: CivitaiServer, tmp_path: Path
) -> None:
    model = imported(library, tmp_path, 3)
    civitai.add(
        make_version(
            43, 8, sha256=model.hashes.sha256, model_name=f"safe{BIDI}gnp.exe", name=f"v1{BIDI}", images=[]
        )
    )
    enriched = library.origins.enrich(model.id)
    [origin] = enriched.site_origins
    assert BIDI not in (origin.model_name or "") + (origin.version_name or "")


@pytest.mark.parametrize("level", [10**30, -16])
def test_an_absurd_nsfw_level_is_not_kept_as_is(
    library: Library, civitai: CivitaiServer, tmp_path: Path, level: int
) -> None:
    model = imported(library, tmp_path, 4 if level > 0 else 5)
    civitai.add(
        make_version(
            44 if level > 0 else 45,
            9,
            sha256=model.hashes.sha256,
            images=[{"url": f"{civitai.url}/images/c.png", "nsfwLevel": level}],
        )
    )
    preview = library.origins.enrich(model.id).preview
    assert preview is not None
    assert 0 <= preview.nsfw_level <= 32


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/x.png",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
    ],
)
def test_image_urls_to_private_or_odd_places_are_never_fetched(
    library: Library, civitai: CivitaiServer, tmp_path: Path, url: str
) -> None:
    model = imported(library, tmp_path, 6)
    civitai.add(make_version(46, 10, sha256=model.hashes.sha256, images=[{"url": url, "nsfwLevel": 1}]))
    assert library.origins.enrich(model.id).preview is None


def test_an_image_host_redirecting_inside_is_refused(
    library: Library, civitai: CivitaiServer, tmp_path: Path
) -> None:
    model = imported(library, tmp_path, 7)
    civitai.add(
        make_version(47, 11, sha256=model.hashes.sha256, images=[{"url": f"{civitai.url}/images/c.png"}])
    )
    civitai.faults.redirect_images_to = "http://10.0.0.1:9"
    assert library.origins.enrich(model.id).preview is None


def test_a_hostile_sidecar_is_read_as_plain_finite_http_only_data(library: Library, tmp_path: Path) -> None:
    model = imported(library, tmp_path, 8)
    path = library.catalog.model_dir(model) / SIDECAR_NAME
    data = json.loads(path.read_text())
    data["extras"] = {
        "site_origins": [
            {
                "site": "civitai",
                "url": "https://civitai.com/models/1",
                "confidence": "@INF@",
                "model_name": "x",
            }
        ],
        "update": {"site": "civitai", "version_name": "v2", "url": "javascript:alert(1)"},
        "about": {"description": "d", "page_url": "javascript:alert(2)"},
        "preview": {"source": "user", "tag": "../../etc", "nsfw_level": 1},
        "favorite": "yes",
    }
    path.write_text(json.dumps(data).replace('"@INF@"', "1e999"))
    library.catalog.rebuild()
    detail = strict(library.catalog.model_detail(model.id))
    assert 0.0 <= detail["origins"][0]["confidence"] <= 1.0
    assert detail["update"] is None or detail["update"]["url"].startswith(("https://", "http://"))
    page = detail["about"]["page_url"] if detail["about"] else None
    assert page is None or page.startswith(("https://", "http://"))
    assert detail["preview"] is None and detail["favorite"] is False
