"""One function per CLI command: parse nothing, call the library service it needs, print the result."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..core.config import load_config
from ..core.errors import InvalidInput
from ..core.models import Model, ModelQuery, Page
from .output import ProgressBar, emit_json, human_size, model_line, print_model_detail, printable
from .session import open_library


def cmd_import(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        bar = ProgressBar("import")
        try:
            items = lib.imports.import_paths(
                args.paths, move=args.move, lookup=not args.no_lookup, progress=bar
            )
        finally:
            bar.close()
        if args.json:
            emit_json({"items": [i.to_dict() for i in items]})
        else:
            for item in items:
                if item.model is not None:
                    m = item.model
                    print(
                        f"{item.status:<9} {m.id}  {m.type}/{m.base_model}  {m.name}  ({human_size(m.size)})"
                    )
                else:
                    print(f"{item.status:<9} {item.source_path}: {item.error}")
                for warning in item.warnings:
                    print(f"          warning: {warning}")
            print(_import_summary(items, args.paths), file=sys.stderr)
        return 1 if any(i.status == "failed" for i in items) else 0


def _import_summary(items: Any, paths: list[str]) -> str:
    """One line at the end: how many of each outcome (a long import's first lines are off screen)."""
    if not items:
        return f"nothing imported: no model files in {', '.join(paths)}"
    counts = {s: sum(1 for i in items if i.status == s) for s in ("imported", "duplicate", "failed")}
    parts = [f"{counts['imported']} imported", f"{counts['duplicate']} already in the library"]
    if counts["failed"]:
        parts.append(f"{counts['failed']} failed (see above)")
    return "import: " + ", ".join(parts)


def _print_page(args: argparse.Namespace, page: Any) -> int:
    if args.json:
        emit_json(page.to_dict())
    else:
        for model in page.items:
            print(model_line(model.to_dict()))
        shown = len(page.items)
        print(f"{shown} of {page.total} models", file=sys.stderr)
    return 0


PAGE_LIMIT = 500  # the catalog's largest page; longer listings are read page by page


def cmd_list(args: argparse.Namespace) -> int:
    wanted = None if args.all else args.limit
    if wanted is not None and wanted < 1:
        raise InvalidInput(f"--limit must be at least 1, got {wanted}; use --all for every model")
    with open_library(args) as lib:
        items: list[Model] = []
        total, took, capped = 0, 0.0, False
        offset = args.offset
        while wanted is None or len(items) < wanted:
            size = PAGE_LIMIT if wanted is None else min(PAGE_LIMIT, wanted - len(items))
            query = ModelQuery(
                type=args.type, base_model=args.base, tag=args.tag, sort=args.sort, limit=size, offset=offset
            )
            page = lib.catalog.list_models(query)
            if not items:
                total, capped = page.total, page.total_capped
            took += page.took_ms
            items.extend(page.items)
            offset += len(page.items)
            if len(page.items) < size:
                break
        return _print_page(args, Page(tuple(items), total, took, capped))


def cmd_search(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        query = ModelQuery(q=args.query, type=args.type, base_model=args.base, limit=args.limit)
        return _print_page(args, lib.catalog.list_models(query))


def cmd_show(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        detail = lib.catalog.model_detail(args.id, name_prefix=True)
        if args.json:
            emit_json(detail)
        else:
            print_model_detail(detail)
        return 0


def cmd_edit(args: argparse.Namespace) -> int:
    add_tags = [t[1:] for t in args.tag if t.startswith("+")]
    remove_tags = [t[1:] for t in args.tag if t.startswith("-")]
    bare = [t for t in args.tag if not t.startswith(("+", "-"))]
    if bare:
        raise InvalidInput(f"Tags must be given as +tag (add) or -tag (remove); got {', '.join(bare)}.")
    with open_library(args) as lib:
        model = lib.catalog.edit_model(
            args.id,
            name=args.name,
            type=args.type,
            base_model=args.base,
            add_tags=add_tags,
            remove_tags=remove_tags,
            notes=args.notes,
            trigger_words=(
                [w for w in args.trigger_words.split(",") if w.strip()]
                if args.trigger_words is not None
                else None
            ),
            favorite=args.favorite,
            default_strength=_strength_arg(args.strength),
        )
        detail = lib.catalog.model_detail(model.id)
        if args.json:
            emit_json(detail)
        else:
            print_model_detail(detail)
        return 0


def _strength_arg(text: str | None) -> float | str | None:
    if text is None or text == "":
        return text
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"--strength takes a number (such as 0.8), not {text!r}.") from None


def cmd_remove(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        detail = lib.catalog.model_detail(args.id)
        if not args.yes:
            if not sys.stdin.isatty():
                raise InvalidInput("Removing needs confirmation: run again with --yes.")
            print(f"This removes {detail['name']} ({detail['id']}):")
            for link in detail.get("links", []):
                print(f"  link  {link['path']}")
            for f in detail["files"]:
                print(f"  file  {f.get('abs_path', f['path'])} -> trash")
            if input("Proceed? [y/N] ").strip().lower() not in ("y", "yes"):
                print("Nothing was removed.")
                return 1
        report = lib.catalog.remove_model(detail["id"])
        if args.json:
            emit_json(report)
        else:
            print(
                f"removed {detail['name']}: {len(report['removed_links'])} links removed, files in "
                f"{report['trashed'] or 'place (catalogued in place: not ours to delete)'}"
            )
            for path in report.get("not_ours", []):
                print(f"  left alone (not ours): {path}")
        return 0


def cmd_lookup(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        answer = lib.origins.lookup(args.id)
        docs = answer["huggingface"]
        civitai = answer["civitai"]
        if args.json:
            emit_json({"candidates": docs, "civitai": civitai, "errors": answer["errors"]})
            return 0
        print("Hugging Face:" if docs else "Hugging Face: no candidates found")
        for c in docs:
            print(f"  {c['match']:<15} {c['confidence']:.2f}  {c['repo_id']}/{c.get('filename', '')}")
        if civitai:
            names = f"{printable(civitai['model_name'])} / {printable(civitai['version_name'])}"
            print(f"Civitai (by hash): {names}")
            print(f"  {printable(civitai['page_url'])}")
            if civitai.get("trained_words"):
                print("  trigger words: " + ", ".join(printable(w) for w in civitai["trained_words"]))
        elif "civitai" not in answer["errors"]:
            print("Civitai: no model version has this hash")
        for site, error in answer["errors"].items():
            print(f"{site}: {error['message']}", file=sys.stderr)
        return 0


def cmd_enrich(args: argparse.Namespace) -> int:
    if not args.ids and not args.all:
        print("name the models to enrich (IDs), or give --all", file=sys.stderr)
        return 2
    with open_library(args) as lib:
        ids = None if args.all else [lib.catalog.get_model(ref).id for ref in args.ids]
        bar = ProgressBar("enrich")
        try:
            report = lib.origins.enrich_many(ids, progress=bar).to_dict()
        finally:
            bar.close()
        if args.json:
            emit_json(report)
        else:
            found = report["found"]
            print(
                f"looked up {report['enriched']}: {found['civitai']} found on Civitai, "
                f"{found['huggingface']} on Hugging Face, {report['previews']} new previews"
            )
            for item in report["pending"]:
                print(f"  pending {item['id']} (retried later): {printable(item['reason'])}")
            for item in report["failed"]:
                print(f"  failed {item['id']}: {printable(item['error'])}", file=sys.stderr)
        return 1 if report["failed"] else 0


def cmd_download(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        bar = ProgressBar("download")
        try:
            items = lib.hub.download(args.repo_id, args.filenames, args.revision, progress=bar)
        finally:
            bar.close()
        if args.json:
            emit_json({"items": [i.to_dict() for i in items]})
        else:
            for item in items:
                label = item.model.name if item.model else item.source_path
                print(f"{item.status:<9} {label}{': ' + item.error if item.error else ''}")
        return 1 if any(i.status == "failed" for i in items) else 0


def cmd_map(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        if args.map_command == "preview":
            doc = lib.mapping.preview(args.comfyui).to_dict()
        elif args.map_command == "remove":
            doc = lib.mapping.unmap(args.comfyui).to_dict()
        else:
            doc = lib.mapping.apply(args.comfyui, on_conflict=args.on_conflict, shared=args.shared).to_dict()
        if args.json:
            emit_json(doc)
        else:
            for key, value in doc.items():
                count = len(value) if isinstance(value, list) else value
                print(f"{key:<10} {count}")
                if isinstance(value, list):
                    for entry in value[:50]:
                        shown = (
                            entry.get("link_path") or entry.get("path") if isinstance(entry, dict) else entry
                        )
                        print(f"  {shown or entry}")
        return 0


def cmd_health(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        doc = (lib.health.repair() if args.repair else lib.health.check()).to_dict()
        if args.json:
            emit_json(doc)
        else:
            names = _model_names(lib, doc)
            for key, value in doc.items():
                if key == "took_ms" or (key == "relocation" and not value):
                    continue
                shown = len(value) if isinstance(value, list) else value
                print(f"{key:<20} {shown}")
                for entry in value[:50] if isinstance(value, list) else ():
                    print(f"  {_health_entry(entry, names)}")
                if isinstance(value, list) and len(value) > 50:
                    print(f"  ... and {len(value) - 50} more (--json lists them all)")
        if args.repair:
            return 1 if doc.get("failed") else 0
        return 1 if doc.get("status") == "errors" else 0


def _model_names(lib: Any, doc: dict[str, Any]) -> dict[str, str]:
    """The names of the models a health report's (first 50 per list) findings name."""
    ids = {
        e["model_id"]
        for value in doc.values()
        if isinstance(value, list)
        for e in value[:50]
        if isinstance(e, dict) and isinstance(e.get("model_id"), str)
    }
    names = {}
    for model_id in ids:
        model = lib.repo.find(model_id)
        if model is not None:
            names[model_id] = model.name
    return names


def _health_entry(entry: Any, names: dict[str, str]) -> str:
    """One finding as a line: where (a link, a file or a model), then what is wrong with it."""
    if not isinstance(entry, dict):
        return str(entry)
    model_id = entry.get("model_id")
    where = entry.get("link_path") or entry.get("path") or model_id or ""
    if where == model_id and model_id in names:
        where = f"{names[model_id]} [{model_id}]"
        model = None
    else:
        model = names.get(model_id or "") or model_id
    detail = [str(v) for v in (model, entry.get("file"), entry.get("reason")) if v]
    return f"{where} ({', '.join(detail)})" if detail else str(where or entry)


def cmd_rebuild(args: argparse.Namespace) -> int:
    from ..core.library import Library

    lib, report = Library.rebuild_at(load_config(args.library))
    with lib:
        if args.json:
            emit_json(report)
        else:
            print(
                f"rebuilt {report['models']} models ({report['missing']} with missing files) "
                f"in {report['took_s']} s"
            )
            for skipped in report.get("skipped", []):
                print(f"  skipped {skipped['path']}: {skipped['reason']}")
            if report.get("set_aside"):
                print(f"  the damaged catalog was kept as {report['set_aside']}")
        return 0


def cmd_adopt(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        bar = ProgressBar("adopt")
        try:
            if args.undo:
                report = lib.adopt.undo(args.comfyui, progress=bar)
            else:
                report = lib.adopt.adopt(args.comfyui, dry_run=args.dry_run, progress=bar)
        finally:
            bar.close()
        doc = report.to_dict()
        if args.json:
            emit_json(doc)
        else:
            for key, value in doc.items():
                shown = len(value) if isinstance(value, list) else value
                print(f"{key:<14} {shown}")
        return 1 if doc.get("failed") else 0


def cmd_sources(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        if args.sources_command == "add":
            doc: Any = lib.sources.add(args.dir, read_only=args.read_only)
        elif args.sources_command == "remove":
            doc = lib.sources.remove(args.dir)
        elif args.sources_command == "move":
            doc = lib.sources.move(args.old, args.new)
        else:
            doc = {"items": lib.sources.list_sources()}
        if args.json:
            emit_json(doc)
        elif args.sources_command == "list":
            for s in doc["items"]:
                flags = "read-only" if s["read_only"] else "writable"
                print(
                    f"{s['id']:>3}  {s['path']}  ({flags}, {s['state']}, {s['files']} files, "
                    f"{s['missing']} missing, {s['unhashed']} not hashed yet)"
                )
        else:
            print(json.dumps(doc, indent=2, default=str))
        return 0


def cmd_scan(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        bar = ProgressBar("scan")
        try:
            doc = lib.sources.scan(progress=bar, hash_files=args.hash)
        finally:
            bar.close()
        if args.json:
            emit_json(doc)
        else:
            for key, value in doc.items():
                print(f"{key:<12} {value}")
        return 0


def cmd_trash(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        removed = lib.catalog.empty_trash(args.older_than_days)
        kept = lib.catalog.trash_kept()
        days = lib.config.trash_retention_days if args.older_than_days is None else args.older_than_days
        if args.json:
            emit_json({"removed": removed, "kept": kept, "older_than_days": days})
        elif removed or not kept:
            print(
                f"removed {len(removed)} entries from the trash; {len(kept)} kept"
                if removed
                else "the trash is empty: nothing to remove"
            )
        else:
            print(
                f"nothing removed: the {len(kept)} entries in the trash were put there less than "
                f"{days:g} days ago (the oldest at {kept[0]['trashed_at']}); "
                "`model-library trash --older-than-days 0` empties it now"
            )
        return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ..server_routes.app import run_server

    config = load_config(args.library, comfyui_root=Path(args.comfyui).resolve() if args.comfyui else None)
    run_server(config, host=args.host, port=args.port)
    return 0
