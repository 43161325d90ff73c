"""Load benchmark: typical messages through AMQP into a running `hub serve`, routed to an AMQP destination.

    .venv/bin/python bench/bench_load.py [--count 20000] [--workers 1] [--processes 1] [--db URL]
                                         [--prepare-processes N]

In the same run it measures the ceiling: the same bytes published (persistent, with publisher confirms)
to a quorum queue of the same broker and consumed with manual acks, with nothing in between. Then it
starts `hub serve` in a temporary HUB_HOME (SQLite by default, or --db, e.g. a PostgreSQL URL for
--processes 2), publishes every message to its sender's queue as fast as confirms allow, and waits for
every routed copy on the destination queue. It prints the sustained rate (messages / time from first
publish to last delivery), the p50 / p99 latency from publish to routed delivery, and the ratio to the
ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pika

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from traffic import PARTNERS_YAML, Message, messages  # noqa: E402

from adapters.amqp import inbound_queue_arguments  # noqa: E402

AMQP_URL = os.environ.get("HUB_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collector(threading.Thread):
    """Consumes a queue, recording when each body arrived."""

    def __init__(self, queue: str, expected: int) -> None:
        super().__init__(daemon=True)
        self.queue = queue
        self.expected = expected
        self.arrived: dict[bytes, float] = {}
        self.done = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        ch = conn.channel()
        ch.basic_qos(prefetch_count=500)
        pending: list[int] = []

        def on_message(channel: Any, method: Any, properties: Any, body: bytes) -> None:
            self.arrived.setdefault(body, time.perf_counter())
            pending.append(method.delivery_tag)
            if len(pending) >= 100 or len(self.arrived) >= self.expected:
                channel.basic_ack(pending[-1], multiple=True)
                pending.clear()
            if len(self.arrived) >= self.expected:
                self.done.set()

        ch.basic_consume(self.queue, on_message)
        self.ready.set()
        while not self.done.is_set():
            conn.process_data_events(time_limit=0.2)
            if pending:
                ch.basic_ack(pending[-1], multiple=True)
                pending.clear()
        conn.close()


def publish(batch: list[tuple[str, bytes]], times: dict[bytes, float], window: int = 200) -> float:
    """Publish persistent messages with confirms, `window` at a time; returns the elapsed time."""
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    ch = conn.channel()
    ch.confirm_delivery()
    props = pika.BasicProperties(delivery_mode=2, content_type="application/octet-stream")
    t0 = time.perf_counter()
    # BlockingChannel.confirm_delivery makes each publish wait for its confirm; to keep `window` in
    # flight we use one channel per slot of a small pool instead.
    for queue, body in batch:
        times[body] = time.perf_counter()
        ch.basic_publish("", queue, body, props, mandatory=True)
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def publish_parallel(batch: list[tuple[str, bytes]], times: dict[bytes, float], publishers: int = 4) -> float:
    chunks = [batch[i::publishers] for i in range(publishers)]
    threads = [threading.Thread(target=publish, args=(chunk, times)) for chunk in chunks]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def declare(queues: list[str], quorum_inbound: bool = True) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    ch = conn.channel()
    for q in queues:
        ch.queue_declare(q, durable=True, arguments=inbound_queue_arguments(q) if quorum_inbound else
                         {"x-queue-type": "quorum"})
        ch.queue_declare(q + ".dead", durable=True, arguments={"x-queue-type": "quorum"})
    conn.close()


def delete(queues: list[str]) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    ch = conn.channel()
    for q in queues:
        ch.queue_delete(q)
    conn.close()


def latencies(sent: dict[bytes, float], arrived: dict[bytes, float]) -> tuple[float, float]:
    lat = sorted(arrived[b] - sent[b] for b in arrived if b in sent)
    return statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))]


def ceiling(msgs: list[Message]) -> tuple[float, float, float]:
    queue = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    declare([queue], quorum_inbound=False)
    try:
        collector = Collector(queue, len(msgs))
        collector.start()
        collector.ready.wait()
        sent: dict[bytes, float] = {}
        t0 = time.perf_counter()
        publish_parallel([(queue, m.body) for m in msgs], sent)
        collector.done.wait()
        total = max(collector.arrived.values()) - t0
        p50, p99 = latencies(sent, collector.arrived)
        return len(msgs) / total, p50, p99
    finally:
        delete([queue, queue + ".dead"])


def metric(port: int, name: str) -> float:
    """The value of one sample of a hub's /metrics (0 when it is not there)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"hub serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                health = json.load(r)
            if health.get("amqp") == "connected":
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("hub serve did not become healthy")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_named(*names: str) -> list[int]:
    """The processes whose command name (/proc/PID/comm) is one of `names`: the broker's Erlang VM,
    the database server's backends."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() in names:
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy (not idle, not waiting on I/O) since boot (Linux /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuShares:
    """Who used the machine's CPU between `start()` and `stop()`: the hub, the broker, the database
    server, this benchmark, and the machine as a whole, so a rate can be read against what the
    cores could give."""

    OTHERS = {"broker": ("beam.smp",), "database": ("postgres",)}

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._others0 = {k: {p: cpu_seconds(p) for p in pids_named(*names)} for k, names in self.OTHERS.items()}
        self._self0 = sum(os.times()[:2])
        self._busy0 = machine_busy_seconds()

    def stop(self) -> dict[str, float]:
        out = {"wall": time.perf_counter() - self._t0, "bench": sum(os.times()[:2]) - self._self0,
               "machine": machine_busy_seconds() - self._busy0}
        for k, names in self.OTHERS.items():
            before = self._others0[k]
            out[k] = sum(cpu_seconds(p) - before.get(p, 0.0) for p in pids_named(*names))
        return out


def children(pid: int) -> list[int]:
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    return [int(c) for t in tasks for c in (t / "children").read_text().split()]


def run_hub(msgs: list[Message], workers: int, processes: int, db: str | None,
            prepare_processes: int | None = None) -> dict[str, Any]:
    prefix = f"bench.{uuid.uuid4().hex[:8]}"
    home = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    (home / "partners.yaml").write_text(PARTNERS_YAML.format(prefix=prefix))
    queues = {p: f"{prefix}.{p.lower()}" for p in ("AML", "KASBAH", "BROKER")}
    out_queue = f"{prefix}.out"
    declare(list(queues.values()))
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    conn.channel().queue_declare(out_queue, durable=True, arguments={"x-queue-type": "quorum"})
    conn.close()
    env = {**os.environ, "HUB_AMQP_URL": AMQP_URL, "HUB_HOME": str(home)}
    if db:
        env["HUB_DATABASE_URL"] = db
    procs = []
    ports = []
    try:
        for k in range(processes):
            http_port = free_port()
            ports.append(http_port)
            toml = home / f"hub{k}.toml"
            helper_line = "" if prepare_processes is None else f"prepare_processes = {prepare_processes}\n"
            toml.write_text(f"[http]\nport = {http_port}\n[pipeline]\nworkers = {workers}\n{helper_line}")
            proc_home = home if k == 0 else home / f"p{k}"
            if k:
                proc_home.mkdir()
                (proc_home / "partners.yaml").write_text((home / "partners.yaml").read_text())
            (proc_home / "hub.toml").write_text(toml.read_text())
            log = open(home / f"serve{k}.log", "wb")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "serve", "--home", str(proc_home), "--sftp-port",
                 str(free_port())], env={**env, "HUB_HOME": str(proc_home)}, stdout=log, stderr=log))
        for proc, port in zip(procs, ports, strict=True):
            wait_healthy(port, proc)
        collector = Collector(out_queue, len(msgs))
        collector.start()
        collector.ready.wait()
        sent: dict[bytes, float] = {}
        shares = CpuShares()
        shares.start()
        cpu0 = {p.pid: cpu_seconds(p.pid) for p in procs}
        helpers = {c: cpu_seconds(c) for p in procs for c in children(p.pid)}
        t0 = time.perf_counter()
        publish_time = publish_parallel([(queues[m.partner], m.body) for m in msgs], sent)
        while not collector.done.wait(5):
            got = len(collector.arrived)
            print(f"  ... {got}/{len(msgs)} delivered after {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            if any(p.poll() is not None for p in procs):
                raise SystemExit("hub serve died; see " + str(home))
        total = max(collector.arrived.values()) - t0
        cpu = sum(cpu_seconds(p) - c for p, c in cpu0.items())
        helper_cpu = sum(cpu_seconds(c) - helpers.get(c, 0.0) for p in procs for c in children(p.pid))
        others = shares.stop()
        handed = sum(metric(port, "hub_pipeline_handed_total") for port in ports)
        taken_over = sum(metric(port, "hub_pipeline_calls_taken_over_total") for port in ports)
        processed = [metric(port, "hub_pipeline_processed_total") for port in ports]
        p50, p99 = latencies(sent, collector.arrived)
        return {"rate": len(msgs) / total, "handed": handed, "taken_over": taken_over, "processed": processed,
                "p50": p50, "p99": p99,
                "publish_rate": len(msgs) / publish_time,
                "home": str(home), "cpu_ms": cpu * 1000 / len(msgs), "helper_cpu_ms": helper_cpu * 1000 / len(msgs),
                **{f"{k}_cpu_ms": v * 1000 / len(msgs) for k, v in others.items() if k != "wall"},
                "cores_busy": others["machine"] / others["wall"]}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        delete([*queues.values(), *(q + ".dead" for q in queues.values()), out_queue])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--calls", type=int, default=200, help="vessel calls the traffic is spread over")
    ap.add_argument("--workers", type=int, default=1, help="pipeline threads per hub process")
    ap.add_argument("--processes", type=int, default=1, help="hub serve processes (>1 needs --db PostgreSQL)")
    ap.add_argument("--db", help="the store URL (default: SQLite in the temporary home)")
    ap.add_argument("--prepare-processes", type=int,
                    help="validation helper processes per hub (default: the hub's, 1 on 2+ cores)")
    args = ap.parse_args()
    if args.processes > 1 and not (args.db or "").startswith("postgresql"):
        ap.error("several processes share the work through PostgreSQL: pass --db postgresql://...")
    msgs = messages(args.count, args.calls)
    kinds: dict[str, int] = {}
    for m in msgs:
        kinds[m.kind] = kinds.get(m.kind, 0) + 1
    print(f"{len(msgs)} messages ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), "
          f"{sum(len(m.body) for m in msgs) / len(msgs):.0f} bytes on average, {args.calls} vessel calls")
    c_rate, c50, c99 = ceiling(msgs)
    print(f"broker ceiling (publish+confirm, consume+ack, quorum queue): {c_rate:8.0f} msg/s  "
          f"p50 {c50 * 1000:7.1f} ms  p99 {c99 * 1000:7.1f} ms")
    store = args.db.split(":", 1)[0] if args.db else "sqlite"
    hub = run_hub(msgs, args.workers, args.processes, args.db, args.prepare_processes)
    helpers = "" if args.prepare_processes is None else f", {args.prepare_processes} helper(s)"
    print(f"hub ({args.processes} process(es) x {args.workers} worker(s){helpers}, {store}):  "
          f"{hub['rate']:8.0f} msg/s  "
          f"p50 {hub['p50'] * 1000:7.1f} ms  p99 {hub['p99'] * 1000:7.1f} ms  "
          f"(published at {hub['publish_rate']:.0f} msg/s)")
    if args.processes > 1:
        print(f"messages processed by each process: {' / '.join(f'{n:.0f}' for n in hub['processed'])}; "
              f"vessel calls taken over from a process that was behind: {hub['taken_over']:.0f}")
        print(f"messages handed to the process owning their vessel call (and validated again there): "
              f"{hub['handed']:.0f}, {100 * hub['handed'] / len(msgs):.0f} % of the messages")
    print(f"CPU a message: hub serve {hub['cpu_ms']:.2f} ms, its helper processes {hub['helper_cpu_ms']:.2f} ms "
          "(the serve process is one interpreter: above ~3.3 ms it cannot reach 300 msg/s)")
    spent = {"hub serve": hub["cpu_ms"], "its helpers": hub["helper_cpu_ms"], "broker": hub["broker_cpu_ms"],
             "database server": hub["database_cpu_ms"], "this benchmark": hub["bench_cpu_ms"]}
    print("CPU a message, everyone: " + ", ".join(f"{k} {v:.2f} ms" for k, v in spent.items())
          + f"; the machine {hub['machine_cpu_ms']:.2f} ms, {hub['cores_busy']:.2f} of {os.cpu_count()} cores busy")
    cores = os.cpu_count() or 1
    others_ms = sum(v for k, v in spent.items() if k not in ("hub serve", "its helpers"))
    print(f"  at that cost the cores allow {cores * 1000 / hub['machine_cpu_ms']:.0f} msg/s; "
          f"300 msg/s leaves the hub {cores * 1000 / 300 - others_ms:.2f} ms a message "
          f"beside the others' {others_ms:.2f} ms")
    print(f"hub / ceiling: {hub['rate'] / c_rate:.3f}   target: >= 300 msg/s -> "
          f"{'met' if hub['rate'] >= 300 else 'NOT met'}   (logs in {hub['home']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
