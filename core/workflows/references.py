"""What a workflow references: the values, and how references from several places become one.

A reference is one model file one node needs (or, from a top-level ``models`` list, the workflow as a
whole): its ``folder_paths`` category and file name, and when the workflow says so, where to download it
and its content hash. Three places name files, and the same file named in two of them is ONE reference:

* a loader's file-name widget (``RefSource.WIDGET``), e.g. ``LoraLoader.lora_name``;
* the node's ``properties.models`` entries (``NODE_MODELS``): ``{name, url, directory, hash?,
  hash_type?}``, which the frontend writes beside the widget; an entry naming the widget's file (same
  name, or same base name) merges into the widget's reference and gives it its url and hash;
* the workflow's top-level ``models`` list (``WORKFLOW_MODELS``), merged likewise into every reference of
  that category and name, else kept on its own with no node;
* our own nodes (``LIBRARY_NODE``): the picked label ``"name [1a2b3c4d]"`` (the bracket: the start of the
  model id) and ``model_ref`` = ``blake3:<hex>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from .document import WorkflowFormat
from .loaders import LEGACY_ALIASES, NOT_FILES

MAX_NAME_CHARS = 4096
_CATEGORY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]*(?:/[A-Za-z0-9_][A-Za-z0-9_.\- ]*)*$")
MAX_PROBLEMS = 200  # listed in an Extraction; the rest are counted
HEX_DIGEST = {"sha256": re.compile(r"^[0-9a-f]{64}$"), "blake3": re.compile(r"^[0-9a-f]{64}$")}


class RefSource(str, Enum):
    WIDGET = "widget"
    NODE_MODELS = "node_models"
    WORKFLOW_MODELS = "workflow_models"
    LIBRARY_NODE = "library_node"


@dataclass(frozen=True)
class ContentHash:
    algorithm: str  # "sha256" | "blake3"
    hex: str  # lower case

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


@dataclass(frozen=True)
class WorkflowReference:
    """One model file a workflow needs. ``node_id`` is subgraph-qualified (``"12:5"``: node 5 inside the
    subgraph instance 12), None for a top-level ``models`` entry no node names."""

    node_id: str | None
    node_type: str | None
    category: str
    name: str
    url: str | None = None
    hash: ContentHash | None = None
    sources: tuple[RefSource, ...] = ()
    input_name: str | None = None
    library_id: str | None = None  # our nodes: the model id (or its start) the label or model_ref names


@dataclass(frozen=True)
class Extraction:
    """Every reference of one workflow, and what was skipped as malformed (with why), in reading order."""

    format: WorkflowFormat
    references: tuple[WorkflowReference, ...]
    problems: tuple[str, ...] = ()


def category_name(category: str) -> str:
    return LEGACY_ALIASES.get(category, category)


def base_name(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def file_name(value: object) -> str | None:
    """A widget value that names a file, or None (non-strings, empty, and the non-file choices)."""
    if not isinstance(value, str):
        return None
    name = value.strip()
    if not name or name in NOT_FILES or len(name) > MAX_NAME_CHARS:
        return None
    return name


def parse_hash(algorithm: object, digest: object) -> ContentHash | None:
    """``(hash_type, hash)`` of a models entry; ``"SHA256"`` is ComfyUI's spelling. None if malformed."""
    if not isinstance(algorithm, str) or not isinstance(digest, str):
        return None
    algo, hexdigest = algorithm.strip().lower().replace("-", ""), digest.strip().lower()
    if ":" in hexdigest:
        prefix, _, rest = hexdigest.partition(":")
        if prefix != algo:
            return None
        hexdigest = rest
    pattern = HEX_DIGEST.get(algo)
    return ContentHash(algo, hexdigest) if pattern and pattern.match(hexdigest) else None


@dataclass(frozen=True)
class ModelEntry:
    """One checked ``models`` entry."""

    name: str
    category: str
    url: str | None
    hash: ContentHash | None


def model_entry(entry: object, where: str, problems: list[str]) -> ModelEntry | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: a models entry must be an object, not {type(entry).__name__}; skipped")
        return None
    name, directory = file_name(entry.get("name")), entry.get("directory")
    if name is None or not isinstance(directory, str) or not directory.strip():
        problems.append(f"{where}: a models entry needs a 'name' and a 'directory'; skipped")
        return None
    directory = directory.strip()
    if len(directory) > 255 or not _CATEGORY.match(directory) or ".." in directory.split("/"):
        problems.append(f"{where}: {name!r} has a directory that is not a model category name; skipped")
        return None
    url = entry.get("url")
    if url is not None and not (isinstance(url, str) and url.startswith(("https://", "http://"))):
        problems.append(f"{where}: {name!r} has a url that is not http(s); the url is ignored")
        url = None
    digest = None
    if entry.get("hash") not in (None, ""):
        digest = parse_hash(entry.get("hash_type"), entry.get("hash"))
        if digest is None:
            problems.append(f"{where}: {name!r} has a hash that is not a SHA256 hex digest; ignored")
    return ModelEntry(name, category_name(directory), url, digest)


@dataclass
class _Draft:
    node_id: str | None
    node_type: str | None
    category: str
    name: str
    url: str | None = None
    hash: ContentHash | None = None
    sources: list[RefSource] = field(default_factory=list)
    input_name: str | None = None
    library_id: str | None = None

    def absorb(self, source: RefSource, url: str | None, digest: ContentHash | None) -> None:
        self.url = self.url or url
        self.hash = self.hash or digest
        if source not in self.sources:
            self.sources.append(source)

    def frozen(self) -> WorkflowReference:
        return WorkflowReference(
            self.node_id,
            self.node_type,
            self.category,
            self.name,
            self.url,
            self.hash,
            tuple(self.sources),
            self.input_name,
            self.library_id,
        )


class Collector:
    """References as they are found, merged by (node, category, name) and by models entries."""

    def __init__(self) -> None:
        self.drafts: dict[tuple[str | None, str, str], _Draft] = {}
        self.by_node: dict[str | None, list[_Draft]] = {}
        self.by_file: dict[tuple[str, str], list[_Draft]] = {}  # (category, base name)
        self.problems: list[str] = []

    def add(self, draft: _Draft, source: RefSource) -> _Draft:
        key = (draft.node_id, draft.category, draft.name)
        known = self.drafts.get(key)
        if known is None:
            self.drafts[key] = known = draft
            self.by_node.setdefault(draft.node_id, []).append(draft)
            self.by_file.setdefault((draft.category, base_name(draft.name)), []).append(draft)
        known.absorb(source, draft.url, draft.hash)
        if known.library_id is None:
            known.library_id = draft.library_id
        return known

    def node_models(self, node_id: str, node_type: str, models: object, where: str) -> None:
        """A node's ``properties.models``: each entry joins that node's reference to the same file."""
        if not isinstance(models, list):
            self.problems.append(f"{where}: properties.models must be a list; skipped")
            return
        for raw in models:
            entry = model_entry(raw, where, self.problems)
            if entry is None:
                continue
            match = self._match(entry, self.by_node.get(node_id, ()))
            if match is None:
                draft = _Draft(node_id, node_type, entry.category, entry.name, entry.url, entry.hash)
                self.add(draft, RefSource.NODE_MODELS)
            else:
                if match.category != entry.category:
                    self.problems.append(
                        f"{where}: models entry {entry.name!r} says directory {entry.category!r}, the "
                        f"node's widget asks {match.category!r}; the widget's category is kept"
                    )
                match.absorb(RefSource.NODE_MODELS, entry.url, entry.hash)

    def workflow_models(self, models: object) -> None:
        """The top-level ``models`` list: merged into every reference to the same file, else kept alone."""
        if models is None:
            return
        if not isinstance(models, list):
            self.problems.append("workflow: the top-level 'models' must be a list; skipped")
            return
        for raw in models:
            entry = model_entry(raw, "workflow models", self.problems)
            if entry is None:
                continue
            same = list(self.by_file.get((entry.category, base_name(entry.name)), ()))
            for draft in same:
                draft.absorb(RefSource.WORKFLOW_MODELS, entry.url, entry.hash)
            if not same:
                draft = _Draft(None, None, entry.category, entry.name, entry.url, entry.hash)
                self.add(draft, RefSource.WORKFLOW_MODELS)

    @staticmethod
    def _match(entry: ModelEntry, drafts: Iterable[_Draft]) -> _Draft | None:
        candidates = [d for d in drafts if d.sources != [RefSource.NODE_MODELS]]
        exact = [d for d in candidates if d.name == entry.name]
        if exact:
            return exact[0]
        loose = [d for d in candidates if _same_file(d.name, entry.name)]
        return loose[0] if len(loose) == 1 else None

    def result(self, fmt: WorkflowFormat) -> Extraction:
        problems = self.problems[:MAX_PROBLEMS]
        if len(self.problems) > MAX_PROBLEMS:
            problems.append(f"... and {len(self.problems) - MAX_PROBLEMS} more problems like these")
        return Extraction(fmt, tuple(d.frozen() for d in self.drafts.values()), tuple(problems))


def _same_file(a: str, b: str) -> bool:
    return a == b or base_name(a) == base_name(b)


def new_draft(
    node_id: str | None,
    node_type: str | None,
    category: str,
    name: str,
    *,
    input_name: str | None = None,
    library_id: str | None = None,
    digest: ContentHash | None = None,
) -> _Draft:
    return _Draft(node_id, node_type, category_name(category), name, None, digest, [], input_name, library_id)
