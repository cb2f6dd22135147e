"""Resolving every reference of a workflow: is each model available here, and if not, what would make it so.

Per reference, in this order (issue 14):

1. ``present``: ComfyUI lists that exact name in that category (``--comfyui``'s folders, or inside ComfyUI
   its own lists); nothing to do. Our own nodes skip this: they load from the library, not from a list.
2. ``in_library``: the library or a source holds it (by hash, id, exact file name, or a name match the
   type and base model confirm, see :mod:`.resolve_library`); the action is a link under the name the
   workflow expects (none for our nodes).
3. ``downloadable``: its ``url`` may be downloaded (Hugging Face files through our Hub client, on the
   library's endpoint; other hosts only when the host policy allows them, see :mod:`.resolve_download`).
4. ``missing``: with the candidates the library has (similar names, same type and base model) and, when
   a url was refused, why.

Checking reads only: it downloads nothing, links nothing, and asks no network.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..models import Model
from ..net.policy import HostPolicy
from .document import WorkflowFormat
from .references import Extraction, RefSource, WorkflowReference
from .resolve_download import DownloadPlan, plan_download
from .resolve_library import (
    MAX_CANDIDATES,
    Candidate,
    LibraryMatch,
    ModelLookup,
    by_hash,
    by_name,
    same_base_candidates,
    search,
)
from .resolve_listing import Listing, listing_key

HUB_ENDPOINT = "https://huggingface.co"  # the Hub client's default when HF_ENDPOINT is unset


class RefStatus(str, Enum):
    PRESENT = "present"
    IN_LIBRARY = "in_library"
    DOWNLOADABLE = "downloadable"
    MISSING = "missing"


class RefAction(str, Enum):
    """What making the reference available would do."""

    NONE = "none"
    LINK = "link"  # a link to the library's model, under the name the workflow expects
    DOWNLOAD = "download"  # download into the library, verify, then link
    PICK = "pick"  # the user picks a candidate (or supplies the file)


@dataclass(frozen=True)
class Resolution:
    reference: WorkflowReference
    status: RefStatus
    action: RefAction
    model: Model | None = None
    match: str | None = None  # listing | hash | id | file_name | name
    download: DownloadPlan | None = None
    candidates: tuple[Candidate, ...] = ()
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        ref = self.reference
        d: dict[str, Any] = {
            "node_id": ref.node_id,
            "node_type": ref.node_type,
            "input_name": ref.input_name,
            "category": ref.category,
            "name": ref.name,
            "status": self.status.value,
            "action": self.action.value,
            "match": self.match,
        }
        if ref.hash is not None:
            d["hash"] = str(ref.hash)
        if ref.url is not None:
            d["url"] = ref.url
        if self.model is not None:
            d["model"] = {"id": self.model.id, "name": self.model.name, "location": self.model.location}
        if self.download is not None:
            d["download"] = self.download.to_dict()
        if self.candidates:
            d["candidates"] = [
                {"id": c.model.id, "name": c.model.name, "score": c.score} for c in self.candidates
            ]
        if self.reason is not None:
            d["reason"] = self.reason
        return d


@dataclass(frozen=True)
class WorkflowCheck:
    """Every reference of one workflow with its status; ``problems`` are the extraction's (skipped parts)."""

    format: WorkflowFormat
    items: tuple[Resolution, ...]
    problems: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        """True when every model is there already (present, or our nodes' models in the library)."""
        return all(r.action is RefAction.NONE for r in self.items)

    def counts(self) -> dict[str, int]:
        counted = Counter(r.status.value for r in self.items)
        return {s.value: counted.get(s.value, 0) for s in RefStatus}

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [r.to_dict() for r in self.items],
            "format": self.format.value,
            "counts": self.counts(),
            "problems": list(self.problems),
        }


class Resolver:
    """Resolves references against one library (``catalog``), one ComfyUI listing and the host policy."""

    def __init__(
        self,
        catalog: ModelLookup,
        *,
        listing: Listing | None = None,
        policy: HostPolicy | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.listing = listing
        self.policy = policy or HostPolicy(endpoint)
        self.endpoint = (endpoint or HUB_ENDPOINT).rstrip("/")
        self._listed: dict[str, frozenset[str]] = {}

    def check(self, extraction: Extraction) -> WorkflowCheck:
        refs = extraction.references
        present = [self._present(r) for r in refs]
        first: list[LibraryMatch | None] = [
            None if listed else by_hash(self.catalog, r) for r, listed in zip(refs, present)
        ]
        models = [m.model for m in first if m is not None and m.model is not None]
        bases = frozenset(str(m.base_model) for m in models if m.base_model != "unknown")
        items: list[Resolution] = []
        for ref, listed, found in zip(refs, present, first):
            if listed:
                items.append(Resolution(ref, RefStatus.PRESENT, RefAction.NONE, match="listing"))
            else:
                items.append(self._resolve(ref, found, bases))
        return WorkflowCheck(extraction.format, tuple(items), extraction.problems)

    def _present(self, ref: WorkflowReference) -> bool:
        if self.listing is None or RefSource.LIBRARY_NODE in ref.sources:
            return False
        names = self._listed.get(ref.category)
        if names is None:
            names = self._listed[ref.category] = frozenset(listing_key(n) for n in self.listing(ref.category))
        return listing_key(ref.name) in names

    def _resolve(
        self, ref: WorkflowReference, found: LibraryMatch | None, bases: frozenset[str]
    ) -> Resolution:
        hits: list[Model] | None = None
        if found is None:
            hits = search(self.catalog, ref)
            found = by_name(self.catalog, ref, bases, hits)
            if found.model is not None and (ref.hash is not None or ref.library_id):
                # The workflow says which bytes: a model of the same name with other bytes is not it.
                alike = (Candidate(found.model, 1.0), *found.candidates)
                found = LibraryMatch(None, None, alike[:MAX_CANDIDATES])
        if found.model is not None:
            action = RefAction.NONE if RefSource.LIBRARY_NODE in ref.sources else RefAction.LINK
            return Resolution(ref, RefStatus.IN_LIBRARY, action, found.model, found.match)
        reason = None
        if ref.url:
            plan, reason = plan_download(ref.url, self.policy, self.endpoint)
            if plan is not None:
                return Resolution(ref, RefStatus.DOWNLOADABLE, RefAction.DOWNLOAD, download=plan)
        elif ref.hash is None and not ref.library_id:
            reason = "the workflow gives no url or hash for it"
        else:
            reason = "no model with this hash in the library, and the workflow gives no url"
        if hits is not None and not hits:  # nothing like its whole name: look wider, for candidates only
            found = by_name(self.catalog, ref, bases, search(self.catalog, ref, broad=True))
            if found.model is not None:
                found = LibraryMatch(None, None, (Candidate(found.model, 1.0), *found.candidates))
        candidates = same_base_candidates(self.catalog, ref, bases, found.candidates[:MAX_CANDIDATES])
        return Resolution(ref, RefStatus.MISSING, RefAction.PICK, candidates=candidates, reason=reason)

    def candidates(
        self, ref: WorkflowReference, bases: frozenset[str] = frozenset()
    ) -> tuple[Candidate, ...]:
        """Library models a user may pick for ``ref``: alike names (widening when none is), then models
        of the category's type and the workflow's base model."""
        found = by_name(self.catalog, ref, bases, search(self.catalog, ref))
        if found.model is None and not found.candidates:
            found = by_name(self.catalog, ref, bases, search(self.catalog, ref, broad=True))
        alike = ((Candidate(found.model, 1.0),) if found.model is not None else ()) + tuple(found.candidates)
        return same_base_candidates(self.catalog, ref, bases, alike[:MAX_CANDIDATES])


def resolve_references(
    extraction: Extraction,
    catalog: ModelLookup,
    *,
    listing: Listing | None = None,
    policy: HostPolicy | None = None,
    endpoint: str | None = None,
) -> WorkflowCheck:
    return Resolver(catalog, listing=listing, policy=policy, endpoint=endpoint).check(extraction)


def summary_line(resolution: Resolution) -> str:
    """What we would do, in words (the CLI's last column)."""
    r = resolution
    if r.status is RefStatus.PRESENT:
        return "ComfyUI lists it"
    if r.status is RefStatus.IN_LIBRARY and r.model is not None:
        how = {"hash": "by hash", "id": "by id", "file_name": "by file name", "name": "by name"}.get(
            r.match or "", ""
        )
        if r.action is RefAction.NONE:
            return f"in the library {how}: {r.model.name}".replace("  ", " ")
        return f"link library model {r.model.name} ({r.model.id[:8]}, found {how})"
    if r.status is RefStatus.DOWNLOADABLE and r.download is not None:
        return f"download {r.download.url}"
    text = "missing"
    if r.reason:
        text += f": {r.reason}"
    if r.candidates:
        text += "; candidates: " + ", ".join(f"{c.model.name} ({c.score:.2f})" for c in r.candidates[:3])
    return text


__all__: Sequence[str] = (
    "RefAction",
    "RefStatus",
    "Resolution",
    "Resolver",
    "WorkflowCheck",
    "resolve_references",
    "summary_line",
)
