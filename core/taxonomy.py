"""The vocabularies of the catalog, as ``str`` Enums (the ground floor: imports nothing of ours).

Model types, base models, formats, security levels, locations, match and link kinds, job and model states.
Each member IS its string (``ModelType.LORA == "lora"``), so JSON, SQLite and sidecars hold exactly the
values they held when these were tuples of strings, and nothing converts them on the way out. Code that
names a member gets it checked by mypy: ``ModelType.LOAR`` is an error, where ``"loar"`` was not.
The values are part of the JSON contract (CONTRACT.md) and of every stored catalog: never rename one.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar, cast

_V = TypeVar("_V", bound="Vocabulary")


class Vocabulary(str, Enum):
    """A closed set of strings. Members ARE strings (``ModelType.LORA == "lora"``), so JSON, SQLite and
    comparisons with plain strings need no conversion, while code that names a member gets it checked by
    mypy (``ModelType.LOAR`` is an error, ``"loar"`` was not). ``str()`` and f-strings give the value.

    Membership tests take any string: ``ModelType.has("lora")`` (``"lora" in ModelType`` raises before
    Python 3.12). ``ModelType.parse(text)`` turns a stored string into its member, ``None`` if unknown.
    """

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(str.__str__(self), spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The values in declaration order (the order error messages list them in)."""
        return tuple(member.value for member in cls)

    @classmethod
    def has(cls, value: object) -> bool:
        return isinstance(value, str) and value in cls._value2member_map_

    @classmethod
    def parse(cls: type[_V], value: str) -> _V | None:
        """The member whose value is ``value``; None if this version does not know it."""
        return cast("_V | None", cls._value2member_map_.get(value))

    @classmethod
    def of(cls: type[_V], value: str) -> _V:
        """The member for a string that came from the catalog, JSON or detection.

        A value this version does not know (written by a newer one) passes through as the plain string,
        as it did before the vocabularies were Enums: reading never fails on it; writes validate it.
        """
        return cast("_V", cls._value2member_map_.get(value, value))


class ModelType(Vocabulary):
    """What a model is, as ComfyUI loads it (its loader and folder)."""

    CHECKPOINT = "checkpoint"
    LORA = "lora"
    VAE = "vae"
    TEXT_ENCODER = "text_encoder"
    DIFFUSION_MODEL = "diffusion_model"
    CONTROLNET = "controlnet"
    CLIP_VISION = "clip_vision"
    UPSCALER = "upscaler"
    EMBEDDING = "embedding"
    STYLE_MODEL = "style_model"
    HYPERNETWORK = "hypernetwork"
    PHOTOMAKER = "photomaker"
    GLIGEN = "gligen"
    IPADAPTER = "ipadapter"
    UNKNOWN = "unknown"


class BaseModelType(Vocabulary):
    """The architecture family a model belongs to (what it is compatible with)."""

    SD15 = "sd15"
    SD2 = "sd2"
    SDXL = "sdxl"
    SDXL_REFINER = "sdxl_refiner"
    SD3 = "sd3"
    SD35 = "sd35"
    FLUX1 = "flux1"
    FLUX2 = "flux2"
    AURAFLOW = "auraflow"
    PIXART = "pixart"
    HUNYUAN_DIT = "hunyuan_dit"
    HUNYUAN_VIDEO = "hunyuan_video"
    LTXV = "ltxv"
    MOCHI = "mochi"
    WAN = "wan"
    COSMOS = "cosmos"
    LUMINA2 = "lumina2"
    HIDREAM = "hidream"
    CHROMA = "chroma"
    QWEN_IMAGE = "qwen_image"
    STABLE_CASCADE = "stable_cascade"
    KOLORS = "kolors"
    Z_IMAGE = "z_image"
    SVD = "svd"
    UNKNOWN = "unknown"


class ModelFormat(Vocabulary):
    """How a model's files are laid out."""

    SINGLE_FILE = "single-file"
    DIFFUSION_FOLDER = "diffusion-folder"
    SHARDED_SET = "sharded-set"


class FileFormat(Vocabulary):
    """The container format of a model's weights."""

    SAFETENSORS = "safetensors"
    GGUF = "gguf"
    PICKLE = "pickle"
    ZIP_PICKLE = "zip-pickle"
    ONNX = "onnx"
    DIFFUSERS = "diffusers"
    UNKNOWN = "unknown"


class SecurityLevel(Vocabulary):
    """Whether loading the model can run code: ``pickle`` can, ``safe`` cannot."""

    SAFE = "safe"
    UNKNOWN = "unknown"
    PICKLE = "pickle"


class Location(Vocabulary):
    """Where a model's bytes live: in the library, or in a watched source folder."""

    LIBRARY = "library"
    SOURCE = "source"


class MatchKind(Vocabulary):
    """How a model was matched to its Hugging Face origin."""

    HASH = "hash"
    FILENAME_EXACT = "filename_exact"
    FILENAME_FUZZY = "filename_fuzzy"
    MANUAL = "manual"
    NONE = "none"


class LinkKind(Vocabulary):
    """How a model file is made visible to an app."""

    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    COPY = "copy"


class LinkPurpose(Vocabulary):
    """Why a link exists: the mapping's own names, an adopted install's original names, or the name a
    workflow expects (``model-library workflow fetch``), kept until the user unmaps or the model goes."""

    MAPPING = "mapping"
    ADOPT = "adopt"
    WORKFLOW = "workflow"


class JobState(Vocabulary):
    """The life of a background job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ModelState(Vocabulary):
    """Whether a catalogued model's files are on disk: ``missing`` once they vanish (kept, not deleted)."""

    READY = "ready"
    MISSING = "missing"


class Site(Vocabulary):
    """A site a model may come from, found by its hash or its Hub source."""

    CIVITAI = "civitai"
    HUGGINGFACE = "huggingface"


class PreviewSource(Vocabulary):
    """Where a model's preview came from, in the order they are preferred."""

    USER = "user"
    OUTPUT = "output"  # an image ComfyUI generated, picked by the user
    SIDECAR = "sidecar"  # an image beside the model file in the user's folder
    EMBEDDED = "embedded"  # the file's own modelspec.thumbnail
    CIVITAI = "civitai"
    HUGGINGFACE = "huggingface"
