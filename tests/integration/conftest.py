"""The running hub, end to end: `hub serve` as a subprocess in a throw-away home folder.

`hub_factory(partners_yaml, amqp=..., toml=...)` writes `partners.yaml` and `hub.toml` (a free HTTP port,
short delivery back-offs) into a fresh HUB_HOME, starts `python -m hub.cli serve --home HOME --sftp-port
PORT` and waits for /health. At teardown every hub still running gets SIGTERM and must exit 0 within a
timeout; when a test fails, the hub's log is printed (pytest shows it with the failure).

`Partners` builds the standard cast with fresh ed25519 client keys (ssh-keygen) and queue names
unique to the test. Tests that need RabbitMQ take the `amqp` fixture (skipped when no broker answers).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hub.store import Store, open_store

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
SFTP = shutil.which("sftp")
SSH_KEYGEN = shutil.which("ssh-keygen")
AMQP_URL = os.environ.get("HUB_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy (returned) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except Exception as exc:  # not there yet (file missing, table empty...)
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


# ---- client keys and partners ---------------------------------------------------------------------


@dataclass
class Key:
    private: Path
    public: Path

    @property
    def line(self) -> str:
        return self.public.read_text().strip()


def make_key(folder: Path, name: str) -> Key:
    if not SSH_KEYGEN:
        pytest.skip("ssh-keygen is needed")
    folder.mkdir(parents=True, exist_ok=True)
    private = folder / name
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test", "-f", str(private)],
                   check=True, capture_output=True)
    return Key(private, folder / f"{name}.pub")


@dataclass
class Partners:
    """The cast of the tests, with fresh keys and queue names unique to the test:

    KASBAH   forwarder: SFTP box (key) and folder; sends IFTMIN; CONTRL always
    AML      line: SFTP box (key), AMQP deliveries; sends CUSCAR; CONTRL always; receives IFTMIN from
             KASBAH in its box's out/ and (with amqp) COARRI from CT1 on its deliver queue
    DOUANE   customs: folder; receives CUSCAR (out/DOUANE)
    CT1      terminal (with amqp): inbound queue, CONTRL always (to reply_to, else its ack queue)
    """

    keys: dict[str, Key]
    tag: str
    amqp: bool = False
    extra: str = ""
    queues: dict[str, str] = field(default_factory=dict)

    @classmethod
    def make(cls, folder: Path, *, amqp: bool = False, extra: str = "") -> Partners:
        tag = secrets.token_hex(4)
        keys = {name: make_key(folder / "keys", name.lower()) for name in ("KASBAH", "AML")}
        queues = {"ct1_in": f"it-{tag}.ct1.to-hub", "ct1_out": f"it-{tag}.hub.to-ct1",
                  "ct1_ack": f"it-{tag}.hub.to-ct1.acks", "aml_out": f"it-{tag}.hub.to-aml"}
        return cls(keys, tag, amqp, extra, queues)

    def yaml(self) -> str:
        q = self.queues
        aml_amqp = f"""
    amqp:
      deliver_routing_key: {q['aml_out']}""" if self.amqp else ""
        aml_coarri = """
      - types: [COARRI]
        from: [CT1]
        via: amqp""" if self.amqp else ""
        ct1 = f"""
  - id: CT1
    name: Terminal
    role: terminal
    unb_ids: [CT1CAS:ZZZ]
    amqp:
      queues: [{q['ct1_in']}]
      deliver_routing_key: {q['ct1_out']}
      ack_routing_key: {q['ct1_ack']}
    sends: [COARRI, CODECO]
    acks: {{contrl: always}}""" if self.amqp else ""
        return f"""\
partners:
  - id: KASBAH
    name: Kasbah Freight
    role: forwarder
    unb_ids: [KASBAHFWD:ZZZ]
    sftp:
      public_keys:
        - {self.keys['KASBAH'].line}
    folder: {{}}
    sends: [IFTMIN]
    acks: {{contrl: always}}
  - id: AML
    name: Atlas Maghreb Lines
    role: line
    unb_ids: [AMLCAS:ZZZ, AMLTNG:ZZZ]
    sftp:
      public_keys:
        - {self.keys['AML'].line}{aml_amqp}
    sends: [CUSCAR, BAPLIE]
    acks: {{contrl: always}}
    receives:
      - types: [IFTMIN]
        from: [KASBAH]
        via: sftp{aml_coarri}
  - id: DOUANE
    name: Customs
    role: customs
    unb_ids: [DOUANEMA:ZZZ]
    folder: {{}}
    acks: {{contrl: never, aperak: false}}
    receives:
      - types: [CUSCAR]
        via: folder{ct1}
{self.extra}"""


# ---- the hub process ------------------------------------------------------------------------------


@dataclass
class RunningHub:
    home: Path
    sftp_port: int
    http_port: int
    env: dict[str, str]
    log_path: Path
    database_url: str | None = None  # None: the default SQLite file under var/
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0

    # lifecycle

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        with self.log_path.open("ab") as log:
            log.write(f"==== start {self.runs} ====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "serve", "--home", str(self.home),
                 "--sftp-port", str(self.sftp_port)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_for("the hub's /health", self._healthy, timeout=START_TIMEOUT, interval=0.1)

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"hub serve exited with {self.proc.returncode} while starting:\n{self.log()}")
        try:
            return self.health().get("status") in ("ok", "degraded")
        except OSError:
            return False

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM; returns the exit status (fails if the hub does not exit in time)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"hub serve did not exit within {timeout:g} s of SIGTERM") from None
        return int(self.proc.returncode)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"

    # things to look at

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as r:
            return bytes(r.read())

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._get("/health"))
        return result

    def metrics(self) -> str:
        return self._get("/metrics").decode()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'var' / 'hub.db'}"

    def store(self) -> Store:
        return open_store(self.db_url)

    def box(self, partner: str) -> Path:
        return self.home / "var" / "sftp" / partner

    def folder_in(self, partner: str) -> Path:
        return self.home / "var" / "folder" / "in" / partner

    def folder_out(self, partner: str) -> Path:
        return self.home / "var" / "folder" / "out" / partner

    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`hub ARGS...` with HUB_HOME set to this hub's home."""
        done = subprocess.run([sys.executable, "-m", "hub.cli", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"hub {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    # the journal

    def messages(self) -> list[Any]:
        """Every journalled message (without bodies), oldest first."""
        import sqlalchemy as sa

        from hub.store.schema import messages

        with self.store() as store, store.engine.connect() as c:
            ids = list(c.execute(sa.select(messages.c.id).order_by(messages.c.received_at, messages.c.id))
                       .scalars())
            return [store.message(i, raw=False) for i in ids]

    def wait_messages(self, n: int, statuses: tuple[str, ...] = ("routed", "failed", "duplicate"),
                      timeout: float = 20.0) -> list[Any]:
        """Wait until the journal holds `n` messages, all in one of `statuses`."""
        def done() -> list[Any] | None:
            ms = self.messages()
            return ms if len(ms) >= n and all(m.status in statuses for m in ms) else None
        result: list[Any] = wait_for(f"{n} messages processed", done, timeout=timeout, interval=0.2)
        return result


def hub_toml(http_port: int, extra: str = "") -> str:
    return f"""\
[http]
port = {http_port}

[delivery]
initial_backoff_s = 1
max_backoff_s = 2
{extra}
"""


HubFactory = Callable[..., RunningHub]


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def hub_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HubFactory]:
    hubs: list[RunningHub] = []

    def make(partners: Partners | str, *, amqp: bool = False, toml: str = "", start: bool = True,
             database: str = "sqlite") -> RunningHub:
        """`database`: "sqlite" (the default file under var/) or "postgresql" (a throw-away database made
        by the `pg_databases` fixture of tests/conftest.py, given as HUB_DATABASE_URL)."""
        home = tmp_path / f"home{len(hubs)}"
        home.mkdir()
        text = partners.yaml() if isinstance(partners, Partners) else partners
        (home / "partners.yaml").write_text(text)
        http_port = free_port()
        (home / "hub.toml").write_text(hub_toml(http_port, toml))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env["HUB_HOME"] = str(home)
        env["PYTHONUNBUFFERED"] = "1"
        if amqp:
            env["HUB_AMQP_URL"] = AMQP_URL
        url = None
        if database == "postgresql":
            url = request.getfixturevalue("pg_databases").create()
            env["HUB_DATABASE_URL"] = url
        hub = RunningHub(home, free_port(), http_port, env, tmp_path / f"hub{len(hubs)}.log", url)
        hubs.append(hub)
        if start:
            hub.start()
        return hub

    yield make
    problems = []
    for hub in hubs:
        if hub.running:
            try:
                status = hub.stop()
            except AssertionError as exc:
                problems.append(str(exc))
            else:
                if status != 0:
                    problems.append(f"hub serve exited with {status} after SIGTERM")
    failed = any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False) for w in ("setup", "call"))
    if failed or problems:
        for hub in hubs:
            print(f"\n---- log of hub serve in {hub.home} ----\n{hub.log()}")
    assert not problems, "; ".join(problems)


# ---- clients ---------------------------------------------------------------------------------------


def openssh_sftp(hub: RunningHub, user: str, key: Key, commands: str, *, check: bool = True,
                 timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the stock OpenSSH `sftp` client in batch mode (`-b -`) against the hub."""
    if not SFTP:
        pytest.skip("OpenSSH sftp is needed")
    done = subprocess.run(
        [SFTP, "-b", "-", "-i", str(key.private), "-P", str(hub.sftp_port),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", f"{user}@127.0.0.1"],
        input=commands, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"sftp exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture
def amqp() -> Iterator[AmqpHelper]:
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL + "?connection_attempts=1&socket_timeout=3"))
    except Exception as exc:  # noqa: BLE001 - any failure means no broker for these tests
        pytest.skip(f"RabbitMQ not reachable at {AMQP_URL}: {exc!r}")
    channel = connection.channel()
    channel.confirm_delivery()  # publish() returns once the broker confirmed
    helper = AmqpHelper(connection, channel)
    try:
        yield helper
    finally:
        helper.cleanup()


@dataclass
class AmqpHelper:
    connection: Any
    channel: Any
    made: list[str] = field(default_factory=list)

    def declare(self, queue: str) -> str:
        self.channel.queue_declare(queue, durable=True)
        self.made.append(queue)
        return queue

    def exists(self, queue: str) -> bool:
        """Whether the queue exists (a passive declare, on a channel of its own: a miss closes it)."""
        channel = self.connection.channel()
        try:
            channel.queue_declare(queue, passive=True)
        except Exception:  # noqa: BLE001 - 404 NOT_FOUND closes the channel
            return False
        channel.close()
        return True

    def count(self, queue: str) -> int:
        channel = self.connection.channel()
        try:
            return int(channel.queue_declare(queue, passive=True).method.message_count)
        finally:
            if channel.is_open:
                channel.close()

    def forget_after(self, *queues: str) -> None:
        """Queues the hub declares that the test should delete at the end."""
        self.made.extend(queues)

    def publish(self, queue: str, body: bytes, **props: Any) -> None:
        import pika
        import pika.exceptions

        # As docs/amqp.md asks of partners: persistent, mandatory, confirmed, and sent again when not
        # confirmed (a quorum queue declared an instant ago can nack its first publish).
        for attempt in range(10):
            try:
                self.channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2, **props),
                                           mandatory=True)
                return
            except pika.exceptions.NackError:
                if attempt == 9:
                    raise
                time.sleep(0.2)

    def get(self, queue: str, timeout: float = 20.0) -> tuple[Any, bytes]:
        """The next message of `queue` (acknowledged), waiting up to `timeout`."""
        def one() -> tuple[Any, bytes] | None:
            method, props, body = self.channel.basic_get(queue, auto_ack=True)
            return (props, bytes(body)) if method is not None else None
        result: tuple[Any, bytes] = wait_for(f"a message on {queue}", one, timeout=timeout, interval=0.1)
        return result

    def cleanup(self) -> None:
        try:
            for q in self.made:
                try:
                    self.channel.queue_delete(q)
                except Exception:  # noqa: BLE001 - already gone; a fresh channel for the next one
                    self.channel = self.connection.channel()
        finally:
            try:
                self.connection.close()
            except Exception:  # noqa: BLE001
                pass
