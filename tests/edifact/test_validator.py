"""Validator rules pinned on small hand-written interchanges (each checked against the directory)."""

from __future__ import annotations

from hub.edifact import Options, validate
from hub.report import Severity


def _ic(body: str, syntax: str = "UNOA:3", una: str = "", date: str = "200101") -> bytes:
    segs = [s for s in body.split("'") if s]
    n = len(segs) + 2
    return (f"{una}UNB+{syntax}+S+R+{date}:1200+1'UNH+1+{{}}'{body}UNT+{n}+1'UNZ+1+1'").encode("latin-1")


def _errors(data: bytes) -> set[tuple[str, str | None, int | None, int | None]]:
    return {(i.code.ident, i.tag, i.element, i.component) for i in validate(data).all_issues()
            if i.severity is Severity.ERROR}


def _msg(mtype: str, body: str, **kw: str) -> bytes:
    return _ic(body, **kw).replace(b"{}", mtype.encode())


def test_agency_governs_the_code_before_it_not_every_code_in_the_composite() -> None:
    # D00B TSR C233: 7273 (service requirement) : 1131 : 3055 twice. The second 7273 'ZZ1' has its own
    # agency 9 (not UN/ECE), so the UN list does not apply to it.
    ok = _msg("IFTMIN:D:00B:UN", "BGM+610+X+9'TSR+30+2:::ZZ1::9'")
    assert ("invalid-code", "TSR", 2, 4) not in _errors(ok)
    bad = _msg("IFTMIN:D:00B:UN", "BGM+610+X+9'TSR+30+2:::ZZ1'")
    assert ("invalid-code", "TSR", 2, 4) in _errors(bad)


def test_code_after_the_agency_is_checked_against_the_un_list() -> None:
    # D01B GID C213: 7224:7065:1131:3055:7064:7233 - the agency governs 7065 only; 7233 'ZZZ' is no code.
    data = _msg("IFTMIN:D:01B:UN", "BGM+610+X+9'GID+1+1:CT::9:X:ZZZ'")
    assert ("invalid-code", "GID", 2, 6) in _errors(data)


def test_decimal_mark_must_be_the_one_the_una_declares_in_syntax_3() -> None:
    comma = _msg("IFTMIN:D:96A:UN", "BGM+610+X+9'MOA+64:1,5'", una="UNA:+.? '")
    assert ("invalid-decimal", "MOA", 1, 2) in _errors(comma)
    declared = _msg("IFTMIN:D:96A:UN", "BGM+610+X+9'MOA+64:1,5'", una="UNA:+,? '")
    assert not any(e[0] == "invalid-decimal" for e in _errors(declared))
    v4 = _msg("IFTMIN:D:96A:UN", "BGM+610+X+9'MOA+64:1,5'", una="UNA:+.?*'", syntax="UNOA:4",
              date="20200101")
    assert not any(e[0] == "invalid-decimal" for e in _errors(v4))


def test_lower_case_severity_follows_the_partner_option_but_accents_stay_errors() -> None:
    data = _msg("IFTMIN:D:96A:UN", "BGM+610+X+9'FTX+AAI+++hello'")
    lenient = Options(lowercase_under_unoa=Severity.WARNING)

    def char_errors(d: bytes, options: Options | None = None) -> list[str]:
        return [i.code.ident for i in validate(d, options=options).all_issues()
                if i.severity is Severity.ERROR and i.code.ident == "invalid-character"]

    assert char_errors(data, lenient) == []
    assert char_errors(data) == ["invalid-character"]
    accent = _msg("IFTMIN:D:96A:UN", "BGM+610+X+9'FTX+AAI+++CAF\xc9'")
    assert char_errors(accent, lenient) == ["invalid-character"]


def test_contrl_4_may_carry_decimal_error_codes() -> None:
    data = (b"UNB+UNOA:4+S+R+20200101:1200+1'UNH+1+CONTRL:4:1:UN'UCI+7+R+S+4'UCM+5+INVOIC:D:96A:UN+4'"
            b"UCS+3+19'UNT+5+1'UNZ+1+1'")
    assert ("invalid-code", "UCS", 2, None) not in _errors(data)


def test_duplicate_message_reference() -> None:
    data = (b"UNB+UNOA:3+S+R+200101:1200+1'UNH+1+APERAK:D:96A:UN'BGM+27+A+9'UNT+3+1'"
            b"UNH+1+APERAK:D:96A:UN'BGM+27+B+9'UNT+3+1'UNZ+2+1'")
    assert ("duplicate-reference", "UNH", 1, None) in _errors(data)


def test_unsupported_message_still_has_its_unh_checked() -> None:
    data = b"UNB+UNOA:3+S+R+200101:1200+1'UNH+1+APERAK:D:04B:ZZ'BGM+27+A+9'UNT+3+1'UNZ+1+1'"
    errors = _errors(data)
    assert ("unsupported-message", "UNH", 2, None) in errors
    assert ("invalid-code", "UNH", 2, 4) in errors


def test_line_break_inside_a_segment() -> None:
    data = _msg("IFTMIN:D:96A:UN", "BGM+610+X+9'FTX+AAI+++LINE ONE\nLINE TWO'")
    assert ("line-break-in-segment", "FTX", 4, 1) in _errors(data)
    between = _msg("IFTMIN:D:96A:UN", "BGM+610+X+9'\r\nFTX+AAI+++LINE ONE'\n")
    assert not any(e[0] == "line-break-in-segment" for e in _errors(between))
