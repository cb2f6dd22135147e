"""``model-library``: the command line over ``core.library.Library``.

Every command takes ``--library DIR`` and ``--json``. Exit 0 on success, 1 on an error (the message on
stderr says what to do), 2 on bad usage (argparse).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ..core.errors import ModelLibraryError
from ..core.models import ModelQuery
from . import cache, commands, workflow
from .output import ProgressBar, emit_json, model_line, print_model_detail

Handler = Callable[[argparse.Namespace], int]


def _common(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    # Sub-commands use SUPPRESS so that `model-library --json import f` keeps the --json given first.
    default_dir = None if top else argparse.SUPPRESS
    default_json = False if top else argparse.SUPPRESS
    p.add_argument(
        "--library",
        metavar="DIR",
        default=default_dir,
        help="library root (default: $MODEL_LIBRARY_ROOT or per-user)",
    )
    p.add_argument("--json", action="store_true", default=default_json, help="print one JSON document")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="model-library", description="One central, de-duplicated library of AI model files."
    )
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _common(p)
        return p

    p = add("import", "import files, Diffusers folders, sharded sets or folders of models")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--move", action="store_true", help="move instead of copy (O(1) on one filesystem)")
    p.add_argument("--no-lookup", action="store_true", help="skip the HuggingFace lookup after importing")

    p = add("list", "list models")
    p.add_argument("--type")
    p.add_argument("--base")
    p.add_argument("--tag")
    p.add_argument("--sort", default="name")
    p.add_argument("--limit", type=int, default=100, help="how many (any number: read 500 at a time)")
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--all", action="store_true", help="every model (ignores --limit)")

    p = add("search", "search models by name, tags, type, base model, repo id and notes")
    p.add_argument("query")
    p.add_argument("--type")
    p.add_argument("--base")
    p.add_argument("--limit", type=int, default=20)

    p = add("show", "show one model")
    p.add_argument("id")

    p = add("edit", "edit a model's metadata (marks the edited fields manual)")
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--type")
    p.add_argument("--base")
    p.add_argument(
        "--tag", action="append", default=[], metavar="+t|-t", help="add (+t) or remove (-t) a tag"
    )
    p.add_argument("--notes")
    p.add_argument(
        "--trigger-words", metavar="W1,W2", help="the trigger words, comma-separated (replaces them)"
    )
    p.add_argument(
        "--favorite", action=argparse.BooleanOptionalAction, default=None, help="mark as a favourite"
    )
    p.add_argument(
        "--strength", metavar="S", help="a LoRA's default strength for Add to workflow ('' clears it)"
    )

    p = add("remove", "remove a model: our links, then its files to the trash")
    p.add_argument("id")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = add("lookup", "find a model's origin on Hugging Face and Civitai (by its hash)")
    p.add_argument("id")

    p = add("enrich", "fetch origins, trigger words and previews now (Civitai and Hugging Face)")
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("--all", action="store_true", help="every model of the library")

    p = add("download", "download a model from a HuggingFace repo")
    p.add_argument("repo_id")
    p.add_argument("filenames", nargs="*", metavar="FILENAME")
    p.add_argument("--revision")

    p = add("map", "place library models into a ComfyUI install")
    map_sub = p.add_subparsers(dest="map_command", required=True)
    for name in ("preview", "apply", "remove"):
        mp = map_sub.add_parser(name)
        _common(mp)
        mp.add_argument("--comfyui", required=True, metavar="DIR")
        if name == "apply":
            mp.add_argument("--on-conflict", choices=("skip", "overwrite", "rename"), default="skip")
            mp.add_argument(
                "--shared",
                action="store_true",
                help="map it even though another library maps it too (ComfyUI then lists both)",
            )

    p = add("health", "check links, files and catalog")
    p.add_argument("--repair", action="store_true")

    add("rebuild", "rebuild the catalog from the library's metadata.json files")

    p = add("adopt", "bring an existing ComfyUI install into the library (or give it back)")
    p.add_argument("--comfyui", required=True, metavar="DIR")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--undo", action="store_true")

    p = add("sources", "folders catalogued in place")
    src_sub = p.add_subparsers(dest="sources_command", required=True)
    sp = src_sub.add_parser("add")
    _common(sp)
    sp.add_argument("dir")
    mode = sp.add_mutually_exclusive_group()
    mode.add_argument(
        "--read-only",
        dest="read_only",
        action="store_true",
        default=True,
        help="never write into the folder (the default)",
    )
    mode.add_argument(
        "--writable",
        dest="read_only",
        action="store_false",
        help="allow moving models out of it (import --move, adopt)",
    )
    sp = src_sub.add_parser("list")
    _common(sp)
    sp = src_sub.add_parser("remove")
    _common(sp)
    sp.add_argument("dir")
    sp = src_sub.add_parser(
        "move", help="a source folder now lives elsewhere (a drive mounted at another place)"
    )
    _common(sp)
    sp.add_argument("old")
    sp.add_argument("new")

    p = add("scan", "rescan the sources now")
    p.add_argument(
        "--hash", action="store_true", help="also hash new or changed files now (else in the background)"
    )

    p = add("trash", "empty the library's trash")
    p.add_argument("--older-than-days", type=float, default=None)

    workflow.add_parser(sub, _common)
    cache.add_parser(sub, _common)

    p = add("serve", "serve the API and the panel without ComfyUI")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8189)
    p.add_argument("--comfyui", metavar="DIR", help="the ComfyUI install the mapping routes target")
    return parser


# Options whose values may start with "-" (a tag "-t", a sort "-added"): argparse would read the value as an
# option of its own, so it is glued on (``--sort=-added``) before parsing.
_DASH_VALUE_OPTIONS = ("--tag", "--sort")


def _glue_dash_values(argv: Sequence[str]) -> list[str]:
    """``--tag -t`` / ``--sort -added`` -> ``--tag=-t`` / ``--sort=-added``."""
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        if (
            items[i] in _DASH_VALUE_OPTIONS
            and i + 1 < len(items)
            and items[i + 1].startswith("-")
            and items[i + 1] != "-"
        ):
            out.append(f"{items[i]}={items[i + 1]}")
            i += 2
            continue
        out.append(items[i])
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_glue_dash_values(sys.argv[1:] if argv is None else argv))
    try:
        return _dispatch(args)
    except ModelLibraryError as exc:
        if getattr(args, "json", False):
            emit_json(exc.to_dict())
        print(f"model-library: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "model-library: interrupted. What was done is kept; what was half-done is finished or rolled "
            "back the next time the library opens (an adoption: the next time you adopt that install).",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:
        # The reader (`| head`) went away: not an error of ours.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    module = {"workflow": workflow, "cache": cache}.get(args.command, commands)
    handler: Handler = getattr(module, "cmd_" + args.command.replace("-", "_"))
    return handler(args)


__all__ = [
    "ModelQuery",
    "ProgressBar",
    "build_parser",
    "emit_json",
    "main",
    "model_line",
    "print_model_detail",
]
