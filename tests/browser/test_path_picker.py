"""The panel's "Import path…" picker in real Chromium against the real server: it lists the import roots,
opens folders, picks a model file, and the import runs; folder names stay text."""

from __future__ import annotations

from typing import Any

import pytest

from tests import synth
from tests.browser.conftest import ServedLibrary, open_panel

pytestmark = pytest.mark.browser


def test_pick_a_model_in_an_import_root_and_import_it(served: ServedLibrary, page: Any) -> None:
    folder = served.incoming / "<b>sdxl<b>"
    folder.mkdir()
    synth.write_family(folder / "picked-lora.safetensors", "sdxl_lora_kohya")
    (served.incoming / "readme.txt").write_text("not a model")
    open_panel(page, served)
    page.click("[data-testid=menu]")
    page.click("text=Import path…")
    picker = page.locator("[data-testid=path-picker]")
    picker.locator(f"[data-testid=picker-entry][title='{served.incoming}']").click()
    page.wait_for_selector("[data-testid=picker-entry] >> text=<b>sdxl<b>")  # markup shown as text
    assert "readme.txt" not in picker.inner_text()
    assert page.locator("b", has_text="sdxl").count() == 0
    picker.locator("[data-testid=picker-entry] >> text=<b>sdxl<b>").click()
    page.wait_for_selector("[data-testid=picker-model]")
    picker.locator("[data-testid=picker-model]").check()
    assert page.input_value("[data-testid=import-paths]") == str(folder / "picked-lora.safetensors")
    page.click("[data-testid=picker-up]")
    where = "(p) => document.querySelector('[data-testid=picker-where]').textContent === p"
    page.wait_for_function(where, arg=str(served.incoming))
    page.click("button.mlib-btn-primary >> text=Import")
    page.wait_for_selector(".mlib-row[data-id] >> text=picked-lora", timeout=20_000)
