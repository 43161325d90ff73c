"""The compiled UN/EDIFACT directories in schemas/edifact (tools/compile_directories.py).

The facts pinned here were read by hand from the UNECE text files of each distribution (the
file is named in each test). Tests that need the distribution zips themselves are skipped when
the corpus folder is absent; the others only need the compiled files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas" / "edifact"
CORPUS = REPO.parent / "shared" / "corpus" / "directories" / "unece-untdid"
COMPILER = REPO / "tools" / "compile_directories.py"

RELEASES = ["D95B", "D96A", "D99B", "D00B", "D01B", "D03B", "D13B", "D16A"]
SERVICE = ["SERVICE3", "SERVICE4"]
# Number of message files in each release's EDMD/TRMD zip (counted by hand with `unzip -l`).
MESSAGE_COUNTS = {"D95B": 115, "D96A": 125, "D99B": 180, "D00B": 191, "D01B": 194, "D03B": 192,
                  "D13B": 194, "D16A": 195}
SERVICE_SEGMENTS = {"SERVICE3": {"UNH", "UNT", "UNS"}, "SERVICE4": {"UNH", "UNT", "UNS", "UGH", "UGT"}}

needs_corpus = pytest.mark.skipif(not (CORPUS / "zip").is_dir(), reason="directory corpus not present")


@cache
def load(name: str) -> dict[str, Any]:
    with gzip.open(SCHEMAS / f"{name}.json.gz", "rb") as f:
        doc: dict[str, Any] = json.load(f)
    return doc


def walk(items: list[Any]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for item in items:
        if isinstance(item, dict):
            out.extend(walk(item["items"]))
        else:
            out.append(item)
    return out


def groups(items: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict):
            out.append(item)
            out.extend(groups(item["items"]))
    return out


# ---------------------------------------------------------------------------------------------
# Shape of every file
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RELEASES + SERVICE)
def test_file_has_format_1_shape(name: str) -> None:
    doc = load(name)
    assert set(doc) == {"format", "directory", "source", "elements", "composites", "segments",
                        "codes", "messages"}
    assert doc["format"] == 1
    assert doc["directory"] == name
    for eid, e in doc["elements"].items():
        assert re.fullmatch(r"\d{4}", eid), eid
        assert set(e) == {"name", "type", "min", "max"}
        assert e["type"] in ("a", "n", "an"), (eid, e)
        assert 1 <= e["min"] <= e["max"], (eid, e)
        assert e["name"] and e["name"].isascii()
    for cid, c in doc["composites"].items():
        assert re.fullmatch(r"[CES]\d{3}", cid), cid
        assert c["components"], cid
        for comp in c["components"]:
            assert len(comp) == 2 and comp[1] in ("M", "C"), (cid, comp)
    for tag, s in doc["segments"].items():
        assert re.fullmatch(r"[A-Z]{3}", tag), tag
        for el in s["elements"]:
            assert len(el) == 3 and el[1] in ("M", "C") and isinstance(el[2], int) and el[2] >= 1, (tag, el)
    for eid, codes in doc["codes"].items():
        assert codes, eid
        assert len(codes) == len(set(codes)), eid
    for code, m in doc["messages"].items():
        assert re.fullmatch(r"[A-Z]{6}", code)
        assert m["name"]
        structure = m["structure"]
        assert structure[0] == ["UNH", "M", 1] and structure[-1] == ["UNT", "M", 1], code
        for seg in walk(structure):
            assert len(seg) == 3 and seg[1] in ("M", "C") and seg[2] >= 1, (code, seg)
        numbers = [g["group"] for g in groups(structure)]
        assert numbers == list(range(1, len(numbers) + 1)), code  # numbered in table order
        for g in groups(structure):
            assert set(g) == {"group", "req", "max", "items"} and g["req"] in ("M", "C") and g["max"] >= 1
            assert g["items"] and not isinstance(g["items"][0], dict), (code, g["group"])  # trigger first


@pytest.mark.parametrize("name", RELEASES)
def test_source_names_the_zip(name: str) -> None:
    assert re.fullmatch(rf"{name.lower()}\.zip sha256:[0-9a-f]{{64}}", load(name)["source"])


@needs_corpus
@pytest.mark.parametrize("name", RELEASES)
def test_source_hash_matches_the_corpus_zip(name: str) -> None:
    digest = hashlib.sha256((CORPUS / "zip" / f"{name.lower()}.zip").read_bytes()).hexdigest()
    assert load(name)["source"] == f"{name.lower()}.zip sha256:{digest}"


# ---------------------------------------------------------------------------------------------
# Referential integrity
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RELEASES)
def test_every_segment_of_every_message_is_defined(name: str) -> None:
    doc = load(name)
    service = load("SERVICE3")["segments"].keys() | load("SERVICE4")["segments"].keys()
    missing = {(code, tag) for code, m in doc["messages"].items() for tag, _, _ in walk(m["structure"])
               if tag not in doc["segments"]}
    # Only service segments may come from elsewhere, and those are in the service directories.
    assert {tag for _, tag in missing} <= {"UNH", "UNT", "UNS", "UGH", "UGT"}, missing
    assert {tag for _, tag in missing} <= service


@pytest.mark.parametrize("name", RELEASES + SERVICE)
def test_every_element_of_every_composite_and_segment_is_defined(name: str) -> None:
    doc = load(name)
    for cid, c in doc["composites"].items():
        for eid, _ in c["components"]:
            assert eid in doc["elements"], (cid, eid)
    for tag, s in doc["segments"].items():
        for eid, _, _ in s["elements"]:
            assert eid in doc["elements"] or eid in doc["composites"], (tag, eid)


@pytest.mark.parametrize("name", SERVICE)
def test_service_messages_use_only_service_segments(name: str) -> None:
    doc = load(name)
    for code, m in doc["messages"].items():
        for tag, _, _ in walk(m["structure"]):
            assert tag in doc["segments"], (code, tag)


@pytest.mark.parametrize("name", RELEASES + SERVICE)
def test_code_values_fit_their_element(name: str) -> None:
    doc = load(name)
    for eid, codes in doc["codes"].items():
        e = doc["elements"][eid]
        for code in codes:
            assert re.fullmatch(r"[A-Z0-9]+", code), (eid, code)  # no margin mark, no blank
            assert e["min"] <= len(code) <= e["max"], (eid, code, e)
            if e["type"] == "n":
                assert code.isdigit(), (eid, code)
            if e["type"] == "a":
                assert code.isalpha(), (eid, code)


# ---------------------------------------------------------------------------------------------
# All messages of each release
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RELEASES)
def test_message_count(name: str) -> None:
    assert len(load(name)["messages"]) == MESSAGE_COUNTS[name]


@needs_corpus
@pytest.mark.parametrize("name", RELEASES)
def test_all_messages_in_the_zip_are_compiled(name: str) -> None:
    found: set[str] = set()
    with zipfile.ZipFile(CORPUS / "zip" / f"{name.lower()}.zip") as outer:
        for info in outer.infolist():
            base = info.filename.rsplit("/", 1)[-1].upper()
            if "__MACOSX" in info.filename or base not in ("EDMD.ZIP", "TRMD.ZIP"):
                continue
            with zipfile.ZipFile(io.BytesIO(outer.read(info))) as inner:
                for member in inner.namelist():
                    m = re.fullmatch(r"([A-Z]{6})_D\.\w{3}", member.rsplit("/", 1)[-1].upper())
                    if m:
                        found.add(m.group(1))
    assert found, "no message files found in the zip"
    assert set(load(name)["messages"]) == found
    assert len(found) == MESSAGE_COUNTS[name]


# ---------------------------------------------------------------------------------------------
# Facts checked by hand against the UNECE text
# ---------------------------------------------------------------------------------------------


def test_d95b_baplie_structure() -> None:
    # d95b.zip TRMD.ZIP BAPLIE_D.95B, 4.3.1 segment table
    baplie = load("D95B")["messages"]["BAPLIE"]
    assert baplie["name"] == "Bayplan/stowage plan occupied and empty locations message"
    assert baplie["structure"] == [
        ["UNH", "M", 1], ["BGM", "M", 1], ["DTM", "M", 1], ["RFF", "C", 1], ["NAD", "C", 3],
        {"group": 1, "req": "M", "max": 3, "items": [
            ["TDT", "M", 1], ["LOC", "M", 2], ["DTM", "M", 99], ["RFF", "C", 1], ["FTX", "C", 1]]},
        {"group": 2, "req": "C", "max": 9999, "items": [
            ["LOC", "M", 1], ["GID", "C", 1], ["GDS", "C", 1], ["FTX", "C", 9], ["MEA", "M", 9],
            ["DIM", "C", 9], ["TMP", "C", 1], ["RNG", "C", 1], ["LOC", "C", 9], ["RFF", "M", 1],
            {"group": 3, "req": "C", "max": 3, "items": [["EQD", "M", 1], ["EQA", "C", 9], ["NAD", "C", 1]]},
            {"group": 4, "req": "C", "max": 999, "items": [["DGS", "M", 1], ["FTX", "C", 1]]}]},
        ["UNT", "M", 1],
    ]


def test_d13b_baplie_structure_ascii_drawing() -> None:
    # d13b.zip EDMD.ZIP BAPLIE_D.13B: ASCII drawing, five-digit positions, "+++|" closes three groups
    s = load("D13B")["messages"]["BAPLIE"]["structure"]
    assert s[:3] == [["UNH", "M", 1], ["BGM", "M", 1], ["DTM", "C", 9]]
    assert s[3] == {"group": 1, "req": "C", "max": 9, "items": [["RFF", "M", 1], ["DTM", "C", 9]]}
    assert s[4] == {"group": 2, "req": "C", "max": 9, "items": [
        ["NAD", "M", 1], {"group": 3, "req": "C", "max": 9, "items": [["CTA", "M", 1], ["COM", "C", 9]]}]}
    assert s[6] == ["UNS", "M", 1]
    sg6 = s[7]
    assert (sg6["group"], sg6["req"], sg6["max"]) == (6, "C", 99999)
    assert sg6["items"][:3] == [["LOC", "M", 1], ["FTX", "C", 9], ["RFF", "C", 9]]
    assert sg6["items"][-1] == ["CNT", "M", 1]  # closes group 6 only, after "+++|" closed 12, 11 and 7
    sg7 = sg6["items"][3]
    assert (sg7["group"], sg7["max"]) == (7, 9)
    assert [g["group"] for g in sg7["items"] if isinstance(g, dict)] == [8, 9, 10, 11]
    sg11 = sg7["items"][-1]
    assert sg11["max"] == 999
    assert sg11["items"][-1] == {"group": 12, "req": "C", "max": 9,
                                 "items": [["CTA", "M", 1], ["COM", "C", 9]]}
    assert s[8:] == [["UNT", "M", 1]]


def test_d99b_bopbnk_defective_drawing_is_read_by_its_bars() -> None:
    # BOPBNK_D.99B draws a stray closing corner on LOC 0160; D00B's table corrects it.
    s99 = load("D99B")["messages"]["BOPBNK"]["structure"]
    sg3 = s99[5]
    assert sg3["group"] == 3
    assert [i if isinstance(i, list) else i["group"] for i in sg3["items"]] == [
        ["RFF", "M", 1], ["CUX", "C", 1], ["MOA", "C", 9], ["LOC", "C", 1], 4]
    assert s99[-2:] == [["CNT", "C", 9], ["UNT", "M", 1]]
    assert s99 == load("D00B")["messages"]["BOPBNK"]["structure"]


@pytest.mark.parametrize("name", ["D00B", "D01B", "D03B", "D13B", "D16A"])
def test_wrapped_segment_name_in_table_is_kept(name: str) -> None:
    # QALITY: "SPS Sampling parameters for summary / statistics  C 1" spans two lines
    tags = [t for t, _, _ in walk(load(name)["messages"]["QALITY"]["structure"])]
    assert tags.count("SPS") == 4


def test_d95b_eqd() -> None:
    # TRSD.95B, EQD EQUIPMENT DETAILS
    eqd = load("D95B")["segments"]["EQD"]
    assert eqd["name"] == "Equipment details"
    assert eqd["elements"] == [["8053", "M", 1], ["C237", "C", 1], ["C224", "C", 1],
                               ["8077", "C", 1], ["8249", "C", 1], ["8169", "C", 1]]
    assert load("D95B")["composites"]["C224"]["components"] == [
        ["8155", "C"], ["1131", "C"], ["3055", "C"], ["8154", "C"]]
    assert load("D95B")["elements"]["8155"] == {
        "name": "Equipment size and type identification", "type": "an", "min": 1, "max": 10}


def test_element_formats() -> None:
    d95b = load("D95B")["elements"]
    assert d95b["1004"] == {"name": "Document/message number", "type": "an", "min": 1, "max": 35}  # an..35
    assert (d95b["6314"]["type"], d95b["6314"]["min"], d95b["6314"]["max"]) == ("n", 1, 18)  # n..18
    assert (d95b["6246"]["type"], d95b["6246"]["min"], d95b["6246"]["max"]) == ("n", 3, 3)  # n3
    assert (d95b["7168"]["type"], d95b["7168"]["min"], d95b["7168"]["max"]) == ("n", 1, 1)  # n1
    assert d95b["1001"] == {"name": "Document/message name, coded", "type": "an", "min": 1, "max": 3}
    assert (d95b["3292"]["type"], d95b["3292"]["max"]) == ("a", 35)  # a..35 (TRCD.95B C042)
    d16a = load("D16A")["elements"]
    assert d16a["1004"] == {"name": "Document identifier", "type": "an", "min": 1, "max": 70}
    assert (d16a["7124"]["type"], d16a["7124"]["min"], d16a["7124"]["max"]) == ("n", 4, 4)  # n4
    assert (d16a["8186"]["type"], d16a["8186"]["min"], d16a["8186"]["max"]) == ("an", 4, 4)  # an4


def test_d99b_c215_has_all_four_components() -> None:
    # EDCD.99B and EDSD.99B SEL: 9303, 1131, 3055, 9302 (the php-edifact XML drops two)
    d99b = load("D99B")
    assert d99b["composites"]["C215"]["components"] == [
        ["9303", "C"], ["1131", "C"], ["3055", "C"], ["9302", "C"]]
    assert ["C215", "C", 1] in d99b["segments"]["SEL"]["elements"]


def test_repetition_counts() -> None:
    # D95B prints no repeat column: ALI lists 4183 at five positions.
    assert load("D95B")["segments"]["ALI"]["elements"] == [
        ["3239", "C", 1], ["9213", "C", 1]] + [["4183", "C", 1]] * 5
    # D95B composites list a repeated component once per position (TRCD.95B C090).
    assert [e for e, _ in load("D95B")["composites"]["C090"]["components"]] == ["3477"] + ["3286"] * 5
    # From D99B the repeat column is read (EDSD.16A COM: C076 C 3; ADR: C819 C 5, C517 C 5).
    d16a = load("D16A")["segments"]
    assert d16a["COM"]["elements"] == [["C076", "M", 3]]
    assert d16a["ADR"]["elements"][-2:] == [["C819", "C", 5], ["C517", "C", 5]]
    assert load("D99B")["segments"]["ADR"]["elements"][-2:] == [["C819", "C", 5], ["C517", "C", 5]]


def test_wrapped_component_names_in_segment_and_composite_specs() -> None:
    # EDSD.13B DGS 090 C235 and EDCD.13B C235: both component names wrap onto a second line
    d13b = load("D13B")
    assert d13b["composites"]["C235"]["components"] == [["8158", "C"], ["8186", "C"]]
    assert ["C235", "C", 1] in d13b["segments"]["DGS"]["elements"]
    # EDSD.13B DGS 130: "8211 HAZARDOUS CARGO TRANSPORT AUTHORISATION / CODE  C 1 an..3"
    assert d13b["segments"]["DGS"]["elements"][12] == ["8211", "C", 1]


def test_deletion_marked_codes_are_kept_and_marks_stripped() -> None:
    d95b = load("D95B")["codes"]
    assert "AAE" in d95b["6311"]  # UNCL-2.95B: "X  AAE    Measurement" (marked for deletion)
    assert "AE" in d95b["4401"]  # "X  AE     Change invoice"
    assert "10" in d95b["3285"]  # "X      10 Contact bank 2" (right-aligned numeric code)
    assert "XAE" not in d95b["6311"] and "XAE" not in d95b["4401"]
    # Real codes that begin with X are not mistaken for a mark (UNCL-1.95B 1153 "XA", 7161 "XAA").
    assert {"XA", "XC", "XP"} <= set(d95b["1153"]) and "A" not in d95b["1153"]
    assert "XAA" in d95b["7161"]
    assert "AMK" in load("D99B")["codes"]["1153"]  # UNCL.99B: "X    AMK   Procurement budget number"
    # D96A prints code 4 of 3405 with "-", which its legend defines as deleted.
    assert "4" not in load("D96A")["codes"]["3405"]
    assert "4" in load("D95B")["codes"]["3405"]


def test_code_lists() -> None:
    d95b = load("D95B")["codes"]
    assert d95b["1001"][:5] == ["1", "2", "3", "4", "5"]
    assert "ZZZ" in d95b["1153"]
    assert d95b["8169"] == ["1", "2", "3", "4", "5", "6", "7", "8"]  # UNCL-2.95B full/empty indicator
    assert load("D16A")["codes"]["2379"][:3] == ["2", "3", "4"]
    assert "203" in load("D16A")["codes"]["2379"]


def test_message_and_segment_names() -> None:
    assert load("D16A")["messages"]["CALINF"]["name"] == "Vessel call information message"
    assert load("D16A")["composites"]["C234"]["name"] == "UNDG information"  # index keeps acronyms
    assert load("D95B")["segments"]["TDT"]["name"] == "Details of transport"


# ---------------------------------------------------------------------------------------------
# Service directories
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICE)
def test_contrl_structure(name: str) -> None:
    contrl = load(name)["messages"]["CONTRL"]
    assert contrl["structure"] == [
        ["UNH", "M", 1], ["UCI", "M", 1],
        {"group": 1, "req": "C", "max": 999999, "items": [
            ["UCM", "M", 1],
            {"group": 2, "req": "C", "max": 999, "items": [["UCS", "M", 1], ["UCD", "C", 99]]}]},
        {"group": 3, "req": "C", "max": 999999, "items": [
            ["UCF", "M", 1],
            {"group": 4, "req": "C", "max": 999999, "items": [
                ["UCM", "M", 1],
                {"group": 5, "req": "C", "max": 999, "items": [["UCS", "M", 1], ["UCD", "C", 99]]}]}]},
        ["UNT", "M", 1],
    ]


def test_service3_segments() -> None:
    doc = load("SERVICE3")
    assert set(doc["segments"]) == {"UNB", "UNZ", "UNG", "UNE", "UNH", "UNT", "UNS",
                                    "UCI", "UCM", "UCS", "UCD", "UCF"}
    assert doc["segments"]["UNB"]["elements"] == [
        ["S001", "M", 1], ["S002", "M", 1], ["S003", "M", 1], ["S004", "M", 1], ["0020", "M", 1],
        ["S005", "C", 1], ["0026", "C", 1], ["0029", "C", 1], ["0031", "C", 1], ["0032", "C", 1],
        ["0035", "C", 1]]
    assert doc["segments"]["UCI"]["elements"] == [
        ["0020", "M", 1], ["S002", "M", 1], ["S003", "M", 1], ["0083", "M", 1], ["0085", "C", 1],
        ["0013", "C", 1], ["S011", "C", 1]]
    assert doc["composites"]["S001"]["components"] == [["0001", "M"], ["0002", "M"]]
    assert doc["composites"]["S009"]["components"] == [
        ["0065", "M"], ["0052", "M"], ["0054", "M"], ["0051", "M"], ["0057", "C"]]
    e = doc["elements"]
    assert (e["0001"]["type"], e["0001"]["min"], e["0001"]["max"]) == ("a", 4, 4)
    assert (e["0017"]["type"], e["0017"]["min"], e["0017"]["max"]) == ("n", 6, 6)
    assert (e["0051"]["max"], e["0074"]["max"]) == (2, 6)


def test_service3_codes_come_from_unsl() -> None:
    codes = load("SERVICE3")["codes"]
    assert codes["0001"] == ["UNOA", "UNOB", "UNOC", "UNOD", "UNOE", "UNOF"]
    assert codes["0085"] == [str(n) for n in range(1, 44)]
    assert codes["0083"] == [str(n) for n in range(1, 9)]
    assert codes["0031"] == ["1"] and codes["0035"] == ["1"]
    assert "UN" in codes["0051"]
    assert "56" in codes["0007"] and "82" in codes["0007"]  # 56 marked X in D96A, 82 added there
    assert "UCM" in codes["0013"]


def test_service4_segments_and_codes() -> None:
    doc = load("SERVICE4")
    assert {"UGH", "UGT"} <= set(doc["segments"]) and "UGH" not in load("SERVICE3")["segments"]
    assert doc["composites"]["S001"]["components"] == [
        ["0001", "M"], ["0002", "M"], ["0080", "C"], ["0133", "C"], ["0076", "C"]]
    assert [e for e, _, _ in doc["segments"]["UNH"]["elements"]] == [
        "0062", "S009", "0068", "S010", "S016", "S017", "S018"]
    assert doc["segments"]["UCI"]["elements"][5] == ["0135", "C", 1]
    e = doc["elements"]
    assert (e["0017"]["min"], e["0017"]["max"]) == (8, 8)
    assert (e["0002"]["type"], e["0074"]["max"], e["0051"]["max"]) == ("an", 10, 3)
    codes = doc["codes"]
    assert {"UNOA", "UNOC", "UNOF", "UNOW", "UNOY"} <= set(codes["0001"])
    assert codes["0083"] == ["4", "7", "8"]
    assert {"2", "12", "13", "35", "39", "45"} <= set(codes["0085"]) and "1" not in codes["0085"]
    assert {"UNB", "UNH", "UCI", "UGH"} <= set(codes["0135"])


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RELEASES + SERVICE)
def test_gzip_header_is_reproducible(name: str) -> None:
    raw = (SCHEMAS / f"{name}.json.gz").read_bytes()
    assert raw[:3] == b"\x1f\x8b\x08"
    assert raw[3] == 0  # no file name or other optional fields
    assert raw[4:8] == b"\x00\x00\x00\x00"  # mtime 0


@needs_corpus
def test_recompiling_is_byte_identical(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(COMPILER), "--corpus", str(CORPUS), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for name in RELEASES + SERVICE:
        fresh = (tmp_path / f"{name}.json.gz").read_bytes()
        assert fresh == (SCHEMAS / f"{name}.json.gz").read_bytes(), f"{name} differs when recompiled"
