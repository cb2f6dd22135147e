"""The values of what a model is besides its bytes: trigger words cleaned of what would hide or reorder
text in a prompt or on screen, records read strictly, a default strength bounded."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comfyui_model_library.core.editing import strength_change
from comfyui_model_library.core.errors import InvalidInput
from comfyui_model_library.core.model_extras import (
    MAX_TRIGGER_WORD_CHARS,
    MAX_TRIGGER_WORDS,
    Preview,
    SiteOrigin,
    clean_trigger_words,
)
from tests.core.catalog.conftest import make_model


def test_trigger_words_lose_control_and_bidi_characters_and_repeats() -> None:
    words = [
        "a\x1b[31mred",
        "b\u202etxt",
        "zero\u200bwidth",
        "ohwx  person",
        "OHWX person",
        "café",
        "中文 风格",
        " , ",
    ]
    assert clean_trigger_words(words) == ("a[31mred", "btxt", "zerowidth", "ohwx person", "café", "中文 风格")


@given(st.lists(st.text(max_size=400), max_size=200))
def test_any_words_come_out_bounded_and_printable(words: list[str]) -> None:
    cleaned = clean_trigger_words(words)
    assert len(cleaned) <= MAX_TRIGGER_WORDS
    for word in cleaned:
        assert 0 < len(word) <= MAX_TRIGGER_WORD_CHARS and word == word.strip(" ,")
        assert not any(ord(ch) < 32 or 0x202A <= ord(ch) <= 0x202E for ch in word)


def test_records_from_strangers_are_read_strictly() -> None:
    assert Preview.from_record({"source": "user", "tag": "../../etc"}) is None
    assert Preview.from_record({"source": "nowhere", "tag": "abc"}) is None
    assert Preview.from_record({"source": "civitai", "tag": "abc123", "nsfw_level": "x"}) == Preview(
        "civitai", "abc123", 0
    )
    assert SiteOrigin.from_dict({"site": "civitai", "url": "javascript:alert(1)"}) is None
    assert SiteOrigin.from_dict({"site": ["civitai"], "url": "https://x"}) is None


@pytest.mark.parametrize("bad", ["1", True, math.nan, math.inf, -100.5, [1]])
def test_a_default_strength_is_a_number_in_range(bad: object) -> None:
    with pytest.raises(InvalidInput):
        strength_change(make_model("m"), bad)


def test_a_default_strength_is_set_kept_and_cleared() -> None:
    model = make_model("m")
    assert strength_change(model, 0.8) == {"default_strength": 0.8}
    set_ = model.replace(default_strength=0.8)
    assert strength_change(set_, 0.8) == {}
    assert strength_change(set_, "") == {"default_strength": None}
    assert strength_change(model, "") == {}
