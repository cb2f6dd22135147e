"""Which node inputs name a model file, and in which ``folder_paths`` category: the loader map.

A loader map says, per node type, which inputs hold a file name and where ComfyUI looks for it::

    {"LoraLoader": (LoaderInput(name="lora_name", index=0, category="loras"),), ...}

``name`` is the input's name (API format: ``inputs[name]``); ``index`` its place in a UI-format node's
``widgets_values`` (the widgets in input order; links take no place, a seed's "control after generate"
takes one more).

``CORE_LOADERS`` is kept in the code, read from ComfyUI 0.3.64's ``nodes.py`` and ``comfy_extras`` (every
input filled from ``folder_paths.get_filename_list``; ``configs`` left out, it names no model), and checked
against that host's real ``/object_info`` in the tests. Inside ComfyUI the map can be built from the host
itself: ``loaders_from_object_info`` reads ``object_info``, which lists each combo's options but not their
folder, so it also takes each category's file list (``folder_paths.get_filename_list``) and recognises an
input by its options. ``merged`` lays such a map over the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LoaderInput:
    name: str
    index: int
    category: str


LoaderMap = Mapping[str, tuple[LoaderInput, ...]]


def _table(spec: Mapping[str, tuple[tuple[str, int, str], ...]]) -> dict[str, tuple[LoaderInput, ...]]:
    return {node: tuple(LoaderInput(*entry) for entry in entries) for node, entries in spec.items()}


_TE = "text_encoders"
CORE_LOADERS: LoaderMap = _table(
    {
        "CheckpointLoaderSimple": (("ckpt_name", 0, "checkpoints"),),
        "CheckpointLoader": (("ckpt_name", 1, "checkpoints"),),  # widget 0 is config_name (configs)
        "unCLIPCheckpointLoader": (("ckpt_name", 0, "checkpoints"),),
        "ImageOnlyCheckpointLoader": (("ckpt_name", 0, "checkpoints"),),
        "DiffusersLoader": (("model_path", 0, "diffusers"),),
        "LoraLoader": (("lora_name", 0, "loras"),),
        "LoraLoaderModelOnly": (("lora_name", 0, "loras"),),
        "CreateHookLora": (("lora_name", 0, "loras"),),
        "CreateHookLoraModelOnly": (("lora_name", 0, "loras"),),
        "CreateHookModelAsLora": (("ckpt_name", 0, "checkpoints"),),
        "CreateHookModelAsLoraModelOnly": (("ckpt_name", 0, "checkpoints"),),
        "VAELoader": (("vae_name", 0, "vae"),),
        "UNETLoader": (("unet_name", 0, "diffusion_models"),),
        "CLIPLoader": (("clip_name", 0, _TE),),
        "DualCLIPLoader": (("clip_name1", 0, _TE), ("clip_name2", 1, _TE)),
        "TripleCLIPLoader": (("clip_name1", 0, _TE), ("clip_name2", 1, _TE), ("clip_name3", 2, _TE)),
        "QuadrupleCLIPLoader": (
            ("clip_name1", 0, _TE),
            ("clip_name2", 1, _TE),
            ("clip_name3", 2, _TE),
            ("clip_name4", 3, _TE),
        ),
        "ControlNetLoader": (("control_net_name", 0, "controlnet"),),
        "DiffControlNetLoader": (("control_net_name", 0, "controlnet"),),
        "UpscaleModelLoader": (("model_name", 0, "upscale_models"),),
        "CLIPVisionLoader": (("clip_name", 0, "clip_vision"),),
        "StyleModelLoader": (("style_model_name", 0, "style_models"),),
        "GLIGENLoader": (("gligen_name", 0, "gligen"),),
        "HypernetworkLoader": (("hypernetwork_name", 0, "hypernetworks"),),
        "PhotoMakerLoader": (("photomaker_model_name", 0, "photomaker"),),
        "ModelPatchLoader": (("name", 0, "model_patches"),),
        "AudioEncoderLoader": (("audio_encoder_name", 0, "audio_encoders"),),
        # existing_lora: the 14th widget (the seed before it takes two: its value and "control after")
        "TrainLoraNode": (("existing_lora", 13, "loras"),),
    }
)

# Values a loader lists that are not files: VAELoader's built-ins (vae_approx pairs, no VAE at all) and
# the "nothing" choices some nodes add.
NOT_FILES = frozenset(
    {"pixel_space", "taesd", "taesdxl", "taesd3", "taef1", "None", "none", "[None]", "", "undefined"}
)
# folder_paths aliases (ComfyUI's map_legacy): the second name of a category that shares its folders.
LEGACY_ALIASES = {"unet": "diffusion_models", "clip": "text_encoders"}
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
SEED_NAMES = frozenset({"seed", "noise_seed"})


def _options(spec: object) -> tuple[str, list[Any] | None, Mapping[str, Any]]:
    """(type, combo options or None, extra) of one object_info input spec, old or V3 style."""
    if not isinstance(spec, (list, tuple)) or not spec:
        return "", None, {}
    head = spec[0]
    extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(head, list):
        return "COMBO", head, extra
    if head == "COMBO":
        options = extra.get("options")
        return "COMBO", options if isinstance(options, list) else [], extra
    return head if isinstance(head, str) else "", None, extra


def _ordered_inputs(info: Mapping[str, Any]) -> list[tuple[str, object]]:
    inputs = info.get("input")
    if not isinstance(inputs, dict):
        return []
    order = info.get("input_order") if isinstance(info.get("input_order"), dict) else None
    specs: list[tuple[str, object]] = []
    for section in ("required", "optional"):
        group = inputs.get(section)
        if not isinstance(group, dict):
            continue
        names = order.get(section) if order and isinstance(order.get(section), list) else list(group)
        specs.extend((name, group[name]) for name in names if isinstance(name, str) and name in group)
    return specs


def _category_of(options: list[Any], files: Mapping[str, frozenset[str]]) -> str | None:
    """The category whose whole (non-empty) file list the options hold, with nothing but non-files beside."""
    offered = {o for o in options if isinstance(o, str)}
    matches = [
        LEGACY_ALIASES.get(category, category)
        for category, names in files.items()
        if names and names <= offered and all(o in names or o in NOT_FILES for o in offered)
    ]
    unique = sorted(set(matches))
    return unique[0] if len(unique) == 1 else None


def loaders_from_object_info(
    object_info: Mapping[str, Any], category_files: Mapping[str, Iterable[str]]
) -> dict[str, tuple[LoaderInput, ...]]:
    """A loader map read from ComfyUI's ``/object_info``, given each category's file names.

    An input is a loader input when its combo options are exactly one category's (non-empty) file list,
    give or take the non-file choices in ``NOT_FILES``; two categories with the same files are ambiguous
    unless they are aliases, and such an input is left out (``merged`` then keeps the table's entry).
    """
    files = {c: frozenset(n for n in names if isinstance(n, str)) for c, names in category_files.items()}
    found: dict[str, tuple[LoaderInput, ...]] = {}
    for node_type, info in object_info.items():
        if not isinstance(info, dict):
            continue
        entries: list[LoaderInput] = []
        index = 0
        for name, spec in _ordered_inputs(info):
            kind, options, extra = _options(spec)
            if kind not in WIDGET_TYPES or extra.get("forceInput"):
                continue  # a link socket: no place among the widgets
            if options is not None:
                category = _category_of(options, files)
                if category is not None:
                    entries.append(LoaderInput(name, index, category))
            index += 1
            if kind == "INT" and (extra.get("control_after_generate") or name in SEED_NAMES):
                index += 1
        if entries:
            found[node_type] = tuple(entries)
    return found


def merged(primary: LoaderMap, fallback: LoaderMap = CORE_LOADERS) -> dict[str, tuple[LoaderInput, ...]]:
    """``primary`` (e.g. read from the running host) wins per node type; ``fallback`` fills the rest."""
    return {**dict(fallback), **dict(primary)}
