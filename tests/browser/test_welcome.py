"""The panel's first open says where the library is, what is listed in place and where to change it; once
dismissed it stays away for that library. Real Chromium, the real server."""

from __future__ import annotations

from typing import Any

import pytest

from tests import synth
from tests.browser.conftest import ServedLibrary, open_panel

pytestmark = pytest.mark.browser


def test_the_first_open_explains_and_is_dismissed_for_good(
    served: ServedLibrary, page: Any, tmp_path: Any
) -> None:
    shelf = tmp_path / "<b>shelf"
    shelf.mkdir()
    synth.write_family(shelf / "in-place.safetensors", "sdxl_lora_kohya")
    served.library.sources.add(shelf)
    open_panel(page, served)
    banner = page.wait_for_selector("[data-testid=welcome]")
    assert "1 model(s) listed in place" in banner.inner_text()  # one line until opened
    page.click("[data-testid=welcome] summary")
    text = banner.inner_text()
    assert str(served.root) in text
    assert "1 model(s) in" in text and str(shelf) in text  # the folder's markup shown as text
    assert "Nothing was written into ComfyUI's folders" in text
    assert "Settings > Central Model Library" in text
    page.click("[data-testid=welcome-dismiss]")
    assert page.locator("[data-testid=welcome]").count() == 0
    page.reload()
    page.wait_for_selector("[data-testid=summary]:has-text('model')")
    page.wait_for_load_state("networkidle")  # the banner would come with the first answers
    assert page.locator("[data-testid=welcome]").count() == 0
