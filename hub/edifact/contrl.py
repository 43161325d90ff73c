"""CONTRL writer: the syntax and service report the hub sends back for a received interchange.

`build_contrl()` turns a validation `Report` into CONTRL interchanges, one per received interchange,
each addressed back to that interchange's sender. It also holds the reply-envelope helpers the APERAK
writer shares (`ReplyEnvelope`, `sanitise`, `check_control_ref`).

What it never does: read or write files, talk to the network, look at the store, decide *whether* a
CONTRL is wanted (UNB 0031, partner preferences: the caller's job) or validate anything itself. It
reads the report and nothing else, so the same report always gives the same bytes.

Rules (the reasons are in the comments where each is applied):

1. Never a CONTRL in answer to a CONTRL: an interchange whose messages are all CONTRL gets none, and
   CONTRL messages inside a mixed interchange get no UCM.
2. Only errors reach a CONTRL, and only those with a UN/EDIFACT 0085 code. Warnings never reject and
   never appear (an accepted message followed by UCS/UCD would contradict itself); an error without a
   code still rejects its level, it is just not described.
3. Action codes (0083), the three that syntax 4 kept: 7 accepted (this level, and every lower level not
   explicitly rejected), 4 rejected (this level and everything below it), 8 received (UCI only, when
   the caller asks for a receipt, `receipt_only=True`, before the messages are checked).
4. Layout: syntax 3 (`CONTRL:D:3:UN`) or syntax 4 (`CONTRL:4:1:UN`), following the received
   interchange's syntax version unless `syntax_version` overrides it.
5. Positions: `Issue.element` counts data elements after the tag from 1; ISO 9735 counts the segment
   tag as position 1, so S011 0098 = element + 1. Components count from 1 in both.
6. Every value written is made to fit the reply's syntax identifier (`sanitise`) and its element's
   maximum length: a CONTRL that breaks the rules it reports on is worse than a shortened reference.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from pydifact.control.characters import Characters
from pydifact.segmentcollection import Interchange, Message
from pydifact.segments import Segment

from hub.report import InterchangeReport, Issue, MessageReport, Report, Severity

__all__ = [
    "ACCEPTED",
    "RECEIVED",
    "REJECTED",
    "ReplyEnvelope",
    "build_contrl",
    "check_control_ref",
    "make_segment",
    "sanitise",
]

Element = str | list[str]

# 0083 Action, coded. Syntax 4 keeps only these three; syntax 3 has 1-8 but the same three suffice.
ACCEPTED = "7"  # this level acknowledged, next lower level acknowledged if not explicitly rejected
REJECTED = "4"  # this level and all lower levels rejected
RECEIVED = "8"  # interchange received; its contents are acknowledged in a later CONTRL

# Limits from the CONTRL segment table (syntax 3 and 4 alike): SG2 UCS-UCD repeats 999 times under a
# UCM, UCD 99 times under a UCS.
_MAX_UCS = 999
_MAX_UCD = 99

# Service segment tags: only these may go in UCI/UCM/UCF 0013 (syntax 3) / 0135 (syntax 4).
_SERVICE_TAGS = frozenset({"UNA", "UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"})
# Errors in these belong to the UCM of their message, not to a UCS (UCM: "errors related to the UNH
# and UNT segments").
_MESSAGE_ENVELOPE_TAGS = frozenset({"UNH", "UNT"})

# 0085 codes missing from a syntax version's service code list, and the nearest code that list has.
# Syntax 4 (UNSL, ISO 9735 v4) dropped 3, 19 and 38; syntax 3 never had 45 onwards.
_CODE_SUBSTITUTES: dict[str, dict[int, int]] = {
    "3": {45: 16, 46: 2, 47: 18, 48: 18},  # trailing separator ~ too many constituents
    "4": {3: 14, 19: 12, 38: 12},  # unsupported message ~ value not supported in this position
}

# The reply's element lengths (an..n) that received values are copied into.
_LEN_0004 = 35  # interchange sender / recipient identification
_LEN_0007 = 4  # identification code qualifier
_LEN_0020 = 14  # interchange control reference
_LEN_0048 = 14  # group reference
_LEN_0062 = 14  # message reference
_LEN_0065 = 6  # message type
_LEN_0052 = 3  # message version
_LEN_0054 = 3  # message release
_LEN_0057 = 6  # association assigned code
_LEN_0051 = {"3": 2, "4": 3}  # controlling agency: an..2 in syntax 3, an..3 in syntax 4

_CONTROL_REF = re.compile(r"[A-Z0-9]{1,14}")


# --- character repertoires ----------------------------------------------------------------------

# Level A (ISO 9735): upper-case letters, digits, space and these punctuation marks. The separators
# and the release character are among them; pydifact escapes them when it serialises.
_LEVEL_A = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>")
# Level B adds the lower-case letters. ("The basic code table of ISO 646 with the exceptions of
# alternative and national graphic character allocations"; kept to the letters to stay on the safe
# side of that definition.)
_LEVEL_B = _LEVEL_A | frozenset("abcdefghijklmnopqrstuvwxyz")

# Syntax identifier -> Python codec of its bytes. Identifiers not listed here (UNOX with ISO 2022
# escapes, UNOY whose encoding depends on 0133, unknown ones) are answered in UNOA, which every
# EDIFACT partner reads.
_CODECS = {
    "UNOA": "ascii",
    "UNOB": "ascii",
    "UNOC": "iso8859-1",
    "UNOD": "iso8859-2",
    "UNOE": "iso8859-5",
    "UNOF": "iso8859-7",
    "UNOG": "iso8859-3",
    "UNOH": "iso8859-4",
    "UNOI": "iso8859-6",
    "UNOJ": "iso8859-8",
    "UNOK": "iso8859-9",
    "UNOW": "utf-8",  # syntax 4 only
}
_SYNTAX_4_ONLY = frozenset({"UNOW"})
_FALLBACK_SYNTAX = "UNOA"


# Letters that Unicode does not decompose into a base letter, and the Latin letters that stand in
# for them (Polish, Nordic, Croatian, Icelandic, Turkish and German names reach the hub).
_NO_DECOMPOSITION = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Æ": "AE", "æ": "ae",
                                   "Œ": "OE", "œ": "oe", "ß": "ss", "Đ": "D", "đ": "d", "Þ": "TH",
                                   "þ": "th", "ı": "i"})


@lru_cache(maxsize=4096)
def _allowed(ch: str, syntax_id: str) -> bool:
    if syntax_id == "UNOA":
        return ch in _LEVEL_A
    if syntax_id == "UNOB":
        return ch in _LEVEL_B
    if not ch.isprintable():  # control characters, line breaks, lone surrogates
        return False
    try:
        ch.encode(_CODECS[syntax_id])
    except UnicodeEncodeError:
        return False
    return True


def sanitise(value: str, syntax_id: str) -> str:
    """`value` rewritten with only characters the syntax identifier allows.

    UNOA has no lower case, so text is upper-cased first. A character outside the repertoire becomes
    its base letter(s) when it has one ("é" -> "e", "ø" -> "o", "E" and "O" in UNOA), otherwise a
    space, so a value never loses its length to a dropped character. Identifiers the
    module does not know are treated as UNOA.
    """
    syntax_id = syntax_id if syntax_id in _CODECS else _FALLBACK_SYNTAX
    if syntax_id == "UNOA":
        value = value.upper()
    out: list[str] = []
    for ch in value:
        if _allowed(ch, syntax_id):
            out.append(ch)
            continue
        decomposed = unicodedata.normalize("NFKD", ch.translate(_NO_DECOMPOSITION))
        base = "".join(c for c in decomposed if not unicodedata.combining(c))
        if syntax_id == "UNOA":
            base = base.upper()
        if base and all(_allowed(c, syntax_id) for c in base):
            out.append(base)
        else:
            out.append(" ")
    return "".join(out)


def _fit(value: str | None, syntax_id: str, max_length: int) -> str:
    return sanitise(value, syntax_id)[:max_length] if value else ""


def check_control_ref(control_ref: str) -> None:
    """Raise ValueError unless `control_ref` can be written as-is in any repertoire (0020 an..14)."""
    if not _CONTROL_REF.fullmatch(control_ref):
        raise ValueError(f"control_ref must be 1 to 14 upper-case letters or digits, not {control_ref!r}")


# --- segments and envelope ----------------------------------------------------------------------


def make_segment(tag: str, *elements: Element) -> Segment:
    """A pydifact Segment without trailing empty elements or components.

    pydifact drops trailing empty components but writes trailing empty elements, and a trailing
    separator is itself a syntax error (0085 code 45).
    """
    cleaned: list[Element] = []
    for element in elements:
        if isinstance(element, list):
            parts = list(element)
            while parts and parts[-1] == "":
                parts.pop()
            cleaned.append(parts if len(parts) > 1 else (parts[0] if parts else ""))
        else:
            cleaned.append(element)
    while cleaned and cleaned[-1] == "":
        cleaned.pop()
    return Segment(tag, *cleaned)


class _ServiceCharacters(Characters):
    """pydifact's characters, also escaping the syntax 4 repetition separator.

    pydifact writes the fifth UNA character but never releases it in data; in syntax 4 that
    character is the repetition separator and must be released like the other separators.
    """

    @property
    def escaped_syntax_dic(self) -> dict[str, str]:
        escaped: dict[str, str] = dict(super().escaped_syntax_dic)
        if self.reserved_character != " ":
            escaped[self.reserved_character] = self.escape_character + self.reserved_character
        return escaped


class _ReplyInterchange(Interchange):
    """pydifact's Interchange with the UNB date syntax 4 requires (CCYYMMDD; pydifact writes YYMMDD)."""

    def get_header_segment(self) -> Segment:
        header = super().get_header_segment()
        if self.syntax_identifier[1] >= 4:
            header.elements[3] = [f"{self.timestamp:%Y%m%d}", f"{self.timestamp:%H%M}"]
        return header


@dataclass(frozen=True)
class ReplyEnvelope:
    """The UNB..UNZ around one reply message, and the rules for what may be written inside it."""

    syntax_id: str
    syntax_version: str  # "1".."4"
    sender: str
    sender_qualifier: str | None
    recipient: str
    recipient_qualifier: str | None
    control_ref: str
    now: datetime
    test: bool = False

    @classmethod
    def answering(cls, interchange: InterchangeReport, *, our_id: str, our_qualifier: str | None,
                  control_ref: str, now: datetime, syntax_version: str | None = None) -> ReplyEnvelope:
        """The envelope of a reply to `interchange`, from us back to its sender.

        The reply keeps the received syntax identifier when it is one this module can write, and the
        received syntax version when it fits: `syntax_version` "4" forces 4, "3" allows 1 to 3 (their
        UNB layouts are the same), None allows 1 to 4. Otherwise version 3.
        """
        if interchange.sender is None:
            raise ValueError("the interchange has no sender to reply to")
        if not our_id.strip():
            raise ValueError("our_id must name the hub")
        received = interchange.syntax_version or ""
        if syntax_version == "4":
            version = "4"
        else:
            allowed = ("1", "2", "3") if syntax_version == "3" else ("1", "2", "3", "4")
            version = received if received in allowed else "3"
        syntax_id = interchange.syntax_id or ""
        if syntax_id not in _CODECS or (syntax_id in _SYNTAX_4_ONLY and version != "4"):
            syntax_id = _FALLBACK_SYNTAX
        return cls._fitted(syntax_id, version, our_id, our_qualifier, interchange.sender,
                           interchange.sender_qualifier, control_ref, now, test=interchange.test)

    @classmethod
    def addressed(cls, *, our_id: str, our_qualifier: str | None, recipient: str, recipient_qualifier: str | None,
                  control_ref: str, now: datetime, syntax_id: str = "UNOC") -> ReplyEnvelope:
        """The envelope of a message the hub writes on its own (not an answer) to `recipient`, in syntax
        version 3 and `syntax_id` (UNOC: Latin-1, which the names of this region's parties need)."""
        if not our_id.strip() or not recipient.strip():
            raise ValueError("both our_id and recipient must be given")
        check_control_ref(control_ref)
        if syntax_id not in _CODECS or syntax_id in _SYNTAX_4_ONLY:
            raise ValueError(f"cannot write syntax identifier {syntax_id!r} in version 3")
        return cls._fitted(syntax_id, "3", our_id, our_qualifier, recipient, recipient_qualifier, control_ref, now)

    @classmethod
    def _fitted(cls, syntax_id: str, version: str, our_id: str, our_qualifier: str | None, recipient: str,
                recipient_qualifier: str | None, control_ref: str, now: datetime, *,
                test: bool = False) -> ReplyEnvelope:
        """The envelope with both parties' identifications made writable in `syntax_id`."""
        return cls(syntax_id=syntax_id, syntax_version=version, sender=_fit(our_id, syntax_id, _LEN_0004),
                   sender_qualifier=_fit(our_qualifier, syntax_id, _LEN_0007) or None,
                   recipient=_fit(recipient, syntax_id, _LEN_0004),
                   recipient_qualifier=_fit(recipient_qualifier, syntax_id, _LEN_0007) or None,
                   control_ref=control_ref, now=now, test=test)

    def text(self, value: str | None, max_length: int) -> str:
        """`value` made writable in this envelope and cut to the element's maximum length."""
        return _fit(value, self.syntax_id, max_length)

    @property
    def codec(self) -> str:
        return _CODECS[self.syntax_id]

    def serialise(self, message_ref: str, identifier: Sequence[str], body: Sequence[Segment]) -> bytes:
        """UNA, UNB, UNH, `body`, UNT, UNZ as bytes, written by pydifact.

        A UNA is always written: it states the separators instead of leaving the reader to assume
        level A defaults (level B's defaults are different characters), and in syntax 4 it names the
        repetition separator. The decimal mark is ".", the ISO 9735 default.
        """
        return self.serialise_many([(message_ref, identifier, body)])

    def serialise_many(self, messages: Sequence[tuple[str, Sequence[str], Sequence[Segment]]]) -> bytes:
        """`serialise` of several messages, each (UNH 0062, UNH S009, body), in one interchange."""
        version = int(self.syntax_version)
        test = ["", "", "", "", "", "1"] if self.test else []  # S005 0026 0029 0031 0032, then 0035
        interchange = _ReplyInterchange(
            [self.sender, self.sender_qualifier] if self.sender_qualifier else self.sender,
            [self.recipient, self.recipient_qualifier] if self.recipient_qualifier else self.recipient,
            self.control_ref,
            (self.syntax_id, version),
            self.now,
            extra_header_elements=test,
        )
        interchange.characters = _ServiceCharacters.from_str(":+.?" + ("*" if version >= 4 else " ") + "'")
        interchange.has_una_segment = True
        for message_ref, identifier, body in messages:
            message = Message(message_ref, list(identifier))
            message.add_segments(body)
            interchange.add_message(message)
        return interchange.serialize().encode(self.codec)


# --- CONTRL -------------------------------------------------------------------------------------


def build_contrl(
    report: Report,
    *,
    our_id: str,
    our_qualifier: str | None = None,
    control_ref: str,
    now: datetime,
    syntax_version: str | None = None,
    receipt_only: bool = False,
    ucf: bool = True,
    group_parties: Mapping[str, tuple[str, str]] | None = None,
) -> bytes | None:
    """The CONTRL interchanges answering `report`, concatenated, or None when there is nothing to send.

    One CONTRL interchange per received interchange, addressed to its sender. With one received
    interchange its control reference is `control_ref`; with several, interchange k (counting from 1
    over the report, skipped ones included) gets `control_ref` followed by k zero-padded to the width
    of the count, so the same report always gets the same references. `control_ref` must leave room
    for that suffix within 14 characters.

    Nothing is sent for: an XML report; an interchange without a sender (nobody to address); an
    interchange whose messages are all CONTRL. Problems of the whole input (`report.issues`, e.g.
    "not EDIFACT") concern no interchange and are left to the caller.

    `syntax_version` "3" or "4" forces the CONTRL layout. `receipt_only` gives the UCI alone (action
    8, or 4 with the envelope error). `ucf=False` lists the UCMs of grouped messages without UCF.
    `group_parties` maps a group reference to its UNG application sender and recipient for the UCF
    (the report does not carry them; syntax 3 requires them, so the interchange's sender and
    recipient stand in when a group is missing from the map).
    """
    if syntax_version not in (None, "3", "4"):
        raise ValueError(f"syntax_version must be '3', '4' or None, not {syntax_version!r}")
    check_control_ref(control_ref)
    if report.syntax != "edifact":
        return None
    count = len(report.interchanges)
    out: list[bytes] = []
    for k, interchange in enumerate(report.interchanges, start=1):
        ref = control_ref if count == 1 else f"{control_ref}{k:0{len(str(count))}d}"
        if len(ref) > _LEN_0020:
            raise ValueError(f"control_ref {control_ref!r} leaves no room for the suffixes of "
                             f"{count} interchanges")
        built = _contrl_interchange(interchange, our_id=our_id, our_qualifier=our_qualifier,
                                    control_ref=ref, now=now, syntax_version=syntax_version,
                                    receipt_only=receipt_only, ucf=ucf, group_parties=group_parties or {})
        if built is not None:
            out.append(built)
    return b"".join(out) or None


def _is_contrl(message: MessageReport) -> bool:
    return (message.type or "").strip().upper() == "CONTRL"


def _contrl_interchange(interchange: InterchangeReport, *, our_id: str, our_qualifier: str | None,
                        control_ref: str, now: datetime, syntax_version: str | None, receipt_only: bool,
                        ucf: bool, group_parties: Mapping[str, tuple[str, str]]) -> bytes | None:
    if interchange.sender is None or interchange.recipient is None or interchange.control_ref is None:
        # Without them the UCI cannot name the interchange it answers: a CONTRL with empty mandatory
        # elements would break the rules it reports on. The report itself still says what is wrong.
        return None
    # An empty interchange is not "all CONTRL": it gets its rejection (code 32).
    if interchange.messages and all(_is_contrl(m) for m in interchange.messages):
        return None
    layout = syntax_version or ("4" if interchange.syntax_version == "4" else "3")
    env = ReplyEnvelope.answering(interchange, our_id=our_id, our_qualifier=our_qualifier,
                                  control_ref=control_ref, now=now, syntax_version=layout)
    body = _ContrlBody(env, layout, interchange, group_parties).segments(receipt_only=receipt_only, ucf=ucf)
    identifier = ["CONTRL", "D", "3", "UN"] if layout == "3" else ["CONTRL", "4", "1", "UN"]
    return env.serialise("1", identifier, body)


def _errors(issues: Sequence[Issue]) -> list[Issue]:
    """The issues a CONTRL can describe: errors with a 0085 code, in position order."""
    return sorted((i for i in issues if i.severity is Severity.ERROR and i.code.edifact_code is not None),
                  key=Issue.sort_key)


def _has_error(issues: Sequence[Issue]) -> bool:
    return any(i.severity is Severity.ERROR for i in issues)


class _ContrlBody:
    """The segments between UNH and UNT of one CONTRL."""

    def __init__(self, env: ReplyEnvelope, layout: str, interchange: InterchangeReport,
                 group_parties: Mapping[str, tuple[str, str]]) -> None:
        self.env = env
        self.layout = layout
        self.interchange = interchange
        self.group_parties = group_parties

    # element builders

    def _code(self, issue: Issue | None) -> str:
        if issue is None or issue.code.edifact_code is None:
            return ""
        code = issue.code.edifact_code
        return str(_CODE_SUBSTITUTES[self.layout].get(code, code))

    @staticmethod
    def _position(issue: Issue | None) -> list[str]:
        """S011: 0098 counts the segment tag as 1, so data element n is at n + 1 (rule 5)."""
        if issue is None or issue.element is None or issue.element < 1:
            return []
        position = [str(min(issue.element + 1, 999))]
        if issue.component is not None and issue.component >= 1:
            position.append(str(min(issue.component, 999)))
        return position

    @staticmethod
    def _service_tag(issue: Issue | None) -> str:
        tag = (issue.tag or "").upper() if issue is not None else ""
        return tag if tag in _SERVICE_TAGS else ""

    def _party(self, ident: str | None, qualifier: str | None) -> list[str]:
        return [self.env.text(ident, _LEN_0004), self.env.text(qualifier, _LEN_0007)]

    def _identifies(self, message: MessageReport) -> bool:
        """Whether a UCM can name the message: syntax 3 makes 0062 and S009 0065-0051 mandatory."""
        needed = [message.ref, message.type]
        if self.layout == "3":
            needed += [message.version, message.release, message.agency]
        return all(needed)

    # segments

    def segments(self, *, receipt_only: bool, ucf: bool) -> list[Segment]:
        ic = self.interchange
        envelope_errors = _errors(ic.issues)
        rejected = _has_error(ic.issues)
        first = envelope_errors[0] if envelope_errors else None
        messages = [m for m in ic.messages if not _is_contrl(m)]  # rule 1

        # A rejection the partner cannot match to a message is no rejection at all: under action 7 an
        # unnamed message would count as accepted. Such a message rejects the whole interchange.
        if not receipt_only:
            unnamed = [m for m in messages if not m.accepted and not self._identifies(m)]
            if unnamed:
                rejected = True
                if first is None:
                    coded = _errors(unnamed[0].issues)
                    first = coded[0] if coded else None
                    if first is not None:
                        first = Issue(first.code, first.message, first.severity, tag="UNH")

        action = REJECTED if rejected else (RECEIVED if receipt_only else ACCEPTED)
        out = [make_segment(
            "UCI",
            self.env.text(ic.control_ref, _LEN_0020),
            self._party(ic.sender, ic.sender_qualifier),
            self._party(ic.recipient, ic.recipient_qualifier),
            action,
            self._code(first),
            self._service_tag(first),
            self._position(first),
        )]
        if receipt_only:
            return out

        # Under a rejected interchange every message is rejected already; only the messages with
        # errors of their own are listed, to say what those errors are.
        listed = [m for m in messages if self._identifies(m) and (not rejected or not m.accepted)]
        ungrouped = [m for m in listed if not (ucf and m.group_ref)]
        groups: dict[str, list[MessageReport]] = {}
        for m in listed:
            if ucf and m.group_ref:
                groups.setdefault(m.group_ref, []).append(m)

        for m in ungrouped:
            out.extend(self._message(m))
        for group_ref, members in groups.items():
            out.append(self._ucf(group_ref, members, rejected))
            for m in members:
                out.extend(self._message(m))
        return out

    def _ucf(self, group_ref: str, members: list[MessageReport], interchange_rejected: bool) -> Segment:
        # The report has no group-level issues: UNG/UNE errors sit on the interchange and reject it,
        # and a group is rejected exactly when its interchange is.
        ic = self.interchange
        parties = self.group_parties.get(group_ref)
        if parties is not None:
            sender, recipient = self._party(parties[0], None), self._party(parties[1], None)
        elif self.layout == "3":
            sender = self._party(ic.sender, ic.sender_qualifier)
            recipient = self._party(ic.recipient, ic.recipient_qualifier)
        else:
            sender, recipient = [], []
        return make_segment("UCF", self.env.text(group_ref, _LEN_0048), sender, recipient,
                            REJECTED if interchange_rejected else ACCEPTED)

    def _message(self, m: MessageReport) -> list[Segment]:
        errors = _errors(m.issues)
        # UNH/UNT errors and errors without a segment go in the UCM, which holds one; the others
        # of UNH/UNT still have a position and become UCS like any segment error.
        envelope = [i for i in errors if (i.tag or "").upper() in _MESSAGE_ENVELOPE_TAGS or i.segment is None]
        ucm_issue = envelope[0] if envelope else None
        by_segment: dict[int, list[Issue]] = {}
        for issue in errors:
            if issue is not ucm_issue and issue.segment is not None and issue.segment >= 1:
                by_segment.setdefault(issue.segment, []).append(issue)

        agency_length = _LEN_0051[self.layout]
        out = [make_segment(
            "UCM",
            self.env.text(m.ref, _LEN_0062),
            [self.env.text(m.type, _LEN_0065), self.env.text(m.version, _LEN_0052),
             self.env.text(m.release, _LEN_0054), self.env.text(m.agency, agency_length),
             self.env.text(m.assoc, _LEN_0057)],
            ACCEPTED if m.accepted else REJECTED,
            self._code(ucm_issue),
            self._service_tag(ucm_issue),
            self._position(ucm_issue),
        )]
        for position in sorted(by_segment)[:_MAX_UCS]:
            issues = by_segment[position]
            segment_level = [i for i in issues if i.element is None or i.element < 1]
            out.append(make_segment("UCS", str(min(position, 999999)),
                                    self._code(segment_level[0] if segment_level else None)))
            seen: set[tuple[int, int]] = set()
            for issue in issues:
                if issue.element is None or issue.element < 1:
                    continue
                key = (issue.element, issue.component or 0)
                if key in seen:
                    continue
                seen.add(key)
                if len(seen) > _MAX_UCD:
                    break
                out.append(make_segment("UCD", self._code(issue), self._position(issue)))
        return out
