"""Compiled UN/EDIFACT directories, and the checks compiled from them.

A directory file (see `schemas/edifact/README.md`) holds data elements, composites, segments, code lists
and message segment tables. From it this module compiles, once per directory, guide and delimiter set:

- for each segment tag, one regular expression that fully matches every *valid* instance of the
  segment: element counts, mandatory elements, formats and lengths, code values (as a prefix tree,
  with the UN list applied only where the composite's code list agency (3055) is absent or 6), and the
  implementation guide's narrowing. A segment that matches is valid; one that does not goes through
  `SegmentCheck.issues`, the precise walk that names each problem. The regex is a filter, the walk is
  the authority: a match must never hide an issue the walk would find (a property test holds them to
  that).
- for each message, one regular expression over the message's tags (three characters each) with
  possessive repetitions, so a valid message is recognised in one C call; `StructureWalk` is the precise,
  greedy walk for the others. Both follow the same rule: a segment is placed at the first position in
  the table, from the current one on, where it may occur.

No I/O: directories and guides come in as parsed data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.edifact.guides import ElementRule, Guide
from hub.edifact.tokenizer import Delimiters, Neutral
from hub.report import Code

AGENCY = "3055"
UN_AGENCY = "6"
# Code list qualifiers and agencies name external lists too often for their own UN lists to be applied.
NO_CODE_CHECK = frozenset({"1131"})


@dataclass(frozen=True, slots=True)
class ElementDef:
    id: str
    name: str
    type: str  # "a" | "n" | "an"
    min: int
    max: int
    codes: frozenset[str] | None

    def describe(self) -> str:
        return f"{self.id} {self.name}"

    @property
    def repr(self) -> str:
        return f"{self.type}{self.max}" if self.min == self.max else f"{self.type}..{self.max}"


@dataclass(frozen=True, slots=True)
class CompositeDef:
    id: str
    name: str
    components: tuple[tuple[ElementDef, bool], ...]  # (definition, mandatory)

    def describe(self) -> str:
        return f"{self.id} {self.name}"


@dataclass(frozen=True, slots=True)
class SegmentDef:
    tag: str
    name: str
    elements: tuple[tuple[ElementDef | CompositeDef, bool, int], ...]  # (definition, mandatory, repeats)


@dataclass(frozen=True, slots=True)
class SegmentRef:
    tag: str
    mandatory: bool
    max: int


@dataclass(frozen=True, slots=True)
class GroupRef:
    number: int
    mandatory: bool
    max: int
    items: tuple[SegmentRef | GroupRef, ...]

    @property
    def trigger(self) -> str:
        first = self.items[0]
        return first.tag if isinstance(first, SegmentRef) else first.trigger


@dataclass
class Directory:
    name: str
    elements: dict[str, ElementDef]
    composites: dict[str, CompositeDef]
    segments: dict[str, SegmentDef]
    messages: dict[str, GroupRef]  # each message's table as group 0
    message_names: dict[str, str] = field(default_factory=dict)
    _compiled: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Directory:
        codes: dict[str, list[str]] = data.get("codes", {})
        elements = {
            eid: ElementDef(eid, e.get("name", ""), e["type"], int(e["min"]), int(e["max"]),
                            frozenset(codes[eid]) if eid in codes and eid not in NO_CODE_CHECK else None)
            for eid, e in data["elements"].items()
        }

        def element(eid: str) -> ElementDef:
            # A definition missing from the directory is kept permissive rather than failing the load.
            return elements.get(eid) or ElementDef(eid, "(undefined)", "an", 0, 512, None)

        composites = {
            cid: CompositeDef(cid, c.get("name", ""),
                              tuple((element(e), req == "M") for e, req in c["components"]))
            for cid, c in data["composites"].items()
        }
        segments = {}
        for tag, s in data["segments"].items():
            els: list[tuple[ElementDef | CompositeDef, bool, int]] = []
            for eid, req, rep in s["elements"]:
                d: ElementDef | CompositeDef = composites[eid] if eid in composites else element(eid)
                els.append((d, req == "M", int(rep)))
            segments[tag] = SegmentDef(tag, s.get("name", ""), tuple(els))

        def table(items: list[Any]) -> tuple[SegmentRef | GroupRef, ...]:
            out: list[SegmentRef | GroupRef] = []
            for it in items:
                if isinstance(it, dict):
                    out.append(GroupRef(int(it["group"]), it["req"] == "M", int(it["max"]),
                                        table(it["items"])))
                else:
                    out.append(SegmentRef(it[0], it[1] == "M", int(it[2])))
            return tuple(out)

        messages = {m: GroupRef(0, True, 1, table(d["structure"])) for m, d in data["messages"].items()}
        names = {m: d.get("name", "") for m, d in data["messages"].items()}
        return cls(data["directory"], elements, composites, segments, messages, names)

    def merged_with(self, service: Directory) -> Directory:
        """This directory with the service segments (UNH, UNT, UNS...) it does not define itself."""
        return Directory(
            self.name,
            {**service.elements, **self.elements},
            {**service.composites, **self.composites},
            {**service.segments, **self.segments},
            self.messages,
            self.message_names,
        )

    def segment_check(self, tag: str, delims: Delimiters, neutral: Neutral, guide: Guide | None,
                      decimal_marks: str = ".,") -> SegmentCheck | None:
        key = ("seg", tag, delims, neutral, guide.id if guide else None, decimal_marks)
        hit = self._compiled.get(key)
        if hit is None and tag in self.segments:
            hit = self._compiled[key] = SegmentCheck(self.segments[tag], delims, neutral, guide,
                                                     decimal_marks)
        return hit

    def structure_regex(self, message: str) -> re.Pattern[str]:
        key = ("msg", message)
        hit = self._compiled.get(key)
        if hit is None:
            hit = self._compiled[key] = re.compile(_table_regex(self.messages[message].items))
        return hit


# --- value patterns ---------------------------------------------------------------------------------

def _trie_regex(words: Iterable[str]) -> str:
    """A regex matching exactly the given words, factored by common prefix (C's matcher then tries
    one branch per character instead of one per word)."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            return f"(?:{body})?"
        return body

    words = list(words) if not isinstance(words, list) else words
    if not trie:
        return "(?!)"
    return "(?:" + emit(trie) + ")" if "" not in trie else "(?:" + emit(trie) + ")?"


def governing_agencies(c: CompositeDef) -> dict[int, int]:
    """For each coded component, the index of the code list agency (3055) that governs it: the first
    3055 after it with only code list qualifiers (1131) in between, as in `code:1131:3055`."""
    out: dict[int, int] = {}
    comps = c.components
    for k, (e, _) in enumerate(comps):
        if e.codes is None or e.id in (AGENCY, "1131"):
            continue
        j = k + 1
        while j < len(comps) and comps[j][0].id == "1131":
            j += 1
        if j < len(comps) and comps[j][0].id == AGENCY:
            out[k] = j
    return out


def _simply_governed(c: CompositeDef) -> bool:
    """One agency, governing every coded component: the layout the fast regex handles."""
    agencies = [k for k, (e, _) in enumerate(c.components) if e.id == AGENCY]
    coded = [k for k, (e, _) in enumerate(c.components) if e.codes is not None and e.id != AGENCY]
    gov = governing_agencies(c)
    return len(agencies) == 1 and all(gov.get(k) == agencies[0] for k in coded)


class _Syntax:
    """Regex pieces for one delimiter set."""

    def __init__(self, d: Delimiters, n: Neutral, decimal_marks: str) -> None:
        self.dec = "[" + re.escape(decimal_marks) + "]"
        seps = d.element + d.component + (d.repetition or "") + (d.release or "") + n.release_pair
        self.d = d
        self.n = n
        plain = "[^" + re.escape(seps) + "]"
        plain_alpha = "[^" + re.escape(seps) + "0-9]"
        if d.release:
            esc = (re.escape(d.release) + "[" + re.escape(n.segment + n.element + n.component + n.repetition)
                   + "]|" + re.escape(n.release_pair * 2))
            self.char = f"(?:{plain}|{esc})"
            self.alpha = f"(?:{plain_alpha}|{esc})"
        else:
            self.char = plain
            self.alpha = plain_alpha
        self.elem = re.escape(d.element)
        self.comp = re.escape(d.component)
        self.rep = re.escape(d.repetition) if d.repetition else None
        self.token_end = "(?:" + "|".join(x for x in (self.elem, self.comp, self.rep) if x) + "|$)"

    def value(self, e: ElementDef, rule: ElementRule | None, use_codes: bool,
              exclude_codes: frozenset[str] = frozenset()) -> str:
        """Pattern of one non-empty value of element e."""
        codes = e.codes if use_codes else None
        if rule is not None:
            if rule.no_codes:
                codes = None
            if rule.codes is not None:
                codes = frozenset(rule.codes)
            elif rule.add_codes and codes is not None:
                codes = codes | frozenset(rule.add_codes)
            if rule.pattern is not None and codes is None:
                # A guide pattern narrows the directory's format, it does not replace it. In the fast
                # regex it is confined to the value (see _within_value).
                within = _within_value(rule.pattern, self.d, self.n)
                if within is None:
                    return "(?!)"
                return f"(?={self.format(e)}{self.token_end})(?:{within})"
        if codes is not None:
            return _trie_regex(sorted(codes - exclude_codes))
        return self.format(e)

    def format(self, e: ElementDef) -> str:
        """Pattern of a value of e's format and length."""
        lo, hi = max(e.min, 1), e.max
        if e.type == "n":
            dec = self.dec
            return (f"-?(?=(?:{dec}?[0-9]){{{lo},{hi}}}(?!{dec}?[0-9]))[0-9]+(?:{dec}[0-9]+)?")
        if e.type == "a":
            return f"{self.alpha}{{{lo},{hi}}}"
        return f"{self.char}{{{lo},{hi}}}"


def _within_value(pattern: str, d: Delimiters, n: Neutral) -> str | None:
    """A guide pattern rewritten so that it cannot match past the value it is about: every negated
    class, '.', \\S, \\W and \\D also excludes the separators, the release character and the stand-ins
    for released characters (a value with those goes to the precise walk). None when the pattern names
    a service character itself, which only the precise walk can judge."""
    chars = d.service_chars() + n.release_pair + n.segment + n.element + n.component + n.repetition
    excl = re.escape(chars)
    out: list[str] = []
    k = 0
    in_class = False
    while k < len(pattern):
        ch = pattern[k]
        if ch == "\\" and k + 1 < len(pattern):
            nxt = pattern[k + 1]
            if nxt in chars:
                return None
            if not in_class and nxt in "SWD":
                out.append(f"[^\\{nxt.lower()}{excl}]")
            else:
                out.append(pattern[k:k + 2])
            k += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            elif ch in chars:
                return None
            out.append(ch)
        elif ch == "[":
            in_class = True
            if pattern[k + 1:k + 2] == "^":
                out.append("[^" + excl)
                k += 2
                continue
            out.append(ch)
        elif ch == ".":
            out.append(f"[^{excl}]")
        elif ch in chars and ch not in "+*?.()[]{}|^$":
            return None
        else:
            out.append(ch)
        k += 1
    return "".join(out)


def _opt(p: str) -> str:
    return f"(?:{p})?"


def _chain(parts: Sequence[tuple[str, bool]], sep: str) -> str:
    """Parts joined by sep, where trailing optional parts may be omitted with their separators.

    Each part is (pattern, required); a required part must be reached, so everything before it is
    written out; the rest nests as optional suffixes.
    """
    last_required = max((k for k, (_, req) in enumerate(parts) if req), default=-1)
    out = ""
    for k in range(len(parts) - 1, -1, -1):
        pat = parts[k][0]
        piece = (sep if k else "") + pat
        out = piece + out if k <= last_required else _opt(piece + out)
    return out


class SegmentCheck:
    """Everything compiled for one segment tag: its fast regex and its precise walk."""

    def __init__(self, sdef: SegmentDef, d: Delimiters, n: Neutral, guide: Guide | None,
                 decimal_marks: str = ".,") -> None:
        self.sdef = sdef
        self.d = d
        self.n = n
        self.decimal_marks = decimal_marks
        self.guide = guide
        self.rules: dict[tuple[int, int | None], ElementRule] = (
            guide.element_rules(sdef) if guide is not None else {})
        syn = _Syntax(d, n, decimal_marks)
        parts: list[tuple[str, bool]] = []
        for pos, (defn, mandatory, repeats) in enumerate(sdef.elements, 1):
            mand = mandatory or self._rule_usage(pos, None) == "required"
            if self._rule_usage(pos, None) == "not-used":
                parts.append(("", False))
                continue
            if isinstance(defn, ElementDef):
                one = syn.value(defn, self.rules.get((pos, None)), True)
            else:
                one = self._composite(syn, defn, pos)
            pat = one if mand else _opt(one)
            if repeats > 1 and syn.rep:
                pat = f"{pat}(?:{syn.rep}(?:{one})?){{0,{repeats - 1}}}"
            parts.append((pat, mand))
        regex = re.escape(sdef.tag) + (self._prefixed(parts, syn) if parts else "")
        self.regex = re.compile(regex)

    def _prefixed(self, parts: list[tuple[str, bool]], syn: _Syntax) -> str:
        # The tag is followed by the element separator and the elements; all optional elements at the
        # end may go, with their separators.
        with_sep = [(syn.elem + p, req) for p, req in parts]
        last_required = max((k for k, (_, req) in enumerate(with_sep) if req), default=-1)
        out = ""
        for k in range(len(with_sep) - 1, -1, -1):
            piece = with_sep[k][0]
            out = piece + out if k <= last_required else _opt(piece + out)
        return out

    def _rule_usage(self, pos: int, comp: int | None) -> str | None:
        rule = self.rules.get((pos, comp))
        return rule.usage if rule else None

    def _composite(self, syn: _Syntax, c: CompositeDef, pos: int) -> str:
        agency_at = next((k for k, (e, _) in enumerate(c.components) if e.id == AGENCY), None)
        coded = any(e.codes is not None and e.id != AGENCY for e, _ in c.components)

        def build(mode: str) -> str:
            parts: list[tuple[str, bool]] = []
            for k, (e, mand) in enumerate(c.components):
                cpos = k + 1
                usage = self._rule_usage(pos, cpos)
                mand = mand or usage == "required"
                if usage == "not-used":
                    parts.append(("", False))
                    continue
                rule = self.rules.get((pos, cpos))
                if k == agency_at:
                    if mode == "un":
                        v = re.escape(UN_AGENCY)
                    elif mode == "other":
                        v = syn.value(e, rule, True, exclude_codes=frozenset({UN_AGENCY}))
                        mand = True
                    else:
                        v = syn.value(e, rule, True)
                else:
                    v = syn.value(e, rule, mode != "other")
                parts.append((v if mand else _opt(v), mand))
            return _chain(parts, syn.comp)

        # Not all components empty: a present composite carries at least one value.
        not_empty = f"(?!{syn.comp}*(?:{syn.elem}|{syn.rep or syn.elem}|$))"
        if coded and agency_at is not None and not _simply_governed(c):
            # Several agencies, or codes no agency governs: rare layouts, left to the precise walk.
            return not_empty + "(?!)"
        if agency_at is not None and coded:
            return not_empty + f"(?:{build('un')}|{build('other')})"
        return not_empty + build("plain")

    # --- precise walk ---------------------------------------------------------------------------

    def issues(self, elements: list[list[list[str]]], unescape: Any,
               element_count: int | None = None) -> list[tuple[Code, str, int | None, int | None, str | None]]:
        """Every problem in one segment: (code, sentence, element, component, guide rule id).
        `element_count` is the segment's real number of elements when `elements` was cut short."""
        out: list[tuple[Code, str, int | None, int | None, str | None]] = []
        sdef = self.sdef
        defs = sdef.elements
        count = max(len(elements), element_count or 0)
        if count > len(defs):
            out.append((Code.TOO_MANY_ELEMENTS,
                        f"{sdef.tag} has {count} data elements; the directory defines "
                        f"{len(defs)}. Remove the extra ones.", len(defs) + 1, None, None))
        for pos, (defn, mandatory, repeats) in enumerate(defs, 1):
            reps = elements[pos - 1] if pos - 1 < len(elements) else []
            present = any(v for r in reps for v in r)
            rule = self.rules.get((pos, None))
            if not present:
                if isinstance(defn, CompositeDef) and any(len(r) > len(defn.components) for r in reps):
                    out.extend(self._composite_issues(defn, max(reps, key=len), pos, unescape))
                if mandatory:
                    out.append((Code.MISSING_ELEMENT, f"{sdef.tag} element {pos} ({defn.describe()}) is "
                                "mandatory but empty.", pos, None, None))
                elif rule and rule.usage == "required":
                    out.append((Code.GUIDE_ELEMENT_REQUIRED, f"{sdef.tag} element {pos} "
                                f"({defn.describe()}) is required by guide {self.guide_id}.", pos, None,
                                rule.id))
                continue
            if rule and rule.usage == "not-used":
                out.append((Code.GUIDE_ELEMENT_NOT_USED, f"{sdef.tag} element {pos} ({defn.describe()}) "
                            f"is not used by guide {self.guide_id}; leave it empty.", pos, None, rule.id))
                continue
            if len(reps) > repeats:
                out.append((Code.TOO_MANY_REPETITIONS, f"{sdef.tag} element {pos} ({defn.describe()}) "
                            f"repeats {len(reps)} times; at most {repeats} allowed.", pos, None, None))
            for rep in reps:
                if isinstance(defn, ElementDef):
                    if len(rep) > 1:
                        out.append((Code.COMPONENTS_IN_SIMPLE_ELEMENT, f"{sdef.tag} element {pos} "
                                    f"({defn.describe()}) is a simple data element but has "
                                    f"{len(rep)} components.", pos, 2, None))
                    if rep[0]:
                        out.extend(self._value(defn, rep[0], pos, None, True, unescape))
                else:
                    out.extend(self._composite_issues(defn, rep, pos, unescape))
        return out

    @property
    def guide_id(self) -> str:
        return self.guide.id if self.guide else ""

    def _composite_issues(self, c: CompositeDef, comps: list[str], pos: int,
                          unescape: Any) -> list[tuple[Code, str, int | None, int | None, str | None]]:
        out: list[tuple[Code, str, int | None, int | None, str | None]] = []
        tag = self.sdef.tag
        if len(comps) > len(c.components):
            out.append((Code.TOO_MANY_COMPONENTS, f"{tag} element {pos} ({c.describe()}) has {len(comps)} "
                        f"components; the directory defines {len(c.components)}.", pos,
                        len(c.components) + 1, None))
        if not any(comps):
            return out
        governing = governing_agencies(c)
        for k, (e, mandatory) in enumerate(c.components):
            cpos = k + 1
            v = comps[k] if k < len(comps) else ""
            rule = self.rules.get((pos, cpos))
            if not v:
                if mandatory:
                    out.append((Code.MISSING_COMPONENT, f"{tag} element {pos}.{cpos} ({e.describe()}) is "
                                "mandatory in its composite but empty.", pos, cpos, None))
                elif rule and rule.usage == "required":
                    out.append((Code.GUIDE_ELEMENT_REQUIRED, f"{tag} element {pos}.{cpos} "
                                f"({e.describe()}) is required by guide {self.guide_id}.", pos, cpos,
                                rule.id))
                continue
            if rule and rule.usage == "not-used":
                out.append((Code.GUIDE_ELEMENT_NOT_USED, f"{tag} element {pos}.{cpos} ({e.describe()}) is "
                            f"not used by guide {self.guide_id}; leave it empty.", pos, cpos, rule.id))
                continue
            j = governing.get(k)
            agency = comps[j] if j is not None and j < len(comps) else ""
            out.extend(self._value(e, v, pos, cpos, agency in ("", UN_AGENCY), unescape))
        return out

    def _value(self, e: ElementDef, raw: str, pos: int, cpos: int | None, use_codes: bool,
               unescape: Any) -> list[tuple[Code, str, int | None, int | None, str | None]]:
        tag = self.sdef.tag
        where = f"{tag} element {pos}" + (f".{cpos}" if cpos else "") + f" ({e.describe()})"
        value = unescape(raw)
        rule = self.rules.get((pos, cpos))
        codes = e.codes if use_codes else None
        rule_id = None
        if rule is not None:
            rule_id = rule.id
            if rule.no_codes:
                codes = None
            if rule.codes is not None:
                codes = frozenset(rule.codes)
            elif rule.add_codes and codes is not None:
                codes = codes | frozenset(rule.add_codes)
            if rule.pattern is not None and codes is None:
                found = _format_issues(e, value, where, pos, cpos, self.decimal_marks)
                if not re.fullmatch(rule.pattern, value):
                    note = f" ({rule.note})" if rule.note else ""
                    found.append((Code.GUIDE_INVALID_VALUE, f"{where}: {value!r} does not have the form "
                                  f"guide {self.guide_id} requires{note}.", pos, cpos, rule_id))
                return found
        if codes is not None:
            if value in codes:
                return []
            if rule is not None and (rule.codes is not None or rule.add_codes):
                allowed = ", ".join(sorted(codes)[:12]) + (" ..." if len(codes) > 12 else "")
                return [(Code.GUIDE_INVALID_VALUE, f"{where}: {value!r} is not allowed by guide "
                         f"{self.guide_id}; use one of {allowed}.", pos, cpos, rule_id)]
            return [(Code.INVALID_CODE, f"{where}: {value!r} is not a code of UN code list {e.id}.",
                     pos, cpos, None)]
        return _format_issues(e, value, where, pos, cpos, self.decimal_marks)


_DIGITS = frozenset("0123456789")  # EDIFACT digits; str.isdigit() would take '²' too


def _format_issues(e: ElementDef, value: str, where: str, pos: int, cpos: int | None,
                   decimal_marks: str = ".,") -> list[tuple[Code, str, int | None, int | None, str | None]]:
    out: list[tuple[Code, str, int | None, int | None, str | None]] = []
    length = len(value)
    if e.type == "n":
        digits = sum(ch in _DIGITS for ch in value)
        length = digits
        dec = "[" + re.escape(decimal_marks) + "]"
        if not re.fullmatch(f"-?[0-9]+(?:{dec}[0-9]+)?", value):
            body = value.lstrip("-")
            if body[:1] in (".", ",") and body[1:] and all(ch in _DIGITS for ch in body[1:]):
                out.append((Code.MISSING_DIGIT_BEFORE_DECIMAL, f"{where}: {value!r} needs a digit before "
                            f"the decimal mark (write 0{body}).", pos, cpos, None))
            elif all(ch in _DIGITS or ch in ".,-" for ch in value):
                mark = " or ".join(repr(m) for m in decimal_marks)
                out.append((Code.INVALID_DECIMAL, f"{where}: {value!r} is not a valid decimal number "
                            f"(one optional leading minus, one decimal mark {mark} with digits on both "
                            "sides; the mark is the one the UNA declares).", pos, cpos, None))
            else:
                bad = "".join(sorted({ch for ch in value if not (ch in _DIGITS or ch in ".,-")}))
                out.append((Code.INVALID_CHARACTER_TYPE, f"{where}: {value!r} must be numeric ({e.repr}) "
                            f"but contains {bad!r}.", pos, cpos, None))
                return out
    elif e.type == "a" and any(ch in _DIGITS for ch in value):
        out.append((Code.INVALID_CHARACTER_TYPE, f"{where}: {value!r} must be alphabetic ({e.repr}) but "
                    "contains digits.", pos, cpos, None))
    if length > e.max:
        unit = "digits" if e.type == "n" else "characters"
        out.append((Code.TOO_LONG, f"{where}: {value!r} has {length} {unit}; at most {e.max} allowed "
                    f"({e.repr}).", pos, cpos, None))
    elif length < e.min:
        unit = "digits" if e.type == "n" else "characters"
        out.append((Code.TOO_SHORT, f"{where}: {value!r} has {length} {unit}; at least {e.min} required "
                    f"({e.repr}).", pos, cpos, None))
    return out


# --- structure ---------------------------------------------------------------------------------------

def _table_regex(items: Sequence[SegmentRef | GroupRef]) -> str:
    """Each item possessively repeated. After a group, its trigger tag must not follow: the walk commits
    to a group once its trigger is seen, so a repetition that fails half-way is an error, while the
    regex would quietly back out of it and try the tag further on. (The check also refuses the rare
    valid case of a group at its maximum followed by its trigger elsewhere; the walk then decides.)"""
    parts = []
    for it in items:
        if isinstance(it, SegmentRef):
            first, body = it.tag, re.escape(it.tag)
        else:
            first, body = it.trigger, "(?:" + _table_regex(it.items) + ")"
        lo = 1 if it.mandatory else 0
        rep = body if lo == 1 and it.max == 1 else f"(?:{body}){{{lo},{it.max}}}+"
        parts.append(rep + (f"(?!{re.escape(first)})" if isinstance(it, GroupRef) else ""))
    return "".join(parts)


@dataclass
class StructureIssue:
    index: int  # index of the segment in the message (0 = UNH)
    code: Code
    message: str
    tag: str


class StructureWalk:
    """Places each segment of a message in its segment table and reports what does not fit.

    Greedy, as the regex: a segment goes to the first position, from the current one onwards, that
    may hold it; failing that in the current group, the group ends and the search goes on in the
    enclosing one. A segment that fits nowhere is reported and skipped.
    """

    def __init__(self, table: GroupRef, known_tags: Iterable[str]) -> None:
        self.table = table
        self.known = frozenset(known_tags)

    def walk(self, tags: Sequence[str],
             placements: list[tuple[tuple[int, int], ...] | None] | None = None) -> list[StructureIssue]:
        """The issues of a message's tag sequence. With `placements`, also records for each segment
        the group instances that hold it: ((group number, repetition), ...) from the outermost group
        in, or None for a segment that fits nowhere."""
        issues: list[StructureIssue] = []
        # Each frame: [group, index of current item, repetitions of current item, group repetitions]
        stack: list[list[Any]] = [[self.table, -1, 0, 1]]

        def missing_between(group: GroupRef, start: int, stop: int, at: int) -> None:
            for it in group.items[start:stop]:
                if it.mandatory:
                    what = (f"segment {it.tag}" if isinstance(it, SegmentRef)
                            else f"segment group {it.number} (starting with {it.trigger})")
                    issues.append(StructureIssue(at, Code.MISSING_SEGMENT,
                                                 f"Mandatory {what} is missing before this segment.",
                                                 it.tag if isinstance(it, SegmentRef) else it.trigger))

        def close_frame(frame: list[Any], at: int) -> None:
            group, idx, _, _ = frame
            missing_between(group, idx + 1, len(group.items), at)

        def unwind(level: int, at: int) -> None:
            for inner in reversed(stack[level + 1:]):
                close_frame(inner, at)
            del stack[level + 1:]

        for at, tag in enumerate(tags):
            placed = False
            level = len(stack) - 1
            while level >= 0 and not placed:
                frame = stack[level]
                group, idx, reps, _ = frame
                cur = group.items[idx] if idx >= 0 else None
                # 1. the current item repeats: a segment, or a new repetition of the group just left
                if isinstance(cur, SegmentRef) and cur.tag == tag and reps < cur.max:
                    unwind(level, at)
                    frame[2] = reps + 1
                    placed = True
                elif isinstance(cur, GroupRef) and cur.trigger == tag and reps < cur.max:
                    unwind(level, at)
                    frame[2] = reps + 1
                    stack.append([cur, 0, 1, reps + 1])
                    placed = True
                else:
                    # 2. a later item of this group
                    for j in range(idx + 1, len(group.items)):
                        it = group.items[j]
                        if (isinstance(it, SegmentRef) and it.tag == tag) or (
                                isinstance(it, GroupRef) and it.trigger == tag):
                            unwind(level, at)
                            missing_between(group, idx + 1, j, at)
                            frame[1] = j
                            frame[2] = 1
                            if isinstance(it, GroupRef):
                                stack.append([it, 0, 1, 1])
                            placed = True
                            break
                    if not placed:
                        level -= 1
            if not placed:
                issues.append(self._misplaced(stack, at, tag))
            if placements is not None:
                placements.append(tuple((f[0].number, f[3]) for f in stack[1:]) if placed else None)
        end = len(tags)
        for frame in reversed(stack):
            close_frame(frame, end - 1 if end else 0)
        return issues

    def _misplaced(self, stack: list[list[Any]], at: int, tag: str) -> StructureIssue:
        for group, idx, _, _ in reversed(stack):
            cur = group.items[idx] if idx >= 0 else None
            if isinstance(cur, SegmentRef) and cur.tag == tag:
                return StructureIssue(at, Code.TOO_MANY_SEGMENT_REPETITIONS,
                                      f"Segment {tag} occurs more than {cur.max} times here.", tag)
            if isinstance(cur, GroupRef) and cur.trigger == tag:
                return StructureIssue(at, Code.TOO_MANY_GROUP_REPETITIONS,
                                      f"Segment group {cur.number} (starting with {tag}) occurs more "
                                      f"than {cur.max} times.", tag)
        if tag in self.known:
            return StructureIssue(at, Code.UNEXPECTED_SEGMENT,
                                  f"Segment {tag} is not allowed at this position of the message (check "
                                  "the segment order and groups).", tag)
        return StructureIssue(at, Code.UNKNOWN_SEGMENT,
                              f"Segment tag {tag!r} is not defined in this message's directory.", tag)

