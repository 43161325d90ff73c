"""The operator's commands: `hub serve`, `hub outbox list|show|retry|replay|dead`, `hub acks`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def add_commands(sub: Any) -> None:
    home_help = "the hub's folder (partners.yaml, hub.toml, var/); default $HUB_HOME or the current folder"
    s = sub.add_parser("serve", help="run the hub: SFTP, AMQP and folder intake, pipeline, delivery")
    s.add_argument("--home", help=home_help)
    s.add_argument("--sftp-port", type=int, help="the SFTP server's port (default from hub.toml, else 2222)")
    s.add_argument("--workers", type=int, help="pipeline worker threads (default from hub.toml, else 1)")
    s.set_defaults(func=cmd_serve)

    o = sub.add_parser("outbox", help="look at and act on the delivery outbox")
    o.add_argument("--home", help=home_help)
    osub = o.add_subparsers(dest="outbox_command", required=True)
    ls = osub.add_parser("list", help="deliveries, newest first")
    ls.add_argument("--status", choices=("pending", "delivered", "dead"))
    ls.add_argument("--partner")
    ls.add_argument("--message", help="the deliveries of one journalled message")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--format", choices=("text", "json"), default="text")
    ls.set_defaults(func=cmd_outbox_list)
    dead = osub.add_parser("dead", help="dead-lettered deliveries with their reasons")
    dead.add_argument("--partner")
    dead.add_argument("--limit", type=int, default=50)
    dead.add_argument("--format", choices=("text", "json"), default="text")
    dead.set_defaults(func=cmd_outbox_list, status="dead", message=None)
    show = osub.add_parser("show", help="one delivery, its payload on request")
    show.add_argument("id")
    show.add_argument("--payload", action="store_true", help="print the payload bytes instead")
    show.set_defaults(func=cmd_outbox_show)
    for name, statuses, text in (("retry", ("pending",), "send a pending delivery now, with a fresh retry budget"),
                                 ("replay", ("dead", "delivered"), "send a dead (or delivered) delivery again")):
        p = osub.add_parser(name, help=text)
        p.add_argument("ids", nargs="*", metavar="ID")
        if name == "replay":
            p.add_argument("--all-dead", action="store_true", help="every dead delivery (with --partner: its)")
            p.add_argument("--partner")
        p.set_defaults(func=cmd_outbox_requeue, statuses=statuses, verb=name)

    msg = sub.add_parser("messages", help="the journal: what partners sent and what became of it")
    msg.add_argument("--home", help=home_help)
    msub = msg.add_subparsers(dest="messages_command", required=True)
    mls = msub.add_parser("list", help="journalled messages, newest first")
    mls.add_argument("--status", choices=("received", "routed", "failed", "duplicate"))
    mls.add_argument("--partner")
    mls.add_argument("--limit", type=int, default=50)
    mls.add_argument("--format", choices=("text", "json"), default="text")
    mls.set_defaults(func=cmd_messages_list)
    mshow = msub.add_parser("show", help="one message: its envelope, status, validation report and deliveries")
    mshow.add_argument("id")
    mshow.add_argument("--raw", action="store_true", help="print the bytes as received instead")
    mshow.set_defaults(func=cmd_messages_show)

    a = sub.add_parser("acks", help="acknowledgements the hub expects from partners")
    a.add_argument("--home", help=home_help)
    a.add_argument("--status", choices=("waiting", "accepted", "rejected", "overdue"))
    a.add_argument("--partner")
    a.add_argument("--format", choices=("text", "json"), default="text")
    a.set_defaults(func=cmd_acks)


def _settings(args: argparse.Namespace) -> Any:
    from hub.config import load_settings

    return load_settings(Path(args.home) if getattr(args, "home", None) else None)


def _store(args: argparse.Namespace) -> Any:
    from hub.store import open_store

    return open_store(_settings(args).database_url)


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from hub.config import ConfigError, partners_path
    from hub.serve import serve

    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"hub serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.workers:
        settings = replace(settings, pipeline_workers=args.workers)
    return serve(settings, partners_path(settings.home), sftp_port=args.sftp_port)


def _row(d: Any) -> dict[str, Any]:
    return {"id": d.id, "message_id": d.message_id, "partner": d.partner, "channel": d.channel,
            "target": d.target, "kind": d.kind, "filename": d.filename, "status": d.status, "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at.isoformat(), "last_error": d.last_error,
            "created_at": d.created_at.isoformat(),
            "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None}


def cmd_outbox_list(args: argparse.Namespace) -> int:
    with _store(args) as store, store.transaction(write=False) as tx:
        rows = [_row(d) for d in tx.deliveries(status=args.status, partner=args.partner,
                                               message_id=getattr(args, "message", None), limit=args.limit)]
        counts = tx.outbox_counts()
    if args.format == "json":
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return EXIT_OK
    print("outbox: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    for r in rows:
        where = r["target"].get("box") or r["target"].get("routing_key") or r["target"].get("dir") or \
            r["target"].get("remote_dir") or ""
        line = (f"{r['id']}  {r['status']:<9} {r['partner']:<12} {r['channel']}:{where}  {r['kind']:<8} "
                f"{r['filename']}  attempts={r['attempts']}")
        if r["status"] == "pending" and r["attempts"]:
            line += f"  next={r['next_attempt_at']}"
        print(line)
        if r["last_error"]:
            print(f"    {r['last_error']}")
    return EXIT_OK


def cmd_outbox_show(args: argparse.Namespace) -> int:
    with _store(args) as store, store.transaction(write=False) as tx:
        d = tx.delivery(args.id)
    if d is None:
        print(f"hub outbox: no delivery {args.id}", file=sys.stderr)
        return EXIT_REFUSED
    if args.payload:
        sys.stdout.buffer.write(d.payload or b"")
        return EXIT_OK
    print(json.dumps({**_row(d), "size": len(d.payload or b"")}, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_outbox_requeue(args: argparse.Namespace) -> int:
    ids = list(args.ids)
    with _store(args) as store, store.transaction() as tx:
        if getattr(args, "all_dead", False):
            ids += [d.id for d in tx.deliveries(status="dead", partner=args.partner, limit=1_000_000)]
        if not ids:
            print(f"hub outbox {args.verb}: name deliveries (ids)" +
                  (" or --all-dead" if args.verb == "replay" else ""), file=sys.stderr)
            return EXIT_USAGE
        refused = [i for i in ids if not tx.requeue_delivery(i, from_statuses=args.statuses,
                                                             note=f"{args.verb} requested by an operator")]
    for i in ids:
        if i not in refused:
            print(f"{i}: queued for delivery now")
    for i in refused:
        print(f"{i}: not {' or '.join(args.statuses)} (or unknown); nothing done", file=sys.stderr)
    return EXIT_REFUSED if refused else EXIT_OK


def cmd_acks(args: argparse.Namespace) -> int:
    from hub.delivery import check_overdue

    with _store(args) as store:
        check_overdue(store)
        with store.transaction(write=False) as tx:
            rows = tx.expected_acks(status=args.status, partner=args.partner, limit=500)
    for r in rows:
        r = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
        if args.format == "json":
            print(json.dumps(r, ensure_ascii=False, default=str))
        else:
            print(f"{r['partner']:<12} {r['control_ref']:<14} {r['status']:<9} deadline {r['deadline']}"
                  + (f"  answered by {r['ack_message_id']}" if r["ack_message_id"] else ""))
    return EXIT_OK


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def cmd_messages_list(args: argparse.Namespace) -> int:
    with _store(args) as store, store.transaction(write=False) as tx:
        rows = tx.recent_messages(status=args.status, partner=args.partner, limit=args.limit)
    for r in rows:
        r = {k: _iso(v) for k, v in r.items()}
        if args.format == "json":
            print(json.dumps(r, ensure_ascii=False))
            continue
        what = " ".join(str(x) for x in (r["message_type"], r["sender"], r["control_ref"]) if x)
        print(f"{r['id']}  {r['received_at'][:19]}  {r['status']:<9} {r['channel']:<6} {r['partner'] or '-':<10} "
              f"{r['filename'] or '-'}  {what}")
        if r["error"]:
            print(f"    {r['error']}")
    return EXIT_OK


def cmd_messages_show(args: argparse.Namespace) -> int:
    with _store(args) as store, store.transaction(write=False) as tx:
        msg = tx.message(args.id, raw=True)
        if msg is None:
            print(f"hub messages: no message {args.id}", file=sys.stderr)
            return EXIT_REFUSED
        if args.raw:
            sys.stdout.buffer.write(msg.raw or b"")
            return EXIT_OK
        report = tx.report(args.id)
        out = {k: _iso(v) for k, v in vars(msg).items() if k != "raw"}
        out["report"] = report[0] if report else None
        out["deliveries"] = [_row(d) for d in tx.deliveries(message_id=args.id)]
    print(json.dumps(out, indent=2, ensure_ascii=False, default=str))
    return EXIT_OK
