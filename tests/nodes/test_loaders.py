"""The LoRA loaders' trigger_words output (V1 declarations; the V3 ones are derived from them and run in
the host tier): appended after the old outputs, so links saved before it existed keep their indices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from comfyui_model_library.core.errors import ModelNotFound
from comfyui_model_library.nodes import _catalog
from comfyui_model_library.nodes.loaders import LibraryLoraLoader, LibraryLoraLoaderModelOnly


@dataclass
class StubModel:
    id: str
    name: str
    trigger_words: tuple[str, ...] = ()


@dataclass
class StubCatalog:
    models: dict[str, Any] = field(default_factory=dict)

    def get_model(self, ref: str) -> Any:
        for model in self.models.values():
            if model.id.startswith(ref.removeprefix("blake3:")):
                return model
        raise ModelNotFound(f"no model {ref}")


@dataclass
class StubLibrary:
    catalog: StubCatalog


@pytest.fixture
def catalog(monkeypatch: pytest.MonkeyPatch) -> StubCatalog:
    stub = StubCatalog()
    monkeypatch.setattr(_catalog, "_provider", lambda: StubLibrary(stub))
    return stub


def test_the_new_output_comes_last() -> None:
    assert LibraryLoraLoader.RETURN_TYPES == ("MODEL", "CLIP", "STRING")
    assert LibraryLoraLoader.RETURN_NAMES == ("MODEL", "CLIP", "trigger_words")
    assert LibraryLoraLoaderModelOnly.RETURN_TYPES == ("MODEL", "STRING")
    assert LibraryLoraLoaderModelOnly.RETURN_NAMES == ("MODEL", "trigger_words")
    for cls in (LibraryLoraLoader, LibraryLoraLoaderModelOnly):
        assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES)


def test_trigger_words_are_joined_for_a_prompt() -> None:
    assert _catalog.trigger_words(StubModel("a" * 16, "x", ("ohwx person", " ", "red hat "))) == (
        "ohwx person, red hat"
    )
    assert _catalog.trigger_words(StubModel("a" * 16, "x")) == ""


def test_a_lora_at_strength_zero_passes_through_with_its_words(catalog: StubCatalog) -> None:
    catalog.models["l"] = StubModel("1a2b3c4d" + "0" * 8, "style", ("in the style of x",))
    model, clip = object(), object()
    out = LibraryLoraLoader().load_lora(model, clip, "style [1a2b3c4d]", 0.0, 0.0)
    assert out == (model, clip, "in the style of x")
    only = LibraryLoraLoaderModelOnly().load_lora_model_only(
        model, "renamed [00000000]", 0.0, "blake3:1a2b3c4d"
    )
    assert only == (model, "in the style of x")
