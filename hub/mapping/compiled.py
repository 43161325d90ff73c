"""The fast path for EDIFACT: a compiled spec run over one message in one pass.

`evaluate.evaluate` with an `EdifactSource` over a `message_tree` is the reference: it places every
segment with `StructureWalk`, wraps each in a `SegView`, and then each rule looks its segments up and
splits them again and again. On a 24,000-container bayplan that is millions of Python steps.

Here, once per spec and message table:

* the segment table is compiled into lookup tables: for each group and each position in it, the
  next item a tag can go to (the walk's step 2 without its loop over the items);
* the rules are compiled into closures with their positions parsed, their conditions as tuples and
  their targets split.

Then, per message, one walk over the tags builds the group instances directly (no placement tuples,
no path look-ups), keeping only the segments of tags some rule reads; each such segment is split once,
when a rule first reads it. The rules then run in the reference's order (rule by rule, instance by
instance, segment by segment), so "the first value found wins" and list order are exactly the
reference's; `tests/mapping` checks the two agree.

No I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from hub.edifact.directory import GroupRef, SegmentRef
from hub.edifact.tokenizer import Scan
from hub.mapping.evaluate import WEIGHT_UNITS, Mapped, finish_value, number_times
from hub.mapping.spec import MappingSpec, Rule, ValueSpec

T = TypeVar("T")

# --- the message: group instances holding segment indices ---------------------------------------------


class Node:
    """One group instance (or the message): its own segments (indices in the scan, in order) and its
    groups."""

    __slots__ = ("own", "groups")

    def __init__(self) -> None:
        self.own: list[int] = []
        self.groups: dict[int, list[Node]] = {}


class _Table:
    """A group of the segment table, compiled for the walk."""

    __slots__ = ("group", "number", "tags", "maxes", "subs", "after")

    def __init__(self, group: GroupRef, tables: dict[int, _Table]) -> None:
        self.group = group
        self.number = group.number
        n = len(group.items)
        self.tags: list[str] = []
        self.maxes: list[int] = []
        self.subs: list[_Table | None] = []
        for it in group.items:
            if isinstance(it, SegmentRef):
                self.tags.append(it.tag)
                self.subs.append(None)
            else:
                self.tags.append(it.trigger)
                self.subs.append(_table(it, tables))
            self.maxes.append(it.max)
        # after[idx + 1]: tag -> the first item j > idx that the tag may start (segment or group trigger)
        self.after: list[dict[str, int]] = [{} for _ in range(n + 1)]
        nxt: dict[str, int] = {}
        for j in range(n - 1, -1, -1):
            self.after[j + 1] = dict(nxt)
            nxt[self.tags[j]] = j
        self.after[0] = dict(nxt)


def _table(group: GroupRef, tables: dict[int, _Table]) -> _Table:
    found = tables.get(id(group))
    if found is None or found.group is not group:
        found = tables[id(group)] = _Table(group, tables)
    return found


_TABLES: dict[int, _Table] = {}


def build_tree(sc: Scan, start: int, end: int, table: GroupRef, wanted: frozenset[str] | None) -> Node:
    """The segments start..end (UNH..UNT) of a scan, placed in their group instances as
    `StructureWalk` places them (greedy; a segment that fits nowhere is left out). Only segments whose
    tag is in `wanted` are kept (all when None)."""
    top = _table(table, _TABLES)
    tags = sc.tags
    root = Node()
    # frame: [table, index of current item, repetitions of it, node of this group instance]
    stack: list[list[Any]] = [[top, -1, 0, root]]
    for i in range(start, end + 1):
        tag = tags[i]
        level = len(stack) - 1
        node = None
        while level >= 0:
            frame = stack[level]
            tb, idx, reps = frame[0], frame[1], frame[2]
            if idx >= 0 and tb.tags[idx] == tag and reps < tb.maxes[idx]:
                # the current item repeats: a segment again, or a new instance of the group just left
                del stack[level + 1:]
                frame[2] = reps + 1
                sub = tb.subs[idx]
                if sub is None:
                    node = frame[3]
                else:
                    node = Node()
                    frame[3].groups.setdefault(sub.number, []).append(node)
                    stack.append([sub, 0, 1, node])
                break
            j = tb.after[idx + 1].get(tag)
            if j is not None:
                del stack[level + 1:]
                frame[1] = j
                frame[2] = 1
                sub = tb.subs[j]
                if sub is None:
                    node = frame[3]
                else:
                    node = Node()
                    frame[3].groups.setdefault(sub.number, []).append(node)
                    stack.append([sub, 0, 1, node])
                break
            level -= 1
        if node is None or (wanted is not None and tag not in wanted):
            continue  # misplaced (reported by validation, not mapped), or read by no rule
        node.own.append(i)
    return root


# --- segment values -------------------------------------------------------------------------------------


class Segments:
    """The scan's segments, each split into elements (first repetition, components unescaped) once.

    `cache[i]` holds segment i split, or None until it is first read: hot loops read it directly and
    call `elements` only on a miss (a list indexed by segment number, cheaper than a dict).

    `matches`: per block of rules (`_block_step`), what it made of each distinct segment text (see
    there); kept for one run of a spec, like the rest."""

    __slots__ = ("sc", "segments", "tags", "cache", "elem", "comp", "rep", "rel", "pair", "matches")

    def __init__(self, sc: Scan) -> None:
        self.sc = sc
        self.segments = sc.segments
        self.tags = sc.tags
        self.cache: list[list[list[str]] | None] = [None] * len(sc.segments)
        self.matches: dict[object, dict[str, _Matches]] = {}
        d = sc.delimiters
        self.elem, self.comp, self.rep, self.rel = d.element, d.component, d.repetition, d.release
        self.pair = sc.neutral.release_pair

    def elements(self, i: int) -> list[list[str]]:
        els = self.cache[i]
        if els is not None:
            return els
        els = self.cache[i] = self.split(i)
        return els

    def split(self, i: int) -> list[list[str]]:
        """Segment i split, not kept: for a block, which reads each of its segments once."""
        s = self.segments[i]
        parts = s.split(self.elem)
        del parts[0]
        rep, comp = self.rep, self.comp
        if rep and rep in s:
            parts = [p.split(rep, 1)[0] if rep in p else p for p in parts]
        els = [p.split(comp) for p in parts]
        rel = self.rel
        if rel is not None and (rel in s or self.pair in s):
            unescape = self.sc.unescape
            els = [[unescape(v) for v in el] for el in els]
        return els


Pos = tuple[int, int]


@functools.cache
def _pos(pos: str) -> Pos:
    el, _, comp = pos.partition(".")
    return int(el) - 1, int(comp or 1) - 1


def _get(els: list[list[str]], p: Pos) -> str | None:
    e, c = p
    if e < len(els):
        el = els[e]
        if c < len(el):
            return el[c] or None
    return None


# --- compiled rules -------------------------------------------------------------------------------------

Record = dict[str, Any]
ValueFn = Callable[[list[list[str]], list[str]], Any]


def _converter(vs: ValueSpec) -> Callable[[str], str] | None:
    """The conversions that need nothing but the value, as plain functions (`convert` does the rest)."""
    import hub.dossier.keys as keys

    kind = vs.convert
    if kind == "upper":
        return str.upper
    if kind == "locode":
        return lambda raw: raw.replace(" ", "").upper()
    if kind == "container":
        return keys.container_value
    if kind == "bl":
        return keys.normalise_bl
    if kind == "voyage":
        return keys.normalise_voyage
    if kind == "imo":
        return lambda raw: keys.normalise_imo(raw) or raw
    return None


def _value_fn(vs: ValueSpec, where: str) -> ValueFn:
    """The reference's `_value` for one value spec, positions parsed once."""
    const, default, codes, kind = vs.const, vs.default, vs.codes, vs.convert
    join = tuple(_pos(p) for p in vs.join)
    src = _pos(vs.source) if (vs.source and const is None and not join) else None
    simple = kind == "text"
    plain = _converter(vs)

    if src is not None and codes is None and default is None and (simple or plain is not None):
        # The usual value: one position, as it is or through a plain conversion.
        e0, c0 = src
        if simple:
            def text_at(els: list[list[str]], notes: list[str]) -> Any:
                if e0 < len(els):
                    el = els[e0]
                    if c0 < len(el):
                        return el[c0] or None
                return None
            return text_at
        convert_plain = plain
        assert convert_plain is not None

        def converted_at(els: list[list[str]], notes: list[str]) -> Any:
            if e0 < len(els):
                el = els[e0]
                if c0 < len(el):
                    raw = el[c0]
                    return convert_plain(raw) if raw else None
            return None
        return converted_at

    def value(els: list[list[str]], notes: list[str]) -> Any:
        raw: str | None
        if const is not None:
            raw = const
        elif join:
            parts = [_get(els, p) for p in join]
            raw = " ".join(p for p in parts if p) or None
        elif src is not None:
            e, c = src
            raw = None
            if e < len(els):
                el = els[e]
                if c < len(el):
                    raw = el[c] or None
        else:
            raw = None
        return finish_value(raw, vs, notes, where, lambda pos: _get(els, _pos(pos)), plain)

    if src is not None and codes is not None and default is None and simple:
        # A coded value at one position (EQD full/empty, function codes), the codes looked up directly.
        e0, c0 = src
        other = codes.get("*")

        def coded_at(els: list[list[str]], notes: list[str]) -> Any:
            if e0 < len(els):
                el = els[e0]
                if c0 < len(el):
                    raw = el[c0]
                    if raw:
                        found = codes.get(raw)
                        return found if found is not None else other if other is not None else raw
            return None
        return coded_at

    if src is not None and codes is None and default is None and kind == "weight":
        # A weight (MEA) in kilograms. What does not convert (no number, an unknown unit) goes through
        # `convert` instead, which says what is wrong in the note.
        e0, c0 = src
        unit_at = _pos(vs.unit_from) if vs.unit_from else None

        def weight_at(els: list[list[str]], notes: list[str]) -> Any:
            raw = None
            if e0 < len(els):
                el = els[e0]
                if c0 < len(el):
                    raw = el[c0]
            if not raw:
                return None
            unit = _get(els, unit_at) if unit_at is not None else "KGM"
            factor = WEIGHT_UNITS.get(unit or "KGM")
            if factor is not None:
                number = number_times(raw, factor, False)
                if number is not None:
                    return number
            return value(els, notes)
        return weight_at

    return value


def _writer(target: str) -> Callable[[Record, Any], None]:
    """`_set_first` / `_append` of the reference for one target path."""
    *parents, last = target.split(".")
    append = last.endswith("[]")
    name = last[:-2] if append else last

    if not parents:
        if append:
            def write_append(record: Record, value: Any) -> None:
                lst = record.get(name)
                if lst is None:
                    record[name] = [value]
                else:
                    lst.append(value)
            return write_append

        def write_first(record: Record, value: Any) -> None:
            if name not in record:
                record[name] = value
        return write_first

    steps = [(p[:-2], True) if p.endswith("[]") else (p, False) for p in parents]

    def write(record: Record, value: Any) -> None:
        node = record
        for p, is_list in steps:
            if is_list:
                lst = node.setdefault(p, [])
                if not lst:
                    lst.append({})
                node = lst[-1]
            else:
                node = node.setdefault(p, {})
        if append:
            node.setdefault(name, []).append(value)
        else:
            node.setdefault(name, value)
    return write


Step = Callable[[Node, Record, Segments, list[str]], None]


def _group_path(path: str) -> list[int]:
    return [int(p[2:]) for p in path.split("/")]


def _instances(node: Node, numbers: list[int]) -> list[Node]:
    if len(numbers) == 1:
        return node.groups.get(numbers[0], [])
    found = [node]
    for n in numbers:
        found = [child for nd in found for child in nd.groups.get(n, ())]
    return found


def _each_step(rule: Rule) -> Step:
    assert rule.each is not None
    numbers = _group_path(rule.each)
    steps = _steps(rule.rules)
    into = _writer(rule.into) if rule.into is not None else None

    only = numbers[0] if len(numbers) == 1 else None
    single = steps[0] if len(steps) == 1 else None

    def run(ctx: Node, record: Record, segs: Segments, notes: list[str]) -> None:
        # A group of this instance (the usual `each`) is looked up directly: no list made when the
        # instance has none (most containers have no dangerous goods).
        insts = ctx.groups.get(only, ()) if only is not None else _instances(ctx, numbers)
        if not insts:
            return
        for inst in insts:
            if into is None:
                if single is not None:
                    single(inst, record, segs, notes)
                    continue
                for step in steps:
                    step(inst, record, segs, notes)
                continue
            sub: Record = {}
            for step in steps:
                step(inst, sub, segs, notes)
            if sub:
                into(record, sub)

    return run


# What a block of rules makes of one segment: for each rule it passes (in rule order), the rule's number,
# the (write, value) pairs of the values it found and the notes their conversions gave.
_Matches = tuple[tuple[int, tuple[tuple[Callable[[Record, Any], None], Any], ...], tuple[str, ...]], ...]

# Conversions whose results are strings, numbers or flags: one result may be shared by several records.
# (A stamp is a dict, which a later stage could change in place: made afresh for every segment.)
_SHAREABLE = frozenset({"text", "upper", "number", "int", "weight", "flag", "container", "bl", "locode",
                        "voyage", "imo"})


def _block_step(rules: list[Rule], place: str) -> Step:
    """Consecutive `set` rules on segments at one place, the instance itself ("") or the instances of one
    group path below it (such as "SG5", a consignment's references), run together: each segment
    of a tag they read is split once and offered to the rules of its tag (found through their first
    condition when they all test the same position), and the matches are applied in the reference's
    order (rule by rule, then segment by segment: the instances of a path come in segment order).

    What the rules make of a segment (which of them it passes, the values they read, the notes) depends
    on its text alone, and a bayplan repeats most of its texts (`LOC+11+ESALG:139:6`, `NAD+CA+...`) in
    thousands of instances: it is worked out once per distinct text in a run and then looked up. Not for
    the tags whose rules make stamps (dicts, not to be shared between records)."""
    numbers = _group_path(place) if place else []
    sets = [tuple((_writer(t), _value_fn(vs, r.where)) for t, vs in r.sets) for r in rules]
    by_tag: dict[str, list[int]] = {}
    for k, r in enumerate(rules):
        assert r.at is not None
        by_tag.setdefault(r.at.rpartition("/")[2], []).append(k)
    conds = [tuple((_pos(pos), values, negated) for pos, values, negated in r.conditions) for r in rules]
    # per tag: (dispatch position, value -> rule numbers) or None (try every rule of the tag)
    plans: list[tuple[str, list[int], Pos | None, dict[str, list[int]]]] = []
    for tag, ks in by_tag.items():
        firsts = [conds[k][0] if conds[k] else None for k in ks]
        pos0 = firsts[0][0] if firsts[0] is not None else None
        if pos0 is not None and all(f is not None and not f[2] and f[0] == pos0 for f in firsts):
            table: dict[str, list[int]] = {}
            for k in ks:
                for v in conds[k][0][1]:
                    table.setdefault(v, []).append(k)
            plans.append((tag, ks, pos0, table))
        else:
            plans.append((tag, ks, None, {}))

    # After dispatch on its first condition, a rule still has to pass the others.
    rest = [c[1:] for c in conds]
    by_plan: dict[str, tuple[list[int], Pos, dict[str, list[int]], bool]] = {
        tag: (ks, pos0 or (0, 0), table, pos0 is not None) for tag, ks, pos0, table in plans}
    shareable = {tag: all(vs.convert in _SHAREABLE for k in ks for _, vs in rules[k].sets)
                 for tag, ks in by_tag.items()}
    none: _Matches = ()

    def matches(i: int, segs: Segments) -> _Matches:
        """What the rules make of segment i (of a tag some rule reads)."""
        ks, pos0, table, dispatch = by_plan[segs.tags[i]]
        els = segs.cache[i]
        if els is None:
            els = segs.split(i)
        if dispatch:
            e, c = pos0
            got = ""
            if e < len(els):
                el = els[e]
                if c < len(el):
                    got = el[c]
            candidates = table.get(got)
            if candidates is None:
                return none
            checks = rest
        else:
            candidates = ks
            checks = conds
        out = []
        for k in candidates:
            ok = True
            for (e, c), values, negated in checks[k]:
                g = None
                if e < len(els):
                    el = els[e]
                    if c < len(el):
                        g = el[c]
                if ((g or "") in values) == negated:
                    ok = False
                    break
            if ok:
                notes: list[str] = []
                pairs = []
                for write, value in sets[k]:
                    v = value(els, notes)
                    if v is not None:
                        pairs.append((write, v))
                out.append((k, tuple(pairs), tuple(notes)))
        return tuple(out)

    token = object()  # this block's entry in `Segments.matches`

    def run(ctx: Node, record: Record, segs: Segments, notes: list[str]) -> None:
        if numbers:
            insts = _instances(ctx, numbers)
            if not insts:
                return
            own = insts[0].own if len(insts) == 1 else [i for nd in insts for i in nd.own]
        else:
            own = ctx.own
        if not own:
            return
        known = segs.matches.get(token)
        if known is None:
            known = segs.matches[token] = {}
        tags, texts = segs.tags, segs.segments
        hits: list[tuple[int, int, tuple[tuple[Callable[[Record, Any], None], Any], ...], tuple[str, ...]]] = []
        # One walk over the instance's segments, in order: the hits of a rule come in segment order,
        # as the reference's walk over the segments of each tag gives them.
        for i in own:
            text = texts[i]
            found = known.get(text)
            if found is None:
                tag = tags[i]
                if tag not in by_plan:
                    found = none
                else:
                    found = matches(i, segs)
                    if not shareable[tag]:
                        for k, pairs, said in found:
                            hits.append((k, i, pairs, said))
                        continue
                known[text] = found
            for k, pairs, said in found:
                hits.append((k, i, pairs, said))
        if not hits:
            return
        if len(hits) > 1:
            hits.sort()  # (rule, segment) pairs are distinct: the values are never compared
        for _, _, pairs, said in hits:
            for write, v in pairs:
                write(record, v)
            if said:
                notes.extend(said)

    return run


def _steps(rules: tuple[Rule, ...]) -> list[Step]:
    """The rules as steps: consecutive `set` rules at the same group path (none: the instance itself)
    as one block, an `each` as its own step."""
    out: list[Step] = []
    block: list[Rule] = []
    place = ""  # the group path of the rules in `block`
    for r in rules:
        if r.each is None and r.at is not None:
            at_place = r.at.rpartition("/")[0]
            if block and at_place != place:
                out.append(_block_step(block, place))
                block = []
            block.append(r)
            place = at_place
            continue
        if block:
            out.append(_block_step(block, place))
            block = []
        out.append(_each_step(r))
    if block:
        out.append(_block_step(block, place))
    return out


def _tags(rules: tuple[Rule, ...], out: set[str]) -> set[str]:
    for r in rules:
        if r.each is not None:
            _tags(r.rules, out)
        elif r.at is not None:
            out.add(r.at.split("/")[-1])
    return out


class CompiledSpec:
    """A spec's rules as closures, and the segment tags they read."""

    def __init__(self, spec: MappingSpec) -> None:
        self.spec = spec
        self.steps = _steps(spec.rules)
        self.tags = frozenset(_tags(spec.rules, set()))

    def run(self, sc: Scan, start: int, end: int, table: GroupRef) -> Mapped:
        root = build_tree(sc, start, end, table, self.tags)
        segs = Segments(sc)
        out: Record = {}
        notes: list[str] = []
        for step in self.steps:
            step(root, out, segs, notes)
        return Mapped(out, notes)


class PerSpec(Generic[T]):
    """The compiled form of each spec, made on first use and kept while the spec object lives in the
    registry (a reload makes new spec objects; the old forms are dropped past 256)."""

    def __init__(self, make: Callable[[MappingSpec], T]) -> None:
        self._make = make
        self._found: dict[int, tuple[MappingSpec, T]] = {}

    def __call__(self, spec: MappingSpec) -> T:
        hit = self._found.get(id(spec))
        if hit is None or hit[0] is not spec:
            if len(self._found) > 256:
                self._found.clear()
            hit = self._found[id(spec)] = (spec, self._make(spec))
        return hit[1]


compiled = PerSpec(CompiledSpec)


def evaluate_edifact(spec: MappingSpec, sc: Scan, start: int, end: int, table: GroupRef) -> Mapped:
    """What `evaluate(spec, EdifactSource(), message_tree(sc, start, end, ...))` gives, faster."""
    return compiled(spec).run(sc, start, end, table)
