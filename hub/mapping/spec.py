"""Mapping specs: the declarative files (`mappings/*.yaml`) that say which segment, qualifier and
element (or which XML element) feeds which field of the mapped message. Format: `docs/mappings.md`.

A spec is compiled once against its directory (or XSD): every segment-group path, segment tag,
element and component position must exist there, every target must be in `hub.mapping.targets`, and
every conversion must be known. A spec that fails any check is refused with all its problems listed;
the registry keeps the last working version of that spec in service.

No I/O: specs arrive as parsed YAML; directories come from the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hub.edifact.directory import CompositeDef, Directory, GroupRef, SegmentRef
from hub.mapping import targets

CONVERSIONS = frozenset({"text", "upper", "number", "int", "weight", "stamp", "container", "bl", "locode",
                         "voyage", "imo", "flag"})
_POSITION = re.compile(r"^([1-9][0-9]?)(?:\.([1-9][0-9]?))?$")


class MappingError(ValueError):
    """A spec that cannot be used; `problems` lists every reason, each with the rule that has it."""

    def __init__(self, name: str, problems: list[str]) -> None:
        super().__init__(f"mapping {name}: " + "; ".join(problems))
        self.name = name
        self.problems = problems


@dataclass(frozen=True)
class ValueSpec:
    source: str | None  # "2.1" (EDIFACT) or an XPath (XML); None for a constant
    convert: str = "text"
    codes: dict[str, str] | None = None
    default: str | None = None
    const: str | None = None
    format: str | None = None  # EDIFACT 2379 date format, when fixed
    format_from: str | None = None  # position holding the 2379 format
    unit_from: str | None = None  # position holding the measure unit (for weights)
    join: tuple[str, ...] = ()  # several positions joined with a space (free text lines)


@dataclass(frozen=True)
class Rule:
    where: str  # rule location in the spec, for messages ("rules[3]")
    at: str | None = None  # segment path / XPath of the items a `set` rule reads
    each: str | None = None  # group path / XPath of the instances an `each` rule iterates
    into: str | None = None  # record list target of an `each` rule
    conditions: tuple[tuple[str, tuple[str, ...], bool], ...] = ()  # (position, values, negated)
    sets: tuple[tuple[str, ValueSpec], ...] = ()
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class MappingSpec:
    name: str
    format: str  # "edifact" | "xml"
    message: str  # EDIFACT message type, or XML root local name
    directories: tuple[str, ...] = ()
    guides: tuple[str, ...] = ()
    namespace: str | None = None
    namespaces: dict[str, str] = field(default_factory=dict)
    description: str = ""
    when: str | None = None  # XML: an XPath that must be true of the root for this spec to apply
    rules: tuple[Rule, ...] = ()

    def matches(self, fmt: str, message: str | None, directory: str | None, guide: str | None,
                namespace: str | None = None) -> bool:
        if fmt != self.format or message != self.message:
            return False
        if fmt == "xml":
            return self.namespace is None or self.namespace == namespace
        if self.directories and directory not in self.directories:
            return False
        return not self.guides or guide in self.guides


def compile_spec(data: dict[str, Any], directories: dict[str, Directory] | None = None,
                 xml_names: frozenset[str] | None = None) -> MappingSpec:
    """Check and compile a parsed spec. `directories` are the EDIFACT directories it names (each
    must be given); `xml_names` the element and attribute names its XSD declares, if known."""
    name = str(data.get("mapping", "?"))
    problems: list[str] = []
    fmt = data.get("format", "edifact")
    if fmt not in ("edifact", "xml"):
        problems.append(f"format must be 'edifact' or 'xml', not {fmt!r}")
    message = data.get("message")
    if not message:
        problems.append("'message' (the EDIFACT message type or XML root element) is missing")
    dirs = tuple(str(d) for d in data.get("directories") or ())
    if fmt == "edifact" and not dirs:
        problems.append("'directories' lists no directory")
    tables: list[tuple[str, Directory, GroupRef]] = []
    if fmt == "edifact":
        for d in dirs:
            directory = (directories or {}).get(d)
            if directory is None:
                problems.append(f"directory {d} is not available")
            elif message not in directory.messages:
                problems.append(f"message {message} is not in directory {d}")
            else:
                tables.append((d, directory, directory.messages[str(message)]))
    ctx = _Compiler(str(fmt), tables, xml_names, problems)
    if data.get("when") is not None:
        if fmt != "xml":
            problems.append("'when' is for XML specs (an XPath on the root element)")
        else:
            ctx._check_xpath(str(data["when"]), "when")
    rules = ctx.rules(data.get("rules") or [], "rules", targets.TARGETS, [t for _, _, t in tables])
    if not rules and not problems:
        problems.append("the spec has no rules")
    if problems:
        raise MappingError(name, problems)
    return MappingSpec(
        name=name, format=str(fmt), message=str(message), directories=dirs,
        guides=tuple(str(g) for g in data.get("guides") or ()),
        namespace=data.get("namespace"), namespaces=dict(data.get("namespaces") or {}),
        description=str(data.get("description", "")),
        when=str(data["when"]) if data.get("when") is not None else None, rules=tuple(rules))


class _Compiler:
    def __init__(self, fmt: str, tables: list[tuple[str, Directory, GroupRef]],
                 xml_names: frozenset[str] | None, problems: list[str]) -> None:
        self.fmt = fmt
        self.tables = tables
        self.xml_names = xml_names
        self.problems = problems

    def rules(self, raw: list[Any], where: str, scope: dict[str, Any],
              contexts: list[GroupRef]) -> list[Rule]:
        out = []
        if not isinstance(raw, list):
            self.problems.append(f"{where} must be a list")
            return out
        for k, r in enumerate(raw):
            loc = f"{where}[{k}]"
            if not isinstance(r, dict):
                self.problems.append(f"{loc} must be a mapping")
                continue
            unknown = set(r) - {"at", "each", "into", "where", "set", "rules", "note"}
            if unknown:
                self.problems.append(f"{loc}: unknown keys {sorted(unknown)}")
            if "each" in r:
                out.append(self.each_rule(r, loc, scope, contexts))
            elif "at" in r:
                out.append(self.set_rule(r, loc, scope, contexts))
            else:
                self.problems.append(f"{loc}: a rule needs 'at' (read segments) or 'each' (iterate groups)")
        return out

    # --- EDIFACT paths ------------------------------------------------------------------------

    def _resolve(self, path: str, loc: str, contexts: list[GroupRef],
                 want_segment: bool) -> list[tuple[GroupRef, SegmentRef | None]]:
        """For each directory's context group: the group the path ends in and its segment."""
        out = []
        parts = path.split("/")
        for (dname, directory, _), ctx in zip(self.tables, contexts, strict=True):
            group = ctx
            ok = True
            seg: SegmentRef | None = None
            for n, part in enumerate(parts):
                last = n == len(parts) - 1
                m = re.fullmatch(r"SG([0-9]+)", part)
                if m and not (last and want_segment):
                    found = next((it for it in group.items if isinstance(it, GroupRef)
                                  and it.number == int(m.group(1))), None)
                    if found is None:
                        self.problems.append(f"{loc}: {path!r}: segment group {part} is not inside "
                                             f"{_group_name(group)} in {dname}")
                        ok = False
                        break
                    group = found
                elif last and want_segment:
                    seg = next((it for it in group.items if isinstance(it, SegmentRef) and it.tag == part),
                               None)
                    if seg is None:
                        self.problems.append(f"{loc}: {path!r}: segment {part} is not in "
                                             f"{_group_name(group)} of {dname}")
                        ok = False
                    elif part not in directory.segments:
                        self.problems.append(f"{loc}: segment {part} is not defined in {dname}")
                        ok = False
                else:
                    self.problems.append(f"{loc}: {path!r}: {part!r} should be a segment group like SG2")
                    ok = False
                    break
            out.append((group, seg) if ok else (ctx, None))
        return out

    def _check_position(self, pos: str, tag: str, loc: str) -> None:
        m = _POSITION.match(pos)
        if not m:
            self.problems.append(f"{loc}: position {pos!r} must look like '2' or '2.1'")
            return
        el, comp = int(m.group(1)), int(m.group(2) or 1)
        for dname, directory, _ in self.tables:
            sdef = directory.segments.get(tag)
            if sdef is None:
                continue
            if el > len(sdef.elements):
                self.problems.append(f"{loc}: {tag} has {len(sdef.elements)} elements in {dname}, "
                                     f"not {el}")
                continue
            defn = sdef.elements[el - 1][0]
            n = len(defn.components) if isinstance(defn, CompositeDef) else 1
            if comp > n:
                self.problems.append(f"{loc}: {tag} element {el} ({defn.id}) has {n} component(s) in "
                                     f"{dname}, not {comp}")

    def _check_xpath(self, expr: str, loc: str) -> None:
        from lxml import etree

        try:
            etree.XPath(expr)
        except etree.XPathSyntaxError as e:
            self.problems.append(f"{loc}: XPath {expr!r} is invalid: {e}")
            return
        if self.xml_names is not None:
            for nm in re.findall(r"(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)(?!\s*\()", expr):
                if nm not in self.xml_names and nm not in ("text", "and", "or", "not", "local-name"):
                    self.problems.append(f"{loc}: XPath {expr!r} names {nm!r}, which the schema does not "
                                         "declare")

    # --- rules ---------------------------------------------------------------------------------

    def each_rule(self, r: dict[str, Any], loc: str, scope: dict[str, Any],
                  contexts: list[GroupRef]) -> Rule:
        path = str(r["each"])
        into = r.get("into")
        sub_scope = scope
        if into is not None:
            t = targets.lookup(str(into), scope)
            if not str(into).endswith("[]") or not isinstance(t, dict):
                self.problems.append(f"{loc}: 'into' must name a record list such as stowage[], not {into!r}")
            else:
                sub_scope = t
        sub_contexts = contexts
        if self.fmt == "edifact":
            sub_contexts = [g for g, _ in self._resolve(path, loc, contexts, want_segment=False)]
        else:
            self._check_xpath(path, loc)
        if "set" in r or "where" in r:
            self.problems.append(f"{loc}: an 'each' rule takes 'rules', not 'set' or 'where'")
        subs = self.rules(r.get("rules") or [], f"{loc}.rules", sub_scope, sub_contexts)
        return Rule(where=loc, each=path, into=str(into) if into else None, rules=tuple(subs))

    def set_rule(self, r: dict[str, Any], loc: str, scope: dict[str, Any],
                 contexts: list[GroupRef]) -> Rule:
        path = str(r["at"])
        tag = path.split("/")[-1]
        if self.fmt == "edifact":
            self._resolve(path, loc, contexts, want_segment=True)
        else:
            self._check_xpath(path, loc)
        conditions = []
        for pos, want in (r.get("where") or {}).items():
            pos = str(pos)
            if self.fmt == "edifact":
                self._check_position(pos, tag, loc)
            else:
                self._check_xpath(pos, loc)
            values = want if isinstance(want, list) else [want]
            negated = len(values) == 1 and isinstance(values[0], str) and values[0].startswith("!")
            vals = tuple(str(v).lstrip("!") if negated else str(v) for v in values)
            conditions.append((pos, vals, negated))
        sets = []
        raw_sets = r.get("set")
        if not isinstance(raw_sets, dict) or not raw_sets:
            self.problems.append(f"{loc}: 'set' must map target fields to values")
            raw_sets = {}
        for target, spec in raw_sets.items():
            t = targets.lookup(str(target), scope)
            if t is None or isinstance(t, dict):
                self.problems.append(f"{loc}: {target!r} is not a field of the mapped message here "
                                     "(see hub/mapping/targets.py)")
                continue
            vs = self.value_spec(spec, loc, tag)
            if vs is not None:
                sets.append((str(target), vs))
        return Rule(where=loc, at=path, conditions=tuple(conditions), sets=tuple(sets))

    def value_spec(self, spec: Any, loc: str, tag: str) -> ValueSpec | None:
        if isinstance(spec, (int, float)) or isinstance(spec, str):
            spec = {"from": str(spec)}
        if not isinstance(spec, dict):
            self.problems.append(f"{loc}: a value must be a position, an XPath or a mapping")
            return None
        unknown = set(spec) - {"from", "as", "codes", "default", "const", "format", "format_from",
                               "unit_from", "join"}
        if unknown:
            self.problems.append(f"{loc}: unknown value keys {sorted(unknown)}")
        convert = str(spec.get("as", "text"))
        if convert not in CONVERSIONS:
            self.problems.append(f"{loc}: conversion {convert!r} is not one of {sorted(CONVERSIONS)}")
        positions = [str(spec[k]) for k in ("from", "format_from", "unit_from") if spec.get(k) is not None]
        join = tuple(str(p) for p in spec.get("join") or ())
        for pos in positions + list(join):
            if self.fmt == "edifact":
                self._check_position(pos, tag, loc)
            else:
                self._check_xpath(pos, loc)
        if spec.get("from") is None and spec.get("const") is None and not join:
            self.problems.append(f"{loc}: a value needs 'from', 'join' or 'const'")
        codes = spec.get("codes")
        if codes is not None and not isinstance(codes, dict):
            self.problems.append(f"{loc}: 'codes' must map received codes to values")
            codes = None
        return ValueSpec(
            source=str(spec["from"]) if spec.get("from") is not None else None, convert=convert,
            codes={str(k): str(v) for k, v in codes.items()} if codes else None,
            default=str(spec["default"]) if spec.get("default") is not None else None,
            const=str(spec["const"]) if spec.get("const") is not None else None,
            format=str(spec["format"]) if spec.get("format") is not None else None,
            format_from=str(spec["format_from"]) if spec.get("format_from") is not None else None,
            unit_from=str(spec["unit_from"]) if spec.get("unit_from") is not None else None, join=join)


def _group_name(g: GroupRef) -> str:
    return "the message" if g.number == 0 else f"segment group {g.number}"
