"""The standalone server behind ``model-library serve``: the API, a websocket of events, the panel.

``make_app`` builds a bare aiohttp application with the same routes ComfyUI mounts (under both
``/model-library/v1`` and ``/api/model-library/v1``), plus what ComfyUI would otherwise provide: a
websocket at ``/model-library/v1/events`` relaying ``{"type", "data"}`` events (ComfyUI pushes them
through its own socket), and the panel served from ``web/`` at ``/model-library/``.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from ..core.config import LibraryConfig
from ..core.errors import Conflict, ModelLibraryError
from . import register
from ._context import RouteContext, RunnerOptions
from ._http import error_response, run
from ._router import API_PREFIX, PREFIX
from .guards import GuardSettings, RequestFacts, check_websocket

if TYPE_CHECKING:
    from ..core.library import Library

log = logging.getLogger("model_library.serve")

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
PANEL_PAGES = ("js/standalone.html", "index.html", "js/index.html")
CONTEXT_KEY = web.AppKey("model_library_context", RouteContext)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8189


class EventHub:
    """Relays events from any thread to every connected websocket, in order, on the server's loop.

    One queue and one sender task: a burst of progress events is bounded (the oldest are dropped when a
    client cannot keep up), and a job's "done" never overtakes its last progress.
    """

    MAX_BACKLOG = 1000

    def __init__(self) -> None:
        self._sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[str] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(self.MAX_BACKLOG)
        self._task = asyncio.ensure_future(self._sender())

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Thread-safe; a no-op when nobody listens."""
        loop = self._loop
        if loop is None or loop.is_closed() or not self._sockets:
            return
        message = json.dumps({"type": event, "data": data}, default=str)
        try:
            loop.call_soon_threadsafe(self._enqueue, message)
        except RuntimeError:  # the loop closed between the check and the call
            pass

    def _enqueue(self, message: str) -> None:
        assert self._queue is not None
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(message)

    async def _sender(self) -> None:
        assert self._queue is not None
        while True:
            message = await self._queue.get()
            for ws in list(self._sockets):
                if ws.closed:
                    continue
                try:
                    await ws.send_str(message)
                except (ConnectionError, RuntimeError):
                    self._sockets.discard(ws)

    def add(self, ws: web.WebSocketResponse) -> None:
        self._sockets.add(ws)

    def discard(self, ws: web.WebSocketResponse) -> None:
        self._sockets.discard(ws)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


HUB_KEY = web.AppKey("model_library_events", EventHub)


def make_app(
    library: Callable[[], Library] | Library,
    *,
    settings: GuardSettings | None = None,
    runner_options: RunnerOptions | None = None,
    close_library: bool = False,
) -> web.Application:
    """A bare app serving the API, events and panel. ``library`` is a Library or a factory for one
    (called on the first request). ``close_library`` closes it when the app shuts down."""
    from ..core.library import Library as LibraryClass

    settings = settings or GuardSettings()
    built: list[Library] = []
    if isinstance(library, LibraryClass):
        instance = library

        def get_library() -> Library:
            return instance
    else:
        factory = library

        def get_library() -> Library:
            lib = factory()
            built.append(lib)
            return lib

    hub = EventHub()
    routes = web.RouteTableDef()
    ctx = register(
        routes,
        get_library,
        settings=settings,
        publish=hub.publish,
        also_api_prefix=True,
        runner_options=runner_options,
    )
    app = web.Application()
    app[CONTEXT_KEY] = ctx
    app[HUB_KEY] = hub
    app.add_routes(routes)
    for prefix in (PREFIX, API_PREFIX):
        app.router.add_get(prefix + "/events", _events)
    app.router.add_get("/", _redirect_to_panel)
    app.router.add_get("/model-library", _redirect_to_panel)
    app.router.add_get("/model-library/", _panel)
    if WEB_DIR.is_dir():
        app.router.add_static("/model-library/", WEB_DIR, follow_symlinks=False, append_version=False)

    async def on_startup(app: web.Application) -> None:
        hub.start()

    async def on_cleanup(app: web.Application) -> None:
        try:
            await hub.stop()
        finally:
            await run(ctx.shutdown)
        if close_library:
            for lib in built:
                await run(lib.close)
            if isinstance(library, LibraryClass):
                await run(library.close)

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


async def _events(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT_KEY]
    try:
        check_websocket(RequestFacts.of(request), ctx.settings)
    except ModelLibraryError as exc:
        return error_response(exc)
    hub = request.app[HUB_KEY]
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    hub.add(ws)
    try:
        await ws.send_json({"type": "model-library.hello", "data": {}})
        async for _message in ws:
            pass  # the socket is one-way; incoming messages are ignored
    finally:
        hub.discard(ws)
    return ws


async def _redirect_to_panel(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/model-library/")


async def _panel(request: web.Request) -> web.StreamResponse:
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
    for page in PANEL_PAGES:
        path = WEB_DIR / page
        if path.is_file():
            return web.FileResponse(path, headers=headers)
    return web.Response(
        text="Model Library: the panel is not built in this copy; the API is at /model-library/v1/status.\n",
        headers=headers,
    )


def run_server(
    library_factory: Callable[[], Library] | LibraryConfig,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    allowed_hosts: tuple[str, ...] = (),
    allow_remote_changes: bool = False,
    print_fn: Callable[[str], None] | None = print,
) -> None:
    """Serve until interrupted (``model-library serve``). Loopback unless ``host`` says otherwise.

    ``library_factory`` is a callable returning the Library, or a LibraryConfig to open one from.
    """
    if isinstance(library_factory, LibraryConfig):
        config = library_factory

        def library_factory() -> Library:
            from ..core.library import Library as LibraryClass

            library = LibraryClass.open(config)
            # As inside ComfyUI: watch and hash the sources, run pending Hub lookups, in the background.
            library.start_background()
            return library

    settings = GuardSettings.from_env(
        listen_host=host, allowed_hosts=allowed_hosts, allow_remote_changes=allow_remote_changes
    )
    app = make_app(library_factory, settings=settings, close_library=True)
    shown = f"[{host}]" if ":" in host else host
    if print_fn is not None:
        print_fn(f"Model Library at http://{shown}:{port}/model-library/ (Ctrl+C to stop)")
    try:
        web.run_app(app, host=host, port=port, print=None, access_log=None)
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        reason = {
            errno.EADDRINUSE: "the port is already in use (another model-library serve, or ComfyUI?)",
            errno.EACCES: "this user may not listen on that port (ports below 1024 need privileges)",
            errno.EADDRNOTAVAIL: "the host is not an address of this machine",
        }[exc.errno]
        raise Conflict(
            f"cannot listen on {shown}:{port}: {reason}; choose another with --port or --host"
        ) from exc
