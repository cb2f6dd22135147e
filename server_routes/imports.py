"""``POST /imports``: import files the server can read, confined to the import roots, as a job.

Confinement is checked before the job is made, so a path outside the import roots is answered 400
``unsafe_path`` at once. The answer never tells whether an outside path exists: each path is resolved
without requiring it to exist (links followed as far as they go), then its containment is checked, so an
existing file, a missing one and a link inside a root pointing out all get the same status and message.
Relative paths and ``..`` are refused (``~`` is a plain character: never the home folder). The job keeps
its own check on the real files (defence in depth).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

from aiohttp import web

from ..core.errors import InvalidInput, UnsafePath
from ..core.io.paths import lexically_at_or_under, some_folders
from ._http import json_response, opt_str, read_json, reject_unknown, run, str_list
from ._router import Router
from ._tasks import import_task
from .guards import Policy, RequestFacts, require_remote_allowed

MAX_PATHS = 1000
MAX_PATH_LEN = 4096


def check_confined(paths: Sequence[str], roots: Sequence[Path]) -> None:
    """Raise UnsafePath unless every path is absolute, has no ``..`` and resolves inside one of ``roots``.

    The message depends only on the text given, never on what exists outside the roots.
    """
    real_roots = [Path(os.path.realpath(r)) for r in roots if r.is_dir()]
    allowed = some_folders([r for r in roots if r.is_dir()])
    for raw in paths:
        shown = raw if len(raw) <= 200 else raw[:200] + "..."
        path = Path(raw)
        if not path.is_absolute():
            raise UnsafePath(
                f"{shown!r} is not an absolute path; give the full path of a file inside the import roots "
                f"({allowed}). '~' is not expanded."
            )
        if ".." in PurePosixPath(raw).parts or ".." in PureWindowsPath(raw).parts:
            raise UnsafePath(f"{shown!r} contains '..'; give the path without '..'.")
        real = Path(os.path.realpath(path))  # not strict: a missing path resolves as far as it goes
        if not any(lexically_at_or_under(real, root) for root in real_roots):
            raise UnsafePath(
                f"{shown!r} is outside the folders models may be imported from ({allowed}); add its folder "
                "to the settings' Central Model Library > Library > Import roots, or move the file into one "
                "of them."
            )


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def create_import(request: web.Request) -> web.Response:
        body = await read_json(request)
        reject_unknown(body, ("paths", "mode", "allow_pickle"))
        paths = str_list(body.get("paths"), "paths", max_items=MAX_PATHS, max_len=MAX_PATH_LEN)
        if not paths:
            raise InvalidInput("'paths' must name at least one file or folder")
        mode = body.get("mode", "copy")
        if mode not in ("copy", "move"):
            raise InvalidInput(f'\'mode\' must be "copy" or "move", got {mode!r}')
        allow_pickle = body.get("allow_pickle", False)
        if not isinstance(allow_pickle, bool):
            raise InvalidInput("'allow_pickle' must be true or false")
        if mode == "move":
            # Moving takes files away from where they were: destructive, like a delete.
            require_remote_allowed(RequestFacts.of(request), ctx.settings)
        library = await ctx.library()
        await run(lambda: check_confined(paths, library.imports.import_roots()))
        job = await ctx.submit(
            "import",
            import_task(library, paths, move=mode == "move", allow_pickle=allow_pickle),
            params={"paths": paths, "mode": mode, "allow_pickle": allow_pickle},
        )
        return json_response({"job": job.to_dict()}, status=202)

    async def browse(request: web.Request) -> web.Response:
        body = await read_json(request)
        reject_unknown(body, ("path",))
        path = opt_str(body, "path", max_len=4096)
        library = await ctx.library()
        return json_response((await run(library.imports.browse, path)).to_dict())

    router.add("POST", "/imports", Policy.CHANGE, create_import)
    # Folder names of the user's own disks: never to a remote page unless remote changes are allowed.
    router.add("POST", "/imports/browse", Policy.DESTRUCTIVE, browse)
