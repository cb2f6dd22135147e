"""The import dialog shows what sniffing found: a protocol 0 pickle dropped as ``.ckpt`` must be
acknowledged; a ``.pt`` of no known format shows its warning (never a silent import)."""

from __future__ import annotations

import base64
import pickle
from typing import Any

from tests.browser.conftest import ServedLibrary, open_panel
from tests.browser.test_panel import _drop


def test_old_pickle_needs_acknowledgement_and_unknown_format_warns(served: ServedLibrary, page: Any) -> None:
    old = pickle.dumps({"state_dict": {"w": [0.0] * 20}}, protocol=0)
    junk = b"\x07\x00not any format we know" * 20
    open_panel(page, served)
    _drop(
        page,
        [
            {"name": "old.ckpt", "b64": base64.b64encode(old).decode()},
            {"name": "mystery.pt", "b64": base64.b64encode(junk).decode()},
        ],
    )
    page.wait_for_selector("[data-testid=pickle-warning]", timeout=30_000)
    pickle_dialog = page.get_by_role("dialog", name="Import: old.ckpt")
    assert pickle_dialog.get_by_test_id("import-keep").is_disabled()
    unknown_dialog = page.get_by_role("dialog", name="Import: mystery.pt")
    unknown_dialog.get_by_test_id("import-warning").wait_for(timeout=30_000)
    assert "format not recognised" in unknown_dialog.get_by_test_id("import-warning").inner_text()
    assert unknown_dialog.get_by_test_id("import-keep").is_enabled()
    assert page.errors == []
