"""`hub serve`: intake, pipeline, delivery and the overdue-acknowledgement check in one process.

    intake threads   SFTP server (always), AMQP consumer (when a broker is configured), watched folder
    pipeline         `pipeline_workers` threads leasing journalled messages (hub.pipeline), which
                     hand validation and mapping to `prepare_processes` helper processes
    delivery         one thread sending the outbox (hub.delivery), one checking overdue acks
    http             /health (JSON) and /metrics (Prometheus) on http_host:http_port

SIGTERM or SIGINT stops intake first (no new work is accepted), lets each worker finish the message or
delivery in hand, and exits. Anything journalled but not yet processed is in the store: the next start
(of this process or another one sharing the database) picks it up.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hub.catalog import Catalog
from hub.config import Settings
from hub.delivery import Deliverer, check_overdue
from hub.intake import Intake
from hub.partners import Partners, PartnersFile
from hub.pipeline import Pipeline
from hub.preparation import ProcessPreparer
from hub.store import Store, open_store

log = logging.getLogger("hub.serve")

IDLE_CALLS_FORGOTTEN = timedelta(days=1)  # a vessel call's owner row outlives its last hold by this much

_LOG_FIELDS = ("message_id", "dossier_id", "delivery_id", "partner", "channel", "status")


class JsonFormatter(logging.Formatter):
    """One JSON object a line, with the message, delivery, dossier and partner ids when a record has them."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                               "logger": record.name, "message": record.getMessage()}
        for name in _LOG_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{n}={getattr(record, n)}" for n in _LOG_FIELDS if getattr(record, n, None) is not None)
        return f"{text} [{extra}]" if extra else text


def configure_logging(fmt: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("paramiko", "pika"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@dataclass
class Hub:
    """The running hub's parts; `start` and `stop` them, or `serve` to run until a signal."""

    settings: Settings
    store: Store
    partners_file: PartnersFile
    catalog: Catalog = field(default_factory=Catalog)
    stop_event: threading.Event = field(default_factory=threading.Event)
    pipelines: list[Pipeline] = field(default_factory=list)
    preparer: ProcessPreparer | None = None
    deliverer: Deliverer | None = None
    intake: Intake | None = None
    sftp: Any = None
    amqp: Any = None
    folder: Any = None
    http: ThreadingHTTPServer | None = None
    threads: list[threading.Thread] = field(default_factory=list)
    started_at: float = 0.0
    recover_interval: float = 60.0  # seconds between SftpServer.recover() runs (failed hand-overs)
    _boxed: Partners | None = None  # the partners whose SFTP boxes were last made

    def partners(self) -> Partners:
        return self.partners_file.current()

    def start(self) -> None:
        from adapters.folder import FolderWatcher
        from adapters.sftp_server import SftpServer
        from hub.pipeline import release_dead_leases

        s = self.settings
        self.started_at = time.time()
        release_dead_leases(self.store)  # a crash left leases: the work is ours again now
        self.deliverer = Deliverer(self.store, self.partners, s)
        processes = s.prepare_processes if s.prepare_processes is not None else int((os.cpu_count() or 1) > 1)
        self.preparer = ProcessPreparer(self.catalog, processes) if processes else None
        if self.preparer is not None:
            self.preparer.start()
        self.pipelines = [Pipeline(self.store, self.catalog, self.partners, s, notify=[self.deliverer.wake],
                                   preparer=self.preparer) for _ in range(max(1, s.pipeline_workers))]
        if len(self.pipelines) > 1 and self.pipelines[0].shares_calls:
            log.warning("%d pipeline workers on PostgreSQL: they share out the vessel calls as processes do, "
                        "in one interpreter, which measured no faster than one worker; run one worker a "
                        "process and add processes (docs/deployment.md)", len(self.pipelines))
        self.intake = Intake(self.store, self.partners, wake=[p.wake for p in self.pipelines])
        # Workers first: what an earlier run left journalled is processed while intake starts.
        for n, p in enumerate(self.pipelines):
            self._thread(f"pipeline-{n}", lambda p=p: p.run(self.stop_event))  # type: ignore[misc]
        deliverer = self.deliverer
        self._thread("delivery", lambda: deliverer.run(self.stop_event))
        self._thread("overdue-acks", self._overdue_loop)
        self.sftp = SftpServer(Path(s.sftp_root), Path(s.sftp_host_key), self._sftp_account,
                               self.intake.sftp_upload, host=s.sftp_host, port=s.sftp_port)
        self.sftp.start()
        log.info("SFTP server listening on %s:%d, boxes under %s", s.sftp_host, self.sftp.port, s.sftp_root)
        self._make_boxes()
        self._thread("sftp-housekeeping", self._sftp_loop)
        if s.amqp_url:
            from adapters.amqp import Consumer

            self.amqp = Consumer(s.amqp_url, lambda: self.partners().queues(), self.intake.amqp_batch)
            self.amqp.start()
            log.info("AMQP intake from %s on queues %s", _safe_url(s.amqp_url), ", ".join(self.partners().queues())
                     or "(none yet)")
        self.folder = FolderWatcher(Path(s.folder_in), self._folder_file)
        self.folder.start()
        log.info("watching folder %s", s.folder_in)
        self._start_http()

    def _thread(self, name: str, target: Callable[[], None]) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def _make_boxes(self) -> None:
        """Every SFTP partner's box exists, so deliveries to its out/ and ack/ do not wait for its first
        login. Done when the partners change (a reload)."""
        partners = self.partners()
        if partners is self._boxed or self.sftp is None:
            return
        for p in partners:
            if p.sftp is not None and p.sftp.can_log_in:
                try:
                    self.sftp.box(p.id)
                except (OSError, ValueError):
                    log.exception("cannot make the SFTP box of %s", p.id, extra={"partner": p.id})
        self._boxed = partners

    def _sftp_loop(self) -> None:
        """Boxes of new partners at once; every `recover_interval`, hand over again the files a failed
        hand-over left in in/ (otherwise they would wait for a restart)."""
        next_recover = time.monotonic() + self.recover_interval
        while not self.stop_event.wait(1.0):
            try:
                self._make_boxes()
                if time.monotonic() >= next_recover:
                    next_recover = time.monotonic() + self.recover_interval
                    recovered = self.sftp.recover()
                    if recovered:
                        log.info("SFTP: %d file(s) left in in/ handed over again", recovered)
            except Exception:
                log.exception("SFTP housekeeping failed")

    def _overdue_loop(self) -> None:
        while not self.stop_event.wait(30.0):
            try:
                check_overdue(self.store)
            except Exception:
                log.exception("overdue check failed")
            if self.store.backend != "postgresql":  # call owners are for several processes on PostgreSQL
                continue
            try:  # housekeeping that needs no thread of its own
                with self.store.transaction() as tx:
                    forgotten = tx.forget_idle_calls(IDLE_CALLS_FORGOTTEN)
                if forgotten:
                    log.debug("%d vessel call owner row(s) idle for a day deleted", forgotten)
            except Exception:
                log.exception("deleting idle call owner rows failed")

    def _folder_file(self, path: Path, partner_id: str | None) -> None:
        assert self.intake is not None
        self.intake.file(path, channel="folder", partner=partner_id)

    def _sftp_account(self, username: str) -> Any:
        from adapters.sftp_server import SftpAccount
        from hub.partners import verify_password

        partner = self.partners().by_sftp_user(username)
        if partner is None or partner.sftp is None:
            return None
        stored = partner.sftp.password_hash
        return SftpAccount(partner_id=partner.id, username=partner.sftp.username,
                           public_keys=partner.sftp.public_keys,
                           check_password=(lambda pw: verify_password(stored, pw)) if stored else None,
                           max_file_size=partner.sftp.max_file_size,
                           max_uploads_per_minute=partner.sftp.max_uploads_per_minute,
                           suspended=partner.suspended)

    # --- health and metrics --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The hub's state, `status` first: "ok"; "degraded" when it works with a part missing (the
        broker away, so AMQP waits, while SFTP and folders go on; a broken partners.yaml, the last good
        one still in force); "down" when messages stop moving (the store unreachable, or a thread the
        hub needs has died), which the HTTP endpoint answers with 503 for a load balancer to see."""
        out: dict[str, Any] = {"status": "ok", "uptime_s": round(time.time() - self.started_at, 1)}
        down: list[str] = []
        try:
            with self.store.transaction(write=False) as tx:
                out["backlog"] = tx.unfinished_messages()
                out["outbox"] = tx.outbox_counts()
            out["store"] = "ok"
        except Exception as exc:
            out["store"] = f"error: {exc}"
            down.append("store")
        stopping = self.stop_event.is_set()
        dead = [t.name for t in self.threads if not t.is_alive()]
        if self.sftp is not None:
            out["sftp"] = {"port": self.sftp.port, "listening": self.sftp.listening}
            if not self.sftp.listening:
                dead.append("sftp")
        else:
            out["sftp"] = None
        if self.folder is not None and not self.folder.alive:
            dead.append("folder-watcher")
        out["threads"] = {"running": sum(t.is_alive() for t in self.threads), "dead": dead}
        if dead and not stopping:
            down += dead
        if self.amqp is not None:
            out["amqp"] = "connected" if self.amqp.connected else "reconnecting"
            if not self.amqp.connected:
                out["status"] = "degraded"
        if self.preparer is not None:
            out["preparation"] = self.preparer.state()
        error = self.partners_file.last_error
        out["partners"] = {"count": len(self.partners()), "last_error": error}
        if error:
            out["status"] = "degraded"
        if down:
            out.update(status="down", down=down)
        return out

    def metrics(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        hub = self

        class Collector:
            def collect(self) -> Iterator[Any]:
                with hub.store.transaction(write=False) as tx:
                    counts = tx.counts()
                    outbox = tx.outbox_counts()
                    overdue = len(tx.expected_acks(status="overdue", limit=100_000))
                messages = GaugeMetricFamily("hub_messages", "Journalled messages by pipeline status",
                                             labels=["status"])
                for key, value in counts.items():
                    if key.startswith("messages_"):
                        messages.add_metric([key.removeprefix("messages_")], value)
                yield messages
                deliveries = GaugeMetricFamily("hub_deliveries", "Outbox deliveries by status", labels=["status"])
                for status, value in outbox.items():
                    deliveries.add_metric([status], value)
                yield deliveries
                yield GaugeMetricFamily("hub_acks_overdue", "Acknowledgements overdue from partners",
                                        value=overdue)
                yield GaugeMetricFamily("hub_dossiers", "Dossiers in the store", value=counts.get("dossiers", 0))
                journalled = CounterMetricFamily("hub_intake_journalled", "Messages journalled by this process")
                journalled.add_metric([], hub.intake.journalled if hub.intake else 0)
                yield journalled
                sent = CounterMetricFamily("hub_delivery_attempts", "Delivery attempts by this process",
                                           labels=["outcome"])
                if hub.deliverer is not None:
                    for outcome in ("delivered", "failed", "dead"):
                        sent.add_metric([outcome], getattr(hub.deliverer, outcome))
                yield sent
                yield CounterMetricFamily(
                    "hub_pipeline_processed", "Messages this process's workers processed (validated, mapped, "
                    "correlated and routed, or failed)", value=sum(p.processed for p in hub.pipelines))
                yield CounterMetricFamily(
                    "hub_pipeline_handed", "Messages this process's workers handed to the worker that owns their "
                    "vessel call (several processes on PostgreSQL)", value=sum(p.handed for p in hub.pipelines))
                yield CounterMetricFamily(
                    "hub_pipeline_calls_taken_over", "Vessel calls this process's workers took over from an owner "
                    "their messages waited for (several processes on PostgreSQL)",
                    value=sum(p.taken_over for p in hub.pipelines))
                cache = CounterMetricFamily(
                    "hub_dossier_cache", "Dossiers the pipeline found in its cache still current (hit) or read "
                    "from the store (miss): misses on busy calls mean another process wrote them", labels=["outcome"])
                cache.add_metric(["hit"], sum(p.cache.hits for p in hub.pipelines))
                cache.add_metric(["miss"], sum(p.cache.misses for p in hub.pipelines))
                yield cache
                if hub.preparer is not None:
                    state = hub.preparer.state()
                    batches = CounterMetricFamily("hub_preparation_batches",
                                                  "Batches validated and mapped, by where", labels=["where"])
                    batches.add_metric(["helper"], state["batches"])
                    batches.add_metric(["pipeline_thread"], state["batches_here"])
                    yield batches
                    yield CounterMetricFamily("hub_preparation_restarts",
                                              "Helper pools started again after a helper died", value=state["restarts"])

        registry = CollectorRegistry()
        registry.register(Collector())
        return bytes(generate_latest(registry))

    def _start_http(self) -> None:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                code = 200
                if self.path == "/health":
                    state = hub.health()
                    body = json.dumps(state).encode()
                    ctype = "application/json"
                    if state["status"] == "down":
                        code = 503
                elif self.path == "/metrics":
                    body, ctype = hub.metrics(), "text/plain; version=0.0.4"
                else:
                    self.send_error(404)
                    return
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http: " + format, *args)

        try:
            self.http = ThreadingHTTPServer((self.settings.http_host, self.settings.http_port), Handler)
        except OSError as exc:
            log.warning("health and metrics endpoint not started on %s:%d: %s", self.settings.http_host,
                        self.settings.http_port, exc)
            return
        http = self.http
        self._thread("http", http.serve_forever)
        log.info("health and metrics on http://%s:%d/health and /metrics", self.settings.http_host,
                 http.server_address[1])

    def stop(self, timeout: float = 30.0) -> None:
        """Stop intake, then the workers (each finishes what it holds), then the rest."""
        log.info("stopping: intake first")
        for part in (self.sftp, self.amqp, self.folder):
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    log.exception("stopping %s failed", type(part).__name__)
        self.stop_event.set()
        for p in self.pipelines:
            p.wake.set()
        if self.deliverer is not None:
            self.deliverer.wake.set()
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self.preparer is not None:
            self.preparer.close()
        log.info("stopped")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url.replace("amqp://", "postgresql://", 1)).render_as_string(hide_password=True) \
            .replace("postgresql://", "amqp://", 1)
    except Exception:
        return "(url)"


def build(settings: Settings, partners_path: Path) -> Hub:
    store = open_store(settings.database_url)
    return Hub(settings=settings, store=store, partners_file=PartnersFile(partners_path, settings))


def serve(settings: Settings, partners_path: Path, *, sftp_port: int | None = None) -> int:
    """Run until SIGTERM or SIGINT; returns the exit status."""
    configure_logging(settings.log_format)
    if sftp_port is not None:
        settings = replace(settings, sftp_port=sftp_port)
    for folder in (settings.sftp_root, settings.folder_in, settings.folder_out):
        Path(folder).mkdir(parents=True, exist_ok=True)
    hub = build(settings, partners_path)
    log.info("hub starting: home %s, store %s, %d partners", settings.home,
             hub.store.url.render_as_string(hide_password=True), len(hub.partners()))
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        log.info("signal %s received", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    hub.start()
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        hub.stop()
        hub.store.close()
    return 0
