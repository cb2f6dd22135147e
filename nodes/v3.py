"""The library's nodes declared with ComfyUI's V3 schema (``comfy_api.latest``), for hosts that have it.

The V1 classes (``loaders.py``, ``model_path.py``) keep the behaviour, their inputs, tooltips and
descriptions; this module declares the same nodes to the V3 API: the same node ids and display names,
the same inputs and outputs, so a workflow saved with either loads with the other. ``comfy_api`` is
imported when ComfyUI calls ``comfy_entrypoint`` (it has loaded it by then), never at our import.

Validation and fingerprints keep their V1 signatures on purpose: ComfyUI skips its own list check for
exactly the inputs a validator names (a model found by ``model_ref`` may be missing from the list).
"""

from __future__ import annotations

from typing import Any

from . import _catalog
from .loaders import LibraryCheckpointLoader, LibraryLoraLoader, LibraryLoraLoaderModelOnly, LibraryVaeLoader
from .model_path import LibraryModelPath

DISPLAY_NAMES = {
    "LibraryCheckpointLoader": "Library Checkpoint Loader",
    "LibraryLoraLoader": "Library LoRA Loader",
    "LibraryLoraLoaderModelOnly": "Library LoRA Loader (model only)",
    "LibraryVAELoader": "Library VAE Loader",
    "LibraryModelPath": "Library Model Path",
}


def build_nodes() -> list[type[Any]]:
    """The V3 node classes (imports ``comfy_api.latest``: call inside ComfyUI only)."""
    from comfy_api.latest import io

    def inputs(v1: Any) -> list[Any]:
        """V1 INPUT_TYPES -> V3 inputs, in order: required, then optional."""
        spec = v1.INPUT_TYPES()
        out = []
        for group, optional in (("required", False), ("optional", True)):
            for name, (kind, options) in (spec.get(group) or {}).items():
                common = {"optional": optional, "tooltip": options.get("tooltip")}
                if isinstance(kind, list):
                    out.append(io.Combo.Input(name, options=kind, **common))
                elif kind == "FLOAT":
                    limits = {k: options[k] for k in ("default", "min", "max", "step") if k in options}
                    out.append(io.Float.Input(name, **limits, **common))
                elif kind == "STRING":
                    out.append(io.String.Input(name, default=options.get("default", ""), **common))
                else:
                    out.append(_socket(io, kind).Input(name, **common))
        return out

    def outputs(v1: Any) -> list[Any]:
        names = getattr(v1, "RETURN_NAMES", None) or [None] * len(v1.RETURN_TYPES)
        tips = getattr(v1, "OUTPUT_TOOLTIPS", None) or [None] * len(v1.RETURN_TYPES)
        return [
            _socket(io, kind).Output(display_name=name, tooltip=tip)
            for kind, name, tip in zip(v1.RETURN_TYPES, names, tips)
        ]

    registered: set[str] = set()

    def schema(node_id: str, v1: Any) -> Any:
        # The first schema is ComfyUI's registration, while plugins import: no library opened for it.
        if node_id in registered:
            return declare(node_id, v1)
        registered.add(node_id)
        with _catalog.without_lists():
            return declare(node_id, v1)

    def declare(node_id: str, v1: Any) -> Any:
        return io.Schema(
            node_id=node_id,
            display_name=DISPLAY_NAMES[node_id],
            category=v1.CATEGORY,
            description=v1.DESCRIPTION,
            inputs=inputs(v1),
            outputs=outputs(v1),
        )

    lora_loader = LibraryLoraLoader()  # keeps the last LoRA's weights, as ComfyUI keeps one V1 instance

    class LibraryCheckpointLoaderV3(io.ComfyNode):
        @classmethod
        def define_schema(cls) -> Any:
            return schema("LibraryCheckpointLoader", LibraryCheckpointLoader)

        @classmethod
        def execute(cls, checkpoint: str, model_ref: str = "") -> Any:
            return io.NodeOutput(*LibraryCheckpointLoader().load_checkpoint(checkpoint, model_ref))

        @classmethod
        def validate_inputs(cls, checkpoint: str, model_ref: str = "") -> bool | str:
            return LibraryCheckpointLoader.VALIDATE_INPUTS(checkpoint, model_ref)

        @classmethod
        def fingerprint_inputs(cls, checkpoint: str = "", model_ref: str = "", **_: Any) -> str:
            return LibraryCheckpointLoader.IS_CHANGED(checkpoint, model_ref)

    class LibraryLoraLoaderV3(io.ComfyNode):
        @classmethod
        def define_schema(cls) -> Any:
            return schema("LibraryLoraLoader", LibraryLoraLoader)

        @classmethod
        def execute(
            cls,
            model: Any,
            clip: Any,
            lora: str,
            strength_model: float,
            strength_clip: float,
            model_ref: str = "",
        ) -> Any:
            loaded = lora_loader.load_lora(model, clip, lora, strength_model, strength_clip, model_ref)
            return io.NodeOutput(*loaded)

        @classmethod
        def validate_inputs(cls, lora: str, model_ref: str = "") -> bool | str:
            return LibraryLoraLoader.VALIDATE_INPUTS(lora, model_ref)

        @classmethod
        def fingerprint_inputs(cls, lora: str = "", model_ref: str = "", **_: Any) -> str:
            return LibraryLoraLoader.IS_CHANGED(lora, model_ref)

    model_only_loader = LibraryLoraLoaderModelOnly()

    class LibraryLoraLoaderModelOnlyV3(io.ComfyNode):
        @classmethod
        def define_schema(cls) -> Any:
            return schema("LibraryLoraLoaderModelOnly", LibraryLoraLoaderModelOnly)

        @classmethod
        def execute(cls, model: Any, lora: str, strength_model: float, model_ref: str = "") -> Any:
            return io.NodeOutput(
                *model_only_loader.load_lora_model_only(model, lora, strength_model, model_ref)
            )

        @classmethod
        def validate_inputs(cls, lora: str, model_ref: str = "") -> bool | str:
            return LibraryLoraLoaderModelOnly.VALIDATE_INPUTS(lora, model_ref)

        @classmethod
        def fingerprint_inputs(cls, lora: str = "", model_ref: str = "", **_: Any) -> str:
            return LibraryLoraLoaderModelOnly.IS_CHANGED(lora, model_ref)

    class LibraryVaeLoaderV3(io.ComfyNode):
        @classmethod
        def define_schema(cls) -> Any:
            return schema("LibraryVAELoader", LibraryVaeLoader)

        @classmethod
        def execute(cls, vae: str, model_ref: str = "") -> Any:
            return io.NodeOutput(*LibraryVaeLoader().load_vae(vae, model_ref))

        @classmethod
        def validate_inputs(cls, vae: str, model_ref: str = "") -> bool | str:
            return LibraryVaeLoader.VALIDATE_INPUTS(vae, model_ref)

        @classmethod
        def fingerprint_inputs(cls, vae: str = "", model_ref: str = "", **_: Any) -> str:
            return LibraryVaeLoader.IS_CHANGED(vae, model_ref)

    class LibraryModelPathV3(io.ComfyNode):
        @classmethod
        def define_schema(cls) -> Any:
            return schema("LibraryModelPath", LibraryModelPath)

        @classmethod
        def execute(cls, model: str, model_ref: str = "") -> Any:
            return io.NodeOutput(*LibraryModelPath().model_path(model, model_ref))

        @classmethod
        def validate_inputs(cls, model: str, model_ref: str = "") -> bool | str:
            return LibraryModelPath.VALIDATE_INPUTS(model, model_ref)

        @classmethod
        def fingerprint_inputs(cls, model: str = "", model_ref: str = "", **_: Any) -> str:
            return LibraryModelPath.IS_CHANGED(model, model_ref)

    return [
        LibraryCheckpointLoaderV3,
        LibraryLoraLoaderV3,
        LibraryLoraLoaderModelOnlyV3,
        LibraryVaeLoaderV3,
        LibraryModelPathV3,
    ]


def _socket(io: Any, kind: str) -> Any:
    """The V3 type of a V1 socket type name (``*`` is the wildcard)."""
    return {"MODEL": io.Model, "CLIP": io.Clip, "VAE": io.Vae, "STRING": io.String, "*": io.AnyType}[
        str(kind)
    ]


async def comfy_entrypoint() -> Any:
    """ComfyUI's V3 entry point: an extension listing the nodes."""
    from comfy_api.latest import ComfyExtension

    nodes = build_nodes()

    class ModelLibraryExtension(ComfyExtension):
        async def get_node_list(self) -> list[type[Any]]:
            return nodes

    return ModelLibraryExtension()
