"""Health, mapping and download dialogs: what the panel shows and what it sends. Health and mapping are
answered by the real server over a real library put in the state each test needs; only the Hub's answers
are fixed (page.route), with bodies built from the real dataclasses by ``tests/browser/fixtures.py``."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.browser import fixtures
from tests.browser.conftest import SCREENSHOTS, ServedLibrary, fake_model, open_panel, seed

pytestmark = pytest.mark.browser


def _watch(page: Any, sink: list[dict[str, Any]]) -> None:
    """Records the panel's API requests (method, headers, body) while the real server answers them."""

    def record(request: Any) -> None:
        if "/model-library/v1/" in request.url:
            sink.append(
                {
                    "method": request.method,
                    "headers": request.headers,
                    "body": request.post_data,
                    "url": request.url,
                }
            )

    page.on("request", record)


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


def test_health_badge_details_and_repair(served_mapped: ServedLibrary, page: Any) -> None:
    served = served_mapped
    assert served.comfy is not None
    calls: list[dict[str, Any]] = []
    _watch(page, calls)
    seed(served.library, [fake_model(i) for i in range(30)])
    broken = fixtures.broken_library(served.library, served.incoming)
    link = served.comfy / "models" / "loras" / "old.safetensors"
    assert os.path.islink(link) and not link.exists()
    open_panel(page, served)
    badge = page.locator("[data-testid=health]")
    page.wait_for_function("document.querySelector('[data-testid=health]').textContent === 'errors'")
    assert "mlib-health-errors" in (badge.get_attribute("class") or "")
    page.screenshot(path=str(SCREENSHOTS / "library.png"))
    badge.click()
    page.wait_for_selector("[data-testid=health-dialog]")
    text = page.inner_text("[data-testid=health-dialog]")
    assert f"{link} — dangling" in text  # the broken link, as the real report words it
    assert f"{broken.id} — missing" in text  # its model's file
    page.screenshot(path=str(SCREENSHOTS / "health.png"))
    page.click("[data-testid=health-dialog] button:has-text('Repair')")
    page.wait_for_selector(".mlib-toast:has-text('Repair finished')")
    [repair] = [c for c in calls if c["url"].endswith("/health/repair")]
    assert repair["method"] == "POST"
    assert repair["headers"]["content-type"] == "application/json"
    assert repair["headers"]["x-model-library"] == "1"
    assert not os.path.lexists(link), "repair removes the dangling link"
    assert page.errors == []


def test_mapping_preview_sends_one_resolution_per_conflict(served_mapped: ServedLibrary, page: Any) -> None:
    served = served_mapped
    assert served.comfy is not None
    calls: list[dict[str, Any]] = []
    _watch(page, calls)
    detail, second = fixtures.conflicting_library(served.library, served.incoming, served.comfy)
    open_panel(page, served)
    page.click("[data-testid=menu]")  # import, download and mapping live in the menu
    page.click("[data-testid=mapping]")
    page.wait_for_selector(".mlib-conflict")
    assert page.locator(".mlib-conflict select").count() == 2
    assert str(detail) in page.inner_text("[data-testid=mapping-dialog]")
    assert page.locator("[data-testid=mapping-dialog] b").count() == 0  # "<b>ComfyUI" is text
    page.select_option(f".mlib-conflict:has-text('{detail.name}') >> select", "overwrite")
    page.screenshot(path=str(SCREENSHOTS / "mapping.png"))
    page.click("[data-testid=mapping-apply]")
    page.wait_for_selector(".mlib-toast:has-text('Mapping applied')")
    [apply] = [c for c in calls if c["url"].endswith("/mapping/apply")]
    assert json.loads(apply["body"]) == {"resolutions": {str(detail): "overwrite", str(second): "skip"}}
    assert apply["headers"]["x-model-library"] == "1"
    assert os.path.islink(detail), "overwrite put the library's link in place of the foreign file"
    assert second.is_dir() and not second.is_symlink(), "skip left the folder alone"
    assert page.errors == []


def test_hub_download_picks_files_and_offline_banner(served_hub: ServedLibrary, page: Any) -> None:
    served = served_hub
    calls: list[dict[str, Any]] = []
    _watch(page, calls)
    # The listing and the download are the real routes over the loopback Hub; only /status is fixed, to
    # show the banner of an open circuit (its body built from NetworkState by fixtures.status_json).
    _fixed(page, "/status", fixtures.status_json(served.library, hub_open_circuit=True), [])
    open_panel(page, served)
    page.wait_for_selector("[data-testid=offline]:not([hidden])")
    page.click("[data-testid=menu]")
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
    page.wait_for_selector(".mlib-row-name:has-text('model')", timeout=30_000)  # the job ran: it is listed
    assert json.loads(download["body"]) == {
        "repo_id": "org/sdxl-model",
        "filename": "model.safetensors",
        "revision": "main",
    }
    assert page.errors == []


def test_a_warnings_only_health_report_says_why(served: ServedLibrary, page: Any) -> None:
    """A status of "warnings" used to open a dialog listing only broken / orphaned / missing (all
    "none"): the reason (here, a model folder the catalog does not list) was never shown."""
    ghost = served.root / "models" / "lora" / "sdxl" / "ghost"
    ghost.mkdir(parents=True)
    (ghost / "metadata.json").write_text("{}")
    open_panel(page, served)
    page.wait_for_function("document.querySelector('[data-testid=health]').textContent === 'warnings'")
    page.click("[data-testid=health]")
    page.wait_for_selector("[data-testid=health-dialog]")
    text = page.inner_text("[data-testid=health-dialog]")
    assert "model folders the catalog does not list (1)" in text.lower()  # h4s are upper-cased by CSS
    assert str(ghost / "metadata.json") in text
    assert page.errors == []
