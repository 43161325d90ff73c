"""Push delivery (adapters.sftp_client.push) against the hub's own SFTP server, and deliveries into a
partner's box on the hub (deliver_to_box)."""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from adapters.sftp_client import PushError, deliver_to_box, push
from adapters.sftp_server import SftpAccount, SftpServer
from tests.adapters.sftp_helpers import Accounts, ClientKey, Recorder, files_in, make_key, paramiko_sftp, running_server

DATA = b"UNB+UNOC:3+PORTNET+MAEU+250101:1200+42'UNH+1+APERAK:D:96A:UN'UNT+2+1'UNZ+1+42'" * 50


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ClientKey]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: make_key(folder, name) for name in ("partner", "other")}


@pytest.fixture(scope="module")
def host_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("hostkeys")
    for name in ("host_rsa", "impostor_rsa"):
        SftpServer(folder / "unused", folder / name, lambda _u: None, lambda _u: None)._load_host_key()
    return folder / "host_rsa", folder / "impostor_rsa"


@dataclass
class Target:
    server: SftpServer
    root: Path
    recorder: Recorder
    keys: dict[str, ClientKey]


@pytest.fixture
def target(tmp_path: Path, host_keys: tuple[Path, Path], keys: dict[str, ClientKey]) -> Iterator[Target]:
    key_copy = tmp_path / "host_rsa"
    shutil.copy(host_keys[0], key_copy)
    accounts = Accounts(SftpAccount("MAEU", "maeu", (keys["partner"].public_line,),
                                    check_password=lambda p: p == "pw"))
    recorder = Recorder()
    with running_server(tmp_path / "boxes", key_copy, accounts, recorder) as server:
        server.box("MAEU")
        yield Target(server, tmp_path / "boxes", recorder, keys)


def known_hosts_for(path: Path, port: int, key: paramiko.PKey) -> Path:
    path.write_text(f"[127.0.0.1]:{port} {key.get_name()} {key.get_base64()}\n")
    return path


def test_push_into_hub_box(target: Target, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="adapters.sftp_client")
    push("127.0.0.1", target.server.port, "maeu", DATA, "/in", "aperak-42.edi",
         key_file=target.keys["partner"].private, timeout=10)
    assert [(r.partner_id, r.filename, r.data) for r in target.recorder.received] == [
        ("MAEU", "aperak-42.edi", DATA)]
    assert files_in(target.root / "MAEU" / "in") == []
    assert files_in(target.root / "MAEU" / ".staging") == []
    assert "host key not verified" in caplog.text  # no known_hosts: accepted with a warning


def test_push_with_password_and_trailing_slash(target: Target) -> None:
    push("127.0.0.1", target.server.port, "maeu", b"x", "/in/", "p.edi", password="pw", timeout=10)
    assert [r.filename for r in target.recorder.received] == ["p.edi"]


def test_push_verifies_known_hosts(target: Target, host_keys: tuple[Path, Path], tmp_path: Path) -> None:
    port = target.server.port
    good = known_hosts_for(tmp_path / "good_known_hosts", port, target.server.host_key)
    push("127.0.0.1", port, "maeu", DATA, "/in", "ok.edi", key_file=target.keys["partner"].private,
         known_hosts=good, timeout=10)
    assert [r.filename for r in target.recorder.received] == ["ok.edi"]

    impostor = paramiko.RSAKey(filename=str(host_keys[1]))
    wrong = known_hosts_for(tmp_path / "wrong_known_hosts", port, impostor)
    with pytest.raises(PushError, match="host key mismatch") as info:
        push("127.0.0.1", port, "maeu", DATA, "/in", "no.edi", key_file=target.keys["partner"].private,
             known_hosts=wrong, timeout=10)
    assert "127.0.0.1" in info.value.reason

    other_host = known_hosts_for(tmp_path / "other_known_hosts", port + 1, target.server.host_key)
    with pytest.raises(PushError, match="not in"):
        push("127.0.0.1", port, "maeu", DATA, "/in", "no.edi", key_file=target.keys["partner"].private,
             known_hosts=other_host, timeout=10)
    assert [r.filename for r in target.recorder.received] == ["ok.edi"]


def test_push_failures_are_push_errors(target: Target, tmp_path: Path) -> None:
    port = target.server.port
    with pytest.raises(PushError, match="authentication failed"):
        push("127.0.0.1", port, "maeu", DATA, "/in", "a.edi", key_file=target.keys["other"].private, timeout=10)
    with pytest.raises(PushError, match="authentication failed"):
        push("127.0.0.1", port, "maeu", DATA, "/in", "a.edi", password="wrong", timeout=10)
    # the hub's box takes writes only in /in
    with pytest.raises(PushError, match="upload of /out/a.edi") as info:
        push("127.0.0.1", port, "maeu", DATA, "/out", "a.edi", key_file=target.keys["partner"].private, timeout=10)
    assert "read-only" in info.value.reason
    with pytest.raises(PushError, match="invalid remote file name"):
        push("127.0.0.1", port, "maeu", DATA, "/in", "../x", key_file=target.keys["partner"].private)
    with pytest.raises(PushError, match="cannot read known_hosts"):
        push("127.0.0.1", port, "maeu", DATA, "/in", "a.edi", key_file=target.keys["partner"].private,
             known_hosts=tmp_path / "missing")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(PushError, match="cannot connect"):
        push("127.0.0.1", free, "maeu", DATA, "/in", "a.edi", key_file=target.keys["partner"].private, timeout=5)
    assert target.recorder.received == []
    assert files_in(target.root / "MAEU" / ".staging") == []


def test_push_refused_by_size_limit(target: Target, keys: dict[str, ClientKey]) -> None:
    accounts = Accounts(SftpAccount("MAEU", "maeu", (keys["partner"].public_line,), max_file_size=100))
    target.server.accounts = accounts
    with pytest.raises(PushError, match="too large"):
        push("127.0.0.1", target.server.port, "maeu", DATA, "/in", "big.edi",
             key_file=target.keys["partner"].private, timeout=10)
    assert target.recorder.received == []


def test_deliver_to_box_never_overwrites(target: Target) -> None:
    out = target.root / "MAEU" / "out"
    first = deliver_to_box(out, "coarri.edi", b"one")
    second = deliver_to_box(out, "coarri.edi", b"two")
    third = deliver_to_box(out, "coarri.edi", b"three")
    odd = deliver_to_box(out, "../evil name", b"four")
    noext = deliver_to_box(out, "README", b"5")
    noext2 = deliver_to_box(out, "README", b"6")
    assert [p.name for p in (first, second, third, odd, noext, noext2)] == [
        "coarri.edi", "coarri.1.edi", "coarri.2.edi", "evil_name", "README", "README.1"]
    assert [p.read_bytes() for p in (first, second, third)] == [b"one", b"two", b"three"]
    assert all(p.parent == out for p in (first, second, third, odd))
    assert not [n for n in os.listdir(out) if n.startswith(".")]  # no temporary file left behind
    # what the partner fetches through the hub's SFTP server
    with paramiko_sftp(target.server.port, "maeu", key=target.keys["partner"].private) as sftp:
        assert sftp.listdir("/out") == ["README", "README.1", "coarri.1.edi", "coarri.2.edi", "coarri.edi",
                                        "evil_name"]
        with sftp.open("/out/coarri.1.edi") as f:
            assert f.read() == b"two"


def test_deliver_to_box_long_names_stay_servable(tmp_path: Path) -> None:
    name = "x" * 200 + ".xml"
    a = deliver_to_box(tmp_path, name, b"a")
    b = deliver_to_box(tmp_path, name, b"b")
    assert len(a.name) <= 128 and len(b.name) <= 128
    assert a.name.endswith(".xml") and b.name.endswith(".1.xml")
