"""CONTRL writer: reports built by hand, output parsed back with pydifact, segments asserted exactly.

Besides the exact values, every CONTRL written here is checked against the syntax 3 / syntax 4
service segment layouts (element counts, mandatory elements, representation) and the CONTRL
segment table, written out below from ISO 9735 (UNSL), so a wrong shape fails even where a test does
not look at a value.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from pydifact.parser import Parser
from pydifact.segmentcollection import Interchange

from hub.edifact.contrl import build_contrl, sanitise
from hub.report import Code, InterchangeReport, Issue, MessageReport, Report, Severity

pytestmark = pytest.mark.filterwarnings("ignore::pydifact.exceptions.MissingImplementationWarning")

NOW = datetime(2025, 3, 22, 12, 15)
Seg = tuple[str, list[Any]]

# --- layouts: each element is "M an..14" (simple) or ("M", "M an..35", "C an..4") (composite) ------

_S011_3 = ("C", "M n..3", "C n..3")
_S011_4 = ("C", "M n..3", "C n..3", "C n..6")
_PARTY_3 = ("M", "M an..35", "C an..4", "C an..14")
_PARTY_4 = ("M", "M an..35", "C an..4", "C an..35", "C an..35")
_S009_3 = ("M", "M an..6", "M an..3", "M an..3", "M an..2", "C an..6")
_S009_4 = ("C", "M an..6", "M an..3", "M an..3", "M an..3", "C an..6", "C an..6", "C an..6")
_TRAILER = ("M n..6", "M an..14")

LAYOUT_3: dict[str, tuple[Any, ...]] = {
    "UNB": (("M", "M a4", "M n1"), _PARTY_3, _PARTY_3, ("M", "M n6", "M n4"), "M an..14",
            ("C", "M an..14", "C an2"), "C an..14", "C a1", "C n1", "C an..35", "C n1"),
    "UNH": ("M an..14", _S009_3),
    "UCI": ("M an..14", _PARTY_3, _PARTY_3, "M an..3", "C an..3", "C a3", _S011_3),
    "UCM": ("M an..14", _S009_3, "M an..3", "C an..3", "C a3", _S011_3),
    "UCF": ("M an..14", ("M", "M an..35", "C an..4"), ("M", "M an..35", "C an..4"), "M an..3",
            "C an..3", "C a3", _S011_3),
    "UCS": ("M n..6", "C an..3"),
    "UCD": ("M an..3", ("M", "M n..3", "C n..3")),
    "UNT": _TRAILER,
    "UNZ": _TRAILER,
}
LAYOUT_4: dict[str, tuple[Any, ...]] = {
    **LAYOUT_3,
    "UNB": (("M", "M a4", "M an1", "C an..6", "C an..3", "C an2"), _PARTY_4, _PARTY_4,
            ("M", "M n8", "M n4"), "M an..14", ("C", "M an..14", "C an2"), "C an..14", "C a1", "C n1",
            "C an..35", "C n1"),
    "UNH": ("M an..14", _S009_4),
    "UCI": ("M an..14", _PARTY_4, _PARTY_4, "M an..3", "C an..3", "C an..3", _S011_4),
    "UCM": ("C an..14", _S009_4, "M an..3", "C an..3", "C an..3", _S011_4),
    "UCF": ("M an..14", ("C", "M an..35", "C an..4"), ("C", "M an..35", "C an..4"), "M an..3",
            "C an..3", "C an..3", _S011_4),
    "UCD": ("M an..3", ("M", "M n..3", "C n..3", "C n..6")),
}
# CONTRL segment table (syntax 3 and 4): UNH UCI SG1(UCM SG2(UCS UCD*99)*999)* SG3(UCF SG4(UCM SG5(..))*)* UNT
CONTRL_TABLE = re.compile(r"UNA UNB UNH UCI (UCM (UCS (UCD ){0,99}){0,999})*"
                          r"(UCF (UCM (UCS (UCD ){0,99}){0,999})*)*UNT UNZ ")
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


def parse(data: bytes, encoding: str = "ascii") -> list[list[Seg]]:
    """The interchanges in `data`, each a list of (tag, elements), validated against the layouts."""
    text = data.decode(encoding)
    out = []
    for part in re.split(r"(?<=')(?=UNA)", text):
        segments = [(s.tag, s.elements) for s in Parser().parse(part)]
        tags = [t for t, _ in segments]
        assert CONTRL_TABLE.fullmatch(" ".join(tags) + " "), tags
        layout = LAYOUT_4 if segments[0][1] == [":+.?*'"] else LAYOUT_3
        for tag, elements in segments[1:]:
            check_segment(layout, tag, elements)
        unh, unt, unb, unz = tags.index("UNH"), tags.index("UNT"), segments[1], segments[-1]
        assert segments[unt][1] == [str(unt - unh + 1), segments[unh][1][0]]
        assert unz[1] == ["1", unb[1][4]]
        out.append(segments)
    return out


def body(segments: list[Seg]) -> list[Seg]:
    """The segments between UNH and UNT."""
    tags = [t for t, _ in segments]
    return segments[tags.index("UNH") + 1:tags.index("UNT")]


# --- report builders ----------------------------------------------------------------------------


def msg(ref: str = "M1", *issues: Issue, type: str = "IFTMIN", group: str | None = None) -> MessageReport:
    return MessageReport(ref=ref, type=type, version="D", release="96A", agency="UN", assoc=None,
                         group_ref=group, issues=list(issues))


def ic(*messages: MessageReport, version: str = "3", syntax: str = "UNOA", issues: list[Issue] | None = None,
       **kw: Any) -> InterchangeReport:
    fields: dict[str, Any] = dict(sender="PARTNER", sender_qualifier="ZZZ", recipient="PORTNET",
                                  recipient_qualifier="ZZZ", control_ref="IC0001", syntax_id=syntax,
                                  syntax_version=version)
    fields.update(kw)
    return InterchangeReport(messages=list(messages), issues=issues or [], **fields)


def contrl(*interchanges: InterchangeReport, **kw: Any) -> bytes | None:
    options: dict[str, Any] = dict(our_id="PORTNET", our_qualifier="ZZZ", control_ref="C000001", now=NOW)
    options.update(kw)
    return build_contrl(Report(interchanges=list(interchanges)), **options)


def one(*interchanges: InterchangeReport, **kw: Any) -> list[Seg]:
    data = contrl(*interchanges, **kw)
    assert data is not None
    [segments] = parse(data)
    return segments


def count_error(segment: int) -> Issue:
    return Issue(Code.COUNT_MISMATCH, "UNT count is wrong.", segment=segment, tag="UNT", element=1)


# --- envelope and verdicts ----------------------------------------------------------------------


def test_accepted_interchange_v3() -> None:
    segments = one(ic(msg("M1"), msg("M2")))
    assert segments == [
        ("UNA", [":+.? '"]),
        ("UNB", [["UNOA", "3"], ["PORTNET", "ZZZ"], ["PARTNER", "ZZZ"], ["250322", "1215"], "C000001"]),
        ("UNH", ["1", ["CONTRL", "D", "3", "UN"]]),
        ("UCI", ["IC0001", ["PARTNER", "ZZZ"], ["PORTNET", "ZZZ"], "7"]),
        ("UCM", ["M1", ["IFTMIN", "D", "96A", "UN"], "7"]),
        ("UCM", ["M2", ["IFTMIN", "D", "96A", "UN"], "7"]),
        ("UNT", ["5", "1"]),
        ("UNZ", ["1", "C000001"]),
    ]


def test_output_is_a_pydifact_interchange() -> None:
    data = contrl(ic(msg("M1")))
    assert data is not None
    parsed = Interchange.from_str(data.decode("ascii"))
    assert parsed.sender == ["PORTNET", "ZZZ"] and parsed.recipient == ["PARTNER", "ZZZ"]
    [message] = list(parsed.get_messages())
    assert message.type == "CONTRL" and message.reference_number == "1"


def test_unt_count_error_rejects_its_message_in_the_ucm() -> None:
    segments = one(ic(msg("M1", count_error(12)), msg("M2")))
    assert body(segments) == [
        ("UCI", ["IC0001", ["PARTNER", "ZZZ"], ["PORTNET", "ZZZ"], "7"]),
        # 0085 29, the service segment UNT, S011 0098 = 2: UNT's first data element (tag = 1)
        ("UCM", ["M1", ["IFTMIN", "D", "96A", "UN"], "4", "29", "UNT", "2"]),
        ("UCM", ["M2", ["IFTMIN", "D", "96A", "UN"], "7"]),
    ]


def test_second_trailer_error_becomes_a_ucs_at_its_position() -> None:
    mismatch = Issue(Code.REFERENCE_MISMATCH, "UNT ref.", segment=12, tag="UNT", element=2, offset=900)
    segments = one(ic(msg("M1", Issue(Code.COUNT_MISMATCH, "count", segment=12, tag="UNT", element=1,
                                      offset=900), mismatch)))
    assert body(segments)[1:] == [
        ("UCM", ["M1", ["IFTMIN", "D", "96A", "UN"], "4", "29", "UNT", "2"]),
        ("UCS", ["12"]),
        ("UCD", ["28", "3"]),
    ]


def test_element_and_segment_errors_give_ucs_and_ucd() -> None:
    issues = [
        Issue(Code.TOO_LONG, "too long", segment=5, tag="NAD", element=2, component=1, offset=100),
        Issue(Code.INVALID_CODE, "bad qualifier", segment=5, tag="NAD", element=1, offset=100),
        Issue(Code.UNEXPECTED_SEGMENT, "not here", segment=9, tag="XYZ", offset=300),
        Issue(Code.INVALID_CHARACTER_TYPE, "letters", segment=9, tag="XYZ", element=3, component=2,
              offset=300),
        Issue(Code.MISSING_ELEMENT, "missing", segment=9, tag="XYZ", element=3, component=2, offset=300),
    ]
    segments = one(ic(msg("M1", *issues)))
    assert body(segments)[1:] == [
        ("UCM", ["M1", ["IFTMIN", "D", "96A", "UN"], "4"]),
        ("UCS", ["5"]),
        ("UCD", ["12", "2"]),
        ("UCD", ["39", ["3", "1"]]),
        ("UCS", ["9", "15"]),
        ("UCD", ["37", ["4", "2"]]),  # one UCD per position: the second issue at 4:2 is not repeated
    ]


def test_interchange_level_unz_error_rejects_everything() -> None:
    unz = Issue(Code.COUNT_MISMATCH, "UNZ count", tag="UNZ", element=1, offset=500)
    segments = one(ic(msg("M1"), msg("M2", count_error(7)), issues=[unz]))
    assert body(segments) == [
        ("UCI", ["IC0001", ["PARTNER", "ZZZ"], ["PORTNET", "ZZZ"], "4", "29", "UNZ", "2"]),
        # rejected with the interchange: only the message with errors of its own is listed
        ("UCM", ["M2", ["IFTMIN", "D", "96A", "UN"], "4", "29", "UNT", "2"]),
    ]


def test_unb_component_error_positions_in_uci() -> None:
    bad = Issue(Code.UNSUPPORTED_SYNTAX, "syntax", tag="UNB", element=1, component=2, offset=0)
    segments = one(ic(msg("M1"), issues=[bad]))
    assert body(segments) == [("UCI", ["IC0001", ["PARTNER", "ZZZ"], ["PORTNET", "ZZZ"], "4", "2", "UNB",
                                       ["2", "2"]])]


def test_empty_interchange_is_answered_not_skipped() -> None:
    empty = Issue(Code.EMPTY_INTERCHANGE, "no message", tag="UNZ", offset=40)
    segments = one(ic(issues=[empty]))
    assert body(segments) == [("UCI", ["IC0001", ["PARTNER", "ZZZ"], ["PORTNET", "ZZZ"], "4", "32", "UNZ"])]


def test_warnings_stay_out_and_uncoded_errors_still_reject() -> None:
    warning = Issue(Code.TRAILING_SEPARATOR, "trailing", Severity.WARNING, segment=3, tag="DTM", element=2)
    uncoded = Issue(Code.XML_SCHEMA_INVALID, "no 0085 code", segment=4, tag="RFF")
    segments = one(ic(msg("M1", warning), msg("M2", uncoded),
                      issues=[Issue(Code.TEST_INDICATOR, "test", Severity.WARNING, tag="UNB", element=11)]))
    assert body(segments) == [
        ("UCI", ["IC0001", ["PARTNER", "ZZZ"], ["PORTNET", "ZZZ"], "7"]),
        ("UCM", ["M1", ["IFTMIN", "D", "96A", "UN"], "7"]),
        ("UCM", ["M2", ["IFTMIN", "D", "96A", "UN"], "4"]),
    ]


def test_rejected_message_without_reference_rejects_the_interchange() -> None:
    unnamed = MessageReport(ref=None, type="IFTMIN", version="D", release="96A", agency="UN", assoc=None,
                            issues=[Issue(Code.MISSING_ELEMENT, "no ref", segment=1, tag="UNH", element=1)])
    segments = one(ic(msg("M1"), unnamed))
    assert body(segments) == [("UCI", ["IC0001", ["PARTNER", "ZZZ"], ["PORTNET", "ZZZ"], "4", "13", "UNH"])]


def test_receipt_only_is_uci_8() -> None:
    assert body(one(ic(msg("M1", count_error(5))), receipt_only=True)) == [
        ("UCI", ["IC0001", ["PARTNER", "ZZZ"], ["PORTNET", "ZZZ"], "8"])]
    bad = Issue(Code.REFERENCE_MISMATCH, "UNZ ref", tag="UNZ", element=2)
    assert body(one(ic(msg("M1"), issues=[bad]), receipt_only=True)) == [
        ("UCI", ["IC0001", ["PARTNER", "ZZZ"], ["PORTNET", "ZZZ"], "4", "28", "UNZ", "3"])]


# --- never a CONTRL for a CONTRL; nothing to address ------------------------------------------------


def test_no_contrl_for_a_contrl() -> None:
    assert contrl(ic(msg("1", type="CONTRL"), msg("2", type="CONTRL"))) is None
    assert contrl(ic(msg("1", count_error(4), type="CONTRL"))) is None


def test_contrl_messages_in_a_mixed_interchange_get_no_ucm() -> None:
    segments = one(ic(msg("1", type="CONTRL"), msg("2")))
    assert [e[0] for t, e in body(segments) if t == "UCM"] == ["2"]


def test_nothing_to_address_or_not_edifact() -> None:
    assert contrl(ic(msg("M1"), sender=None)) is None
    assert build_contrl(Report(syntax="xml"), our_id="P", control_ref="1", now=NOW) is None
    assert build_contrl(Report(issues=[Issue(Code.NOT_EDIFACT, "x")]), our_id="P", control_ref="1",
                        now=NOW) is None


# --- several interchanges ---------------------------------------------------------------------------


def test_several_interchanges_concatenated_with_derived_refs() -> None:
    data = contrl(ic(msg("A"), control_ref="X1"), ic(msg("B", type="CONTRL"), control_ref="X2"),
                  ic(msg("C"), control_ref="X3", version="4"))
    assert data is not None
    first, third = parse(data)
    assert first[1][1][4] == "C0000011" and first[-1][1] == ["1", "C0000011"]
    assert third[1][1][4] == "C0000013"  # the second got no CONTRL but keeps its number
    assert third[0] == ("UNA", [":+.?*'"]) and third[2][1][1] == ["CONTRL", "4", "1", "UN"]
    assert [body(first)[0][1][0], body(third)[0][1][0]] == ["X1", "X3"]


def test_same_report_same_bytes() -> None:
    report = [ic(msg("M1", count_error(3))), ic(msg("M2"))]
    assert contrl(*report) == contrl(*report)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        contrl(ic(msg("M1")), control_ref="c-1")
    with pytest.raises(ValueError):
        contrl(ic(msg("M1")), syntax_version="2")
    with pytest.raises(ValueError):
        contrl(ic(msg("A")), ic(msg("B")), control_ref="12345678901234")
    with pytest.raises(ValueError):
        contrl(ic(msg("A")), our_id=" ")


# --- syntax 4 ---------------------------------------------------------------------------------------


def test_v4_layout() -> None:
    unsupported = Issue(Code.UNSUPPORTED_MESSAGE, "unknown", segment=1, tag="UNH", element=2, component=2)
    decimal = Issue(Code.INVALID_DECIMAL, "decimal", segment=6, tag="QTY", element=1, component=2)
    segments = one(ic(msg("M1", unsupported), msg("M2", decimal), msg("M3"), version="4"))
    assert segments[:3] == [
        ("UNA", [":+.?*'"]),
        ("UNB", [["UNOA", "4"], ["PORTNET", "ZZZ"], ["PARTNER", "ZZZ"], ["20250322", "1215"], "C000001"]),
        ("UNH", ["1", ["CONTRL", "4", "1", "UN"]]),
    ]
    assert body(segments)[1:] == [
        # syntax 4 has no code 3 or 19: 14 "value not supported in this position", 12 "invalid value"
        ("UCM", ["M1", ["IFTMIN", "D", "96A", "UN"], "4", "14", "UNH", ["3", "2"]]),
        ("UCM", ["M2", ["IFTMIN", "D", "96A", "UN"], "4"]),
        ("UCS", ["6"]),
        ("UCD", ["12", ["2", "2"]]),
        ("UCM", ["M3", ["IFTMIN", "D", "96A", "UN"], "7"]),
    ]


def test_v3_keeps_codes_and_syntax_2_envelope() -> None:
    unsupported = Issue(Code.UNSUPPORTED_MESSAGE, "unknown", segment=1, tag="UNH", element=2)
    segments = one(ic(msg("M1", unsupported), version="2"))
    assert segments[1][1][0] == ["UNOA", "2"] and segments[1][1][3] == ["250322", "1215"]
    assert segments[2][1][1] == ["CONTRL", "D", "3", "UN"]
    assert body(segments)[1] == ("UCM", ["M1", ["IFTMIN", "D", "96A", "UN"], "4", "3", "UNH", "3"])


def test_syntax_version_override() -> None:
    assert one(ic(msg("M1"), version="3"), syntax_version="4")[2][1][1] == ["CONTRL", "4", "1", "UN"]
    v3 = one(ic(msg("M1"), version="4"), syntax_version="3")
    assert v3[1][1][0] == ["UNOA", "3"] and v3[2][1][1] == ["CONTRL", "D", "3", "UN"]


# --- functional groups ------------------------------------------------------------------------------


def test_ucf_per_group_v3_and_v4() -> None:
    interchange = ic(msg("1", group="G1"), msg("2", count_error(4), group="G1"), msg("3", group="G2"))
    assert body(one(interchange, group_parties={"G1": ("APPSEND", "APPRECV")}))[1:] == [
        ("UCF", ["G1", "APPSEND", "APPRECV", "7"]),
        ("UCM", ["1", ["IFTMIN", "D", "96A", "UN"], "7"]),
        ("UCM", ["2", ["IFTMIN", "D", "96A", "UN"], "4", "29", "UNT", "2"]),
        ("UCF", ["G2", ["PARTNER", "ZZZ"], ["PORTNET", "ZZZ"], "7"]),  # syntax 3 needs S006/S007
        ("UCM", ["3", ["IFTMIN", "D", "96A", "UN"], "7"]),
    ]
    interchange.syntax_version = "4"
    assert body(one(interchange))[4] == ("UCF", ["G2", "", "", "7"])  # optional in syntax 4
    assert [t for t, _ in body(one(interchange, ucf=False))] == ["UCI", "UCM", "UCM", "UCM"]


# --- characters ---------------------------------------------------------------------------------


def test_unoa_sanitising() -> None:
    segments = one(ic(msg("réf1"), sender="Partner-é", sender_qualifier="zz", control_ref="ic_1"),
                   our_id="Port@net")
    assert segments[1][1][1:3] == [["PORT NET", "ZZZ"], ["PARTNER-E", "ZZ"]]
    assert body(segments) == [
        ("UCI", ["IC 1", ["PARTNER-E", "ZZ"], ["PORTNET", "ZZZ"], "7"]),
        ("UCM", ["REF1", ["IFTMIN", "D", "96A", "UN"], "7"]),
    ]
    data = contrl(ic(msg("réf1"), sender="Partner-é"), our_id="Port@net")
    assert data is not None and set(data.decode("ascii")) <= LEVEL_A


def test_unoc_keeps_latin_1_and_release_characters_round_trip() -> None:
    data = contrl(ic(msg("RÉF+1"), syntax="UNOC", sender="SOCIÉTÉ:X"), our_id="HUB'1?")
    assert data is not None
    assert b"SOCI\xc9T\xc9?:X" in data and b"HUB?'1??" in data
    [segments] = parse(data, "iso8859-1")
    assert segments[1][1][1:3] == [["HUB'1?", "ZZZ"], ["SOCIÉTÉ:X", "ZZZ"]]
    assert body(segments)[1][1][0] == "RÉF+1"


def test_v4_releases_the_repetition_separator() -> None:
    data = contrl(ic(msg("A*1"), version="4"))
    assert data is not None and b"UCM+A?*1+" in data
    [segments] = parse(data)
    assert body(segments)[1][1][0] == "A*1"
    v3 = contrl(ic(msg("A*1")))
    assert v3 is not None and b"UCM+A*1+" in v3


def test_unknown_syntax_answered_in_unoa_and_long_values_cut() -> None:
    segments = one(ic(msg("M" * 20), syntax="XXXX", control_ref="R" * 20))
    assert segments[1][1][0] == ["UNOA", "3"]
    assert body(segments)[0][1][0] == "R" * 14 and body(segments)[1][1][0] == "M" * 14


def test_sanitise_table() -> None:
    assert sanitise("Zoë & Co, n°5", "UNOA") == "ZOE & CO, N 5"
    assert sanitise("Zoë_x", "UNOB") == "Zoe x"
    assert sanitise("Zoë\tx", "UNOC") == "Zoë x"
    assert sanitise("Łódź", "UNOA") == "LODZ" and sanitise("Łódź", "UNOC") == "Lódz"
    assert sanitise("Łódź", "UNOD") == "Łódź" and sanitise("Ærø", "UNOB") == "AEro"
    assert sanitise("漢字", "UNOW") == "漢字" and sanitise("漢字", "UNOC") == "  "


def test_many_errors_are_capped_by_the_segment_table() -> None:
    bad = Code.INVALID_CODE
    issues = [Issue(bad, "x", segment=n, tag="FTX", element=1, offset=n) for n in range(2, 1102)]
    issues += [Issue(bad, "x", segment=2, tag="FTX", element=e, offset=2) for e in range(2, 200)]
    tags = [t for t, _ in body(one(ic(msg("M1", *issues))))]
    assert tags.count("UCS") == 999
    assert tags[2:103] == ["UCS"] + ["UCD"] * 99 + ["UCS"]
