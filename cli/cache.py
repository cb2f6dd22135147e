"""``model-library cache``: this machine's copies of a shared library's files (``MODEL_LIBRARY_CACHE``).

``status``: where the cache is, its budget, what it holds. ``prefetch [ID...] [--workflow FILE...]``:
cache these models, or every library model a workflow needs, before a run. ``clear``: remove every cached
file no process holds (they load from the share until used again). ``--json`` prints the document.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..core.errors import InvalidInput
from .output import emit_json
from .session import open_library

AddCommon = Callable[[argparse.ArgumentParser], None]


def add_parser(sub: Any, common: AddCommon) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "cache",
        help="this machine's local copies of the library's files (MODEL_LIBRARY_CACHE)",
        description="This machine's content-addressed cache of the library's files: ComfyUI loads them from "
        "it, filled on first use from the library (a share) and checked against their hash.",
    )
    common(p)
    group = p.add_subparsers(dest="cache_command", required=True, metavar="SUBCOMMAND")
    common(group.add_parser("status", help="where the cache is, its budget and what it holds"))
    pp = group.add_parser("prefetch", help="cache models (or a workflow's models) before a run")
    common(pp)
    pp.add_argument("ids", nargs="*", metavar="ID", help="model ids, id prefixes, hashes or names")
    pp.add_argument(
        "--workflow", nargs="+", default=[], metavar="FILE", help="the models these workflows need"
    )
    common(group.add_parser("clear", help="remove every cached file no process holds"))
    return p


def cmd_cache(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        if args.cache_command == "status":
            doc = lib.cache.status()
        elif args.cache_command == "clear":
            doc = lib.cache.clear()
        else:
            doc = lib.cache.prefetch(_wanted(lib, args))
    if args.json:
        emit_json(doc)
    else:
        _print(args.cache_command, doc)
    return 0 if doc.get("enabled") and not doc.get("skipped") else 1


def _wanted(lib: Any, args: argparse.Namespace) -> list[str]:
    from ..core.workflows import read_workflow_file

    if not args.ids and not args.workflow:
        raise InvalidInput("Give model ids or --workflow FILE: which models should be cached?")
    ids = [lib.catalog.get_model(ref).id for ref in args.ids]
    for path in args.workflow:
        check = lib.workflows.check(read_workflow_file(path))
        ids += [r.model.id for r in check.items if r.model is not None]
    return list(dict.fromkeys(ids))


def _print(command: str, doc: dict[str, Any]) -> None:
    if not doc.get("enabled"):
        print("No cache on this machine: set MODEL_LIBRARY_CACHE to a folder on a fast local disk.")
        return
    if command == "status":
        budget = f"{doc['budget']:,} bytes" if doc.get("budget") else "no budget"
        print(f"{doc['root']}: {doc['files']} file(s), {doc['used']:,} bytes used ({budget})")
    elif command == "clear":
        print(f"removed {doc['removed']} file(s), {doc['freed']:,} bytes")
    else:
        print(f"cached {len(doc['cached'])} model(s)")
        for item in doc["skipped"]:
            print(f"  not cached: {item['id']}: {item['reason']}")
