"""Validation reports: the issue vocabulary shared by EDIFACT and XML validation.

A validation problem is data, never an exception. Each kind of problem is one member of `Code`, with a
stable identifier (never renumbered, never reused), the UN/EDIFACT 0085 syntax error code it maps to
where one exists (so a CONTRL can carry it), a category, and a default severity. An `Issue` is one
occurrence, with a position counted as CONTRL counts it: segment 1 is the UNH, elements and components
are 1-based, `None` where a position does not apply.

Reports nest as the data does: a file holds interchanges, an interchange holds messages. Issues sit at
the level they concern. A level is accepted when neither it nor anything inside it has an error.

No I/O here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Category(enum.Enum):
    SYNTAX = "syntax"  # characters, separators, tokenization
    ENVELOPE = "envelope"  # UNA/UNB/UNG/UNH/UNT/UNE/UNZ
    STRUCTURE = "structure"  # segment order, groups, repetitions
    ELEMENT = "element"  # presence, formats, lengths
    CODE = "code"  # code list values
    GUIDE = "guide"  # implementation guide rules
    XML = "xml"  # XML well-formedness and schema validity


@dataclass(frozen=True)
class CodeInfo:
    ident: str
    edifact_code: int | None
    category: Category
    severity: Severity
    summary: str


def _c(ident: str, edifact: int | None, category: Category, summary: str,
       severity: Severity = Severity.ERROR) -> CodeInfo:
    return CodeInfo(ident, edifact, category, severity, summary)


_S, _E, _T, _D, _K, _G, _X = (Category.SYNTAX, Category.ENVELOPE, Category.STRUCTURE, Category.ELEMENT,
                              Category.CODE, Category.GUIDE, Category.XML)


class Code(enum.Enum):
    """Every kind of problem the hub reports. The value's `ident` is what reports and logs carry."""

    # syntax and characters
    EMPTY_INPUT = _c("empty-input", 13, _S, "The file is empty.")
    NOT_EDIFACT = _c("not-edifact", 22, _S, "The data does not start with UNA or UNB.")
    BAD_UNA = _c("bad-una", 20, _S, "The UNA service string advice is malformed.")
    INVALID_CHARACTER = _c("invalid-character", 21, _S,
                           "A character is not allowed by the interchange's syntax identifier.")
    UNDECODABLE_BYTES = _c("undecodable-bytes", 21, _S,
                           "Bytes cannot be decoded in the encoding the syntax identifier implies.")
    UNTERMINATED_SEGMENT = _c("unterminated-segment", 13, _S,
                              "The data ends inside a segment: the segment terminator is missing.")
    DANGLING_RELEASE = _c("dangling-release", 20, _S,
                          "The release character is not followed by a character to release.")
    EMPTY_SEGMENT = _c("empty-segment", 22, _S, "A segment has no tag.", Severity.WARNING)
    BAD_SEGMENT_TAG = _c("bad-segment-tag", 22, _S, "A segment tag is not three letters or digits.")
    TRAILING_SEPARATOR = _c("trailing-separator", 45, _S,
                            "A segment or composite ends with a separator that has nothing after it.",
                            Severity.WARNING)
    UNSUPPORTED_SYNTAX = _c("unsupported-syntax", 2, _E,
                            "The syntax identifier or version is not supported.")
    # envelope
    MISSING_UNB = _c("missing-unb", 13, _E, "Segments appear before any UNB interchange header.")
    MISSING_UNZ = _c("missing-unz", 13, _E, "The interchange has no UNZ trailer.")
    MISSING_UNT = _c("missing-unt", 13, _E, "The message has no UNT trailer.")
    MISSING_UNE = _c("missing-une", 13, _E, "The functional group has no UNE trailer.")
    UNEXPECTED_SERVICE_SEGMENT = _c("unexpected-service-segment", 33, _E,
                                    "A service segment appears where it is not allowed.")
    SEGMENT_OUTSIDE_MESSAGE = _c("segment-outside-message", 33, _E,
                                 "A data segment appears outside any UNH..UNT message.")
    REFERENCE_MISMATCH = _c("reference-mismatch", 28, _E,
                            "A trailer's control reference does not match its header's.")
    COUNT_MISMATCH = _c("count-mismatch", 29, _E,
                        "A trailer's control count does not match what was received.")
    GROUPS_AND_MESSAGES_MIXED = _c("groups-and-messages-mixed", 30, _E,
                                   "The interchange mixes functional groups and bare messages.")
    EMPTY_INTERCHANGE = _c("empty-interchange", 32, _E, "The interchange or group holds no message.")
    BAD_DATE = _c("bad-date", 12, _E, "A date or time in the envelope is not a valid date or time.")
    TEST_INDICATOR = _c("test-indicator", None, _E,
                        "The interchange or message is marked as a test.", Severity.WARNING)
    DUPLICATE_REFERENCE = _c("duplicate-reference", 26, _E,
                             "The same message reference appears twice in one interchange.")
    UNSUPPORTED_MESSAGE = _c("unsupported-message", 3, _E,
                             "The message type, version or release is not supported.")
    DUPLICATE_INTERCHANGE = _c("duplicate-interchange", 26, _E,
                               "The interchange was received and processed before (same sender and "
                               "reference, or the same bytes); it is not processed again.")
    UNKNOWN_SENDER = _c("unknown-sender", 23, _E, "The interchange sender is not a partner of the hub.")
    SENDER_NOT_PARTNER = _c("sender-not-partner", 23, _E,
                            "The interchange sender is not an identifier of the partner who delivered it.")
    SENDER_SUSPENDED = _c("sender-suspended", 23, _E, "The sending partner is suspended.")
    MESSAGE_NOT_ALLOWED = _c("message-not-allowed", None, _E,
                             "The partner is not authorised to send this message type, version or guide.")
    # structure
    UNKNOWN_SEGMENT = _c("unknown-segment", 15, _T,
                         "The segment tag is not defined in the message's directory.")
    UNEXPECTED_SEGMENT = _c("unexpected-segment", 15, _T,
                            "The segment is not allowed at this position in the message.")
    MISSING_SEGMENT = _c("missing-segment", 13, _T, "A mandatory segment is missing.")
    TOO_MANY_SEGMENT_REPETITIONS = _c("too-many-segment-repetitions", 35, _T,
                                      "A segment repeats more often than allowed.")
    TOO_MANY_GROUP_REPETITIONS = _c("too-many-group-repetitions", 36, _T,
                                    "A segment group repeats more often than allowed.")
    # elements
    MISSING_ELEMENT = _c("missing-element", 13, _D, "A mandatory data element is missing.")
    MISSING_COMPONENT = _c("missing-component", 13, _D, "A mandatory component is missing.")
    TOO_MANY_ELEMENTS = _c("too-many-elements", 16, _D, "The segment has more data elements than defined.")
    TOO_MANY_COMPONENTS = _c("too-many-components", 16, _D,
                             "The composite has more components than defined.")
    TOO_MANY_REPETITIONS = _c("too-many-repetitions", 16, _D,
                              "The data element repeats more often than allowed.")
    COMPONENTS_IN_SIMPLE_ELEMENT = _c("components-in-simple-element", 16, _D,
                                      "A simple data element carries component separators.")
    INVALID_CHARACTER_TYPE = _c("invalid-character-type", 37, _D,
                                "The value has characters its format does not allow.")
    INVALID_DECIMAL = _c("invalid-decimal", 19, _D, "The number's decimal notation is invalid.")
    MISSING_DIGIT_BEFORE_DECIMAL = _c("missing-digit-before-decimal", 38, _D,
                                      "A digit is missing in front of the decimal mark.")
    TOO_LONG = _c("too-long", 39, _D, "The value is longer than its format allows.")
    TOO_SHORT = _c("too-short", 40, _D, "The value is shorter than its format requires.")
    # code lists
    INVALID_CODE = _c("invalid-code", 12, _K, "The value is not in the element's code list.")
    TOO_MANY_ISSUES = _c("too-many-issues", None, _T,
                         "So many problems were found that the rest were not listed.", Severity.WARNING)
    LINE_BREAK_IN_SEGMENT = _c("line-break-in-segment", 21, _S,
                               "A line break appears inside a segment, where it is not a valid character.")
    # implementation guides
    GUIDE_SEGMENT_NOT_USED = _c("guide-segment-not-used", 15, _G,
                                "The implementation guide does not use this segment.")
    GUIDE_SEGMENT_REQUIRED = _c("guide-segment-required", 13, _G,
                                "The implementation guide requires this segment.")
    GUIDE_ELEMENT_NOT_USED = _c("guide-element-not-used", 15, _G,
                                "The implementation guide does not use this data element.")
    GUIDE_ELEMENT_REQUIRED = _c("guide-element-required", 13, _G,
                                "The implementation guide requires this data element.")
    GUIDE_INVALID_VALUE = _c("guide-invalid-value", 12, _G,
                             "The value is not allowed by the implementation guide.")
    # XML
    XML_NOT_WELL_FORMED = _c("xml-not-well-formed", None, _X, "The XML is not well-formed.")
    XML_FORBIDDEN_CONSTRUCT = _c("xml-forbidden-construct", None, _X,
                                 "The XML uses a DTD or entity, which the hub refuses.")
    XML_SCHEMA_INVALID = _c("xml-schema-invalid", None, _X, "The XML does not conform to its schema.")
    XML_LIMIT_EXCEEDED = _c("xml-limit-exceeded", None, _X,
                            "The XML document exceeds a size, node-count or depth limit of the hub.")
    XML_UNKNOWN_DOCUMENT = _c("xml-unknown-document", None, _X, "No schema is known for this XML document.")

    @property
    def ident(self) -> str:
        return self.value.ident

    @property
    def edifact_code(self) -> int | None:
        return self.value.edifact_code


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in the input, with its position.

    `segment` counts segments of a message as CONTRL does (UNH = 1) and is None outside a message;
    `element` and `component` are 1-based (component None in a simple element); `offset` is the byte
    offset of the segment's first byte, or, for character-level issues (an invalid character, a line
    break, a trailing separator), of the offending character itself.
    """

    code: Code
    message: str
    severity: Severity = Severity.ERROR
    segment: int | None = None
    tag: str | None = None
    element: int | None = None
    component: int | None = None
    offset: int | None = None
    line: int | None = None
    rule: str | None = None  # implementation-guide rule id, e.g. "SMDG22-EQD-8155"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code.ident,
            "edifact_code": self.code.edifact_code,
            "severity": self.severity.value,
            "segment": self.segment,
            "tag": self.tag,
            "element": self.element,
            "component": self.component,
            "offset": self.offset,
            "line": self.line,
            "rule": self.rule,
            "message": self.message,
        }

    def sort_key(self) -> tuple[int, int, int, int, str]:
        return (self.offset if self.offset is not None else -1, self.element or 0,
                self.component or 0, 0 if self.severity is Severity.ERROR else 1, self.code.ident)


def _has_error(issues: list[Issue]) -> bool:
    return any(i.severity is Severity.ERROR for i in issues)


@dataclass
class MessageReport:
    ref: str | None
    type: str | None
    version: str | None
    release: str | None
    agency: str | None
    assoc: str | None
    offset: int = 0
    segment_count: int = 0
    group_ref: str | None = None
    issues: list[Issue] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not _has_error(self.issues)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref, "type": self.type, "version": self.version, "release": self.release,
            "agency": self.agency, "assoc": self.assoc, "accepted": self.accepted,
            "issues": [i.to_dict() for i in sorted(self.issues, key=Issue.sort_key)],
        }


@dataclass
class InterchangeReport:
    sender: str | None = None
    recipient: str | None = None
    control_ref: str | None = None
    syntax_id: str | None = None
    syntax_version: str | None = None
    sender_qualifier: str | None = None
    recipient_qualifier: str | None = None
    ack_requested: bool = False
    test: bool = False
    offset: int = 0
    issues: list[Issue] = field(default_factory=list)
    messages: list[MessageReport] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not _has_error(self.issues) and all(m.accepted for m in self.messages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sender": self.sender, "recipient": self.recipient, "control_ref": self.control_ref,
            "syntax_id": self.syntax_id, "syntax_version": self.syntax_version,
            "accepted": self.accepted,
            "issues": [i.to_dict() for i in sorted(self.issues, key=Issue.sort_key)],
            "messages": [m.to_dict() for m in self.messages],
        }


@dataclass
class Report:
    """The whole verdict on one input (a file, an AMQP body, an upload)."""

    syntax: str = "edifact"  # "edifact" | "xml"
    issues: list[Issue] = field(default_factory=list)
    interchanges: list[InterchangeReport] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not _has_error(self.issues) and all(i.accepted for i in self.interchanges)

    def all_issues(self) -> list[Issue]:
        out = list(self.issues)
        for ic in self.interchanges:
            out.extend(ic.issues)
            for m in ic.messages:
                out.extend(m.issues)
        return sorted(out, key=Issue.sort_key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "syntax": self.syntax,
            "accepted": self.accepted,
            "issues": [i.to_dict() for i in sorted(self.issues, key=Issue.sort_key)],
            "interchanges": [ic.to_dict() for ic in self.interchanges],
        }

    def render(self) -> str:
        """Readable text: one block per message, one line per issue, in position order."""
        lines: list[str] = []

        def issue_line(i: Issue) -> str:
            where = []
            if i.segment is not None:
                where.append(f"segment {i.segment}")
            if i.tag:
                where.append(i.tag)
            if i.element is not None:
                where.append(f"element {i.element}" + (f".{i.component}" if i.component else ""))
            if i.line is not None:
                where.append(f"line {i.line}")
            pos = ", ".join(where)
            code = f" [{i.code.ident}" + (f"/{i.code.edifact_code}" if i.code.edifact_code else "") + "]"
            return f"    {i.severity.value.upper():7} {pos + ': ' if pos else ''}{i.message}{code}"

        for i in sorted(self.issues, key=Issue.sort_key):
            lines.append(issue_line(i))
        for ic in self.interchanges:
            verdict = "accepted" if ic.accepted else "REJECTED"
            lines.append(f"  interchange {ic.control_ref} from {ic.sender} to {ic.recipient} "
                         f"({ic.syntax_id}:{ic.syntax_version}): {verdict}")
            for i in sorted(ic.issues, key=Issue.sort_key):
                lines.append(issue_line(i))
            for m in ic.messages:
                verdict = "accepted" if m.accepted else "REJECTED"
                ident = ":".join(x or "" for x in (m.type, m.version, m.release, m.agency, m.assoc))
                lines.append(f"   message {m.ref} {ident.rstrip(':')}: {verdict}")
                for i in sorted(m.issues, key=Issue.sort_key):
                    lines.append(issue_line(i))
        return "\n".join(lines)
