"""Operating the running hub: health and metrics, a graceful stop and restart, partner admin without
restart."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from .conftest import HubFactory, Partners, make_key, openssh_sftp, wait_for
from .helpers import SAMPLES, with_ref


def _metric(text: str, name: str, labels: str) -> float:
    found = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    assert found, f"{name}{{{labels}}} not in:\n{text}"
    return float(found.group(1))


def test_health_and_metrics(hub_factory: HubFactory, tmp_path: Path) -> None:
    hub = hub_factory(Partners.make(tmp_path))
    health = hub.health()
    assert health["status"] == "ok" and health["store"] == "ok"
    assert health["sftp"] == {"port": hub.sftp_port, "listening": True}
    assert health["threads"]["dead"] == [] and health["threads"]["running"] >= 5 and "down" not in health
    assert health["partners"] == {"count": 3, "last_error": None}
    helpers = (os.cpu_count() or 1) > 1  # hub serve's default: a validation helper on 2+ cores
    if helpers:
        assert health["preparation"]["processes"] == health["preparation"]["alive"] == 1
    else:
        assert "preparation" not in health
    assert _metric(hub.metrics(), "hub_messages", 'status="routed"') == 0

    drop = hub.folder_in("KASBAH")
    drop.mkdir(parents=True)
    (drop / "a.edi").write_bytes((SAMPLES / "iftmin-d96a.edi").read_bytes())
    (drop / "b.edi").write_bytes(with_ref("iftmin-d96a.edi", "KFL000871", "KFL000872"))
    (hub.folder_in("AML")).mkdir()
    (hub.folder_in("AML") / "bad.edi").write_bytes((SAMPLES / "invalid" / "cuscar-too-long.edi").read_bytes())
    hub.wait_messages(3)

    metrics = hub.metrics()
    assert _metric(metrics, "hub_messages", 'status="routed"') == 2
    assert _metric(metrics, "hub_messages", 'status="failed"') == 1
    assert _metric(metrics, "hub_messages", 'status="received"') == 0
    assert re.search(r"^hub_intake_journalled_total 3\.0$", metrics, re.M), metrics
    assert re.search(r"^hub_dossiers [1-9]", metrics, re.M), metrics
    for outcome in ("hit", "miss"):  # how many depends on how the three files fell into batches
        assert re.search(rf'^hub_dossier_cache_total{{outcome="{outcome}"}} [0-9]', metrics, re.M), metrics
    wait_for("the outbox to drain", lambda: hub.health()["outbox"].get("pending", 0) == 0)
    health = hub.health()
    assert health["status"] == "ok" and health["backlog"] == 0
    if helpers:
        assert health["preparation"]["batches"] >= 1 and health["preparation"]["batches_here"] == 0
        assert re.search(r'^hub_preparation_batches_total\{where="helper"\} [1-9]', metrics, re.M), metrics


def test_sigterm_with_work_queued_then_restart_processes_everything(hub_factory: HubFactory,
                                                                     tmp_path: Path) -> None:
    n = 120
    # Small batches, so that the stop finds messages no worker has leased yet (a batch leased is finished
    # or handed back; with the default 60 the first two could hold them all), and enough of them that the
    # hub cannot file them all between the first journal and the stop (30 could be, once).
    hub = hub_factory(Partners.make(tmp_path), toml="[pipeline]\nbatch = 5\n")
    drop = hub.folder_in("KASBAH")
    drop.mkdir(parents=True)
    for i in range(n):
        (drop / f".m{i:02d}.edi").write_bytes(with_ref("iftmin-d96a.edi", "KFL000871", f"KFL{i:06d}"))
    for i in range(n):
        (drop / f".m{i:02d}.edi").rename(drop / f"m{i:02d}.edi")

    # Stop as soon as the watcher has taken the first file: the rest is queued, journalled and not yet
    # processed, or still in the folder. (Watching the store for a message journalled and not yet
    # processed failed both ways on a fast host: the pipeline filed each before the next look, or all
    # 120 were done by the time opening the store had answered; the folder is looked at in microseconds.)
    wait_for("the watcher taking the first file", lambda: len(list(drop.glob("m*.edi"))) < n, timeout=15,
             interval=0.002)
    assert hub.stop() == 0
    left = [m.status for m in hub.messages()]
    unprocessed = left.count("received") + len(list(drop.glob("m*.edi")))
    assert unprocessed > 0, "the hub finished everything before the stop: the test proves nothing"

    hub.start()
    messages = hub.wait_messages(n, timeout=60)
    assert len(messages) == n and {m.status for m in messages} == {"routed"}
    assert list(drop.iterdir()) == []
    wait_for(f"{n} CONTRLs and {n} routed copies", lambda:
             len(list(hub.folder_out("KASBAH").glob("CONTRL_*"))) == n
             and len(list((hub.box("AML") / "out").glob("m*.edi"))) == n, timeout=30)


def test_partner_added_and_suspended_without_restart(hub_factory: HubFactory, tmp_path: Path) -> None:
    hub = hub_factory(Partners.make(tmp_path))
    key = make_key(tmp_path / "keys", "newp")
    refused = openssh_sftp(hub, "NEWP", key, "ls /\n", check=False)
    assert refused.returncode != 0

    hub.cli("partner", "add", "NEWP", "--unb-id", "NEWP:ZZZ", "--sftp-key", str(key.public))
    data = (SAMPLES / "iftmin-d96a.edi").read_bytes().replace(b"+KASBAHFWD:ZZZ+", b"+NEWP:ZZZ+")
    (tmp_path / "newp.edi").write_bytes(data)
    started = time.monotonic()
    wait_for("NEWP's first login", lambda: openssh_sftp(
        hub, "NEWP", key, f"put {tmp_path / 'newp.edi'} /in/newp.edi\n", check=False).returncode == 0, timeout=10,
        interval=0.5)
    assert time.monotonic() - started < 10
    messages = hub.wait_messages(1)
    assert [(m.partner, m.filename, m.status) for m in messages] == [("NEWP", "newp.edi", "routed")]

    hub.cli("partner", "suspend", "NEWP")
    refused = openssh_sftp(hub, "NEWP", key, "ls /\n", check=False)
    assert refused.returncode != 0 and "Permission denied" in refused.stderr, refused.stderr
    assert re.search(r"sftp auth failed: user 'NEWP' .*suspend", hub.log()), "no refusal logged"
    assert hub.running


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_several_workers_on_postgresql_are_warned_against(hub_factory: HubFactory, tmp_path: Path,
                                                          database: str) -> None:
    """Two workers of one process share out the vessel calls on PostgreSQL as two processes would, in one
    interpreter, no faster than one (docs/deployment.md): the log says so at the start."""
    hub = hub_factory(Partners.make(tmp_path), toml="[pipeline]\nworkers = 2\n", database=database)
    warned = "2 pipeline workers on PostgreSQL" in hub.log()
    assert warned is (database == "postgresql"), hub.log()
