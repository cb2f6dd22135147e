"""Every route that reads a JSON body answers a deeply nested one with a coded 4xx, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server_routes.conftest import JSON_HEADERS, V1

# Every (method, path) whose handler reads a JSON body (server_routes/_http.py read_json).
JSON_ROUTES = [
    ("POST", "/health/repair"),
    ("POST", "/hf/lookup"),
    ("POST", "/hf/downloads"),
    ("POST", "/imports"),
    ("PUT", "/mapping"),
    ("POST", "/mapping/preview"),
    ("POST", "/mapping/apply"),
    ("PATCH", "/models/0123456789abcdef"),
    ("POST", "/sources"),
    ("POST", "/scan"),
    ("POST", "/uploads"),
]


async def test_no_changing_route_answers_500_to_deep_nesting(client: Any) -> None:
    """Every non-GET route of the app (not only the list above): deep nesting never reaches a traceback."""
    seen = 0
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path") or ""
        if route.method in ("GET", "HEAD", "*") or not template.startswith(V1):
            continue
        url = template.replace("{id}", "1").replace("{repo_id}", "a/b")
        resp = await client.request(route.method, url, data="[" * 12_000, headers=JSON_HEADERS)
        assert resp.status != 500 and resp.status < 500, (route.method, url, await resp.text())
        seen += 1
    assert seen >= len(JSON_ROUTES)


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize("opener", ["[", '{"a":'])
async def test_deep_nesting_is_a_400(client: Any, method: str, path: str, opener: str) -> None:
    body = opener * 12_000  # under the 64 KiB cap, far over Python's recursion limit
    resp = await client.request(method, V1 + path, data=body, headers=JSON_HEADERS)
    assert resp.status == 400, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_input" and "nested too deeply" in error["message"]


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_hundred_thousand_deep_is_refused_by_size(client: Any, method: str, path: str) -> None:
    resp = await client.request(method, V1 + path, data="[" * 100_000, headers=JSON_HEADERS)
    assert resp.status == 413, await resp.text()
    assert (await resp.json())["error"]["code"] == "body_too_large"
