"""The workflows service: the models a workflow references, checked against this library and a ComfyUI.

``check`` reads only (no download, no link, no network): it extracts the references
(:mod:`core.workflows.extract`) and resolves each (:mod:`core.workflows.resolve`). Making them available
(``fetch``: link what the library holds, download what it lacks) is built on the same resolution.
"""

from __future__ import annotations

from ..catalog.store import Catalog
from ..config import LibraryConfig
from ..mapping.comfyui import read_install
from ..net.policy import HostPolicy
from ..workflows import Workflow, extract_references
from ..workflows.resolve import Resolver, WorkflowCheck
from ..workflows.resolve_listing import InstallListing, Listing
from .base import PathArg


class WorkflowService:
    def __init__(self, config: LibraryConfig, repo: Catalog) -> None:
        self.config = config
        self.repo = repo

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
    ) -> WorkflowCheck:
        resolver = self.resolver(comfyui_dir=comfyui_dir, listing=listing)
        return resolver.check(extract_references(workflow))
