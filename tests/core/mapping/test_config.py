"""Mapping rules: defaults, specificity, filters, templates (hostile ones too), load/save."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfyui_model_library.core.errors import InvalidConfig, UnsafePath
from comfyui_model_library.core.mapping.config import (
    MappingConfig,
    load_mapping,
    mapping_from_dict,
    ordered_rules,
    resolve,
    save_mapping,
)
from comfyui_model_library.core.models import Hashes, Model, ModelFile


def model(
    name: str = "detail",
    type: str = "lora",
    base: str = "sdxl",
    tags: tuple[str, ...] = (),
    fmt: str = "single-file",
) -> Model:
    return Model(
        id="abcdef0123456789",
        name=name,
        type=type,
        base_model=base,
        format=fmt,
        file_format="safetensors",
        security="safe",
        size=1,
        hashes=Hashes("b" * 64, "s" * 64),
        files=(ModelFile(f"{name}.safetensors", 1, "b" * 64, "s" * 64),),
        tags=tags,
    )


def place(config: MappingConfig, m: Model, version: str = "0.3.64") -> tuple[str, str, str] | None:
    p = resolve(ordered_rules(config), m, version)
    return None if p is None else (p.category, p.subfolder, p.link_name)


def test_defaults_cover_comfyui_categories() -> None:
    c = MappingConfig()
    assert place(c, model(type="checkpoint")) == ("checkpoints", "", "")
    assert place(c, model(type="upscaler")) == ("upscale_models", "", "")
    assert place(c, model(type="text_encoder")) == ("text_encoders", "", "")
    assert place(c, model(type="checkpoint", fmt="diffusion-folder")) == ("diffusers", "", "")
    assert place(c, model(type="unknown")) is None


def test_most_specific_rule_wins_and_ties_go_to_the_earlier_rule() -> None:
    c = mapping_from_dict(
        {
            "rules": [
                {"match": {"type": "lora"}, "category": "loras", "subfolder": "{base_model}/"},
                {"match": {"type": "lora", "base_model": "flux1"}, "category": "loras", "subfolder": "flux/"},
                {"match": {"type": "lora"}, "category": "loras", "subfolder": "never/"},
            ]
        }
    )
    assert place(c, model(base="sdxl")) == ("loras", "{base_model}/", "")
    assert place(c, model(base="flux1")) == ("loras", "flux/", "")


def test_tag_exclusion_wins_and_an_empty_category_maps_nothing() -> None:
    c = mapping_from_dict(
        {
            "rules": [
                {
                    "match": {"type": "lora", "tags": {"any": ["style", "detail"], "none": ["nsfw"]}},
                    "category": "loras",
                    "subfolder": "styles/",
                },
                {
                    "match": {"tags": {"all": ["private"]}, "type": "lora", "base_model": "sdxl"},
                    "category": "",
                },
            ]
        }
    )
    assert place(c, model(tags=("Style",))) == ("loras", "styles/", "")
    assert place(c, model(tags=("style", "nsfw"))) == ("loras", "", "")  # excluded: the default applies
    assert place(c, model(tags=("private",))) is None


def test_name_globs_and_version_constraints() -> None:
    c = mapping_from_dict(
        {
            "rules": [
                {
                    "match": {"name": ["*-turbo*"], "type": "checkpoint"},
                    "category": "checkpoints",
                    "subfolder": "turbo/",
                },
                {"match": {"type": "text_encoder", "comfyui_version": "<0.3.0"}, "category": "clip"},
            ]
        }
    )
    assert place(c, model("sdxl-Turbo-v1", type="checkpoint"))[1] == "turbo/"  # type: ignore[index]
    assert place(c, model("base", type="checkpoint"))[1] == ""  # type: ignore[index]
    assert place(c, model(type="text_encoder"), "0.2.9") == ("clip", "", "")
    assert place(c, model(type="text_encoder"), "0.3.64") == ("text_encoders", "", "")
    assert place(c, model(type="text_encoder"), "") == ("text_encoders", "", "")  # unknown version


@pytest.mark.parametrize(
    "template",
    [
        "../../custom_nodes/x/",
        "/etc/",
        "a/../../b",
        "{base_model}\\..\\x",
        "CON/",
        "nul.txt/",
        "trailing./",
        "a\x00b/",
        "line\nbreak/",
        "{nope}/",
        "x" * 300 + "/",
    ],
)
def test_hostile_subfolder_templates_are_refused(template: str) -> None:
    with pytest.raises((UnsafePath, InvalidConfig)):
        mapping_from_dict(
            {"rules": [{"match": {"type": "lora"}, "category": "loras", "subfolder": template}]}
        )


def test_hostile_values_are_sanitised_into_one_component() -> None:
    from comfyui_model_library.core.mapping.config import expand

    parts = expand("{base_model}/{name}", {"base_model": "../../etc", "name": "CON"})
    assert parts == ["_.._etc", "_CON"]


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"rules": [{"match": {"type": "lorra"}, "category": "loras"}]}, "lorra"),
        ({"rules": [{"match": {"type": "lora"}, "category": "custom_nodes"}]}, "custom_nodes"),
        ({"rules": [{"match": {"comfyui_version": "~~1"}, "category": "loras"}]}, "PEP 440"),
        ({"rules": [{"matches": {}, "category": "loras"}]}, "unknown key"),
        ({"mode": "everywhere"}, "mode"),
        ({"categories": {"lora": "nowhere"}}, "nowhere"),
    ],
)
def test_invalid_configs_say_what_is_wrong(bad: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidConfig, match=message):
        mapping_from_dict(bad)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "mapping.json"
    assert load_mapping(path) == MappingConfig()
    c = mapping_from_dict(
        {
            "mode": "direct",
            "rules": [
                {
                    "match": {"type": "lora", "tags": {"none": ["x"]}},
                    "category": "loras",
                    "link_name": "{stem}.{ext}",
                }
            ],
        }
    )
    save_mapping(path, c)
    assert load_mapping(path) == c
    path.write_text("{not json")
    with pytest.raises(InvalidConfig, match="not valid JSON"):
        load_mapping(path)
    path.write_text(json.dumps({"rules": "nope"}))
    with pytest.raises(InvalidConfig, match=str(path).replace("\\", "\\\\")):
        load_mapping(path)
