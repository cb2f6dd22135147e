"""An attacker's pass over the enrichment and user-state routes: trigger words, favourites, the list's
and facets' query parameters, and the enrich job (real app on loopback, real library)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.library import Library
from tests.server_routes.conftest import JSON_HEADERS, V1, model_file, snapshot, wait_job


@pytest.fixture
def model_id(library: Library, incoming: Path) -> str:
    [item] = library.imports.import_paths([model_file(incoming, "m.safetensors", seed=3)], lookup=False)
    assert item.model is not None
    return item.model.id


@pytest.mark.parametrize(
    "words",
    [
        ["w"] * 65,
        ["x" * 201],
        ["x" * 10_000],
        [1, 2],
        [None],
        "a, b",
        {"a": 1},
        ["ok\x00"],
        [["nested"]],
    ],
)
async def test_trigger_word_abuse_is_refused_and_changes_nothing(
    client: Any, library: Library, model_id: str, words: Any
) -> None:
    before = snapshot(library.config.root, library=library)
    resp = await client.patch(f"{V1}/models/{model_id}", json={"trigger_words": words}, headers=JSON_HEADERS)
    assert resp.status == 400, await resp.text()
    assert snapshot(library.config.root, library=library) == before


async def test_control_and_bidi_characters_leave_trigger_words(client: Any, model_id: str) -> None:
    words = ["a\u202eb", "tab\there", "\u200b", "  ", "esc\x1b[31m"]
    resp = await client.patch(f"{V1}/models/{model_id}", json={"trigger_words": words}, headers=JSON_HEADERS)
    assert resp.status == 200
    kept = (await resp.json())["trigger_words"]
    assert all(ch.isprintable() for w in kept for ch in w), kept


@pytest.mark.parametrize("value", ["maybe", "2", "x" * 2000])
async def test_favorite_must_be_true_or_false(client: Any, model_id: str, value: str) -> None:
    for path in ("/models", "/models/facets"):
        resp = await client.get(V1 + path, params={"favorite": value})
        assert resp.status == 400, (path, value, await resp.text())


@pytest.mark.parametrize(
    "sort", ["used; DROP TABLE models", "-used,name", "used_at", "rowid", "-" * 20, "name\x00"]
)
async def test_sort_takes_only_its_words(client: Any, library: Library, model_id: str, sort: str) -> None:
    resp = await client.get(V1 + "/models", params={"sort": sort})
    assert resp.status == 400
    assert library.catalog.get_model(model_id) is not None


@pytest.mark.parametrize(
    "params",
    [
        {"q": '"NEAR( col:* ' * 10},
        {"q": "x" * 300},
        {"type": "lora' OR 1=1 --"},
        {"tag": "\x00"},
        {"limit": "0"},
        {"offset": "-1"},
        {"base_model": "x" * 2000},
    ],
)
async def test_facets_refuse_or_survive_odd_filters(
    client: Any, model_id: str, params: dict[str, str]
) -> None:
    resp = await client.get(V1 + "/models/facets", params=params)
    assert resp.status in (200, 400), await resp.text()
    json.loads(await resp.text())


async def test_an_enrich_flood_is_bounded(client: Any, library: Library, model_id: str) -> None:
    ids = [f"{i:016x}" for i in range(10_001)]
    resp = await client.post(V1 + "/enrich", json={"ids": ids}, headers=JSON_HEADERS)
    assert resp.status in (400, 413)
    for body in ({}, {"ids": [], "all": True}, {"all": "yes"}, {"ids": "x"}, {"ids": [1]}, {"all": False}):
        resp = await client.post(V1 + "/enrich", json=body, headers=JSON_HEADERS)
        assert resp.status == 400, (body, await resp.text())
    # Unknown ids: a job that finishes, naming nothing enriched (no network asked for them).
    resp = await client.post(
        V1 + "/enrich", json={"ids": ["0" * 16, "../../etc/passwd", "x" * 200]}, headers=JSON_HEADERS
    )
    assert resp.status == 202
    job = await wait_job(client, (await resp.json())["job"]["id"])
    assert job["state"] == "done" and job["result"]["enriched"] == 0, job


async def test_enrich_and_used_refuse_cross_site_and_unknown_models(client: Any, model_id: str) -> None:
    for path in (f"/models/{model_id}/enrich", f"/models/{model_id}/used", "/enrich"):
        for headers in (
            {"Content-Type": "application/json"},
            {**JSON_HEADERS, "Origin": "https://evil.example"},
            {"X-Model-Library": "1", "Content-Type": "text/plain"},
        ):
            resp = await client.post(V1 + path, data="{}", headers=headers)
            assert resp.status in (403, 415), (path, headers, resp.status)
    resp = await client.post(f"{V1}/models/{'0' * 16}/used", headers=JSON_HEADERS)
    assert resp.status == 404
    resp = await client.post(f"{V1}/models/{model_id}/enrich", json={"x": 1}, headers=JSON_HEADERS)
    assert resp.status == 400
