"""Shared pieces of the SFTP tests: client keys made by ssh-keygen, a recording on_upload, a running
hub server on 127.0.0.1 (port 0), paramiko and OpenSSH clients."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from adapters.sftp_server import SftpAccount, SftpServer, Upload

SFTP = shutil.which("sftp")
SSH_KEYGEN = shutil.which("ssh-keygen")


@dataclass
class ClientKey:
    private: Path
    public_line: str


def make_key(folder: Path, name: str) -> ClientKey:
    """An ed25519 key pair made by ssh-keygen (no passphrase)."""
    assert SSH_KEYGEN, "ssh-keygen is needed for the SFTP tests"
    folder.mkdir(parents=True, exist_ok=True)
    private = folder / name
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test", "-f", str(private)],
                   check=True, capture_output=True)
    return ClientKey(private, (folder / f"{name}.pub").read_text().strip())


@dataclass
class Received:
    partner_id: str
    filename: str
    data: bytes
    size: int


@dataclass
class Recorder:
    """An on_upload that reads the file it is given (as the journal would) and remembers it.
    Set ``fail`` to make it raise instead."""

    received: list[Received] = field(default_factory=list)
    fail: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, upload: Upload) -> None:
        if self.fail:
            raise RuntimeError("journal unavailable")
        data = upload.path.read_bytes()
        with self.lock:
            self.received.append(Received(upload.partner_id, upload.filename, data, upload.size))


class Accounts:
    """A mutable account table, looked up the way the hub does (by login name)."""

    def __init__(self, *accounts: SftpAccount) -> None:
        self.by_user = {a.username: a for a in accounts}
        self.lookups = 0

    def __call__(self, username: str) -> SftpAccount | None:
        self.lookups += 1
        return self.by_user.get(username)

    def put(self, account: SftpAccount) -> None:
        self.by_user[account.username] = account


@contextmanager
def running_server(root: Path, host_key: Path, accounts: Callable[[str], SftpAccount | None],
                   on_upload: Callable[[Upload], None]) -> Iterator[SftpServer]:
    server = SftpServer(root, host_key, accounts, on_upload, host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def paramiko_sftp(port: int, username: str, key: Path | None = None,
                  password: str | None = None) -> Iterator[paramiko.SFTPClient]:
    """A paramiko SFTP session (host key not checked: these tests are about the server's side)."""
    transport = paramiko.Transport(("127.0.0.1", port))
    try:
        transport.connect()
        if key is not None:
            transport.auth_publickey(username, paramiko.Ed25519Key.from_private_key_file(str(key)))
        elif password is not None:
            transport.auth_password(username, password)
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        yield sftp
    finally:
        transport.close()


def openssh_sftp(port: int, username: str, key: Path, commands: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run OpenSSH's sftp in batch mode against the hub."""
    assert SFTP, "the OpenSSH sftp client is needed for these tests"
    return subprocess.run(
        [SFTP, "-b", "-", "-i", str(key), "-F", "/dev/null",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-P", str(port), f"{username}@127.0.0.1"],
        input=commands, capture_output=True, text=True, timeout=60, cwd=cwd)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def raw_connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)
