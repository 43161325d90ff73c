"""The hub's SFTP server, driven by real clients (OpenSSH's sftp and paramiko) on 127.0.0.1."""

from __future__ import annotations

import io
import logging
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path

import paramiko
import pytest

from adapters.sftp_server import SftpAccount, SftpServer, host_key_fingerprint, sanitise_name
from tests.adapters.sftp_helpers import (
    SFTP,
    Accounts,
    ClientKey,
    Recorder,
    files_in,
    make_key,
    openssh_sftp,
    paramiko_sftp,
    raw_connect,
    running_server,
    wait_for,
)

EDI = b"UNA:+.? 'UNB+UNOC:3+SENDER+PORTNET+250101:1200+1'UNH+1+CUSCAR:D:95B:UN'UNT+2+1'UNZ+1+1'"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ClientKey]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: make_key(folder, name) for name in ("alpha", "beta", "stranger")}


@pytest.fixture(scope="module")
def host_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated host key for the module (a 3072-bit RSA key takes a moment to make)."""
    path = tmp_path_factory.mktemp("hostkey") / "host_rsa"
    SftpServer(path.parent / "unused", path, lambda _u: None, lambda _u: None)._load_host_key()
    return path


@dataclass
class Hub:
    server: SftpServer
    root: Path
    accounts: Accounts
    recorder: Recorder
    keys: dict[str, ClientKey]

    @property
    def port(self) -> int:
        return self.server.port

    def box(self, partner: str) -> Path:
        return self.root / partner


def account(partner: str, user: str, key: ClientKey, **kw: object) -> SftpAccount:
    return SftpAccount(partner_id=partner, username=user, public_keys=(key.public_line,), **kw)  # type: ignore[arg-type]


@pytest.fixture
def hub(tmp_path: Path, host_key: Path, keys: dict[str, ClientKey]) -> Iterator[Hub]:
    key_copy = tmp_path / "host_rsa"
    shutil.copy(host_key, key_copy)
    accounts = Accounts(account("ALPHA", "alpha", keys["alpha"]), account("BETA", "beta", keys["beta"]))
    recorder = Recorder()
    root = tmp_path / "boxes"
    with running_server(root, key_copy, accounts, recorder) as server:
        server.box("ALPHA")
        server.box("BETA")
        yield Hub(server, root, accounts, recorder, keys)


def alpha(hub: Hub) -> AbstractContextManager[paramiko.SFTPClient]:
    return paramiko_sftp(hub.port, "alpha", key=hub.keys["alpha"].private)


# --- OpenSSH sftp -----------------------------------------------------------------------------------


needs_openssh = pytest.mark.skipif(SFTP is None, reason="OpenSSH sftp client not installed")


@needs_openssh
def test_openssh_put_get_ls(hub: Hub, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "cuscar.edi").write_bytes(EDI)
    (hub.box("ALPHA") / "ack" / "contrl-1.edi").write_bytes(b"CONTRL")
    result = openssh_sftp(hub.port, "alpha", hub.keys["alpha"].private,
                          "ls /\nput cuscar.edi /in/cuscar.edi\ncd /ack\nls\nget contrl-1.edi\n", work)
    assert result.returncode == 0, result.stderr
    assert [(r.partner_id, r.filename, r.data) for r in hub.recorder.received] == [("ALPHA", "cuscar.edi", EDI)]
    assert files_in(hub.box("ALPHA") / "in") == []
    assert files_in(hub.box("ALPHA") / ".staging") == []
    assert (work / "contrl-1.edi").read_bytes() == b"CONTRL"
    listing = result.stdout
    for folder in ("in", "out", "ack"):
        assert folder in listing
    assert ".staging" not in listing
    assert "contrl-1.edi" in listing


@needs_openssh
def test_openssh_cannot_write_outside_in(hub: Hub, tmp_path: Path) -> None:
    (tmp_path / "x.edi").write_bytes(EDI)
    result = openssh_sftp(hub.port, "alpha", hub.keys["alpha"].private, "put x.edi /out/x.edi\n", tmp_path)
    assert result.returncode != 0
    assert files_in(hub.box("ALPHA") / "out") == []
    assert hub.recorder.received == []


@needs_openssh
def test_openssh_wrong_key_refused(hub: Hub, tmp_path: Path) -> None:
    result = openssh_sftp(hub.port, "alpha", hub.keys["stranger"].private, "ls /\n", tmp_path)
    assert result.returncode != 0
    assert "Permission denied" in result.stderr


# --- paramiko: the box -----------------------------------------------------------------------------


def test_put_hands_over_once_and_leaves_in(hub: Hub) -> None:
    with alpha(hub) as sftp:
        attrs = sftp.putfo(io.BytesIO(EDI), "/in/baplie.edi")  # confirm=True: stat after upload
        assert attrs.st_size == len(EDI)
        assert sorted(sftp.listdir("/")) == ["ack", "in", "out"]
        assert sftp.listdir("/in") == []
        assert sftp.normalize(".") == "/"
        assert sftp.normalize("/in/../out") == "/out"
    assert [(r.partner_id, r.filename, r.data, r.size) for r in hub.recorder.received] == [
        ("ALPHA", "baplie.edi", EDI, len(EDI))]
    assert files_in(hub.box("ALPHA") / "in") == []
    assert files_in(hub.box("ALPHA") / ".staging") == []


def test_relative_paths_resolve_against_the_box(hub: Hub) -> None:
    with alpha(hub) as sftp:
        sftp.chdir("/in")
        sftp.putfo(io.BytesIO(EDI), "rel.edi")
    assert [r.filename for r in hub.recorder.received] == ["rel.edi"]


def test_names_are_sanitised(hub: Hub) -> None:
    with alpha(hub) as sftp:
        sftp.putfo(io.BytesIO(EDI), "/in/my file (1)\u00e9.edi")  # confirm: stat by the name sent
    assert [r.filename for r in hub.recorder.received] == ["my_file__1__.edi"]


def test_sanitise_name() -> None:
    assert sanitise_name("ok-name_1.edi") == "ok-name_1.edi"
    assert sanitise_name("..hidden") == "hidden"
    assert sanitise_name("a/b\\c.xml") == "c.xml"
    long = sanitise_name("x" * 300 + ".edi")
    assert len(long) == 128 and long.endswith(".edi")
    with pytest.raises(ValueError):
        sanitise_name("...")


def test_read_and_delete_deliveries(hub: Hub) -> None:
    (hub.box("ALPHA") / "out" / "coarri.edi").write_bytes(b"COARRI")
    (hub.box("ALPHA") / "ack" / "aperak.edi").write_bytes(b"APERAK")
    with alpha(hub) as sftp:
        assert sftp.listdir("/out") == ["coarri.edi"]
        assert sftp.stat("/out/coarri.edi").st_size == 6
        with sftp.open("/out/coarri.edi", "rb") as f:
            assert f.read() == b"COARRI"
        assert sftp.open("/ack/aperak.edi").read() == b"APERAK"
        sftp.remove("/out/coarri.edi")
        sftp.remove("/ack/aperak.edi")
        assert sftp.listdir("/out") == [] and sftp.listdir("/ack") == []
    assert files_in(hub.box("ALPHA") / "out") == []


def test_writes_outside_in_refused(hub: Hub) -> None:
    (hub.box("ALPHA") / "out" / "d.edi").write_bytes(b"D")
    with alpha(hub) as sftp:
        for path in ("/out/x.edi", "/ack/x.edi", "/x.edi", "/in/sub/x.edi", "/newdir/x.edi"):
            with pytest.raises(OSError):
                sftp.open(path, "wb")
        with pytest.raises(OSError):
            sftp.open("/out/d.edi", "ab")
        with pytest.raises(OSError):
            sftp.mkdir("/in/sub")
        with pytest.raises(OSError):
            sftp.rmdir("/out")
        with pytest.raises(OSError):
            sftp.rename("/out/d.edi", "/out/e.edi")
        with pytest.raises(OSError):
            sftp.rename("/out/d.edi", "/in/d.edi")
        with pytest.raises(OSError):
            sftp.chmod("/out/d.edi", 0o777)
        with pytest.raises(OSError):
            sftp.remove("/in")
    assert files_in(hub.box("ALPHA") / "out") == ["d.edi"]
    assert files_in(hub.box("ALPHA") / "ack") == []
    assert sorted(p.name for p in hub.box("ALPHA").iterdir()) == [".staging", "ack", "in", "out"]


def test_files_in_in_are_not_readable_nor_deletable(hub: Hub) -> None:
    """Decision: /in is a drop box. Files waiting there (a failed hand-over) can be listed and
    stat'ed, but neither read back nor deleted by the partner."""
    (hub.box("ALPHA") / "in" / "waiting.edi").write_bytes(EDI)
    with alpha(hub) as sftp:
        assert sftp.listdir("/in") == ["waiting.edi"]
        assert sftp.stat("/in/waiting.edi").st_size == len(EDI)
        with pytest.raises(PermissionError):
            sftp.open("/in/waiting.edi", "rb")
        with pytest.raises(OSError):
            sftp.remove("/in/waiting.edi")
    assert files_in(hub.box("ALPHA") / "in") == ["waiting.edi"]


def test_partner_cannot_reach_another_box(hub: Hub) -> None:
    beta_out = hub.box("BETA") / "out" / "secret.edi"
    beta_out.write_bytes(b"SECRET")
    with alpha(hub) as sftp:
        assert sorted(sftp.listdir("/..")) == ["ack", "in", "out"]  # .. stops at the box's /
        assert sorted(sftp.listdir("../../..")) == ["ack", "in", "out"]
        for path in ("/../BETA", "/BETA", "../BETA/out", str(hub.box("BETA") / "out"), "/etc"):
            with pytest.raises(OSError):
                sftp.listdir(path)
        for path in ("/../BETA/out/secret.edi", "/out/../../BETA/out/secret.edi", str(beta_out),
                     "/etc/passwd", "/out/../../../../../../etc/passwd"):
            with pytest.raises(OSError):
                sftp.open(path, "rb")
            with pytest.raises(OSError):
                sftp.stat(path)
        for path in ("/../BETA/in/x.edi", str(hub.box("BETA") / "in" / "x.edi"), "/../../x.edi"):
            with pytest.raises(OSError):
                sftp.open(path, "wb")
        with pytest.raises(OSError):
            sftp.remove("/../BETA/out/secret.edi")
        # an upload named after B's path lands, sanitised, in A's own box
        sftp.putfo(io.BytesIO(EDI), "/in/../in/BETA..x.edi", confirm=False)
    assert beta_out.read_bytes() == b"SECRET"
    assert files_in(hub.box("BETA") / "in") == []
    assert [(r.partner_id, r.filename) for r in hub.recorder.received] == [("ALPHA", "BETA..x.edi")]


def test_symlinks_never_created_nor_followed(hub: Hub, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"OUTSIDE")
    os.symlink(outside, hub.box("ALPHA") / "out" / "link.edi")
    os.symlink(hub.box("BETA") / "out", hub.box("ALPHA") / "ack" / "beta")
    with alpha(hub) as sftp:
        with pytest.raises(OSError):
            sftp.symlink("/etc/passwd", "/in/passwd")
        with pytest.raises(OSError):
            sftp.symlink("/out", "/in/x")
        with pytest.raises(OSError):
            sftp.readlink("/out/link.edi")
        assert sftp.listdir("/out") == []
        assert sftp.listdir("/ack") == []
        with pytest.raises(OSError):
            sftp.open("/out/link.edi", "rb")
        with pytest.raises(OSError):
            sftp.stat("/out/link.edi")
        with pytest.raises(OSError):
            sftp.listdir("/ack/beta")
        with pytest.raises(OSError):
            sftp.remove("/out/link.edi")
    assert os.path.islink(hub.box("ALPHA") / "out" / "link.edi")
    assert outside.read_bytes() == b"OUTSIDE"


def test_hidden_staging_is_not_reachable(hub: Hub) -> None:
    with alpha(hub) as sftp:
        f = sftp.open("/in/big.edi", "wb")
        f.write(b"part")
        f.flush()
        for path in ("/.staging", "/in/.staging", "/../ALPHA/.staging"):
            with pytest.raises(OSError):
                sftp.listdir(path)
        assert sftp.listdir("/in") == []
        f.close()
    assert [r.data for r in hub.recorder.received] == [b"part"]


# --- uploads: completion, cuts, temporaries, failures ----------------------------------------------------


def test_cut_upload_is_discarded(hub: Hub) -> None:
    transport = paramiko.Transport(("127.0.0.1", hub.port))
    transport.connect()
    transport.auth_publickey("alpha", paramiko.Ed25519Key.from_private_key_file(str(hub.keys["alpha"].private)))
    sftp = paramiko.SFTPClient.from_transport(transport)
    assert sftp is not None
    f = sftp.open("/in/cut.edi", "wb")
    f.write(EDI[: len(EDI) // 2])
    f.flush()  # the bytes reached the server
    staging = hub.box("ALPHA") / ".staging"
    assert len(files_in(staging)) == 1
    # cut the connection under the session: no SFTP CLOSE is ever sent
    transport.sock.shutdown(2)
    transport.sock.close()
    transport.close()
    assert wait_for(lambda: files_in(staging) == [])
    assert hub.recorder.received == []
    assert files_in(hub.box("ALPHA") / "in") == []
    # the name is free again: a complete upload of the same file goes through
    with alpha(hub) as sftp2:
        sftp2.putfo(io.BytesIO(EDI), "/in/cut.edi")
    assert [(r.filename, r.data) for r in hub.recorder.received] == [("cut.edi", EDI)]


def test_session_closed_with_file_open_is_not_complete(hub: Hub) -> None:
    """A client that ends its session cleanly but never closed the file: not complete either."""
    with alpha(hub) as sftp:
        f = sftp.open("/in/open.edi", "wb")
        f.write(b"half")
        f.flush()
    assert wait_for(lambda: files_in(hub.box("ALPHA") / ".staging") == [])
    assert hub.recorder.received == []


def test_same_name_twice_at_once_refused(hub: Hub) -> None:
    with alpha(hub) as sftp:
        first = sftp.open("/in/dup.edi", "wb")
        with pytest.raises(OSError, match="awaiting processing"):
            sftp.open("/in/dup.edi", "wb")
        first.write(b"one")
        first.close()
        sftp.putfo(io.BytesIO(b"two"), "/in/dup.edi")
    assert [r.data for r in hub.recorder.received] == [b"one", b"two"]


def test_temporary_name_then_rename(hub: Hub) -> None:
    with alpha(hub) as sftp:
        sftp.putfo(io.BytesIO(EDI), "/in/.coarri.edi.tmp")
        assert hub.recorder.received == []
        assert sftp.listdir("/in") == []
        sftp.posix_rename("/in/.coarri.edi.tmp", "/in/coarri.edi")
        sftp.putfo(io.BytesIO(b"WINSCP"), "/in/codeco.edi.filepart")
        sftp.rename("/in/codeco.edi.filepart", "/in/codeco.edi")
        with pytest.raises(OSError):
            sftp.rename("/in/.never-uploaded", "/in/x.edi")
        sftp.putfo(io.BytesIO(b"forgotten"), "/in/.forgotten")
    assert [(r.filename, r.data) for r in hub.recorder.received] == [("coarri.edi", EDI), ("codeco.edi", b"WINSCP")]
    # the temporary upload never renamed is discarded with its session
    assert wait_for(lambda: files_in(hub.box("ALPHA") / ".staging") == [])
    assert len(hub.recorder.received) == 2


def test_failed_handover_stays_in_in_until_recover(hub: Hub) -> None:
    hub.recorder.fail = True
    with alpha(hub) as sftp:
        sftp.putfo(io.BytesIO(EDI), "/in/retry.edi")  # the file is safe in in/: the client is told OK
        assert sftp.listdir("/in") == ["retry.edi"]
        with pytest.raises(OSError, match="awaiting processing"):
            sftp.putfo(io.BytesIO(b"other"), "/in/retry.edi")
    assert (hub.box("ALPHA") / "in" / "retry.edi").read_bytes() == EDI
    assert hub.server.recover() == 0
    hub.recorder.fail = False
    assert hub.server.recover() == 1
    assert [(r.filename, r.data) for r in hub.recorder.received] == [("retry.edi", EDI)]
    assert files_in(hub.box("ALPHA") / "in") == []
    assert hub.server.recover() == 0


def test_start_recovers_files_and_cleans_staging(tmp_path: Path, host_key: Path, keys: dict[str, ClientKey]) -> None:
    root = tmp_path / "boxes"
    for sub in ("in", "out", "ack", ".staging"):
        (root / "ALPHA" / sub).mkdir(parents=True)
    (root / "ALPHA" / "in" / "left.edi").write_bytes(EDI)
    (root / "ALPHA" / ".staging" / "abc.part").write_bytes(b"partial")
    recorder = Recorder()
    accounts = Accounts(account("ALPHA", "alpha", keys["alpha"]))
    key_copy = tmp_path / "host_rsa"
    shutil.copy(host_key, key_copy)
    with running_server(root, key_copy, accounts, recorder):
        assert [(r.partner_id, r.filename, r.data) for r in recorder.received] == [("ALPHA", "left.edi", EDI)]
        assert files_in(root / "ALPHA" / "in") == []
        assert files_in(root / "ALPHA" / ".staging") == []


# --- limits ----------------------------------------------------------------------------------------


def test_file_size_limit(hub: Hub) -> None:
    hub.accounts.put(account("ALPHA", "alpha", hub.keys["alpha"], max_file_size=1000))
    with alpha(hub) as sftp:
        # paramiko pipelines the writes of put and ignores their status (and that of CLOSE); the
        # size check put does afterwards reports the refusal
        with pytest.raises(OSError, match="file too large: the limit is 1000 bytes"):
            sftp.putfo(io.BytesIO(b"x" * 5000), "/in/big.edi")
        f = sftp.open("/in/big2.edi", "wb")  # not pipelined: each write waits for its status
        f.write(b"y" * 1000)
        f.flush()
        with pytest.raises(OSError, match="limit is 1000 bytes"):
            f.write(b"y")
            f.flush()
        f.close()
        with pytest.raises(OSError, match="too large"):
            sftp.stat("/in/big2.edi")
        sftp.putfo(io.BytesIO(b"z" * 1000), "/in/fits.edi")
        sftp.putfo(io.BytesIO(b"w" * 10), "/in/big.edi")  # the name can be used again
    assert [(r.filename, r.size) for r in hub.recorder.received] == [("fits.edi", 1000), ("big.edi", 10)]
    assert wait_for(lambda: files_in(hub.box("ALPHA") / ".staging") == [])
    assert files_in(hub.box("ALPHA") / "in") == []


@needs_openssh
def test_openssh_file_size_limit(hub: Hub, tmp_path: Path) -> None:
    hub.accounts.put(account("ALPHA", "alpha", hub.keys["alpha"], max_file_size=1000))
    (tmp_path / "big.edi").write_bytes(b"x" * 200_000)
    result = openssh_sftp(hub.port, "alpha", hub.keys["alpha"].private, "put big.edi /in/big.edi\n", tmp_path)
    assert result.returncode != 0
    assert hub.recorder.received == []
    assert wait_for(lambda: files_in(hub.box("ALPHA") / ".staging") == [])
    assert files_in(hub.box("ALPHA") / "in") == []


def test_upload_rate_limit(hub: Hub) -> None:
    hub.accounts.put(account("ALPHA", "alpha", hub.keys["alpha"], max_uploads_per_minute=2))
    with alpha(hub) as sftp:
        sftp.putfo(io.BytesIO(b"1"), "/in/one.edi")
        sftp.putfo(io.BytesIO(b"2"), "/in/two.edi")
        with pytest.raises(OSError, match="rate limit"):
            sftp.open("/in/three.edi", "wb")
    assert [r.filename for r in hub.recorder.received] == ["one.edi", "two.edi"]
    # other partners have their own budget
    with paramiko_sftp(hub.port, "beta", key=hub.keys["beta"].private) as sftp:
        sftp.putfo(io.BytesIO(b"3"), "/in/three.edi")


# --- authentication --------------------------------------------------------------------------------


def test_wrong_key_unknown_user_suspended_refused(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="adapters.sftp_server")
    with pytest.raises(paramiko.AuthenticationException):
        with paramiko_sftp(hub.port, "alpha", key=hub.keys["stranger"].private):
            pass
    with pytest.raises(paramiko.AuthenticationException):
        with paramiko_sftp(hub.port, "beta", key=hub.keys["alpha"].private):  # A's key is not B's
            pass
    with pytest.raises(paramiko.AuthenticationException):
        with paramiko_sftp(hub.port, "nobody", key=hub.keys["alpha"].private):
            pass
    hub.accounts.put(account("ALPHA", "alpha", hub.keys["alpha"], suspended=True))
    with pytest.raises(paramiko.AuthenticationException):
        with paramiko_sftp(hub.port, "alpha", key=hub.keys["alpha"].private):
            pass
    failures = [r for r in caplog.records if getattr(r, "event", None) == "sftp.auth_failed"]
    assert {r.username for r in failures} == {"alpha", "beta", "nobody"}
    assert all(r.peer.startswith("127.0.0.1:") for r in failures)
    assert any(r.reason == "account suspended" for r in failures)
    # an edit to the account (reinstated) counts at the next login, without restart
    hub.accounts.put(account("ALPHA", "alpha", hub.keys["alpha"]))
    with alpha(hub) as sftp:
        assert sorted(sftp.listdir("/")) == ["ack", "in", "out"]


def test_password_auth(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="adapters.sftp_server")
    with pytest.raises(paramiko.AuthenticationException):  # not enabled for alpha
        with paramiko_sftp(hub.port, "alpha", password="whatever"):
            pass
    hub.accounts.put(account("ALPHA", "alpha", hub.keys["alpha"],
                             check_password=lambda p: p == "correct horse"))
    with pytest.raises(paramiko.AuthenticationException):
        with paramiko_sftp(hub.port, "alpha", password="s3cret-guess"):
            pass
    with paramiko_sftp(hub.port, "alpha", password="correct horse") as sftp:
        sftp.putfo(io.BytesIO(EDI), "/in/pw.edi")
    assert [r.filename for r in hub.recorder.received] == ["pw.edi"]
    assert "s3cret-guess" not in caplog.text and "whatever" not in caplog.text
    assert "correct horse" not in caplog.text


def test_no_shell_or_exec(hub: Hub) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", hub.port, username="alpha", key_filename=str(hub.keys["alpha"].private),
                   look_for_keys=False, allow_agent=False)
    try:
        with pytest.raises(paramiko.SSHException):
            client.exec_command("id")
    finally:
        client.close()


# --- host key, robustness, stop ------------------------------------------------------------------------


def test_host_key_generated_once_with_mode_600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "host_rsa"
    server = SftpServer(tmp_path / "boxes", path, lambda _u: None, lambda _u: None, port=0)
    server.start()
    try:
        first = host_key_fingerprint(server.host_key)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert server.host_key.get_bits() >= 3072
        transport = paramiko.Transport(("127.0.0.1", server.port))
        transport.connect()
        assert host_key_fingerprint(transport.get_remote_server_key()) == first
        transport.close()
    finally:
        server.stop()
    again = SftpServer(tmp_path / "boxes", path, lambda _u: None, lambda _u: None, port=0)
    again.start()
    try:
        assert host_key_fingerprint(again.host_key) == first
    finally:
        again.stop()


def test_garbage_and_early_disconnects_do_not_hurt(hub: Hub) -> None:
    s = raw_connect(hub.port)
    s.close()
    s = raw_connect(hub.port)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    s.close()
    s = raw_connect(hub.port)
    s.sendall(b"SSH-2.0-broken\r\n" + os.urandom(2000))
    s.close()
    transport = paramiko.Transport(("127.0.0.1", hub.port))
    transport.connect()  # key exchange done, then gone before authenticating
    transport.close()
    with alpha(hub) as sftp:
        sftp.putfo(io.BytesIO(EDI), "/in/after.edi")
    assert [r.filename for r in hub.recorder.received] == ["after.edi"]


def test_stop_closes_sessions_and_joins(tmp_path: Path, host_key: Path, keys: dict[str, ClientKey]) -> None:
    key_copy = tmp_path / "host_rsa"
    shutil.copy(host_key, key_copy)
    recorder = Recorder()
    server = SftpServer(tmp_path / "boxes", key_copy, Accounts(account("ALPHA", "alpha", keys["alpha"])),
                        recorder, port=0)
    server.start()
    port = server.port
    with paramiko_sftp(port, "alpha", key=keys["alpha"].private) as sftp:
        f = sftp.open("/in/during-stop.edi", "wb")
        f.write(b"half")
        f.flush()
        server.stop(timeout=5)
        assert not [t for t in server._threads if t.is_alive()]
        with pytest.raises((OSError, EOFError, paramiko.SSHException)):
            sftp.listdir("/")
    assert files_in(tmp_path / "boxes" / "ALPHA" / ".staging") == []
    assert recorder.received == []
    with pytest.raises(OSError):
        raw_connect(port).recv(1)


def test_box_rejects_unusable_partner_ids(hub: Hub) -> None:
    for bad in ("../x", "", ".hidden", "a/b"):
        with pytest.raises(ValueError):
            hub.server.box(bad)
    box = hub.server.box("NEW.P-1")
    assert sorted(p.name for p in box.iterdir()) == [".staging", "ack", "in", "out"]


def test_accounts_dataclass_defaults() -> None:
    acc = SftpAccount("P", "u", ())
    assert acc.max_file_size == 50 * 1024 * 1024 and acc.max_uploads_per_minute == 120
    assert acc.check_password is None and not acc.suspended
    assert replace(acc, suspended=True).suspended


def test_concurrent_sessions(hub: Hub) -> None:
    errors: list[BaseException] = []

    def upload(user: str, n: int) -> None:
        try:
            with paramiko_sftp(hub.port, user, key=hub.keys[user].private) as sftp:
                for i in range(5):
                    sftp.putfo(io.BytesIO(f"{user}-{n}-{i}".encode()), f"/in/{user}-{n}-{i}.edi")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(user, n)) for user in ("alpha", "beta") for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    got = sorted((r.partner_id, r.filename, r.data) for r in hub.recorder.received)
    assert len(got) == 40
    assert all(data.decode() + ".edi" == name for _p, name, data in got)
    assert {p for p, _n, _d in got} == {"ALPHA", "BETA"}
    assert files_in(hub.box("ALPHA") / "in") == files_in(hub.box("BETA") / "in") == []
