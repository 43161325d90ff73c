"""XML validation: bytes in, a `Report` (and a summary of the document) out.

The steps, each ending the run with its issues when it fails:
1. safe parsing under the limits (`hub.xml.safe`): refusals, well-formedness;
2. choosing the document type from the catalog by root element and discriminators; an XML document
   the catalog does not know is rejected (`xml-unknown-document`), since the hub can neither check
   nor map it;
3. validation against the type's compiled XSD with libxml2 (lxml). libxml2 goes on after most errors,
   so a report usually lists every problem of the document, up to `Limits.max_issues`. Locating
   errors is kept within a work budget (see PATH_BUDGET): a document with tens of thousands of
   errors among as many siblings gets them listed without positions rather than taking hours.

Each schema issue gives the line of the element, and its path from the root in local names with
1-based positions among same-named siblings (`/MetaData/Declaration/GoodsShipment/
GovernmentAgencyGoodsItem[2]/Commodity`), both in the message and in `Issue.tag` (the structured
place the report offers for "where in the message"). libxml2's own wording is kept, without the
namespace URIs that make it unreadable.

Why lxml and not xmlschema: measured on WCO declarations (bench/bench_xml.py --xmlschema), lxml
compiles the WCO schemas in 10-20 ms and parses and validates 30 to 40 times faster (0.1-0.2 ms
against 6-8 ms for 5.6 kB; 20-50 ms against 1.2-1.6 s for 1.27 MB); xmlschema compiles in 1-2 s.

No I/O here beyond reading schemas through the catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from hub.report import Code, Issue, Report, Severity
from hub.xml.catalog import XsdCatalog, default_catalog
from hub.xml.safe import DEFAULT_LIMITS, Limits, line_offsets, parse, source_line

__all__ = ["DocumentSummary", "XmlValidation", "parse_and_validate", "validate", "validate_document"]


@dataclass(frozen=True, slots=True)
class DocumentSummary:
    """What the hub learnt about a well-formed document, for routing, dossiers and acknowledgements."""

    root: str  # Clark notation: {namespace}LocalName
    name: str  # local name of the root element
    namespace: str | None
    kind: str | None  # catalog id ("wco-dec", "berthing-request"...); None when no schema applies
    schema: str | None  # the XSD it was validated against, relative to schemas/xsd
    reference: str | None  # the sender's own reference, where the catalog says where to find it
    size: int  # bytes


@dataclass(frozen=True, slots=True)
class XmlValidation:
    report: Report
    document: DocumentSummary | None  # None when the input was refused or is not well-formed


def validate(data: bytes, *, limits: Limits | None = None, catalog: XsdCatalog | None = None) -> Report:
    """Validate one XML document; the report has `syntax="xml"` and no interchanges."""
    return validate_document(data, limits=limits, catalog=catalog).report


def validate_document(data: bytes, *, limits: Limits | None = None,
                      catalog: XsdCatalog | None = None) -> XmlValidation:
    """Validate one XML document and summarise it."""
    report, document, _ = _run(data, limits or DEFAULT_LIMITS, catalog)
    return XmlValidation(report, document)


def parse_and_validate(data: bytes, *, limits: Limits | None = None,
                       catalog: XsdCatalog | None = None) -> tuple[Report, etree._Element | None]:
    """Validate one XML document and hand back its safely parsed tree, for the stages after
    validation (mapping) to use instead of parsing again. The root is there whenever the document
    is well-formed and was not refused, valid or not; None otherwise."""
    report, _, root = _run(data, limits or DEFAULT_LIMITS, catalog)
    return report, root


def _run(data: bytes, limits: Limits,
         catalog: XsdCatalog | None) -> tuple[Report, DocumentSummary | None, etree._Element | None]:
    report = Report(syntax="xml")
    parsed = parse(data, limits)
    report.issues.extend(parsed.issues)
    root = parsed.root
    if root is None:
        return report, None, None

    catalog = catalog or default_catalog()
    doc_type = catalog.select(root)
    tag = root.tag
    namespace, _, name = tag[1:].rpartition("}") if tag.startswith("{") else ("", "", tag)
    if doc_type is None:
        report.issues.append(_unknown_document(data, root, catalog))
        return report, DocumentSummary(tag, name, namespace or None, None, None, None, len(data)), root

    report.issues.extend(_validate(data, root, catalog.schema(doc_type), limits.max_issues))
    return report, DocumentSummary(tag, name, namespace or None, doc_type.id, doc_type.xsd,
                                   doc_type.reference(root), len(data)), root


# Where the work of locating errors is bounded. For every schema error, lxml computes the element's
# path at once (libxml2's xmlGetNodePath), and that walks all the element's earlier siblings, and the
# later ones too for a uniquely named element: an error among 100,000 siblings costs 100,000 steps.
# A document of 100,000 invalid siblings takes minutes (measured: 400 s for a 9 MB one). So the hub
# validates the tree directly only when (elements x widest fan-out), a bound on the steps of the
# worst case where every element is invalid, stays under this budget: about 1.5 s at the ~50 ns a
# step measured here, and above the 24 million of a 999-item WCO declaration. Otherwise it first
# validates while re-parsing without building anything (libxml2's streaming mode: linear, but no
# positions), and asks the tree for positions only if (errors found x fan-out) fits the budget.
PATH_BUDGET = 30_000_000
# Below this many `<`, elements x fan-out cannot exceed 25 million: no need to measure the tree.
SMALL_DOCUMENT_TAGS = 5_000


class _Discard:
    """A parser target that keeps nothing: with a schema on the parser, lxml then only validates."""

    def close(self) -> None:
        return None


def _validate(data: bytes, root: etree._Element, schema: etree.XMLSchema, max_issues: int) -> list[Issue]:
    if len(data) <= SMALL_DOCUMENT_TAGS * 3 or data.count(b"<") <= SMALL_DOCUMENT_TAGS:
        # A tag takes at least 3 bytes, so a short document cannot have many.
        return [] if schema.validate(root) else _schema_issues(data, root, schema.error_log, max_issues)
    sizes = [len(e) for e in root.iter(etree.Element)]  # ~4 ms for a 999-item declaration
    fan_out = max(sizes)
    if len(sizes) * fan_out <= PATH_BUDGET:
        return [] if schema.validate(root) else _schema_issues(data, root, schema.error_log, max_issues)

    # lxml takes any target with close(); its stubs ask for the whole protocol, whose callbacks
    # would cost a Python call per element.
    parser = etree.XMLParser(target=_Discard(), schema=schema,  # type: ignore[arg-type]
                             resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)
    try:
        etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        pass  # the errors are in the log either way
    streamed = [e for e in parser.error_log if e.domain_name == "SCHEMASV"] or list(parser.error_log)
    if not streamed:
        return []
    if len(streamed) * fan_out <= PATH_BUDGET and not schema.validate(root):
        return _schema_issues(data, root, schema.error_log, max_issues)
    return _positionless_issues(streamed, fan_out, max_issues, len(data))


def _positionless_issues(entries: list[etree._LogEntry], fan_out: int, max_issues: int,
                         size: int) -> list[Issue]:
    issues = [Issue(Code.XML_SCHEMA_INVALID, f"{len(entries):,} schema error(s) among up to {fan_out:,} "
                    "sibling elements; listed without line and path, which would take too long to locate.")]
    for entry in entries[:max_issues]:
        severity = Severity.WARNING if entry.level_name == "WARNING" else Severity.ERROR
        issues.append(Issue(Code.XML_SCHEMA_INVALID, _reword(entry.message, None, keep_element=True),
                            severity=severity))
    if len(entries) > max_issues:
        issues.append(_not_listed(len(entries) - max_issues, max_issues, size))
    return issues


def _unknown_document(data: bytes, root: etree._Element, catalog: XsdCatalog) -> Issue:
    qname = etree.QName(root)
    where = f"in namespace {qname.namespace}" if qname.namespace else "in no namespace"
    message = f"No schema is known for root element {qname.localname!r} {where}"
    candidates = catalog.candidates(root)
    others = catalog.same_local_name(root)
    if candidates:
        variants = "; ".join(f"{t.id} needs " + " and ".join(c.describe() for c in t.when)
                             for t in candidates)
        message += f": the root is known, but the document matches none of its variants ({variants})."
    elif others:
        known = ", ".join(etree.QName(r).namespace or "no namespace" for r in others)
        message += f". The hub knows {qname.localname!r} in namespace {known}: check the namespace " \
                   "declaration on the root element."
    else:
        message += "; the hub cannot check or map it."
    line = source_line(root)
    offset = line_offsets(data, {line}).get(line) if line else None
    return Issue(Code.XML_UNKNOWN_DOCUMENT, message, severity=Code.XML_UNKNOWN_DOCUMENT.value.severity,
                 line=line, offset=offset, tag=f"/{qname.localname}")


# `{urn:...}Name` in libxml2 messages; the set `{'9', '13'}` of an enumeration is left alone.
_CLARK = re.compile(r"\{[^{}\s']+\}(?=[A-Za-z_])")
# The leading "Element 'X': " or "Element 'X', attribute 'a': " that the path makes redundant.
_LEADING_ELEMENT = re.compile(r"^Element '[^']*'(?:, (attribute '[^']*'))?: ")


def _reword(message: str, element: etree._Element | None, keep_element: bool = False) -> str:
    """libxml2's message without the namespace URIs of the element at fault (and its own name, which
    the path gives). Names in another namespace keep it, as a prefix the document declares where
    there is one: "expected DateTimeString" is useless when the fault is the namespace."""
    own = etree.QName(element).namespace if element is not None else None
    prefixes = {uri: p for p, uri in (element.nsmap.items() if element is not None else ()) if p}

    def shorten(m: re.Match[str]) -> str:
        uri = m.group(0)[1:-1]
        if element is None or uri == own:
            return ""
        return f"{prefixes[uri]}:" if uri in prefixes else m.group(0)

    text = _CLARK.sub(shorten, message.strip())
    m = None if keep_element else _LEADING_ELEMENT.match(text)
    if m:
        text = (m.group(1) + ": " if m.group(1) else "") + text[m.end():]
    return text if text.endswith(".") else text + "."


def _schema_issues(data: bytes, root: etree._Element, log: etree._ListErrorLog,
                   max_issues: int) -> list[Issue]:
    entries = list(log)
    shown = entries[:max_issues]
    locator = _Locator(root)
    located = [(e, locator.element_at(e.path)) for e in shown]
    lines = {(source_line(el) if el is not None else None) or e.line for e, el in located}
    starts = line_offsets(data, {n for n in lines if n})
    issues: list[Issue] = []
    for entry, element in located:
        path = locator.readable_path(element) if element is not None else (entry.path or None)
        line = (source_line(element) if element is not None else None) or entry.line or None
        severity = Severity.WARNING if entry.level_name == "WARNING" else Severity.ERROR
        text = _reword(entry.message, element)
        issues.append(Issue(Code.XML_SCHEMA_INVALID, f"{path}: {text}" if path else text, severity=severity,
                            line=line, offset=starts.get(line) if line else None, tag=path))
    if len(entries) > max_issues:
        issues.append(_not_listed(len(entries) - max_issues, max_issues, len(data)))
    return issues


def _not_listed(rest: int, max_issues: int, end: int) -> Issue:
    # Placed at the end of the document, so that it sorts after the issues it follows.
    return Issue(Code.XML_SCHEMA_INVALID, f"{rest:,} further schema error(s) are not listed; the first "
                 f"{max_issues:,} are above.", offset=end)


_STEP = re.compile(r"^(?:(?P<prefix>[^:\[\]/]+):)?(?P<name>[^:\[\]/]+)(?:\[(?P<index>\d+)\])?$")


class _Locator:
    """Turns libxml2's node paths into elements, and elements into readable paths.

    Errors often share a wide parent (a thousand goods items); each parent's element children are
    listed once and positions looked up in dictionaries, so locating n errors costs the widths of the
    parents involved plus n times the depth, not n times the width. Holding the child lists also keeps
    lxml's element proxies alive, so identity lookups stay valid."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self._children: dict[etree._Element, list[etree._Element]] = {}
        self._named: dict[tuple[etree._Element, str, str | None], list[etree._Element]] = {}
        self._position: dict[etree._Element, tuple[int, int]] = {}  # element -> (1-based, of how many)

    def children(self, parent: etree._Element) -> list[etree._Element]:
        found = self._children.get(parent)
        if found is None:
            found = self._children[parent] = list(parent.iterchildren(tag=etree.Element))
        return found

    def element_at(self, path: str | None) -> etree._Element | None:
        """libxml2 writes `prefix:name[i]` for prefixed elements, `name[i]` for elements in no
        namespace and `*[i]` for elements in a default namespace (then counting all element
        siblings); None when the path cannot be followed."""
        if not path or not path.startswith("/"):
            return None
        node: etree._Element | None = None
        for step in path[1:].split("/"):
            m = _STEP.match(step)
            if m is None:
                return None
            name, prefix, index = m.group("name"), m.group("prefix"), int(m.group("index") or 1)
            if node is None:
                if not _step_matches(self.root, name, prefix):
                    return None
                node = self.root
                continue
            if name == "*":
                candidates = self.children(node)
            else:
                key = (node, name, prefix)
                candidates = self._named.get(key)  # type: ignore[assignment]
                if candidates is None:
                    candidates = self._named[key] = [c for c in self.children(node)
                                                     if _step_matches(c, name, prefix)]
            if index > len(candidates):
                return None
            node = candidates[index - 1]
        return node

    def readable_path(self, element: etree._Element) -> str:
        parts: list[str] = []
        node: etree._Element | None = element
        while node is not None:
            name = etree.QName(node).localname
            parent = node.getparent()
            if parent is not None:
                position, count = self._position_of(parent, node)
                if count > 1:
                    name += f"[{position}]"
            parts.append(name)
            node = parent
        return "/" + "/".join(reversed(parts))

    def _position_of(self, parent: etree._Element, node: etree._Element) -> tuple[int, int]:
        found = self._position.get(node)
        if found is None:
            same: dict[str, list[etree._Element]] = {}
            for child in self.children(parent):
                same.setdefault(child.tag, []).append(child)
            for group in same.values():
                for n, child in enumerate(group, 1):
                    self._position[child] = (n, len(group))
            found = self._position[node]
        return found


def _step_matches(element: etree._Element, name: str, prefix: str | None) -> bool:
    if name == "*":
        return True
    qname = etree.QName(element)
    if qname.localname != name:
        return False
    return element.prefix == prefix if prefix else qname.namespace is None


def _element_at(root: etree._Element, path: str | None) -> etree._Element | None:
    return _Locator(root).element_at(path)


def _readable_path(element: etree._Element) -> str:
    return _Locator(element.getroottree().getroot()).readable_path(element)
