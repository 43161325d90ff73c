"""The C walks (`hub/mapping/_xmlwalk.c`) against libxml2's XPath, the reference's way of reading a path:
the same elements (the very proxies lxml gives), the same first text or attribute value, with Python's
whitespace rule; on hand-picked texts (CDATA, comments, character references, Unicode spaces) and on
random trees and walks. The mapping-level equivalence is in test_compiled_xml.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from lxml import etree

from hub.mapping.compiled_xml import NATIVE, CompiledXmlSpec, compile_path
from hub.mapping.evaluate import XmlSource
from hub.mapping.spec import MappingSpec, Rule

if not NATIVE:
    pytest.skip("the C walks are not built (hub/mapping/_xmlwalk.c, setup.py)", allow_module_level=True)

from hub.mapping import _xmlwalk  # noqa: E402

NS = {"d": "urn:d", "e": "urn:e"}
REF = XmlSource(NS)
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _walk(expr: str) -> Any:
    walk = compile_path(expr, NS)
    assert type(walk).__name__ in ("_NativeWalk", "_NativeUnion"), expr
    return walk


DOC = etree.fromstring("""<r xmlns="urn:d" xmlns:e="urn:e" xmlns:n="urn:n">
  <A u="1" e:u="2"><![CDATA[ cdata ]]> and text<B>b1</B></A>
  <A><!-- a comment first -->after</A>
  <A e:u="only-namespaced">&#160;nbsp&#x2003;em-space\u0085nel</A>
  <A u="  spaced   out  "><B/><B>  </B><B>b3</B></A>
  <n:A>other namespace</n:A>
  <C><A>deep</A></C>
</r>""".encode(), PARSER)


@pytest.mark.parametrize("expr", [
    "d:A", "d:A[2]", "d:A[3]", "d:A[4]/d:B", "d:A[4]/d:B[3]", "d:A/d:B", "d:A/@u", "d:A/@e:u", "d:A[3]/@u",
    "d:A[4]/@u", "d:C/d:A", "../d:A", "..", "d:Z", "d:A/@zz", "d:A[9]",
])
def test_walk_text_is_xpath_text(expr: str) -> None:
    assert _walk(expr).text(DOC) == REF.value(DOC, expr)


@pytest.mark.parametrize("expr", ["d:A", "d:A[2]", "d:A/d:B", "d:A/d:B[2]", "d:C/d:A", "..", "d:Z"])
def test_walk_elements_are_the_xpath_proxies(expr: str) -> None:
    got = _walk(expr).elements(DOC)
    want = DOC.xpath(expr, namespaces=NS)
    assert len(got) == len(want)
    assert all(g is w for g, w in zip(got, want, strict=True))


def test_an_attribute_is_read_from_the_first_element_that_has_it() -> None:
    """While a text is the first element's, even when it has none."""
    doc = etree.fromstring(b"<r xmlns='urn:d'><A/><A u=' 2 '>t</A><A u='3'/></r>")
    assert _walk("d:A/@u").text(doc) == REF.value(doc, "d:A/@u") == "2"
    assert _walk("d:A").text(doc) is REF.value(doc, "d:A") is None


def test_above_the_root_there_is_nothing() -> None:
    assert _walk("..").text(DOC) is None
    assert _walk("..").elements(DOC) == []
    assert _walk("../d:A").elements(DOC[0]) == DOC.findall("d:A", NS)


def test_a_context_that_is_not_an_element() -> None:
    """An XPath fall-back may select attribute values (lxml's smart strings): a walk that goes up steps
    up with their getparent(), as the Python walk does; one that does not selects nothing."""
    value = DOC.xpath("d:A[4]/@u", namespaces=NS)[0]
    assert _walk("../d:B[3]").text(value) == "b3"
    assert _walk("d:B").elements(value) == []
    assert _walk("d:B").text("a plain string") is None


def test_a_plain_string_cannot_go_up() -> None:
    """(Nor can it in the Python walk: neither has a getparent() to call.)"""
    with pytest.raises(AttributeError):
        _walk("..").text("a plain string")


def test_elements_in_no_namespace() -> None:
    doc = etree.fromstring(b"<r><A>plain</A><A xmlns='urn:d'>named</A></r>")
    plain = _xmlwalk.Walk(0, ((None, b"A", 0),), None, None)
    assert [el.text for el in plain.elements(doc)] == ["plain"]
    named = _xmlwalk.Walk(0, ((b"urn:d", b"A", 0),), None, None)
    assert named.text(doc) == "named"


def test_local_name_and_self() -> None:
    local = _xmlwalk.Walk(0, (), None, None, True)
    assert local.text(DOC[4]) == "A"
    assert _xmlwalk.Walk(1, (), None, None, True).text(DOC[4]) == "r"
    assert _xmlwalk.Walk(0, (), None, None).text(DOC[0]) == "cdata and text"


def test_texts_gives_a_row_per_selected_element() -> None:
    at = _walk("d:A")
    rows = _xmlwalk.texts(at, (_walk("d:B"), _walk("@u"), _xmlwalk.Walk(0, (), None, None, True)), DOC)
    assert rows == [("b1", "1", "A"), (None, None, "A"), (None, None, "A"), (None, "spaced out", "A")]
    assert _xmlwalk.texts(_walk("d:Z"), (_walk("d:B"),), DOC) == []
    assert _xmlwalk.texts(at, (), DOC) == [(), (), (), ()]


@pytest.mark.parametrize(("args", "error"), [
    ((-1, (), None, None), ValueError),
    ((0, ((b"urn:d", b"A", -2),), None, None), ValueError),
    ((0, (("urn:d", b"A", 0),), None, None), TypeError),
    ((0, ((b"urn:d", "A", 0),), None, None), TypeError),
    ((0, [(b"urn:d", b"A", 0)], None, None), TypeError),
    ((0, ((b"urn:d", b"A"),), None, None), TypeError),
    ((0, (), None, "u"), TypeError),
    ((0, ((b"urn:d", b"A", 0),), None, None, True), ValueError),
])
def test_bad_walks_are_refused(args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        _xmlwalk.Walk(*args)


def test_bad_calls_are_refused() -> None:
    walk = _walk("d:A")
    with pytest.raises(TypeError):
        walk.text()
    with pytest.raises(TypeError):
        walk.elements()
    with pytest.raises(TypeError):
        _xmlwalk.texts(walk, [walk], DOC)
    with pytest.raises(TypeError):
        _xmlwalk.texts(walk, ("d:A",), DOC)
    with pytest.raises(ValueError):
        _xmlwalk.texts(_walk("d:A/@u"), (), DOC)
    with pytest.raises(TypeError):
        walk.__init__(0, (), None, None)  # once only


# --- random trees, random walks ----------------------------------------------------------------------------

NAMES = st.sampled_from(["d:A", "d:B", "e:A"])
TEXTS = st.one_of(st.none(), st.sampled_from(["", " ", " x ", "a b", "\u00a0y\u2003", "z\n\tq"]),
                  st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=4))


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> Any:
    prefix, local = draw(NAMES).split(":")
    el = etree.Element(f"{{{NS[prefix]}}}{local}", nsmap={"d": "urn:d", "e": "urn:e"})
    el.text = draw(TEXTS)
    for attr in ("u", "{urn:e}u"):
        if draw(st.booleans()):
            el.set(attr, draw(st.text(st.characters(codec="utf-8", categories=("L", "N", "Zs")), max_size=3)))
    if depth < 3:
        for _ in range(draw(st.integers(0, 3))):
            child = draw(trees(depth + 1))
            child.tail = draw(TEXTS)
            if draw(st.booleans()):
                el.append(etree.Comment("c"))
            el.append(child)
    return el


@st.composite
def walks(draw: st.DrawFn) -> str:
    ups = draw(st.integers(0, 2))
    steps = [draw(NAMES) + draw(st.sampled_from(["", "", "[1]", "[2]"])) for _ in range(draw(st.integers(0, 3)))]
    parts = [".."] * ups + steps
    if parts and draw(st.booleans()):
        parts.append(draw(st.sampled_from(["@u", "@e:u"])))
    return "/".join(parts) or "d:A"


@settings(max_examples=400, deadline=None)
@given(trees(), walks(), st.data())
def test_random_walks_read_what_xpath_reads(root: Any, expr: str, data: st.DataObject) -> None:
    root = etree.fromstring(etree.tostring(root), PARSER)  # a parsed tree, as the hub's
    ctx = data.draw(st.sampled_from([el for el in root.iter() if isinstance(el.tag, str)]))
    walk = _walk(expr)
    in_python = compile_path(expr, NS, native=False)  # and the Python walk, on its index
    index = CompiledXmlSpec(MappingSpec("t", "xml", "r", namespaces=NS, rules=(Rule("rules[0]", at=expr, sets=()),)),
                            native=False).index(root)
    want_text = REF.value(ctx, expr)
    assert walk.text(ctx) == want_text
    assert in_python.text(ctx, index) == want_text
    if "@" not in expr:
        want = ctx.xpath(expr, namespaces=NS)
        for got in (walk.elements(ctx), in_python.nodes(ctx, index)):
            assert len(got) == len(want) and all(g is w for g, w in zip(got, want, strict=True))


@st.composite
def unions(draw: st.DrawFn) -> str:
    """`a | b [| c]`, sometimes filtered: `(a | b)[c or d]`, or one walk filtered: `a[c]`."""
    n_branches = draw(st.integers(1, 3))
    n_tests = draw(st.integers(0 if n_branches > 1 else 1, 2))

    def branch() -> str:  # (a filtered union's paths have no [n]: the compiler leaves those to XPath)
        ups = draw(st.integers(0, 1))
        positions = ["", "", "[2]"] if not n_tests else [""]
        steps = [draw(NAMES) + draw(st.sampled_from(positions)) for _ in range(draw(st.sampled_from([1, 1, 2, 3])))]
        return "/".join([".."] * ups + steps)
    branches = [branch() for _ in range(n_branches)]
    tests = [branch() for _ in range(n_tests)]
    union = " | ".join(branches)
    if not tests:
        return union
    return f"({union})[{' or '.join(tests)}]" if len(branches) > 1 else f"{union}[{' or '.join(tests)}]"


@settings(max_examples=400, deadline=None)
@given(trees(), unions(), st.data())
def test_random_unions_select_what_xpath_selects(root: Any, expr: str, data: st.DataObject) -> None:
    """Document order across branches, duplicates (a node two branches find), filters."""
    root = etree.fromstring(etree.tostring(root), PARSER)
    ctx = data.draw(st.sampled_from([el for el in root.iter() if isinstance(el.tag, str)]))
    union = _walk(expr)
    want = ctx.xpath(expr, namespaces=NS)
    got = union.elements(ctx)
    event("several branches find nodes" if sum(bool(ctx.xpath(b, namespaces=NS)) for b in
                                                  expr.strip("(").split(")")[0].split(" | ")) > 1 else "one or none")
    assert len(got) == len(want) and all(g is w for g, w in zip(got, want, strict=True))
    assert union.text(ctx) == REF.value(ctx, expr)
    rows = _xmlwalk.texts(union, (_xmlwalk.Walk(0, (), None, None, True),), ctx)
    assert rows == [(etree.QName(el).localname,) for el in want]


def test_a_node_two_branches_find_is_selected_once() -> None:
    doc = etree.fromstring(b"<r xmlns='urn:d'><A><B>1</B></A><B>2</B><A><B>3</B></A></r>")
    union = _walk("d:A/d:B | d:B | d:A/d:B[1]")
    assert [el.text for el in union.elements(doc)] == ["1", "2", "3"]


def test_bad_unions_are_refused() -> None:
    with pytest.raises(TypeError):
        _xmlwalk.Union((_walk("d:A/@u"),), ())
    with pytest.raises(TypeError):
        _xmlwalk.Union(("d:A",), ())
    with pytest.raises(TypeError):
        _xmlwalk.Union([_walk("d:A")], ())
