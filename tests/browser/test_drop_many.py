"""A drop of more loose model files than the server lets one client upload at once (16) imports them
all: the panel sends a few at a time instead of opening every upload together. (It once lost 5 to 8 of
them, one run in four: a wait on a quick import began after the import's final event and never ended,
and each stalled sender left its share of the drop unsent. tests/browser/test_jobs_view.py pins that.)"""

from __future__ import annotations

import time
from typing import Any

from tests.browser.conftest import ServedLibrary, open_panel
from tests.browser.test_panel import _drop

FILES = 30


def test_dropping_thirty_loras_imports_all_of_them(served: ServedLibrary, page: Any) -> None:
    open_panel(page, served)
    # Distinct sizes: distinct contents, so none is a duplicate of another.
    _drop(page, [{"name": f"lora-{i:02d}.safetensors", "floats": 16 + i} for i in range(FILES)])
    deadline = time.monotonic() + 180  # a shared CI machine can be slow; ~15 s normally
    count = 0
    while time.monotonic() < deadline:
        count = served.library.db.execute_read("SELECT count(*) FROM models")[0][0]
        failed = page.get_by_text("too_many_uploads").count() + page.get_by_text("unfinished uploads").count()
        assert failed == 0, "an upload was refused: the panel opened too many at once"
        if count == FILES:
            break
        time.sleep(0.2)
    jobs = served.library.db.execute_read("SELECT kind, state, error_json FROM jobs")
    assert count == FILES, [tuple(j) for j in jobs if j[1] != "done"][:5]
    assert page.errors == []
