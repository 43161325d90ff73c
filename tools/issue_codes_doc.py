"""Writes docs/issue-codes.md from hub.report.Code, so the reference never drifts from the code.

    .venv/bin/python tools/issue_codes_doc.py          # rewrite the file
    .venv/bin/python tools/issue_codes_doc.py --check  # exit 1 if the file is stale (used by tests)
"""

from __future__ import annotations

import sys
from pathlib import Path

from hub.report import Code

DOC = Path(__file__).resolve().parent.parent / "docs" / "issue-codes.md"


def render() -> str:
    lines = [
        "# Issue codes",
        "",
        "Every problem the hub reports carries one of these codes (`code` in JSON reports). Codes are never",
        "renumbered or reused. `0085` is the UN/EDIFACT syntax error code a CONTRL carries for it; issues",
        "without one are reported in the hub's own reports and APERAK only. Generated from `hub/report.py`",
        "by `tools/issue_codes_doc.py`.",
        "",
        "| code | 0085 | category | default severity | meaning |",
        "|---|---|---|---|---|",
    ]
    for c in Code:
        v = c.value
        lines.append(f"| `{v.ident}` | {v.edifact_code if v.edifact_code is not None else ''} | "
                     f"{v.category.value} | {v.severity.value} | {v.summary} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if "--check" in sys.argv:
        sys.exit(0 if DOC.read_text(encoding="utf-8") == render() else 1)
    DOC.write_text(render(), encoding="utf-8")
