"""A Hub repo's model card, reduced to what the library shows: license, tags, base model, the prompt a
LoRA was trained on (``instance_prompt``), and the card's example images (``widget`` outputs).

Everything is read from the card's YAML metadata as huggingface_hub parses it; strings are capped and
image paths must be plain relative paths of the repo (their URLs point at the same Hub endpoint).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_TEXT = 2000
MAX_IMAGES = 10
MAX_TAGS = 50
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class HubCard:
    VERSION = 1

    repo_id: str
    sha: str
    license: str | None = None
    tags: tuple[str, ...] = ()
    base_model: tuple[str, ...] = ()
    instance_prompt: str | None = None
    images: tuple[str, ...] = field(default=())  # repo paths of example images

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.VERSION,
            "repo_id": self.repo_id,
            "sha": self.sha,
            "license": self.license,
            "tags": list(self.tags),
            "base_model": list(self.base_model),
            "instance_prompt": self.instance_prompt,
            "images": list(self.images),
        }


def _text(value: object) -> str | None:
    return value.strip()[:MAX_TEXT] or None if isinstance(value, str) else None


def _texts(value: object, cap: int) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(t for t in (_text(v) for v in value[:cap]) if t)


def _image_path(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    path = value.strip().lstrip("./") if value.startswith("./") else value.strip()
    if (
        not path
        or "://" in path
        or path.startswith("/")
        or "\\" in path
        or ".." in path.split("/")
        or not path.lower().endswith(_IMAGE_SUFFIXES)
    ):
        return None
    return path[:500]


def card_from_info(repo_id: str, info: Any) -> HubCard:
    """``HfApi.model_info``'s answer -> HubCard (tolerant of missing fields, strict on types)."""
    data = getattr(info, "card_data", None)
    card: dict[str, Any] = {}
    if data is not None and hasattr(data, "to_dict"):
        card = dict(data.to_dict())
    elif isinstance(data, dict):
        card = dict(data)
    images: list[str] = []
    widget = card.get("widget")
    for entry in widget if isinstance(widget, list) else []:
        output = entry.get("output") if isinstance(entry, dict) else None
        path = _image_path(output.get("url") if isinstance(output, dict) else None)
        if path and path not in images:
            images.append(path)
    tags = _texts(getattr(info, "tags", None) or card.get("tags"), MAX_TAGS)
    sha = getattr(info, "sha", None)
    return HubCard(
        repo_id=repo_id,
        sha=sha if isinstance(sha, str) else "",
        license=_text(card.get("license")),
        tags=tags,
        base_model=_texts(card.get("base_model"), 10),
        instance_prompt=_text(card.get("instance_prompt")),
        images=tuple(images[:MAX_IMAGES]),
    )
