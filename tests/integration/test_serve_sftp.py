"""SFTP intake end to end: stock OpenSSH and paramiko clients against a running `hub serve`."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from .conftest import HubFactory, Partners, openssh_sftp, wait_for
from .helpers import SAMPLES, contrl


def _listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if not p.name.startswith(".")) if path.is_dir() else []


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_openssh_drop_is_acknowledged_journalled_filed_and_routed(hub_factory: HubFactory, tmp_path: Path,
                                                                  database: str) -> None:
    partners = Partners.make(tmp_path)
    hub = hub_factory(partners, database=database)
    key = partners.keys["KASBAH"]

    openssh_sftp(hub, "KASBAH", key, f"put {SAMPLES / 'iftmin-d96a.edi'} /in/iftmin-d96a.edi\n")

    # the CONTRL appears in the box's ack/, and the stock client can fetch it
    ack = wait_for("a CONTRL in KASBAH's ack/", lambda: _listing(hub.box("KASBAH") / "ack"))
    assert len(ack) == 1 and ack[0].startswith("CONTRL_"), ack
    fetched = tmp_path / "fetched.edi"
    openssh_sftp(hub, "KASBAH", key, f"get /ack/{ack[0]} {fetched}\n")
    answer = contrl(fetched.read_bytes())
    uci = answer["UCI"][0]
    assert uci[0] == "KFL000871" and uci[3] == "7", uci  # the interchange, accepted
    assert [u[2] for u in answer["UCM"]] == ["7"]
    # the file has left /in
    listed = openssh_sftp(hub, "KASBAH", key, "ls -1 /in\n").stdout
    assert "iftmin" not in listed, listed
    assert _listing(hub.box("KASBAH") / "in") == []

    messages = hub.wait_messages(1)
    assert [(m.partner, m.channel, m.status, m.control_ref) for m in messages] == \
        [("KASBAH", "sftp", "routed", "KFL000871")]

    # the consignment is in a dossier, found by the CLI and the store
    shown = hub.cli("dossier", "show", "--container", "AMLU8803414", "--db", hub.db_url, "--format", "json")
    assert "CS-" in shown.stdout and "AMLCAS0098123" in shown.stdout
    with hub.store() as store:
        found = store.dossiers_by(container="AMLU8803414", kind="consignment")
    assert len(found) == 1

    # routed to the line (a receives rule of partners.yaml): the original bytes in AML's box out/
    routed = wait_for("the routed copy in AML's out/", lambda: _listing(hub.box("AML") / "out"))
    assert routed == ["iftmin-d96a.edi"]
    assert (hub.box("AML") / "out" / routed[0]).read_bytes() == (SAMPLES / "iftmin-d96a.edi").read_bytes()


def _paramiko(hub_port: int, user: str, key_path: Path) -> tuple[paramiko.Transport, paramiko.SFTPClient]:
    transport = paramiko.Transport(("127.0.0.1", hub_port))
    transport.connect(username=user, pkey=paramiko.Ed25519Key.from_private_key_file(str(key_path)))
    sftp = paramiko.SFTPClient.from_transport(transport)
    assert sftp is not None
    return transport, sftp


def test_paramiko_invalid_file_gets_a_rejecting_contrl_and_goes_nowhere(hub_factory: HubFactory,
                                                                      tmp_path: Path) -> None:
    partners = Partners.make(tmp_path)
    hub = hub_factory(partners)
    transport, sftp = _paramiko(hub.sftp_port, "AML", partners.keys["AML"].private)
    try:
        sftp.put(str(SAMPLES / "invalid" / "cuscar-too-long.edi"), "/in/cuscar-too-long.edi")
        name = wait_for("a CONTRL in AML's /ack", lambda: [n for n in sftp.listdir("/ack") if n.startswith("CONTRL")])
        with sftp.open(f"/ack/{name[0]}") as f:
            data = f.read()
        assert sftp.listdir("/in") == []
    finally:
        transport.close()

    answer = contrl(data)
    # The interchange envelope is sound (UCI 7); its one message is rejected (UCM 4), and the CONTRL
    # points at the faulty element: segment 12 (SEL), 0085 code 39 (too long), data element 2.
    assert answer["UCI"][0][0] == "CUS2511270001"
    assert answer["UCM"][0][0] == "CUS0001" and answer["UCM"][0][2] == "4"
    assert answer["UCS"] == [["12"]]
    assert answer["UCD"][0][0] == "39" and answer["UCD"][0][1][0] == "2"

    messages = hub.wait_messages(1)
    assert [(m.partner, m.status) for m in messages] == [("AML", "failed")]
    with hub.store() as store:
        assert store.counts()["dossiers"] == 0
        with store.transaction(write=False) as tx:
            deliveries = tx.deliveries(limit=100)
    assert [(d.partner, d.kind) for d in deliveries] == [("AML", "contrl")]  # nothing routed to DOUANE
    assert not hub.folder_out("DOUANE").exists() or _listing(hub.folder_out("DOUANE")) == []


def test_duplicate_interchange_is_refused_with_code_26(hub_factory: HubFactory, tmp_path: Path) -> None:
    partners = Partners.make(tmp_path)
    hub = hub_factory(partners)
    key = partners.keys["KASBAH"]
    sample = SAMPLES / "iftmin-d96a.edi"
    openssh_sftp(hub, "KASBAH", key, f"put {sample} /in/first.edi\n")
    hub.wait_messages(1)
    wait_for("the first CONTRL", lambda: _listing(hub.box("KASBAH") / "ack"))
    with hub.store() as store:
        before = store.dossiers_by(container="AMLU8803414")
        counts_before = store.counts()

    openssh_sftp(hub, "KASBAH", key, f"put {sample} /in/second.edi\n")
    acks = wait_for("the second CONTRL", lambda: [n for n in _listing(hub.box("KASBAH") / "ack") if "second" in n])
    answer = contrl((hub.box("KASBAH") / "ack" / acks[0]).read_bytes())
    uci = answer["UCI"][0]
    assert uci[0] == "KFL000871" and uci[3] == "4" and uci[4] == "26", uci

    messages = hub.wait_messages(2)
    assert [m.status for m in messages] == ["routed", "duplicate"]
    with hub.store() as store:
        assert store.dossiers_by(container="AMLU8803414") == before
        after = store.counts()
    for table in ("dossiers", "correlation_keys", "events", "discrepancies"):
        assert after[table] == counts_before[table], table
    assert _listing(hub.box("AML") / "out") == ["first.edi"]  # the duplicate is not routed again
