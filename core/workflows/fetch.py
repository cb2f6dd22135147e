"""Making a workflow's models available: link what the library holds, download what it lacks, by hash.

``fetch`` carries out what a check (:mod:`.resolve`) found, reference by reference:

- ``present`` / our own nodes' models in the library: nothing to do (outcome ``present`` / ``already``);
- ``in_library``: the model is linked under the category and name the workflow expects (``linked``);
- ``downloadable``: downloaded into the library, verified against the workflow's hash when it gives one
  (and always against the Hub's LFS sha256), then linked (``downloaded``); bytes other than the
  workflow's are refused and kept out of the library (``refused``);
- ``missing`` with a hash: the Hub is searched for a file with that SHA-256 (by the file's name); found,
  it is downloaded as above; otherwise it stays missing (``pick``) with its candidates;
- a reference the user resolved by picking a library model (``choices``) is linked to that model.

The same file is downloaded once however many nodes name it. What it takes from the library comes in
through :class:`Provider`, so this module stays free of the catalog, the Hub client and the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Protocol

from ..errors import HashMismatch, ModelLibraryError, NotFound
from ..models import Model
from ..types import CancelCheck, StageProgress
from .references import WorkflowReference
from .resolve import RefAction, RefStatus, Resolution, WorkflowCheck
from .resolve_download import DownloadPlan
from .resolve_library import Candidate


class Outcome(str, Enum):
    PRESENT = "present"  # ComfyUI listed it already
    ALREADY = "already"  # in the library, and visible under that name already (or our node loads it)
    LINKED = "linked"  # linked under the name the workflow expects
    IN_LIBRARY = "in_library"  # the library holds it; no mapped ComfyUI install to link it into
    DOWNLOADED = "downloaded"  # downloaded into the library (and linked where an install is mapped)
    REFUSED = "refused"  # the bytes offered are not the workflow's: nothing was added
    FAILED = "failed"  # tried, and it did not work (the error says why and what to do)
    PICK = "pick"  # missing: the user picks a candidate or supplies the file


@dataclass(frozen=True)
class LinkResult:
    """One install's link for one reference (core/mapping/named_links.py)."""

    ok: bool
    made: bool  # False when the name showed the model already
    comfyui_name: str
    reason: str = ""
    section_changed: bool = False


class Provider(Protocol):
    """What fetching needs from the library (core/services/workflows.py builds it)."""

    def model(self, model_id: str) -> Model | None: ...

    def link(self, model: Model, ref: WorkflowReference) -> list[LinkResult]:
        """Show ``model`` as ``ref.category/ref.name`` in every target install ([] when there is none)."""
        ...

    def download(
        self, plan: DownloadPlan, sha256: str | None, progress: StageProgress, cancelled: CancelCheck
    ) -> Model: ...

    def find_on_hub(self, ref: WorkflowReference, sha256: str) -> DownloadPlan | None: ...

    def candidates(self, ref: WorkflowReference) -> tuple[Candidate, ...]:
        """Library models the user may pick instead (when the file turned out not to be downloadable)."""
        ...


@dataclass(frozen=True)
class FetchedItem:
    resolution: Resolution
    outcome: Outcome
    model: Model | None = None
    comfyui_name: str | None = None
    error: str | None = None
    error_code: str | None = None

    @property
    def available(self) -> bool:
        return self.outcome in (
            Outcome.PRESENT,
            Outcome.ALREADY,
            Outcome.LINKED,
            Outcome.IN_LIBRARY,
            Outcome.DOWNLOADED,
        )

    def to_dict(self) -> dict[str, Any]:
        d = self.resolution.to_dict()
        d["outcome"] = self.outcome.value
        if self.model is not None:
            d["model"] = {"id": self.model.id, "name": self.model.name, "location": self.model.location}
        if self.comfyui_name is not None:
            d["comfyui_name"] = self.comfyui_name
        if self.error is not None:
            d["error"] = self.error
            d["error_code"] = self.error_code
        return d


@dataclass(frozen=True)
class WorkflowFetch:
    items: tuple[FetchedItem, ...]
    installs: tuple[str, ...] = ()  # the installs linked into
    problems: tuple[str, ...] = ()
    sections_changed: bool = False  # a view section gained a category (a running ComfyUI adds it)

    @property
    def available(self) -> bool:
        return all(i.available for i in self.items)

    def counts(self) -> dict[str, int]:
        counts = {o.value: 0 for o in Outcome}
        for item in self.items:
            counts[item.outcome.value] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [i.to_dict() for i in self.items],
            "counts": self.counts(),
            "available": self.available,
            "installs": list(self.installs),
            "problems": list(self.problems),
        }


# (node id, name) -> model id: the candidate the user picked for a reference
Choices = Mapping[tuple[str | None, str], str]


class Fetcher:
    def __init__(self, provider: Provider, *, installs: Sequence[str] = ()) -> None:
        self.provider = provider
        self.installs = tuple(installs)
        self._downloaded: dict[str, Model | ModelLibraryError] = {}
        self._sections = False

    def fetch(
        self,
        check: WorkflowCheck,
        *,
        choices: Choices | None = None,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> WorkflowFetch:
        report = progress or (lambda done, total, stage: None)
        stop = cancelled or (lambda: False)
        chosen = dict(choices or {})
        todo = [r for r in check.items if r.action is not RefAction.NONE]
        items: list[FetchedItem] = []
        step = 0
        for resolution in check.items:
            if resolution.action is RefAction.NONE:
                items.append(_untouched(resolution))
                continue
            step += 1
            ref = resolution.reference
            report(step - 1, len(todo), f"{ref.category}/{ref.name}")
            picked = chosen.get((ref.node_id, ref.name))
            items.append(self._one(resolution, picked, _scaled(report, step, len(todo), ref.name), stop))
        report(len(todo), len(todo), "done")
        return WorkflowFetch(tuple(items), self.installs, check.problems, self._sections)

    def _one(
        self, r: Resolution, picked: str | None, progress: StageProgress, cancelled: CancelCheck
    ) -> FetchedItem:
        if cancelled():
            return FetchedItem(r, Outcome.FAILED, error="cancelled", error_code="cancelled")
        if picked is not None:
            model = self.provider.model(picked)
            if model is None:
                why = f"no library model {picked[:80]!r}: pick one of the candidates"
                return FetchedItem(r, Outcome.FAILED, error=why, error_code="not_found")
            return self._link(replace(r, status=RefStatus.IN_LIBRARY, match="picked"), model, Outcome.LINKED)
        if r.status is RefStatus.IN_LIBRARY and r.model is not None:
            return self._link(r, r.model, Outcome.LINKED)
        plan = r.download
        digest = r.reference.hash
        sha256 = digest.hex if digest is not None and digest.algorithm == "sha256" else None
        if plan is None and sha256 is not None:
            try:
                plan = self.provider.find_on_hub(r.reference, sha256)
            except ModelLibraryError as exc:
                return FetchedItem(r, Outcome.PICK, error=exc.message, error_code=exc.code)
        if plan is None:
            return FetchedItem(r, Outcome.PICK)
        try:
            model = self._download(plan, sha256, progress, cancelled)
        except HashMismatch as exc:
            return FetchedItem(r, Outcome.REFUSED, error=exc.message, error_code=exc.code)
        except ModelLibraryError as exc:
            if exc.code != NotFound.code:
                return FetchedItem(r, Outcome.FAILED, error=exc.message, error_code=exc.code)
            # Not on the Hub (any more): missing after all, with what the library has instead.
            gone = replace(
                r,
                status=RefStatus.MISSING,
                action=RefAction.PICK,
                candidates=r.candidates or self.provider.candidates(r.reference),
                reason=exc.message,
            )
            return FetchedItem(gone, Outcome.PICK, error=exc.message, error_code=exc.code)
        return self._link(replace(r, download=plan), model, Outcome.DOWNLOADED)

    def _download(
        self, plan: DownloadPlan, sha256: str | None, progress: StageProgress, cancelled: CancelCheck
    ) -> Model:
        key = f"{plan.url}\n{sha256 or ''}"
        done = self._downloaded.get(key)
        if done is None:
            try:
                done = self.provider.download(plan, sha256, progress, cancelled)
            except ModelLibraryError as exc:
                done = exc
            self._downloaded[key] = done
        if isinstance(done, ModelLibraryError):
            raise done
        return done

    def _link(self, r: Resolution, model: Model, made: Outcome) -> FetchedItem:
        try:
            results = self.provider.link(model, r.reference)
        except ModelLibraryError as exc:
            return FetchedItem(r, Outcome.FAILED, model, error=exc.message, error_code=exc.code)
        failed = [x for x in results if not x.ok]
        self._sections = self._sections or any(x.section_changed for x in results)
        name = results[0].comfyui_name if results else None
        if failed:
            why = "; ".join(x.reason for x in failed)
            return FetchedItem(r, Outcome.FAILED, model, name, why, "link_failed")
        if made is Outcome.LINKED and not results:
            made = Outcome.IN_LIBRARY  # nothing was linked: no install to link into
        elif made is Outcome.LINKED and not any(x.made for x in results):
            made = Outcome.ALREADY
        return FetchedItem(r, made, model, name)


def _untouched(r: Resolution) -> FetchedItem:
    outcome = Outcome.PRESENT if r.status is RefStatus.PRESENT else Outcome.ALREADY
    return FetchedItem(r, outcome, r.model)


def _scaled(report: StageProgress, step: int, steps: int, name: str) -> StageProgress:
    """A download's byte progress, shown as this reference's step of the whole fetch."""

    def progress(done: int, total: int, stage: str) -> None:
        if total > 0:
            report(step - 1, steps, f"{stage} {name}: {done * 100 // total}%")

    return progress


__all__: Sequence[str] = ("FetchedItem", "Fetcher", "LinkResult", "Outcome", "Provider", "WorkflowFetch")
