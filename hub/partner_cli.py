"""`hub check` and `hub partner ...`: the administrator's commands for hub.toml and partners.yaml.

    hub check [--home DIR]                        load hub.toml, partners.yaml and the mapping specs
    hub partner add ID --unb-id SENDER[:QUAL] ... add a partner
    hub partner list [--format text|json]         the partners, one per line
    hub partner suspend ID | resume ID            stop / restart a partner's traffic
    hub partner hash-password                     a password hash for password_hash_env/_file

The editing commands change partners.yaml in place through ruamel.yaml's round trip, so the
administrator's comments and ordering survive; the edited text is loaded with the same checks the hub
applies BEFORE it replaces the file, and it replaces it atomically (a temporary file in the same
folder, then os.replace), so the running hub never reads half a file or a broken one written by us.

Exit status: 0 done, 1 refused (with the reasons), 2 wrong arguments.
"""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import sys
import tempfile
from contextlib import suppress
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from hub.config import ConfigError, Settings, load_settings, partners_path
from hub.config import home as default_home
from hub.partners import (
    ROLES,
    Partners,
    PartnersError,
    UnbId,
    hash_password,
    load_partners,
    parse_partners,
    round_trip_yaml,
)

__all__ = ["cmd_check", "cmd_partner_add", "cmd_partner_hash_password", "cmd_partner_list", "cmd_partner_resume",
           "cmd_partner_suspend", "register"]

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2

_NEW_FILE_HEADER = """\
# partners.yaml: who exchanges messages through the hub, and how (see docs/partners.md).
# Secrets are never written here; `hub check` checks an edit, the hub reloads it on change.
"""


def _home(args: argparse.Namespace) -> Path:
    return Path(args.home).absolute() if args.home else default_home()


def _settings(home: Path) -> tuple[Settings, list[str]]:
    try:
        return load_settings(home), []
    except ConfigError as e:
        return Settings.defaults(home), e.problems


def _say(*lines: str) -> None:
    for line in lines:
        print(line)


def _refuse(*lines: str) -> int:
    for line in lines:
        print(f"hub: {line}", file=sys.stderr)
    return EXIT_REFUSED


# ---- hub check --------------------------------------------------------------------------------------


def _summary(partners: Partners) -> str:
    all_ = partners.all()
    suspended = sum(p.suspended for p in all_)
    n_unb = sum(len(p.unb_ids) for p in all_)
    n_users = sum(p.sftp is not None for p in all_)
    n_folders = sum(p.folder is not None for p in all_)
    return (f"{len(all_)} partners ({suspended} suspended), {len(partners.routes())} routes, {n_unb} UNB ids, "
            f"{len(partners.queues())} AMQP queues, {n_users} SFTP users, {n_folders} watched folders")


def cmd_check(args: argparse.Namespace) -> int:
    """Load everything an administrator edits and say what was found, or every problem."""
    from hub.catalog import Catalog

    home = _home(args)
    problems: list[str] = []
    warnings: list[str] = []
    settings, config_problems = _settings(home)
    problems += config_problems
    toml = home / "hub.toml"
    if toml.is_file() and not config_problems:
        _say(f"{toml}: ok (our ports: {', '.join(settings.our_ports) or 'none set'}; database "
             f"{_redact(settings.database_url)}; AMQP {'on' if settings.amqp_url else 'off'})")
    elif not toml.is_file():
        _say(f"{toml}: not found, every setting at its default")
    path = partners_path(home)
    partners: Partners | None = None
    try:
        partners = load_partners(path, settings)
    except FileNotFoundError:
        warnings.append(f"{path}: not found: the hub starts with no partners")
    except PartnersError as e:
        problems += e.problems
    if partners is not None:
        _say(f"{path}: {_summary(partners)}")
        warnings += partners.warnings
    catalog = Catalog()
    registry = catalog.mappings()
    for fname, why in sorted(registry.problems.items()):
        problems += [f"{catalog.mappings_root / fname}: {p}" for p in why]
    _say(f"{catalog.mappings_root}: {len(registry.specs)} mapping specs")
    guides = catalog.guides()
    problems += [f"{catalog.root / 'guides'}/{p}" for p in catalog.guide_problems]
    if partners is not None:
        for p in partners:
            for entry in p.sends:
                kind, *rest = entry.split(":")
                if len(rest) == 1 and rest[0] not in guides:
                    warnings.append(f"{p.where}: partner {p.id}: sends {entry}: no implementation guide "
                                    f"{rest[0]!r} in {catalog.root / 'guides'} (known: {', '.join(sorted(guides))})")
    for w in warnings:
        _say(f"warning: {w}")
    for problem in problems:
        _say(f"error: {problem}")
    if problems:
        plural = "s" if len(problems) > 1 else ""
        _say(f"{len(problems)} problem{plural}: the hub would not use these files as they are")
        return EXIT_REFUSED
    _say("ok")
    return EXIT_OK


def _redact(url: str) -> str:
    """A URL without the password it may carry."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


# ---- editing partners.yaml --------------------------------------------------------------------------


def _read_document(path: Path) -> tuple[CommentedMap, CommentedSeq, str | None]:
    """The round-trip document, its partners list (created if absent) and the text it came from."""
    try:
        text: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    doc = round_trip_yaml().load(text) if text is not None else None
    if doc is None:  # no file, or nothing but comments (kept)
        doc = round_trip_yaml().load((text.rstrip("\n") + "\n" if text else _NEW_FILE_HEADER) + "partners:\n")
    if not isinstance(doc, CommentedMap):
        raise PartnersError([f"{path}:1: expected a mapping with a 'partners:' list at the top"])
    entries = doc.get("partners")
    if entries is None:
        entries = doc["partners"] = CommentedSeq()
    if not isinstance(entries, CommentedSeq):
        raise PartnersError([f"{path}: 'partners:' is not a list"])
    return doc, entries, text


def _write_checked(path: Path, doc: CommentedMap, before: str | None, settings: Settings) -> int:
    """Validate the edited document as the hub would load it, then replace the file atomically."""
    out = io.StringIO()
    round_trip_yaml().dump(doc, out)
    text = out.getvalue()
    try:
        parse_partners(text, file=str(path), base_dir=path.parent.absolute(), settings=settings)
    except PartnersError as e:
        return _refuse(f"{path} not changed: with this change it would not load:", *e.problems)
    try:
        now = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        now = None
    if now != before:
        return _refuse(f"{path} not changed: someone else changed it meanwhile; run the command again")
    try:
        write_atomically(path, text)
    except OSError as e:
        return _refuse(f"{path}: cannot write: {e.strerror or e}")
    return EXIT_OK


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: readers see the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644  # public keys and routes: nothing secret is ever in this file
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with suppress(OSError):  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _flow(values: list[str]) -> CommentedSeq:
    seq = CommentedSeq(values)
    seq.fa.set_flow_style()
    return seq


def _entry_of(entries: CommentedSeq, partner_id: str) -> CommentedMap | None:
    for e in entries:
        if isinstance(e, CommentedMap) and str(e.get("id", "")).casefold() == partner_id.casefold():
            return e
    return None


def cmd_partner_add(args: argparse.Namespace) -> int:
    home = _home(args)
    settings, problems = _settings(home)
    if problems:
        return _refuse("hub.toml must load first:", *problems)
    path = partners_path(home)
    unb_ids: list[UnbId] = []
    for text in args.unb_id:
        try:
            unb_ids.append(UnbId.parse(text))
        except ValueError as e:
            print(f"hub: --unb-id {e}", file=sys.stderr)
            return EXIT_USAGE
    key_line = None
    if args.sftp_key:
        try:
            lines = [ln.strip() for ln in Path(args.sftp_key).read_text(encoding="utf-8").splitlines()
                     if ln.strip() and not ln.startswith("#")]
        except (OSError, UnicodeDecodeError) as e:
            print(f"hub: --sftp-key {args.sftp_key}: cannot read: {getattr(e, 'strerror', None) or e}",
                  file=sys.stderr)
            return EXIT_USAGE
        if len(lines) != 1:
            print(f"hub: --sftp-key {args.sftp_key}: expected one public key line (a .pub file), found "
                  f"{len(lines)} lines", file=sys.stderr)
            return EXIT_USAGE
        key_line = lines[0]
    try:
        doc, entries, before = _read_document(path)
    except (PartnersError, OSError, YAMLError) as e:
        return _refuse(f"{path}: cannot be edited: {e}")
    if _entry_of(entries, args.id) is not None:
        return _refuse(f"{path} not changed: there is already a partner {args.id}")
    for other in entries:
        if not isinstance(other, CommentedMap):
            continue
        theirs = other.get("unb_ids") or []
        for u in unb_ids:
            if str(u) in [str(x).strip() for x in (theirs if isinstance(theirs, list) else [theirs])]:
                return _refuse(f"{path} not changed: UNB id {u} already belongs to partner {other.get('id')}")
    entry = CommentedMap()
    entry["id"] = args.id
    entry["name"] = args.name or args.id
    entry["role"] = args.role
    entry["unb_ids"] = _flow([str(u) for u in unb_ids])
    if key_line:
        entry["sftp"] = CommentedMap(public_keys=CommentedSeq([key_line]))
    if args.amqp_queue:
        entry["amqp"] = CommentedMap(queues=_flow(args.amqp_queue))
    if args.sends:
        entry["sends"] = _flow(args.sends)
    entries.append(entry)
    entries.yaml_set_comment_before_after_key(
        len(entries) - 1, before=f"\nadded by `hub partner add` on {date.today().isoformat()}", indent=2)
    status = _write_checked(path, doc, before, settings)
    if status == EXIT_OK:
        _say(f"{path}: partner {args.id} added")
    return status


def _set_suspended(args: argparse.Namespace, suspended: bool) -> int:
    home = _home(args)
    settings, problems = _settings(home)
    if problems:
        return _refuse("hub.toml must load first:", *problems)
    path = partners_path(home)
    if not path.is_file():
        return _refuse(f"{path}: no such file, so no partner {args.id}")
    try:
        doc, entries, before = _read_document(path)
    except (PartnersError, OSError, YAMLError) as e:
        return _refuse(f"{path}: cannot be edited: {e}")
    entry = _entry_of(entries, args.id)
    word = "suspended" if suspended else "active"
    if entry is None:
        return _refuse(f"{path} not changed: no partner {args.id}")
    if bool(entry.get("suspended", False)) is suspended:
        _say(f"{path}: partner {entry['id']} is already {word}")
        return EXIT_OK
    if suspended or "suspended" in entry:
        entry["suspended"] = suspended
    status = _write_checked(path, doc, before, settings)
    if status == EXIT_OK:
        _say(f"{path}: partner {entry['id']} is now {word}")
    return status


def cmd_partner_suspend(args: argparse.Namespace) -> int:
    return _set_suspended(args, True)


def cmd_partner_resume(args: argparse.Namespace) -> int:
    return _set_suspended(args, False)


def cmd_partner_list(args: argparse.Namespace) -> int:
    home = _home(args)
    settings, problems = _settings(home)
    if problems:
        return _refuse("hub.toml must load first:", *problems)
    path = partners_path(home)
    try:
        partners = load_partners(path, settings)
    except FileNotFoundError:
        print(f"hub: {path}: no such file: no partners", file=sys.stderr)
        return EXIT_OK
    except PartnersError as e:
        return _refuse(f"{path} does not load:", *e.problems)
    if args.format == "json":
        for p in partners:
            print(json.dumps(p.to_dict(), ensure_ascii=False))
        return EXIT_OK
    rows = [("ID", "ROLE", "STATUS", "UNB IDS", "CHANNELS", "ROUTES", "NAME")]
    for p in partners:
        rows.append((p.id, p.role, "suspended" if p.suspended else "active",
                     ",".join(str(u) for u in p.unb_ids) or "-", ",".join(p.channels()) or "-",
                     str(len(p.receives)), p.name))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return EXIT_OK


def cmd_partner_hash_password(args: argparse.Namespace) -> int:
    """Print the hash of a password read from the terminal (asked twice) or from the first line of stdin."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("hub: the two passwords differ", file=sys.stderr)
            return EXIT_USAGE
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 12:
        print("hub: a partner password has at least 12 characters", file=sys.stderr)
        return EXIT_USAGE
    print(hash_password(password))
    return EXIT_OK


# ---- registration -----------------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add `check` and `partner` to the `hub` command's subparsers."""
    home_help = "the hub's home folder (default: $HUB_HOME, else the current directory)"
    c = sub.add_parser("check", help="check hub.toml, partners.yaml and the mapping specs")
    c.add_argument("--home", metavar="DIR", help=home_help)
    c.set_defaults(func=cmd_check)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", metavar="DIR", help=home_help)
    p = sub.add_parser("partner", help="add, list, suspend or resume partners (edits partners.yaml)")
    psub = p.add_subparsers(dest="partner_command", required=True)
    add = psub.add_parser("add", parents=[common], help="add a partner")
    add.add_argument("id", metavar="ID", help="the partner id, e.g. MAEU (letters, digits, - and _)")
    add.add_argument("--unb-id", action="append", required=True, metavar="SENDER[:QUALIFIER]",
                     help="an interchange id of the partner (repeat for several)")
    add.add_argument("--name", help="the partner's name (default: the id)")
    add.add_argument("--role", choices=ROLES, default="other")
    add.add_argument("--sftp-key", metavar="PUBLIC_KEY_FILE", help="the partner's OpenSSH public key (.pub)")
    add.add_argument("--amqp-queue", action="append", metavar="QUEUE", help="a queue the hub consumes for it")
    add.add_argument("--sends", nargs="+", metavar="TYPE", help="message types it may send (default: any)")
    add.set_defaults(func=cmd_partner_add)
    ls = psub.add_parser("list", parents=[common], help="list the partners")
    ls.add_argument("--format", choices=("text", "json"), default="text",
                    help="text for people, json for one JSON object per partner")
    ls.set_defaults(func=cmd_partner_list)
    for name, func, what in (("suspend", cmd_partner_suspend, "refuse a partner's messages and route nothing "
                                                               "to it"),
                             ("resume", cmd_partner_resume, "end a suspension")):
        s = psub.add_parser(name, parents=[common], help=what)
        s.add_argument("id", metavar="ID")
        s.set_defaults(func=func)
    h = psub.add_parser("hash-password", help="print the hash of a password for password_hash_env/_file")
    h.set_defaults(func=cmd_partner_hash_password)
