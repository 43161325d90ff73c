"""Implementation guides: a community's narrowing of a UN message (e.g. SMDG BAPLIE 2.2 on D95B).

A guide is data (`schemas/guides/*.yaml`, format in `docs/guides.md`), selected by the UNH association
assigned code. It can mark segments not used or required, and per data element replace, extend or
switch off the UN code list, require a pattern, or mark the element required or not used. Each rule
has an id that starts with the guide's (`SMDG22-EQD-C224/8155`), so reports can be filtered by guide.

No I/O: guides come in as parsed data. A broken guide is refused when loaded, with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.edifact.directory import SegmentDef


class GuideError(ValueError):
    """The guide file is inconsistent; the message says where."""


@dataclass(frozen=True, slots=True)
class ElementRule:
    id: str
    path: str
    codes: tuple[str, ...] | None = None
    add_codes: tuple[str, ...] = ()
    no_codes: bool = False
    pattern: str | None = None
    usage: str | None = None  # "required" | "not-used"
    note: str = ""


@dataclass(frozen=True)
class SegmentRules:
    usage: str | None  # "required" | "not-used" | None
    elements: tuple[ElementRule, ...]


@dataclass(frozen=True)
class Guide:
    id: str
    title: str
    message: str
    directory: str
    association_codes: tuple[str, ...]
    segments: dict[str, SegmentRules] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Guide:
        try:
            gid = str(data["guide"])
            message = str(data["message"])
            directory = str(data["directory"])
        except KeyError as missing:
            raise GuideError(f"guide file lacks the key {missing}") from None
        segs: dict[str, SegmentRules] = {}
        for tag, body in (data.get("segments") or {}).items():
            body = body or {}
            usage = body.get("usage")
            if usage not in (None, "required", "not-used"):
                raise GuideError(f"{gid}: segment {tag}: usage must be 'required' or 'not-used', "
                                 f"not {usage!r}")
            rules = []
            for path, r in (body.get("elements") or {}).items():
                r = r or {}
                unknown = set(r) - {"codes", "add_codes", "no_codes", "pattern", "usage", "note"}
                if unknown:
                    raise GuideError(f"{gid}: {tag} {path}: unknown keys {sorted(unknown)}")
                pattern = r.get("pattern")
                if pattern is not None:
                    try:
                        re.compile(pattern)
                    except re.error as e:
                        raise GuideError(f"{gid}: {tag} {path}: bad pattern {pattern!r}: {e}") from None
                if r.get("usage") not in (None, "required", "not-used"):
                    raise GuideError(f"{gid}: {tag} {path}: usage must be 'required' or 'not-used'")
                codes = r.get("codes")
                rules.append(ElementRule(
                    id=f"{gid}-{tag}-{path}", path=str(path),
                    codes=tuple(str(c) for c in codes) if codes is not None else None,
                    add_codes=tuple(str(c) for c in r.get("add_codes") or ()),
                    no_codes=bool(r.get("no_codes", False)), pattern=pattern, usage=r.get("usage"),
                    note=str(r.get("note", ""))))
            segs[str(tag)] = SegmentRules(usage, tuple(rules))
        assoc = tuple(str(a) for a in data.get("association_codes") or [gid])
        return cls(gid, str(data.get("title", gid)), message, directory, assoc, segs)

    def not_used(self) -> frozenset[str]:
        return frozenset(t for t, s in self.segments.items() if s.usage == "not-used")

    def required(self) -> frozenset[str]:
        return frozenset(t for t, s in self.segments.items() if s.usage == "required")

    def element_rules(self, sdef: SegmentDef) -> dict[tuple[int, int | None], ElementRule]:
        """This guide's rules for one segment, keyed by (element position, component position)."""
        rules = self.segments.get(sdef.tag)
        if rules is None:
            return {}
        return {resolve_path(sdef, r.path, self.id): r for r in rules.elements}

    def check_against(self, segments: dict[str, SegmentDef]) -> list[str]:
        """Problems of this guide against its directory: unknown segments or element paths."""
        problems = []
        for tag, rules in self.segments.items():
            sdef = segments.get(tag)
            if sdef is None:
                problems.append(f"{self.id}: segment {tag} is not in directory {self.directory}")
                continue
            for r in rules.elements:
                try:
                    resolve_path(sdef, r.path, self.id)
                except GuideError as e:
                    problems.append(str(e))
        return problems


def resolve_path(sdef: SegmentDef, path: str, gid: str) -> tuple[int, int | None]:
    """'3035' / 'C224/8155' / '2' / '2.1' -> (element position, component position or None)."""
    from hub.edifact.directory import CompositeDef

    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", path) and len(path.split(".")[0]) <= 2:
        el, _, comp = path.partition(".")
        pos = int(el)
        if not 1 <= pos <= len(sdef.elements):
            raise GuideError(f"{gid}: {sdef.tag} has no element {pos}")
        if comp:
            defn = sdef.elements[pos - 1][0]
            if not isinstance(defn, CompositeDef) or not 1 <= int(comp) <= len(defn.components):
                raise GuideError(f"{gid}: {sdef.tag} element {pos} has no component {comp}")
            return pos, int(comp)
        return pos, None
    head, _, tail = path.partition("/")
    for pos, (defn, _, _) in enumerate(sdef.elements, 1):
        if defn.id != head:
            continue
        if not tail:
            return pos, None
        if isinstance(defn, CompositeDef):
            for cpos, (e, _) in enumerate(defn.components, 1):
                if e.id == tail:
                    return pos, cpos
        raise GuideError(f"{gid}: {sdef.tag} {head} has no component {tail}")
    # A bare component id is accepted when it occurs in exactly one composite of the segment.
    hits = []
    if not tail:
        for pos, (defn, _, _) in enumerate(sdef.elements, 1):
            if isinstance(defn, CompositeDef):
                hits += [(pos, c) for c, (e, _) in enumerate(defn.components, 1) if e.id == head]
    if len(hits) == 1:
        return hits[0]
    raise GuideError(f"{gid}: {sdef.tag} has no element {path!r}" if not hits
                     else f"{gid}: {sdef.tag} element {path!r} is ambiguous; use a position like '2.1'")
