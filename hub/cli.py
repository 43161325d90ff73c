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


def _looks_like_data(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(16).lstrip(b"\xef\xbb\xbf \r\n\t")
    return head.startswith((b"UNA", b"UNB", b"UNH", b"<"))


def validate_bytes(data: bytes) -> Report:
    """EDIFACT or XML, told apart by the first significant byte."""
    head = data[:64].lstrip(b"\xef\xbb\xbf \r\n\t")
    if head.startswith(b"<"):
        from hub.xml import validate as validate_xml

        return validate_xml(data)
    from hub.edifact import validate

    return validate(data)


def cmd_validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for name, path in _files(args.paths):
        if path is None:
            print(f"hub: {name}: no such file or folder", file=sys.stderr)
            status = EXIT_USAGE
            continue
        try:
            data = path.read_bytes()
        except OSError as e:
            print(f"hub: {name}: cannot read: {e.strerror}", file=sys.stderr)
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, which is our usage status too
        return int(e.code or 0)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
