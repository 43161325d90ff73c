"""Keys: normalisation and validation of the identifiers that tie messages to dossiers, and EDIFACT dates.

Rules (port-community.md §2.1 and §3.5):

- Container numbers (ISO 6346): upper case, spaces and dashes removed; owner code (3 letters), category
  letter (U, J or Z), 6-digit serial, check digit. The check digit is the sum of each of the first ten
  characters' value times 2**position, modulo 11, with 10 written as 0; digits count as themselves and
  letters from A=10 upwards, skipping multiples of 11 (A=10, B=12 ... K=21, L=23 ... U=32, V=34 ... Z=38).
  An invalid number is kept, flagged with a reason, never dropped (non-ISO equipment is legitimate:
  SMDG break-bulk ids, trailers).
- IMO ship numbers: 7 digits, the last being the sum of the first six times 7, 6, 5, 4, 3, 2, modulo 10.
  'IMO 9321483', 'IMO9321483' and 'imo: 9321483' all normalise to '9321483'.
- UN/LOCODE: 2 letters (ISO 3166 country) + 3 letters or digits 2-9 (UN/LOCODE never uses 0 and 1).
  Shape only: no look-up in the code list here.
- B/L, booking and other references: upper case, all white space removed. BAPLIE 2.x allows the dummy
  value '1' in RFF+BM / RFF+BN: `is_dummy_reference` tells it, `normalise_key` drops it.
- Voyages: trimmed, upper case, inner white space removed; leading zeros stripped only on request
  (a per-carrier setting). A call keeps every alias it is known by.
- Dates: `parse_edifact_datetime` reads the EDIFACT 2379 formats into a `Stamp`: the UTC instant (ISO
  8601, 'YYYY-MM-DDTHH:MM:SSZ'), or the calendar date ('YYYY-MM-DD') for date-only formats, which are
  not shifted to UTC, plus the original text and its format. Values without a time zone are read in
  `default_tz` (SMDG: local time of the port). A value that cannot be read keeps `utc=None`.

Two-digit years (formats 101, 201, 202, 301, 302, 2, 206, 207) are read in a fixed window: 00-69 is
20xx, 70-99 is 19xx, so that the same file always gives the same date.

No I/O here.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Final

from hub.dossier.record import Record

# -- time stamps ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Stamp(Record):
    """A time taken from a message.

    Fields:
    utc: the instant in UTC as 'YYYY-MM-DDTHH:MM:SSZ', or the calendar date 'YYYY-MM-DD' for a date
        without time; null when the original could not be read.
    original: the text exactly as received.
    fmt: the EDIFACT 2379 format code it was read with ('203', '301', ...), 'xsd' for XML date/times.
    """

    utc: str | None
    original: str
    fmt: str

    @property
    def parsed(self) -> bool:
        return self.utc is not None

    @property
    def date_only(self) -> bool:
        return self.utc is not None and "T" not in self.utc

    def as_datetime(self) -> datetime | None:
        """The instant as an aware UTC datetime (midnight UTC for a date-only stamp); None if unread."""
        if self.utc is None:
            return None
        if "T" not in self.utc:
            return datetime.combine(date.fromisoformat(self.utc), datetime.min.time(), UTC)
        if len(self.utc) == 20 and self.utc[-1] == "Z":  # our own 'YYYY-MM-DDTHH:MM:SSZ': parsed in C
            return datetime.fromisoformat(self.utc)
        return datetime.strptime(self.utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


CENTURY_PIVOT: Final = 70  # two-digit years below this are 20xx, the others 19xx

# 2379 code -> (date part layout, time part layout, zone kind); range formats handled separately.
# Layouts: 'C' four-digit year, 'Y' two-digit year; the regexes capture the numeric fields by name.
_D8 = r"(?P<y>\d{4})(?P<m>\d\d)(?P<d>\d\d)"
_D6 = r"(?P<y>\d\d)(?P<m>\d\d)(?P<d>\d\d)"
_HM = r"(?P<H>\d\d)(?P<M>\d\d)"
_HMS = r"(?P<H>\d\d)(?P<M>\d\d)(?P<S>\d\d)"
_ZZZ = r"(?P<z>[A-Za-z]{1,3}|[+-]\d\d(?::?\d\d)?)?"  # zone may be missing: default_tz then
_ZHHMM = r"(?P<z>[+-]\d{4})"

_FORMATS: Final[dict[str, re.Pattern[str]]] = {
    code: re.compile(pattern, re.ASCII)
    for code, pattern in {
        "2": r"(?P<d>\d\d)(?P<m>\d\d)(?P<y>\d\d)",
        "4": r"(?P<d>\d\d)(?P<m>\d\d)(?P<y>\d{4})",
        "5": r"(?P<d>\d\d)(?P<m>\d\d)(?P<y>\d{4})" + _HM,
        "10": _D8 + "T" + _HM,
        "101": _D6,
        "102": _D8,
        "201": _D6 + _HM,
        "202": _D6 + _HMS,
        "203": _D8 + _HM,
        "204": _D8 + _HMS,
        "205": _D8 + _HM + _ZHHMM,
        "206": _D6 + _HM + _ZHHMM,
        "207": _D6 + _HMS + _ZHHMM,
        "208": _D8 + _HMS + _ZHHMM,
        "301": _D6 + _HM + _ZZZ,
        "302": _D6 + _HMS + _ZZZ,
        "303": _D8 + _HM + _ZZZ,
        "304": _D8 + _HMS + _ZZZ,
    }.items()
}
# Ranges: the start is taken. 718 CCYYMMDD-CCYYMMDD, 719 CCYYMMDDHHMM-CCYYMMDDHHMM.
_RANGES: Final[dict[str, tuple[str, int]]] = {"718": ("102", 8), "719": ("203", 12)}

SUPPORTED_FORMATS: Final = frozenset(_FORMATS) | frozenset(_RANGES)

_UTC_NAMES: Final = frozenset({"Z", "UT", "UTC", "GMT"})


def _zone(text: str) -> tzinfo | None:
    upper = text.upper()
    if upper in _UTC_NAMES:
        return UTC
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)?", text, re.ASCII)
    if m is None:
        return None
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    if hours > 14 or minutes > 59:
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if m.group(1) == "-" else offset)


def _iso(moment: datetime) -> str:
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
            f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z")


def _year(text: str) -> int:
    if len(text) == 4:
        return int(text)
    yy = int(text)
    return 2000 + yy if yy < CENTURY_PIVOT else 1900 + yy


def parse_edifact_datetime(value: str, fmt: str | int, default_tz: tzinfo = UTC) -> Stamp:
    """Read a DTM value in the given 2379 format. Never raises: an unreadable value has `utc=None`."""
    code = str(fmt).strip()
    text = value.strip()
    unread = Stamp(None, value, code)
    if code in _RANGES:
        start_code, width = _RANGES[code]
        start, dash, end = text.partition("-")
        if not dash and len(text) == 2 * width:  # the hyphen left out
            start, end = text[:width], text[width:]
        if len(start) != width or len(end) != width:
            return unread
        code_for_start, text = start_code, start
    else:
        code_for_start = code
    pattern = _FORMATS.get(code_for_start)
    if pattern is None:
        return unread
    m = pattern.fullmatch(text)
    if m is None:
        return unread
    parts = m.groupdict()
    try:
        day = date(_year(parts["y"]), int(parts["m"]), int(parts["d"]))
    except ValueError:
        return unread
    if parts.get("H") is None:
        return Stamp(day.isoformat(), value, code)
    hour, minute, second = int(parts["H"]), int(parts["M"]), int(parts.get("S") or 0)
    extra = timedelta(0)
    if hour == 24 and minute == 0 and second == 0:  # end of day, as ISO 8601 allows
        hour, extra = 0, timedelta(days=1)
    zone: tzinfo | None = default_tz
    if parts.get("z") is not None:
        zone = _zone(parts["z"])
        if zone is None:
            return unread
    try:
        local = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone) + extra
        return Stamp(_iso(local.astimezone(UTC)), value, code)
    except (ValueError, OverflowError):
        return unread


_XSD_DATE = re.compile(r"(\d{4}-\d\d-\d\d)(Z|[+-]\d\d:\d\d)?", re.ASCII)


def parse_xml_datetime(value: str, default_tz: tzinfo = UTC) -> Stamp:
    """Read an XML Schema dateTime or date (as WCO / PortNet XML carry them) into a Stamp ('xsd')."""
    text = value.strip()
    unread = Stamp(None, value, "xsd")
    if not text.isascii():
        return unread
    m = _XSD_DATE.fullmatch(text)
    try:
        if m is not None:
            return Stamp(date.fromisoformat(m.group(1)).isoformat(), value, "xsd")
        if "T" not in text:
            return unread
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=default_tz)
        return Stamp(_iso(moment.astimezone(UTC)), value, "xsd")
    except (ValueError, OverflowError):
        return unread


# -- container numbers (ISO 6346) ----------------------------------------------------------------------


def _letter_values() -> dict[str, int]:
    values, n = {}, 10
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if n % 11 == 0:
            n += 1
        values[letter] = n
        n += 1
    return values


LETTER_VALUES: Final[dict[str, int]] = _letter_values()
ISO6346_CATEGORIES: Final = "UJZ"  # freight container, detachable equipment, trailer/chassis
_CONTAINER_SHAPE = re.compile(r"[A-Z]{4}[0-9]{7}")
_STRIP = re.compile(r"[\s\-]+")


def strip_upper(raw: str) -> str:
    """`raw` without white space and hyphens, upper case. No letter or digit is white space or a hyphen
    (checked over every code point in tests/dossier/test_keys.py), so a value of letters and digits
    only, as nearly every container number and reference is, needs no regular expression: a bayplan
    normalises 24,000 container numbers and as many references."""
    return raw.upper() if raw.isalnum() else _STRIP.sub("", raw).upper()


class ContainerProblem(enum.StrEnum):
    EMPTY = "empty"  # nothing left after normalisation
    FORMAT = "format"  # not 4 letters + 7 digits
    CATEGORY = "category"  # 4th letter is not an ISO 6346 category (U, J, Z)
    CHECK_DIGIT = "check_digit"  # the 11th character is not the computed check digit


def iso6346_check_digit(first10: str) -> int:
    """The check digit of an owner code + category + serial ('CSQU305438' -> 3). Raises on bad input."""
    if len(first10) != 10:
        raise ValueError(f"{first10!r}: ten characters expected")
    total = 0
    for i, ch in enumerate(first10.upper()):
        if ch.isdigit() and ch.isascii():
            v = int(ch)
        elif ch in LETTER_VALUES:
            v = LETTER_VALUES[ch]
        else:
            raise ValueError(f"{first10!r}: {ch!r} is not a letter or digit")
        total += v << i
    return total % 11 % 10


@dataclasses.dataclass(frozen=True, slots=True)
class ContainerNumber(Record):
    """An equipment number as received and as normalised.

    Fields:
    value: upper case, spaces and dashes removed; kept even when invalid.
    raw: the text exactly as received.
    valid: true when the value is a well-formed ISO 6346 number with the right check digit.
    reason: why it is not valid: empty, format, category or check_digit; null when valid.
    """

    value: str
    raw: str
    valid: bool
    reason: str | None

    def explain(self) -> str:
        """A sentence a forwarder can act on."""
        if self.valid:
            return f"{self.value} is a valid ISO 6346 container number."
        if self.reason == ContainerProblem.EMPTY:
            return "The equipment number is empty."
        if self.reason == ContainerProblem.FORMAT:
            return (f"{self.value!r} is not an ISO 6346 container number (4 letters and 7 digits); "
                    "kept as received.")
        if self.reason == ContainerProblem.CATEGORY:
            return (f"{self.value}: the 4th letter {self.value[3]!r} is not an ISO 6346 equipment category "
                    "(U, J or Z).")
        expected = iso6346_check_digit(self.value[:10])
        return f"{self.value}: the check digit should be {expected}, not {self.value[10]}."


def normalise_container(raw: str, categories: str = ISO6346_CATEGORIES) -> ContainerNumber:
    """Normalise and validate an equipment number. Never raises; invalid numbers are kept and flagged."""
    value = strip_upper(raw)
    if not value:
        return ContainerNumber(value, raw, False, ContainerProblem.EMPTY.value)
    if not _CONTAINER_SHAPE.fullmatch(value):
        return ContainerNumber(value, raw, False, ContainerProblem.FORMAT.value)
    if value[3] not in categories:
        return ContainerNumber(value, raw, False, ContainerProblem.CATEGORY.value)
    if iso6346_check_digit(value[:10]) != int(value[10]):
        return ContainerNumber(value, raw, False, ContainerProblem.CHECK_DIGIT.value)
    return ContainerNumber(value, raw, True, None)


def container_value(raw: str) -> str:
    """`normalise_container(raw).value` without the checks: the number a container is indexed and
    compared under, valid or not (a manifest's 5,000 containers need no check digit for that)."""
    return strip_upper(raw)


def is_valid_container(raw: str) -> bool:
    return normalise_container(raw).valid


# -- IMO numbers ----------------------------------------------------------------------------------------

_IMO = re.compile(r"(?:IMO)?[\s:.#\-]*([0-9]{7})", re.IGNORECASE)


def imo_check_digit(first6: str) -> int:
    if len(first6) != 6 or not first6.isdigit():
        raise ValueError(f"{first6!r}: six digits expected")
    return sum(int(d) * w for d, w in zip(first6, (7, 6, 5, 4, 3, 2), strict=True)) % 10


@dataclasses.dataclass(frozen=True, slots=True)
class ImoNumber(Record):
    """An IMO ship identification number as received and as normalised.

    Fields:
    value: the 7 digits when the text has the shape of an IMO number, else the text trimmed and upper-cased.
    raw: the text exactly as received.
    valid: true when the 7th digit is the check digit of the first six.
    reason: why it is not valid: empty, format, zero or check_digit; null when valid.
    """

    value: str
    raw: str
    valid: bool
    reason: str | None


def parse_imo(raw: str) -> ImoNumber:
    """Normalise and validate an IMO number ('IMO 9321483' -> '9321483'). Never raises."""
    text = raw.strip()
    if not text:
        return ImoNumber("", raw, False, "empty")
    m = _IMO.fullmatch(text)
    if m is None:
        return ImoNumber(text.upper(), raw, False, "format")
    digits = m.group(1)
    if digits == "0000000":
        return ImoNumber(digits, raw, False, "zero")
    if imo_check_digit(digits[:6]) != int(digits[6]):
        return ImoNumber(digits, raw, False, "check_digit")
    return ImoNumber(digits, raw, True, None)


def normalise_imo(raw: str) -> str | None:
    """The 7 digits of an IMO number (check digit not enforced: see `parse_imo`), or None if the text
    does not have the shape of one. What `parse_imo` gives when its reason is None or "check_digit",
    without building the record (mapping calls it for every vessel identifier)."""
    m = _IMO.fullmatch(raw.strip())
    if m is None or m.group(1) == "0000000":
        return None
    return m.group(1)


def is_valid_imo(raw: str) -> bool:
    return parse_imo(raw).valid


def is_mmsi(raw: str) -> bool:
    return re.fullmatch(r"[0-9]{9}", raw.strip()) is not None


def normalise_call_sign(raw: str) -> str:
    return _WS.sub("", raw).upper()


def normalise_vessel_name(raw: str) -> str:
    """Upper case, white space collapsed: the last-resort vessel key."""
    return " ".join(raw.split()).upper()


# -- locations ------------------------------------------------------------------------------------------

_LOCODE = re.compile(r"[A-Z]{2}[A-Z2-9]{3}")


def normalise_locode(raw: str) -> str:
    """'ma ptm', 'MA-PTM' -> 'MAPTM'. Does not check the shape: see `is_locode`."""
    return strip_upper(raw)


def is_locode(value: str) -> bool:
    """True for the shape of a UN/LOCODE: 2 letters then 3 letters or digits 2-9 (no code-list look-up)."""
    return _LOCODE.fullmatch(value) is not None


# -- references and voyages -----------------------------------------------------------------------------

_WS = re.compile(r"\s+")
DUMMY_REFERENCES: Final = frozenset({"1"})  # SMDG BAPLIE 2.x dummy RFF+BM:1 / RFF+BN:1


def normalise_reference(raw: str) -> str:
    """B/L, booking, customs and certificate references: upper case, all white space removed."""
    return raw.upper() if raw.isalnum() else _WS.sub("", raw).upper()  # see strip_upper


def normalise_bl(raw: str) -> str:
    return normalise_reference(raw)


def is_dummy_reference(value: str) -> bool:
    """True for the placeholder BAPLIE senders put where they have no B/L or booking number."""
    return normalise_reference(value) in DUMMY_REFERENCES


def real_reference(raw: str | None) -> str | None:
    """A B/L or booking number normalised, or None where there is none or only the BAPLIE dummy."""
    if not raw:
        return None
    value = normalise_reference(raw)
    return None if value in DUMMY_REFERENCES else value


def strip_carrier_prefix(bl: str, prefix: str) -> str:
    """A B/L without its carrier's SCAC prefix ('MAEU123456789', 'MAEU' -> '123456789'), for matching
    within a carrier's scope; unchanged when it does not start with the prefix or is only the prefix."""
    p = normalise_reference(prefix)
    value = normalise_reference(bl)
    return value[len(p):] if p and value.startswith(p) and len(value) > len(p) else value


def normalise_voyage(raw: str, strip_leading_zeros: bool = False) -> str:
    value = _WS.sub("", raw).upper()
    if strip_leading_zeros:
        value = value.lstrip("0") or ("0" if value else "")
    return value


def voyage_aliases(*voyages: str | None, strip_leading_zeros: bool = False) -> list[str]:
    """The distinct normalised voyages, sorted (the order they were seen in must not matter)."""
    found = {normalise_voyage(v, strip_leading_zeros) for v in voyages if v is not None}
    return sorted(v for v in found if v)


# -- correlation keys ------------------------------------------------------------------------------------


class KeyType(enum.StrEnum):
    IMO = "imo"
    MMSI = "mmsi"
    CALL_SIGN = "call_sign"
    VESSEL_NAME = "vessel_name"
    VOYAGE = "voyage"
    PORT_CALL_REF = "port_call_ref"
    BL = "bl"
    BOOKING = "booking"
    CONTAINER = "container"
    CUSTOMS_REF = "customs_ref"
    CERTIFICATE_REF = "certificate_ref"
    MANIFEST_REF = "manifest_ref"
    UCR = "ucr"


def normalise_key(key_type: KeyType, raw: str | None) -> str | None:
    """The normalised value under which a key is indexed, or None when there is nothing to index (empty,
    or a dummy B/L / booking). Invalid container and IMO numbers are still indexed, normalised: flagging
    them is the caller's business."""
    if raw is None:
        return None
    value: str | None
    if key_type is KeyType.CONTAINER:
        value = container_value(raw)
    elif key_type is KeyType.IMO:
        value = parse_imo(raw).value
    elif key_type is KeyType.MMSI:
        value = _WS.sub("", raw)
    elif key_type is KeyType.CALL_SIGN:
        value = normalise_call_sign(raw)
    elif key_type is KeyType.VESSEL_NAME:
        value = normalise_vessel_name(raw)
    elif key_type is KeyType.VOYAGE:
        value = normalise_voyage(raw)
    else:
        value = normalise_reference(raw)
        if key_type in (KeyType.BL, KeyType.BOOKING) and value in DUMMY_REFERENCES:
            return None
    return value or None
