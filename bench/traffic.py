"""Typical traffic for load tests and benchmarks: distinct CUSCAR, IFTMIN, small BAPLIE and WCO XML
messages made from the bundled samples, spread over many vessel calls.

Each message gets its own interchange reference (no two are duplicates), its own B/L numbers and
containers (valid ISO 6346 numbers), a voyage shared by the messages of one call, so correlation
files them into `calls` vessel calls rather than piling everything into one dossier, and a document
date (DTM+137) a minute after the previous message's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from hub.dossier.keys import iso6346_check_digit

ROOT = Path(__file__).resolve().parents[1]

# (template, sending partner, the tokens made unique per message, the voyage token)
_EDIFACT = (
    ("samples/cuscar-d95b.edi", "AML", (b"CUS2511270001", b"AMLTNG0004512", b"CSLSHA0019876", b"MAN2025CAS0712N"),
     b"0712N"),
    ("samples/iftmin-d96a.edi", "KASBAH", (b"KFL000871", b"AMLCAS0098123", b"KFL-2025-0871", b"KFL-SI-2025-0871"),
     b"0714N"),
    ("samples/baplie-smdg22.edi", "AML", (b"AML2511260001", b"AMLBP000101"), b"0712N"),
)
_XML = ("tests/scenario/data/05-wco-declaration.xml", "BROKER", (b"CSB-BRK-2025-004711",), b"0712N")
_DOCUMENT_TIME = re.compile(rb"DTM\+137:\d+:(201|203)'")
_START = datetime(2025, 11, 20, 6, 0)
_CONTAINERS = re.compile(rb"(?<![A-Z0-9])([A-Z]{3}U)(\d{6})(\d)(?![A-Z0-9])")


def _document_time(match: re.Match[bytes], n: int) -> bytes:
    """DTM+137 (document date/time) n minutes after the start of the traffic, in the message's own
    format (201 YYMMDDHHMM, 203 CCYYMMDDHHMM): messages are dated in the order they are sent, as a
    partner's are, rather than every copy of a template bearing the template's date."""
    when = _START + timedelta(minutes=n)
    value = when.strftime("%y%m%d%H%M" if match.group(1) == b"201" else "%Y%m%d%H%M").encode()
    return b"DTM+137:" + value + b":" + match.group(1) + b"'"


def _renumber_containers(body: bytes, n: int) -> bytes:
    """Give the message's containers serial numbers of their own (with the right check digit)."""
    seen: dict[bytes, bytes] = {}

    def new(match: re.Match[bytes]) -> bytes:
        old = match.group(0)
        if old not in seen:
            first10 = match.group(1).decode() + f"{(n * 8 + len(seen)) % 1_000_000:06d}"
            seen[old] = (first10 + str(iso6346_check_digit(first10) % 10)).encode()
        return seen[old]

    return _CONTAINERS.sub(new, body)


@dataclass(frozen=True)
class Message:
    n: int
    kind: str  # cuscar, iftmin, baplie, wco
    partner: str
    body: bytes


def _unique(token: bytes, n: int) -> bytes:
    """A token of the same length, made unique by `n`: its last 7 characters become n, zero-padded."""
    width = min(7, len(token) - 2)
    tail = f"{n:0{width}d}".encode()
    if len(tail) > width:
        raise ValueError(f"message number {n} does not fit in {token!r}")
    return token[: len(token) - width] + tail


def messages(count: int, calls: int = 50) -> list[Message]:
    templates = [(ROOT / path).read_bytes() for path, *_ in _EDIFACT]
    xml = (ROOT / _XML[0]).read_bytes()
    out = []
    for n in range(count):
        call = n % calls
        voyage = f"{call:04d}N".encode()
        k = n % 4
        if k < 3:
            path, partner, tokens, old_voyage = _EDIFACT[k]
            body = templates[k]
            kind = Path(path).name.split("-")[0]
        else:
            _, partner, tokens, old_voyage = _XML
            # The declaration clears a B/L of the manifest sent three messages earlier (same call).
            body, kind = xml.replace(b"AMLTNG0004512", _unique(b"AMLTNG0004512", n - 3)), "wco"
        for token in tokens:
            body = body.replace(token, _unique(token, n))
        # The call's outbound voyage too (the bayplan names both), or every call would share one.
        body = body.replace(old_voyage, voyage).replace(b"0713S", f"{call:04d}S".encode())
        body = _renumber_containers(body, n)
        body = _DOCUMENT_TIME.sub(partial(_document_time, n=n), body)
        out.append(Message(n, kind, partner, body))
    return out


PARTNERS_YAML = """\
partners:
  - id: AML
    name: Atlas Maghreb Lines
    role: line
    unb_ids: [AMLCAS:ZZZ, AMLTNG:ZZZ]
    amqp: {{queues: [{prefix}.aml], deliver_routing_key: {prefix}.aml.back}}
    acks: {{contrl: never}}
  - id: KASBAH
    name: Kasbah Freight
    role: forwarder
    unb_ids: [KASBAHFWD:ZZZ]
    amqp: {{queues: [{prefix}.kasbah], deliver_routing_key: {prefix}.kasbah.back}}
    acks: {{contrl: never}}
  - id: BROKER
    name: Customs broker
    role: agent
    amqp: {{queues: [{prefix}.broker], deliver_routing_key: {prefix}.broker.back}}
    acks: {{contrl: never}}
  - id: PORT
    name: Port authority
    role: port
    amqp: {{deliver_routing_key: {prefix}.out}}
    receives:
      - types: ["*"]
        via: amqp
"""
