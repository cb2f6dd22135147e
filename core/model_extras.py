"""What a model is besides its bytes: trigger words, a preview, the sites it comes from, a newer version,
and what those sites say of it. Frozen values with the CONTRACT.md JSON shapes (``to_dict``) and strict
``from_dict`` readers for what the catalog and ``metadata.json`` keep.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .taxonomy import MatchKind, PreviewSource, Site, Vocabulary

API_PREFIX = "/model-library/v1"
MAX_TRIGGER_WORDS = 64
MAX_TRIGGER_WORD_CHARS = 200
# Civitai's scale (bit flags): 1 PG, 2 PG-13, 4 R, 8 X, 16 XXX; 0 unknown.
NSFW_LEVELS = {"PG": 1, "PG-13": 2, "R": 4, "X": 8, "XXX": 16}


def _printable(text: str) -> str:
    """Without control characters and bidirectional overrides (a word that reorders or hides text)."""
    return "".join(ch for ch in text if unicodedata.category(ch) not in _HIDDEN and ch not in _BIDI)


_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def clean_trigger_words(words: Sequence[object]) -> tuple[str, ...]:
    """Trimmed, de-duplicated (case-insensitively), non-empty words of printable characters; at most 64
    of at most 200 characters (a site's or a user's: they end up in prompts and on screens)."""
    seen: set[str] = set()
    kept: list[str] = []
    for word in words:
        text = " ".join(_printable(str(word)).split())[:MAX_TRIGGER_WORD_CHARS].strip(" ,")
        if text and text.lower() not in seen:
            seen.add(text.lower())
            kept.append(text)
        if len(kept) >= MAX_TRIGGER_WORDS:
            break
    return tuple(kept)


def _opt(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    return value if isinstance(value, str) and value else None


V = TypeVar("V", bound=Vocabulary)


def _member(vocabulary: type[V], value: object) -> V | None:
    return vocabulary.parse(value) if isinstance(value, str) else None


def _http(value: object) -> str | None:
    """An http(s) URL from a record, else None (a ``javascript:`` or ``file:`` link is never kept)."""
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def _confidence(value: object) -> float:
    """0..1 from a record; NaN, Infinity (``1e999`` reads as it) and non-numbers are 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0.0
    return min(max(float(value), 0.0), 1.0)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class Preview:
    """The model's preview image: ``tag`` changes with the pixels (the URL's cache buster and ETag)."""

    source: PreviewSource
    tag: str
    nsfw_level: int = 0

    def to_dict(self, model_id: str) -> dict[str, Any]:
        return {
            "url": f"{API_PREFIX}/models/{model_id}/preview?v={self.tag}",
            "source": self.source,
            "nsfw_level": self.nsfw_level,
        }

    def to_record(self) -> dict[str, Any]:
        return {"source": self.source, "tag": self.tag, "nsfw_level": self.nsfw_level}

    @classmethod
    def from_record(cls, d: object) -> Preview | None:
        if not isinstance(d, Mapping):
            return None
        source = _member(PreviewSource, d.get("source"))
        tag = d.get("tag")
        if source is None or not isinstance(tag, str) or not tag.isalnum() or len(tag) > 64:
            return None
        return cls(source, tag, _int(d.get("nsfw_level")))


@dataclass(frozen=True)
class SiteOrigin:
    """A page a model's bytes are published on."""

    site: Site
    url: str
    model_name: str | None = None
    version_name: str | None = None
    match: MatchKind = MatchKind.HASH
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"site": self.site, "url": self.url}
        if self.model_name is not None:
            d["model_name"] = self.model_name
        if self.version_name is not None:
            d["version_name"] = self.version_name
        d["match"] = self.match
        d["confidence"] = self.confidence
        return d

    @classmethod
    def from_dict(cls, d: object) -> SiteOrigin | None:
        if not isinstance(d, Mapping):
            return None
        site, url = _member(Site, d.get("site")), d.get("url")
        if site is None or not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return None
        return cls(
            site,
            url,
            _opt(d, "model_name"),
            _opt(d, "version_name"),
            _member(MatchKind, d.get("match")) or MatchKind.NONE,
            _confidence(d.get("confidence", 1.0)),
        )


@dataclass(frozen=True)
class UpdateInfo:
    """A newer version of the same model on its site: shown, never fetched without the user's go."""

    site: Site
    version_name: str
    url: str

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "version_name": self.version_name, "url": self.url}

    @classmethod
    def from_dict(cls, d: object) -> UpdateInfo | None:
        if not isinstance(d, Mapping):
            return None
        site, name, url = _member(Site, d.get("site")), d.get("version_name"), _http(d.get("url"))
        if site is None or not isinstance(name, str) or not isinstance(url, str):
            return None
        return cls(site, name, url)


@dataclass(frozen=True)
class About:
    """What the sites say of a model, as plain text (never HTML)."""

    description: str = ""
    creator: str | None = None
    license: str | None = None
    page_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "creator": self.creator,
            "license": self.license,
            "page_url": self.page_url,
        }

    @classmethod
    def from_dict(cls, d: object) -> About:
        if not isinstance(d, Mapping):
            return cls()
        description = d.get("description")
        return cls(
            description if isinstance(description, str) else "",
            _opt(d, "creator"),
            _opt(d, "license"),
            _http(d.get("page_url")),
        )
