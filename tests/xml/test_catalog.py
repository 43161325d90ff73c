"""The XSD catalog: loading, local-only schemas, selection by root element and discriminators."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from lxml import etree

from hub.xml import CatalogError, XsdCatalog, default_catalog, validate_document
from hub.xml.catalog import DocumentType, _Path, default_xsd_dir
from tests.corpus import ROOT

SAMPLES = ROOT / "samples" / "xml"

SIMPLE_XSD = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t"
  elementFormDefault="qualified">{imports}<xs:element name="r"/></xs:schema>"""


def write_catalog(folder: Path, documents: str, xsd: str = SIMPLE_XSD.format(imports="")) -> Path:
    (folder / "t.xsd").write_text(xsd, encoding="utf-8")
    (folder / "catalog.yaml").write_text("version: 1\nprefixes:\n  t: urn:t\ndocuments:\n" + documents,
                                         encoding="utf-8")
    return folder


def root_of(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


# --- the shipped catalog -----------------------------------------------------------------------------

def test_shipped_catalog_loads_and_every_schema_compiles() -> None:
    catalog = XsdCatalog.load()
    catalog.compile_all()
    ids = [t.id for t in catalog.types]
    assert len(ids) == len(set(ids))
    assert {"wco-dec", "wco-dec-cancellation", "wco-res", "sps-certificate", "berthing-request",
            "waste-declaration", "heavy-package-declaration", "measuring-instrument-import",
            "hub-ack"} <= set(ids)
    assert catalog.folder == default_xsd_dir()


def test_default_catalog_is_loaded_once() -> None:
    assert default_catalog() is default_catalog()


def test_hub_schemas_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "xsd").mkdir()
    write_catalog(tmp_path / "xsd", "  - id: t\n    root: t:r\n    xsd: t.xsd\n")
    monkeypatch.setenv("HUB_SCHEMAS", str(tmp_path))
    assert default_xsd_dir() == tmp_path / "xsd"
    assert [t.id for t in XsdCatalog.load().types] == ["t"]


# --- selection ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("sample", "kind"), [
    ("wco-declaration-import.xml", "wco-dec"),
    ("wco-declaration-cancellation.xml", "wco-dec-cancellation"),
    ("wco-response-acceptance.xml", "wco-res"),
    ("sps-phyto-certificate.xml", "sps-certificate"),
    ("berthing-request.xml", "berthing-request"),
    ("waste-declaration.xml", "waste-declaration"),
    ("heavy-package-declaration.xml", "heavy-package-declaration"),
    ("measuring-instrument-import.xml", "measuring-instrument-import"),
])
def test_samples_select_their_schema(sample: str, kind: str) -> None:
    selected = default_catalog().select(root_of((SAMPLES / sample).read_bytes()))
    assert selected is not None and selected.id == kind


def test_discriminator_order_matters() -> None:
    """FunctionCode 13 alone is an amendment (full schema); 13 with TypeCode INV a cancellation."""
    cancellation = (SAMPLES / "wco-declaration-cancellation.xml").read_bytes()
    amendment = cancellation.replace(b"<TypeCode>INV</TypeCode>", b"<TypeCode>COR</TypeCode>")
    spaced = cancellation.replace(b"<FunctionCode>13</FunctionCode>", b"<FunctionCode>\n  13 </FunctionCode>")
    catalog = default_catalog()
    assert catalog.select(root_of(cancellation)).id == "wco-dec-cancellation"  # type: ignore[union-attr]
    assert catalog.select(root_of(amendment)).id == "wco-dec"  # type: ignore[union-attr]
    assert catalog.select(root_of(spaced)).id == "wco-dec-cancellation"  # type: ignore[union-attr]


def test_metadata_without_payload_matches_no_variant() -> None:
    doc = b'<md:MetaData xmlns:md="urn:wco:datamodel:WCO:DocumentMetaData-DMS:2"/>'
    result = validate_document(doc)
    [issue] = result.report.issues
    assert issue.code.ident == "xml-unknown-document"
    assert "matches none of its variants" in issue.message
    assert "wco-dec needs dec:Declaration" in issue.message and "wco-res needs res:Response" in issue.message
    assert result.document is not None and result.document.kind is None


def test_wrong_namespace_gets_a_hint() -> None:
    [issue] = validate_document(b"<BerthingRequest/>").report.issues
    assert "urn:portnet:hub:formalities:1" in issue.message and "namespace declaration" in issue.message


def test_references() -> None:
    catalog = default_catalog()
    for sample, reference in [("wco-declaration-import.xml", "CSB-BRK-2025-004711"),
                              ("wco-response-acceptance.xml", "ADII-NOTIF-20251127-000318"),
                              ("sps-phyto-certificate.xml", "NL-2025-PC-0884213"),
                              ("berthing-request.xml", "AML-CSB-BR-2025-1127-01")]:
        root = root_of((SAMPLES / sample).read_bytes())
        selected = catalog.select(root)
        assert selected is not None and selected.reference(root) == reference


def test_general_xpath_discriminators(tmp_path: Path) -> None:
    """Paths that are not plain child steps go to libxml2's XPath, with the same meaning."""
    write_catalog(tmp_path, """\
  - id: big
    root: t:r
    when:
      - path: count(t:item) > 2
    xsd: t.xsd
    reference: t:item[last()]/@ref
  - id: with-a-b
    root: t:r
    when:
      - path: .//t:b
    xsd: t.xsd
  - id: plain
    root: t:r
    when:
      - path: t:item[2]
        equals: two
    xsd: t.xsd
""")
    catalog = XsdCatalog.load(tmp_path)
    big = root_of(b'<r xmlns="urn:t"><item/><item/><item ref=" x  y "/></r>')
    assert catalog.select(big).id == "big"  # type: ignore[union-attr]
    assert catalog.select(big).reference(big) == "x y"  # type: ignore[union-attr]
    assert catalog.select(root_of(b'<r xmlns="urn:t"><a><b/></a></r>')).id == "with-a-b"  # type: ignore[union-attr]
    two = root_of(b'<r xmlns="urn:t"><item>one</item><item> two\n</item></r>')
    assert catalog.select(two).id == "plain"  # type: ignore[union-attr]
    assert catalog.select(root_of(b'<r xmlns="urn:t"><item>two</item></r>')) is None
    # A non-leaf node's string value is all its text, as in XPath.
    mixed = root_of(b'<r xmlns="urn:t"><item/><item>t<x>w</x>o</item></r>')
    assert catalog.select(mixed).id == "plain"  # type: ignore[union-attr]


# --- broken catalogs and schemas ----------------------------------------------------------------------

@pytest.mark.parametrize(("documents", "complaint"), [
    ("  - id: t\n    root: x:r\n    xsd: t.xsd\n", "'root'"),
    ("  - id: t\n    root: t:r\n    xsd: missing.xsd\n", "'xsd'"),
    ("  - id: t\n    root: t:r\n    xsd: ../t.xsd\n", "is outside"),
    ("  - id: t\n    root: t:r\n    xsd: t.xsd\n  - id: t\n    root: t:r\n    xsd: t.xsd\n", "used twice"),
    ("  - id: t\n    root: t:r\n    xsd: t.xsd\n    colour: red\n", "unknown key"),
    ("  - id: t\n    root: t:r\n    xsd: t.xsd\n    when: [{equals: x}]\n", "'path'"),
    ("  - id: t\n    root: t:r\n    xsd: t.xsd\n    when: [{path: 't:a[', equals: x}]\n", "document 't'"),
    ("  - root: t:r\n    xsd: t.xsd\n", "'id' is missing"),
    ("  []\n", "'documents'"),
])
def test_broken_catalog_is_refused_with_the_reason(tmp_path: Path, documents: str, complaint: str) -> None:
    write_catalog(tmp_path, documents)
    (tmp_path.parent / "t.xsd").write_text(SIMPLE_XSD.format(imports=""), encoding="utf-8")
    with pytest.raises(CatalogError, match=complaint.replace("[", r"\[")):
        XsdCatalog.load(tmp_path)


def test_unreadable_catalog(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        XsdCatalog.load(tmp_path)
    (tmp_path / "catalog.yaml").write_text("version: 2\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="version: 1"):
        XsdCatalog.load(tmp_path)


@pytest.mark.parametrize(("location", "complaint"), [
    ("http://www.example.invalid/other.xsd", "not a local file"),
    ("../outside.xsd", "leaves"),
    ("/etc/other.xsd", "leaves"),
    ("nowhere.xsd", "does not exist"),
])
def test_schema_imports_must_stay_in_the_folder(tmp_path: Path, location: str, complaint: str) -> None:
    folder = tmp_path / "xsd"
    folder.mkdir()
    (tmp_path / "outside.xsd").write_text(SIMPLE_XSD.format(imports=""), encoding="utf-8")
    imports = f'<xs:import namespace="urn:o" schemaLocation="{location}"/>'
    write_catalog(folder, "  - id: t\n    root: t:r\n    xsd: t.xsd\n", SIMPLE_XSD.format(imports=imports))
    with pytest.raises(CatalogError, match=complaint):
        XsdCatalog.load(folder)


def test_compiling_never_fetches(tmp_path: Path) -> None:
    """Even a catalog built by hand, skipping the load-time check, cannot make libxml2 fetch: the
    resolver answers every non-local location with an empty document."""
    imports = '<xs:import namespace="urn:o" schemaLocation="http://127.0.0.1:9/never.xsd"/>'
    write_catalog(tmp_path, "", SIMPLE_XSD.format(imports=imports))
    catalog = XsdCatalog(tmp_path, [DocumentType("t", "t", "{urn:t}r", "t.xsd")])
    with pytest.raises(CatalogError, match="does not compile"):
        catalog.compile_all()


def test_a_broken_schema_fails_at_compile_all(tmp_path: Path) -> None:
    write_catalog(tmp_path, "  - id: t\n    root: t:r\n    xsd: t.xsd\n",
                  '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element/></xs:schema>')
    catalog = XsdCatalog.load(tmp_path)
    with pytest.raises(CatalogError, match="t.xsd"):
        catalog.compile_all()


def test_schemas_are_compiled_once_per_thread() -> None:
    catalog = XsdCatalog.load()
    doc_type = next(t for t in catalog.types if t.id == "berthing-request")
    here = catalog.schema(doc_type)
    assert catalog.schema(doc_type) is here
    other: list[etree.XMLSchema] = []
    thread = threading.Thread(target=lambda: other.append(catalog.schema(doc_type)))
    thread.start()
    thread.join()
    assert other and other[0] is not here


@pytest.mark.parametrize("path", ["d:A/d:B", "d:A/d:B[2]", "d:A[2]/d:B", "d:A/d:C", "d:Z", "d:A", "d:A[3]/d:B"])
def test_plain_paths_read_what_xpath_reads(path: str) -> None:
    """The first `d:A` has no `d:B`: the path selects the second's (the fast path once took the first
    `d:A` only and found nothing)."""
    ns = {"d": "urn:d"}
    root = etree.fromstring(b"<r xmlns='urn:d'><A><C> c  1 </C></A><A><B>b1</B><B>b2<X/></B></A>"
                            b"<A><B>\t b3\n</B></A></r>")
    compiled = _Path(path, ns)
    assert compiled.exists(root) is bool(root.xpath(f"boolean({path})", namespaces=ns))
    assert compiled.string(root) == root.xpath(f"normalize-space({path})", namespaces=ns)
