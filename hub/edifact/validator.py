"""EDIFACT validation: one pass of layered checks over a tokenized input, collecting every issue.

Layers, in the order they run on each stretch of input (see `tokenizer.scan`):

1. syntax: separators, characters against the syntax identifier's repertoire, release characters,
   trailing separators (whole-text regular expressions, so they cost one C pass);
2. envelope: UNB/UNZ, UNG/UNE, UNH/UNT pairing, references, counts, syntax identifier, dates;
3. structure: each message's tag sequence against its segment table (regex, then the precise walk
   only when the regex refuses);
4. segments: elements, formats, lengths and code lists of each distinct segment text (regex, then the
   precise walk only for the texts the regex refuses); the implementation guide is compiled into both.

Nothing here raises on bad input, and nothing stops at the first problem. No I/O: the catalog that
supplies directories and guides is passed in.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress
from operator import call, not_
from typing import Any, Protocol

from hub.edifact.directory import CompositeDef, Directory, SegmentCheck, StructureWalk
from hub.edifact.guides import Guide
from hub.edifact.tokenizer import ENCODINGS, Scan, scan
from hub.report import Code, InterchangeReport, Issue, MessageReport, Report, Severity


class CatalogLike(Protocol):
    def directory(self, name: str, syntax_version: str | None = None) -> Directory | None: ...
    def guide(self, assoc: str | None, message: str | None, directory: str) -> Guide | None: ...
    def available_directories(self) -> list[str]: ...


@dataclass(frozen=True)
class Options:
    """Per-partner strictness. Defaults follow the standard."""

    lowercase_under_unoa: Severity = Severity.ERROR
    max_issues_per_message: int = 10_000  # a wrong directory can make every segment fail


# ISO 9735 character repertoires. UNOA: upper case, digits, space and . , - ( ) / = ' + : ? ! " % & * ; < >
_UNOA = "A-Z0-9 .,\\-()/='+:?!\"%&*;<>"
# UNOB: the printable ISO 646 characters, lower case included.
_UNOB = "\\x20-\\x7e"
_ENVELOPE_TAGS = re.compile(r"UN[BGHTEZ]")
_SEPARATOR_CHARS = "\r\n"


@dataclass
class _Msg:
    report: MessageReport
    start: int  # index of UNH in scan.segments
    end: int = -1  # index of UNT (or last segment if UNT is missing)
    directory: str | None = None
    guide: str | None = None


@dataclass
class _Ic:
    report: InterchangeReport
    start: int
    syntax_version: str | None = None
    syntax_id: str | None = None
    messages: list[_Msg] = field(default_factory=list)
    groups: int = 0
    bare_messages: int = 0


@dataclass
class LocatedMessage:
    """A message of the input with where it lies, for the stages after validation (mapping)."""

    scan: Scan
    start: int  # index of UNH in scan.segments
    end: int  # index of UNT (or of the last segment when UNT is missing)
    report: MessageReport
    interchange: InterchangeReport
    directory: str | None  # the directory it was validated against, None if unsupported
    guide: str | None


def validate(data: bytes, catalog: CatalogLike, options: Options | None = None) -> Report:
    return validate_located(data, catalog, options)[0]


def validate_located(data: bytes, catalog: CatalogLike,
                     options: Options | None = None) -> tuple[Report, list[LocatedMessage]]:
    """The report, and each message located in the tokenized input (one tokenization for both)."""
    opts = options or Options()
    report = Report()
    located: list[LocatedMessage] = []
    head = data[:16].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not data or data.isspace():  # what `not data.strip()` says, without copying a 4 MB input
        report.issues.append(Issue(Code.EMPTY_INPUT, "The file is empty: there is nothing to validate."))
        return report, located
    if not head.startswith((b"UNA", b"UNB", b"UNH")):
        report.issues.append(Issue(Code.NOT_EDIFACT, f"This is not an EDIFACT interchange: it starts with "
                                   f"{data[:20]!r} instead of UNA or UNB.", offset=0, line=1))
        return report, located
    for sc in scan(data):
        v = _Validator(sc, catalog, opts, report)
        v.run()
        for ic in v.ics:
            for m in ic.messages:
                located.append(LocatedMessage(sc, m.start, m.end, m.report, ic.report, m.directory, m.guide))
    return report, located


class _Validator:
    def __init__(self, sc: Scan, catalog: CatalogLike, opts: Options, report: Report) -> None:
        self.sc = sc
        self.catalog = catalog
        self.opts = opts
        self.report = report
        self.tags = sc.tags
        self.ics: list[_Ic] = []
        self._ic_starts: list[int] | None = None
        self._msgs: list[_Msg] = []
        self._msg_starts: list[int] = []

    # --- positions -----------------------------------------------------------------------------

    def line(self, char_offset: int) -> int:
        return self.sc.line(char_offset)

    def at(self, code: Code, message: str, index: int | None, *, msg: _Msg | None = None,
           element: int | None = None, component: int | None = None, tag: str | None = None,
           severity: Severity | None = None, rule: str | None = None,
           char_offset: int | None = None) -> Issue:
        """An issue about segment `index` of the scan (or the scan as a whole when None)."""
        offset = line = None
        if char_offset is None and index is not None and index < len(self.sc.starts):
            char_offset = self.sc.starts[index]
        if char_offset is not None:
            offset, line = self.sc.byte_offset(char_offset), self.line(char_offset)
        segment = index - msg.start + 1 if (msg is not None and index is not None) else None
        if tag is None and index is not None and index < len(self.tags):
            tag = self.tags[index]
        return Issue(code, message, severity or code.value.severity, segment, tag, element, component,
                     offset, line, rule)

    # --- the run -------------------------------------------------------------------------------

    def run(self) -> None:
        sc = self.sc
        self.report.issues.extend(sc.issues)
        self.envelope()
        for ic in self.ics:
            for m in ic.messages:
                self.message(ic, m)
        if sc.segments:  # the character-level scans place what they find in segments
            self.characters()
            self.line_breaks()
            self.trailing_separators()

    def _add_ic(self, start: int) -> _Ic:
        ic = _Ic(InterchangeReport(offset=self.sc.byte_offset(self.sc.starts[start])), start)
        self.ics.append(ic)
        self.report.interchanges.append(ic.report)
        return ic

    def values(self, index: int) -> list[list[str]]:
        """The first repetition of each element of segment `index`, components unescaped."""
        return [[self.sc.unescape(v) for v in el[0]] for el in self.sc.elements(index)]

    @staticmethod
    def get(vals: list[list[str]], el: int, comp: int = 1) -> str | None:
        if el - 1 < len(vals) and comp - 1 < len(vals[el - 1]):
            return vals[el - 1][comp - 1] or None
        return None

    def envelope(self) -> None:
        sc, tags = self.sc, self.tags
        tagstr = "".join(tags)
        if len(tagstr) == 3 * len(tags):
            idxs = [m.start() // 3 for m in _ENVELOPE_TAGS.finditer(tagstr) if m.start() % 3 == 0]
        else:
            idxs = [i for i, t in enumerate(tags) if _ENVELOPE_TAGS.fullmatch(t)]
        ic: _Ic | None = None
        group: tuple[int, str | None, int] | None = None  # (index, reference, messages seen)
        msg: _Msg | None = None
        outside_reported = False
        prev_end = -1

        def close_msg(at: int) -> None:
            nonlocal msg
            if msg is not None:
                msg.end = at
                msg.report.issues.append(self.at(Code.MISSING_UNT, f"Message {msg.report.ref} has no UNT "
                                                 "trailer before this point.", at, msg=msg))
                msg.report.segment_count = at - msg.start + 1
                msg = None

        def close_group(at: int) -> None:
            nonlocal group
            if group is not None and ic is not None:
                ic.report.issues.append(self.at(Code.MISSING_UNE, f"Functional group {group[1]} has no UNE "
                                                "trailer.", at))
            group = None

        for i in idxs:
            tag = tags[i]
            # data segments between envelope segments that belong to no message
            if msg is None and i > prev_end + 1 and not outside_reported:
                gap = [k for k in range(prev_end + 1, i) if tags[k] != "UNS"]
                if gap:
                    where = ic.report.issues if ic is not None else self.report.issues
                    where.append(self.at(Code.SEGMENT_OUTSIDE_MESSAGE,
                                         f"{len(gap)} segment(s) starting with {tags[gap[0]]} lie outside "
                                         "any UNH..UNT message and were not validated.", gap[0]))
                    outside_reported = True
            prev_end = i
            if tag == "UNB":
                if ic is not None:
                    close_msg(i - 1)
                    close_group(i - 1)
                    ic.report.issues.append(self.at(Code.MISSING_UNZ, f"Interchange {ic.report.control_ref} "
                                                    "has no UNZ trailer before the next UNB.", i))
                ic = self._add_ic(i)
                self.unb(ic, i)
            elif tag == "UNG":
                if ic is None:
                    ic = self._missing_unb(i)
                close_msg(i - 1)
                close_group(i - 1)
                vals = self.values(i)
                group = (i, self.get(vals, 5), 0)
                ic.groups += 1
                self.service_segment(ic, i)
                if ic.bare_messages:
                    ic.report.issues.append(self.at(Code.GROUPS_AND_MESSAGES_MIXED, "This functional group "
                                                    "follows messages outside any group.", i))
            elif tag == "UNH":
                if ic is None:
                    ic = self._missing_unb(i)
                close_msg(i - 1)
                vals = self.values(i)
                mr = MessageReport(ref=self.get(vals, 1), type=self.get(vals, 2, 1),
                                   version=self.get(vals, 2, 2), release=self.get(vals, 2, 3),
                                   agency=self.get(vals, 2, 4), assoc=self.get(vals, 2, 5),
                                   offset=sc.byte_offset(sc.starts[i]),
                                   group_ref=group[1] if group else None)
                msg = _Msg(mr, i)
                if mr.ref is not None and any(o.report.ref == mr.ref for o in ic.messages):
                    mr.issues.append(self.at(Code.DUPLICATE_REFERENCE, f"Message reference {mr.ref!r} is "
                                             "already used by another message of this interchange; each "
                                             "message needs its own.", i, msg=msg, element=1))
                ic.messages.append(msg)
                ic.report.messages.append(mr)
                if group is not None:
                    group = (group[0], group[1], group[2] + 1)
                else:
                    ic.bare_messages += 1
                    if ic.groups:
                        ic.report.issues.append(self.at(Code.GROUPS_AND_MESSAGES_MIXED, "This message "
                                                        "stands outside any functional group while "
                                                        "others are in groups.", i))
            elif tag == "UNT":
                if msg is None:
                    target = ic.report.issues if ic else self.report.issues
                    target.append(self.at(Code.UNEXPECTED_SERVICE_SEGMENT, "UNT without a matching UNH.", i))
                    continue
                msg.end = i
                count = i - msg.start + 1
                msg.report.segment_count = count
                vals = self.values(i)
                declared, ref = self.get(vals, 1), self.get(vals, 2)
                if _count(declared) != count:
                    msg.report.issues.append(self.at(
                        Code.COUNT_MISMATCH, f"UNT says the message has {declared} segments; it has {count} "
                        "(UNH and UNT included).", i, msg=msg, element=1))
                if ref != msg.report.ref:
                    msg.report.issues.append(self.at(
                        Code.REFERENCE_MISMATCH, f"UNT message reference {ref!r} does not match the UNH "
                        f"reference {msg.report.ref!r}.", i, msg=msg, element=2))
                msg = None
            elif tag == "UNE":
                close_msg(i - 1)
                if group is None or ic is None:
                    target = ic.report.issues if ic else self.report.issues
                    target.append(self.at(Code.UNEXPECTED_SERVICE_SEGMENT, "UNE without a matching UNG.", i))
                    continue
                vals = self.values(i)
                declared, ref = self.get(vals, 1), self.get(vals, 2)
                if _count(declared) != group[2]:
                    ic.report.issues.append(self.at(Code.COUNT_MISMATCH, f"UNE says the group holds "
                                                    f"{declared} messages; it holds {group[2]}.", i,
                                                    element=1))
                if ref != group[1]:
                    ic.report.issues.append(self.at(Code.REFERENCE_MISMATCH, f"UNE group reference {ref!r} "
                                                    f"does not match the UNG reference {group[1]!r}.", i,
                                                    element=2))
                self.service_segment(ic, i)
                group = None
            elif tag == "UNZ":
                close_msg(i - 1)
                close_group(i - 1)
                if ic is None:
                    self.report.issues.append(self.at(Code.UNEXPECTED_SERVICE_SEGMENT, "UNZ without a "
                                                      "matching UNB.", i))
                    continue
                vals = self.values(i)
                declared, ref = self.get(vals, 1), self.get(vals, 2)
                count = ic.groups if ic.groups else len(ic.messages)
                what = "functional groups" if ic.groups else "messages"
                if _count(declared) != count:
                    ic.report.issues.append(self.at(Code.COUNT_MISMATCH, f"UNZ says the interchange holds "
                                                    f"{declared} {what}; it holds {count}.", i, element=1))
                if ref != ic.report.control_ref:
                    ic.report.issues.append(self.at(Code.REFERENCE_MISMATCH, f"UNZ control reference {ref!r}"
                                                    f" does not match the UNB reference "
                                                    f"{ic.report.control_ref!r}.", i, element=2))
                if not ic.messages:
                    ic.report.issues.append(self.at(Code.EMPTY_INTERCHANGE, "The interchange holds no "
                                                    "message.", i))
                self.service_segment(ic, i)
                ic = None
        last = len(tags) - 1
        if msg is not None:
            close_msg(last)
            prev_end = last  # the segments of a message cut short belong to it, not to no message
        if group is not None:
            close_group(last)
        if ic is not None:
            ic.report.issues.append(self.at(Code.MISSING_UNZ, f"Interchange {ic.report.control_ref} has no "
                                            "UNZ trailer: the file may be truncated.", last))
        if msg is None and last > prev_end and not outside_reported:
            gap = [k for k in range(prev_end + 1, last + 1) if tags[k] != "UNS"]
            if gap:
                where = self.ics[-1].report.issues if self.ics else self.report.issues
                where.append(self.at(Code.SEGMENT_OUTSIDE_MESSAGE, f"{len(gap)} segment(s) starting with "
                                     f"{tags[gap[0]]} lie outside any UNH..UNT message.", gap[0]))
        if not self.ics and not idxs:
            self.report.issues.append(self.at(Code.MISSING_UNB, "No UNB interchange header was found.", 0))

    def _missing_unb(self, i: int) -> _Ic:
        ic = self._add_ic(i)
        ic.report.issues.append(self.at(Code.MISSING_UNB, "The messages are not inside a UNB..UNZ "
                                        "interchange.", i))
        return ic

    def unb(self, ic: _Ic, i: int) -> None:
        vals = self.values(i)
        r = ic.report
        r.syntax_id, r.syntax_version = self.get(vals, 1, 1), self.get(vals, 1, 2)
        r.sender, r.sender_qualifier = self.get(vals, 2, 1), self.get(vals, 2, 2)
        r.recipient, r.recipient_qualifier = self.get(vals, 3, 1), self.get(vals, 3, 2)
        r.control_ref = self.get(vals, 5)
        r.ack_requested = self.get(vals, 9) == "1"
        r.test = self.get(vals, 11) == "1"
        ic.syntax_id, ic.syntax_version = r.syntax_id, r.syntax_version
        if r.syntax_id not in ENCODINGS:
            r.issues.append(self.at(Code.UNSUPPORTED_SYNTAX, f"Syntax identifier {r.syntax_id!r} is not "
                                    f"supported; use one of {', '.join(sorted(ENCODINGS))}.", i,
                                    element=1, component=1))
        if r.syntax_version is not None and r.syntax_version not in ("1", "2", "3", "4"):
            r.issues.append(self.at(Code.UNSUPPORTED_SYNTAX, f"Syntax version {r.syntax_version!r} is not "
                                    "supported; use 1 to 4.", i, element=1, component=2))
        date, time = self.get(vals, 4, 1), self.get(vals, 4, 2)
        # The length and digits of the date are the service directory's business (n6, or n8 in
        # version 4); here only a well-formed value that is no calendar date is reported.
        if date is not None and _ASCII_DIGITS.fullmatch(date) and len(date) in (6, 8):
            if not _valid_datetime(date, "%Y%m%d" if len(date) == 8 else "%y%m%d"):
                r.issues.append(self.at(Code.BAD_DATE, f"UNB date {date!r} is not a calendar date.", i,
                                        element=4, component=1))
        if time is not None and _ASCII_DIGITS.fullmatch(time) and len(time) == 4 and not _valid_datetime(time, "%H%M"):
            r.issues.append(self.at(Code.BAD_DATE, f"UNB time {time!r} is not a valid time (HHMM).", i,
                                    element=4, component=2))
        if r.test:
            r.issues.append(self.at(Code.TEST_INDICATOR, "The interchange is marked as a test (UNB "
                                    "element 11 = 1).", i, element=11))
        self.service_segment(ic, i)

    def _elements_for(self, check: SegmentCheck, i: int) -> tuple[list[list[list[str]]], Any, int]:
        """Segment i's elements, split no further than its definition needs (one more than it has), and
        how many it really has: a segment of ten million separators is not ten million lists."""
        n = len(check.sdef.elements) + 1
        return (self.sc.elements(i, limit=n), self.sc.unescape,
                self.sc.segments[i].count(self.sc.delimiters.element))

    def decimal_marks(self, ic: _Ic) -> str:
        """Syntax versions 1 to 3 take the decimal mark the UNA declares (or its default); version 4
        accepts a comma or a full stop."""
        return ".," if ic.syntax_version == "4" else self.sc.delimiters.decimal

    def service_segment(self, ic: _Ic, i: int, msg: _Msg | None = None) -> None:
        """Element checks of an envelope segment against the service directory of its syntax."""
        svc = self.catalog.directory("SERVICE4" if ic.syntax_version == "4" else "SERVICE3")
        if svc is None:
            return
        check = svc.segment_check(self.tags[i], self.sc.delimiters, self.sc.neutral, None,
                                  self.decimal_marks(ic))
        if check is None or check.regex.fullmatch(self.sc.segments[i]):
            return
        target = msg.report.issues if msg is not None else ic.report.issues
        for code, text, el, comp, rule in check.issues(*self._elements_for(check, i)):
            target.append(self.at(code, text, i, msg=msg, element=el, component=comp, rule=rule))

    # --- messages ------------------------------------------------------------------------------

    def message(self, ic: _Ic, m: _Msg) -> None:
        r = m.report
        if m.end < m.start:
            m.end = m.start
        name = _directory_name(r.type, r.version, r.release)
        directory = self.catalog.directory(name, ic.syntax_version) if name else None
        if directory is None or r.type not in directory.messages:
            have = ", ".join(d for d in self.catalog.available_directories() if not d.startswith("SERVICE"))
            ident = ":".join(x or "" for x in (r.type, r.version, r.release, r.agency))
            why = (f"directory {name} is not available (the hub has {have})" if directory is None and name
                   else f"message type {r.type} is not defined in directory {name}" if name
                   else "the UNH message identifier is incomplete" if not (r.type and r.version and r.release)
                   else f"version {r.version} release {r.release} is not a UN/EDIFACT directory the hub has "
                        f"({have})")
            r.issues.append(self.at(Code.UNSUPPORTED_MESSAGE, f"Message {ident} is not supported: {why}. "
                                    "The envelope was checked; the content was not.", m.start, msg=m,
                                    element=2))
            self.service_segment(ic, m.start, m)
            if m.end > m.start and self.tags[m.end] == "UNT":
                self.service_segment(ic, m.end, m)
            return
        guide = self.catalog.guide(r.assoc, r.type, directory.name)
        m.directory, m.guide = directory.name, guide.id if guide else None
        self.structure(directory, m, guide)
        self.segments(directory, m, guide, self.decimal_marks(ic))

    def structure(self, directory: Directory, m: _Msg, guide: Guide | None) -> None:
        tags = self.tags[m.start:m.end + 1]
        tagstr = "".join(tags)
        assert m.report.type is not None
        ok = len(tagstr) == 3 * len(tags) and directory.structure_regex(m.report.type).fullmatch(tagstr)
        if not ok:
            walk = StructureWalk(directory.messages[m.report.type], directory.segments)
            for si in walk.walk(tags)[: self.opts.max_issues_per_message]:
                m.report.issues.append(self.at(si.code, si.message, m.start + si.index, msg=m, tag=si.tag))
        if guide is not None:
            present = set(tags)
            for tag in sorted(guide.not_used() & present):
                for k, t in enumerate(tags):
                    if t == tag:
                        m.report.issues.append(self.at(
                            Code.GUIDE_SEGMENT_NOT_USED, f"Segment {tag} is not used by guide {guide.id}.",
                            m.start + k, msg=m, rule=f"{guide.id}-{tag}"))
            for tag in sorted(guide.required() - present):
                m.report.issues.append(self.at(
                    Code.GUIDE_SEGMENT_REQUIRED, f"Guide {guide.id} requires segment {tag}, which the "
                    "message lacks.", m.end, msg=m, tag=tag, rule=f"{guide.id}-{tag}"))

    def segments(self, directory: Directory, m: _Msg, guide: Guide | None, decimal_marks: str) -> None:
        sc = self.sc
        segs = sc.segments[m.start:m.end + 1]
        # Each distinct segment text against the regex of its tag, every step in C (dict, map): the
        # texts with their tags, each tag's fullmatch, the calls, and the texts it refused.
        texts = dict(zip(segs, self.tags[m.start:m.end + 1], strict=True))
        checks: dict[str, SegmentCheck | None] = {
            tag: directory.segment_check(tag, sc.delimiters, sc.neutral, guide, decimal_marks)
            for tag in set(texts.values())}
        matchers = {tag: check.regex.fullmatch if check is not None else _ANYTHING
                    for tag, check in checks.items()}
        verdicts = map(call, map(matchers.__getitem__, texts.values()), texts)
        bad = set(compress(texts, map(not_, verdicts)))
        if not bad:
            return
        budget = self.opts.max_issues_per_message
        for k, s in enumerate(segs):
            if s not in bad:
                continue
            i = m.start + k
            check = checks[s[:3]]
            if check is None:
                continue
            for code, text, el, comp, rule in check.issues(*self._elements_for(check, i)):
                m.report.issues.append(self.at(code, text, i, msg=m, element=el, component=comp, rule=rule))
                budget -= 1
            if budget <= 0:
                m.report.issues.append(self.at(Code.TOO_MANY_ISSUES, "Too many problems in this message; "
                                                "the rest were not listed.", i, msg=m))
                return

    # --- characters ----------------------------------------------------------------------------

    def _owner(self, char_offset: int) -> tuple[int, _Ic | None, _Msg | None]:
        """The segment index, interchange and message holding a character offset."""
        idx = max(bisect_right(self.sc.starts, char_offset) - 1, 0)
        if self._ic_starts is None:
            self._ic_starts = [ic.start for ic in self.ics]
            self._msgs = [m for ic in self.ics for m in ic.messages]
            self._msg_starts = [m.start for m in self._msgs]
        k = bisect_right(self._ic_starts, idx) - 1
        owner_ic = self.ics[k] if k >= 0 else None
        j = bisect_right(self._msg_starts, idx) - 1
        owner_msg = self._msgs[j] if j >= 0 and self._msgs[j].start <= idx <= self._msgs[j].end else None
        return idx, owner_ic, owner_msg

    def _element_position(self, idx: int, char_offset: int,
                          m: _Msg | None = None) -> tuple[int | None, int | None]:
        """Element and component of a character of segment idx; component None in a simple element
        (as the directory defines it, or, without one, when the element has no component separator)."""
        d = self.sc.delimiters
        seg = self.sc.segments[idx]
        prefix = seg[:char_offset - self.sc.starts[idx]]
        el = prefix.count(d.element)
        if el == 0:
            return None, None
        comp = prefix.rsplit(d.element, 1)[1].count(d.component) + 1
        composite = self._is_composite(self.tags[idx], el, m)
        if composite is None:
            composite = d.component in seg.split(d.element)[el]
        return el, comp if composite else None

    def _is_composite(self, tag: str, el: int, m: _Msg | None) -> bool | None:
        name = m.directory if m is not None and m.directory else (
            "SERVICE4" if any(ic.syntax_version == "4" for ic in self.ics) else "SERVICE3")
        directory = self.catalog.directory(name)
        sdef = directory.segments.get(tag) if directory is not None else None
        if sdef is None or el > len(sdef.elements):
            return None
        return isinstance(sdef.elements[el - 1][0], CompositeDef)

    def _file_issue(self, issue: Issue, ic: _Ic | None, m: _Msg | None) -> None:
        if m is not None:
            m.report.issues.append(issue)
        elif ic is not None:
            ic.report.issues.append(issue)
        else:
            self.report.issues.append(issue)

    def characters(self) -> None:
        sc = self.sc
        syntax_id = next((ic.syntax_id for ic in self.ics if ic.syntax_id), None)
        allowed_extra = re.escape(sc.delimiters.service_chars() + _SEPARATOR_CHARS
                                  + sc.neutral.release_pair + sc.neutral.segment + sc.neutral.element
                                  + sc.neutral.component + sc.neutral.repetition)
        if syntax_id == "UNOA":
            pattern = f"[^{_UNOA}{allowed_extra}]"
        elif syntax_id == "UNOB":
            pattern = f"[^{_UNOB}{allowed_extra}]"
        elif syntax_id in ENCODINGS:
            # Other repertoires: everything the encoding decodes, except control characters.
            pattern = f"[\\x00-\\x1f\\x7f\\udc80-\\udcff](?<![{allowed_extra}\\t])"
        else:
            return
        hits: dict[tuple[int, str], list[str]] = {}
        first_at: dict[tuple[int, str], int] = {}
        bad = re.compile(pattern)
        pos = sc.starts[0] if sc.starts else 0
        # One search per offending segment, then its distinct characters (a set made in C) each tested
        # once: a segment of ten million lower-case letters costs no more Python than one of ten, and
        # no list of ten million one-letter strings (findall's) is made either.
        while (mt := bad.search(sc.text, pos)) is not None:
            idx = max(bisect_right(sc.starts, mt.start()) - 1, 0)
            end = sc.starts[idx + 1] if idx + 1 < len(sc.starts) else len(sc.text)
            for ch in [c for c in set(sc.text[mt.start():end]) if bad.fullmatch(c)]:
                kind = ("undecodable" if "\udc80" <= ch <= "\udcff"
                        else "lower" if ch.islower() and ch.isascii() else "invalid")
                key = (idx, kind)
                at = sc.text.find(ch, mt.start(), end)
                if key not in hits:
                    hits[key] = []
                    first_at[key] = at
                first_at[key] = min(first_at[key], at)
                hits[key].append(ch)
            pos = max(end, mt.end())
        for (idx, kind), chars in hits.items():
            at = first_at[(idx, kind)]
            _, ic, m = self._owner(at)
            el, comp = self._element_position(idx, at, m)
            shown = "".join(sorted(set(chars)))
            if kind == "lower":
                issue = self.at(Code.INVALID_CHARACTER, f"Lower-case letters {shown!r} are not allowed under "
                                f"{syntax_id}; use upper case or declare UNOB or UNOC in UNB.", idx, msg=m,
                                element=el, component=comp, severity=self.opts.lowercase_under_unoa,
                                char_offset=at)
            elif kind == "undecodable":
                shown_bytes = ", ".join(repr(bytes([ord(c) - 0xDC00])) for c in sorted(set(chars)))
                issue = self.at(Code.UNDECODABLE_BYTES, f"Bytes {shown_bytes} cannot be decoded as {sc.encoding}, "
                                f"the encoding of {syntax_id}.", idx, msg=m, element=el, component=comp,
                                char_offset=at)
            else:
                printable = ", ".join(repr(c) for c in sorted(set(chars)))
                issue = self.at(Code.INVALID_CHARACTER, f"Character(s) {printable} are not allowed under "
                                f"{syntax_id}.", idx, msg=m, element=el, component=comp, char_offset=at)
            self._file_issue(issue, ic, m)

    def line_breaks(self) -> None:
        """Line breaks are allowed between segments only."""
        sc = self.sc
        if not line_breaks_may_be_misplaced(sc.text, sc.delimiters.segment):
            return
        term = re.escape(sc.delimiters.segment)
        start = sc.starts[0] if sc.starts else 0
        seen: set[int] = set()
        for mt in re.compile(rf"(?<![{term}\r\n])[\r\n]+(?![\r\n]*\Z)").finditer(sc.text, start):
            idx, ic, m = self._owner(mt.start())
            if idx in seen:
                continue
            seen.add(idx)
            el, comp = self._element_position(idx, mt.start(), m)
            self._file_issue(self.at(Code.LINE_BREAK_IN_SEGMENT, "A line break inside this segment is not "
                                     "allowed; put line breaks only after segment terminators.", idx, msg=m,
                                     element=el, component=comp, char_offset=mt.start()), ic, m)

    def trailing_separators(self) -> None:
        sc = self.sc
        d = sc.delimiters
        if not separators_may_trail(sc.text, d.element, d.component, d.segment):
            return
        e, c, t = re.escape(d.element), re.escape(d.component), re.escape(d.segment)
        start = sc.starts[0] if sc.starts else 0
        for mt in re.compile(f"{c}+(?={e}|{t})|{e}+(?={t})").finditer(sc.text, start):
            at = mt.start()
            idx, ic, m = self._owner(at)
            el, comp = self._element_position(idx, at, m)
            self._file_issue(self.at(Code.TRAILING_SEPARATOR, "Empty trailing data elements or components "
                                     "should be left out together with their separators.", idx, msg=m,
                                     element=el, component=comp, char_offset=at), ic, m)


# The two character-level scans above run a regular expression whose every position needs a look
# around, a fifth of the validation of a large file; `str` counts in C tell first whether it can match.

def line_breaks_may_be_misplaced(text: str, terminator: str) -> bool:
    """False when every line break of `text` follows a segment terminator directly (one LF after each),
    so that `line_breaks` has nothing to find."""
    return "\r" in text or text.count("\n") != text.count(terminator + "\n")


def separators_may_trail(text: str, element: str, component: str, terminator: str) -> bool:
    """False when no component separator comes right before an element separator or terminator and no
    element separator right before a terminator, so that `trailing_separators` has nothing to find."""
    return (component + element in text or component + terminator in text
            or element + terminator in text)


_ASCII_DIGITS = re.compile("[0-9]+")
_ANYTHING = re.compile("(?s).*").fullmatch  # the verdict on a segment whose tag has no check


def _count(declared: str | None) -> int | None:
    """A control count as a number, or None when it is none (missing, not ASCII digits, absurdly long)."""
    if declared is None or not re.fullmatch("[0-9]{1,15}", declared):
        return None
    return int(declared)


def _valid_datetime(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return bool(_ASCII_DIGITS.fullmatch(value))


def _directory_name(mtype: str | None, version: str | None, release: str | None) -> str | None:
    if not mtype or not version or not release:
        return None
    if mtype == "CONTRL":
        return "SERVICE4" if version == "4" else "SERVICE3" if (version, release) == ("D", "3") else None
    if version == "D" and re.fullmatch(r"[0-9]{2}[A-Z]", release.upper()):
        return "D" + release.upper()
    return None
