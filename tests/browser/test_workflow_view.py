"""The panel's "This workflow" view in real Chromium against the real server: a workflow file dropped on
the panel is read and checked, each model shows its status, "Make all available" runs the fetch job and
shows each outcome; a PNG carrying a workflow works the same; strangers' names stay text."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, ServedLibrary, open_panel
from tests.core.workflows.images import png, text
from tests.core.workflows.test_fetch import synthetic

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.__pwned=1">.safetensors'


def drop_on_panel(page: Any, name: str, data: bytes) -> None:
    page.evaluate(
        """([name, b64]) => {
             const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], name));
             const target = document.querySelector('[data-testid=model-library]');
             const init = { bubbles: true, cancelable: true, dataTransfer: dt };
             for (const kind of ['dragenter', 'dragover', 'drop'])
               target.dispatchEvent(new DragEvent(kind, init));
           }""",
        [name, base64.b64encode(data).decode()],
    )


def test_a_dropped_workflow_is_checked_and_made_available(served_mapped: ServedLibrary, page: Any) -> None:
    served = served_mapped
    assert served.comfy is not None
    data = synthetic("loras", "friend's lora")
    (served.incoming / "my_detail.safetensors").write_bytes(data)
    (item,) = served.library.imports.import_paths([served.incoming / "my_detail.safetensors"], lookup=False)
    assert item.model is not None
    served.library.mapping.apply(served.comfy)
    workflow = {
        "nodes": [
            {
                "id": 1,
                "type": "LoraLoaderModelOnly",
                "widgets_values": ["friends/detail_v2.safetensors", 0.7],
                "properties": {
                    "models": [
                        {
                            "name": "friends/detail_v2.safetensors",
                            "directory": "loras",
                            "hash": hashlib.sha256(data).hexdigest(),
                            "hash_type": "SHA256",
                        }
                    ]
                },
            },
            {"id": 2, "type": "VAELoader", "widgets_values": [HOSTILE]},
        ],
        "links": [],
    }
    open_panel(page, served)
    drop_on_panel(page, "shared.json", json.dumps(workflow).encode())
    page.wait_for_selector("[data-testid=workflow-item][data-status=in_library]")
    view = page.locator("[data-testid=workflow-view]")
    assert "2 model(s), 2 not available yet" in view.locator("[data-testid=workflow-summary]").inner_text()
    assert HOSTILE in view.inner_text()  # the stranger's name, as text
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("[data-testid=workflow-item][data-status=missing]").count() == 1

    page.click("[data-testid=workflow-fetch]")
    page.wait_for_selector("[data-testid=workflow-item][data-status=linked]", timeout=20_000)
    assert page.locator("[data-testid=workflow-item][data-status=pick]").count() == 1
    assert "still not available" in page.inner_text("[data-testid=workflow-note]")
    page.screenshot(path=str(SCREENSHOTS / "workflow.png"))  # the docs' picture of the view
    views = served.root / "views"
    assert [p.name for p in views.rglob("detail_v2.safetensors")] == ["detail_v2.safetensors"]

    # The same workflow carried by a PNG (as ComfyUI saves images): read by the server, checked.
    page.reload()
    page.wait_for_selector("[data-testid=summary]:has-text('model')")
    drop_on_panel(page, "image.png", png(text("workflow", json.dumps(workflow))))
    page.wait_for_selector("[data-testid=workflow-item][data-status=present]")  # linked before: now listed
    assert page.evaluate("() => window.__pwned") is None
