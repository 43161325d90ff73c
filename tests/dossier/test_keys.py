"""Keys: ISO 6346 container numbers, IMO numbers, LOCODEs, references, voyages and EDIFACT dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hub.dossier import keys
from hub.dossier.keys import (
    LETTER_VALUES,
    ContainerProblem,
    KeyType,
    Stamp,
    imo_check_digit,
    is_dummy_reference,
    is_locode,
    iso6346_check_digit,
    normalise_bl,
    normalise_container,
    normalise_imo,
    normalise_key,
    normalise_locode,
    normalise_voyage,
    parse_edifact_datetime,
    parse_imo,
    parse_xml_datetime,
    voyage_aliases,
)

# -- ISO 6346 ------------------------------------------------------------------------------------------------


def test_letter_values_skip_multiples_of_eleven() -> None:
    assert LETTER_VALUES["A"] == 10 and LETTER_VALUES["B"] == 12 and LETTER_VALUES["K"] == 21
    assert LETTER_VALUES["L"] == 23 and LETTER_VALUES["U"] == 32 and LETTER_VALUES["V"] == 34
    assert LETTER_VALUES["Z"] == 38
    assert not any(v % 11 == 0 for v in LETTER_VALUES.values())


@pytest.mark.parametrize("number", ["TGHU7378319", "MAXU4515883", "CSQU3054383", "MSKU9070323"])
def test_real_container_numbers_validate(number: str) -> None:
    c = normalise_container(number)
    assert c.valid and c.reason is None and c.value == number


def test_check_digit_of_the_iso_example() -> None:
    assert iso6346_check_digit("CSQU305438") == 3


def test_remainder_ten_is_written_zero() -> None:
    # find a serial whose sum is 10 mod 11: its check digit is 0
    for serial in range(1000):
        first10 = f"TGHU{serial:06d}"
        total = sum((LETTER_VALUES[c] if c.isalpha() else int(c)) << i for i, c in enumerate(first10))
        if total % 11 == 10:
            assert iso6346_check_digit(first10) == 0
            assert normalise_container(first10 + "0").valid
            return
    pytest.fail("no serial with remainder 10 found")


@pytest.mark.parametrize("raw", ["tghu 737831-9", " TGHU-7378319 ", "TGHU\t7378319", "tghu7378319"])
def test_container_normalisation(raw: str) -> None:
    c = normalise_container(raw)
    assert c.value == "TGHU7378319" and c.valid and c.raw == raw


@pytest.mark.parametrize(("raw", "value", "reason"), [
    ("", "", ContainerProblem.EMPTY),
    (" - ", "", ContainerProblem.EMPTY),
    ("TGHU7378318", "TGHU7378318", ContainerProblem.CHECK_DIGIT),
    ("TGHX7378319", "TGHX7378319", ContainerProblem.CATEGORY),
    ("TGHU737831", "TGHU737831", ContainerProblem.FORMAT),
    ("BBMAPTM00012", "BBMAPTM00012", ContainerProblem.FORMAT),  # SMDG break-bulk id
    ("EU876", "EU876", ContainerProblem.FORMAT),
    ("TGHU73783I9", "TGHU73783I9", ContainerProblem.FORMAT),
])
def test_invalid_numbers_are_kept_and_flagged(raw: str, value: str, reason: ContainerProblem) -> None:
    c = normalise_container(raw)
    assert (c.value, c.valid, c.reason) == (value, False, reason.value)
    assert c.explain()


def test_explain_names_the_expected_check_digit() -> None:
    assert "should be 9" in normalise_container("TGHU7378318").explain()


def test_swap_body_categories_can_be_allowed() -> None:
    first10 = "ABCA123456"
    number = first10 + str(iso6346_check_digit(first10))
    assert normalise_container(number).reason == "category"
    assert normalise_container(number, categories="UJZABDEK").valid


owners = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3)
categories = st.sampled_from("UJZ")
serials = st.text(alphabet="0123456789", min_size=6, max_size=6)


def _value(c: str) -> int:
    return LETTER_VALUES[c] if c.isalpha() else int(c)


@st.composite
def container_numbers(draw: st.DrawFn) -> str:
    first10 = draw(owners) + draw(categories) + draw(serials)
    return first10 + str(iso6346_check_digit(first10))


@given(container_numbers())
def test_every_generated_number_validates(number: str) -> None:
    assert normalise_container(number).valid
    assert normalise_container(number.lower()[:4] + " " + number[4:10] + "-" + number[10]).valid


@given(container_numbers(), st.sampled_from("0123456789"))
def test_changing_the_check_digit_always_invalidates(number: str, digit: str) -> None:
    assume(digit != number[10])
    assert normalise_container(number[:10] + digit).reason == ContainerProblem.CHECK_DIGIT


@given(container_numbers(), st.integers(0, 9), st.data())
def test_changing_one_character_invalidates_except_where_iso6346_cannot_tell(
        number: str, pos: int, data: st.DataObject) -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if pos < 3 else ("UJZ" if pos == 3 else "0123456789")
    new = data.draw(st.sampled_from(alphabet).filter(lambda c: c != number[pos]))
    changed = number[:pos] + new + number[pos + 1:]
    # ISO 6346 does not see two kinds of change: a letter whose value differs by a multiple of 11
    # (B/L/V, C/M/W, ...), and a change that moves the remainder between 0 and 10 (both written 0).
    old_sum = sum(_value(c) << i for i, c in enumerate(number[:10]))
    new_sum = old_sum + ((_value(new) - _value(number[pos])) << pos)
    blind = (_value(new) - _value(number[pos])) % 11 == 0 or {old_sum % 11, new_sum % 11} == {0, 10}
    assert normalise_container(changed).valid is blind


def test_the_blind_spots_exist() -> None:
    # B=12 and L=23: the same value mod 11, so BxxU and LxxU share a check digit
    assert iso6346_check_digit("BAAU000000") == iso6346_check_digit("LAAU000000")


@given(st.text(max_size=20))
def test_normalisation_never_raises_and_keeps_the_raw(raw: str) -> None:
    c = normalise_container(raw)
    assert c.raw == raw
    assert c.valid == (c.reason is None)


# -- IMO -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["9321483", "IMO 9321483", "IMO9321483", "imo: 9321483", " IMO-9321483 "])
def test_imo_forms(raw: str) -> None:
    imo = parse_imo(raw)
    assert (imo.value, imo.valid, imo.reason) == ("9321483", True, None)
    assert normalise_imo(raw) == "9321483"


@pytest.mark.parametrize("number", ["9501332", "8212661", "9074729"])
def test_real_imo_numbers(number: str) -> None:
    assert parse_imo(number).valid


@pytest.mark.parametrize(("raw", "reason", "normalised"), [
    ("9321484", "check_digit", "9321484"),
    ("932148", "format", None),
    ("PDHZ", "format", None),
    ("", "empty", None),
    ("0000000", "zero", None),
])
def test_bad_imo(raw: str, reason: str, normalised: str | None) -> None:
    imo = parse_imo(raw)
    assert not imo.valid and imo.reason == reason
    assert normalise_imo(raw) == normalised


@given(st.one_of(st.text(max_size=14), st.from_regex(r"\s*(?:imo|IMO)?[\s:.#-]*[0-9]{7}\s*", fullmatch=True)))
def test_normalise_imo_is_parse_imo_without_the_record(raw: str) -> None:
    imo = parse_imo(raw)
    assert normalise_imo(raw) == (imo.value if imo.reason in (None, "check_digit") else None)


@given(st.text(alphabet="0123456789", min_size=6, max_size=6), st.integers(0, 5), st.integers(0, 9))
def test_imo_single_digit_changes(first6: str, pos: int, digit: int) -> None:
    assume(first6 != "000000")
    number = first6 + str(imo_check_digit(first6))
    assert parse_imo(number).valid
    assume(int(number[pos]) != digit)
    changed = number[:pos] + str(digit) + number[pos + 1:]
    weight = (7, 6, 5, 4, 3, 2)[pos]
    blind = weight * (digit - int(number[pos])) % 10 == 0  # weights sharing a factor with 10
    assert parse_imo(changed).valid is blind


# -- LOCODE, references, voyages -----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "ok"), [
    ("MAPTM", True), ("ma ptm", True), ("MA-CAS", True), ("NLRTM", True), ("US2NY", True), ("MAPT", False),
    ("MAPTM1", False), ("M4PTM", False), ("MAPT0", False), ("MAPT1", False), ("", False)])
def test_locode_shape(raw: str, ok: bool) -> None:
    assert is_locode(normalise_locode(raw)) is ok


def test_bl_normalisation_and_dummies() -> None:
    assert normalise_bl(" maeu 123 456\t789 ") == "MAEU123456789"
    assert is_dummy_reference("1") and is_dummy_reference(" 1 ")
    assert not is_dummy_reference("11") and not is_dummy_reference("MAEU1")
    assert normalise_key(KeyType.BL, "1") is None
    assert normalise_key(KeyType.BOOKING, " 1") is None
    assert normalise_key(KeyType.CUSTOMS_REF, "1") == "1"  # only B/L and booking have the dummy
    assert keys.strip_carrier_prefix("MAEU123456789", "maeu") == "123456789"
    assert keys.strip_carrier_prefix("MAEU", "MAEU") == "MAEU"
    assert keys.strip_carrier_prefix("123", "MAEU") == "123"


def test_voyages() -> None:
    assert normalise_voyage(" 045w ") == "045W"
    assert normalise_voyage("045 W") == "045W"
    assert normalise_voyage("045W", strip_leading_zeros=True) == "45W"
    assert normalise_voyage("000", strip_leading_zeros=True) == "0"
    assert voyage_aliases("045w", None, " 045W", "046E", "") == ["045W", "046E"]


@pytest.mark.parametrize(("key_type", "raw", "value"), [
    (KeyType.CONTAINER, "tghu 7378319", "TGHU7378319"),
    (KeyType.CONTAINER, "TGHU7378318", "TGHU7378318"),  # invalid, still indexed
    (KeyType.IMO, "IMO 9321483", "9321483"),
    (KeyType.CALL_SIGN, " 9hx c ", "9HXC"),
    (KeyType.VESSEL_NAME, " msc   anna ", "MSC ANNA"),
    (KeyType.VOYAGE, "123 w", "123W"),
    (KeyType.PORT_CALL_REF, "esc 2024 001", "ESC2024001"),
    (KeyType.UCR, "", None),
])
def test_normalise_key(key_type: KeyType, raw: str, value: str | None) -> None:
    assert normalise_key(key_type, raw) == value
    assert normalise_key(key_type, None) is None


# -- dates ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "fmt", "utc"), [
    ("240301", "101", "2024-03-01"),
    ("991231", 101, "1999-12-31"),
    ("20240301", "102", "2024-03-01"),
    ("2403011230", "201", "2024-03-01T12:30:00Z"),
    ("240301123045", "202", "2024-03-01T12:30:45Z"),
    ("202403011230", "203", "2024-03-01T12:30:00Z"),
    ("20240301123045", "204", "2024-03-01T12:30:45Z"),
    ("2403011230UTC", "301", "2024-03-01T12:30:00Z"),
    ("2403011230+01", "301", "2024-03-01T11:30:00Z"),
    ("2403011230-0330", "301", "2024-03-01T16:00:00Z"),
    ("2403011230", "301", "2024-03-01T12:30:00Z"),  # zone left out: default
    ("202403011230GMT", "303", "2024-03-01T12:30:00Z"),
    ("202403010030+02", "303", "2024-02-29T22:30:00Z"),
    ("20240301123059Z", "304", "2024-03-01T12:30:59Z"),
    ("202403011230+0100", "205", "2024-03-01T11:30:00Z"),
    ("20240301-20240305", "718", "2024-03-01"),
    ("2024030120240305", "718", "2024-03-01"),
    ("202403011230-202403051200", "719", "2024-03-01T12:30:00Z"),
    ("20010912T1433", "10", "2001-09-12T14:33:00Z"),
    ("010324", "2", "2024-03-01"),
    (" 202403011230 ", "203", "2024-03-01T12:30:00Z"),
    ("202403312400", "203", "2024-04-01T00:00:00Z"),
])
def test_edifact_formats(value: str, fmt: str | int, utc: str) -> None:
    s = parse_edifact_datetime(value, fmt)
    assert s == Stamp(utc, value, str(fmt))


@pytest.mark.parametrize(("value", "fmt"), [
    ("20240230", "102"),  # no such day
    ("2024030112", "203"),  # too short
    ("202403011260", "203"),  # minute 60
    ("202403012430", "203"),  # 24:30
    ("2403011230XYZ", "301"),  # unknown zone name
    ("2403011230+15", "301"),  # no such offset
    ("20240301", "999"),  # unknown format
    ("20240301", "718"),  # a range without its end
    ("", "203"),
    ("２０２４０３０１", "102"),  # non-ASCII digits
])
def test_unreadable_values_are_kept(value: str, fmt: str) -> None:
    s = parse_edifact_datetime(value, fmt)
    assert s.utc is None and s.original == value and s.fmt == fmt and not s.parsed


def test_default_time_zone_applies_without_a_zone_only() -> None:
    casablanca = timezone(timedelta(hours=1))
    assert parse_edifact_datetime("202403011230", "203", casablanca).utc == "2024-03-01T11:30:00Z"
    assert parse_edifact_datetime("202403011230UTC", "303", casablanca).utc == "2024-03-01T12:30:00Z"
    assert parse_edifact_datetime("20240301", "102", casablanca).utc == "2024-03-01"  # dates not shifted


def test_stamp_as_datetime() -> None:
    stamp = parse_edifact_datetime("202403011230", "203")
    assert stamp.as_datetime() == datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    day = parse_edifact_datetime("20240301", "102")
    assert day.date_only and day.as_datetime() == datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_edifact_datetime("x", "203").as_datetime() is None


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_stamp_as_datetime_reads_its_utc_as_strptime_does(moment: datetime) -> None:
    utc = moment.replace(microsecond=0).isoformat() + "Z"
    expected = datetime.strptime(utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    got = Stamp(utc, "x", "203").as_datetime()
    assert got == expected and got is not None and got.tzinfo == UTC


def test_real_reference_drops_none_empty_and_the_baplie_dummy() -> None:
    assert [keys.real_reference(v) for v in (None, "", "1", " 1 ", "maeu 12 3")] == [None, None, None, None, "MAEU123"]
    assert keys.real_reference(" ") == ""  # as the stowage fold always kept it: blank, not absent


def test_xml_datetimes() -> None:
    assert parse_xml_datetime("2024-03-01T12:30:00Z").utc == "2024-03-01T12:30:00Z"
    assert parse_xml_datetime("2024-03-01T12:30:00+01:00").utc == "2024-03-01T11:30:00Z"
    assert parse_xml_datetime("2024-03-01T12:30:00.250").utc == "2024-03-01T12:30:00Z"
    assert parse_xml_datetime("2024-03-01").utc == "2024-03-01"
    assert parse_xml_datetime("2024-03-01+01:00").utc == "2024-03-01"
    assert parse_xml_datetime("yesterday") == Stamp(None, "yesterday", "xsd")


moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2069, 12, 30))
offsets = st.integers(-12 * 60, 14 * 60).map(lambda m: m - m % 15)


@given(moments, offsets)
def test_formats_round_trip_instants(moment: datetime, offset_minutes: int) -> None:
    moment = moment.replace(microsecond=0)
    zone = timezone(timedelta(minutes=offset_minutes))
    expected = moment.replace(tzinfo=zone).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sign = "-" if offset_minutes < 0 else "+"
    hhmm = f"{abs(offset_minutes) // 60:02d}{abs(offset_minutes) % 60:02d}"
    assert parse_edifact_datetime(moment.strftime("%Y%m%d%H%M%S") + sign + hhmm, "304").utc == expected
    assert parse_edifact_datetime(moment.strftime("%Y%m%d%H%M%S"), "204", zone).utc == expected
    assert parse_edifact_datetime(moment.strftime("%y%m%d%H%M%S"), "202", zone).utc == expected
    assert parse_edifact_datetime(moment.strftime("%Y%m%d%H%M%S") + sign + hhmm, "208").utc == expected


@given(st.text(max_size=20), st.sampled_from(sorted(keys.SUPPORTED_FORMATS) + ["", "0", "x"]))
def test_parsing_never_raises(value: str, fmt: str) -> None:
    s = parse_edifact_datetime(value, fmt)
    assert s.original == value
    if s.utc is not None:
        assert s.as_datetime() is not None


def test_no_letter_or_digit_is_white_space_or_a_hyphen() -> None:
    # strip_upper, normalise_container and normalise_reference skip their regular expression for a
    # value of letters and digits only: sound only because of this, over every code point
    import re
    import sys

    stripped = re.compile(r"[\s\-]")
    assert not [c for c in map(chr, range(sys.maxunicode + 1)) if c.isalnum() and stripped.match(c)]


@given(st.text(alphabet=st.sampled_from("aZ09-_ \t\n\u00a0\u2003\u00e9\u0661\u00b2\u212b\ufb01ß"), max_size=12)
       | st.text(max_size=12))
def test_the_shortcuts_normalise_as_the_regular_expressions_do(raw: str) -> None:
    import re

    assert keys.strip_upper(raw) == re.sub(r"[\s\-]+", "", raw).upper()
    assert keys.normalise_container(raw).value == re.sub(r"[\s\-]+", "", raw).upper()
    assert keys.container_value(raw) == keys.normalise_container(raw).value
    assert keys.normalise_reference(raw) == re.sub(r"\s+", "", raw).upper()
