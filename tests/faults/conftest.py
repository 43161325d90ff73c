"""Fault tests against a running `hub serve`: helpers and fixtures.

The hub runs as a subprocess (`python -m hub.cli serve`) in a throw-away home (partners.yaml from
bench/traffic.py with queue names unique to the test, hub.toml with free ports), against the real
RabbitMQ (HUB_TEST_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672/%2F) and SQLite or PostgreSQL.
Traffic is bench/traffic.py's `messages(count, calls)`. The tests read the results from the store
(hub.store.open_store) and from the destination queue.

Every queue a test declares is deleted at teardown; every hub process it starts is killed.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
import yaml

from adapters.amqp import inbound_queue_arguments
from hub.store import Store, open_store
from hub.store.schema import correlation_keys, deliveries, discrepancies, dossiers, events, messages
from tests.adapters.amqp_helpers import AMQP_URL, broker_problem, delete_queues

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import traffic  # noqa: E402  (bench/traffic.py: the typical generated traffic)

PARTNER_QUEUES = ("AML", "KASBAH", "BROKER")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def log(text: str) -> None:
    """Progress the test prints (shown with -s, and in the report of a failing test)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- AMQP --------------------------------------------------------------------------------------------


def _params(url: str = AMQP_URL) -> Any:
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 5.0
    return params


def queue_depth(queue: str) -> int:
    """Ready messages in a queue (-1 if it does not exist or the broker does not answer)."""
    try:
        conn = pika.BlockingConnection(_params())
    except Exception:
        return -1
    try:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)
    except pika.exceptions.ChannelClosedByBroker:
        return -1
    finally:
        if conn.is_open:
            conn.close()


@dataclass
class Queues:
    """The queue names of one test (from a unique prefix), declared as the hub declares them."""

    prefix: str
    declared: list[str] = field(default_factory=list)

    @property
    def inbound(self) -> dict[str, str]:
        return {p: f"{self.prefix}.{p.lower()}" for p in PARTNER_QUEUES}

    @property
    def out(self) -> str:
        return f"{self.prefix}.out"

    def declare_inbound(self) -> None:
        with _connection() as conn:
            ch = conn.channel()
            for q in self.inbound.values():
                ch.queue_declare(q + ".dead", durable=True, arguments={"x-queue-type": "quorum"})
                ch.queue_declare(q, durable=True, arguments=inbound_queue_arguments(q))
                self.declared += [q, q + ".dead"]

    def declare_out(self) -> None:
        with _connection() as conn:
            conn.channel().queue_declare(self.out, durable=True, arguments={"x-queue-type": "quorum"})
        self.declared.append(self.out)

    def dead_depths(self) -> dict[str, int]:
        return {q + ".dead": queue_depth(q + ".dead") for q in self.inbound.values()}

    def delete_all(self) -> None:
        names = set(self.declared) | set(self.inbound.values()) | {q + ".dead" for q in self.inbound.values()} \
            | {self.out}
        if not wait_until(lambda: broker_problem() is None, 60, 1.0):
            return
        delete_queues(sorted(names), AMQP_URL)


class _connection:
    def __enter__(self) -> Any:
        self.conn = pika.BlockingConnection(_params())
        return self.conn

    def __exit__(self, *exc: object) -> None:
        if self.conn.is_open:
            self.conn.close()


class ConfirmingPublisher(threading.Thread):
    """Publishes (queue, body) pairs persistent, mandatory, with publisher confirms, the way a partner
    should: what was not confirmed (connection lost, broker restarting, nack) is published again after
    reconnecting, until every message is confirmed. `republished` holds the bodies sent more than once
    (they may reach the hub twice)."""

    def __init__(self, items: list[tuple[str, bytes]], *, name: str = "publisher", give_up_after: float = 300.0,
                 on_progress: Callable[[int], None] | None = None, pace: float = 0.0) -> None:
        super().__init__(daemon=True, name=name)
        self.pace = pace  # seconds between two publishes (0: as fast as confirms come)
        self.items = items
        self.confirmed = 0
        self.republished: set[bytes] = set()
        self.failures: list[str] = []
        self.error: BaseException | None = None
        self.give_up_after = give_up_after
        self.on_progress = on_progress
        self.started_at = 0.0
        self.finished_at = 0.0

    def run(self) -> None:
        self.started_at = time.monotonic()
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc
        self.finished_at = time.monotonic()

    def _run(self) -> None:
        props = pika.BasicProperties(delivery_mode=2, content_type="application/octet-stream")
        i = 0
        conn: Any = None
        ch: Any = None
        last_ok = time.monotonic()
        while i < len(self.items):
            if time.monotonic() - last_ok > self.give_up_after:
                raise TimeoutError(f"could not publish for {self.give_up_after:.0f} s: {self.failures[-3:]}")
            try:
                if conn is None or not conn.is_open:
                    conn = pika.BlockingConnection(_params())
                    ch = conn.channel()
                    ch.confirm_delivery()
                queue, body = self.items[i]
                ch.basic_publish("", queue, body, props, mandatory=True)
            except Exception as exc:  # not confirmed: publish it again on a new connection
                self.failures.append(f"{type(exc).__name__}: {exc}")
                self.republished.add(self.items[i][1])
                try:
                    if conn is not None and conn.is_open:
                        conn.close()
                except Exception:
                    pass
                conn = None
                time.sleep(0.5)
                continue
            i += 1
            self.confirmed = i
            last_ok = time.monotonic()
            if self.on_progress is not None:
                self.on_progress(i)
            if self.pace:
                time.sleep(self.pace)
        if conn is not None and conn.is_open:
            conn.close()


class Collector(threading.Thread):
    """Consumes the destination queue with manual acks (a body is counted before its ack), reconnecting
    when the broker goes away. `arrived` counts each body."""

    def __init__(self, queue: str) -> None:
        super().__init__(daemon=True, name=f"collector-{queue}")
        self.queue = queue
        self.arrived: Counter[bytes] = Counter()
        self.headers: dict[bytes, list[dict[str, Any]]] = {}
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.connected = threading.Event()
        self.reconnects = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._session()
            except Exception:
                self.connected.clear()
                self.reconnects += 1
                self.stop_event.wait(1.0)

    def _session(self) -> None:
        conn = pika.BlockingConnection(_params())
        try:
            ch = conn.channel()
            ch.basic_qos(prefetch_count=500)

            def on_message(channel: Any, method: Any, properties: Any, body: bytes) -> None:
                with self.lock:
                    self.arrived[body] += 1
                    self.headers.setdefault(body, []).append(dict(properties.headers or {}))
                channel.basic_ack(method.delivery_tag)

            ch.basic_consume(self.queue, on_message)
            self.connected.set()
            while not self.stop_event.is_set():
                conn.process_data_events(time_limit=0.2)
        finally:
            self.connected.clear()
            try:
                if conn.is_open:
                    conn.close()
            except Exception:
                pass

    def distinct(self) -> int:
        with self.lock:
            return len(self.arrived)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(10)


# --- the hub -----------------------------------------------------------------------------------------


def partners_yaml(prefix: str, *, sftp_key_for: dict[str, str] | None = None) -> str:
    """traffic.PARTNERS_YAML for `prefix`, optionally giving partners an SFTP box (public key line)."""
    text = traffic.PARTNERS_YAML.format(prefix=prefix)
    if not sftp_key_for:
        return text
    data = yaml.safe_load(text)
    for partner in data["partners"]:
        if partner["id"] in sftp_key_for:
            partner["sftp"] = {"public_keys": [sftp_key_for[partner["id"]]]}
    return str(yaml.safe_dump(data, sort_keys=False))


@dataclass
class HubHome:
    """A hub's home folder: partners.yaml, hub.toml, logs."""

    path: Path
    http_port: int
    sftp_port: int
    database_url: str

    @classmethod
    def make(cls, path: Path, partners: str, *, database_url: str | None = None,
             toml_extra: str = "") -> HubHome:
        path.mkdir(parents=True, exist_ok=True)
        (path / "partners.yaml").write_text(partners)
        http_port = free_port()
        (path / "hub.toml").write_text(f"[http]\nport = {http_port}\n{toml_extra}")
        url = database_url or f"sqlite:///{path / 'var' / 'hub.db'}"
        return cls(path, http_port, free_port(), url)

    def env(self) -> dict[str, str]:
        env = {**os.environ, "HUB_HOME": str(self.path), "HUB_AMQP_URL": AMQP_URL,
               "HUB_DATABASE_URL": self.database_url}
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `hub ARGS...` (e.g. `outbox replay --all-dead`) against this home."""
        return subprocess.run([sys.executable, "-m", "hub.cli", *args], env=self.env(), cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)


class HubProcess:
    """`hub serve` as a subprocess; can be started again (on the same home) after a kill."""

    def __init__(self, home: HubHome, name: str = "hub") -> None:
        self.home = home
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.log_path = home.path / f"{name}.log"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        logfile = open(self.log_path, "ab")
        logfile.write(f"==== start {self.runs} at {time.time():.3f}\n".encode())
        logfile.flush()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--home", str(self.home.path), "--sftp-port",
             str(self.home.sftp_port)],
            env=self.home.env(), cwd=ROOT, stdout=logfile, stderr=subprocess.STDOUT)
        logfile.close()

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.home.http_port}/health", timeout=5) as r:
                return dict(json.load(r))
        except (OSError, ValueError):
            return None

    def wait_healthy(self, timeout: float = 90.0, *, amqp: bool = True) -> None:
        def ok() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            h = self.health()
            return h is not None and (not amqp or h.get("amqp") == "connected")

        assert wait_until(ok, timeout, 0.2), f"{self.name} not healthy after {timeout} s:\n{self.log_tail()}"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop within 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []


# --- reading the results from the store ---------------------------------------------------------------


@dataclass
class StoreView:
    rows: list[dict[str, Any]]  # messages: id, sha256, duplicate_of, status, received_at, error
    deliveries: list[dict[str, Any]]  # id, message_id, partner, status, last_error, attempts
    counts: dict[str, int]  # dossiers, correlation_keys, events, discrepancies, open_discrepancies
    dossier_kinds: Counter[tuple[str, str]]  # (kind, status) -> n

    def originals(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for r in self.rows:
            if r["duplicate_of"] is None:
                out.setdefault(r["sha256"], []).append(r)
        return out

    def duplicates(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["duplicate_of"] is not None]


def read_store(url: str) -> StoreView:
    store: Store = open_store(url)
    try:
        with store.engine.connect() as c:
            m = messages.c
            rows = [dict(r._mapping) for r in c.execute(
                sa.select(m.id, m.sha256, m.duplicate_of, m.status, m.received_at, m.error))]
            d = deliveries.c
            dels = [dict(r._mapping) for r in c.execute(
                sa.select(d.id, d.message_id, d.partner, d.purpose, d.status, d.last_error, d.attempts))]
            counts = {t.name: int(c.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                      for t in (dossiers, correlation_keys, events, discrepancies)}
            counts["open_discrepancies"] = int(c.execute(
                sa.select(sa.func.count()).where(discrepancies.c.status == "open")).scalar_one())
            kinds: Counter[tuple[str, str]] = Counter()
            for kind, status, n in c.execute(sa.select(dossiers.c.kind, dossiers.c.status, sa.func.count())
                                             .group_by(dossiers.c.kind, dossiers.c.status)):
                kinds[(kind, status)] = int(n)
        return StoreView(rows, dels, counts, kinds)
    finally:
        store.close()


def progress(url: str) -> tuple[int, int, int]:
    """(distinct messages journalled, messages not yet processed, deliveries pending) from the store."""
    store = open_store(url)
    try:
        with store.engine.connect() as c:
            m, d = messages.c, deliveries.c
            journalled = int(c.execute(sa.select(sa.func.count()).where(m.duplicate_of.is_(None))).scalar_one())
            backlog = int(c.execute(sa.select(sa.func.count()).where(m.status == "received")).scalar_one())
            pending = int(c.execute(sa.select(sa.func.count()).where(d.status == "pending")).scalar_one())
        return journalled, backlog, pending
    finally:
        store.close()


def wait_drained(url: str, expected: int, timeout: float, hubs: list[HubProcess] | None = None,
                 every: float = 15.0) -> float:
    """Wait until `expected` distinct messages are journalled, none is waiting for the pipeline and no
    delivery is pending (and each running hub's /health agrees); returns the time it took. Fails
    with the last state seen after `timeout`."""
    t0 = time.monotonic()
    last_print = t0
    state: tuple[int, int, int] = (0, 0, 0)
    while time.monotonic() - t0 < timeout:
        state = progress(url)
        journalled, backlog, pending = state
        if journalled >= expected and backlog == 0 and pending == 0:
            healths = [h.health() for h in (hubs or []) if h.alive()]
            if all(x is not None and x.get("backlog") == 0 and x.get("outbox", {}).get("pending") == 0
                   for x in healths):
                return time.monotonic() - t0
        if time.monotonic() - last_print >= every:
            log(f"  ... journalled {journalled}/{expected}, backlog {backlog}, outbox pending {pending} "
                f"after {time.monotonic() - t0:.0f} s")
            last_print = time.monotonic()
        time.sleep(0.5)
    raise AssertionError(f"not drained after {timeout:.0f} s: journalled {state[0]}/{expected}, backlog "
                         f"{state[1]}, outbox pending {state[2]}")


def check_exactly_once(view: StoreView, bodies: list[bytes], *,
                       redelivery_windows: list[tuple[float, float]] | None = None,
                       republished: set[bytes] | frozenset[bytes] = frozenset()) -> list[str]:
    """Problems (empty if none) with: every body journalled exactly once as an original, processed
    (status routed), its routed copy to PORT delivered; duplicates only of known bodies, recognised as
    such (status duplicate) and, when `redelivery_windows` (epoch-second intervals of the kills and
    outages; a kill is an interval of no length) is given, journalled while or after an interruption
    that overlaps the time from the original to it (or a body the publisher itself sent again,
    `republished`). An outage is an interval because the broker goes on delivering while it shuts
    down, and redelivers before the test sees it fully back."""
    sent_twice = {sha(b) for b in republished}
    problems: list[str] = []
    wanted = {sha(b) for b in bodies}
    originals = view.originals()
    by_id = {r["id"]: r for r in view.rows}
    unknown = set(originals) - wanted
    if unknown:
        problems.append(f"{len(unknown)} journalled messages that nobody sent")
    missing = wanted - set(originals)
    if missing:
        problems.append(f"{len(missing)} messages never journalled")
    twice = {s: rs for s, rs in originals.items() if len(rs) > 1}
    if twice:
        problems.append(f"{len(twice)} messages journalled more than once as originals "
                        f"(e.g. {[r['id'] for r in next(iter(twice.values()))]})")
    not_routed = Counter(r["status"] for rs in originals.values() for r in rs if r["status"] != "routed")
    if not_routed:
        sample = [r for rs in originals.values() for r in rs if r["status"] != "routed"][:3]
        problems.append(f"originals not routed: {dict(not_routed)} (e.g. {[(r['id'], r['error']) for r in sample]})")
    for dup in view.duplicates():
        orig = by_id.get(dup["duplicate_of"])
        if orig is None or orig["sha256"] != dup["sha256"]:
            problems.append(f"duplicate {dup['id']} points to {dup['duplicate_of']}, not an original of its bytes")
        elif dup["status"] != "duplicate":
            problems.append(f"duplicate {dup['id']} has status {dup['status']}, not 'duplicate'")
        elif redelivery_windows is not None and dup["sha256"] not in sent_twice:
            t_orig, t_dup = orig["received_at"].timestamp(), dup["received_at"].timestamp()
            if not any(start <= t_dup and t_orig <= end for start, end in redelivery_windows):
                problems.append(f"duplicate {dup['id']} (received {t_dup:.3f}) of {orig['id']} (received "
                                f"{t_orig:.3f}) is not explained by any interruption {redelivery_windows}")
    routed = {r["id"] for rs in originals.values() for r in rs}
    to_port = Counter(d["message_id"] for d in view.deliveries if d["partner"] == "PORT")
    no_delivery = [i for i in routed if to_port[i] == 0]
    if no_delivery:
        problems.append(f"{len(no_delivery)} routed messages without a delivery to PORT")
    if any(n > 1 for n in to_port.values()):
        problems.append("a message has several deliveries to PORT")
    dup_ids = {r["id"] for r in view.duplicates()}
    if any(d["message_id"] in dup_ids for d in view.deliveries):
        problems.append("a duplicate was routed")
    undelivered = Counter(d["status"] for d in view.deliveries if d["status"] != "delivered")
    if undelivered:
        problems.append(f"deliveries not delivered: {dict(undelivered)}")
    return problems


def check_arrived(collector: Collector, bodies: list[bytes]) -> list[str]:
    with collector.lock:
        arrived = Counter(collector.arrived)
    missing = [b for b in bodies if arrived[b] == 0]
    extra = set(arrived) - set(bodies)
    problems = []
    if missing:
        problems.append(f"{len(missing)} routed copies never arrived on the destination queue")
    if extra:
        problems.append(f"{len(extra)} unexpected bodies arrived on the destination queue")
    return problems


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def broker() -> str:
    problem = broker_problem()
    if problem:
        pytest.skip(problem)
    return AMQP_URL


@pytest.fixture
def queues(broker: str) -> Iterator[Queues]:
    q = Queues(f"test.faults.{uuid.uuid4().hex[:10]}")
    try:
        yield q
    finally:
        q.delete_all()


@pytest.fixture
def hubs() -> Iterator[list[HubProcess]]:
    """Hub processes a test starts; each is killed at teardown."""
    started: list[HubProcess] = []
    try:
        yield started
    finally:
        for h in started:
            if h.alive():
                h.kill()
