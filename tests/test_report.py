"""The issue vocabulary: stable, unique, documented."""

from __future__ import annotations

import json

from hub.report import Code, InterchangeReport, Issue, MessageReport, Report, Severity
from tools.issue_codes_doc import DOC, render


def test_identifiers_and_sentences_are_unique() -> None:
    idents = [c.value.ident for c in Code]
    summaries = [c.value.summary for c in Code]
    assert len(set(idents)) == len(idents)
    assert len(set(summaries)) == len(summaries)


def test_every_code_is_documented_and_the_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run tools/issue_codes_doc.py"


def test_0085_codes_are_in_the_un_code_list() -> None:
    # UN/EDIFACT 0085 values (syntax version 3 and 4 lists); 3 is the hub's "message not supported".
    known = {2, 3, 7, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
             33, 35, 36, 37, 38, 39, 40, 45, 46, 47, 48}
    assert {c.value.edifact_code for c in Code if c.value.edifact_code is not None} <= known


def test_a_warning_does_not_reject_but_an_error_does_at_every_level() -> None:
    warn = Issue(Code.TRAILING_SEPARATOR, "w", Severity.WARNING)
    err = Issue(Code.COUNT_MISMATCH, "e")
    msg = MessageReport("1", "BAPLIE", "D", "95B", "UN", None, issues=[warn])
    ic = InterchangeReport(messages=[msg])
    report = Report(interchanges=[ic])
    assert report.accepted and ic.accepted and msg.accepted
    msg.issues.append(err)
    assert not msg.accepted and not ic.accepted and not report.accepted


def test_report_dict_has_the_documented_shape() -> None:
    issue = Issue(Code.TOO_LONG, "too long", segment=3, tag="LOC", element=2, component=1, offset=40)
    report = Report(interchanges=[InterchangeReport(sender="A", recipient="B", control_ref="1",
                                                    syntax_id="UNOA", syntax_version="2",
                                                    messages=[MessageReport("M1", "BAPLIE", "D", "95B",
                                                                            "UN", "SMDG22",
                                                                            issues=[issue])])])
    d = json.loads(json.dumps(report.to_dict()))
    assert set(d) >= {"syntax", "accepted", "issues", "interchanges"}
    ic = d["interchanges"][0]
    assert set(ic) >= {"sender", "recipient", "control_ref", "syntax_id", "syntax_version", "accepted",
                       "issues", "messages"}
    m = ic["messages"][0]
    assert set(m) >= {"ref", "type", "version", "release", "agency", "assoc", "accepted", "issues"}
    assert {k: m["issues"][0][k] for k in ("code", "edifact_code", "severity", "segment", "tag", "element",
                                           "component", "offset")} == {
        "code": "too-long", "edifact_code": 39, "severity": "error", "segment": 3, "tag": "LOC",
        "element": 2, "component": 1, "offset": 40}
