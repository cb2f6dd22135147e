"""The workflows service: the models a workflow references, checked against this library and a ComfyUI,
and made available on request.

``check`` reads only (no download, no link, no network): it extracts the references
(:mod:`core.workflows.extract`) and resolves each (:mod:`core.workflows.resolve`). ``fetch`` carries the
check out (:mod:`core.workflows.fetch`): library models are linked under the names the workflow expects by
the mapping service, missing ones are downloaded by the Hub service (verified against the workflow's hash)
into the library and linked the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..catalog.store import Catalog
from ..config import LibraryConfig
from ..errors import HashMismatch, InvalidInput, ModelLibraryError
from ..links.registry import AppRecord
from ..mapping.comfyui import read_install
from ..mapping.named_links import LinkStatus
from ..models import Model
from ..net.policy import HostPolicy
from ..types import CancelCheck, OnChanged, StageProgress
from ..workflows import Workflow, extract_references
from ..workflows.fetch import Fetcher, LinkResult, Outcome, WorkflowFetch
from ..workflows.loaders import CORE_LOADERS, LoaderMap
from ..workflows.references import WorkflowReference
from ..workflows.resolve import Resolver, WorkflowCheck
from ..workflows.resolve_download import DownloadPlan, HubFile, hub_resolve_url
from ..workflows.resolve_library import Candidate, by_hash, by_name, search
from ..workflows.resolve_listing import InstallListing, Listing
from ..workflows.stamp import StampInfo, StampResult, stamp
from .base import HubServiceBase, MappingServiceBase, PathArg

HUB_ENDPOINT = "https://huggingface.co"
CHANGING = (Outcome.LINKED, Outcome.DOWNLOADED)
# References resolved per request: each costs a few catalog searches, and strangers may post workflows.
MAX_REFERENCES = 2000


class WorkflowService:
    def __init__(
        self,
        config: LibraryConfig,
        repo: Catalog,
        mapping: MappingServiceBase,
        hub: HubServiceBase,
        *,
        on_changed: OnChanged | None = None,
    ) -> None:
        self.config = config
        self.repo = repo
        self.mapping = mapping
        self.hub = hub
        self._changed = on_changed

    @property
    def endpoint(self) -> str | None:
        return self.config.hf_endpoint

    def listing_for(self, comfyui_dir: PathArg | None = None) -> Listing | None:
        """The ComfyUI install's lists read from its folders; None when no install is given or configured."""
        chosen = comfyui_dir if comfyui_dir is not None else self.config.comfyui_root
        return None if chosen is None else InstallListing(read_install(chosen))

    def resolver(self, *, comfyui_dir: PathArg | None = None, listing: Listing | None = None) -> Resolver:
        return Resolver(
            self.repo,
            listing=listing if listing is not None else self.listing_for(comfyui_dir),
            policy=HostPolicy.from_config(self.config),
            endpoint=self.endpoint,
        )

    def check(
        self,
        workflow: Workflow,
        *,
        comfyui_dir: PathArg | None = None,
        listing: Listing | None = None,
        loaders: LoaderMap | None = None,
    ) -> WorkflowCheck:
        """``loaders``: which node inputs name model files (inside ComfyUI, read from its nodes, so custom
        loaders count); the table of ComfyUI's core loaders otherwise."""
        extraction = extract_references(workflow, loaders if loaders is not None else CORE_LOADERS)
        if len(extraction.references) > MAX_REFERENCES:
            raise InvalidInput(
                f"{workflow.label} names {len(extraction.references)} model files; at most "
                f"{MAX_REFERENCES} are checked at once (a real workflow names a few dozen): split it."
            )
        resolver = self.resolver(comfyui_dir=comfyui_dir, listing=listing)
        return resolver.check(extraction)

    def stamp(self, workflow: Workflow) -> StampResult:
        """The workflow with our SHA-256 (and the Hub url when known) on each loader whose file the library
        holds for certain: by the workflow's own hash or id, or by that exact file name. A name that only
        looks alike is never stamped: a wrong hash would send other machines after other bytes."""

        def lookup(ref: WorkflowReference) -> StampInfo | None:
            found = by_hash(self.repo, ref)
            if found is None or found.model is None:
                found = by_name(self.repo, ref, frozenset(), search(self.repo, ref))
            model = found.model if found.match in ("hash", "id", "file_name") else None
            if model is None or not model.hashes.sha256 or not model.hashed:
                return None
            return StampInfo(model.hashes.sha256.lower(), hub_url(model))

        return stamp(workflow, lookup)

    def fetch(
        self,
        workflow: Workflow,
        *,
        comfyui_dir: PathArg | None = None,
        listing: Listing | None = None,
        loaders: LoaderMap | None = None,
        choices: Mapping[tuple[str | None, str], str] | None = None,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> WorkflowFetch:
        """Make every reference available: link, download (verified), link. Nothing of the user's is
        replaced; a name held by something else is reported on its reference."""
        apps = self.mapping.targets(comfyui_dir)  # an unmapped install is refused before any work
        check = self.check(workflow, comfyui_dir=comfyui_dir, listing=listing, loaders=loaders)
        provider = _Provider(self, apps)
        fetcher = Fetcher(provider, installs=[a.id for a in apps])
        result = fetcher.fetch(check, choices=choices, progress=progress, cancelled=cancelled)
        touched = [i.model.id for i in result.items if i.model is not None and i.outcome in CHANGING]
        if touched and self._changed is not None:
            # "mapped:workflow": a running ComfyUI re-reads its lists (and adds a view folder now in use).
            self._changed(list(dict.fromkeys(touched)), "mapped:workflow")
        return result


def hub_url(model: Model) -> str | None:
    """The Hugging Face resolve URL of a model downloaded from (or matched by hash on) the Hub."""
    src = model.source
    if src.kind != "huggingface" or not src.repo_id or not src.filename or src.match != "hash":
        return None
    file = HubFile(src.repo_id, src.revision or "main", src.filename)
    return hub_resolve_url(HUB_ENDPOINT, file)


class _Provider:
    """What the fetcher takes from the library: models, links (mapping), downloads (Hub)."""

    def __init__(self, service: WorkflowService, apps: Sequence[AppRecord]) -> None:
        self.service = service
        self.apps = tuple(apps)

    def model(self, model_id: str) -> Model | None:
        return self.service.repo.find(model_id)

    def link(self, model: Model, ref: WorkflowReference) -> list[LinkResult]:
        sha256 = ref.hash.hex if ref.hash is not None and ref.hash.algorithm == "sha256" else None
        made = self.service.mapping.show_as(model, ref.category, ref.name, self.apps, sha256=sha256)
        return [
            LinkResult(
                n.status in (LinkStatus.LINKED, LinkStatus.ALREADY),
                n.status is LinkStatus.LINKED,
                n.comfyui_name or ref.name.replace("\\", "/"),
                n.reason,
                n.section_changed,
            )
            for n in made
        ]

    def download(
        self, plan: DownloadPlan, sha256: str | None, progress: StageProgress, cancelled: CancelCheck
    ) -> Model:
        hub = plan.hub
        if hub is None:
            raise ModelLibraryError(
                f"{plan.url} is not a Hugging Face file; download it yourself and import it."
            )
        items = self.service.hub.download(
            hub.repo_id,
            [hub.filename],
            hub.revision,
            progress=progress,
            cancelled=cancelled,
            expected_sha256={hub.filename: sha256} if sha256 else None,
        )
        item = items[0] if items else None
        if item is not None and item.model is not None:
            return item.model
        message = (item.error if item is not None else None) or f"nothing was downloaded from {plan.url}"
        code = item.error_code if item is not None else None
        error: ModelLibraryError = (
            HashMismatch(message) if code == HashMismatch.code else ModelLibraryError(message)
        )
        if code:
            error.code = code
        raise error

    def candidates(self, ref: WorkflowReference) -> tuple[Candidate, ...]:
        return Resolver(self.service.repo).candidates(ref)

    def find_on_hub(self, ref: WorkflowReference, sha256: str) -> DownloadPlan | None:
        found = self.service.hub.find_file(ref.name, sha256)
        if found is None:
            return None
        file = HubFile(found.repo_id, found.revision or "main", found.filename)
        endpoint = self.service.endpoint or HUB_ENDPOINT
        return DownloadPlan(hub_resolve_url(endpoint, file), file, size=found.size)
