"""Safe XML parsing: bytes in, an lxml tree or issues out.

What this module never does: substitute an entity, load a DTD, open a file or a socket, or switch on
libxml2's "huge tree" mode. What it refuses, each with one clear issue and before any tree is built
where that is possible:

1. A DOCTYPE, whatever it holds. DTDs are where entities live (XXE reading /etc/passwd, "billion
   laughs" expansion) and where external fetches start; no document the hub accepts needs one. The
   prolog (declaration, comments, processing instructions) is skipped with C-speed searches in the
   usual ASCII-compatible encodings and a DOCTYPE there is refused before parsing; in the others
   (UTF-16, UTF-32) the parse itself is safe, and the DOCTYPE is refused right after it.
2. More than `Limits.max_bytes` of input: a length check, O(1).
3. More than `Limits.max_nodes` markup constructs, estimated as the count of `<` plus the count of
   `=` in the bytes (every element, end tag, comment, processing instruction starts with `<`; every
   attribute and namespace declaration has an `=`). Two C-speed scans, done only when the input is
   long enough to possibly exceed the limit. This is what bounds the tree's memory: libxml2 spends
   roughly 120 to 600 bytes a node, so input size alone does not.
4. Nesting deeper than `Limits.max_depth`. libxml2 itself stops at 256 levels as soon as it reaches
   them (huge-tree mode stays off), which bounds the parse of any deep document and is the default;
   a lower limit is checked on the tree with one XPath evaluated in C.

Issues carry positions as the hub's report does: `line` (1-based) and `offset`, the byte offset of the
start of that line (plus the column, where libxml2 gives one), so reports sort in document order.

No I/O here.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from hub.report import Code, Issue, Severity

__all__ = ["DEFAULT_LIMITS", "LIBXML2_MAX_DEPTH", "LIMIT_CODE", "Limits", "Parsed", "line_offsets", "parse",
           "source_line"]

# libxml2's own nesting limit without XML_PARSE_HUGE, which the hub never sets.
LIBXML2_MAX_DEPTH = 256

# Refusals for exceeding a limit. report.py has no dedicated code yet ("xml-limit-exceeded" is
# proposed); until it has, they use the forbidden-construct code and say which limit in `rule`.
LIMIT_CODE: Code = Code.XML_LIMIT_EXCEEDED

# Rule ids: which safety rule an issue comes from (reports can be filtered by the "XML-" prefix).
RULE_DOCTYPE = "XML-DOCTYPE"
RULE_MAX_BYTES = "XML-MAX-BYTES"
RULE_MAX_NODES = "XML-MAX-NODES"
RULE_MAX_DEPTH = "XML-MAX-DEPTH"
RULE_LIBXML2_LIMIT = "XML-LIBXML2-LIMIT"


@dataclass(frozen=True, slots=True)
class Limits:
    """What the hub accepts before it even looks at a schema. Defaults fit a mid-size port: the
    largest real documents (a 999-item WCO declaration, a certificate with scanned attachments) are
    a few MB and well under 100,000 nodes."""

    # 32 MiB: ten times the largest customs declaration seen; attachments are base64 text, cheap in
    # the tree.
    max_bytes: int = 32 * 1024 * 1024
    # One million `<` + `=`: at worst ~300 MB of tree (measured: 124 B per bare element, ~600 B per
    # element with an attribute, text and indentation).
    max_nodes: int = 1_000_000
    # libxml2's own 256 levels by default, which costs nothing to enforce (WCO declarations nest 8
    # deep, SPS certificates 9). A lower limit is checked on the tree, for about 10 us a document.
    max_depth: int = LIBXML2_MAX_DEPTH
    # Issues listed per document; the rest are counted in one closing issue. An acknowledgement
    # listing a million schema errors helps nobody.
    max_issues: int = 1000

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_nodes < 1 or self.max_issues < 1:
            raise ValueError("XML limits must be positive")
        if not 1 <= self.max_depth <= LIBXML2_MAX_DEPTH:
            raise ValueError(f"max_depth must be between 1 and {LIBXML2_MAX_DEPTH} (libxml2's own limit)")


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Parsed:
    """The tree (None when the input was refused or is not well-formed) and the issues found."""

    root: etree._Element | None
    issues: tuple[Issue, ...]


_WHITESPACE = re.compile(rb"[ \t\r\n]*")
_BOM = b"\xef\xbb\xbf"
_local = threading.local()


def _prolog_end(data: bytes, pos: int) -> int:
    """Where the prolog ends: after whitespace, the XML declaration, other processing instructions
    and comments, i.e. at the DOCTYPE or the root element (or at whatever is wrong there). Each step
    is a C-speed search, so a long comment costs one scan."""
    while True:
        pos = _WHITESPACE.match(data, pos).end()  # type: ignore[union-attr]  # a star always matches
        if data.startswith(b"<?", pos):
            end = data.find(b"?>", pos + 2)
        elif data.startswith(b"<!--", pos):
            end = data.find(b"-->", pos + 4)
        else:
            return pos
        if end < 0:
            return pos  # unterminated: the parser will say so
        pos = end + (2 if data[pos + 1] == 0x3F else 3)  # 0x3F is "?"


def _parser() -> etree.XMLParser:
    """This thread's parser. lxml parsers must not be shared between threads; within one, reusing
    the parser saves its set-up on every document, and its error log still holds the last
    document's errors only."""
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False, load_dtd=False, dtd_validation=False, no_network=True, huge_tree=False,
            remove_blank_text=False, collect_ids=False)
    return parser


@lru_cache(maxsize=8)
def _deeper_than(depth: int) -> etree.XPath:
    """An XPath true when some element sits below `depth` levels (the root is level 1)."""
    return etree.XPath("boolean(/*" + "/*" * depth + ")")


def source_line(element: etree._Element) -> int | None:
    """The line of an element's start tag (lxml's stubs type `sourceline` loosely)."""
    line = element.sourceline
    return line if isinstance(line, int) and line > 0 else None


def line_offsets(data: bytes, lines: set[int]) -> dict[int, int]:
    """The byte offset of the start of each of `lines` (1-based), in one pass over the data."""
    out: dict[int, int] = {}
    line, pos = 1, 0
    for wanted in sorted(n for n in lines if n >= 1):
        while line < wanted:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            pos, line = nl + 1, line + 1
        if line == wanted:
            out[wanted] = pos
    return out


def _refusal(message: str, rule: str, code: Code = LIMIT_CODE, line: int | None = None,
             offset: int | None = None) -> Parsed:
    return Parsed(None, (Issue(code, message, line=line, offset=offset, rule=rule),))


def parse(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Parsed:
    """Parse `data` under `limits`, or say why not. Never raises for any input bytes."""
    if not data or data.isspace():
        return Parsed(None, (Issue(Code.EMPTY_INPUT, "The document is empty.", offset=0),))
    if len(data) > limits.max_bytes:
        return _refusal(f"The document is {len(data):,} bytes long; the hub accepts XML documents of at "
                        f"most {limits.max_bytes:,} bytes. Split it, or ask for a higher limit.",
                        RULE_MAX_BYTES, offset=0)
    if len(data) > limits.max_nodes:
        nodes = data.count(b"<") + data.count(b"=")
        if nodes > limits.max_nodes:
            return _refusal(f"The document has about {nodes:,} tags and attributes; the hub accepts at most "
                            f"{limits.max_nodes:,}. Split it, or ask for a higher limit.",
                            RULE_MAX_NODES, offset=0)
    end = _prolog_end(data, len(_BOM) if data.startswith(_BOM) else 0)
    if data[end:end + 9].upper() == b"<!DOCTYPE":
        return _doctype_refusal(data, end)

    parser = _parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        return Parsed(None, _syntax_issues(data, parser.error_log, limits.max_issues))

    # Only reachable in encodings the prolog scan cannot read (UTF-16, UTF-32, EBCDIC).
    if getattr(root.getroottree().docinfo, "doctype", ""):
        return _doctype_refusal(data, None)
    if limits.max_depth < LIBXML2_MAX_DEPTH and _deeper_than(limits.max_depth)(root):
        return _refusal(f"The document nests elements more than {limits.max_depth} levels deep; the hub "
                        f"accepts at most {limits.max_depth}.", RULE_MAX_DEPTH)
    return Parsed(root, ())


def _doctype_refusal(data: bytes, at: int | None) -> Parsed:
    line = None if at is None else data.count(b"\n", 0, at) + 1
    offset = None if at is None else at
    return _refusal("The document has a DOCTYPE declaration. The hub accepts no DTD and no entity "
                    "declaration in XML (they can read local files or expand without bound); remove the "
                    "DOCTYPE and use character references such as &#233; instead of named entities.",
                    RULE_DOCTYPE, code=Code.XML_FORBIDDEN_CONSTRUCT, line=line, offset=offset)


def _syntax_issues(data: bytes, log: etree._ListErrorLog, max_issues: int) -> tuple[Issue, ...]:
    # Every error up to the first fatal one: namespace errors (an undeclared prefix) are errors that
    # libxml2 survives, each real; after a fatal error what libxml2 says next is mostly its own
    # confusion (a bad comment followed by "tag mismatch" on every enclosing element).
    entries = []
    for e in log:
        if e.level_name in ("ERROR", "FATAL"):
            entries.append(e)
            if e.level_name == "FATAL" or len(entries) == max_issues:
                break
    entries = entries or list(log)[:max_issues]
    if not entries:  # lxml raised without logging anything: say so rather than nothing
        return (Issue(Code.XML_NOT_WELL_FORMED, "The XML is not well-formed."),)
    starts = line_offsets(data, {e.line for e in entries if e.line})
    issues: list[Issue] = []
    seen: set[tuple[int, int, str]] = set()
    for e in entries:
        text = e.message.strip().rstrip(".")
        key = (e.line, e.column, text)
        if key in seen:
            continue
        seen.add(key)
        offset = starts.get(e.line)
        if offset is not None and e.column > 0:
            offset += e.column - 1
        where = f" (line {e.line}, column {e.column})" if e.line else ""
        if e.type_name == "ERR_RESOURCE_LIMIT" or "XML_PARSE_HUGE" in text or "amplification" in text:
            text = re.sub(r",? (use|try) XML_PARSE_HUGE( option)?|, see xmlCtxtSetMaxAmplification", "", text)
            if "depth" in text:
                text += f". The hub accepts at most {LIBXML2_MAX_DEPTH} levels of nesting"
            elif "too long" in text or "Buffer size" in text:
                text += ". The hub accepts at most 10 MB in one text node, attribute or name"
            issues.append(Issue(LIMIT_CODE, f"The document exceeds a parser limit{where}: {text}.",
                                line=e.line or None, offset=offset, rule=RULE_LIBXML2_LIMIT))
        else:
            severity = Severity.WARNING if e.level_name == "WARNING" else Severity.ERROR
            issues.append(Issue(Code.XML_NOT_WELL_FORMED, f"The XML is not well-formed{where}: {text}.",
                                severity=severity, line=e.line or None, offset=offset))
    return tuple(issues)
