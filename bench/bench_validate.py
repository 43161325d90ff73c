"""Benchmark: the hub's full EDIFACT validation against pydifact's bare parse, on a large SMDG 2.2 bayplan.

    .venv/bin/python bench/bench_validate.py [--containers N] [--repeat R]

Measured in one run, on the same bytes (see bench/README.md for how to read the output):

* pydifact: `Interchange.from_str(text)`, a tokenizer and segment builder with no directory checks;
* the hub: `hub.edifact.validate(data)`, envelope, structure against the D.95B BAPLIE segment table,
  every element's format, length and code list, and the SMDG22 implementation guide;
* the hub's peak memory, as `ru_maxrss` of a child process that reads the bayplan from a file and
  validates it once;
* the hub's seconds per MB at 1x, 2x and 4x the size (more containers and messages, same density), to
  show that the cost grows linearly;
* whether the hub accepted the bayplan (it is valid, so it must), with the first issues if not.

The ratio printed is pydifact time / hub time: above 1 the hub validates faster than pydifact parses.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from bayplan import make_bayplan  # noqa: E402
from measure import fmt_s, timed, vm_hwm_mb  # noqa: E402

RATIO_TARGET = 8.0
MEMORY_TARGET_MB = 300.0
CONTAINERS_PER_MESSAGE = 8000  # D.95B allows 9,999 repetitions of segment group 2 per message


def messages_for(containers: int) -> int:
    return max(1, -(-containers // CONTAINERS_PER_MESSAGE))



def load_hub_validate() -> tuple[Callable[[bytes], Any] | None, str]:
    try:
        from hub.edifact import validate
    except Exception as e:  # the validator is written alongside this benchmark
        return None, f"hub.edifact.validate is not importable ({type(e).__name__}: {e})"
    return validate, ""


def run_pydifact(text: str, repeat: int) -> tuple[list[float], int]:
    from pydifact.segmentcollection import Interchange

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydifact warns once per segment tag about its own XML defs

        def parse() -> Any:
            return Interchange.from_str(text)

        first, inter = timed(parse, 1)
        # pydifact runs at about 1 MB/s: when one parse takes seconds, three runs give a fair median.
        more = repeat - 1 if first[0] < 2.0 else max(2, min(repeat, 3) - 1)
        rest, _ = timed(parse, more)
        count = sum(1 for _ in inter.segments) + 2  # Interchange keeps UNB and UNZ apart
    return first + rest, count



def child_memory(path: str) -> None:
    """Child mode: validate the file once, print peak RSS (and the baseline before validation) as JSON."""
    data = Path(path).read_bytes()
    validate, why = load_hub_validate()
    if validate is None:
        print(json.dumps({"error": why}))
        return
    scale = 1024 if sys.platform != "darwin" else 1024 * 1024  # Linux reports KiB, macOS bytes
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    hwm_before = vm_hwm_mb()
    t0 = time.perf_counter()
    report = validate(data)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    print(json.dumps({"baseline_mb": before, "peak_mb": after, "vmhwm_before_mb": hwm_before,
                      "vmhwm_peak_mb": vm_hwm_mb(), "accepted": bool(report.accepted),
                      "seconds": seconds}))


def measure_memory(data: bytes) -> dict[str, Any]:
    """Run `child_memory` in a fresh process and return what it printed.

    Linux carries the high-water mark of the address space a process had before exec into ru_maxrss,
    and Python spawns children with vfork, i.e. from the parent's (large) address space. So the child is
    started through /bin/sh, which forks it: the child's ru_maxrss then starts from the shell's few MB.
    """
    with tempfile.NamedTemporaryFile(suffix=".edi", delete=False) as f:
        f.write(data)
        path = f.name
    command = [sys.executable, str(Path(__file__).resolve()), "--child-memory", path]
    if os.path.exists("/bin/sh"):
        command = ["/bin/sh", "-c", '"$0" "$@"; exit $?', *command]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, cwd=str(ROOT), timeout=900)
    finally:
        os.unlink(path)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": f"child exited {proc.returncode}: {proc.stderr.strip()[-400:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def mb(nbytes: int) -> float:
    return nbytes / 1e6



def show_issues(report: Any, limit: int = 15) -> None:
    issues = report.all_issues()
    shown = min(limit, len(issues))
    print(f"  the hub did NOT accept the bayplan: {len(issues)} issue(s); the first {shown}:")
    for issue in issues[:limit]:
        where = " ".join(str(x) for x in (issue.segment, issue.tag, issue.element, issue.component)
                         if x is not None)
        rule = f" ({issue.rule})" if getattr(issue, "rule", None) else ""
        print(f"    {issue.severity.value:7} {issue.code.ident:28} [{where}] {issue.message}{rule}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--containers", type=int, default=24000, help="containers in the 1x bayplan (24000)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (5)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-scaling", action="store_true", help="skip the 2x and 4x runs")
    ap.add_argument("--child-memory", metavar="FILE", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_memory:
        child_memory(args.child_memory)
        return 0
    repeat = max(1, args.repeat)

    messages = messages_for(args.containers)
    t0 = time.perf_counter()
    data = make_bayplan(args.containers, messages, args.seed)
    gen_s = time.perf_counter() - t0
    text = data.decode("ascii")
    size = mb(len(data))
    segments = text.count("'\n")
    print(f"Bayplan: SMDG 2.2 BAPLIE D.95B, {args.containers:,} containers in {messages} message(s), "
          f"{len(data):,} bytes ({size:.2f} MB), {segments:,} segments, generated in {gen_s:.2f} s")
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPU(s)\n")

    # (a) pydifact's bare parse
    py_times, py_segments = run_pydifact(text, repeat)
    py_med = statistics.median(py_times)
    if py_segments != segments:
        print(f"  note: pydifact produced {py_segments:,} segments, the text has {segments:,}")

    # (b) the hub's full validation
    validate, why = load_hub_validate()
    hub: dict[str, Any] = {}
    if validate is not None:
        try:
            t0 = time.perf_counter()
            report = validate(data)  # the first call also loads and compiles the D.95B directory
            hub["cold"] = time.perf_counter() - t0
            times, report = timed(lambda: validate(data), repeat)
            hub["times"] = times
            hub["median"] = statistics.median(times)
            hub["report"] = report
        except Exception as e:  # a crash is a finding, not a reason to lose the pydifact numbers
            why = f"hub.edifact.validate raised {type(e).__name__}: {e}"
            validate = None

    rows = [("pydifact Interchange.from_str (parse only)", len(py_times), py_med, min(py_times))]
    if validate is not None:
        rows.append(("hub.edifact.validate (full validation)", repeat, hub["median"], min(hub["times"])))
    print(f"{'measurement':44} {'runs':>4} {'median':>10} {'best':>10} {'MB/s':>8}")
    print("-" * 80)
    for name, runs, med, best in rows:
        print(f"{name:44} {runs:4d} {fmt_s(med):>10} {fmt_s(best):>10} {size / med:8.2f}")
    if validate is None:
        print(f"\nThe hub's validation was not measured: {why}")
        return 2
    print(f"{'hub first call (loads the directory)':44} {1:4d} {fmt_s(hub['cold']):>10}")
    ratio = py_med / hub["median"]
    verdict = "meets" if ratio >= RATIO_TARGET else "MISSES"
    print(f"\nratio pydifact / hub (medians): {ratio:.2f}x  ({verdict} the target of >= {RATIO_TARGET:g}x)")

    report = hub["report"]
    accepted = bool(report.accepted)
    print(f"hub report accepted the bayplan: {'yes' if accepted else 'NO'}"
          f" ({len(report.all_issues())} issue(s))")
    if not accepted:
        show_issues(report)

    mem = measure_memory(data)
    if "error" in mem:
        print(f"hub peak memory: not measured ({mem['error']})")
        mem_ok = False
    else:
        mem_ok = mem["peak_mb"] < MEMORY_TARGET_MB
        print(f"hub peak memory (ru_maxrss of a child process that validates once): {mem['peak_mb']:.0f} MB, "
              f"of which {mem['baseline_mb']:.0f} MB before validation (interpreter, imports, input)"
              f"  ({'meets' if mem_ok else 'MISSES'} the target of < {MEMORY_TARGET_MB:g} MB)")
        if mem.get("vmhwm_peak_mb") is not None:
            print(f"  cross-check, VmHWM of the same child: {mem['vmhwm_peak_mb']:.0f} MB peak, "
                  f"{mem['vmhwm_before_mb']:.0f} MB before validation")

    linear_ok = True
    if not args.no_scaling:
        print("\nScaling of the hub's validation (same density, more containers and messages):")
        print(f"{'size':6} {'containers':>10} {'msgs':>5} {'MB':>7} {'runs':>4} {'median':>10} "
              f"{'s/MB':>8} {'vs 1x':>6}")
        print("-" * 64)
        base = hub["median"] / size
        print(f"{'1x':6} {args.containers:10,} {messages:5d} {size:7.2f} {repeat:4d} "
              f"{fmt_s(hub['median']):>10} {base:8.4f} {1.0:6.2f}")
        for k in (2, 4):
            n = args.containers * k
            m = messages_for(n)
            big = make_bayplan(n, m, args.seed)
            runs = max(3, repeat // 2)
            times, rep = timed(lambda big=big: validate(big), runs)  # type: ignore[misc]
            med = statistics.median(times)
            per_mb = med / mb(len(big))
            flag = "" if rep.accepted else "  (not accepted!)"
            print(f"{str(k) + 'x':6} {n:10,} {m:5d} {mb(len(big)):7.2f} {runs:4d} {fmt_s(med):>10} "
                  f"{per_mb:8.4f} {per_mb / base:6.2f}{flag}")
            linear_ok = linear_ok and per_mb / base < 1.3
        print("linear cost: " + ("yes (s/MB within 30% of 1x)" if linear_ok else "NO (s/MB grows with size)"))

    ok = accepted and ratio >= RATIO_TARGET and mem_ok and linear_ok
    print("\nSUMMARY: " + ("all targets met" if ok else "some targets missed (see above)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
