"""An SFTP upload cut halfway, end to end: a running hub journals nothing of it, and a complete upload
of the same name afterwards is journalled and processed once."""

from __future__ import annotations

import io
import time
from pathlib import Path

import paramiko

from tests.adapters.sftp_helpers import make_key
from tests.faults.conftest import (
    Collector,
    HubHome,
    HubProcess,
    Queues,
    log,
    partners_yaml,
    read_store,
    sha,
    traffic,
    wait_drained,
    wait_until,
)


def _session(port: int, key: Path) -> tuple[paramiko.Transport, paramiko.SFTPClient]:
    transport = paramiko.Transport(("127.0.0.1", port))
    transport.connect()
    transport.auth_publickey("AML", paramiko.Ed25519Key.from_private_key_file(str(key)))
    sftp = paramiko.SFTPClient.from_transport(transport)
    assert sftp is not None
    return transport, sftp


def test_sftp_upload_cut_halfway_is_not_journalled_and_the_full_upload_is_processed_once(
        tmp_path: Path, queues: Queues, hubs: list[HubProcess]) -> None:
    key = make_key(tmp_path / "keys", "aml")
    body = next(m.body for m in traffic.messages(4, 1) if m.kind == "cuscar")  # a CUSCAR of AML
    queues.declare_out()
    home = HubHome.make(tmp_path / "home", partners_yaml(queues.prefix, sftp_key_for={"AML": key.public_line}))
    hub = HubProcess(home)
    hubs.append(hub)
    hub.start()
    hub.wait_healthy()
    collector = Collector(queues.out)
    collector.start()
    assert collector.connected.wait(10)
    box = home.path / "var" / "sftp" / "AML"

    transport, sftp = _session(home.sftp_port, key.private)
    f = sftp.open("/in/CUSCAR_0001.edi", "wb")
    f.write(body[: len(body) // 2])
    f.flush()  # the first half reached the server
    assert wait_until(lambda: len(list((box / ".staging").iterdir())) == 1, 10)
    transport.sock.shutdown(2)  # cut under the session: no SFTP CLOSE is ever sent
    transport.sock.close()
    transport.close()
    assert wait_until(lambda: list((box / ".staging").iterdir()) == [], 10)
    time.sleep(2)
    view = read_store(home.database_url)
    assert view.rows == [], view.rows
    assert list((box / "in").iterdir()) == []

    t0 = time.monotonic()
    transport, sftp = _session(home.sftp_port, key.private)
    try:
        sftp.putfo(io.BytesIO(body), "/in/CUSCAR_0001.edi")
    finally:
        transport.close()
    wait_drained(home.database_url, 1, 60, [hub])
    assert wait_until(lambda: collector.distinct() == 1, 30)
    log(f"complete upload journalled, processed and routed in {time.monotonic() - t0:.2f} s")
    time.sleep(1)
    collector.stop()
    view = read_store(home.database_url)
    assert [(r["sha256"], r["status"], r["duplicate_of"]) for r in view.rows] == [(sha(body), "routed", None)]
    assert [(d["partner"], d["status"]) for d in view.deliveries] == [("PORT", "delivered")]
    assert dict(collector.arrived) == {body: 1}
    headers = collector.headers[body][0]
    assert headers["x-hub-filename"] == "CUSCAR_0001.edi"
    assert list((box / "in").iterdir()) == []
