"""``utcnow`` is made once a second: it must still say the current second, as datetime does."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from comfyui_model_library.core import models
from comfyui_model_library.core.models import utcnow


def test_utcnow_is_this_second_in_iso_form() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    text = utcnow()
    after = datetime.now(timezone.utc).replace(microsecond=0)
    assert before <= datetime.fromisoformat(text) <= after
    assert text.endswith("+00:00") and "." not in text


def test_utcnow_follows_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_800_000_000.25]
    monkeypatch.setattr(models.time, "time", lambda: now[0])
    assert utcnow() == "2027-01-15T08:00:00+00:00"
    now[0] += 0.5
    assert utcnow() == "2027-01-15T08:00:00+00:00"
    now[0] += 0.5
    assert utcnow() == "2027-01-15T08:00:01+00:00"
    now[0] -= 3600  # the clock set back: the text follows it
    assert utcnow() == "2027-01-15T07:00:01+00:00"
