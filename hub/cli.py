"""The `hub` command.

    hub validate [--format text|json] PATH...   validate files (folders are walked)
    hub contrl PATH                              print the CONTRL the hub would send back

Exit status: 0 when every file is accepted, 1 when any is rejected, 2 when a file cannot be read or
the arguments are wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.report import Report

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


def _files(paths: Sequence[str]) -> Iterator[tuple[str, Path | None]]:
    for p in paths:
        path = Path(p)
        if path.is_dir():
            # In a folder, only what looks like an interchange or an XML document.
            for f in sorted(f for f in path.rglob("*") if f.is_file() and _looks_like_data(f)):
                yield str(f), f
        elif path.is_file():
            yield p, path
        else:
            yield p, None


def _inputs(paths: Sequence[str]) -> Iterator[tuple[str, Path | None, bytes | None]]:
    """Each input file with its bytes; None bytes (after saying why on stderr) when unreadable."""
    for name, path in _files(paths):
        if path is None:
            print(f"hub: {name}: no such file or folder", file=sys.stderr)
            yield name, None, None
            continue
        try:
            yield name, path, path.read_bytes()
        except OSError as e:
            print(f"hub: {name}: cannot read: {e.strerror}", file=sys.stderr)
            yield name, path, None


def _looks_like_data(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(16).lstrip(b"\xef\xbb\xbf \r\n\t")
    return head.startswith((b"UNA", b"UNB", b"UNH", b"<"))


def validate_bytes(data: bytes) -> Report:
    """EDIFACT or XML, told apart by the first significant byte."""
    from hub.xml import looks_like_xml

    if looks_like_xml(data):
        from hub.xml import validate as validate_xml

        return validate_xml(data)
    from hub.edifact import validate

    return validate(data)


def cmd_validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for name, _, data in _inputs(args.paths):
        if data is None:
            status = EXIT_USAGE
            continue
        report = validate_bytes(data)
        if args.format == "json":
            print(json.dumps({"file": name, **report.to_dict()}, ensure_ascii=False))
        else:
            verdict = "accepted" if report.accepted else "REJECTED"
            print(f"{name}: {report.syntax}, {verdict}")
            text = report.render()
            if text:
                print(text)
        if not report.accepted and status == EXIT_OK:
            status = EXIT_REJECTED
    return status


def cmd_contrl(args: argparse.Namespace) -> int:
    from hub.edifact import validate
    from hub.edifact.contrl import build_contrl

    path = Path(args.path)
    try:
        data = path.read_bytes()
    except OSError as e:
        print(f"hub: {args.path}: cannot read: {e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    report = validate(data)
    now = datetime.now(UTC)
    ref = args.control_ref or now.strftime("%y%m%d%H%M%S")
    out = build_contrl(report, our_id=args.our_id, control_ref=ref, now=now)
    if out is None:
        print("hub: no CONTRL is sent in answer to a CONTRL (or to input with no interchange)",
              file=sys.stderr)
        return EXIT_OK if report.accepted else EXIT_REJECTED
    sys.stdout.write(out.decode("latin-1"))
    if not out.endswith(b"\n"):
        sys.stdout.write("\n")
    return EXIT_OK if report.accepted else EXIT_REJECTED


def cmd_map(args: argparse.Namespace) -> int:
    """A dry run for mapping authors: the mapped documents of each message, nothing stored."""
    from hub.catalog import default_catalog
    from hub.ingest import map_bytes

    catalog = default_catalog()
    registry = catalog.mappings()
    for fname, problems in sorted(registry.problems.items()):
        print(f"hub: mappings/{fname} refused: " + "; ".join(problems), file=sys.stderr)
    status = EXIT_OK
    for name, _, data in _inputs(args.paths):
        if data is None:
            status = EXIT_USAGE
            continue
        report, mappings = map_bytes(data, catalog)
        print(json.dumps({"file": name, "accepted": report.accepted,
                          "messages": [m.to_dict() for m in mappings]}, ensure_ascii=False,
                         indent=None if args.compact else 2))
        if not report.accepted and status == EXIT_OK:
            status = EXIT_REJECTED
    return status


def _open_store(args: argparse.Namespace) -> Any:
    from hub.store import open_store

    return open_store(args.db)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Validate, map and correlate files into the store; one line of JSON per file says what it did."""
    from hub.catalog import default_catalog
    from hub.ingest import ingest_bytes

    catalog = default_catalog()
    store = _open_store(args)
    status = EXIT_OK
    for name, path, data in _inputs(args.paths):
        if data is None or path is None:
            status = EXIT_USAGE
            continue
        result = ingest_bytes(data, store, catalog, channel="folder", filename=path.name)
        print(json.dumps({"file": name, **result.summary()}, ensure_ascii=False))
        if result.report is not None and not result.report.accepted and status == EXIT_OK:
            status = EXIT_REJECTED
    return status


def cmd_dossier_show(args: argparse.Namespace) -> int:
    store = _open_store(args)
    if args.id:
        found = [d for d in [store.dossier(args.id)] if d is not None]
    else:
        crit = {k: v for k, v in (("bl", args.bl), ("container", args.container), ("voyage", args.voyage),
                                  ("port_call_ref", args.port_call_ref), ("customs_ref", args.customs_ref))
                if v}
        if args.vessel:
            from hub.dossier.keys import normalise_imo, normalise_vessel_name

            imo = normalise_imo(args.vessel)
            crit["vessel_imo" if imo else "vessel_name"] = imo or normalise_vessel_name(args.vessel)
        if not crit:
            print("hub: dossier show needs an ID or one of --bl, --container, --vessel, --voyage, "
                  "--port-call-ref, --customs-ref", file=sys.stderr)
            return EXIT_USAGE
        found = store.dossiers_by(**crit)
    if not found:
        print("hub: no dossier found", file=sys.stderr)
        return EXIT_REJECTED
    for d in found:
        doc = d.get("dossier") or {}
        if args.format == "json":
            print(json.dumps({"id": d["id"], "kind": d["kind"], "status": d["status"], "dossier": doc},
                             ensure_ascii=False, indent=2))
        else:
            print(render_dossier(d["id"], d["kind"], doc, store.events_for(d["id"])))
    return EXIT_OK


def render_dossier(did: str, kind: str, doc: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """A dossier for a person: identity, keys, then the timeline and open discrepancies."""
    lines = [f"{kind.replace('_', ' ')} {did}: {doc.get('status')}"]
    if kind == "vessel_call":
        v = doc.get("vessel") or {}
        lines.append(f"  vessel {v.get('name') or '?'} (IMO {v.get('imo') or '?'}, call sign "
                     f"{v.get('call_sign') or '?'}) at {doc.get('port')}, voyages "
                     f"{', '.join(doc.get('voyage_aliases') or [])}")
        for f in ("eta", "ata", "etd", "atd"):
            if doc.get(f):
                lines.append(f"  {f.upper()} {doc[f].get('utc') or doc[f].get('original')}")
        for b in doc.get("bayplans") or []:
            n = sum(len(v) for v in (b.get("records") or {}).values())
            lines.append(f"  bayplan {b['id']} ({b.get('scope')}, {n} units) from {b['source_message_id']}")
        for f in doc.get("formalities") or []:
            lines.append(f"  formality {f['kind']} {f.get('reference') or ''} ({f.get('status')})")
    else:
        lines.append(f"  B/L {doc.get('master_bl') or '-'}  booking {doc.get('booking') or '-'}  direction "
                     f"{doc.get('direction') or '-'}  call {doc.get('call_id') or '-'}")
        for p in doc.get("parties") or []:
            lines.append(f"  {p['role']}: {p.get('name') or p.get('id')}")
        if doc.get("equipment"):
            lines.append(f"  containers: {', '.join(doc['equipment'])}")
        for r in doc.get("releases") or []:
            lines.append(f"  release {r['kind']} {r.get('reference') or ''}")
    lines.append("  timeline:")
    for e in events:
        when = str(e.get("event_time") or "")
        lines.append(f"    {when:26} {e['type']:24} {e.get('message_id') or ''}")
    for d in doc.get("discrepancies") or []:
        lines.append(f"  DISCREPANCY {d['type']}: {d['detail']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="Port community message hub.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="validate EDIFACT or XML files")
    v.add_argument("--format", choices=("text", "json"), default="text",
                   help="text for people, json for one JSON object per file (JSON Lines)")
    v.add_argument("paths", nargs="+", metavar="PATH")
    v.set_defaults(func=cmd_validate)
    c = sub.add_parser("contrl", help="print the CONTRL acknowledgement for a file")
    c.add_argument("path", metavar="PATH")
    c.add_argument("--our-id", default="PORTNETHUB", help="the hub's interchange id (UNB sender)")
    c.add_argument("--control-ref", help="interchange control reference of the CONTRL")
    c.set_defaults(func=cmd_contrl)
    m = sub.add_parser("map", help="print the mapped documents of files, without storing them")
    m.add_argument("paths", nargs="+", metavar="PATH")
    m.add_argument("--compact", action="store_true", help="one line of JSON per file")
    m.set_defaults(func=cmd_map)
    db_help = "the store, an SQLAlchemy URL (default: $HUB_DATABASE_URL, else sqlite:///var/hub.db)"
    i = sub.add_parser("ingest", help="validate, map and correlate files into the store")
    i.add_argument("paths", nargs="+", metavar="PATH")
    i.add_argument("--db", help=db_help)
    i.set_defaults(func=cmd_ingest)
    d = sub.add_parser("dossier", help="look at dossiers")
    dsub = d.add_subparsers(dest="dossier_command", required=True)
    show = dsub.add_parser("show", help="print a dossier by id or by key")
    show.add_argument("id", nargs="?")
    for flag in ("--bl", "--container", "--vessel", "--voyage", "--port-call-ref", "--customs-ref"):
        show.add_argument(flag)
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.add_argument("--db", help=db_help)
    show.set_defaults(func=cmd_dossier_show)
    from hub.partner_cli import register as register_partner_commands  # hub check, hub partner ...

    register_partner_commands(sub)
    from hub import ops_cli

    ops_cli.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, which is our usage status too
        return int(e.code or 0)
    try:
        result: int = args.func(args)
    except BrokenPipeError:  # the reader went away (e.g. `| head`): not an error of ours
        sys.stderr.close()
        return EXIT_OK
    return result


if __name__ == "__main__":
    sys.exit(main())
