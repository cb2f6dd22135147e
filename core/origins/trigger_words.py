"""A model's trigger words, from the best source that has any: Civitai's trained words, the Hub card's
``instance_prompt``, the file's ``modelspec.trigger_phrase``, or the most frequent tags it was trained on
(kohya's ``ss_tag_frequency``). A user's own words are never replaced (``manual_fields``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence

from ..model_extras import clean_trigger_words

TOP_TAGS = 5


def from_tag_frequency(raw: str | None, top: int = TOP_TAGS) -> tuple[str, ...]:
    """The ``top`` most frequent tags of kohya's ``{"dataset": {"tag": count}}`` JSON (summed)."""
    if not raw:
        return ()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return ()  # a value capped at import, or not JSON
    counts: Counter[str] = Counter()
    if isinstance(data, dict):
        for tags in data.values():
            if isinstance(tags, dict):
                for tag, n in tags.items():
                    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                        counts[str(tag).strip()] += n
    return clean_trigger_words([tag for tag, _ in counts.most_common(top) if tag])


def from_phrase(phrase: str | None) -> tuple[str, ...]:
    """``modelspec.trigger_phrase`` / ``instance_prompt``: comma-separated words."""
    if not phrase:
        return ()
    return clean_trigger_words(phrase.split(","))


def local_trigger_words(metadata: Mapping[str, str]) -> tuple[str, ...]:
    """Trigger words the file itself names (no network)."""
    return from_phrase(metadata.get("modelspec.trigger_phrase")) or from_tag_frequency(
        metadata.get("ss_tag_frequency")
    )


def best_trigger_words(
    *,
    civitai: Sequence[str] = (),
    instance_prompt: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """The first non-empty of Civitai's trained words, the Hub card's prompt, and the file's own."""
    return clean_trigger_words(civitai) or from_phrase(instance_prompt) or local_trigger_words(metadata or {})
