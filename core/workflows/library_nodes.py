"""Our own nodes in a workflow (see nodes/): which input holds the choice, and what it says.

Each stores the picked label, ``"name [1a2b3c4d]"`` (the bracket holds the start of the model id, itself
the start of the content BLAKE3; Library Model Path prefixes the model type: ``"lora/name [..]"``), and
``model_ref``: ``blake3:<hex>`` (or ``sha256:<hex>``, or an id). Another machine resolves the same bytes
through either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..mapping.config import DEFAULT_CATEGORIES
from .references import ContentHash, parse_hash

ANY_CATEGORY = "model_library"  # Library Model Path of a type with no default category: found by id/hash


@dataclass(frozen=True)
class LibraryNode:
    choice: str  # the input holding the label
    index: int  # its widget index; model_ref is the last widget
    ref_index: int
    category: str | None  # None: from the label's type prefix (Library Model Path)


LIBRARY_NODES = {
    "LibraryCheckpointLoader": LibraryNode("checkpoint", 0, 1, "checkpoints"),
    "LibraryLoraLoader": LibraryNode("lora", 0, 3, "loras"),
    "LibraryLoraLoaderModelOnly": LibraryNode("lora", 0, 2, "loras"),
    "LibraryVAELoader": LibraryNode("vae", 0, 1, "vae"),
    "LibraryModelPath": LibraryNode("model", 0, 1, None),
}
_LABEL_ID = re.compile(r"\[([0-9a-fA-F]{6,64})\]\s*$")
_BARE_ID = re.compile(r"^[0-9a-fA-F]{6,64}$")


@dataclass(frozen=True)
class LibraryChoice:
    category: str
    name: str
    library_id: str | None
    hash: ContentHash | None


def library_choice(node: LibraryNode, label: object, model_ref: object) -> LibraryChoice | None:
    """What one of our nodes names, or None when neither the label nor model_ref says anything."""
    text = label.strip() if isinstance(label, str) else ""
    ref = model_ref.strip() if isinstance(model_ref, str) else ""
    library_id = None
    match = _LABEL_ID.search(text)
    if match:
        library_id = match.group(1).lower()
        text = text[: match.start()].strip()
    digest = None
    if ":" in ref:
        algorithm, _, hexdigest = ref.partition(":")
        digest = parse_hash(algorithm, hexdigest)
    elif _BARE_ID.match(ref):
        library_id = ref.lower()
    if digest is not None and digest.algorithm == "blake3" and library_id is None:
        library_id = digest.hex
    category = node.category
    if category is None:
        model_type, sep, rest = text.partition("/")
        category = DEFAULT_CATEGORIES.get(model_type, ANY_CATEGORY) if sep else ANY_CATEGORY
        if sep and (model_type in DEFAULT_CATEGORIES or model_type == "unknown"):
            text = rest
    if not text and library_id is None and digest is None:
        return None
    return LibraryChoice(category, text or (library_id or str(digest)), library_id, digest)
