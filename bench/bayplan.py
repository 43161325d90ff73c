"""A large, valid SMDG 2.2 BAPLIE (D.95B) interchange for benchmarks and tests.

`make_bayplan(containers, messages, seed)` builds the bayplan of a fictitious ultra-large container ship,
the ATLAS TANGIER of the equally fictitious Atlas Maghreb Lines, leaving Tanger Med (MAPTM) for Algeciras.
Everything is invented: vessel, carriers, owner prefixes, bookings.

Each container is one segment group 2 of the BAPLIE, in the order the D.95B segment table sets out and
with the qualifiers the SMDG 2.2 guide allows (`schemas/guides/SMDG22.yaml`):

    LOC+147 cell (ISO bay/row/tier BBBRRTT, agency 5)
    FTX     remarks on some containers, with escaped ' + : ? (release character ?)
    MEA     VGM verified gross mass for full containers, WT for empties
    DIM     over-height for some flat racks
    TMP     transport temperature for reefers
    LOC+9 / LOC+11 / LOC+83 / LOC+76 ports of loading, discharge, delivery, original loading
    RFF+BM  the dummy B/L "1" or a real one
    EQD+CN  ISO 6346 container number with a correct check digit, ISO size-type without agency
    NAD+CA  the carrier, code 172 agency 20
    DGS+IMD with FTX+AAD for dangerous goods

One segment per line, "\\n" after each terminator: the release character never stands before a line
break, so `text.count("'\\n")` is the number of segments.

The same seed gives the same bytes. D.95B caps segment group 2 at 9,999 repetitions per message, so keep
`containers / messages` below that (24,000 containers in 3 messages is the default, about 4.3 MB).
"""

from __future__ import annotations

import random

__all__ = ["make_bayplan", "iso6346_check_digit", "ISO6346_LETTER_VALUES"]

# ISO 6346 letter values: A=10 upwards, skipping the multiples of 11.
ISO6346_LETTER_VALUES: dict[str, int] = {}
_value = 10
for _letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    if _value % 11 == 0:
        _value += 1
    ISO6346_LETTER_VALUES[_letter] = _value
    _value += 1


def iso6346_check_digit(first_ten: str) -> int:
    """The check digit of an ISO 6346 container number from its owner code, category and serial."""
    if len(first_ten) != 10:
        raise ValueError("expected 4 letters and 6 digits")
    total = 0
    for position, char in enumerate(first_ten):
        value = ISO6346_LETTER_VALUES[char] if char.isalpha() else int(char)
        total += value << position
    return total % 11 % 10


# Fictitious lines (carrier code, NAD+CA) with the owner prefixes of their boxes.
_CARRIERS = [
    ("AML", ["AMLU", "ATMU", "TNGU"], 38),  # Atlas Maghreb Lines, the vessel operator
    ("CSL", ["CSLU", "CSBU"], 18),  # Casablanca Shipping Line
    ("RFL", ["RIFU", "RFLU"], 14),  # Rif Feeder Lines
    ("SAH", ["SAHU", "DKLU"], 12),  # Sahel Ocean Carriers
    ("OCN", ["OCNU", "OCXU"], 10),  # Oceane Container Navigation
    ("LEV", ["LEVU"], 8),  # Levant Express
]

# Discharge ports with their places of delivery for through cargo (UN/LOCODE).
_DISCHARGE = [
    ("ESALG", 14, []),
    ("NLRTM", 16, ["DEDUI", "NLVEN"]),
    ("BEANR", 9, ["BEBRU"]),
    ("DEHAM", 11, ["CZPRG", "ATVIE"]),
    ("FRLEH", 8, ["FRPAR"]),
    ("GBFXT", 7, []),
    ("MACAS", 9, ["MARBA"]),
    ("SNDKR", 6, ["MLBKO"]),
    ("CIABJ", 5, ["BFOUA"]),
    ("NGAPP", 4, []),
    ("BRSSZ", 4, []),
    ("USNYC", 3, ["USCHI"]),
]
_ORIGINAL_LOADING = ["CNSHA", "CNNGB", "SGSIN", "MYPKG", "KRPUS", "VNSGN", "EGPSD"]

# (ISO 6346 size-type, weight in kg of the empty box, share); 2200 and 4510 are old 1984 codes.
_SIZE_TYPES = [
    ("45G1", 3900, 40),
    ("22G1", 2250, 22),
    ("42G1", 3750, 9),
    ("L5G1", 4800, 3),
    ("2200", 2200, 2),
    ("4510", 3950, 2),
    ("22T6", 3600, 1),
    ("45P3", 5100, 1),
]
_REEFER_TYPES = [("45R1", 4700), ("22R1", 3000)]

_GOODS = [
    "CITRUS ?+ CLEMENTINES",
    "CANNED SARDINES IN OLIVE OIL",
    "AUTO PARTS?: WIRING HARNESSES",
    "PHOSPHATE FERTILISER IN BAGS",
    "TEXTILES ?+ READY-MADE GARMENTS",
    "SHIPPER?'S LOAD AND COUNT",
    "ARGAN OIL 12 X 1 L",
    "CERAMIC TILES?: FLOOR",
    "TOMATOES",
    "DATES ?+ FIGS, DRIED",
]
_HANDLING = [
    "DO NOT STACK ?+ TOP STOW ONLY",
    "KEEP AWAY FROM HEAT?: SEE DG DECL.",
    "CHECK SEAL NO. MA?? BEFORE DISCHARGE",
    "CONSIGNEE?'S PRIORITY BOX",
    "DOOR TO DOOR?: NO CUSTOMS EXAM",
]
_REEFER_SETTINGS = ["-18.0", "-20.0", "-25.0", "-00.5", "01.5", "04.0", "05.0", "13.5"]
_REEFER_GOODS = ["FROZEN SARDINES", "FROZEN OCTOPUS", "BERRIES?: FRESH", "TOMATOES", "CITRUS"]
# (IMDG class, UN number, flashpoint or None, packing group or None, EmS, proper shipping name)
_DANGEROUS = [
    ("3", "1263", "023", "2", "F-E", "PAINT"),
    ("3", "1993", "045", "3", "F-E", "FLAMMABLE LIQUID, N.O.S. (ETHANOL?+ TOLUENE)"),
    ("2.1", "1950", None, None, "F-D", "AEROSOLS"),
    ("8", "1760", None, "2", "F-A", "CORROSIVE LIQUID, N.O.S."),
    ("9", "3082", None, "3", "F-A", "ENVIRONMENTALLY HAZARDOUS SUBSTANCE, LIQUID, N.O.S."),
    ("6.1", "2810", None, "3", "F-A", "TOXIC LIQUID, ORGANIC, N.O.S."),
    ("5.1", "1942", None, "3", "F-H", "AMMONIUM NITRATE"),
    ("4.1", "1325", None, "2", "F-A", "FLAMMABLE SOLID, ORGANIC, N.O.S."),
]

_TIERS = [2, 4, 6, 8, 10, 12, 14, 16, 18, 82, 84, 86, 88, 90, 92, 94, 96]  # hold, then deck
_ROWS = list(range(0, 24))


def _weighted(rng: random.Random, items: list[tuple], weight_index: int) -> tuple:
    return rng.choices(items, weights=[item[weight_index] for item in items])[0]


def _cells(count: int):
    """Distinct stowage cells BBBRRTT: 20-foot boxes in odd bays, 40/45-foot boxes in even bays."""
    per_bay = len(_ROWS) * len(_TIERS)
    for index in range(count):
        bay_slot, rest = divmod(index, per_bay)
        row = _ROWS[rest % len(_ROWS)]
        tier = _TIERS[rest // len(_ROWS)]
        yield bay_slot, row, tier


def make_bayplan(containers: int = 24000, messages: int = 3, seed: int = 1) -> bytes:
    """A valid SMDG 2.2 BAPLIE interchange (UNOA:2, D.95B): `containers` containers in `messages` messages."""
    if containers < 1 or messages < 1:
        raise ValueError("containers and messages must be at least 1")
    rng = random.Random(seed)
    out: list[str] = []
    add = out.append

    voyage = "0712N"
    interchange_ref = f"BP{seed % 10_000_000:07d}"
    add(f"UNB+UNOA:2+AMLTNG:ZZZ+MAPTMTOC:ZZZ+251126:1030+{interchange_ref}'")

    serials: set[str] = set()
    cells = _cells(containers)
    per_message = [containers // messages + (1 if m < containers % messages else 0) for m in range(messages)]
    carriers = [(code, prefixes, share) for code, prefixes, share in _CARRIERS]

    for number, count in enumerate(per_message, start=1):
        reference = f"AML{seed % 1_000_000:06d}{number:02d}"
        start = len(out)
        function = "9" if number == 1 else ("22" if number == messages else "2")
        add(f"UNH+{reference}+BAPLIE:D:95B:UN:SMDG22'")
        add(f"BGM++ATLTNG{voyage}P{number:02d}+{function}'")
        add("DTM+137:2511261030:201'")
        add(f"TDT+20+{voyage}+++AML:172:20+++CNAT7:103:ZZZ:ATLAS TANGIER'")
        add("LOC+5+MAPTM:139:6'")
        add("LOC+61+ESALG:139:6'")
        add("DTM+178:2511251815:201'")
        add("DTM+133:2511270600:201'")
        add("DTM+132:2511271400:201'")
        add("RFF+VON:0713S'")
        for _ in range(count):
            bay_slot, row, tier = next(cells)
            code, prefixes, _share = _weighted(rng, carriers, 2)
            reefer = rng.random() < 0.08
            empty = not reefer and rng.random() < 0.14
            if reefer:
                size_type, tare = rng.choice(_REEFER_TYPES)
            else:
                size_type, tare, _ = _weighted(rng, _SIZE_TYPES, 2)
            twenty = size_type[0] == "2"
            bay = bay_slot * 4 + (1 if twenty else 2)
            if bay > 999:
                raise ValueError("too many containers for three-digit bay numbers")
            add(f"LOC+147+{bay:03d}{row:02d}{tier:02d}::5'")

            if not empty and not reefer and rng.random() < 0.25:
                add(f"FTX+AAA+++{rng.choice(_GOODS)}'")
            if reefer:
                add(f"FTX+AAA+++{rng.choice(_REEFER_GOODS)}'")
            if rng.random() < 0.12:
                add(f"FTX+HAN+++{rng.choice(_HANDLING)}'")
            if not empty and rng.random() < 0.10:
                add("FTX+AAY++SM1+2511241410UTC:ATLAS WEIGHING SERVICES?: TANGER:K. BENANI'")

            if empty:
                add(f"MEA+WT++KGM:{tare}'")
            else:
                cargo = rng.randint(4000, (30480 if not twenty else 28000) - tare)
                add(f"MEA+VGM++KGM:{tare + cargo}'")
            if size_type == "45P3" and rng.random() < 0.5:
                add(f"DIM+9+CMT:::{rng.randint(20, 120)}'")
            if reefer:
                add(f"TMP+2+{rng.choice(_REEFER_SETTINGS)}:CEL'")

            port, _, deliveries = _weighted(rng, _DISCHARGE, 1)
            if rng.random() < 0.15:
                add(f"LOC+76+{rng.choice(_ORIGINAL_LOADING)}:139:6'")
            add("LOC+9+MAPTM:139:6+TM1:TER:306'" if rng.random() < 0.5 else "LOC+9+MAPTM:139:6'")
            add(f"LOC+11+{port}:139:6'")
            if deliveries and rng.random() < 0.4:
                add(f"LOC+83+{rng.choice(deliveries)}:139:6'")

            if rng.random() < 0.7:
                add("RFF+BM:1'")
            else:
                add(f"RFF+BM:{code}TNG{rng.randint(0, 9_999_999):07d}'")

            while True:
                prefix = rng.choice(prefixes)
                serial = f"{prefix}{rng.randint(0, 999_999):06d}"
                if serial not in serials:
                    serials.add(serial)
                    break
            number_with_check = f"{serial}{iso6346_check_digit(serial)}"
            add(f"EQD+CN+{number_with_check}+{size_type}+++{'4' if empty else '5'}'")
            add(f"NAD+CA+{code}:172:20'")

            if not empty and not reefer and rng.random() < 0.035:
                for _ in range(1 if rng.random() < 0.85 else 2):
                    cls, undg, flash, group, ems, name = rng.choice(_DANGEROUS)
                    fields = ["DGS", "IMD", cls, undg, f"{flash}:CEL" if flash else "", group or "", ems]
                    add("+".join(fields) + "'")
                    add(f"FTX+AAD+++{name}'")
        segments = len(out) - start + 1
        add(f"UNT+{segments}+{reference}'")
    add(f"UNZ+{messages}+{interchange_ref}'")
    return ("\n".join(out) + "\n").encode("ascii")


if __name__ == "__main__":  # pragma: no cover - handy for eyeballing a small plan
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    sys.stdout.write(make_bayplan(count, 1 if count < 9999 else 3).decode("ascii"))
