"""APERAK writer: messages built by hand, output parsed back with pydifact, segments asserted exactly.

Every APERAK written here is also checked against the D.96A APERAK segment table and the D.96A
layouts of the segments it uses (written out below from the UNTDID), and its codes against the
D.96A code lists (UNCL), so the output is shown to be a valid D.96A APERAK, not just what the writer
meant to write.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from pydifact.parser import Parser
from pydifact.segmentcollection import Interchange

from hub.edifact.aperak import build_aperak
from hub.report import Code, InterchangeReport, Issue, MessageReport, Severity

pytestmark = pytest.mark.filterwarnings("ignore::pydifact.exceptions.MissingImplementationWarning")

NOW = datetime(2025, 3, 22, 12, 15)
Seg = tuple[str, list[Any]]

# --- D.96A layouts (TRSD/TRCD): "M an..14" simple, ("M", "M an..3", ...) composite ------------------

_PARTY = ("M", "M an..35", "C an..4", "C an..14")
LAYOUT: dict[str, tuple[Any, ...]] = {
    "UNB": (("M", "M a4", "M n1"), _PARTY, _PARTY, ("M", "M n6", "M n4"), "M an..14",
            ("C", "M an..14", "C an2"), "C an..14", "C a1", "C n1", "C an..35", "C n1"),
    "UNH": ("M an..14", ("M", "M an..6", "M an..3", "M an..3", "M an..2", "C an..6")),
    "BGM": (("C", "C an..3", "C an..3", "C an..3", "C an..35"), "C an..35", "C an..3", "C an..3"),
    "DTM": (("M", "M an..3", "C an..35", "C an..3"),),
    "RFF": (("M", "M an..3", "C an..35", "C an..6", "C an..35"),),
    "NAD": ("M an..3", ("C", "M an..35", "C an..3", "C an..3")),  # C058 onwards never written
    "ERC": (("M", "M an..8", "C an..3", "C an..3"),),
    "FTX": ("M an..3", "C an..3", ("C", "M an..3", "C an..3", "C an..3"),
            ("C", "M an..70", "C an..70", "C an..70", "C an..70", "C an..70"), "C an..3"),
    "UNT": ("M n..6", "M an..14"),
    "UNZ": ("M n..6", "M an..14"),
}
LAYOUT_4 = {**LAYOUT, "UNB": (("M", "M a4", "M an1"), _PARTY, _PARTY, ("M", "M n8", "M n4"), "M an..14",
                              ("C", "M an..14", "C an2"), "C an..14", "C a1", "C n1", "C an..35", "C n1")}
# D.96A APERAK segment table: UNH BGM DTM*9 FTX*9 CNT*9 SG1(RFF DTM*9)*9 SG2(NAD CTA*9 COM*9)*9
# SG3(ERC FTX? SG4(RFF FTX*9)?)*999 UNT
APERAK_TABLE = re.compile(r"UNA UNB UNH BGM (DTM ){0,9}(FTX ){0,9}(CNT ){0,9}(RFF (DTM ){0,9}){0,9}"
                          r"(NAD (CTA ){0,9}(COM ){0,9}){0,9}(ERC (FTX )?(RFF (FTX ){0,9})?){0,999}UNT UNZ ")
# The D.96A code list values the writer may use (UNCL 1225, 4343, 2005, 2379, 1153, 3035, 4451).
D96A_CODES = {("BGM", 2): {"27", "29"}, ("BGM", 3): {"AP", "RE"}, ("DTM", 0): {"137"},
              ("RFF", 0): {"ACW", "ZZZ"}, ("NAD", 0): {"MS", "MR"}, ("FTX", 0): {"AAO"}}
LEVEL_A = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>")


def _check_value(value: str, spec: str, where: str) -> None:
    status, rep = spec.split()
    if value == "":
        assert status == "C", f"{where}: mandatory value missing"
        return
    kind, size = re.fullmatch(r"(an|a|n)(\.\.)?(\d+)", rep).group(1, 3)  # type: ignore[union-attr]
    assert len(value) <= int(size), f"{where}: {value!r} longer than {rep}"
    if ".." not in rep:
        assert len(value) == int(size), f"{where}: {value!r} is not {rep}"
    if kind == "n":
        assert value.isdigit(), f"{where}: {value!r} not numeric"
    if kind == "a":
        assert not any(c.isdigit() for c in value), f"{where}: {value!r} not alphabetic"


def check_segment(layout: dict[str, tuple[Any, ...]], tag: str, elements: list[Any]) -> None:
    spec = layout[tag]
    assert len(elements) <= len(spec), f"{tag}: {len(elements)} elements, layout has {len(spec)}"
    assert elements[-1] not in ("", []), f"{tag}: trailing empty element"
    for n, element_spec in enumerate(spec, start=1):
        value = elements[n - 1] if n <= len(elements) else ""
        where = f"{tag} element {n}"
        if isinstance(element_spec, str):
            assert isinstance(value, str), f"{where}: composite where a simple element belongs"
            _check_value(value, element_spec, where)
            continue
        parts = [value] if isinstance(value, str) else value
        if parts in ([""], []):
            assert element_spec[0] == "C", f"{where}: mandatory composite missing"
            continue
        assert len(parts) <= len(element_spec) - 1, f"{where}: too many components"
        for c, component_spec in enumerate(element_spec[1:], start=1):
            _check_value(parts[c - 1] if c <= len(parts) else "", component_spec, f"{where}.{c}")


def parse(data: bytes, encoding: str = "ascii", d96a: bool = True) -> list[Seg]:
    """The segments of the one interchange in `data`, validated against the D.96A APERAK."""
    segments = [(s.tag, s.elements) for s in Parser().parse(data.decode(encoding))]
    tags = [t for t, _ in segments]
    assert APERAK_TABLE.fullmatch(" ".join(tags) + " "), tags
    layout = LAYOUT_4 if segments[0][1] == [":+.?*'"] else LAYOUT
    for tag, elements in segments[1:]:
        check_segment(layout, tag, elements)
        first = elements[0] if isinstance(elements[0], str) else elements[0][0]
        if d96a:
            for (code_tag, n), allowed in D96A_CODES.items():
                value = first if n == 0 else (elements[n] if len(elements) > n else "")
                if code_tag == tag and value:
                    assert value in allowed, f"{tag}: {value!r} not in the D.96A code list"
    unh, unt = tags.index("UNH"), tags.index("UNT")
    assert segments[unt][1] == [str(unt - unh + 1), segments[unh][1][0]]
    assert segments[-1][1] == ["1", segments[1][1][4]]
    return segments


def body(segments: list[Seg]) -> list[Seg]:
    tags = [t for t, _ in segments]
    return segments[tags.index("UNH") + 1:tags.index("UNT")]


def msg(*issues: Issue, ref: str | None = "M1", type: str = "COPRAR") -> MessageReport:
    return MessageReport(ref=ref, type=type, version="D", release="95B", agency="UN", assoc="ITG14",
                         issues=list(issues))


def ic(**kw: Any) -> InterchangeReport:
    fields: dict[str, Any] = dict(sender="LINE1", sender_qualifier="ZZZ", recipient="PORTNET",
                                  recipient_qualifier="ZZZ", control_ref="IC0001", syntax_id="UNOA",
                                  syntax_version="3")
    fields.update(kw)
    return InterchangeReport(**fields)


def aperak(message: MessageReport | None = None, interchange: InterchangeReport | None = None,
           **kw: Any) -> bytes:
    options: dict[str, Any] = dict(our_id="PORTNET", control_ref="A000001", now=NOW)
    options.update(kw)
    return build_aperak(message or msg(), interchange or ic(), **options)


# --- content ------------------------------------------------------------------------------------


def test_rejection_with_application_errors_d96a() -> None:
    data = aperak(errors=[("E101", "Container MSKU1234565 has a wrong check digit."),
                          ("E205", "Port call 2025-0042 is unknown.")])
    segments = parse(data)
    assert segments[:3] == [
        ("UNA", [":+.? '"]),
        ("UNB", [["UNOA", "3"], "PORTNET", ["LINE1", "ZZZ"], ["250322", "1215"], "A000001"]),
        ("UNH", ["1", ["APERAK", "D", "96A", "UN"]]),
    ]
    assert body(segments) == [
        ("BGM", [["", "", "", "APPLICATION ERROR"], "A000001", "27", "RE"]),
        ("DTM", [["137", "202503221215", "203"]]),
        ("RFF", [["ACW", "M1"]]),
        ("RFF", [["ZZZ", "IC0001"]]),
        ("NAD", ["MS", "PORTNET"]),
        ("NAD", ["MR", "LINE1"]),
        ("ERC", ["E101"]),
        ("FTX", ["AAO", "", "", "CONTAINER MSKU1234565 HAS A WRONG CHECK DIGIT."]),
        ("ERC", ["E205"]),
        ("FTX", ["AAO", "", "", "PORT CALL 2025-0042 IS UNKNOWN."]),
    ]
    assert set(data.decode("ascii")) <= LEVEL_A


def test_acknowledgement_when_no_error() -> None:
    segments = parse(aperak(errors=[]))
    assert body(segments)[0] == ("BGM", [["", "", "", "APPLICATION ACKNOWLEDGEMENT"], "A000001", "29", "AP"])
    assert "ERC" not in [t for t, _ in segments]
    assert body(parse(aperak(msg())))[0][1][2:] == ["29", "AP"]


def test_errors_derived_from_the_message_issues() -> None:
    issues = [
        Issue(Code.GUIDE_INVALID_VALUE, "Not an SMDG code.", segment=7, tag="EQD", element=3,
              component=1, offset=200, rule="SMDG-EQD-1"),
        Issue(Code.TOO_LONG, "Too long.", segment=4, tag="RFF", element=1, component=2, offset=90),
        Issue(Code.TRAILING_SEPARATOR, "Ends with a separator.", Severity.WARNING, segment=5, tag="DTM",
              offset=120),
        Issue(Code.XML_SCHEMA_INVALID, "No EDIFACT code.", offset=300),
    ]
    entries = body(parse(aperak(msg(*issues))))[6:]
    assert entries == [
        ("ERC", ["39"]),
        ("FTX", ["AAO", "", "", "SEGMENT 4, RFF, ELEMENT 1.2: TOO LONG."]),
        ("ERC", ["45"]),
        ("FTX", ["AAO", "", "", "WARNING: SEGMENT 5, DTM: ENDS WITH A SEPARATOR."]),
        ("ERC", ["12"]),
        ("FTX", ["AAO", "", "", "SEGMENT 7, EQD, ELEMENT 3.1: NOT AN SMDG CODE. (RULE SMDG-EQD-1)"]),
        ("ERC", ["18"]),
        ("FTX", ["AAO", "", "", "NO EDIFACT CODE."]),
    ]


def test_accepted_message_with_warnings_is_an_acknowledgement() -> None:
    warning = Issue(Code.TRAILING_SEPARATOR, "Ends with a separator.", Severity.WARNING, segment=5,
                    tag="DTM")
    segments = body(parse(aperak(msg(warning))))
    assert segments[0][1][2:] == ["29", "AP"] and segments[6] == ("ERC", ["45"])


def test_later_directory_uses_its_codes() -> None:
    segments = parse(aperak(errors=[("E1", "x")], directory="D01B"), d96a=False)
    assert segments[2] == ("UNH", ["1", ["APERAK", "D", "01B", "UN"]])
    assert body(segments)[:4] == [
        ("BGM", ["313", "A000001", "27", "RE"]),
        ("DTM", [["137", "202503221215", "203"]]),
        ("RFF", [["ACW", "M1"]]),
        ("RFF", [["INN", "IC0001"]]),
    ]
    assert body(parse(aperak(errors=[], directory="D99B"), d96a=False))[0][1][0] == "305"


def test_missing_references_are_left_out() -> None:
    segments = body(parse(aperak(msg(ref=None), ic(control_ref=None), errors=[("E1", "x")])))
    assert [t for t, _ in segments] == ["BGM", "DTM", "NAD", "NAD", "ERC", "FTX"]


def test_long_text_is_wrapped_into_five_lines() -> None:
    text = " ".join(f"WORD{n:03d}" for n in range(80))  # 639 characters
    [ftx] = [e for t, e in body(parse(aperak(errors=[("E1", text)]))) if t == "FTX"]
    lines = ftx[3]
    assert len(lines) == 5 and all(len(line) <= 70 for line in lines)
    assert lines[0].startswith("WORD000 WORD001") and lines[-1].endswith("...")
    short = [e for t, e in body(parse(aperak(errors=[("E1", "ab  c\n d")]))) if t == "FTX"]
    assert short == [["AAO", "", "", "AB C D"]]


def test_too_many_errors_are_capped_by_the_segment_table() -> None:
    segments = body(parse(aperak(errors=[("E1", "x")] * 1200)))
    assert [t for t, _ in segments].count("ERC") == 999


# --- characters and envelope --------------------------------------------------------------------


def test_unoa_sanitising_and_release_characters() -> None:
    data = aperak(errors=[("E1", "Poids brut: 12'500 kg + tare? Vérifiez l'EQD.")],
                  interchange=ic(sender="ligne-é"))
    assert b"FTX+AAO+++POIDS BRUT?: 12?'500 KG ?+ TARE?? VERIFIEZ L?'EQD.'" in data
    assert set(data.decode("ascii")) <= LEVEL_A
    segments = parse(data)
    assert body(segments)[-1] == ("FTX", ["AAO", "", "", "POIDS BRUT: 12'500 KG + TARE? VERIFIEZ L'EQD."])
    assert body(segments)[5] == ("NAD", ["MR", "LIGNE-E"])


def test_unoc_keeps_accents() -> None:
    data = aperak(errors=[("E1", "Vérifiez le poids.")], interchange=ic(syntax_id="UNOC"))
    assert "Vérifiez".encode("iso8859-1") in data
    assert body(parse(data, "iso8859-1"))[-1] == ("FTX", ["AAO", "", "", "Vérifiez le poids."])


def test_syntax_4_envelope() -> None:
    data = aperak(msg(ref="R*1"), ic(syntax_version="4"), errors=[("E1", "5*20 ft")])
    assert data.startswith(b"UNA:+.?*'UNB+UNOA:4+PORTNET+LINE1:ZZZ+20250322:1215+A000001'")
    assert b"RFF+ACW:R?*1'" in data and b"FTX+AAO+++5?*20 FT'" in data
    segments = parse(data)
    assert body(segments)[2] == ("RFF", [["ACW", "R*1"]])
    parsed = Interchange.from_str(data.decode("ascii"))
    assert [m.type for m in parsed.get_messages()] == ["APERAK"]


def test_test_interchange_answered_as_test() -> None:
    segments = parse(aperak(interchange=ic(test=True), errors=[]))
    assert segments[1][1][5:] == ["", "", "", "", "", "1"]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        aperak(msg(type="CONTRL"))
    with pytest.raises(ValueError):
        aperak(msg(type="APERAK"))
    with pytest.raises(ValueError):
        aperak(errors=[("e-1", "lower case code")])
    with pytest.raises(ValueError):
        aperak(errors=[("E12345678", "nine characters")])
    with pytest.raises(ValueError):
        aperak(directory="D95B")
    with pytest.raises(ValueError):
        aperak(directory="96A")
    with pytest.raises(ValueError):
        aperak(interchange=ic(sender=None))
    with pytest.raises(ValueError):
        aperak(control_ref="a 1")


# --- reading APERAKs back ----------------------------------------------------------------------------


def test_what_the_writer_wrote_the_reader_reads() -> None:
    from hub.edifact import segments as read
    from hub.edifact.aperak import AperakAnswer, read_aperaks

    rejected = aperak(errors=[("E101", "Container MSKU1234565 has a wrong check digit."), ("E205", "x " * 200)])
    [answer] = read_aperaks(read(rejected))
    assert answer.message_ref == "1" and answer.references == ("M1", "IC0001") and answer.accepted is False
    assert answer.errors[0] == ("E101", "CONTAINER MSKU1234565 HAS A WRONG CHECK DIGIT.")
    assert answer.errors[1][0] == "E205" and answer.errors[1][1].endswith("...")  # five lines, joined
    assert read_aperaks(read(aperak(errors=[]))) == [AperakAnswer("1", ("M1", "IC0001"), True, ())]


@pytest.mark.parametrize(("bgm", "errors", "accepted"), [
    ("BGM+++29+RE'", "", False),  # 4343 decides over 1225
    ("BGM+++27'", "", False),
    ("BGM+++29'", "ERC+X1'", True),  # an accepted message may still list warnings
    ("BGM'", "ERC+X1'", False),  # nothing stated: an error rejects
    ("BGM'", "", True),
])
def test_the_verdict_of_an_aperak(bgm: str, errors: str, accepted: bool) -> None:
    from hub.edifact import segments as read
    from hub.edifact.aperak import read_aperaks

    data = (f"UNB+UNOA:3+A+B+250322:1215+R1'UNH+7+APERAK:D:96A:UN'{bgm}RFF+ZZZ:R0'{errors}UNT+4+7'"
            f"UNH+8+CONTRL:D:3:UN'UCI+R0+B+A+7'UNT+3+8'UNZ+2+R1'").encode()
    [answer] = read_aperaks(read(data))  # the CONTRL beside it is not an APERAK
    assert (answer.message_ref, answer.references, answer.accepted) == ("7", ("R0",), accepted)
