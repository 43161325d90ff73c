"""A block of set rules works out what it makes of each distinct segment text once per run of a spec
(`hub.mapping.compiled._block_step`) and looks it up for every repetition of that text. The result must
still be exactly the reference evaluator's, in messages that repeat their texts with values that convert
and values that do not (each repetition gives its note again), and no two records may share a value that
could be changed in place (a stamp is a dict)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.catalog import default_catalog
from hub.edifact.validator import validate_located
from hub.mapping.compiled import evaluate_edifact
from tests.corpus import ROOT
from tests.mapping.test_compiled_evaluator import _compare

HEADER = [
    "UNB+UNOA:2+AMLTNG:ZZZ+MAPTMTOC:ZZZ+251126:1030+BP0000001'",
    "UNH+AML00000101+BAPLIE:D:95B:UN:SMDG22'",
    "BGM++ATLTNG0712NP01+9'",
    "DTM+137:2511261030:201'",
    "TDT+20+0712N+++AML:172:20+++CNAT7:103:ZZZ:ATLAS TANGIER'",
    "LOC+5+MAPTM:139:6'",
    "LOC+61+ESALG:139:6'",
    "DTM+132:2511271400:201'",
]

# Few texts per segment, so that a message repeats them; some give notes (a weight that is no number,
# an unknown weight unit, a temperature that is no number).
CELLS = ["LOC+147+0020002::5'", "LOC+147+0020102::5'", "LOC+147+0010702::5'"]
REMARKS = ["FTX+HAN+++DO NOT STACK ?+ TOP STOW ONLY'", "FTX+HAN++KC'", "FTX+AAA+++TOMATOES'"]
WEIGHTS = ["MEA+VGM++KGM:14779'", "MEA+VGM++KGM:12X4'", "MEA+VGM++XXX:1000'", "MEA+WT++TNE:2,5'",
           "MEA+AAE++KGM:3000'"]
TEMPERATURES = ["TMP+2+-18:CEL'", "TMP+2+4.5:CEL'", "TMP+2+COLD:CEL'"]
PORTS = ["LOC+9+MAPTM:139:6'", "LOC+9+MAPTM:139:6+TM1:TER:306'", "LOC+11+ESALG:139:6'",
         "LOC+11+DEHAM:139:6'", "LOC+83+CZPRG:139:6'", "LOC+76+EGPSD:139:6'"]
REFERENCES = ["RFF+BM:1'", "RFF+BM:SAHTNG8318349'", "RFF+BN:BK 123'"]
EQUIPMENT = ["EQD+CN+AMLU7296336+45G1+++5'", "EQD+CN+SAHU3624935+L5G1+++4'"]
CARRIERS = ["NAD+CA+AML:172:20'", "NAD+CA+SAH:172:20'"]
DANGEROUS = [["DGS+IMD+3+1263+023:CEL+2'", "FTX+AAD+++PAINT'"], ["DGS+IMD+3+1263+X:CEL+2'"]]


def _some(pool: list[str], most: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(pool), max_size=most)


# One segment group 2 (a stowage location) in the order of the D.95B segment table.
container = st.tuples(
    st.sampled_from(CELLS), _some(REMARKS, 2), _some(WEIGHTS, 2), _some(TEMPERATURES, 1), _some(PORTS, 3),
    _some(REFERENCES, 2), st.sampled_from(EQUIPMENT), _some(CARRIERS, 1), _some(DANGEROUS, 2),
).map(lambda g: [g[0], *g[1], *g[2], *g[3], *g[4], *g[5], g[6], *g[7], *(s for dg in g[8] for s in dg)])


def _interchange(containers: list[list[str]]) -> bytes:
    body = [*HEADER, *(s for c in containers for s in c)]
    lines = [*body, f"UNT+{len(body)}+AML00000101'", "UNZ+1+BP0000001'"]
    return ("\n".join(lines) + "\n").encode("ascii")


@settings(max_examples=150, deadline=None)
@given(st.lists(container, min_size=1, max_size=12))
def test_repeated_texts_map_as_the_reference_maps_them(containers: list[list[str]]) -> None:
    assert _compare(_interchange(containers)) == 1


def test_a_repeated_bad_value_gives_its_note_every_time() -> None:
    cont = ["LOC+147+0020002::5'", "MEA+VGM++KGM:12X4'", "LOC+11+ESALG:139:6'", "EQD+CN+AMLU7296336+45G1+++5'"]
    assert _compare(_interchange([cont, cont, cont])) == 1
    catalog = default_catalog()
    _, located = validate_located(_interchange([cont, cont, cont]), catalog)
    lm = located[0]
    spec = catalog.mappings().select("edifact", "BAPLIE", lm.directory, lm.report.assoc)
    d = catalog.directory("D95B", lm.interchange.syntax_version)
    assert spec is not None and d is not None
    got = evaluate_edifact(spec, lm.scan, lm.start, lm.end, d.messages["BAPLIE"])
    assert len([n for n in got.notes if "12X4" in n]) == 3
    assert [r.get("vgm") for r in got.document["stowage"]] == [None, None, None]
    assert [r["pod"] for r in got.document["stowage"]] == ["ESALG"] * 3


def test_records_never_share_a_stamp() -> None:
    # Two containers discharged at the same minute: the same DTM text in two groups of a COARRI.
    text = (ROOT / "samples" / "coarri-d95b.edi").read_text(encoding="ascii")
    text = text.replace("DTM+96:202511272231:203'", "DTM+96:202511272212:203'")
    catalog = default_catalog()
    data = text.encode("ascii")
    assert _compare(data) == 1
    _, located = validate_located(data, catalog)
    lm = located[0]
    spec = catalog.mappings().select("edifact", lm.report.type, lm.directory, lm.report.assoc)
    d = catalog.directory(lm.directory or "", lm.interchange.syntax_version)
    assert spec is not None and d is not None and lm.report.type is not None
    got = evaluate_edifact(spec, lm.scan, lm.start, lm.end, d.messages[lm.report.type])
    first, second = got.document["equipment"][:2]
    assert first["movement_time"] == second["movement_time"]
    assert first["movement_time"] is not second["movement_time"]
