"""``model-library workflow``: the models a workflow needs (``check``; ``fetch`` makes them available).

``check FILE... [--comfyui DIR] [--json]``: a table (reference, status, what we would do), or with
``--json`` one ``{"items": [...]}`` document (each item names its ``file``; ``files`` adds each file's
format, counts and problems). Exit 0 when every model is available already, else 1 (stderr says how
many are not); an unreadable file is an error before anything is checked.

``fetch FILE... [--comfyui DIR] [--yes] [--json]``: the same table, a question (unless ``--yes``), then
each reference's outcome. Exit 0 when every model is available afterwards, else 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from .output import emit_json, printable
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
    fp = group.add_parser(
        "fetch",
        help="make every model of each workflow available: link what the library has, download the rest",
        description="Make every model of each workflow available in ComfyUI: library models are linked under "
        "the names the workflow expects, missing ones are downloaded from their Hugging Face url (verified "
        "against the workflow's hash) into the library and linked. Shows the plan and asks first.",
    )
    common(fp)
    fp.add_argument("files", nargs="+", metavar="FILE", help="workflow JSON, API JSON, PNG or WebP")
    fp.add_argument(
        "--comfyui", metavar="DIR", help="the mapped ComfyUI install to link into (default: every mapped one)"
    )
    fp.add_argument("--yes", action="store_true", help="do it without asking")
    return p


def cmd_workflow(args: argparse.Namespace) -> int:
    handler = {"check": _check, "fetch": _fetch}.get(args.workflow_command)
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
            print(f"  {where:<10} {printable(ref.category)}/{printable(ref.name)}")
            print(f"  {'':<10} {r.status.value:<12} {printable(summary_line(r))}")
        for problem in check.problems:
            print(f"  skipped: {printable(problem)}")


def _fetch(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInput
    from ..core.workflows import read_workflow_file

    workflows = [(path, read_workflow_file(path)) for path in args.files]
    with open_library(args) as lib:
        lib.mapping.targets(args.comfyui)  # an unmapped install: the error says how to map it, first
        listing = lib.workflows.listing_for(args.comfyui) if args.comfyui else None
        checks = [(path, lib.workflows.check(wf, listing=listing)) for path, wf in workflows]
        wanting = [r for _, check in checks for r in check.items if r.action.value != "none"]
        if not args.json:
            _print_table(checks)
        if not wanting:
            if args.json:
                emit_json({"items": [], "files": [], "available": True})
            else:
                print("Every model is available already.")
            return 0
        if not args.yes:
            if not sys.stdin.isatty():
                raise InvalidInput("Fetching downloads and links files: run again with --yes to go ahead.")
            downloads = sum(1 for r in wanting if r.status.value == "downloadable")
            links = sum(1 for r in wanting if r.status.value == "in_library")
            question = f"Link {links} library model(s) and download {downloads} file(s)"
            if input(f"{question}? [y/N] ").strip().lower() not in ("y", "yes"):
                print("Nothing was changed.")
                return 1
        fetched = []
        for path, wf in workflows:
            line = _StepLine(path)
            try:
                # The install was walked once for the plan: the fetch reuses that listing.
                done = lib.workflows.fetch(wf, comfyui_dir=args.comfyui, listing=listing, progress=line)
                fetched.append((path, done))
            finally:
                line.close()
    if args.json:
        items: list[dict[str, Any]] = []
        files = []
        for path, result in fetched:
            doc = result.to_dict()
            items += [{"file": path, **item} for item in doc.pop("items")]
            files.append({"file": path, **doc})
        emit_json({"items": items, "files": files, "available": all(r.available for _, r in fetched)})
    else:
        _print_outcomes(fetched)
    if not any(result.installs for _, result in fetched):
        print(
            "model-library: no ComfyUI install is mapped, so the models are in the library only; "
            "`model-library map apply --comfyui DIR` (or --comfyui DIR here) makes ComfyUI see them.",
            file=sys.stderr,
        )
    left = sum(1 for _, result in fetched for item in result.items if not item.available)
    if left:
        print(
            f"model-library: {left} model reference(s) are still not available (see above).", file=sys.stderr
        )
    return 1 if left else 0


class _StepLine:
    """``[k/n] what`` on one rewritten stderr line, only on a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int, stage: str = "") -> None:
        if self.enabled and total:
            sys.stderr.write(f"\r{self.label}: [{min(done + 1, total)}/{total}] {stage[:70]:<70}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _print_outcomes(fetched: list[tuple[str, Any]]) -> None:
    for path, result in fetched:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in result.counts().items() if n)
        print(f"{path}: {counts or 'no model references'}")
        for item in result.items:
            ref = item.resolution.reference
            shown = item.comfyui_name or ref.name
            text = f"  {item.outcome.value:<10} {ref.category}/{shown}"
            if item.model is not None and item.outcome.value in ("linked", "downloaded"):
                text += f"  <- {item.model.name} ({item.model.id[:8]})"
            if item.error:
                text += f": {item.error}"
            print(printable(text))
