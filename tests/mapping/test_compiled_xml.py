"""The compiled XML evaluator (`hub.mapping.compiled_xml`, what `map_xml` runs) gives exactly what the
reference evaluator (`evaluate` with an `XmlSource`, a libxml2 XPath per value) gives: the same document,
keys in the same order, the same notes; with its plain walks in C (`_xmlwalk.c`, when built) and in
Python. On every XML sample and every HMRC and SPS XML file of the corpus, and on documents made by
mutating the samples (elements dropped, repeated, moved, texts changed), which is where document order,
missing nodes and odd texts differ."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hub.catalog import default_catalog
from hub.mapping.compiled_xml import (
    NATIVE,
    CompiledXmlSpec,
    _Child,
    _Self,
    _Substring,
    _Union,
    _Walk,
    compile_path,
    evaluate_xml,
)
from hub.mapping.compiled_xml import Path as XPathFallback
from hub.mapping.evaluate import XmlSource, evaluate
from hub.mapping.run import xml_spec
from hub.mapping.spec import MappingSpec, Rule, ValueSpec
from tests.corpus import CORPUS, ROOT
from tests.mapping.test_xml_mappings import with_namespaces

SAMPLES = sorted((ROOT / "samples" / "xml").rglob("*.xml"))  # with samples/xml/invalid
WELL_FORMED = [p for p in SAMPLES if p.parent.name == "xml"]
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _corpus_xml() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    found = sorted(p for p in (CORPUS / "hmrc__customs-declarations").rglob("*.xml") if "schemas" not in p.parts)
    return found + sorted(CORPUS.glob("*/*SPS*.xml"))


def _specs() -> list[MappingSpec]:
    return [s for s in default_catalog().mappings().specs.values() if s.format == "xml"]


def _spec_for(root: Any) -> MappingSpec | None:
    return xml_spec(root, default_catalog().mappings())


def _same(spec: MappingSpec, root: Any) -> dict[str, Any]:
    ref = evaluate(spec, XmlSource(spec.namespaces), root)
    got = evaluate_xml(spec, root)
    assert json.dumps(got.document) == json.dumps(ref.document)
    assert got.notes == ref.notes
    in_python = CompiledXmlSpec(spec, native=False).run(root)
    assert json.dumps(in_python.document) == json.dumps(ref.document)
    assert in_python.notes == ref.notes
    return got.document


@pytest.mark.parametrize("path", SAMPLES + _corpus_xml(), ids=lambda p: p.name)
def test_compiled_equals_reference(path: Path) -> None:
    data = path.read_bytes()
    if b"urn:wco:datamodel" not in data and "hmrc" in str(path):
        data = with_namespaces(data)
    try:
        root = etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError:
        pytest.skip("not well-formed: nothing to map")
    spec = _spec_for(root)
    if spec is None:
        pytest.skip("no spec maps this document")
    _same(spec, root)


def test_every_spec_meets_its_sample() -> None:
    mapped = set()
    for path in WELL_FORMED:
        root = etree.fromstring(path.read_bytes(), PARSER)
        spec = _spec_for(root)
        if spec is not None and _same(spec, root):
            mapped.add(spec.name)
    assert mapped == {s.name for s in _specs()}


# --- mutated documents -----------------------------------------------------------------------------------

TEXTS = st.one_of(st.sampled_from(["", " ", "  10 ", "705", "714", "KGM", "TNE", "LBR", "XXX", "1e3", "12,5",
                                   "2025-03-04T05:06:07Z", "20250304", "MSCU1234565", "mscu 123456-5", "9074729",
                                   "\u00a0IMO 9074729\u2003", "abc\n\tdef", "IM", "EXA", "INV", "13", "9",
                                   "UN/LOCODE", "MAPTM", "LOAD", "DCR", "nan", "inf", "-0", "1_000", "7,"]),
                  # the characters XML 1.0 allows, with the Unicode spaces Python's split() knows
                  st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"),
                                        include_characters="\t\n\u00a0\u2003\u0085"), max_size=8))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[MappingSpec, Any]:
    path = draw(st.sampled_from(WELL_FORMED))
    root = etree.fromstring(path.read_bytes(), PARSER)
    spec = _spec_for(root)
    assert spec is not None
    elements = [el for el in root.iter() if isinstance(el.tag, str)]
    for _ in range(draw(st.integers(1, 6))):
        elements = [el for el in root.iter() if isinstance(el.tag, str)]
        el = draw(st.sampled_from(elements))
        parent = el.getparent()
        action = draw(st.sampled_from(["drop", "repeat", "repeat_elsewhere", "text", "attribute", "child_first",
                                       "comment_first"]))
        if action == "drop" and parent is not None:
            parent.remove(el)
        elif action == "repeat" and parent is not None:
            copy = etree.fromstring(etree.tostring(el))
            copy.tail = None
            el.addnext(copy)
        elif action == "repeat_elsewhere" and parent is not None:
            # the copy under another element: unions' branches both find nodes, document order decides
            target = draw(st.sampled_from(elements))
            if el not in target.iterancestors() and target is not el:
                target.append(etree.fromstring(etree.tostring(el)))
        elif action == "text":
            el.text = draw(TEXTS)
        elif action == "attribute":
            name = draw(st.sampled_from(["unitCode", "formatCode", "unit", "scheme", "schemeID", "other"]))
            el.set(name, draw(TEXTS))
        elif action == "child_first":  # an element's own text is what precedes its first child
            el.insert(0, etree.Element(el.tag))
        elif action == "comment_first":
            el.insert(0, etree.Comment("c"))
    return spec, root


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_compiled_equals_reference_on_mutated_documents(case: tuple[MappingSpec, Any]) -> None:
    spec, root = case
    _same(spec, root)


# --- paths -------------------------------------------------------------------------------------------------

NS = {"d": "urn:d", "e": "urn:e"}


@pytest.mark.parametrize(("expr", "kind"), [
    (".", _Self), ("d:A", _Child), ("d:A/@u", _Child), ("d:A/@e:u", _Child), ("d:A/d:B", _Walk),
    ("d:A[2]", _Walk), ("../d:A/d:B", _Walk), ("..", _Walk), ("d:A/d:B[1]/@u", _Walk), ("@u", _Walk),
    ("d:A | d:B/d:C", _Union), ("(d:A | d:B)[d:C or d:D]", _Union), ("d:A[d:C]", _Union),
    ("A", XPathFallback), ("x:A", XPathFallback), ("substring(d:A, 1, 2)", _Substring),
    ("substring(d:A/@u, 1, 2)", XPathFallback), ("substring(d:A, 1.5, 2)", XPathFallback),
    ("d:A[last()]", XPathFallback), ("//d:A", XPathFallback), ("d:A/text()", XPathFallback),
    ("(d:A | d:B)[1]", XPathFallback), ("d:A[@u = 'x']", XPathFallback),
])
def test_paths_compile_to_the_fast_forms_they_can(expr: str, kind: type) -> None:
    assert type(compile_path(expr, NS, native=False)) is kind
    if NATIVE and kind in (_Child, _Walk, _Union):
        assert type(compile_path(expr, NS)).__name__ == ("_NativeUnion" if kind is _Union else "_NativeWalk")


DOC = etree.fromstring(b"""<r xmlns="urn:d" xmlns:e="urn:e">
  <A u="1" e:u="2"> a1 <B><C>c1</C></B><B><C>c2</C><C>c3</C></B></A>
  <A>a2<B><D>d</D></B></A>
  <X><A>x</A></X>
  <C>rc</C>
</r>""")


@pytest.mark.parametrize("native", [False, True], ids=["python", "c"])
@pytest.mark.parametrize("expr", [
    ".", "d:A", "d:A/@u", "d:A/@e:u", "d:A/d:B", "d:A/d:B/d:C", "d:A[2]", "d:A[3]", "d:A/d:B[2]/d:C",
    "d:A/d:B/d:C[2]", "d:A | d:C", "d:C | d:X/d:A", "d:X/d:A | d:Y", "(d:A | d:X)[d:B or d:A]",
    "d:A[d:B/d:D]", "d:A/d:B[d:D]", "d:Z", "d:A/@zz", "local-name()", "d:X/d:A/..", "d:A/d:B/../..", "@u",
    "../d:r", "../d:r/d:C", "../..", "../../d:r", "../@u", "substring(d:C, 1, 1)", "substring(d:C, 2)",
    "substring(d:C, 0, 2)", "substring(d:C, -3, 5)", "substring(d:C, 2, 0)", "substring(d:Z, 1, 2)",
    "substring(d:A, 1, 3)", "substring(d:X/d:A, 1, 1)", "substring(../d:r/d:C, 1, 9)",
])
def test_path_nodes_and_text_are_xpaths(expr: str, native: bool) -> None:
    if native and not NATIVE:
        pytest.skip("the C walks are not built (hub/mapping/_xmlwalk.c; setup.py)")
    index = CompiledXmlSpec(MappingSpec("t", "xml", "r", namespaces=NS, rules=(
        Rule("rules[0]", at=expr, sets=()),)), native=native).index(DOC)
    path = compile_path(expr, NS, native=native)
    ref = XmlSource(NS)
    assert path.text(DOC, index) == ref.value(DOC, expr)
    if "@" not in expr and expr != "local-name()" and not expr.startswith("substring"):
        assert list(path.nodes(DOC, index)) == ref.items(DOC, expr)


def test_a_compiled_spec_serves_several_threads() -> None:
    """The compiled spec holds no lxml object: its XPath fall-backs are compiled per thread."""
    path = ROOT / "samples" / "xml" / "wco-declaration-import.xml"
    spec = _spec_for(etree.fromstring(path.read_bytes(), PARSER))
    assert spec is not None
    expected = json.dumps(evaluate(spec, XmlSource(spec.namespaces), etree.fromstring(path.read_bytes(), PARSER))
                          .document)
    failures: list[str] = []

    def work() -> None:
        for _ in range(50):
            got = json.dumps(evaluate_xml(spec, etree.fromstring(path.read_bytes(), PARSER)).document)
            if got != expected:
                failures.append(got)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


@pytest.mark.parametrize("native", [False, True], ids=["python", "c"])
@pytest.mark.parametrize("when", ["d:A", "d:A/d:B/d:C", "d:Z", "d:A | d:Z", "(d:Z | d:X)[d:A]", "d:X[d:Z]",
                                  "d:A/@u", "d:A/@zz", ".", "count(d:A) > 1", "count(d:A) > 5", "'x'", "''",
                                  "../d:r", "..", "d:C = 'rc'", "d:C = 'no'"])
def test_when_is_xpath_boolean(when: str, native: bool) -> None:
    """`holds` reads a plain `when` with a C walk; anything else as XPath's boolean(), as it always did."""
    if native and not NATIVE:
        pytest.skip("the C walks are not built (hub/mapping/_xmlwalk.c; setup.py)")
    spec = MappingSpec("t", "xml", "r", namespaces=NS, when=when, rules=())
    assert CompiledXmlSpec(spec, native=native).holds(DOC) is bool(DOC.xpath(f"boolean({when})", namespaces=NS))


@pytest.mark.parametrize(("raw", "kind", "want"), [
    ("12", "int", 12), ("12,5", "int", 12), ("12,5", "number", 12.5), ("1e3", "number", 1000), ("-0", "int", 0),
    ("nan", "int", None), ("inf", "int", None), ("-inf", "int", None), ("x", "number", None), ("2", "weight", 2),
    ("nan", "number", "nan"), ("inf", "weight", float("inf")),
])
def test_numbers_convert_or_are_noted_never_raise(raw: str, kind: str, want: Any) -> None:
    """What is not a (whole) number becomes a note, in both evaluators; nan and inf as an int raised
    before."""
    spec = MappingSpec("t", "xml", "r", namespaces=NS, rules=(
        Rule("rules[0]", at=".", sets=(("n", ValueSpec(source="d:N", convert=kind)),)),))
    doc = etree.fromstring(f"<r xmlns='urn:d'><N>{raw}</N></r>".encode())
    ref = evaluate(spec, XmlSource(NS), doc)
    for got in (ref, evaluate_xml(spec, doc), CompiledXmlSpec(spec, native=False).run(doc)):
        value = got.document.get("n")
        assert (str(value) if want == "nan" else value) == want
        assert got.notes == ([] if want is not None else [f"rules[0]: {raw!r} is not "
                                                           + ("a whole number" if raw in ("nan", "inf", "-inf")
                                                              else "a number")])


def test_without_the_extension_everything_maps_the_same() -> None:
    """Where `_xmlwalk.c` did not build, the import fails and the hub walks in Python (mapping) or asks
    XPath (the catalog's discriminators): a fresh interpreter with the extension hidden maps every
    sample as the reference does."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import json, sys
        sys.modules["hub.mapping._xmlwalk"] = None  # what a failed build leaves: ImportError
        from pathlib import Path
        from hub.catalog import default_catalog
        from hub.mapping import compiled_xml
        from hub.mapping.evaluate import XmlSource, evaluate
        from hub.mapping.run import map_xml, xml_spec
        from hub.xml import parse_and_validate
        assert not compiled_xml.NATIVE
        mappings = default_catalog().mappings()
        mapped = 0
        for path in sorted(Path(sys.argv[1]).glob("*.xml")):
            report, root = parse_and_validate(path.read_bytes())
            assert report.accepted, (path, report)
            spec = xml_spec(root, mappings)
            ref = evaluate(spec, XmlSource(spec.namespaces), root)
            got = compiled_xml.evaluate_xml(spec, root)
            assert json.dumps(got.document) == json.dumps(ref.document) and got.notes == ref.notes, path
            assert map_xml(root, mappings).spec == spec.name
            mapped += 1
        print(mapped)
    """)
    done = subprocess.run([sys.executable, "-c", script, str(ROOT / "samples" / "xml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(WELL_FORMED)
