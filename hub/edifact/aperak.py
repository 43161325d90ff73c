"""APERAK writer: the application error and acknowledgement message for one received message.

`build_aperak()` writes one interchange holding one APERAK addressed back to the sender of the
received message. It says whether the hub's application accepted the message and, if not, why: one
ERC (error code) + FTX (text) pair per error. Where CONTRL answers for syntax, APERAK answers for
content (a container number with a bad check digit, an unknown port call).

What it never does: read or write files, talk to the network, look at the store, decide whether an
APERAK is due, or answer a CONTRL or an APERAK (that is how acknowledgement loops start; it raises).

`read_aperaks()` is the other direction: what the APERAKs a partner sends say about the interchanges
the hub sent it (which references they quote, accepted or not, the errors), for the pipeline to
match to the acknowledgements it awaits.

The message follows the APERAK segment table of D.96A, which later directories keep in this order
(they only add an optional DOC group before the references):

    UNH  BGM  DTM  SG1 RFF(+DTM) x2  SG2 NAD x2  SG3 ERC FTX x n  UNT

Codes, all from the directory's own code lists (UNCL):

- BGM C002: 313 "Application error message" (or 305 "Application error and acknowledgement" when
  there is no error) from D.99B, where UNCL 1001 first has them; before, no code fits, so the name
  is given as text (1000) only. 1004 = `control_ref`. 1225: 27 "Not accepted" / 29 "Accepted
  without amendment". 4343: RE "Rejected" / AP "Accepted".
- DTM 137 "Document/message date/time", format 203 CCYYMMDDHHMM.
- RFF ACW "Reference number to previous message" = the UNH 0062 of the received message. The UNB
  0020 of its interchange: INN "Interchange number new" from D.99B; before, UNCL 1153 has no
  interchange reference, so ZZZ "Mutually defined reference number" (the hub's MIG must say so).
- NAD MS "Document/message issuer/sender" = us; NAD MR "Message recipient" = the received sender.
- FTX AAO "Error description (free text)", text cut into 70-character lines, 5 at most.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydifact.segments import Segment

from hub.edifact.contrl import ReplyEnvelope, check_control_ref, make_segment
from hub.edifact.tokenizer import Segment as ReadSegment
from hub.report import InterchangeReport, Issue, MessageReport, Severity

__all__ = ["AperakAnswer", "build_aperak", "read_aperaks"]

_DIRECTORY = re.compile(r"D(\d\d)([AB])")
_MAX_ERRORS = 999  # SG3 repeats 999 times in D.96A (99999 later; the smaller bound fits all)
_ERROR_CODE = re.compile(r"[A-Z0-9]{1,8}")  # 9321 an..8, kept to characters every repertoire has
_FTX_LINE = 70  # 4440 an..70
_FTX_LINES = 5  # C108 holds five 4440
_LEN_3039 = 35  # party identification
_LEN_1154 = 35  # reference number
_UNSUITABLE = frozenset({"CONTRL", "APERAK"})


def _directory_key(directory: str) -> tuple[int, str]:
    match = _DIRECTORY.fullmatch(directory)
    if match is None:
        raise ValueError(f"directory must look like 'D96A', not {directory!r}")
    year = int(match.group(1))
    return (1900 + year if year >= 90 else 2000 + year, match.group(2))


def build_aperak(
    message: MessageReport,
    interchange: InterchangeReport,
    *,
    our_id: str,
    our_qualifier: str | None = None,
    control_ref: str,
    now: datetime,
    errors: list[tuple[str, str]] | None = None,
    directory: str = "D96A",
) -> bytes:
    """One interchange holding one APERAK about `message`, received in `interchange`.

    `errors` are the application errors, (ERC code, text) pairs: the code is the hub's published
    APERAK code (1 to 8 upper-case letters or digits), the text a sentence a forwarder can act on. Any
    error makes the APERAK a rejection; an empty list makes it an acknowledgement. Without `errors`
    the message's own issues are reported: its verdict decides, each issue gives an ERC with its
    UN/EDIFACT 0085 code (18 "unspecified" when it has none) and an FTX with its position and text.

    The envelope follows the received interchange's syntax identifier and version; every value is
    made to fit its repertoire. Raises ValueError for arguments the caller must fix: a directory
    before D.96A, a bad control reference or error code, an interchange with no sender, a message
    that is itself a CONTRL or APERAK.
    """
    check_control_ref(control_ref)
    era = _directory_key(directory)
    if era < (1996, "A"):
        raise ValueError(f"APERAK is written from D96A on, not {directory}")
    if (message.type or "").strip().upper() in _UNSUITABLE:
        raise ValueError(f"no APERAK is sent in answer to a {message.type}")
    env = ReplyEnvelope.answering(interchange, our_id=our_id, our_qualifier=our_qualifier,
                                  control_ref=control_ref, now=now)

    if errors is not None:
        for code, _ in errors:
            if not _ERROR_CODE.fullmatch(code):
                raise ValueError(f"ERC error code must be 1 to 8 upper-case letters or digits, not {code!r}")
        entries = list(errors)
        rejected = bool(entries)
    else:
        entries = [_from_issue(i) for i in sorted(message.issues, key=Issue.sort_key)]
        rejected = not message.accepted

    modern = era >= (1999, "B")
    if modern:
        name: list[str] = ["313" if rejected else "305"]
    else:
        name = ["", "", "", "APPLICATION ERROR" if rejected else "APPLICATION ACKNOWLEDGEMENT"]

    body: list[Segment] = [
        make_segment("BGM", name, control_ref, "27" if rejected else "29", "RE" if rejected else "AP"),
        make_segment("DTM", ["137", f"{now:%Y%m%d%H%M}", "203"]),
    ]
    if message.ref:
        body.append(make_segment("RFF", ["ACW", env.text(message.ref, _LEN_1154)]))
    if interchange.control_ref:
        body.append(make_segment("RFF", ["INN" if modern else "ZZZ",
                                         env.text(interchange.control_ref, _LEN_1154)]))
    body.append(make_segment("NAD", "MS", env.text(our_id, _LEN_3039)))
    body.append(make_segment("NAD", "MR", env.text(interchange.sender, _LEN_3039)))
    for code, text in entries[:_MAX_ERRORS]:
        body.append(make_segment("ERC", code))
        lines = _lines(env.text(text, _FTX_LINE * _FTX_LINES * 2))
        if lines:
            body.append(make_segment("FTX", "AAO", "", "", lines))

    identifier = ["APERAK", directory[0], directory[1:], "UN"]
    return env.serialise("1", identifier, body)


def _from_issue(issue: Issue) -> tuple[str, str]:
    where: list[str] = []
    if issue.segment is not None:
        where.append(f"segment {issue.segment}")
    if issue.tag:
        where.append(issue.tag)
    if issue.element is not None:
        where.append(f"element {issue.element}" + (f".{issue.component}" if issue.component else ""))
    prefix = ("Warning: " if issue.severity is Severity.WARNING else "") + (
        ", ".join(where) + ": " if where else "")
    rule = f" (rule {issue.rule})" if issue.rule else ""  # parentheses: UNOA has no brackets
    code = issue.code.edifact_code
    return (str(code) if code is not None else "18", prefix + issue.message + rule)


def _lines(text: str) -> list[str]:
    """Text as at most five 70-character lines, broken at spaces where it can be; "..." marks a cut."""
    lines: Sequence[str] = textwrap.wrap(" ".join(text.split()), _FTX_LINE)
    if len(lines) <= _FTX_LINES:
        return list(lines)
    kept = list(lines[:_FTX_LINES])
    kept[-1] = kept[-1][:_FTX_LINE - 3] + "..."
    return kept


# --- reading the APERAKs a partner sends ----------------------------------------------------------------


@dataclass(frozen=True)
class AperakAnswer:
    """What one received APERAK says.

    references: the values of its RFF segments (C506 1154) in order: among them the UNB 0020 or the
        document number (BGM 1004) of what it answers, whichever qualifier the partner's guide uses.
    accepted: BGM 4343 AP / RE when given, else 1225 29 "Accepted without amendment" / 27 "Not
        accepted", else accepted unless it carries an error (ERC).
    errors: (ERC code, FTX text) pairs.
    """

    message_ref: str
    references: tuple[str, ...]
    accepted: bool
    errors: tuple[tuple[str, str], ...]


def read_aperaks(segments: Iterable[ReadSegment]) -> list[AperakAnswer]:
    """The APERAKs among an interchange's segments (other messages are passed over)."""
    out: list[AperakAnswer] = []
    current: _Reading | None = None
    for seg in segments:
        if seg.tag == "UNH":
            current = _Reading(_component(seg, 0, 0)) if _component(seg, 1, 0).upper() == "APERAK" else None
        elif current is None:
            continue
        elif seg.tag == "BGM":
            current.response, current.action = _component(seg, 2, 0), _component(seg, 3, 0).upper()
        elif seg.tag == "RFF" and _component(seg, 0, 1):
            current.references.append(_component(seg, 0, 1))
        elif seg.tag == "ERC":
            current.errors.append((_component(seg, 0, 0), ""))
        elif seg.tag == "FTX" and current.errors:
            lines = seg.elements[3] if len(seg.elements) > 3 else ""
            text = " ".join(x for x in lines if isinstance(x, str)) if not isinstance(lines, str) else lines
            code, before = current.errors[-1]
            current.errors[-1] = (code, f"{before} {text}".strip())
        elif seg.tag == "UNT":
            out.append(current.answer())
            current = None
    return out


@dataclass
class _Reading:
    message_ref: str
    response: str = ""  # BGM 1225
    action: str = ""  # BGM 4343
    references: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def answer(self) -> AperakAnswer:
        verdict = {"AP": True, "RE": False}.get(self.action)
        if verdict is None:
            verdict = {"29": True, "27": False}.get(self.response)
        if verdict is None:
            verdict = not self.errors
        return AperakAnswer(self.message_ref, tuple(self.references), verdict, tuple(self.errors))


def _component(seg: ReadSegment, element: int, component: int) -> str:
    """The text at element `element`, component `component` (0-based), '' where there is none."""
    if element >= len(seg.elements):
        return ""
    value = seg.elements[element]
    if isinstance(value, str):
        return value if component == 0 else ""
    if component < len(value):
        part = value[component]
        return part if isinstance(part, str) else ""
    return ""
