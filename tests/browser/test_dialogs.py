"""Health, mapping and download dialogs: what the panel shows and what it sends. The server's answers for
these routes are fixed here (page.route) with the CONTRACT.md shapes, so the test pins the panel's side."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, ServedLibrary, fake_model, open_panel, seed

pytestmark = pytest.mark.browser

HEALTH = {
    "status": "warnings",
    "broken": [
        {"path": "/comfy/models/loras/old.safetensors", "model_id": "abc", "reason": "target missing"}
    ],
    "orphaned": ["/library/models/lora/sd15/stray/stray.safetensors"],
    "missing": [],
}
PREVIEW = {
    "create": [
        {
            "path": "/comfy/models/checkpoints/juggernaut.safetensors",
            "model_id": "m1",
            "category": "checkpoints",
        }
    ],
    "ok": [{"path": "/comfy/models/vae/sdxl_vae.safetensors"}],
    "conflicts": [
        {
            "path": "/comfy/models/loras/detail.safetensors",
            "model_id": "m2",
            "reason": "a different file is there",
        },
        {"path": "/comfy/models/loras/<b>x</b>.safetensors", "model_id": "m3", "reason": "a folder is there"},
    ],
    "remove": [],
}


def _fixed(page: Any, path: str, body: Any, sink: list[dict[str, Any]]) -> None:
    def handler(route: Any) -> None:
        request = route.request
        sink.append(
            {
                "method": request.method,
                "headers": request.headers,
                "body": request.post_data,
                "url": request.url,
            }
        )
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route(f"**/model-library/v1{path}", handler)


def test_health_badge_details_and_repair(served: ServedLibrary, page: Any) -> None:
    calls: list[dict[str, Any]] = []
    _fixed(page, "/health", HEALTH, calls)
    _fixed(page, "/health/repair", {"repaired": ["/comfy/models/loras/old.safetensors"], "failed": []}, calls)
    seed(served.library, [fake_model(i) for i in range(30)])
    open_panel(page, served)
    badge = page.locator("[data-testid=health]")
    page.wait_for_function("document.querySelector('[data-testid=health]').textContent === 'warnings'")
    assert "mlib-health-warnings" in (badge.get_attribute("class") or "")
    page.screenshot(path=str(SCREENSHOTS / "library.png"))
    badge.click()
    page.wait_for_selector("[data-testid=health-dialog]")
    text = page.inner_text("[data-testid=health-dialog]")
    assert "/comfy/models/loras/old.safetensors — target missing" in text
    assert "stray.safetensors" in text
    page.screenshot(path=str(SCREENSHOTS / "health.png"))
    page.click("[data-testid=health-dialog] button:has-text('Repair')")
    page.wait_for_selector(".mlib-toast:has-text('Repair finished')")
    [repair] = [c for c in calls if c["url"].endswith("/health/repair")]
    assert repair["method"] == "POST"
    assert repair["headers"]["content-type"] == "application/json"
    assert repair["headers"]["x-model-library"] == "1"
    assert page.errors == []


def test_mapping_preview_sends_one_resolution_per_conflict(served: ServedLibrary, page: Any) -> None:
    calls: list[dict[str, Any]] = []
    _fixed(page, "/mapping/preview", PREVIEW, calls)
    _fixed(page, "/mapping/apply", {"created": 1, "removed": 0, "skipped": 1}, calls)
    open_panel(page, served)
    page.click("[data-testid=mapping]")
    page.wait_for_selector(".mlib-conflict")
    assert page.locator(".mlib-conflict select").count() == 2
    assert page.locator("[data-testid=mapping-dialog] b").count() == 0  # conflict paths are text
    page.select_option(".mlib-conflict >> nth=0 >> select", "overwrite")
    page.screenshot(path=str(SCREENSHOTS / "mapping.png"))
    page.click("[data-testid=mapping-apply]")
    page.wait_for_selector(".mlib-toast:has-text('Mapping applied')")
    [apply] = [c for c in calls if c["url"].endswith("/mapping/apply")]
    assert json.loads(apply["body"]) == {
        "resolutions": {
            "/comfy/models/loras/detail.safetensors": "overwrite",
            "/comfy/models/loras/<b>x</b>.safetensors": "skip",
        }
    }
    assert apply["headers"]["x-model-library"] == "1"
    assert page.errors == []


def test_hub_download_picks_files_and_offline_banner(served: ServedLibrary, page: Any) -> None:
    calls: list[dict[str, Any]] = []
    files = {
        "files": [
            {"path": "model.safetensors", "size": 6_938_040_682, "sha256": "a" * 64},
            {"path": "README.md", "size": 100},
            {"path": "vae/diffusion_pytorch_model.safetensors", "size": 334_643_268},
        ]
    }
    _fixed(page, "/hf/repos/org/sdxl-model/files?revision=main", files, calls)
    job = {
        "id": "j1",
        "kind": "download",
        "state": "queued",
        "progress": {"done": 0, "total": 0, "stage": ""},
    }
    _fixed(page, "/hf/downloads", {"job": job}, calls)
    _fixed(page, "/status", {"version": "x", "network": {"huggingface.co": {"state": "open"}}}, calls)
    open_panel(page, served)
    page.wait_for_selector("[data-testid=offline]:not([hidden])")
    page.click("button:has-text('Download…')")
    page.fill("[data-testid=hub-ref]", "https://huggingface.co/org/sdxl-model/blob/main/model.safetensors")
    page.click("[data-testid=download-dialog] button:has-text('List files')")
    page.wait_for_selector("[data-testid=hub-files] .mlib-file-row")
    rows = page.eval_on_selector_all(
        "[data-testid=hub-files] .mlib-file-row", "els => els.map(e => e.textContent)"
    )
    assert len(rows) == 2 and "README" not in " ".join(rows)  # model files only
    assert page.is_checked("[data-testid=hub-files] input[value='model.safetensors']")  # from the link
    page.click("[data-testid=download-dialog] button:has-text('Download selected')")
    page.wait_for_selector(".mlib-job-label:has-text('model.safetensors')")
    [download] = [c for c in calls if c["url"].endswith("/hf/downloads")]
    assert json.loads(download["body"]) == {
        "repo_id": "org/sdxl-model",
        "filename": "model.safetensors",
        "revision": "main",
    }
    assert page.errors == []
