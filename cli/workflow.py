"""``model-library workflow``: the models a workflow needs (``check``; ``fetch`` makes them available).

``check FILE... [--comfyui DIR] [--json]``: a table (reference, status, what we would do), or with
``--json`` one ``{"items": [...]}`` document (each item names its ``file``; ``files`` adds each file's
format, counts and problems). Exit 0 when every model is available already, else 1 (stderr says how
many are not); an unreadable file is an error before anything is checked.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from .output import emit_json
from .session import open_library

AddCommon = Callable[[argparse.ArgumentParser], None]


def add_parser(sub: Any, common: AddCommon) -> argparse.ArgumentParser:
    """The ``workflow`` group; each sub-command sets ``workflow_command``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "workflow",
        help="the models a workflow needs: check them, make them available",
        description="The models a workflow (JSON, API JSON, PNG/WebP) needs: check them, make them "
        "available.",
    )
    common(p)
    group = p.add_subparsers(dest="workflow_command", required=True, metavar="SUBCOMMAND")
    cp = group.add_parser(
        "check",
        help="which models each workflow needs, whether they are here, and what would make them so",
        description="Which models each workflow needs, whether they are here, and what would make them so. "
        "Reads only: downloads and links nothing.",
    )
    common(cp)
    cp.add_argument("files", nargs="+", metavar="FILE", help="workflow JSON, API JSON, PNG or WebP")
    cp.add_argument("--comfyui", metavar="DIR", help="the ComfyUI install whose models count as present")
    return p


def cmd_workflow(args: argparse.Namespace) -> int:
    handler = {"check": _check}.get(args.workflow_command)
    if handler is None:  # a sub-command registered without a handler here
        raise SystemExit(f"model-library workflow: unknown sub-command {args.workflow_command!r}")
    return handler(args)


def _check(args: argparse.Namespace) -> int:
    from ..core.workflows import read_workflow_file

    workflows = [(path, read_workflow_file(path)) for path in args.files]  # all readable before any work
    with open_library(args) as lib:
        listing = lib.workflows.listing_for(args.comfyui) if args.comfyui else None
        checks = [(path, lib.workflows.check(wf, listing=listing)) for path, wf in workflows]
    if args.json:
        items: list[dict[str, Any]] = []
        files = []
        for path, check in checks:
            doc = check.to_dict()
            items += [{"file": path, **item} for item in doc.pop("items")]
            files.append({"file": path, **doc})
        emit_json({"items": items, "files": files})
    else:
        _print_table(checks)
    wanting = sum(1 for _, check in checks for r in check.items if r.action.value != "none")
    if wanting:
        print(
            f"model-library: {wanting} model reference(s) not available here yet; "
            "`model-library workflow fetch` makes them so.",
            file=sys.stderr,
        )
    return 1 if wanting else 0


def _print_table(checks: list[tuple[str, Any]]) -> None:
    from ..core.workflows.resolve import summary_line

    for path, check in checks:
        counts = ", ".join(f"{n} {status}" for status, n in check.counts().items() if n)
        print(f"{path}: {len(check.items)} model reference(s){': ' + counts if counts else ''}")
        for r in check.items:
            ref = r.reference
            where = f"node {ref.node_id}" if ref.node_id is not None else "workflow"
            print(f"  {where:<10} {ref.category}/{ref.name}")
            print(f"  {'':<10} {r.status.value:<12} {summary_line(r)}")
        for problem in check.problems:
            print(f"  skipped: {problem}")
