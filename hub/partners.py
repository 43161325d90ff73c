"""Trading partners: `partners.yaml` read into frozen records, checked, and looked up by identifier.

A partner is whoever sends to or receives from the hub: a line, a terminal, customs, a forwarder. Its
entry says how to recognise it (UNB ids, XML ids, party ids in dossiers), how it talks to the hub
(its SFTP box, AMQP queues, a watched folder), what it may send, how strict validation is with it,
which acknowledgements it wants, and which messages the hub routes to it (`receives`).

Rules of this module:
- loading collects every problem of the file, each as `file:line: partner ID: field: sentence`, and
  raises `PartnersError` with all of them; nothing is half-loaded. Unknown keys are problems (with a
  "did you mean"), because a mistyped `suspendd: true` must not pass silently;
- secrets are never in the YAML: a partner's SFTP password hash comes from an environment variable or
  a file named in the entry, a push password from an environment variable; an inline `password` or
  `password_hash` is refused;
- `PartnersFile` serves the last good load: an administrator's broken edit is reported (log and
  `last_error`) and never replaces a working set of partners.

No network I/O. The files read are partners.yaml and the secret and key files it names.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from hub.config import Settings, did_you_mean
from hub.edifact.validator import Options
from hub.report import Severity
from hub.routing import OUTPUT_FORMATS, ROUTE_FIELDS

__all__ = [
    "ACK_CHANNELS", "CONTRL_POLICIES", "DELIVERY_CHANNELS", "ROLES", "AckPreferences", "AmqpChannel",
    "FolderChannel", "Partner", "Partners", "PartnersError", "PartnersFile", "ReceiveRule", "SftpChannel",
    "SftpPush", "Strictness", "UnbId", "check_public_key", "hash_password", "load_partners",
    "parse_partners", "round_trip_yaml", "verify_password",
]

log = logging.getLogger("hub.partners")

ROLES = ("port", "terminal", "line", "agent", "forwarder", "customs", "health", "authority", "other")
DELIVERY_CHANNELS = ("sftp", "sftp-push", "amqp", "folder")  # `via` of a receive rule
ACK_CHANNELS = ("same", "sftp", "amqp", "folder")
CONTRL_POLICIES = ("always", "when_requested", "never")
DEFAULT_MAX_FILE_SIZE = 50_000_000  # a 24,000-container bayplan is about 10 MB
DEFAULT_MAX_UPLOADS_PER_MINUTE = 120  # two a second: far above any real partner, low enough to stop a loop

_PARTNER_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_UNB_PART = re.compile(r"[^:+'?]{1,35}")  # 0004: an..35, without the default separators
_QUALIFIER = re.compile(r"[A-Za-z0-9]{1,4}")  # 0007: an..4
_MESSAGE_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # CUSCAR, or an XML document id (wco-dec)
_SENDS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(?::[A-Za-z0-9_.-]+){0,2}")
_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIZE = re.compile(r"\s*([0-9]+)\s*([KMG]i?B|B)?\s*", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


class PartnersError(Exception):
    """partners.yaml cannot be used. `problems` lists every problem found, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# ---- the model --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnbId:
    """An interchange sender/recipient identification (UNB 0004) and its code qualifier (0007)."""

    id: str
    qualifier: str | None = None

    @classmethod
    def parse(cls, text: str) -> UnbId:
        """`MAEU:ZZZ` or `MAEU`. Raises ValueError with a sentence for anything else."""
        ident, sep, qual = text.strip().partition(":")
        if not _UNB_PART.fullmatch(ident) or ident != ident.strip():
            raise ValueError(f"{text!r} is not an interchange id (1 to 35 characters, then optionally "
                             "':' and a qualifier, e.g. 'MAEU:ZZZ')")
        if sep and not _QUALIFIER.fullmatch(qual):
            raise ValueError(f"{text!r}: the qualifier after ':' must be 1 to 4 letters or digits (e.g. ZZZ, 14)")
        return cls(ident, qual if sep else None)

    def __str__(self) -> str:
        return f"{self.id}:{self.qualifier}" if self.qualifier else self.id


@dataclass(frozen=True)
class SftpPush:
    """Delivery to the partner's own SFTP server. `password` is resolved from `password_env` at load."""

    host: str
    port: int
    username: str
    remote_dir: str
    known_hosts: Path
    key_file: Path | None = None
    password_env: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SftpChannel:
    """The partner's box on the hub's SFTP server (it uploads to in/, collects from out/)."""

    username: str
    public_keys: tuple[str, ...] = ()  # OpenSSH lines, as written
    password_hash: str | None = field(default=None, repr=False)  # scrypt$..., resolved at load
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    max_uploads_per_minute: int = DEFAULT_MAX_UPLOADS_PER_MINUTE
    push: SftpPush | None = None

    @property
    def can_log_in(self) -> bool:
        return bool(self.public_keys) or self.password_hash is not None


@dataclass(frozen=True)
class AmqpChannel:
    queues: tuple[str, ...] = ()  # queues the hub consumes for this partner
    deliver_exchange: str = ""  # "" is the default exchange: the routing key is a queue name
    deliver_routing_key: str | None = None  # where the hub publishes to the partner
    ack_routing_key: str | None = None  # where acknowledgements go, if not deliver_routing_key

    @property
    def can_deliver(self) -> bool:
        return self.deliver_routing_key is not None


@dataclass(frozen=True)
class FolderChannel:
    in_dir: Path
    out_dir: Path


@dataclass(frozen=True)
class Strictness:
    unoa_lowercase: str = "error"  # lower case letters under UNOA: "error" or "warning"

    def validator_options(self) -> Options:
        return Options(lowercase_under_unoa=Severity(self.unoa_lowercase))


@dataclass(frozen=True)
class AckPreferences:
    contrl: str = "when_requested"  # "always" | "when_requested" (UNB 0031 = 1) | "never"
    aperak: bool = True
    channel: str = "same"  # "same": the channel the message came in on
    expect_contrl: bool = False  # the partner acknowledges what the hub sends it
    deadline_minutes: int = 60

    def wants_contrl(self, requested: bool) -> bool:
        """Whether to send a CONTRL for an interchange whose UNB 0031 did (or did not) ask for one."""
        return self.contrl == "always" or (self.contrl == "when_requested" and requested)


@dataclass(frozen=True)
class ReceiveRule:
    """One outbound route to the partner that declares it. `where` is `file:line`, for explanations."""

    types: tuple[str, ...] = ("*",)
    senders: tuple[str, ...] = ()  # `from:` in the YAML; empty: from anyone
    when: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    output: str = "original"  # `as:` in the YAML, one of hub.routing.OUTPUT_FORMATS
    via: str = "sftp"
    where: str = field(default="", compare=False)

    def accepts_type(self, message_type: str) -> bool:
        return "*" in self.types or message_type.casefold() in (t.casefold() for t in self.types)

    def accepts_sender(self, partner_id: str | None) -> bool:
        return not self.senders or partner_id in self.senders


@dataclass(frozen=True)
class Partner:
    id: str
    name: str
    role: str = "other"
    unb_ids: tuple[UnbId, ...] = ()
    xml_ids: tuple[str, ...] = ()
    party_ids: tuple[str, ...] = ()
    sftp: SftpChannel | None = None
    amqp: AmqpChannel | None = None
    folder: FolderChannel | None = None
    sends: tuple[str, ...] = ()  # "CUSCAR", "BAPLIE:SMDG22", "IFTMIN:D:99B"; empty: anything
    strictness: Strictness = Strictness()
    acks: AckPreferences = AckPreferences()
    receives: tuple[ReceiveRule, ...] = ()
    suspended: bool = False
    where: str = field(default="", compare=False)  # file:line of the entry

    def channels(self) -> tuple[str, ...]:
        """The delivery channels the partner has, in the order a rule without `via` picks them."""
        found = []
        if self.sftp is not None and self.sftp.push is not None:
            found.append("sftp-push")
        if self.sftp is not None and self.sftp.can_log_in:
            found.append("sftp")
        if self.amqp is not None and self.amqp.can_deliver:
            found.append("amqp")
        if self.folder is not None:
            found.append("folder")
        return tuple(found)

    def may_send(self, message_type: str, directory: str | None = None, guide: str | None = None) -> bool:
        """Whether `sends` allows a message: `BAPLIE` any BAPLIE, `BAPLIE:SMDG22` one whose UNH
        association code is SMDG22, `IFTMIN:D:99B` one of directory D99B."""
        if not self.sends:
            return True
        for entry in self.sends:
            kind, *rest = entry.split(":")
            if kind.casefold() != message_type.casefold():
                continue
            if not rest or (len(rest) == 1 and rest[0] == guide) or (
                    len(rest) == 2 and "".join(rest).upper() == (directory or "").upper()):
                return True
        return False

    def validator_options(self) -> Options:
        return self.strictness.validator_options()

    def to_dict(self) -> dict[str, Any]:
        """The partner as plain data, secrets left out (only whether there is one)."""
        out: dict[str, Any] = {
            "id": self.id, "name": self.name, "role": self.role, "suspended": self.suspended,
            "unb_ids": [str(u) for u in self.unb_ids], "xml_ids": list(self.xml_ids),
            "party_ids": list(self.party_ids), "channels": list(self.channels()), "sends": list(self.sends),
            "strictness": {"unoa_lowercase": self.strictness.unoa_lowercase},
            "acks": {"contrl": self.acks.contrl, "aperak": self.acks.aperak, "channel": self.acks.channel,
                     "expect_contrl": self.acks.expect_contrl, "deadline_minutes": self.acks.deadline_minutes},
            "receives": [{"types": list(r.types), "from": list(r.senders),
                          "when": {k: list(v) for k, v in r.when.items()}, "as": r.output, "via": r.via}
                         for r in self.receives],
        }
        if self.sftp is not None:
            s = self.sftp
            out["sftp"] = {"username": s.username, "public_keys": len(s.public_keys),
                           "password": s.password_hash is not None, "max_file_size": s.max_file_size,
                           "max_uploads_per_minute": s.max_uploads_per_minute}
            if s.push is not None:
                out["sftp"]["push"] = {"host": s.push.host, "port": s.push.port, "username": s.push.username,
                                       "remote_dir": s.push.remote_dir}
        if self.amqp is not None:
            a = self.amqp
            out["amqp"] = {"queues": list(a.queues), "deliver_exchange": a.deliver_exchange,
                           "deliver_routing_key": a.deliver_routing_key, "ack_routing_key": a.ack_routing_key}
        if self.folder is not None:
            out["folder"] = {"in_dir": str(self.folder.in_dir), "out_dir": str(self.folder.out_dir)}
        return out


def _party_key(text: str) -> str:
    """Party ids match whatever their case and spacing ("Kasbah  Freight" is "KASBAH FREIGHT")."""
    return " ".join(text.split()).casefold()


# Identifiers that must name one partner only: kind -> the partner's values of that kind.
_UNIQUE: dict[str, Callable[[Partner], Iterable[str]]] = {
    "id": lambda p: [p.id.casefold()],
    "UNB id": lambda p: [str(u) for u in p.unb_ids],
    "XML id": lambda p: p.xml_ids,
    "party id": lambda p: [_party_key(x) for x in p.party_ids],
    "SFTP username": lambda p: [p.sftp.username] if p.sftp else [],
    "AMQP queue": lambda p: p.amqp.queues if p.amqp else [],
}


def _conflicts(partners: Sequence[Partner]) -> list[tuple[Partner, str]]:
    """(partner, sentence) for each identifier that a partner shares with an earlier one."""
    found: list[tuple[Partner, str]] = []
    for kind, values in _UNIQUE.items():
        owner: dict[str, Partner] = {}
        for p in partners:
            for v in dict.fromkeys(values(p)):
                first = owner.setdefault(v, p)
                if first is not p:
                    found.append((p, f"{kind} {v!r} is already partner {first.id}'s ({first.where or 'above'}); "
                                     "each must name one partner only"))
    # An id declared without qualifier matches it under any qualifier: it must not overlap another's.
    bare = {u.id: p for p in partners for u in p.unb_ids if u.qualifier is None}
    for p in partners:
        for u in p.unb_ids:
            q = bare.get(u.id)
            if u.qualifier is not None and q is not None and q is not p:
                found.append((p, f"UNB id {str(u)!r} is also matched by partner {q.id}'s {u.id!r}, declared "
                                 "without qualifier (which stands for any qualifier); give it one"))
    return found


class Partners:
    """A loaded, consistent set of partners, with lookups. Lookups return suspended partners too (so
    intake can say why it refuses); `queues()` lists only what should be consumed."""

    def __init__(self, partners: Iterable[Partner] = (), *, warnings: Sequence[str] = (),
                 sources: Sequence[Path] = ()) -> None:
        self._all = tuple(partners)
        problems = _conflicts(self._all)
        if problems:
            raise PartnersError([f"{p.where or 'partners'}: partner {p.id}: {text}" for p, text in problems])
        self.warnings = tuple(warnings)
        self.sources = tuple(sources)  # every file the load read (for reload on change)
        self._by_id = {p.id: p for p in self._all}
        self._by_unb: dict[tuple[str, str | None], Partner] = {
            (u.id, u.qualifier): p for p in self._all for u in p.unb_ids}
        self._by_xml = {x: p for p in self._all for x in p.xml_ids}
        self._by_party = {_party_key(x): p for p in self._all for x in p.party_ids}
        self._by_user = {p.sftp.username: p for p in self._all if p.sftp is not None}
        self._by_queue = {q: p for p in self._all if p.amqp is not None for q in p.amqp.queues}

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[Partner]:
        return iter(self._all)

    def all(self) -> tuple[Partner, ...]:
        return self._all

    def get(self, partner_id: str) -> Partner | None:
        return self._by_id.get(partner_id)

    def by_unb(self, unb_id: str, qualifier: str | None = None) -> Partner | None:
        """The partner with this interchange id: declared with this qualifier, or declared without one."""
        return self._by_unb.get((unb_id, qualifier or None)) or self._by_unb.get((unb_id, None))

    def by_xml_id(self, xml_id: str) -> Partner | None:
        return self._by_xml.get(xml_id)

    def by_party_id(self, party_id: str) -> Partner | None:
        return self._by_party.get(_party_key(party_id))

    def by_sftp_user(self, username: str) -> Partner | None:
        return self._by_user.get(username)

    def by_queue(self, queue: str) -> Partner | None:
        return self._by_queue.get(queue)

    def queues(self) -> tuple[str, ...]:
        """The inbound AMQP queues of the partners that are not suspended."""
        return tuple(q for p in self._all if p.amqp is not None and not p.suspended for q in p.amqp.queues)

    def routes(self) -> tuple[tuple[Partner, ReceiveRule], ...]:
        """Every receive rule with the partner it delivers to."""
        return tuple((p, r) for p in self._all for r in p.receives)


# ---- passwords --------------------------------------------------------------------------------------

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1  # 16 MiB and ~50 ms a check: the usual interactive cost
_HASH = re.compile(r"scrypt\$([0-9]+)\$([0-9]+)\$([0-9]+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)")


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` (salt and hash in base64), for password_hash_env / password_hash_file."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
                            dklen=32)
    return (f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}$"
            f"{base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}")


def _parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    m = _HASH.fullmatch(stored.strip())
    if not m:
        return None
    n, r, p = int(m[1]), int(m[2]), int(m[3])
    # Bounds keep a hostile or mistyped hash from costing gigabytes: n a power of two up to 2**20.
    if not (1 < n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        return None
    try:
        salt, digest = base64.b64decode(m[4], validate=True), base64.b64decode(m[5], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(salt) < 8 or len(digest) < 16:
        return None
    return n, r, p, salt, digest


def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches a hash made by `hash_password`; False for a malformed hash."""
    parsed = _parse_hash(stored)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    try:
        candidate = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(digest),
                                   maxmem=128 * r * (n + p + 2) + 1024 * 1024)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(candidate, digest)


# ---- public keys ------------------------------------------------------------------------------------

_KEY_EXAMPLE = "expected 'ssh-ed25519 AAAA...', one line of a .pub file"


def check_public_key(line: str) -> str | None:
    """Why an OpenSSH public key line is unusable, or None when paramiko reads it."""
    import paramiko  # type: ignore[import-untyped]  # (paramiko ships no type information)

    parts = line.split()
    if len(parts) < 2:
        return f"not an OpenSSH public key ({_KEY_EXAMPLE})"
    kind, data = parts[0], parts[1]
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return f"not an OpenSSH public key: the part after {kind!r} is not base64 ({_KEY_EXAMPLE})"
    try:
        key = paramiko.PKey.from_type_string(kind, blob)
    except paramiko.pkey.UnknownKeyType:
        return (f"key type {kind!r} is not supported (use ssh-ed25519, ecdsa-sha2-nistp256 or ssh-rsa of at "
                "least 2048 bits)")
    except Exception:  # paramiko raises several kinds on damaged key data
        return f"the {kind} key data is damaged (copy the whole line of the partner's .pub file again)"
    if kind == "ssh-rsa" and key.get_bits() < 2048:
        return f"an RSA key of {key.get_bits()} bits is too weak (at least 2048)"
    return None


# ---- reading the YAML -------------------------------------------------------------------------------


def round_trip_yaml() -> YAML:
    y = YAML(typ="rt")
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # keep long lines (public keys) on one line when writing
    y.preserve_quotes = True  # an edit by `hub partner` changes only what it means to change
    return y


def _as_text(value: Any) -> str | None:
    return str(value) if isinstance(value, str) else None


def _show(value: Any) -> str:
    """A value as an error message shows it: YAML containers by kind, not by their Python repr."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "nothing" if value is None else repr(value)


def _line_of_key(node: Any, key: Any) -> int | None:
    try:
        return int(node.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return None


def _line_of_item(node: Any, index: int) -> int | None:
    try:
        return int(node.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return None


def _line_of(node: Any) -> int | None:
    try:
        return int(node.lc.line) + 1
    except (AttributeError, TypeError):
        return None


class _Reader:
    """The state of one load: problems found (with lines), files read, warnings."""

    def __init__(self, file: str, base: Path, settings: Settings, environ: Mapping[str, str]) -> None:
        self.file, self.base, self.settings, self.environ = file, base, settings, environ
        self.problems: list[tuple[int, str]] = []
        self.warnings: list[str] = []
        self.sources: list[Path] = []

    def problem(self, line: int | None, where: str, text: str) -> None:
        self.problems.append((line or 0, f"{self.file}:{line or 1}: {where}: {text}"))

    def warn(self, line: int | None, where: str, text: str) -> None:
        self.warnings.append(f"{self.file}:{line or 1}: {where}: {text}")

    def resolve(self, text: str) -> Path:
        p = Path(text).expanduser()
        return p if p.is_absolute() else self.base / p


class _Fields:
    """One YAML mapping of the file: typed getters that record a problem (and return a default) when a
    value is wrong, so one pass finds everything."""

    def __init__(self, rd: _Reader, node: CommentedMap, owner: str, prefix: str, line: int | None) -> None:
        self.rd, self.node, self.owner, self.prefix, self.line0 = rd, node, owner, prefix, line

    def check_keys(self, allowed: Sequence[str], refused: Mapping[str, str] | None = None) -> None:
        for key in self.node:
            if refused and key in refused:
                self.bad(key, refused[key])
            elif key not in allowed:
                self.bad(key, f"unknown key{did_you_mean(str(key), allowed)}; "
                              f"{self.prefix.rstrip('.') or 'a partner'} takes {', '.join(allowed)}")

    def where(self, key: str) -> str:
        return f"{self.owner}: {self.prefix}{key}"

    def line(self, key: str) -> int | None:
        return _line_of_key(self.node, key) or self.line0

    def bad(self, key: str, text: str) -> None:
        self.rd.problem(self.line(key), self.where(key), text)

    def has(self, key: str) -> bool:
        return key in self.node

    def text(self, key: str, *, required: bool = False, pattern: re.Pattern[str] | None = None,
             expected: str = "text") -> str | None:
        if key not in self.node:
            if required:
                self.rd.problem(self.line0, self.where(key), f"missing (expected {expected})")
            return None
        value = _as_text(self.node[key])
        if value is None or not value.strip():
            hint = " in quotes, so YAML keeps it as text" if isinstance(self.node[key], int | float) else ""
            self.bad(key, f"expected {expected}{hint}, got {_show(self.node[key])}")
            return None
        value = value.strip()
        if pattern is not None and not pattern.fullmatch(value):
            self.bad(key, f"{value!r} is not valid: expected {expected}")
            return None
        return value

    def integer(self, key: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
        if key not in self.node:
            return default
        value = self.node[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
                maximum is not None and value > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
            self.bad(key, f"expected a whole number {bounds}, got {_show(value)}")
            return default
        return int(value)

    def size(self, key: str, default: int) -> int:
        if key not in self.node:
            return default
        value = self.node[key]
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return int(value)
        m = _SIZE.fullmatch(value) if isinstance(value, str) else None
        if m and int(m[1]) > 0:
            return int(m[1]) * _SIZE_UNITS[(m[2] or "b").lower()]
        self.bad(key, f"expected a size in bytes, e.g. 50000000 or \"50 MB\", got {_show(value)}")
        return default

    def boolean(self, key: str, default: bool) -> bool:
        if key not in self.node:
            return default
        value = self.node[key]
        if not isinstance(value, bool):
            self.bad(key, f"expected true or false, got {_show(value)}")
            return default
        return value

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        if key not in self.node:
            return default
        value = self.node[key]
        if value not in choices:
            hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
            self.bad(key, f"{value!r} is not one of {', '.join(choices)}{hint}")
            return default
        return str(value)

    def items(self, key: str) -> list[tuple[Any, int | None, str]]:
        """The entries of a list (a single value counts as a list of one), each with line and name."""
        if key not in self.node or self.node[key] is None:
            return []
        value = self.node[key]
        if isinstance(value, CommentedSeq):
            return [(v, _line_of_item(value, i) or self.line(key), f"{self.where(key)}[{i}]")
                    for i, v in enumerate(value)]
        if isinstance(value, dict):
            self.bad(key, "expected a list, got a mapping")
            return []
        return [(value, self.line(key), self.where(key))]

    def texts(self, key: str, *, pattern: re.Pattern[str] | None = None, expected: str = "text") -> tuple[str, ...]:
        out: list[str] = []
        for value, line, where in self.items(key):
            text = _as_text(value)
            if text is None or not text.strip():
                hint = " in quotes, so YAML keeps it as text" if isinstance(value, int | float) else ""
                self.rd.problem(line, where, f"expected {expected}{hint}, got {_show(value)}")
            elif pattern is not None and not pattern.fullmatch(text.strip()):
                self.rd.problem(line, where, f"{text!r} is not valid: expected {expected}")
            else:
                out.append(text.strip())
        return tuple(out)

    def sub(self, key: str) -> _Fields | None:
        if key not in self.node:
            return None
        value = self.node[key]
        if value is None:
            value = CommentedMap()  # `folder:` alone: the section with every default
        if not isinstance(value, CommentedMap):
            self.bad(key, f"expected a mapping (keys indented under '{key}:'), got {_show(value)}")
            return None
        return _Fields(self.rd, value, self.owner, f"{self.prefix}{key}.", self.line(key))

    def path(self, key: str, *, required: bool = False, must_exist: bool = True) -> Path | None:
        text = self.text(key, required=required, expected="a path (relative to the folder of partners.yaml)")
        if text is None:
            return None
        p = self.rd.resolve(text)
        if must_exist and not p.is_file():
            self.bad(key, f"{p}: no such file")
            return None
        if must_exist:
            self.rd.sources.append(p)
        return p


# ---- one partner ------------------------------------------------------------------------------------

_PARTNER_KEYS = ("id", "name", "role", "unb_ids", "xml_ids", "party_ids", "sftp", "amqp", "folder", "sends",
                 "strictness", "acks", "receives", "suspended")
_SFTP_KEYS = ("username", "public_keys", "password_hash_env", "password_hash_file", "max_file_size",
              "max_uploads_per_minute", "push")
_PUSH_KEYS = ("host", "port", "username", "key_file", "password_env", "remote_dir", "known_hosts")
_AMQP_KEYS = ("queues", "deliver_exchange", "deliver_routing_key", "ack_routing_key")
_FOLDER_KEYS = ("in_dir", "out_dir")
_ACK_KEYS = ("contrl", "aperak", "channel", "expect_contrl", "deadline_minutes")
_RULE_KEYS = ("types", "from", "when", "as", "via")
_NO_SECRETS = ("never write a password or its hash in partners.yaml: put the hash made by "
               "`hub partner hash-password` in an environment variable named by password_hash_env, or in a "
               "file named by password_hash_file")
_NO_PUSH_PASSWORD = ("never write a password in partners.yaml: name the environment variable that holds it "
                     "with password_env (or use key_file)")
_AMQP_NAME = re.compile(r"[^\s]{1,255}")
_SENDS_EXPECTED = "a message type, optionally with a guide or a directory: CUSCAR, BAPLIE:SMDG22, IFTMIN:D:99B"


def _read_secret_env(rd: _Reader, f: _Fields, key: str) -> tuple[str | None, str | None]:
    """(value, name) of the environment variable named under `key`; a problem when it is not set."""
    var = f.text(key, pattern=_ENV_VAR, expected="the name of an environment variable")
    if var is None:
        return None, None
    value = rd.environ.get(var)
    if not value:
        f.bad(key, f"the environment variable {var} is not set (or empty) in the hub's environment")
        return None, var
    return value, var


def _read_sftp(rd: _Reader, f: _Fields, partner_id: str) -> SftpChannel:
    known_problems = len(rd.problems)
    f.check_keys(_SFTP_KEYS, {"password": _NO_SECRETS, "password_hash": _NO_SECRETS})
    username = f.text("username", pattern=_PARTNER_ID, expected="1 to 32 letters, digits, '-' or '_'") or partner_id
    keys = []
    for value, line, where in f.items("public_keys"):
        text = _as_text(value)
        problem = check_public_key(text) if text else f"not an OpenSSH public key ({_KEY_EXAMPLE})"
        if problem:
            rd.problem(line, where, problem)
        elif text:
            keys.append(" ".join(text.split()))
    password_hash, _ = _read_secret_env(rd, f, "password_hash_env")
    from_env = f.has("password_hash_env")
    hash_file = f.path("password_hash_file")
    if from_env and f.has("password_hash_file"):
        f.bad("password_hash_file", "give password_hash_env or password_hash_file, not both")
    elif hash_file is not None:
        try:
            password_hash = hash_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            f.bad("password_hash_file", f"{hash_file}: cannot read: {getattr(e, 'strerror', None) or e}")
        else:
            if hash_file.stat().st_mode & 0o077:
                rd.warn(f.line("password_hash_file"), f.where("password_hash_file"),
                        f"{hash_file} can be read by other users of this machine (chmod 600 it)")
    if password_hash is not None and _parse_hash(password_hash) is None:
        key = "password_hash_env" if from_env else "password_hash_file"
        f.bad(key, "does not hold a password hash made by `hub partner hash-password` (scrypt$...)")
        password_hash = None
    push = None
    pf = f.sub("push")
    if pf is not None:
        push = _read_push(rd, pf, partner_id)
    channel = SftpChannel(
        username=username, public_keys=tuple(keys), password_hash=password_hash,
        max_file_size=f.size("max_file_size", DEFAULT_MAX_FILE_SIZE),
        max_uploads_per_minute=f.integer("max_uploads_per_minute", DEFAULT_MAX_UPLOADS_PER_MINUTE), push=push)
    # Said only when nothing else is wrong in the section (a mistyped key is reason enough).
    if not channel.can_log_in and not f.has("push") and len(rd.problems) == known_problems:
        rd.problem(f.line0, f"{f.owner}: sftp", "the partner cannot log in: give public_keys, password_hash_env "
                   "or password_hash_file (or push, to deliver to the partner's own server)")
    return channel


def _read_push(rd: _Reader, f: _Fields, partner_id: str) -> SftpPush | None:
    f.check_keys(_PUSH_KEYS, {"password": _NO_PUSH_PASSWORD})
    host = f.text("host", required=True, expected="the host name or address of the partner's SFTP server")
    port = f.integer("port", 22, maximum=65535)
    username = f.text("username", expected="the user name on the partner's server") or partner_id
    remote_dir = f.text("remote_dir", expected="a folder on the partner's server") or "."
    known_hosts = f.path("known_hosts", required=True)
    key_file = f.path("key_file")
    password, password_env = _read_secret_env(rd, f, "password_env")
    if not (f.has("key_file") or f.has("password_env")):
        rd.problem(f.line0, f"{f.owner}: sftp.push", "give key_file (a private key the hub logs in with) or "
                   "password_env (the environment variable holding the password)")
    if host is None or known_hosts is None:
        return None
    return SftpPush(host=host, port=port, username=username, remote_dir=remote_dir, known_hosts=known_hosts,
                    key_file=key_file, password_env=password_env, password=password)


def _read_amqp(f: _Fields) -> AmqpChannel:
    f.check_keys(_AMQP_KEYS)
    exchange = f.node.get("deliver_exchange", "")
    if not isinstance(exchange, str) or not _AMQP_NAME.fullmatch(exchange or "x"):
        f.bad("deliver_exchange", f"expected an exchange name (\"\" for the default exchange), got {_show(exchange)}")
        exchange = ""
    return AmqpChannel(
        queues=f.texts("queues", pattern=_AMQP_NAME, expected="a queue name (no spaces)"),
        deliver_exchange=exchange.strip(),
        deliver_routing_key=f.text("deliver_routing_key", pattern=_AMQP_NAME, expected="a routing key (no spaces)"),
        ack_routing_key=f.text("ack_routing_key", pattern=_AMQP_NAME, expected="a routing key (no spaces)"))


def _read_folder(rd: _Reader, f: _Fields, partner_id: str) -> FolderChannel:
    f.check_keys(_FOLDER_KEYS)
    expected = "a folder (relative to the folder of partners.yaml)"
    in_dir = f.text("in_dir", expected=expected)
    out_dir = f.text("out_dir", expected=expected)
    return FolderChannel(in_dir=rd.resolve(in_dir) if in_dir else rd.settings.folder_in / partner_id,
                         out_dir=rd.resolve(out_dir) if out_dir else rd.settings.folder_out / partner_id)


def _read_rule(rd: _Reader, node: Any, line: int | None, where: str,
               owner: str) -> tuple[ReceiveRule, _Fields] | None:
    if not isinstance(node, CommentedMap):
        rd.problem(line, where, "expected a mapping with types, and optionally from, when, as and via")
        return None
    f = _Fields(rd, node, owner, where.split(": ", 1)[1] + ".", line)
    f.check_keys(_RULE_KEYS)
    types: list[str] = []
    for value, tline, twhere in f.items("types"):
        text = _as_text(value)
        if text is None or not (text.strip() == "*" or _MESSAGE_TYPE.fullmatch(text.strip())):
            rd.problem(tline, twhere, f"expected a message type (CUSCAR, wco-dec) or \"*\" for any, got {_show(value)}")
        else:
            types.append(text.strip())
    if not f.has("types"):
        rd.problem(line, f"{where}.types", "missing (expected message types, or \"*\" for any)")
    elif "*" in types and len(types) > 1:
        f.bad("types", "\"*\" means any type: give it alone or list the types")
    when: dict[str, tuple[str, ...]] = {}
    wf = f.sub("when")
    if wf is not None:
        for key in wf.node:
            if key not in ROUTE_FIELDS:
                wf.bad(key, f"not a field a rule can test{did_you_mean(str(key), sorted(ROUTE_FIELDS))}; "
                            f"the fields are {', '.join(sorted(ROUTE_FIELDS))}")
                continue
            values = []
            for value, vline, vwhere in wf.items(key):
                text = str(value) if isinstance(value, int) and not isinstance(value, bool) else _as_text(value)
                if text is None or not text.strip():
                    rd.problem(vline, vwhere, f"expected a value or a list of values, got {_show(value)}")
                elif text.startswith("$") and text != "$self":
                    rd.problem(vline, vwhere, f"{text!r}: the only variable is $self (the receiving partner's "
                               "own party ids)")
                else:
                    values.append(text.strip())
            if values:
                when[str(key)] = tuple(values)
    return ReceiveRule(
        types=tuple(types) or ("*",),
        senders=f.texts("from", pattern=_PARTNER_ID, expected="partner ids"),
        when=MappingProxyType(when),
        output=f.choice("as", sorted(OUTPUT_FORMATS), "original"),
        via=f.choice("via", DELIVERY_CHANNELS, ""),
        where=f"{rd.file}:{line or 1}"), f


def _read_partner(rd: _Reader, node: Any, line: int | None, index: int) -> tuple[Partner | None, dict[str, Any]]:
    """The partner of one list entry (None when its id is unusable) and the lines of its rule entries."""
    if not isinstance(node, CommentedMap):
        rd.problem(line, f"partners[{index}]", "expected a partner (a mapping with id, name, unb_ids...)")
        return None, {}
    raw_id = node.get("id")
    pid = raw_id.strip() if isinstance(raw_id, str) and _PARTNER_ID.fullmatch(raw_id.strip()) else None
    owner = f"partner {pid}" if pid else f"partners[{index}]"
    f = _Fields(rd, node, owner, "", line)
    f.check_keys(_PARTNER_KEYS)
    f.text("id", required=True, pattern=_PARTNER_ID, expected="1 to 32 letters, digits, '-' or '_', e.g. MAEU")
    ident = pid or f"partners[{index}]"
    name = f.text("name", expected="the partner's name") or ident
    role = f.choice("role", ROLES, "other")
    unb_ids = []
    for value, iline, where in f.items("unb_ids"):
        text = _as_text(value)
        try:
            if text is None:
                raise ValueError(f"expected an interchange id such as 'MAEU:ZZZ' (in quotes if it is all digits), "
                                 f"got {_show(value)}")
            unb_ids.append(UnbId.parse(text))
        except ValueError as e:
            rd.problem(iline, where, str(e))
    xml_ids = f.texts("xml_ids", expected="the sender id the partner uses in its XML documents")
    party_ids = f.texts("party_ids", expected="a party code or name under which the partner appears in dossiers")
    sftp = amqp = folder = None
    if (sf := f.sub("sftp")) is not None:
        sftp = _read_sftp(rd, sf, ident)
    if (af := f.sub("amqp")) is not None:
        amqp = _read_amqp(af)
    if (ff := f.sub("folder")) is not None:
        folder = _read_folder(rd, ff, ident)
    sends = f.texts("sends", pattern=_SENDS, expected=_SENDS_EXPECTED)
    strictness = Strictness()
    if (stf := f.sub("strictness")) is not None:
        stf.check_keys(("unoa_lowercase",))
        strictness = Strictness(unoa_lowercase=stf.choice("unoa_lowercase", ("error", "warning"), "error"))
    acks = AckPreferences(deadline_minutes=rd.settings.ack_deadline_minutes)
    if (kf := f.sub("acks")) is not None:
        kf.check_keys(_ACK_KEYS)
        acks = AckPreferences(contrl=kf.choice("contrl", CONTRL_POLICIES, "when_requested"),
                              aperak=kf.boolean("aperak", True), channel=kf.choice("channel", ACK_CHANNELS, "same"),
                              expect_contrl=kf.boolean("expect_contrl", False),
                              deadline_minutes=kf.integer("deadline_minutes", rd.settings.ack_deadline_minutes))
    partner = Partner(id=ident, name=name, role=role, unb_ids=tuple(unb_ids), xml_ids=xml_ids, party_ids=party_ids,
                      sftp=sftp, amqp=amqp, folder=folder, sends=sends, strictness=strictness, acks=acks,
                      suspended=f.boolean("suspended", False), where=f"{rd.file}:{line or 1}")
    channels = partner.channels()
    rules = []
    rule_lines: dict[str, Any] = {}
    for value, rline, where in f.items("receives"):
        read = _read_rule(rd, value, rline, where, owner)
        if read is None:
            continue
        rule, rf = read
        if not rule.via:
            if not channels:
                rd.problem(rline, where, "the partner has no channel to deliver on: configure sftp (public_keys, "
                           "a password or push), amqp (deliver_routing_key) or folder")
            rule = dataclasses.replace(rule, via=channels[0] if channels else "sftp")
        elif rule.via not in channels:
            rd.problem(rf.line("via"), f"{where}.via", f"{rule.via!r}: the partner has no such channel "
                       f"({_channel_hint(rule.via)}); it has {', '.join(channels) or 'none'}")
        rules.append(rule)
        rule_lines[rule.where] = (rf.line("from"), where)
    _check_acks(rd, f, partner)
    if pid and not (unb_ids or xml_ids or party_ids or sftp or amqp or folder or rules):
        rd.warn(line, owner, "no identifiers, channels or receives: nothing will ever be matched to this partner")
    return (dataclasses.replace(partner, receives=tuple(rules)) if pid else None), rule_lines


def _channel_hint(via: str) -> str:
    return {"sftp": "sftp needs public_keys, password_hash_env or password_hash_file",
            "sftp-push": "sftp-push needs sftp.push", "amqp": "amqp needs amqp.deliver_routing_key",
            "folder": "folder needs a folder: section"}[via]


def _check_acks(rd: _Reader, f: _Fields, p: Partner) -> None:
    sends_acks = p.acks.contrl != "never" or p.acks.aperak
    where = f"{f.owner}: acks.channel"
    line = f.line("acks")
    if p.acks.channel == "amqp" and not (p.amqp and (p.amqp.deliver_routing_key or p.amqp.ack_routing_key)):
        rd.problem(line, where, "'amqp' needs amqp.ack_routing_key or amqp.deliver_routing_key")
    elif p.acks.channel == "sftp" and not (p.sftp and (p.sftp.can_log_in or p.sftp.push)):
        rd.problem(line, where, "'sftp' needs an sftp: section the partner logs in with (or push)")
    elif p.acks.channel == "folder" and p.folder is None:
        rd.problem(line, where, "'folder' needs a folder: section")
    elif (p.acks.channel == "same" and sends_acks and p.amqp and p.amqp.queues
          and not (p.amqp.deliver_routing_key or p.amqp.ack_routing_key)):
        rd.warn(f.line("amqp"), f"{f.owner}: amqp", "no ack_routing_key or deliver_routing_key: acknowledgements "
                "of what the partner sends on its queues can only go to the reply_to its messages carry")


# ---- the whole file ---------------------------------------------------------------------------------


_EMPTY_DOCUMENT = "the file is empty (no partners: key), so there are no partners"


def parse_partners(text: str, *, file: str = "partners.yaml", base_dir: Path | None = None,
                   settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> Partners:
    """Partners from the text of a partners.yaml. Relative paths in it are relative to `base_dir`
    (default: the current directory). Raises PartnersError listing every problem found."""
    base = base_dir if base_dir is not None else Path.cwd()
    rd = _Reader(file, base, settings or Settings.defaults(base), os.environ if environ is None else environ)
    try:
        doc = round_trip_yaml().load(text)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(str(getattr(e, "problem", None) or e).split())
        raise PartnersError([f"{file}:{line}: not valid YAML: {what}"]) from e
    if doc is None:
        return Partners(warnings=[f"{file}: {_EMPTY_DOCUMENT}"])
    if not isinstance(doc, CommentedMap):
        raise PartnersError([f"{file}:1: expected a mapping with a 'partners:' list at the top"])
    for key in doc:
        if key != "partners":
            rd.problem(_line_of_key(doc, key), str(key), f"unknown top-level key{did_you_mean(str(key), ['partners'])}"
                       "; the file holds one key, partners: (the list of partners)")
    entries = doc.get("partners")
    partners: list[Partner] = []
    lines: dict[str, Any] = {}
    if entries is not None and not isinstance(entries, CommentedSeq):
        rd.problem(_line_of_key(doc, "partners"), "partners", "expected a list of partners (each starting with "
                   "'- id: ...')")
    elif entries is not None:
        for i, node in enumerate(entries):
            p, rule_lines = _read_partner(rd, node, _line_of_item(entries, i), i)
            if p is not None:
                partners.append(p)
                lines.update(rule_lines)
    ids = {p.id for p in partners}
    for p in partners:
        for rule in p.receives:
            rline, where = lines.get(rule.where, (None, f"partner {p.id}: receives"))
            for sender in rule.senders:
                if sender not in ids:
                    rd.problem(rline, f"{where}.from", f"no partner {sender!r} in this file"
                               f"{did_you_mean(sender, sorted(ids))}")
    key_owner: dict[str, Partner] = {}
    for p in partners:
        for key in p.sftp.public_keys if p.sftp else ():
            blob = key.split()[1]
            first = key_owner.setdefault(blob, p)
            if first is not p:
                rd.warn(int(p.where.rsplit(":", 1)[1]), f"partner {p.id}: sftp.public_keys",
                        f"a key also given to partner {first.id}: either can log in as the other")
    for p, sentence in _conflicts(partners):
        rd.problem(int(p.where.rsplit(":", 1)[1]), f"partner {p.id}", sentence)
    if rd.problems:
        rd.problems.sort(key=lambda x: x[0])
        raise PartnersError(list(dict.fromkeys(text for _, text in rd.problems)))
    if not partners:
        rd.warnings.append(f"{file}: no partners defined")
    return Partners(partners, warnings=rd.warnings, sources=rd.sources)


def load_partners(path: Path, settings: Settings | None = None, *,
                  environ: Mapping[str, str] | None = None) -> Partners:
    """The partners of a partners.yaml. Raises PartnersError listing every problem (each with file and
    line), FileNotFoundError when there is no such file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as e:
        raise PartnersError([f"{path}: cannot read: {e.strerror or e}"]) from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise PartnersError([f"{path}:{line}: not UTF-8 text (byte {e.start})"]) from e
    base = path.parent.absolute()
    loaded = parse_partners(text, file=str(path), base_dir=base, settings=settings or Settings.defaults(base),
                            environ=environ)
    return Partners(loaded.all(), warnings=loaded.warnings, sources=(path, *loaded.sources))


# ---- reload without restart -------------------------------------------------------------------------

_Signature = tuple[tuple[str, int, int, int] | None, ...]


def _signature(paths: Iterable[Path]) -> _Signature:
    out: list[tuple[str, int, int, int] | None] = []
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            out.append(None)
        else:
            out.append((str(p), st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class PartnersFile:
    """partners.yaml in service: `current()` reloads it when it (or a secret or key file it names) has
    changed, and keeps the last good partners when the new content is broken (`last_error` says why;
    the error is logged once). A file missing at start is zero partners and a warning. Thread-safe."""

    def __init__(self, path: Path, settings: Settings | None = None, *,
                 environ: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.settings = settings
        self.environ = environ
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._partners = Partners()
        self._watched: tuple[Path, ...] = (path,)
        self._seen: _Signature | None = None
        self._logged: str | None = None
        self.current()

    def current(self) -> Partners:
        with self._lock:
            sig = _signature(self._watched)
            if sig != self._seen:
                # taken before reading: a write during the read shows as a change on the next call
                self._seen = sig
                self._reload()
            return self._partners

    def _reload(self) -> None:
        try:
            partners = load_partners(self.path, self.settings, environ=self.environ)
        except FileNotFoundError:
            if self._partners.all():
                self._fail(f"{self.path}: the file is gone; still serving the {len(self._partners)} partners "
                           "loaded before")
            else:
                self.last_error = None
                self._say(f"{self.path}: no such file; the hub has no partners until it is written",
                          logging.WARNING)
            self._watched = (self.path,)
            return
        except PartnersError as e:
            self._fail(f"{self.path}: not loaded, still serving the {len(self._partners)} partners loaded "
                       f"before:\n{e}")
            return
        if len(self._partners) and any(w.endswith(_EMPTY_DOCUMENT) for w in partners.warnings):
            # An editor truncates a file before writing it again: never take that moment for "no partners"
            # (an administrator who means it writes `partners: []`).
            self._fail(f"{self.path}: the file is empty (being written?); still serving the "
                       f"{len(self._partners)} partners loaded before")
            return
        self._partners = partners
        self._watched = partners.sources or (self.path,)
        # the main file as it was before the read; the files it names as they are now
        self._seen = ((self._seen or (None,))[0], *_signature(self._watched[1:]))
        self.last_error = None
        self._logged = None
        log.info("partners loaded from %s: %d partners", self.path, len(partners))
        for w in partners.warnings:
            log.warning("%s", w)

    def _fail(self, message: str) -> None:
        self.last_error = message
        self._say(message, logging.ERROR)

    def _say(self, message: str, level: int) -> None:
        if message != self._logged:  # once per distinct problem, not once per call
            self._logged = message
            log.log(level, "%s", message)
