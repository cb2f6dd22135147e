"""The composition root inside ComfyUI: the only module that knows both the core and the host.

ComfyUI imports the plugin while it starts and prints how long that took, so nothing here runs at import:

* ``attach()`` (called by ``__init__``) registers the HTTP routes on ``PromptServer.instance.routes``
  (ComfyUI adds them once, after every plugin loaded) and schedules the start-up work on the server's
  event loop, to run in a daemon thread once the server is up.
* ``get_library()`` builds the one ``core.library.Library`` on first use (thread-safe) from
  ``MODEL_LIBRARY_ROOT``, else the ComfyUI setting ``ModelLibrary.LibraryRoot``, else the per-user default.
* ``publish(event, data)`` forwards library and job events to the browser through ``send_sync``.

Outside ComfyUI (pip-installed, the CLI, tests) ``get_library()`` still works from the environment and
nothing of ComfyUI is ever imported.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core.library import Library
    from .core.sources.child import FirstScan
    from .server_routes import GuardSettings, RouteContext

log = logging.getLogger("comfyui_model_library")

SETTING_LIBRARY_ROOT = "ModelLibrary.LibraryRoot"
SETTING_IMPORT_ROOTS = "ModelLibrary.ImportRoots"
SETTING_ALLOW_REMOTE = "ModelLibrary.AllowRemoteChanges"
SETTING_CATALOG_INSTALL = "ModelLibrary.CatalogInstallFolders"
SETTING_WRITE_YAML = "ModelLibrary.WriteExtraModelPaths"
SETTING_CIVITAI = "ModelLibrary.CivitaiLookup"
SETTING_CATALOG = "ModelLibrary.Catalog"
SETTING_CACHE = "ModelLibrary.Cache"
SETTING_CACHE_BUDGET = "ModelLibrary.CacheBudget"
EVENT_PREFIX = "model-library."
# The start-up thread is spawned as soon as ComfyUI's event loop runs (it runs while the other plugins
# load): the walk of the install's folders, which makes the listing complete, is then done by the time
# the server answers. It is a daemon thread doing syscalls and SQLite (which release the GIL).
STARTUP_DELAY_S = 0.0
# The child walk (core/sources/child.py) creates and migrates the catalog within this time, or is dropped.
FIRST_SCAN_OPEN_TIMEOUT_S = 60.0
# ComfyUI categories that hold no models (or would make ComfyUI import Python).
NON_MODEL_CATEGORIES = frozenset({"custom_nodes", "configs"})

_library: Library | None = None
_library_lock = threading.Lock()
_view_categories: set[str] = set()
_view_lock = threading.Lock()
_routes: RouteContext | None = None


# -- the host ---------------------------------------------------------------------------------------------
def prompt_server() -> Any | None:
    """ComfyUI's running ``PromptServer``, or None when not inside ComfyUI (never imports ComfyUI)."""
    server_module = sys.modules.get("server")
    server_class = getattr(server_module, "PromptServer", None)
    return getattr(server_class, "instance", None)


def _folder_paths() -> Any | None:
    """ComfyUI's ``folder_paths`` module, only when ComfyUI already loaded it."""
    return sys.modules.get("folder_paths") if prompt_server() is not None else None


def comfyui_install_dir() -> Path | None:
    """The running install's folder (the one holding ``main.py`` and ``folder_paths.py``)."""
    fp = _folder_paths()
    source = getattr(fp, "__file__", None)
    return Path(os.path.abspath(source)).parent if source else None


def comfyui_settings() -> dict[str, Any]:
    """The default user's ``comfy.settings.json`` (a small file, read fresh on every call)."""
    fp = _folder_paths()
    if fp is None:
        return {}
    path = Path(fp.get_user_directory()) / "default" / "comfy.settings.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("model-library: ignoring ComfyUI settings file %s (%s)", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _split_paths(value: Any) -> list[str]:
    """A setting holding folders: a list, or one string with one folder per line (or ``os.pathsep``)."""
    if isinstance(value, str):
        parts = value.replace(os.pathsep, "\n").splitlines()
    elif isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        return []
    return [p.strip() for p in parts if p.strip()]


def model_folders(*, include_views: bool = False) -> list[Path]:
    """Every folder the running install searches for models (deduplicated, in ComfyUI's order)."""
    from .core.io.paths import lexically_at_or_under

    fp = _folder_paths()
    if fp is None:
        return []
    views = _views_dir()
    seen: dict[str, Path] = {}
    for category, (paths, _exts) in list(fp.folder_names_and_paths.items()):
        if category in NON_MODEL_CATEGORIES:
            continue
        for raw in list(paths):
            path = Path(raw)
            if not include_views and views is not None and lexically_at_or_under(path, views):
                continue
            seen.setdefault(os.path.normcase(os.path.abspath(path)), path)
    return list(seen.values())


def _views_dir() -> Path | None:
    return _library.config.views_dir if _library is not None else None


# -- the library --------------------------------------------------------------------------------------------
def library_root(settings: dict[str, Any] | None = None) -> Path:
    """``MODEL_LIBRARY_ROOT``, else the ComfyUI setting, else the per-user default."""
    from .core.config import ENV_ROOT, resolve_library_root

    if os.environ.get(ENV_ROOT):  # the env var wins over the setting (CONTRACT.md)
        return resolve_library_root()
    configured = (settings if settings is not None else comfyui_settings()).get(SETTING_LIBRARY_ROOT)
    if isinstance(configured, str) and configured.strip():
        return resolve_library_root(configured.strip())
    return resolve_library_root()


def import_roots(settings: dict[str, Any] | None = None) -> tuple[Path, ...]:
    """Folders HTTP imports may read from: ComfyUI's input and model folders plus configured ones."""
    settings = settings if settings is not None else comfyui_settings()
    roots: list[Path] = []
    fp = _folder_paths()
    if fp is not None:
        roots.append(Path(fp.get_input_directory()))
        roots.extend(model_folders())
    roots.extend(Path(p).expanduser() for p in _split_paths(settings.get(SETTING_IMPORT_ROOTS)))
    unique: dict[str, Path] = {}
    for root in roots:
        unique.setdefault(os.path.normcase(os.path.abspath(root)), Path(os.path.abspath(root)))
    return tuple(unique.values())


def catalog_override(settings: dict[str, Any]) -> dict[str, Any]:
    """The shared catalog from the ``ModelLibrary.Catalog`` setting, unless ``MODEL_LIBRARY_CATALOG`` is
    set (it wins, as for the root). ComfyUI serves its settings to anyone who can reach it: a URL there
    holding a password is refused (the password belongs in ~/.pgpass or PGPASSWORD: docs/teams.md)."""
    from .core.config import ENV_CATALOG, catalog_setting, holds_password
    from .core.errors import InvalidConfig

    configured = settings.get(SETTING_CATALOG)
    if os.environ.get(ENV_CATALOG) or not isinstance(configured, str) or not configured.strip():
        return {}
    catalog = catalog_setting(configured)
    if holds_password(catalog):
        raise InvalidConfig(
            f"The {SETTING_CATALOG} setting holds a password, and ComfyUI shows its settings to anyone who "
            "can reach it: remove the password from the setting and put it in ~/.pgpass or the PGPASSWORD "
            "variable of ComfyUI's process (docs/teams.md)."
        )
    return {"catalog": catalog}


def _route_loads_through_cache(library: Library) -> None:
    """With ``MODEL_LIBRARY_CACHE`` set, ComfyUI's loaders read library files from this machine's cache:
    ``folder_paths.get_full_path`` (which every loader and ``get_full_path_or_raise`` call) answers with
    the cached copy, filled on that first use. Not on the server's event loop (a route asking for a
    path): there a file not cached yet is answered from the share, never copied. ComfyUI's prompt worker
    runs an event loop of its own, which may wait for a copy."""
    import asyncio

    folder_paths = _folder_paths()
    if folder_paths is None:
        return
    server_loop = getattr(prompt_server(), "loop", None)
    original = getattr(folder_paths.get_full_path, "__model_library_original__", folder_paths.get_full_path)

    def get_full_path(folder_name: str, filename: str) -> str | None:
        path = original(folder_name, filename)
        if path is None:
            return None
        try:
            on_server_loop = asyncio.get_running_loop() is server_loop
        except RuntimeError:
            on_server_loop = False
        try:
            return str(library.cache.route(path, fill=not on_server_loop))
        except Exception:  # the cache must never break a load: the share's path still works
            log.exception("model-library: the cache could not answer for %s", path)
            return path

    get_full_path.__model_library_original__ = original  # type: ignore[attr-defined]
    folder_paths.get_full_path = get_full_path
    log.info("model-library: models load from the cache in %s", library.config.cache_dir)


def cache_override(settings: dict[str, Any]) -> dict[str, Any]:
    """This machine's cache from the ``ModelLibrary.Cache`` and ``ModelLibrary.CacheBudget`` settings,
    each unless its variable (``MODEL_LIBRARY_CACHE``, ``MODEL_LIBRARY_CACHE_BUDGET``) is set."""
    from .core.cache.budget import parse_budget
    from .core.config import ENV_CACHE, ENV_CACHE_BUDGET

    found: dict[str, Any] = {}
    folder, budget = settings.get(SETTING_CACHE), settings.get(SETTING_CACHE_BUDGET)
    if not os.environ.get(ENV_CACHE) and isinstance(folder, str) and folder.strip():
        found["cache_dir"] = Path(folder.strip()).expanduser().absolute()
    if not os.environ.get(ENV_CACHE_BUDGET) and isinstance(budget, str) and budget.strip():
        found["cache_budget"] = parse_budget(budget)
    return found


def get_library() -> Library:
    """The one library of this process, built on first use."""
    global _library
    if _library is not None:
        return _library
    with _library_lock:
        if _library is None:
            from .core.config import load_config
            from .core.library import Library

            settings = comfyui_settings()
            config = load_config(
                library_root(settings),
                import_roots=import_roots(settings),
                comfyui_root=comfyui_install_dir(),
                civitai_lookup=settings.get(SETTING_CIVITAI) is not False,
                **catalog_override(settings),
                **cache_override(settings),
            )
            library = Library.open(config)
            if library.cache.enabled:
                _route_loads_through_cache(library)
            # The import roots follow the setting (and ComfyUI's folders) without a restart.
            library.imports.follow_import_roots(import_roots)
            if prompt_server() is not None:
                library.events.subscribe(_on_library_event)
            log.info("model-library: library at %s", config.root)
            _library = library
    return _library


# -- events -------------------------------------------------------------------------------------------------
def publish(event: str, data: dict[str, Any]) -> None:
    """Send a library or job event to every browser tab; safe from any thread.

    ``event`` is ``changed`` / ``job`` (the library's own names) or the full websocket name.
    """
    name = event if event.startswith(EVENT_PREFIX) else EVENT_PREFIX + event
    server = prompt_server()
    if server is None:
        return
    try:
        server.send_sync(name, data)
    except Exception:  # a closed socket must never fail a job
        log.debug("model-library: could not send %s", name, exc_info=True)


def _on_library_event(event: str, data: dict[str, Any]) -> None:
    """Host-side reactions to catalog changes: keep the views mapped and ComfyUI's lists fresh.

    (The browser hears of the change through the routes' own subscription, see ``publish``.)
    """
    if event != "changed":
        return
    reason = str(data.get("reason", ""))
    if reason == "mapped:workflow":
        # A workflow fetch may have linked into a category no rule uses (its folder is new to ComfyUI).
        if _library is not None:
            add_view_folders(_view_folders(_library, None))
        return
    if reason.startswith("map"):
        refresh_filename_cache()
        return
    if reason in ("preview", "used"):
        return  # nothing ComfyUI lists changed
    _remapper.request()


# -- route registration (import time: must stay cheap) ------------------------------------------------------
def guard_settings(settings: dict[str, Any] | None = None) -> GuardSettings:
    """The routes' guard settings: ComfyUI's listen address(es) and the remote-changes opt-in.

    ComfyUI may listen on several addresses (``--listen 0.0.0.0,::``); the guards take one bind address
    (the widest one decides whether remote clients exist) and allow the others as Host names.
    """
    from .server_routes import GuardSettings
    from .server_routes.guards import split_listen

    settings = settings if settings is not None else comfyui_settings()
    args = getattr(sys.modules.get("comfy.cli_args"), "args", None)
    widest, others = split_listen(str(getattr(args, "listen", None) or "127.0.0.1"))
    return GuardSettings.from_env(
        listen_host=widest,
        allowed_hosts=others,
        allow_remote_changes=settings.get(SETTING_ALLOW_REMOTE) is True,
    )


def attach() -> bool:
    """Wire the plugin into the running ComfyUI. Returns False (doing nothing) outside ComfyUI."""
    global _routes
    server = prompt_server()
    if server is None or _routes is not None:
        return False
    try:
        from .server_routes import register

        _routes = register(
            server.routes,
            get_library,
            settings=guard_settings(),
            publish=publish,
            listing=comfyui_listing,
            loaders=comfyui_loaders,
            output_dir=comfyui_output_dir,
        )
    except Exception:  # the plugin must never stop ComfyUI from starting
        log.exception("model-library: could not register the HTTP routes; the panel will not work")
    _schedule_startup(server)
    return True


def _schedule_startup(server: Any) -> None:
    def spawn() -> None:
        threading.Thread(target=startup, name="model-library-startup", daemon=True).start()

    loop = getattr(server, "loop", None)
    if loop is not None:
        loop.call_later(STARTUP_DELAY_S, spawn)
    else:
        timer = threading.Timer(STARTUP_DELAY_S, spawn)
        timer.daemon = True
        timer.start()


# -- start-up in the background -----------------------------------------------------------------------------
def startup() -> None:
    """Open the library, map it into the running install, make ComfyUI search the views, add sources."""
    catalog_install = comfyui_settings().get(SETTING_CATALOG_INSTALL, True) is not False
    first_scan = None
    if catalog_install:
        try:
            first_scan = _start_first_scan()
        except Exception:
            log.exception("model-library: could not start the walk of the install's folders")
    # ComfyUI's own process stays out of the way while the child walks (its server is still starting):
    # the library is opened here afterwards, or sooner by the first request that needs it.
    walked = first_scan.result() if first_scan is not None else None
    try:
        library = get_library()
    except Exception:
        log.exception("model-library: could not open the library; set MODEL_LIBRARY_ROOT or the setting")
        return
    # The install's own folders first: the listing is complete once they are walked (headers and hashes
    # follow in the background), then the mapping and the views ComfyUI searches.
    if catalog_install and not _finish_first_scan(library, first_scan, walked):
        if first_scan is not None and first_scan.stalled:
            # The child was stuck on a folder that does not answer: even a stat of it could stall this
            # thread the same way, so the sources are added in a thread of their own and the watcher
            # walks them; the mapping and the watch start now.
            threading.Thread(
                target=_add_install_sources,
                args=(library,),
                kwargs={"walk": False},
                name="model-library-add-sources",
                daemon=True,
            ).start()
        else:
            _add_install_sources(library)
            _release_memory()
    elif first_scan is not None:
        _leave_headers_to(library, first_scan)
    apply_mapping(library)
    try:
        library.start_background()
    except Exception:
        log.exception("model-library: could not start watching the sources")


def apply_mapping(library: Library) -> None:
    """Apply the mapping for the running install and add its view folders to ComfyUI's search paths."""
    install = comfyui_install_dir()
    if install is None:
        return
    result: Any = None
    try:
        # Nothing is written into the install unless the user asks (the setting, or `map apply`): the
        # views are added to ComfyUI's search paths live, below.
        write_yaml = comfyui_settings().get(SETTING_WRITE_YAML) is True
        live = library.mapping.wants_live(install, write_yaml=write_yaml)
        result = library.mapping.apply(install, live=live).to_dict()
    except Exception:
        log.exception("model-library: applying the mapping to %s failed", install)
    add_view_folders(_view_folders(library, result))


def _view_folders(library: Library, result: Any) -> dict[str, Path]:
    """category -> this install's view folder: from the apply result, else ``views/<install-id>/*``."""
    reported = result.get("folders") if isinstance(result, dict) else None
    if isinstance(reported, dict):
        return {str(category): Path(path) for category, path in reported.items()}
    install = comfyui_install_dir()
    app_id = install_id(install) if install is not None else None
    view_root = library.config.views_dir / app_id if app_id else None
    if view_root is None or not view_root.is_dir():
        return {}
    return {p.name: p for p in sorted(view_root.iterdir()) if p.is_dir()}


def install_id(install: Path) -> str | None:
    """The library's id for a ComfyUI install (its views live in ``views/<id>/``), None if not one."""
    try:
        from .core.mapping.comfyui import read_install

        return read_install(install).id
    except Exception as exc:
        log.warning("model-library: %s is not recognised as a ComfyUI folder: %s", install, exc)
        return None


def add_view_folders(folders: dict[str, Path]) -> list[str]:
    """Add each folder to its ComfyUI category (after the install's own) and refresh the file lists."""
    fp = _folder_paths()
    if fp is None:
        return []
    added: list[str] = []
    with _view_lock:
        for category, path in folders.items():
            if category in NON_MODEL_CATEGORIES:
                continue
            path.mkdir(parents=True, exist_ok=True)
            fp.add_model_folder_path(category, str(path), is_default=False)
            _view_categories.add(fp.map_legacy(category))
            added.append(category)
    refresh_filename_cache()
    return added


def comfyui_output_dir() -> Path | None:
    """ComfyUI's output folder (where "use this output as preview" may read), None if unknown."""
    fp = _folder_paths()
    getter = getattr(fp, "get_output_directory", None) if fp is not None else None
    try:
        return Path(getter()) if getter is not None else None
    except Exception:  # a plugin's patched folder_paths: no output folder rather than a failed route
        return None


def comfyui_listing(category: str) -> list[str]:
    """What ComfyUI's loaders list for ``category`` (its own lists: every folder it searches, ours
    included); empty for a category this ComfyUI does not know."""
    fp = _folder_paths()
    if fp is None:
        return []
    try:
        name = fp.map_legacy(category) if hasattr(fp, "map_legacy") else category
        if name not in fp.folder_names_and_paths:
            return []
        return list(fp.get_filename_list(name))
    except Exception:  # a broken folder must not break a check
        log.warning("model-library: could not read ComfyUI's list of %s", category, exc_info=True)
        return []


_LOADERS_TTL_S = 300.0
_loaders_cache: tuple[float, Any] | None = None


def comfyui_loaders() -> Any:
    """Which inputs of this ComfyUI's nodes name model files (core and custom loaders): read from the
    nodes' own input definitions, as /object_info shows them, merged over the core table. Built on the
    first workflow check and kept for five minutes (plugins do not come and go while ComfyUI runs)."""
    global _loaders_cache
    now = time.monotonic()
    if _loaders_cache is not None and now - _loaders_cache[0] < _LOADERS_TTL_S:
        return _loaders_cache[1]
    from .core.workflows.loaders import CORE_LOADERS, loaders_from_object_info, merged

    found: Any = CORE_LOADERS
    fp = _folder_paths()
    nodes = sys.modules.get("nodes")
    if fp is not None and nodes is not None:
        info: dict[str, Any] = {}
        for name, cls in list(getattr(nodes, "NODE_CLASS_MAPPINGS", {}).items()):
            if name.startswith("Library"):
                continue  # ours: their lists are the library's labels, not files
            try:
                info[name] = {"input": cls.INPUT_TYPES()}
            except Exception:  # a node whose inputs cannot be read says nothing about files
                log.debug("model-library: the inputs of node %s could not be read", name, exc_info=True)
        files = {
            c: comfyui_listing(c) for c in list(fp.folder_names_and_paths) if c not in NON_MODEL_CATEGORIES
        }
        found = merged(loaders_from_object_info(info, files))
    _loaders_cache = (now, found)
    return found


def refresh_filename_cache(categories: Iterable[str] | None = None) -> None:
    fp = _folder_paths()
    if fp is None:
        return
    with _view_lock:
        names = list(categories if categories is not None else _view_categories)
    for name in names:
        fp.filename_list_cache.pop(name, None)


def _release_memory() -> None:
    """A first walk of a large install allocates a lot briefly: hand it back to the OS, so ComfyUI's
    resident size grows only by what the library keeps. (No ``gc.collect()``: the walk's objects hold
    no cycles, and a full collection of ComfyUI's heap would hold the GIL for a tenth of a second.)"""
    from .core.io.memory import trim_heap

    trim_heap()


def _start_first_scan() -> FirstScan | None:
    """Start the walk of the install's model folders in a child process (core/sources/child.py) before
    this process opens the library; None when the library is open already or the child cannot start.

    Other threads wait on the library lock until the child has created and migrated the catalog, so
    nobody migrates it twice at once."""
    from .core.config import load_config
    from .core.sources.child import FirstScan

    with _library_lock:
        if _library is not None:
            return None
        root = load_config(library_root(comfyui_settings())).root
        folders = _source_folders(root)
        if not folders:
            return None
        scan = FirstScan.start(root, folders, comfyui_dir=comfyui_install_dir())
        if scan.wait_opened(FIRST_SCAN_OPEN_TIMEOUT_S):
            return scan
        scan.kill()
        scan.result(timeout=5.0)
        log.warning(
            "model-library: the walk of the install's folders could not run in a child process (%s); "
            "walking them in ComfyUI's process",
            scan.error or "it did not start in time",
        )
        return None


def _finish_first_scan(library: Library, scan: FirstScan | None, result: dict[str, Any] | None) -> bool:
    """Report the child walk's ``result``; False (walk here instead) if there was none or it failed."""
    if scan is None:
        return False
    if result is None:
        log.warning(
            "model-library: the walk of the install's folders failed in its child process (%s); "
            "walking them in ComfyUI's process",
            scan.error,
        )
        return False
    for warning in result.get("warnings", []):
        log.warning("model-library: %s", warning)
    report = result.get("scan", {})
    log.info(
        "model-library: catalogued the install's folders in place (%s new, %s changed, %s missing)",
        report.get("added", 0),
        report.get("changed", 0),
        report.get("missing", 0),
    )
    library.events.publish("changed", {"ids": [], "reason": "scanned"})
    return True


def _leave_headers_to(library: Library, scan: FirstScan) -> None:
    """The child goes on to read the headers it listed: this process's scans leave them to it. Once it
    has exited, whatever it did not finish is read here and the panel and the mapping hear of it once
    (not after each batch: each "changed" re-applies the mapping and empties ComfyUI's file lists)."""
    library.sources.inspecting_elsewhere = scan.inspecting

    def finished() -> None:
        library.sources.inspecting_elsewhere = lambda: False
        if scan.process is not None and scan.process.returncode != 0:
            log.warning("model-library: reading headers in the child process stopped; reading them here")
        if library.sources.inspect_pending() == 0 and scan.inspected > 0:
            library.events.publish("changed", {"ids": [], "reason": "inspected"})  # else nothing changed

    scan.when_finished(finished)


def _add_install_sources(library: Library, *, walk: bool = True) -> None:
    """Catalogue the install's own model folders in place (``walk``: now, else by the watcher's first
    scan), then keep watching and hashing them."""
    install = comfyui_install_dir()
    app_id = install_id(install) if install is not None else None
    for folder in _source_folders(library.config.root):
        try:
            library.sources.add(folder, read_only=True, auto=True, app_id=app_id, scan=False)
        except Exception as exc:
            log.warning("model-library: could not add %s as a source: %s", folder, exc)
    if not walk:
        return
    try:
        library.sources.scan(inspect=False)
    except Exception:
        log.exception("model-library: scanning the install's model folders failed")


def _source_folders(root: Path) -> list[Path]:
    """The install's model folders, with folders inside another (or inside the library ``root``) dropped."""
    from .core.io.paths import lexically_at_or_under

    fp = _folder_paths()
    candidates = [p for p in model_folders() if p.is_dir() and not lexically_at_or_under(p, root)]
    models_dir = Path(getattr(fp, "models_dir", "")) if fp is not None else None
    if models_dir is not None and models_dir.is_dir() and not lexically_at_or_under(models_dir, root):
        candidates.insert(0, models_dir)
    kept: list[Path] = []
    for path in candidates:
        if not any(lexically_at_or_under(path, other) for other in kept):
            kept.append(path)
    return kept


class _Remapper:
    """Re-applies the mapping after catalog changes, in one daemon thread, coalescing bursts."""

    def __init__(self) -> None:
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def request(self) -> None:
        if _library is None or prompt_server() is None:
            return
        with self._lock:
            self._wanted.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="model-library-remap", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                library = _library
                if not self._wanted.is_set() or library is None:
                    self._thread = None
                    break
                self._wanted.clear()
            apply_mapping(library)
        _release_memory()  # what the burst allocated: the thread ends here


_remapper = _Remapper()
