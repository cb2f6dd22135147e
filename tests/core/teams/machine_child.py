"""One "machine" of a shared library, in a process of its own (tests/core/teams/test_three_machines.py):
its own XDG folders (so its own state folder and machine name), its own cache, the share and the server
given on the command line. Commands come as JSON lines on stdin; answers and the library's events go out
as JSON lines on stdout."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library

share, dsn, cache = sys.argv[1:4]
out = threading.Lock()


def say(doc: dict[str, object]) -> None:
    with out:
        sys.stdout.write(json.dumps(doc) + "\n")
        sys.stdout.flush()


config = load_config(share, catalog=dsn, cache_dir=Path(cache))
with Library.open(config) as library:
    library.events.subscribe(lambda event, data: say({"event": event, "data": data}))
    say({"ready": config.machine})
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "import":
            items = library.imports.import_paths([Path(p) for p in command["paths"]], lookup=False)
            say({"op": op, "items": [i.to_dict() for i in items]})
        elif op == "route":
            say({"op": op, "path": library.cache.route(command["path"])})
        elif op == "count":
            say({"op": op, "count": library.repo.count()})
        elif op == "quit":
            break
