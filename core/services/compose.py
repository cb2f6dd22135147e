"""The one place the library's services are wired: ``compose(config, db)`` builds each service on the shared
stores (the catalog database, the model repository) and hands each one only the others' operations it needs
(a write guard, a "changed" publisher, mapping's auto-sync, ...), in dependency order. No service builds
another, and none sees the facade.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..adopt import AdoptService
from ..catalog.backends import open_feed, open_store
from ..catalog.db import Database
from ..catalog.model_records import ModelRecords, model_file_paths
from ..catalog.store import CatalogStore
from ..config import LibraryConfig
from ..hub_service import HubService
from ..importer.pipeline import Importer
from ..links.registry import LinkRegistry
from ..origins.clients import LazyCivitai
from ..origins.service import OriginService
from ..previews.service import PreviewService
from ..sources import SourceService
from .base import (
    AdoptServiceBase,
    CacheServiceBase,
    CatalogServiceBase,
    HealthServiceBase,
    HubServiceBase,
    ImportServiceBase,
    MappingServiceBase,
    OriginServiceBase,
    PreviewServiceBase,
    SourceServiceBase,
    WorkflowServiceBase,
)
from .cache import CacheService
from .catalog import CatalogService
from .guard import EventBus, WriteGuard
from .health import HealthService
from .imports import ImportService
from .mapping import MappingService
from .workflows import WorkflowService


@dataclass(frozen=True)
class Services:
    events: EventBus
    repo: CatalogStore[Any]  # the catalog's store (SQLite or PostgreSQL), shared by the services
    importer: Importer  # the import pipeline, shared by imports and adopt
    catalog: CatalogServiceBase
    imports: ImportServiceBase
    mapping: MappingServiceBase
    health: HealthServiceBase
    sources: SourceServiceBase
    hub: HubServiceBase
    adopt: AdoptServiceBase
    workflows: WorkflowServiceBase
    previews: PreviewServiceBase
    origins: OriginServiceBase
    cache: CacheServiceBase


def _share_changes(
    config: LibraryConfig, repo: CatalogStore[Any], events: EventBus, mapping: MappingService
) -> None:
    """A shared catalog: this machine's changes go to the others; theirs reach this machine's panels
    (as "changed" events marked ``remote``) and its ComfyUI (the models linked by the mapping)."""

    def heard(ids: list[str], reason: str, machine: str) -> None:
        events.publish("changed", {"ids": ids, "reason": reason, "machine": machine, "remote": True})
        mapping.sync_models(ids)

    publish = open_feed(config, repo, heard)
    if publish is None:
        return

    def tell_others(event: str, data: dict[str, Any]) -> None:
        if event == "changed" and not data.get("remote"):
            publish(list(data.get("ids") or []), str(data.get("reason") or "changed"))

    events.subscribe(tell_others)


def compose(config: LibraryConfig, db: Database) -> Services:
    events = EventBus()
    machine_root = config.local_root if config.shared else None
    guard = WriteGuard(db, config.root, machine_root)
    repo = open_store(config, db)
    mapping = MappingService(config, db, repo, guard=guard, on_changed=events.changed)
    health = HealthService(
        db, repo, config.root, rules=mapping.rules, on_changed=events.changed, machine_root=machine_root
    )
    sources = SourceService(config, db, on_changed=events.changed, guard=guard)
    hub = HubService(
        config, db, repo, on_changed=events.changed, guard=guard, sync_models=mapping.sync_models
    )
    importer = Importer(config, db, repo)
    adopt = AdoptService(config, db, repo, importer, LinkRegistry(db), guard=guard, on_changed=events.changed)
    imports = ImportService(
        importer,
        guard=guard,
        on_changed=events.changed,
        split_read_only=sources.split_read_only,
        sync_models=mapping.sync_models,
        queue_lookups=hub.queue_pending,
        lookup_after_import=config.lookup_after_import,
    )
    catalog = CatalogService(
        config,
        db,
        repo,
        sources.registry,
        guard=guard,
        on_changed=events.changed,
        sync_models=mapping.sync_models,
        release_adopted=adopt.release_adopted,
    )
    workflows = WorkflowService(config, repo, mapping, hub, on_changed=events.changed)
    records = ModelRecords(config.root, repo)
    previews = PreviewService(
        config.root,
        repo,
        persist=records.write,
        guard=guard,
        on_changed=events.changed,
        model_paths=lambda model: model_file_paths(model, repo),
    )
    origins = OriginService(
        config,
        repo,
        hub,
        previews,
        records,
        hub.waiting,
        civitai=LazyCivitai(config, db),
        guard=guard,
        on_changed=events.changed,
    )
    events.subscribe(previews.on_event)  # new models: their local preview, behind the import
    _share_changes(config, repo, events, mapping)
    hub.background_enrich = origins.enrich_quietly  # lookups after import and pending retries: both sites
    return Services(
        events,
        repo,
        importer,
        catalog,
        imports,
        mapping,
        health,
        sources,
        hub,
        adopt,
        workflows,
        previews,
        origins,
        CacheService(config, repo),
    )
