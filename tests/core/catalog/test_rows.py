"""A catalog row becomes the same Model whichever way it is built."""

from __future__ import annotations

import dataclasses

import pytest

from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.models import Model, ModelQuery
from comfyui_model_library.core.taxonomy import ModelType

from .conftest import make_model


def test_a_listed_model_equals_the_model_added(repo: ModelRepository) -> None:
    added = make_model("neon rows", tags=("anime", "style"), favorite=True, trigger_words=("zap",))
    repo.add_many([added])
    (listed,) = repo.list(ModelQuery(q="neon")).items
    assert listed == dataclasses.replace(added, metadata={})  # a list page leaves the header out
    assert repo.get(added.id) == added
    assert type(listed.type) is ModelType  # a member, as __post_init__ makes it


def test_of_fields_takes_every_field_and_no_other() -> None:
    model = make_model("whole")
    values = {f.name: getattr(model, f.name) for f in dataclasses.fields(Model)}
    assert Model.of_fields(**values) == model
    with pytest.raises(TypeError, match=r"missing.*'notes'"):
        Model.of_fields(**{k: v for k, v in values.items() if k != "notes"})
    with pytest.raises(TypeError, match=r"unknown.*'colour'"):
        Model.of_fields(**values, colour="red")
