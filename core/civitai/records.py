"""What we keep of Civitai's answers: frozen records, built from its JSON at the boundary.

``version_from_api`` / ``model_from_api`` read the API's shapes (``/api/v1/model-versions/by-hash/{sha}``,
``/api/v1/models/{id}``). Missing optional fields get defaults; a field that is present with the wrong type
is an ``UpstreamError`` naming it, never a TypeError later. No string is trusted: each is capped, image
URLs must be http(s), descriptions become plain text. The records are cached (and kept) as ``to_dict()``
JSON, with ``VERSION`` so a newer layout is recognised rather than misread.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ..errors import UpstreamError
from .text import MAX_TEXT, html_to_text

MAX_IMAGES = 20
MAX_FILES = 50
MAX_WORDS = 100
MAX_VERSIONS = 500
MAX_URL = 2048
_NAME = 256
_SHORT = 64
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LICENSE_FLAGS = ("allowCommercialUse", "allowDerivatives", "allowNoCredit", "allowDifferentLicense")
# Older answers name an image's level instead of giving Civitai's bit value.
_NSFW_NAMES = {"none": 1, "soft": 2, "mature": 4, "x": 8, "xxx": 16}
MAX_NSFW = 32  # Civitai's highest flag ("Blocked"); a larger claim is kept as that, a negative one as 0
MAX_ID = 2**53 - 1  # ids JSON carries exactly (and the client asks for)
# Control characters, zero-width marks and bidirectional overrides: a name that reorders or hides text.
_HIDDEN = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


@dataclass(frozen=True)
class CivitaiImage:
    url: str
    nsfw_level: int = 0
    width: int | None = None
    height: int | None = None
    kind: str = "image"  # "image" | "video"


@dataclass(frozen=True)
class CivitaiFile:
    name: str
    sha256: str | None
    size_kb: float


@dataclass(frozen=True)
class CivitaiVersionSummary:
    """One version as a model lists it (for "an update is available")."""

    version_id: int
    name: str
    base_model: str
    created_at: str | None = None
    published_at: str | None = None


@dataclass(frozen=True)
class CivitaiModel:
    VERSION: ClassVar[int] = 1

    model_id: int
    name: str
    model_type: str
    description: str
    creator: str | None
    nsfw: bool
    license: dict[str, Any] = field(hash=False)
    versions: tuple[CivitaiVersionSummary, ...]  # newest first

    def to_dict(self) -> dict[str, Any]:
        d = _plain(self)
        d["versions"] = [_plain(v) for v in self.versions]
        return {"record_version": self.VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CivitaiModel:
        _check_version(d, cls.VERSION, "Civitai model")
        versions = tuple(CivitaiVersionSummary(**v) for v in d["versions"])
        return cls(**{**_fields(d, cls), "license": dict(d["license"]), "versions": versions})


@dataclass(frozen=True)
class CivitaiVersion:
    VERSION: ClassVar[int] = 1

    version_id: int
    model_id: int
    model_name: str
    version_name: str
    base_model: str  # Civitai's own name ("SDXL 1.0"); ``base_model_of`` maps it to ours
    model_type: str  # Civitai's ("LORA", "Checkpoint", "TextualInversion", ...)
    trained_words: tuple[str, ...]
    description: str  # plain text
    creator: str | None
    page_url: str
    license: dict[str, Any] = field(hash=False)
    nsfw_level: int = 0
    images: tuple[CivitaiImage, ...] = ()
    files: tuple[CivitaiFile, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = _plain(self)
        d.update(
            trained_words=list(self.trained_words),
            images=[_plain(i) for i in self.images],
            files=[_plain(f) for f in self.files],
        )
        return {"record_version": self.VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CivitaiVersion:
        _check_version(d, cls.VERSION, "Civitai version")
        return cls(
            **{
                **_fields(d, cls),
                "trained_words": tuple(d["trained_words"]),
                "license": dict(d["license"]),
                "images": tuple(CivitaiImage(**i) for i in d["images"]),
                "files": tuple(CivitaiFile(**f) for f in d["files"]),
            }
        )


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _fields(d: dict[str, Any], cls: Any) -> dict[str, Any]:
    return {f.name: d[f.name] for f in fields(cls)}


def _check_version(d: dict[str, Any], version: int, what: str) -> None:
    if d.get("record_version") != version:
        raise ValueError(f"{what} record version {d.get('record_version')!r} is not {version}")


# -- reading the API's JSON ---------------------------------------------------------------------------
class _Shape:
    """Typed reads of one answer; a wrong type raises UpstreamError naming the field."""

    def __init__(self, what: str) -> None:
        self.what = what

    def fail(self, detail: str) -> UpstreamError:
        return UpstreamError(
            f"{self.what}: Civitai answered in an unexpected shape ({detail}). Try again later; if it "
            "persists, check that the Civitai endpoint setting (civitai_endpoint) points at Civitai."
        )

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{where} is a {type(value).__name__}, not an object")
        return value

    def sub(self, d: dict[str, Any], key: str) -> dict[str, Any]:
        """An optional nested object (``{}`` when absent)."""
        value = d.get(key)
        return {} if value is None else self.obj(value, repr(key))

    def get(self, d: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = d.get(key)
        if value is None:
            return default
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(f"{key!r} is a boolean")
        if not isinstance(value, kind):
            raise self.fail(f"{key!r} is a {type(value).__name__}")
        return value

    def need(self, d: dict[str, Any], key: str, kind: type) -> Any:
        value = self.get(d, key, kind)
        if value is None:
            raise self.fail(f"{key!r} is missing")
        return value

    def id(self, d: dict[str, Any], key: str) -> int:
        value: int = self.need(d, key, int)
        if not 0 < value <= MAX_ID:
            raise self.fail(f"{key!r} is {value}, not an id")
        return value

    def text(self, d: dict[str, Any], key: str, limit: int = _NAME, default: str = "") -> str:
        return _clean(self.get(d, key, str, default), limit)

    def items(self, d: dict[str, Any], key: str, limit: int) -> list[dict[str, Any]]:
        return [self.obj(v, f"an entry of {key!r}") for v in self.get(d, key, list, [])[:limit]]


def _clean(text: str, limit: int) -> str:
    return _HIDDEN.sub(" ", text[:limit]).strip()


def _nsfw(level: int) -> int:
    return min(max(level, 0), MAX_NSFW)


def _license(s: _Shape, d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for flag in _LICENSE_FLAGS:
        value = d.get(flag)
        if isinstance(value, bool):
            out[flag] = value
        elif isinstance(value, str):  # older answers: one level ("Sell")
            out[flag] = [_clean(value, _SHORT)]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[flag] = [_clean(v, _SHORT) for v in value[:10]]
        elif value is not None:
            raise s.fail(f"{flag!r} is a {type(value).__name__}")
    return out


def _image(s: _Shape, d: dict[str, Any]) -> CivitaiImage | None:
    url = s.get(d, "url", str, "")
    if not re.match(r"^https?://[^\s/]", url, re.IGNORECASE) or len(url) > MAX_URL:
        return None  # javascript:, data:, relative or absurd addresses are never fetched
    named = d.get("nsfwLevel")
    level = (
        _NSFW_NAMES.get(named.lower(), 0) if isinstance(named, str) else _nsfw(s.get(d, "nsfwLevel", int, 0))
    )
    size = [s.get(d, k, int) for k in ("width", "height")]
    width, height = (v if v is not None and 0 < v <= 1_000_000 else None for v in size)
    kind = "video" if s.get(d, "type", str, "") == "video" else "image"
    return CivitaiImage(url, level, width, height, kind)


def _file(s: _Shape, d: dict[str, Any]) -> CivitaiFile:
    hashes = s.sub(d, "hashes")
    sha = s.get(hashes, "SHA256", str, "").strip().lower()
    size = float(s.get(d, "sizeKB", (int, float), 0.0))
    size = size if math.isfinite(size) and size > 0 else 0.0  # Infinity or NaN is no JSON to show
    return CivitaiFile(s.text(d, "name", 255), sha if _SHA256.match(sha) else None, size)


def model_from_api(raw: Any, what: str) -> CivitaiModel:
    """The ``/api/v1/models/{id}`` answer as a record; versions newest first."""
    s = _Shape(what)
    d = s.obj(raw, "the answer")
    creator = s.sub(d, "creator")
    versions = [
        CivitaiVersionSummary(
            version_id=s.id(v, "id"),
            name=s.text(v, "name"),
            base_model=s.text(v, "baseModel", _SHORT),
            created_at=s.text(v, "createdAt", _SHORT) or None,
            published_at=s.text(v, "publishedAt", _SHORT) or None,
        )
        for v in s.items(d, "modelVersions", MAX_VERSIONS)
    ]
    versions.sort(key=lambda v: (v.published_at or v.created_at or "", v.version_id), reverse=True)
    return CivitaiModel(
        model_id=s.id(d, "id"),
        name=s.text(d, "name"),
        model_type=s.text(d, "type", _SHORT),
        description=html_to_text(s.get(d, "description", str, "")),
        creator=s.text(creator, "username") or None,
        nsfw=s.get(d, "nsfw", bool, False),
        license=_license(s, d),
        versions=tuple(versions),
    )


def version_from_api(raw: Any, what: str, model: CivitaiModel | None, site: str) -> CivitaiVersion:
    """The by-hash answer as a record; ``model`` (its ``/models/{id}``) adds creator, license, text."""
    s = _Shape(what)
    d = s.obj(raw, "the answer")
    about = s.sub(d, "model")
    version_id, model_id = s.id(d, "id"), s.id(d, "modelId")
    words = [_clean(w, 200) for w in s.get(d, "trainedWords", list, [])[:MAX_WORDS] if isinstance(w, str)]
    parts = [model.description if model else "", html_to_text(s.get(d, "description", str, ""))]
    images = [_image(s, i) for i in s.items(d, "images", 200)]
    return CivitaiVersion(
        version_id=version_id,
        model_id=model_id,
        model_name=s.text(about, "name") or (model.name if model else ""),
        version_name=s.text(d, "name"),
        base_model=s.text(d, "baseModel", _SHORT),
        model_type=s.text(about, "type", _SHORT) or (model.model_type if model else ""),
        trained_words=tuple(w for w in words if w),
        description="\n\n".join(p for p in parts if p)[:MAX_TEXT],
        creator=model.creator if model else None,
        page_url=f"{site.rstrip('/')}/models/{model_id}?modelVersionId={version_id}",
        license=dict(model.license) if model else {},
        nsfw_level=_nsfw(s.get(d, "nsfwLevel", int, 0)),
        images=tuple(i for i in images if i is not None)[:MAX_IMAGES],
        files=tuple(_file(s, f) for f in s.items(d, "files", MAX_FILES)),
    )
