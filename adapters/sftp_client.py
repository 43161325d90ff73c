"""Delivering files: pushed to a partner's own SFTP server, or placed in a partner's box on the hub.

``push`` uploads under a hidden temporary name in the target folder and renames it to its final name
once complete, so the receiver never sees half a file. ``deliver_to_box`` does the same on the local
file system for a box's out/ or ack/ folder, never replacing a file the partner has not fetched yet.
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import secrets
from pathlib import Path
from typing import Any

import paramiko  # type: ignore[import-untyped]

from adapters.sftp_server import MAX_NAME_LENGTH, fsync_dir, link_no_overwrite, sanitise_name

__all__ = ["PushError", "push", "deliver_to_box"]

logger = logging.getLogger(__name__)


class PushError(Exception):
    """A push that did not deliver. ``reason`` is one line fit for a dead-letter record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _AcceptWithWarning(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    """No known_hosts given: accept the server's key, but say so in the log."""

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        logger.warning("sftp push to %s: host key not verified (no known_hosts); %s %s accepted", hostname,
                       key.get_name(), key.fingerprint,
                       extra={"event": "sftp.push_unverified_host", "host": hostname})


def _check_filename(filename: str) -> None:
    if not filename or "/" in filename or "\x00" in filename or filename in (".", ".."):
        raise PushError(f"invalid remote file name {filename!r}")


def push(host: str, port: int, username: str, data: bytes, remote_dir: str, filename: str, *,
         key_file: Path | None = None, password: str | None = None, known_hosts: Path | None = None,
         timeout: float = 30.0) -> None:
    """Upload ``data`` as ``remote_dir/filename`` on a partner's SFTP server.

    The server's host key is checked against ``known_hosts`` (OpenSSH format) when given: an unknown or
    different key refuses the push. Authentication uses ``key_file`` (any key type paramiko reads) and/or
    ``password``. Raises PushError on any failure."""
    _check_filename(filename)
    where = f"{username}@{host}:{port}"
    client = paramiko.SSHClient()
    if known_hosts is not None:
        try:
            client.load_host_keys(str(known_hosts))
        except OSError as exc:
            raise PushError(f"cannot read known_hosts {known_hosts}: {exc.strerror or exc}") from exc
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    else:
        client.set_missing_host_key_policy(_AcceptWithWarning())
    try:
        try:
            client.connect(host, port=port, username=username, password=password,
                           key_filename=str(key_file) if key_file is not None else None,
                           look_for_keys=False, allow_agent=False, timeout=timeout,
                           banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout)
        except paramiko.BadHostKeyException as exc:
            raise PushError(f"host key mismatch for {host}:{port}: got {exc.key.get_name()} "
                            f"{exc.key.fingerprint}, known_hosts has {exc.expected_key.fingerprint}") from exc
        except paramiko.AuthenticationException as exc:
            raise PushError(f"authentication failed for {where}: {exc}") from exc
        except paramiko.SSHException as exc:
            if known_hosts is not None and "not found in known_hosts" in str(exc):
                raise PushError(f"host key of {host}:{port} is not in {known_hosts}") from exc
            raise PushError(f"SSH connection to {host}:{port} failed: {exc}") from exc
        except (OSError, EOFError) as exc:
            raise PushError(f"cannot connect to {host}:{port}: {exc or type(exc).__name__}") from exc
        _upload(client, where, data, remote_dir, filename, timeout)
    finally:
        client.close()


def _upload(client: Any, where: str, data: bytes, remote_dir: str, filename: str, timeout: float) -> None:
    try:
        sftp = client.open_sftp()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise PushError(f"SFTP session refused by {where}: {exc or type(exc).__name__}") from exc
    try:
        sftp.get_channel().settimeout(timeout)
        folder = remote_dir.rstrip("/") or "/"
        final = posixpath.join(folder, filename)
        temp = posixpath.join(folder, f".{filename}.{secrets.token_hex(6)}.part")
        try:
            with sftp.open(temp, "wb") as f:
                f.set_pipelined(True)
                f.write(data)
            size = sftp.stat(temp).st_size
        except (OSError, EOFError, paramiko.SSHException) as exc:
            _remove_quietly(sftp, temp)
            raise PushError(f"upload of {final} to {where} failed: {_describe(exc)}") from exc
        if size is not None and size != len(data):
            _remove_quietly(sftp, temp)
            raise PushError(f"upload of {final} to {where} incomplete: {size} of {len(data)} bytes arrived")
        try:
            sftp.posix_rename(temp, final)
        except OSError as first:
            # servers without the posix-rename extension: a plain SFTP rename (which never replaces)
            try:
                sftp.rename(temp, final)
            except (OSError, EOFError, paramiko.SSHException) as exc:
                _remove_quietly(sftp, temp)
                raise PushError(f"rename to {final} on {where} failed: {_describe(exc)} "
                                f"(posix-rename: {_describe(first)})") from exc
        except (EOFError, paramiko.SSHException) as exc:
            raise PushError(f"rename to {final} on {where} failed: {_describe(exc)}") from exc
        logger.info("sftp pushed %s (%d bytes) to %s", final, len(data), where,
                    extra={"event": "sftp.pushed", "file_name": filename, "size": len(data), "target": where})
    finally:
        sftp.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return text or type(exc).__name__


def _remove_quietly(sftp: Any, path: str) -> None:
    try:
        sftp.remove(path)
    except (OSError, EOFError, paramiko.SSHException):
        pass


def deliver_to_box(box_out_dir: Path, filename: str, data: bytes) -> Path:
    """Place ``data`` in a partner's out/ or ack/ folder on the hub, complete or not at all.

    The name is sanitised as the SFTP server requires of the files it serves; when a file of that name
    is already there (not yet fetched), a numeric suffix is added (``name.1.edi``, ``name.2.edi``, ...).
    Returns the path written."""
    name = sanitise_name(filename)
    folder = Path(box_out_dir)
    temp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o640)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            stem, ext = name, ""
        for n in range(0, 100_000):
            suffix = f".{n}.{ext}" if ext else f".{n}"
            candidate = name if n == 0 else stem[: MAX_NAME_LENGTH - len(suffix)] + suffix
            target = folder / candidate
            try:
                # a hard link never replaces an existing file, unlike os.replace, with no window between
                # the check and the rename
                link_no_overwrite(temp, target)
            except FileExistsError:
                continue
            fsync_dir(folder)
            return target
        raise OSError(errno.EEXIST, f"no free name for {name} in {folder}")
    finally:
        temp.unlink(missing_ok=True)
