"""What a model's record shows, computed from everything fetched about it (pure; no network).

``fetched`` is the ``fetched`` section kept in ``metadata.json`` (or ``extras.json``): ``civitai`` (the
model version found by hash), ``civitai_newest`` (the newest version of that Civitai model, when newer),
``huggingface`` (the Hub card) and ``huggingface_newest`` (main's commit when the file changed there).
A site that later deletes a model leaves its part here as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..model_extras import About, SiteOrigin, UpdateInfo
from ..models import Model
from ..taxonomy import MatchKind, Site
from .trigger_words import best_trigger_words

MAX_DESCRIPTION = 20_000


@dataclass(frozen=True)
class Summary:
    site_origins: tuple[SiteOrigin, ...]
    about: About | None
    update: UpdateInfo | None
    trigger_words: tuple[str, ...]
    images: tuple[tuple[Site, str, int], ...]  # (site, url, NSFW level) of the sites' example images


def _str(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    return value[:500] if isinstance(value, str) and value else None


def _license_text(flags: object) -> str | None:
    if not isinstance(flags, Mapping):
        return None
    parts = []
    commercial = flags.get("allowCommercialUse")
    if isinstance(commercial, list):
        parts.append("commercial use: " + (", ".join(str(c) for c in commercial) or "none"))
    elif isinstance(commercial, str):
        parts.append(f"commercial use: {commercial}")
    for key, label in (("allowDerivatives", "derivatives"), ("allowNoCredit", "use without credit")):
        if isinstance(flags.get(key), bool):
            parts.append(f"{label}: {'yes' if flags[key] else 'no'}")
    return "; ".join(parts) or None


def summarize(model: Model, fetched: Mapping[str, Any], *, hub_page: str | None = None) -> Summary:
    """Site origins, what the sites say, a newer version and trigger words, from ``fetched``.

    ``hub_page``: the Hub page of the model's Hugging Face source (its endpoint's), when it has one."""
    origins: list[SiteOrigin] = []
    images: list[tuple[Site, str, int]] = []
    about: About | None = None
    update: UpdateInfo | None = None
    civitai = fetched.get("civitai")
    civitai = civitai if isinstance(civitai, Mapping) else None
    card = fetched.get("huggingface")
    card = card if isinstance(card, Mapping) else None
    if civitai is not None and _str(civitai, "page_url"):
        origins.append(
            SiteOrigin(
                Site.CIVITAI,
                str(_str(civitai, "page_url")),
                _str(civitai, "model_name"),
                _str(civitai, "version_name"),
                MatchKind.HASH,
                1.0,
            )
        )
        description = civitai.get("description")
        about = About(
            description[:MAX_DESCRIPTION] if isinstance(description, str) else "",
            _str(civitai, "creator"),
            _license_text(civitai.get("license")),
            _str(civitai, "page_url"),
        )
        for image in civitai.get("images") or []:
            if isinstance(image, Mapping) and image.get("kind", "image") == "image" and _str(image, "url"):
                level = image.get("nsfw_level")
                images.append((Site.CIVITAI, str(image["url"]), level if isinstance(level, int) else 0))
    newest = fetched.get("civitai_newest")
    if isinstance(newest, Mapping) and _str(newest, "version_name") and _str(newest, "url"):
        update = UpdateInfo(Site.CIVITAI, str(newest["version_name"]), str(newest["url"]))
    if model.source.kind == "huggingface" and model.source.repo_id and hub_page:
        origins.append(
            SiteOrigin(
                Site.HUGGINGFACE,
                hub_page,
                model.source.repo_id,
                (model.source.revision or "")[:12] or None,
                model.source.match,
                model.source.confidence,
            )
        )
        if card is not None:
            license_id = _str(card, "license")
            if about is None:
                about = About("", (model.source.repo_id or "").split("/")[0] or None, license_id, hub_page)
            for path in card.get("image_urls") or []:
                if isinstance(path, str):
                    images.append((Site.HUGGINGFACE, path, 0))
        hub_newest = fetched.get("huggingface_newest")
        if update is None and isinstance(hub_newest, Mapping) and _str(hub_newest, "url"):
            update = UpdateInfo(
                Site.HUGGINGFACE, str(_str(hub_newest, "version_name") or "main"), str(hub_newest["url"])
            )
    trained = civitai.get("trained_words") if civitai is not None else None
    words = best_trigger_words(
        civitai=[w for w in trained if isinstance(w, str)] if isinstance(trained, list) else (),
        instance_prompt=_str(card, "instance_prompt") if card is not None else None,
        metadata=model.metadata,
    )
    return Summary(tuple(origins), about, update, words, tuple(images))
