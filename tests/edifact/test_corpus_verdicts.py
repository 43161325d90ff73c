"""The verdict on every EDIFACT file of the third-party corpus, each checked by hand.

Every file of `tests/corpus.py:edifact_files()` has one entry below, keyed by its path relative to the
corpus: the exact SET of error codes (`Issue.code.ident` of severity error, at every level) the
validator must report, or `ACCEPTED`. Warnings (trailing separators, test indicator, empty segment)
are not pinned.

Each issue was checked against the UNECE directory text of the message's release
(`directories/unece-untdid`: TRSD/EDSD segments, TRCD/EDCD composites, TRED/EDED formats, UNCL code
lists, TRMD/EDMD segment tables; D99B, D03B and D16A from the zips), against UNSL (D95B/D96A) and
ISO 9735 for the service segments, and against the hub's SMDG guides for the `guide-*` codes.
A UN code list is applied only when the composite's 3055 is absent or 6.

Where the validator is wrong, the entry pins the CORRECT verdict and is marked
`xfail(strict=True)` with the reason, so the bug stays visible and the mark must go when it is fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.edifact import validate
from hub.report import Severity
from tests.corpus import CORPUS, edifact_files

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus folder {CORPUS} is absent")

ACCEPTED: frozenset[str] = frozenset()


def rejected(*codes: str) -> frozenset[str]:
    return frozenset(codes)


def bug(expected: frozenset[str], reason: str) -> Any:
    """The correct verdict of a file the validator gets wrong today."""
    return pytest.param(expected, marks=pytest.mark.xfail(strict=True, reason=reason))


VERDICTS: dict[str, Any] = {
    # --- EdiFabric ----------------------------------------------------------------------------------
    # UNOA:2, so UNB 0017 is n6: '20130430' too long. BGM 3055 'LOADONLY' not a 3055 code; BGM 4343
    # '38' not in D13B 4343; TDT element 7 is C401 (vessel sent one position early): 8457 '9354351' and
    # 8459 '11' not in their lists; UNT says 21, message has 22. All checked in D13B.
    "EdiFabric__EDIFACT.NET/Bayplan.txt": rejected(
        "too-long", "invalid-code", "count-mismatch"),
    # UNB S001 is 'UNOB' alone: 0002 syntax version (M) missing. Test indicator is only a warning.
    "EdiFabric__EDIFACT.NET/CONTRL.txt": rejected("missing-component"),
    # CUSCAR D03B: TDT 8101 'I', EQD 8053 'BI', CNT 6069 '58', GEI 9649 '7' and 7365 '135' (no 3055)
    # are not UN codes; RFF after SEL is not in SG5 and DOC right after CNI is only allowed in SG15
    # (inside SG14 of SG8): unexpected. Checked against EDSD/UNCL/CUSCAR_D.03B.
    "EdiFabric__EDIFACT.NET/CargoReport.txt": rejected("invalid-code", "unexpected-segment"),
    # UNOA:2 UNB date '20130430' too long (n6). EANCOM codes without 3055: PIA 7143 'SRV', MEA 6313
    # 'X7E', PCI 4233 '33E' are not in D96A UNCL.
    "EdiFabric__EDIFACT.NET/Instruction.txt": rejected("too-long", "invalid-code"),
    # Syntax 4: UNB and UNG date '041013' must be n8. D03B: RFF 1153 'RFA', EMP 9035 '8', DOC 1001 '5K'
    # (US CBP codes) are not UN codes.
    "EdiFabric__EDIFACT.NET/PassengerList.txt": rejected("too-short", "invalid-code"),
    # --- MJapdeva4302 -------------------------------------------------------------------------------
    # Clean SMDG20 D95B bayplan; TMP values like '-28.0', '13.8' have the 3 digits n3 requires.
    "MJapdeva4302__ReadBaplie/BAPLIE_Export.EDI": ACCEPTED,
    # The same bayplan with an extra numeric element after every tag: everything shifts (guide and UN
    # codes, simple elements with components, element counts, TMP n3 '2'), UNT+4+6877 wrong count and
    # reference. Same code set with an unlimited issue budget.
    "MJapdeva4302__ReadBaplie/BAPLIE_VERSION2_EXPORT_NEW.edi": rejected(
        "components-in-simple-element", "count-mismatch", "guide-element-not-used",
        "guide-element-required", "guide-invalid-value", "invalid-code", "reference-mismatch",
        "too-long", "too-many-elements", "too-short"),
    # COARRI D23A: no such directory in the hub. 'El Bluff' in LOC 3224 is lower case under UNOA.
    "MJapdeva4302__ReadBaplie/COARRI_NEW.edi": rejected("unsupported-message", "invalid-character"),
    # MOVINS D95B: SG1 LOC is M1 (LOC+61 is a second one); SG3 lacks its mandatory RFF (0160) and NAD
    # (0210); RFF after LOC opens SG8, whose SG9 DGS is mandatory, and EQD cannot follow it; EQD 8155
    # '45R1'/'45G1' without 3055 are not in D95B UNCL 8155 (no MOVINS guide switches the list off).
    "MJapdeva4302__ReadBaplie/MOVINS_VERSION2_NEW.edi": rejected(
        "too-many-segment-repetitions", "missing-segment", "unexpected-segment", "invalid-code"),
    # COARRI D23A unsupported; 'Puerto Moin', 'Tampa' lower case under UNOA.
    "MJapdeva4302__ReadBaplie/output.edi": rejected("unsupported-message", "invalid-character"),
    # As output.edi, and UNT says 000521 segments, the message has 480.
    "MJapdeva4302__ReadBaplie/outputExportDGS.edi": rejected(
        "unsupported-message", "invalid-character", "count-mismatch"),
    # --- OpenShipping -------------------------------------------------------------------------------
    # UNH then UNZ: no BGM, DTM, SG1 TDT, UNT (D95B BAPLIE), and no UNT trailer.
    "OpenShipping__edi-convert/ASJ.edi.txt": rejected("missing-segment", "missing-unt"),
    # GDS 7085 'REEF' is 4 characters, an..3 in D95B (SMDG20 switches the code list off, not the format).
    "OpenShipping__edi-convert/GBSOU_arrival.BAPLIE.edi.txt": rejected("too-long"),
    # BAPLIE:1:911 (SMDG 1.5 trial message) has no directory; UNB 'xxX' lower case under UNOA.
    "OpenShipping__edi-convert/job_43002_input_Release_data.txt": rejected(
        "unsupported-message", "invalid-character"),
    # UNB 'xxX' lower case under UNOA; DGS 8339 'III', 'II', '-' are not D95B packing group codes 1-3.
    "OpenShipping__edi-convert/job_43003_input_Release_data.txt": rejected(
        "invalid-character", "invalid-code"),
    # --- apimeister ---------------------------------------------------------------------------------
    # D00B: RFF 1153 '4F' not a code; STS 3055 'HS' not an agency (so 4405 'P' is rightly not checked);
    # UNZ reference 2805570 vs UNB 2803570.
    "apimeister__edifact-types/d00b_iftsta.edi": rejected("invalid-code", "reference-mismatch"),
    # UNOA:2 UNB date '00091022' too long (n6); D04B not in the hub. UNH S009 has 7 components
    # (0110/0113 are syntax 4 only; S009 has 5 in version 2/3): too-many-components, missed.
    "apimeister__edifact-types/d04b_baplie.edi": rejected("too-long", "unsupported-message", "too-many-components"),
    # Message only (no UNB/UNZ). D95B: BGM 1001 '45', RFF 1153 'XXX', MEA 6313 'VGM' are not codes;
    # UNT says 56, message has 29.
    "apimeister__edifact-types/d95b_coprar.edi": rejected(
        "missing-unb", "missing-unz", "invalid-code", "count-mismatch"),
    # D00B: GIN 7405 'ZON' not a code; UNT says 61, message has 70 (the empty segment '' is ignored).
    "apimeister__edifact-types/test_iftmin.rs__extracted_IFTMIN.edi": rejected(
        "invalid-code", "count-mismatch"),
    # --- glasdam ------------------------------------------------------------------------------------
    # CONTRL:D:93A is not a service CONTRL the hub knows (D:3 or 4:1). UNH S009 0051 'ZZ' is not in the
    # UNSL 0051 list (AA..UN): invalid-code, missed.
    "glasdam__edifact_converter/CTL01_1.edi": rejected("unsupported-message", "invalid-code"),
    "glasdam__edifact_converter/CTL02_1.edi": rejected("unsupported-message", "invalid-code"),
    # --- henry0hai ----------------------------------------------------------------------------------
    # UNB 0020 empty (element 9 holds '123456789BGFREIGHTLINE', not an 0031 code), so UNZ reference
    # cannot match; BAPLIE:1:911 has no directory; '$' (LOC) is not in UNOA.
    "henry0hai__parse-baplie/demo_v15.edi": rejected(
        "missing-element", "invalid-code", "reference-mismatch", "unsupported-message",
        "invalid-character"),
    # --- indice-co ----------------------------------------------------------------------------------
    # D01B: GID C213 7065 '350114081527920321' is 18 > an..17 (agency 9, so format only); lower case FTX
    # under UNOA; MEA 6313 'UCO' not a code; UNT says 787, message has 27.
    "indice-co__EDI.Net/edifact.D01B.IFCSUM.EDI": rejected(
        "too-long", "invalid-character", "invalid-code", "count-mismatch"),
    # Four 3-segment messages: BGM (both), IFTMIN SG11 NAD, INVOIC UNS and SG48 MOA missing; UNT+1;
    # two UNT reference 43 for UNH 44; UNZ says 1 of 4. UNH reference 44 occurs twice in the
    # interchange (0062 must be unique; 0085 code 26): duplicate-reference.
    "indice-co__EDI.Net/edifact.Issue188.edi": rejected(
        "missing-segment", "count-mismatch", "reference-mismatch", "duplicate-reference"),
    # --- nerdocs ------------------------------------------------------------------------------------
    # APERAK D96A: lower-case FTX text under UNOA; UNT says 8, message has 7.
    "nerdocs__pydifact/v3_aperak.edi": rejected("invalid-character", "count-mismatch"),
    "nerdocs__pydifact/v3_aperak_rejected.edi": rejected("invalid-character", "count-mismatch"),
    # Same, syntax 4: UNB date '250322' must be n8 (CCYYMMDD).
    "nerdocs__pydifact/v4_aperak.edi": rejected("too-short", "invalid-character", "count-mismatch"),
    "nerdocs__pydifact/v4_aperak_rejected.edi": rejected(
        "too-short", "invalid-character", "count-mismatch"),
    # --- nezpik -------------------------------------------------------------------------------------
    # D15A not in the hub; UNT says 24, message has 23 (blank lines are not segments).
    "nezpik__Pistology-3DBaplie/sample_baplie.txt": rejected("unsupported-message", "count-mismatch"),
    # --- php-edifact --------------------------------------------------------------------------------
    # UNB 0007 '01' and 'ZZ' are not in UNSL 0007 ('1', 'ZZZ' are); SMDG20 guide: TDT C040 3055 '182'
    # (20/166/ZZZ), DTM 2379 '203' (101/201/301), RFF 1153 '042' and its missing 1154.
    "php-edifact__edifact/D95BBAPLIE.edi": rejected(
        "invalid-code", "guide-invalid-value", "guide-element-required"),
    # D95B: BGM 1001 '44'/'46', MEA 6313 'EGW', DGS 8339 'CN' are not UN codes.
    "php-edifact__edifact/D95BCOARRI.edi": rejected("invalid-code"),
    # Clean COPARN D95B.
    "php-edifact__edifact/README.md__COPARN.edi": ACCEPTED,
    # UNB date '999818' is no date; time '999' is 3 digits (n4); UNT says 10, message has 7. The FTX
    # value holds a line feed (the segment is wrapped inside 4440): LF is not in UNOB; line breaks are
    # only tolerated between segments (line-break-in-segment, 0085 code 21).
    "php-edifact__edifact/example_multiline.edi": rejected(
        "bad-date", "too-short", "count-mismatch", "line-break-in-segment"),
    # D95B: EQD C224 1131 '6346' > an..3; 3055 '306' not in the D95B list (so 8155 unchecked); SEL 9308
    # is a simple element but has '1234567:CA'.
    "php-edifact__edifact-generator/SAMPLES.md__CODECO.edi": rejected(
        "too-long", "invalid-code", "components-in-simple-element"),
    # D17B not in the hub; lower case in BGM, NAD, FTX under UNOA.
    "php-edifact__edifact-generator/SAMPLES.md__COHAOR.edi": rejected(
        "unsupported-message", "invalid-character"),
    # D00B: DTM 2005 '798' and MEA 6313 'VGM' not yet UN codes (DIM 6145 '13' is, in D00B).
    "php-edifact__edifact-generator/SAMPLES.md__COPARN.edi": rejected("invalid-code"),
    # D95B: BGM 1001 '45', RFF 1153 'XXX', DTM 2005 '798', MEA 6313 'VGM', DIM 6145 '13' not codes.
    "php-edifact__edifact-generator/SAMPLES.md__COPRAR.edi": rejected("invalid-code"),
    # '@' (COM) is not in UNOA; D16A SEL 9308 is a simple element but has '45545:CA'.
    "php-edifact__edifact-generator/SAMPLES.md__VERMAS.edi": rejected(
        "invalid-character", "components-in-simple-element"),
    # WESTIM:0 is no UN message; S009 lacks 0054 and 0051 (mandatory): missing-component, missed.
    "php-edifact__edifact-generator/SAMPLES.md__WESTIM.edi": rejected("unsupported-message", "missing-component"),
    # --- portxchange: IFTSAI D99B; BGM 1001 'TS2' and RFF 1153 'SSX' are not UN codes -----------------
    "portxchange__scala-edifact-parser/VIFTSAI0000001.txt": rejected("invalid-code", "missing-unz"),
    "portxchange__scala-edifact-parser/VIFTSAI0000002.txt": rejected("invalid-code", "missing-unz"),
    "portxchange__scala-edifact-parser/VIFTSAI0000003.txt": rejected("invalid-code", "missing-unz"),
    "portxchange__scala-edifact-parser/VIFTSAI0000004.txt": rejected("invalid-code"),
    "portxchange__scala-edifact-parser/VIFTSAI0000005.txt": rejected("invalid-code", "missing-unz"),
    # --- shogg --------------------------------------------------------------------------------------
    # DTM+133+test: D95B DTM has one element, and 'test' is lower case under UNOA; TMP 6246 '-18' has 2
    # digits, n3 needs 3 (sign not counted: '-018'); DGS 8339 '4' not in 1-3; UNT says 18142 of 24.
    "shogg__edifact/unmarshal_baplie_test.go__extracted_BAPLIE.edi": rejected(
        "too-many-elements", "invalid-character", "too-short", "invalid-code", "count-mismatch"),
    # --- smooks -------------------------------------------------------------------------------------
    # Syntax 4: UNB and UNG date '041013' must be n8.
    "smooks__smooks-edi-cartridge/paxlst.txt": rejected("too-short"),
    # --- xeredi: message-only samples (no UNB, no UNZ) ----------------------------------------------
    # APERAK D00A is not in the hub.
    "xeredi__portico/aperak1.itc": rejected("missing-unb", "missing-unz", "unsupported-message"),
    "xeredi__portico/aperak2.itc": rejected("missing-unb", "missing-unz", "unsupported-message"),
    "xeredi__portico/aperak3.itc": rejected("missing-unb", "missing-unz", "unsupported-message"),
    # Proprietary BERMAN: S009 is 'BERMAN' only; UNT count 13081976223455 and no UNT reference. Missed:
    # UNH has 7 elements (4 in v3), S009 lacks 0052/0054/0051, S010 0070 has 14 digits (n..2), UNT
    # 0074 has 14 digits (n..6) and UNT 0062 is empty.
    "xeredi__portico/berman1.itc": rejected("missing-unb", "missing-unz", "unsupported-message", "count-mismatch",
                 "reference-mismatch", "too-many-elements", "missing-component", "too-long",
                 "missing-element"),
    # CODECO D00B: LOC C517 3055 '6 ' (trailing space) and C519 3055 'SMD' are not agencies; UNT 35 of 28.
    "xeredi__portico/codeco1.itc": rejected(
        "missing-unb", "missing-unz", "invalid-code", "count-mismatch"),
    # C519 3055 'SMD', MEA 6313 'VGM' (not in D00B); UNT 35 of 28.
    "xeredi__portico/codeco2.itc": rejected(
        "missing-unb", "missing-unz", "invalid-code", "count-mismatch"),
    # 3055 'SMD' (LOC, NAD), RFF 1153 'VGR', DTM 2005 'WAT', MEA 6313 'VGM'; UNT 33 of 32.
    "xeredi__portico/codeco3.itc": rejected(
        "missing-unb", "missing-unz", "invalid-code", "count-mismatch"),
    # RFF 'VOR', 3055 'SMD', DTM 'WAT', MEA 'VGM' not D00B codes; UNT count right (16).
    "xeredi__portico/codeco4.itc": rejected("missing-unb", "missing-unz", "invalid-code"),
    # RFF 'VOR', DTM 'WAT', MEA 'VGM'; UNT 29 of 15.
    "xeredi__portico/codeco5.itc": rejected(
        "missing-unb", "missing-unz", "invalid-code", "count-mismatch"),
    # CUSCAR D95A not in the hub; UNT 23 of 27.
    "xeredi__portico/cuscar1.itc": rejected(
        "missing-unb", "missing-unz", "unsupported-message", "count-mismatch"),
    # CUSRES:1:921 (trial message) has no directory.
    "xeredi__portico/cusres1.itc": rejected("missing-unb", "missing-unz", "unsupported-message"),
    "xeredi__portico/cusres2.itc": rejected("missing-unb", "missing-unz", "unsupported-message"),
    # IFCSUM D01B content is clean; only the envelope is absent.
    "xeredi__portico/ifcsum1.itc": rejected("missing-unb", "missing-unz"),
    # IFCSUM:S:93A has no directory; ifcsum3/4 also UNT says 24 of 328 / 1928.
    "xeredi__portico/ifcsum2.itc": rejected("missing-unb", "missing-unz", "unsupported-message"),
    "xeredi__portico/ifcsum3.itc": rejected(
        "missing-unb", "missing-unz", "unsupported-message", "count-mismatch"),
    "xeredi__portico/ifcsum4.itc": rejected(
        "missing-unb", "missing-unz", "unsupported-message", "count-mismatch"),
    # --- xlate --------------------------------------------------------------------------------------
    # SMDG20 guide: EQD 8260 'TOLU 2566410' must be one string (TOLU2566410); the rest is clean D95B.
    "xlate__staedi/baplie-test.edi": rejected("guide-invalid-value"),
}


def _rel(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def _params() -> list[Any]:
    out = []
    for rel, entry in VERDICTS.items():
        if hasattr(entry, "marks"):  # a pytest.param from bug()
            out.append(pytest.param(rel, *entry.values, marks=entry.marks, id=rel))
        else:
            out.append(pytest.param(rel, entry, id=rel))
    return out


def test_corpus_is_not_empty() -> None:
    assert edifact_files(), f"no EDIFACT file found in {CORPUS}"


def test_every_corpus_file_has_a_verdict() -> None:
    on_disk = {_rel(p) for p in edifact_files()}
    missing = sorted(on_disk - set(VERDICTS))
    stale = sorted(set(VERDICTS) - on_disk)
    assert not missing, f"corpus files without a pinned verdict (check them by hand, then add): {missing}"
    assert not stale, f"verdicts for files no longer in the corpus: {stale}"


@pytest.mark.parametrize(("rel", "expected"), _params())
def test_corpus_verdict(rel: str, expected: frozenset[str]) -> None:
    path = CORPUS / rel
    if not path.is_file():
        pytest.skip(f"{rel} is not in this corpus")
    report = validate(path.read_bytes())
    errors = {i.code.ident for i in report.all_issues() if i.severity is Severity.ERROR}
    assert report.accepted == (not expected)
    assert errors == expected, (f"{rel}: unexpected {sorted(errors - expected)}, "
                                f"missing {sorted(expected - errors)}")
