"""``POST /workflows/check`` over a real library and a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

from tests.core.workflows.test_templates import TEMPLATES

from .conftest import JSON_HEADERS, V1

FLUX = TEMPLATES / "flux_dev_checkpoint_example.json"


async def test_check_answers_a_status_per_reference(client: Any) -> None:
    workflow = json.loads(FLUX.read_text())
    resp = await client.post(f"{V1}/workflows/check", json={"workflow": workflow}, headers=JSON_HEADERS)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    unet = next(i for i in doc["items"] if i["name"] == "flux1-dev.safetensors")
    assert unet["status"] == "downloadable" and unet["category"] == "diffusion_models"
    assert unet["download"]["url"].endswith("/Comfy-Org/flux1-dev/resolve/main/flux1-dev.safetensors")
    assert doc["format"] == "ui" and doc["counts"]["downloadable"] == len(doc["items"])


async def test_bad_bodies_are_400_with_a_reason(client: Any) -> None:
    url = f"{V1}/workflows/check"
    cases = [
        ({}, 'needs "workflow"'),
        ({"workflow": {"hello": 1}}, "not a ComfyUI workflow"),
        ({"workflow": [], "extra": 1}, "extra"),
    ]
    for body, words in cases:
        resp = await client.post(url, json=body, headers=JSON_HEADERS)
        assert resp.status == 400, body
        assert words in (await resp.json())["error"]["message"], body
    resp = await client.post(url, data=b"[[[" * 100_000, headers=JSON_HEADERS)
    assert resp.status == 400
    resp = await client.post(url, json={"workflow": {}})  # no custom header: a cross-site form cannot post
    assert resp.status == 403
