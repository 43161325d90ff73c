"""Running a compiled mapping spec over one message: EDIFACT (as a tree of segment-group instances)
or XML (an lxml element). The result is the *mapped message* (vocabulary in `targets.py`) plus notes
on values that could not be converted; nothing here raises on odd data.

No I/O.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.edifact.directory import Directory, StructureWalk
from hub.edifact.tokenizer import Scan
from hub.mapping.spec import MappingSpec, Rule, ValueSpec

# Weights are mapped to kilograms (UN/ECE Rec. 20 unit codes).
WEIGHT_UNITS = {"KGM": 1.0, "TNE": 1000.0, "LBR": 0.45359237, "GRM": 0.001}


_POSITIONS: dict[str, tuple[int, int]] = {}


def _position(pos: str) -> tuple[int, int]:
    """'2.1' -> (1, 0), parsed once per distinct position."""
    hit = _POSITIONS.get(pos)
    if hit is None:
        el, _, comp = pos.partition(".")
        hit = _POSITIONS[pos] = (int(el) - 1, int(comp or 1) - 1)
    return hit


class SegView:
    """One segment of a message, its elements split only when a rule first reads them."""

    __slots__ = ("tag", "index", "_scan", "_at", "_elements")

    def __init__(self, tag: str, index: int, scan: Scan, at: int) -> None:
        self.tag = tag
        self.index = index  # segment number in the message, UNH = 1
        self._scan = scan
        self._at = at  # index in scan.segments
        self._elements: list[list[str]] | None = None

    @property
    def elements(self) -> list[list[str]]:
        """First repetition of each element, components unescaped."""
        if self._elements is None:
            sc = self._scan
            self._elements = [[sc.unescape(v) for v in el[0]] for el in sc.elements(self._at)]
        return self._elements

    def get(self, pos: str) -> str | None:
        e, c = _position(pos)
        els = self.elements
        if e < len(els) and c < len(els[e]):
            return els[e][c] or None
        return None


@dataclass
class GroupNode:
    number: int
    segments: list[SegView] = field(default_factory=list)
    groups: dict[int, list[GroupNode]] = field(default_factory=dict)
    by_tag: dict[str, list[SegView]] = field(default_factory=dict)


def message_tree(sc: Scan, start: int, end: int, directory: Directory, message: str) -> GroupNode:
    """The segments start..end (UNH..UNT) of a scan, placed in their group instances."""
    tags = [sc.segments[i][:3] for i in range(start, end + 1)]
    placements: list[tuple[tuple[int, int], ...] | None] = []
    StructureWalk(directory.messages[message], directory.segments).walk(tags, placements)
    root = GroupNode(0)
    open_nodes: dict[tuple[tuple[int, int], ...], GroupNode] = {(): root}
    last_path: tuple[tuple[int, int], ...] | None = ()
    node = root
    for k, path in enumerate(placements):
        if path is None:
            continue  # a misplaced segment: reported by validation, not mapped
        if path != last_path:
            node = root
            for depth in range(1, len(path) + 1):
                key = path[:depth]
                child = open_nodes.get(key)
                if child is None:
                    child = GroupNode(key[-1][0])
                    node.groups.setdefault(child.number, []).append(child)
                    open_nodes[key] = child
                node = child
            last_path = path
        view = SegView(tags[k], k + 1, sc, start + k)
        node.segments.append(view)
        node.by_tag.setdefault(view.tag, []).append(view)
    return root


class Source(Protocol):
    def items(self, ctx: Any, path: str) -> Sequence[Any]: ...
    def groups(self, ctx: Any, path: str) -> Sequence[Any]: ...
    def value(self, item: Any, pos: str) -> str | None: ...


class EdifactSource:
    def _walk(self, ctx: GroupNode, parts: list[str]) -> Iterator[GroupNode]:
        if not parts:
            yield ctx
            return
        number = int(parts[0][2:])
        for child in ctx.groups.get(number, []):
            yield from self._walk(child, parts[1:])

    def items(self, ctx: GroupNode, path: str) -> list[SegView]:
        if "/" not in path:
            return ctx.by_tag.get(path, [])
        *groups, tag = path.split("/")
        return [s for node in self._walk(ctx, groups) for s in node.by_tag.get(tag, ())]

    def groups(self, ctx: GroupNode, path: str) -> list[GroupNode]:
        return list(self._walk(ctx, path.split("/")))

    def value(self, item: SegView, pos: str) -> str | None:
        return item.get(pos)


_compiled_xpaths = threading.local()


def compiled_xpaths(namespaces: dict[str, str]) -> dict[str, Any]:
    """path -> `etree.XPath(path, namespaces=namespaces)`, filled as paths are asked for, one table per
    thread (lxml's compiled expressions are not to be shared between threads): `element.xpath(path)`
    parses the expression again on every call: mapping a WCO declaration took three times as long."""
    tables: dict[tuple[tuple[str, str], ...], _XPaths] | None = getattr(_compiled_xpaths, "tables", None)
    if tables is None:
        tables = _compiled_xpaths.tables = {}
    key = tuple(sorted(namespaces.items()))
    table = tables.get(key)
    if table is None:
        table = tables[key] = _XPaths(namespaces)
    return table


class _XPaths(dict[str, Any]):
    def __init__(self, namespaces: dict[str, str]) -> None:
        super().__init__()
        self.namespaces = namespaces

    def __missing__(self, path: str) -> Any:
        from lxml import etree

        compiled = self[path] = etree.XPath(path, namespaces=self.namespaces)
        return compiled


def xpath_items(xpath: Any, ctx: Any) -> list[Any]:
    """The nodes a compiled XPath selects (a lone value when it computes one)."""
    found = xpath(ctx)
    return found if isinstance(found, list) else [found]


def xpath_text(xpath: Any, ctx: Any) -> str | None:
    """The text of the first node a compiled XPath selects (an element's own text, not its
    descendants'), or the value it computes; whitespace-normalised, None when empty."""
    found = xpath(ctx)
    if isinstance(found, list):
        if not found:
            return None
        first = found[0]
        text = first if isinstance(first, str) else (first.text or "")
    else:
        text = str(found)
    return normalised(text)


def normalised(text: str | None) -> str | None:
    """A value's text with its whitespace collapsed (Python's `str.split`), None when nothing is left."""
    if not text:
        return None
    return " ".join(text.split()) or None


class XmlSource:
    def __init__(self, namespaces: dict[str, str]) -> None:
        self.ns = namespaces
        self.xpath = compiled_xpaths(namespaces)

    def items(self, ctx: Any, path: str) -> list[Any]:
        return xpath_items(self.xpath[path], ctx)

    groups = items

    def value(self, item: Any, pos: str) -> str | None:
        return xpath_text(self.xpath[pos], item)


@dataclass
class Mapped:
    document: dict[str, Any]
    notes: list[str]


Converter = Callable[[str, ValueSpec, Callable[[str], str | None]], Any]


def evaluate(spec: MappingSpec, source: Source, root: Any) -> Mapped:
    out: dict[str, Any] = {}
    notes: list[str] = []
    _run(spec.rules, source, root, out, notes)
    return Mapped(out, notes)


def _run(rules: Sequence[Rule], source: Source, ctx: Any, record: dict[str, Any], notes: list[str]) -> None:
    for rule in rules:
        if rule.each is not None:
            for inst in source.groups(ctx, rule.each):
                if rule.into is None:
                    _run(rule.rules, source, inst, record, notes)
                    continue
                sub: dict[str, Any] = {}
                _run(rule.rules, source, inst, sub, notes)
                if sub:
                    _append(record, rule.into, sub)
            continue
        assert rule.at is not None
        for item in source.items(ctx, rule.at):
            if not _matches(rule, source, item):
                continue
            for target, vs in rule.sets:
                value = _value(vs, source, item, notes, rule.where)
                if value is None:
                    continue
                if target.endswith("[]"):
                    _append(record, target, value)
                else:
                    _set_first(record, target, value)


def _matches(rule: Rule, source: Source, item: Any) -> bool:
    for pos, values, negated in rule.conditions:
        got = source.value(item, pos)
        hit = (got or "") in values
        if hit == negated:
            return False
    return True


def _container(path: str, record: dict[str, Any]) -> tuple[dict[str, Any], str]:
    *parents, last = path.split(".")
    node = record
    for p in parents:
        if p.endswith("[]"):
            lst = node.setdefault(p[:-2], [])
            if not lst:
                lst.append({})
            node = lst[-1]
        else:
            node = node.setdefault(p, {})
    return node, last


def _set_first(record: dict[str, Any], path: str, value: Any) -> None:
    node, last = _container(path, record)
    node.setdefault(last, value)  # the first value found wins; later segments do not overwrite it


def _append(record: dict[str, Any], path: str, value: Any) -> None:
    node, last = _container(path, record)
    node.setdefault(last[:-2], []).append(value)


def _value(vs: ValueSpec, source: Source, item: Any, notes: list[str], where: str) -> Any:
    if vs.const is not None:
        raw: str | None = vs.const
    elif vs.join:
        parts = [source.value(item, p) for p in vs.join]
        raw = " ".join(p for p in parts if p) or None
    else:
        raw = source.value(item, vs.source) if vs.source else None
    return finish_value(raw, vs, notes, where, lambda pos: source.value(item, pos))


def finish_value(raw: str | None, vs: ValueSpec, notes: list[str], where: str,
                 lookup: Callable[[str], str | None], plain: Callable[[str], str] | None = None) -> Any:
    """From the text a value spec found (None: nothing) to the mapped value: the default, the codes,
    the conversion (`plain`, when given, is the conversion as a function of the value alone). What
    does not convert is a note, not a value. Shared by the reference and the compiled evaluators."""
    if raw is None:
        raw = vs.default
        if raw is None:
            return None
    codes = vs.codes
    if codes is not None:
        if raw in codes:
            raw = codes[raw]
        elif "*" in codes:
            raw = codes["*"]
    if vs.convert == "text":
        return raw
    if plain is not None:
        return plain(raw)
    try:
        return convert(raw, vs, lookup)
    except ValueError as e:
        notes.append(f"{where}: {e}")
        return None


def number_times(raw: str, factor: float, as_int: bool) -> float | int | None:
    """What `convert` makes of a number or weight that converts (`factor`: the weight unit's), None when
    it does not: the compiled evaluators' fast path, which then calls `convert` for its note."""
    try:
        number = float(raw.replace(",", ".")) * factor
        return int(number) if as_int or number.is_integer() else number
    except (ValueError, OverflowError):  # not a number; nan or inf as an int
        return None


def convert(raw: str, vs: ValueSpec, lookup: Callable[[str], str | None]) -> Any:
    """One received value in the mapped message's form. Key conversions keep the raw value next to
    the normalised one, so nothing the sender wrote is lost."""
    import hub.dossier.keys as keys

    kind = vs.convert
    if kind == "text":
        return raw
    if kind == "upper":
        return raw.upper()
    if kind in ("number", "weight", "int"):
        text = raw.replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
        if kind == "weight":
            unit = lookup(vs.unit_from) if vs.unit_from else "KGM"
            factor = WEIGHT_UNITS.get(unit or "KGM")
            if factor is None:
                raise ValueError(f"weight unit {unit!r} is not known (use KGM, TNE, LBR or GRM)")
            number *= factor
        if kind == "int" or number.is_integer():
            try:
                return int(number)
            except (ValueError, OverflowError):  # nan, inf: a note, not a crash
                raise ValueError(f"{raw!r} is not a whole number") from None
        return number
    if kind == "flag":
        return raw.strip().lower() not in ("", "0", "false", "no", "n")
    if kind == "stamp":
        given = vs.format or (lookup(vs.format_from) if vs.format_from else None)
        if given == "xsd" or (given is None and _XML_DATE.match(raw)):
            return keys.parse_xml_datetime(raw).to_dict()  # xsd:date / xsd:dateTime
        fmt = vs.format or (lookup(vs.format_from) if vs.format_from else None) or _guess_format(raw)
        return keys.parse_edifact_datetime(raw, fmt).to_dict()
    if kind == "container":
        c = keys.normalise_container(raw)
        return c.value
    if kind == "bl":
        return keys.normalise_bl(raw)
    if kind == "voyage":
        return keys.normalise_voyage(raw)
    if kind == "locode":
        return raw.replace(" ", "").upper()
    if kind == "imo":
        return keys.normalise_imo(raw) or raw
    raise ValueError(f"unknown conversion {kind!r}")


_XML_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _guess_format(raw: str) -> str:
    """The 2379 format implied by a value's length, when the message does not say."""
    digits = raw.replace("-", "").replace(":", "").replace("T", "")
    return {6: "101", 8: "102", 10: "201", 12: "203", 14: "204"}.get(len(digits), "203")
