"""Mapping an install end to end: read it, plan, apply, keep its extra_model_paths.yaml section true.

The mapping service (core/services/mapping.py) calls these; each takes the catalog through the small
``ModelCatalog`` protocol (the repository satisfies it) so mapping never imports the catalog's internals.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from ..catalog.db import Database
from ..errors import Conflict, ModelLibraryError
from ..io.paths import at_or_under
from ..links.platform import LinkMaker
from ..links.registry import AppRecord, AppRegistry, LinkRegistry
from ..models import Model
from .apply import ApplyReport, apply_plan
from .categories import library_section
from .comfyui import ComfyInstall, read_install
from .config import MappingConfig
from .extra_paths import library_sections, read_section, remove_section, section_matches, write_section
from .planner import LinkTarget, LstatSnapshot, Plan, plan_links


class ModelCatalog(Protocol):
    def find(self, model_id: str) -> Model | None: ...

    def iter_all(self) -> Iterable[Model]: ...


# view: links in the library's views/, named in the install's extra_model_paths.yaml; live: the same views,
# registered with a running ComfyUI by the plugin alone (no yaml: nothing written into the install);
# direct: links in the install's own models/ folders.
MAPPING_MODES = ("view", "live", "direct")
VIEW_MODES = ("view", "live")


def already_seen_by(install_root: str | os.PathLike[str], library_root: Path) -> tuple[str, ...]:
    """Folders the install searches on its own (its root, and its extra_model_paths.yaml folders other
    than our views): a model catalogued in place there needs no link, or ComfyUI would list it twice."""
    from .comfyui import extra_paths_folders, read_install

    folders = [os.path.realpath(install_root)]
    try:
        install = read_install(install_root)
        for paths in extra_paths_folders(install, exclude_under=library_root).values():
            folders.extend(os.path.realpath(p) for p in paths)
    except ModelLibraryError:
        pass  # an unreadable yaml: the install's own root still counts
    return tuple(dict.fromkeys(folders))


def needs_link(model: Model, seen: tuple[str, ...]) -> bool:
    if model.location != "source":
        return True
    folder = os.path.realpath(model.rel_dir)
    return not any(at_or_under(folder, s) for s in seen)


def _models_for(
    catalog: ModelCatalog, install_root: str | os.PathLike[str], library_root: Path
) -> list[Model]:
    seen = already_seen_by(install_root, library_root)
    return [m for m in catalog.iter_all() if needs_link(m, seen)]


_SECTIONS: dict[str, str] = {}  # library root -> its section name (its id never changes)


def section_name(library_root: Path) -> str:
    """This library's own section in an install's extra_model_paths.yaml (named by the library's id,
    which is made here if the library has none yet)."""
    root = os.fspath(library_root)
    name = _SECTIONS.get(root)
    if name is None:
        from ..identity import ensure_identity

        name = _SECTIONS[root] = library_section(ensure_identity(Path(root)).id)
    return name


def claim_section(yaml_file: Path, library_root: Path, *, shared: bool = False) -> None:
    """Before our section is written: take out the block an earlier version of this library wrote under
    the old shared name, and refuse (unless ``shared``) an install another library already maps."""
    ours = section_name(library_root)
    views = os.path.realpath(library_root / "views")
    for name, base in library_sections(yaml_file).items():
        if name == ours:
            continue
        if base and at_or_under(os.path.realpath(base), views):
            remove_section(yaml_file, name)  # ours, from before sections were named per library
        elif not shared:
            raise Conflict(
                f"{yaml_file.parent} is already mapped by another model library (section {name}, views in "
                f"{base or '?'}). Mapping it here too makes ComfyUI list both libraries' models: run again "
                'with --shared (or "shared": true), or unmap it from that library first.'
            )


def view_root(library_root: Path, app_id: str) -> Path:
    return library_root / "views" / app_id


def link_target(app: AppRecord, library_root: Path) -> LinkTarget:
    root = view_root(library_root, app.id) if app.mode in VIEW_MODES else Path(app.root) / "models"
    return LinkTarget(app.id, root, app.version)


def register_install(db: Database, install: ComfyInstall, mode: str) -> AppRecord:
    return AppRegistry(db).upsert(AppRecord(install.id, str(install.root), install.version, mode))


def yaml_categories(config: MappingConfig, extra: Iterable[str] = ()) -> dict[str, str]:
    return {c: c for c in sorted({*config.used_categories(), *extra})}


def section_categories(db: Database, app_id: str, config: MappingConfig) -> dict[str, str]:
    """The categories of an install's view section: the rules' and those of the names workflows asked
    for (a template's ``latent_upscale_models`` may be in no rule)."""
    return yaml_categories(config, LinkRegistry(db).categories(app_id, "workflow"))


def preview(
    db: Database,
    catalog: ModelCatalog,
    library_root: Path,
    comfy_root: str | os.PathLike[str],
    config: MappingConfig,
) -> Plan:
    install = read_install(comfy_root)
    app = AppRecord(install.id, str(install.root), install.version, config.mode)
    existing = LinkRegistry(db).by_app(install.id)
    return plan_links(
        _models_for(catalog, comfy_root, library_root),
        config,
        link_target(app, library_root),
        library_root,
        existing,
        LstatSnapshot(),
    )


def apply(
    db: Database,
    catalog: ModelCatalog,
    library_root: Path,
    comfy_root: str | os.PathLike[str],
    config: MappingConfig,
    *,
    resolutions: Mapping[str, str] | None = None,
    on_conflict: str = "skip",
    maker: LinkMaker | None = None,
    shared: bool = False,
    live: bool = False,
) -> ApplyReport:
    """Map every model into the install; in view mode also write its extra_model_paths.yaml section.
    An install another library maps is refused unless ``shared`` (before anything is changed).
    ``live`` (a view mapping the running ComfyUI is told of by the plugin): the yaml is not written, and
    the section this library wrote there before is taken out (the file as it was before us)."""
    install = read_install(comfy_root)
    mode = "live" if live and config.mode == "view" else config.mode
    if mode == "view":
        claim_section(install.extra_paths_file, library_root, shared=shared)
    previous = AppRegistry(db).get(install.id)
    app = register_install(db, install, mode)
    target = link_target(app, library_root)
    existing = LinkRegistry(db).by_app(install.id)
    plan = plan_links(
        _models_for(catalog, comfy_root, library_root),
        config,
        target,
        library_root,
        existing,
        LstatSnapshot(),
    )
    report = apply_plan(
        db, plan, resolutions=resolutions, on_conflict=on_conflict, maker=maker, allow_copy=config.allow_copy
    )
    if mode in VIEW_MODES:
        for category in config.used_categories():
            (target.link_root / category).mkdir(parents=True, exist_ok=True)
    if mode == "view":
        write_section(
            install.extra_paths_file,
            target.link_root,
            section_categories(db, app.id, config),
            section_name(library_root),
        )
    elif mode == "live" or (previous is not None and previous.mode == "view"):
        remove_section(install.extra_paths_file, section_name(library_root))
        claim_section(install.extra_paths_file, library_root, shared=True)  # our block of an earlier version
    return report


def wants_live(
    db: Database, comfy_root: str | os.PathLike[str], library_root: Path, write_yaml: bool
) -> bool:
    """Inside ComfyUI: map the running install live (no yaml) unless the user asked for the yaml (the
    setting, or an earlier ``map apply`` of this version, whose section is there: it stays)."""
    if write_yaml:
        return False
    install = read_install(comfy_root)
    previous = AppRegistry(db).get(install.id)
    if previous is None or previous.mode != "view":
        return True
    return read_section(install.extra_paths_file, section_name(library_root)) is None


def sync_model(
    db: Database,
    catalog: ModelCatalog,
    library_root: Path,
    model_id: str,
    config: MappingConfig,
    *,
    maker: LinkMaker | None = None,
) -> ApplyReport:
    """Bring every mapped install up to date for one model (after an import, edit or removal)."""
    model = catalog.find(model_id)
    models = [model] if model is not None else []
    registry = LinkRegistry(db)
    own = registry.by_model(model_id)
    report = ApplyReport()
    for app in AppRegistry(db).all():
        if app.mode not in MAPPING_MODES:
            continue  # an install known only through adoption is not mapped
        target = link_target(app, library_root)
        existing = [r for r in own if r.app_id == app.id]
        seen = already_seen_by(app.root, library_root)
        wanted_models = [m for m in models if needs_link(m, seen)]
        plan = plan_links(
            wanted_models, config, target, library_root, existing, LstatSnapshot(), scope={model_id}
        )
        wanted = [a.link_path for a in (*plan.create, *plan.conflicts) if a.link_path]
        others = [r for r in registry.find_many(wanted).values() if r.model_id != model_id]
        if others:  # names held by other models of ours: plan again knowing them
            plan = plan_links(
                wanted_models,
                config,
                target,
                library_root,
                existing + others,
                LstatSnapshot(),
                scope={model_id},
            )
        # A name the user gave (edit --name) already linked for another model of ours: the model takes
        # the alternative name (``<name>.<id8>.<ext>``) rather than vanishing from ComfyUI.
        taken = {r.link_path for r in others}
        renamed = model is not None and "name" in model.manual_fields
        resolutions = {
            a.link_path: "rename"
            for a in plan.conflicts
            if renamed and a.conflict == "already_linked" and a.link_path in taken
        }
        if not plan.is_empty or any(a.reason == "unregistered" for a in plan.ok):
            report = report.merge(
                apply_plan(db, plan, resolutions=resolutions, maker=maker, allow_copy=config.allow_copy)
            )
    return report


def unmap(db: Database, library_root: Path, app_id: str, *, maker: LinkMaker | None = None) -> ApplyReport:
    """Take every link and our yaml section away from one install (the user's file goes back as it was)."""
    app = AppRegistry(db).get(app_id)
    if app is None:
        return ApplyReport()
    target = link_target(app, library_root)
    existing = LinkRegistry(db).by_app(app_id)
    # The names workflows asked for go too: they live in the same folders, seen only through the mapping.
    plan = plan_links(
        [], MappingConfig(), target, library_root, existing, LstatSnapshot(), purposes=("mapping", "workflow")
    )
    report = apply_plan(db, plan, maker=maker)
    if app.mode in VIEW_MODES:
        yaml_file = Path(app.root) / "extra_model_paths.yaml"
        remove_section(yaml_file, section_name(library_root))
        claim_section(yaml_file, library_root, shared=True)  # and our block of an earlier version
    AppRegistry(db).remove(app_id)
    return report


def yaml_ok(db: Database, app: AppRecord, library_root: Path, config: MappingConfig) -> bool:
    if app.mode != "view":
        return True
    return section_matches(
        Path(app.root) / "extra_model_paths.yaml",
        view_root(library_root, app.id),
        section_categories(db, app.id, config),
        section_name(library_root),
    )
