"""Benchmark: the hub's whole path (journal, validate, map, correlate, store) on a large bayplan, then a
CUSCAR manifest correlated against it, with pydifact's bare parse as the baseline.

    .venv/bin/python bench/bench_dossier.py [--containers N] [--bls N] [--repeat R]

Measured in one run (see bench/README.md, "bench_dossier.py"):

* pydifact: `Interchange.from_str(text)` of the SMDG 2.2 bayplan (`make_bayplan(N, 3, 1)`), one run before each
  run of the hub;
* the hub: `hub.ingest.ingest_bytes(bayplan, open_store("sqlite:///<tmp>/hub.db"), default_catalog())`,
  a fresh database each run, split into `validate_located`, `map_edifact` and the rest (journal,
  correlation, store);
* a CUSCAR D95B manifest of `--bls` B/Ls (one CNI group each, naming one container of the bayplan)
  ingested into the store that already holds the bayplan: its time, and that it gave one call and
  one consignment per B/L;
* the peak memory (`ru_maxrss`) of a child process that runs the whole path, bayplan then manifest.

The ratio printed is pydifact time / hub time: above 1 the hub stores faster than pydifact parses.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from bayplan import make_bayplan  # noqa: E402
from measure import fmt_s, timed, vm_hwm_mb  # noqa: E402

RATIO_TARGET = 4.0
MANIFEST_TARGET_S = 2.0
MEMORY_TARGET_MB = 500.0
MESSAGES = 3


# --- the manifest ----------------------------------------------------------------------------------

def bayplan_facts(data: bytes) -> dict[str, Any]:
    """Voyage, vessel, carrier, the call's port (LOC+61) and the containers with their discharge port."""
    facts: dict[str, Any] = {"containers": []}
    discharge = ""
    for line in data.decode("ascii").splitlines():
        if line.startswith("TDT+20+") and "voyage" not in facts:
            parts = line.rstrip("'").split("+")
            facts["voyage"] = parts[2]
            facts["carrier"] = parts[5]
            facts["vessel"] = parts[8]
        elif line.startswith("LOC+61+") and "next_port" not in facts:
            facts["next_port"] = line.split("+")[2].split(":")[0]
        elif line.startswith("LOC+5+") and "port" not in facts:
            facts["port"] = line.split("+")[2].split(":")[0]
        elif line.startswith("DTM+132:") and "eta" not in facts:
            facts["eta"] = line[8:18]
        elif line.startswith("LOC+11+"):
            discharge = line.split("+")[2].split(":")[0]
        elif line.startswith("EQD+CN+"):
            facts["containers"].append((line.split("+")[2], discharge))
    return facts


_GOODS = ["CANNED SARDINES IN OLIVE OIL", "CITRUS CLEMENTINES", "AUTO PARTS WIRING HARNESSES",
          "PHOSPHATE FERTILISER IN BAGS", "CERAMIC FLOOR TILES", "ARGAN OIL 12 X 1 L", "DATES AND FIGS"]
_CONSIGNEES = [("EPICERIE FINE DE L?'ATLAS SA", "45 RUE IBNOU MOUNIR", "CASABLANCA", "20100", "MA"),
               ("IBERICA DISTRIBUCION SL", "CALLE REAL 12", "ALGECIRAS", "11201", "ES"),
               ("NORDHAFEN IMPORT GMBH", "KAISTRASSE 4", "HAMBURG", "20457", "DE"),
               ("MAISON DU SUD SARL", "8 QUAI DE SEINE", "LE HAVRE", "76600", "FR")]


def make_manifest(bayplan: bytes, bls: int) -> bytes:
    """One CUSCAR:D:95B:UN message: TDT+20 with the bayplan's voyage and vessel, LOC+24 its next port,
    then `bls` CNI groups each naming one distinct container of the bayplan (SGP)."""
    f = bayplan_facts(bayplan)
    if bls > len(f["containers"]):
        raise ValueError(f"{bls} B/Ls but only {len(f['containers'])} containers in the bayplan")
    eta = "20" + f["eta"]
    out: list[str] = []
    add = out.append
    add("UNB+UNOA:2+AMLALG:ZZZ+AEATALG:ZZZ+251127:0815+CUS0000001'")
    add("UNH+CUS0001+CUSCAR:D:95B:UN'")
    start = len(out) - 1
    add(f"BGM+85+MAN2025{f['next_port'][2:]}{f['voyage']}+9'")
    add("DTM+137:202511270815:203'")
    add(f"RFF+VON:{f['voyage']}'")
    add("NAD+CG+AMLALG:160:ZZZ++ATLAS MAGHREB LINES ESPANA+AVDA VIRGEN DEL CARMEN 1+ALGECIRAS++11201+ES'")
    add(f"TDT+20+{f['voyage']}+1++{f['carrier']}+++{f['vessel']}'")
    add(f"LOC+125+{f['port']}:139:6'")
    add(f"LOC+24+{f['next_port']}:139:6'")
    add(f"DTM+132:{eta}:203'")
    step = max(1, len(f["containers"]) // bls)
    for i in range(bls):
        container, discharge = f["containers"][i * step]
        bl = f"AMLMAN{i + 1:07d}"  # not a prefix the bayplan uses for its B/Ls
        name, street, city, post, country = _CONSIGNEES[i % len(_CONSIGNEES)]
        packages = 100 + (i * 37) % 1900
        add(f"CNI+{i + 1}+{bl}'")
        add(f"RFF+BM:{bl}'")
        add(f"LOC+9+{f['port']}:139:6'")
        add(f"LOC+11+{discharge}:139:6'")
        add(f"NAD+CN+++{name}+{street}+{city}++{post}+{country}'")
        add(f"GID+1+{packages}:CT'")
        add(f"FTX+AAA+++{_GOODS[i % len(_GOODS)]}'")
        add(f"MEA+WT+G+KGM:{4000 + (i * 131) % 20000}'")
        add(f"SGP+{container}+{packages}'")
    add(f"UNT+{len(out) - start + 1}+CUS0001'")
    add("UNZ+1+CUS0000001'")
    return ("\n".join(out) + "\n").encode("ascii")


# --- timing helpers --------------------------------------------------------------------------------


def run_pydifact(text: str) -> float:
    """One parse of the bayplan by pydifact (seconds)."""
    from pydifact.segmentcollection import Interchange

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydifact warns once per segment tag about its own XML defs
        times, _ = timed(lambda: Interchange.from_str(text), 1)
    return times[0]


class Split:
    """Wraps validate_located and map_edifact where ingest_bytes looks them up, adding up their time."""

    def __init__(self) -> None:
        import hub.edifact.validator as validator
        import hub.ingest as ingest

        self.validator, self.ingest = validator, ingest
        self.orig_validate, self.orig_map = validator.validate_located, ingest.map_edifact
        self.validate_s = self.map_s = 0.0

    def _validate(self, *a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.orig_validate(*a, **kw)
        finally:
            self.validate_s += time.perf_counter() - t0

    def _map(self, *a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.orig_map(*a, **kw)
        finally:
            self.map_s += time.perf_counter() - t0

    def __enter__(self) -> Split:
        self.validator.validate_located = self._validate  # map_bytes imports it at call time
        self.ingest.map_edifact = self._map
        return self

    def __exit__(self, *exc: Any) -> None:
        self.validator.validate_located = self.orig_validate
        self.ingest.map_edifact = self.orig_map


def kinds(db: Path) -> dict[str, int]:
    con = sqlite3.connect(str(db))
    try:
        return {k: n for k, n in con.execute("SELECT kind, count(*) FROM dossiers GROUP BY kind")}
    finally:
        con.close()


def whole_path(bayplan: bytes, manifest: bytes, workdir: Path) -> dict[str, Any]:
    """One run into a fresh SQLite store: bayplan (timed, with split), then manifest (timed)."""
    from hub.catalog import default_catalog
    from hub.ingest import ingest_bytes
    from hub.store import open_store

    db = workdir / "hub.db"
    store = open_store(f"sqlite:///{db}")
    catalog = default_catalog()
    try:
        with Split() as split:
            t0 = time.perf_counter()
            bp = ingest_bytes(bayplan, store, catalog, filename="bayplan.edi")
            bayplan_s = time.perf_counter() - t0
        before = store.counts()
        kinds_before = kinds(db)
        with Split() as manifest_split:
            t0, c0 = time.perf_counter(), time.process_time()
            mf = ingest_bytes(manifest, store, catalog, filename="manifest.edi")
            manifest_s = time.perf_counter() - t0
            manifest_cpu_s = time.process_time() - c0
        after = store.counts()
        kinds_after = kinds(db)
    finally:
        store.close()
    return {"bayplan_s": bayplan_s, "validate_s": split.validate_s, "map_s": split.map_s,
            "rest_s": bayplan_s - split.validate_s - split.map_s, "manifest_s": manifest_s,
            "manifest_cpu_s": manifest_cpu_s,
            "manifest_analysis_s": manifest_split.validate_s + manifest_split.map_s,
            "manifest_rest_s": manifest_s - manifest_split.validate_s - manifest_split.map_s,
            "bp": bp, "mf": mf, "before": before, "after": after,
            "kinds_before": kinds_before, "kinds_after": kinds_after}


# --- memory ----------------------------------------------------------------------------------------


def child_memory(bayplan_path: str, manifest_path: str) -> None:
    """Child mode: the whole path once (bayplan then manifest, fresh store), peak RSS as JSON."""
    bayplan = Path(bayplan_path).read_bytes()
    manifest = Path(manifest_path).read_bytes()
    import hub.catalog  # noqa: F401  imports count as baseline, not as the path's memory
    import hub.ingest  # noqa: F401
    import hub.store  # noqa: F401

    scale = 1024 if sys.platform != "darwin" else 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    hwm_before = vm_hwm_mb()
    workdir = Path(tempfile.mkdtemp(prefix="bench-dossier-mem-"))
    try:
        t0 = time.perf_counter()
        r = whole_path(bayplan, manifest, workdir)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    print(json.dumps({"baseline_mb": before, "peak_mb": after, "vmhwm_before_mb": hwm_before,
                      "vmhwm_peak_mb": vm_hwm_mb(), "seconds": seconds,
                      "accepted": bool(r["bp"].report and r["bp"].report.accepted
                                       and r["mf"].report and r["mf"].report.accepted)}))


def measure_memory(bayplan: bytes, manifest: bytes) -> dict[str, Any]:
    """`child_memory` in a fresh process started through /bin/sh (see bench_validate.py for why)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-dossier-in-"))
    (workdir / "bayplan.edi").write_bytes(bayplan)
    (workdir / "manifest.edi").write_bytes(manifest)
    command = [sys.executable, str(Path(__file__).resolve()), "--child-memory",
               str(workdir / "bayplan.edi"), str(workdir / "manifest.edi")]
    if os.path.exists("/bin/sh"):
        command = ["/bin/sh", "-c", '"$0" "$@"; exit $?', *command]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, cwd=str(ROOT), timeout=900)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": f"child exited {proc.returncode}: {proc.stderr.strip()[-400:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --- output ----------------------------------------------------------------------------------------


def show_issues(what: str, report: Any, limit: int = 15) -> None:
    issues = report.all_issues()
    shown = min(limit, len(issues))
    print(f"  the hub did NOT accept the {what}: {len(issues)} issue(s); the first {shown}:")
    for issue in issues[:limit]:
        where = " ".join(str(x) for x in (issue.segment, issue.tag, issue.element, issue.component)
                         if x is not None)
        rule = f" ({issue.rule})" if getattr(issue, "rule", None) else ""
        print(f"    {issue.severity.value:7} {issue.code.ident:28} [{where}] {issue.message}{rule}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--containers", type=int, default=24000, help="containers in the bayplan (24000)")
    ap.add_argument("--bls", type=int, default=5000, help="B/Ls (CNI groups) in the manifest (5000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (3)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child-memory", nargs=2, metavar=("BAYPLAN", "MANIFEST"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_memory:
        child_memory(*args.child_memory)
        return 0
    repeat = max(1, args.repeat)

    print("$ " + " ".join([Path(sys.executable).name, "bench/bench_dossier.py", *sys.argv[1:]]))
    messages = max(MESSAGES, -(-args.containers // 9000))
    bayplan = make_bayplan(args.containers, messages, args.seed)
    manifest = make_manifest(bayplan, args.bls)
    text = bayplan.decode("ascii")
    size = len(bayplan) / 1e6
    bayplan_segments, manifest_segments = bayplan.count(b"'\n"), manifest.count(b"'\n")
    print(f"Bayplan: SMDG 2.2 BAPLIE D.95B, {args.containers:,} containers in {messages} message(s), "
          f"{len(bayplan):,} bytes ({size:.2f} MB), {bayplan_segments:,} segments")
    print(f"Manifest: CUSCAR D.95B, {args.bls:,} B/Ls in 1 message, {len(manifest):,} bytes "
          f"({len(manifest) / 1e6:.2f} MB), {manifest_segments:,} segments")
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPU(s)\n")

    # the manifest must be valid for its figures to mean anything
    from hub.edifact import validate

    mreport = validate(manifest)  # also loads the D.95B directory and the guides
    manifest_ok = bool(mreport.accepted)
    if not manifest_ok:
        show_issues("generated manifest (hub.edifact.validate)", mreport)

    # One untimed warm-up of the whole path (mapping registry, SQLAlchemy, migrations compiled), then
    # pydifact and the hub in turns: this host's speed swings by half within a minute, and a baseline
    # measured in one stretch and the hub in the next would put that swing into the ratio.
    runs: list[dict[str, Any]] = []
    py_times: list[float] = []
    base = Path(tempfile.mkdtemp(prefix="bench-dossier-"))
    try:
        (base / "warm").mkdir()
        warm = whole_path(bayplan, manifest, base / "warm")
        for i in range(repeat):
            py_times.append(run_pydifact(text))
            d = base / f"run{i}"
            d.mkdir()
            runs.append(whole_path(bayplan, manifest, d))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    py_med = statistics.median(py_times)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    def best(key: str) -> float:
        return min(r[key] for r in runs)

    hub_med = med("bayplan_s")
    rows = [
        ("pydifact Interchange.from_str (parse only)", len(py_times), py_med, min(py_times), size),
        ("hub ingest_bytes bayplan (whole path)", repeat, hub_med, best("bayplan_s"), size),
        ("  of which validate_located", repeat, med("validate_s"), best("validate_s"), size),
        ("  of which map_edifact", repeat, med("map_s"), best("map_s"), size),
        ("  of which the rest (journal, correlate, store)", repeat, med("rest_s"), best("rest_s"), size),
        ("hub ingest_bytes manifest (onto the bayplan)", repeat, med("manifest_s"), best("manifest_s"),
         len(manifest) / 1e6),
        ("  of which validate_located and map_edifact", repeat, med("manifest_analysis_s"),
         best("manifest_analysis_s"), len(manifest) / 1e6),
        ("  of which the rest (journal, correlate, store)", repeat, med("manifest_rest_s"),
         best("manifest_rest_s"), len(manifest) / 1e6),
        ("hub warm-up (bayplan, first call)", 1, warm["bayplan_s"], warm["bayplan_s"], size),
    ]
    print(f"{'measurement':48} {'runs':>4} {'median':>10} {'best':>10} {'MB/s':>8}")
    print("-" * 84)
    for name, n, m, b, mbytes in rows:
        print(f"{name:48} {n:4d} {fmt_s(m):>10} {fmt_s(b):>10} {mbytes / m:8.2f}")

    ratio = py_med / hub_med
    ratio_ok = ratio >= RATIO_TARGET
    paired = statistics.median(p / r["bayplan_s"] for p, r in zip(py_times, runs, strict=True))
    print(f"\nratio pydifact / hub whole path (medians): {ratio:.2f}x  "
          f"({'meets' if ratio_ok else 'MISSES'} the target of >= {RATIO_TARGET:g}x); "
          f"median of the {repeat} run-by-run ratios: {paired:.2f}x")
    manifest_s = med("manifest_s")
    time_ok = manifest_s < MANIFEST_TARGET_S
    print(f"manifest correlation (median): {manifest_s:.3f} s  "
          f"({'meets' if time_ok else 'MISSES'} the target of < {MANIFEST_TARGET_S:g} s); "
          f"its CPU time {med('manifest_cpu_s'):.3f} s (median; best {best('manifest_cpu_s'):.3f}): the "
          "path hardly waits, so a slow host slows both alike")

    last = runs[-1]
    bp_ok = bool(last["bp"].report and last["bp"].report.accepted)
    mf_ok = bool(last["mf"].report and last["mf"].report.accepted)
    print(f"hub accepted the bayplan: {'yes' if bp_ok else 'NO'}; the manifest: "
          f"{'yes' if mf_ok else 'NO'} (hub.edifact.validate on the generated manifest: "
          f"{'accepted' if manifest_ok else 'REJECTED'}, {len(mreport.all_issues())} issue(s))")
    if not bp_ok and last["bp"].report:
        show_issues("bayplan", last["bp"].report)
    if not mf_ok and last["mf"].report and manifest_ok:
        show_issues("manifest", last["mf"].report)

    b, a = last["before"], last["after"]
    kb, ka = last["kinds_before"], last["kinds_after"]
    summary = last["mf"].summary()
    calls, consignments = len(summary["calls"]), len(summary["consignments"])
    new_calls = ka.get("vessel_call", 0) - kb.get("vessel_call", 0)
    new_cons = ka.get("consignment", 0) - kb.get("consignment", 0)
    print(f"store.counts() after the bayplan: dossiers {b['dossiers']:,}, keys {b['correlation_keys']:,}, "
          f"events {b['events']:,}, discrepancies {b['discrepancies']:,}; by kind {kb}")
    print(f"store.counts() after the manifest: dossiers {a['dossiers']:,}, keys {a['correlation_keys']:,}, "
          f"events {a['events']:,}, discrepancies {a['discrepancies']:,}; by kind {ka}; "
          f"messages {a['messages']} ({a.get('messages_correlated', 0)} correlated)")
    # one call (the bayplan's, found again, not a second one) and one new consignment per B/L
    dossiers_ok = (calls == 1 and consignments == args.bls and ka.get("vessel_call", 0) == 1
                   and new_cons == args.bls)
    print(f"manifest touched {calls} call(s) and {consignments:,} consignment(s); new in the store: "
          f"{new_calls} call(s), {new_cons:,} consignment(s)  "
          f"({'as expected' if dossiers_ok else f'EXPECTED 1 call and {args.bls:,} consignments'})")

    mem = measure_memory(bayplan, manifest)
    if "error" in mem:
        print(f"hub peak memory: not measured ({mem['error']})")
        mem_ok = False
    else:
        mem_ok = mem["peak_mb"] < MEMORY_TARGET_MB
        print(f"hub peak memory (ru_maxrss of a child process, bayplan then manifest into a fresh store): "
              f"{mem['peak_mb']:.0f} MB, of which {mem['baseline_mb']:.0f} MB before (interpreter, imports, "
              f"inputs)  ({'meets' if mem_ok else 'MISSES'} the target of < {MEMORY_TARGET_MB:g} MB)")
        if mem.get("vmhwm_peak_mb") is not None:
            print(f"  cross-check, VmHWM of the same child: {mem['vmhwm_peak_mb']:.0f} MB peak, "
                  f"{mem['vmhwm_before_mb']:.0f} MB before; the child's run took {mem['seconds']:.1f} s")

    ok = manifest_ok and bp_ok and mf_ok and ratio_ok and time_ok and dossiers_ok and mem_ok
    missed = [name for name, good in (("manifest valid", manifest_ok and mf_ok), ("bayplan accepted", bp_ok),
                                      (f"ratio >= {RATIO_TARGET:g}x", ratio_ok),
                                      (f"manifest < {MANIFEST_TARGET_S:g} s", time_ok),
                                      ("1 call + consignments", dossiers_ok),
                                      (f"memory < {MEMORY_TARGET_MB:g} MB", mem_ok)) if not good]
    print("\nSUMMARY: " + ("all targets met" if ok else "targets missed: " + ", ".join(missed))
          + f" (ratio {ratio:.2f}x, manifest {manifest_s:.3f} s, "
          + (f"peak {mem['peak_mb']:.0f} MB" if "peak_mb" in mem else "peak n/a") + ")")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
