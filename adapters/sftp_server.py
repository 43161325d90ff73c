"""The hub's SFTP server: one box per partner, files dropped into ``/in`` are handed to the hub.

Each partner logs in (public key, or password where its account allows it) and sees only its own box
as ``/``::

    /in    write only: every file uploaded here is handed to the hub, then removed
    /out   deliveries from the hub: list, read, delete
    /ack   acknowledgements (CONTRL, APERAK, XML acks): list, read, delete

On disk a box is ``root/<partner_id>/{in,out,ack}`` plus a hidden ``.staging`` folder. An upload is
written to a staging file and moves to ``in/`` only when the client closes it with an explicit SFTP
CLOSE; a session that ends with the file still open (connection cut) leaves nothing behind. Then
``on_upload`` is called (it journals the bytes durably), and the file is removed from ``in/``. A file
whose hand-over failed stays in ``in/`` until :meth:`SftpServer.recover` hands it over.

Names beginning with a dot, and names ending in ``.filepart`` (WinSCP), are temporary upload names:
such a file is held, unprocessed, after its CLOSE until the client renames it to its final name in
``/in`` in the same session (the upload-then-rename pattern); if the session ends first it is discarded.

The operator documentation is docs/sftp.md.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import logging
import os
import re
import secrets
import socket
import stat as stat_mod
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko  # type: ignore[import-untyped]

__all__ = ["MAX_NAME_LENGTH", "SftpAccount", "SftpServer", "Upload", "host_key_fingerprint", "sanitise_name"]

logger = logging.getLogger(__name__)

FOLDERS = ("in", "out", "ack")
READ_FOLDERS = ("out", "ack")
STAGING = ".staging"
MAX_NAME_LENGTH = 128
TEMPORARY_SUFFIX = ".filepart"

_PARTNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_BAD_CHARS = re.compile(r"[^A-Za-z0-9._-]")

OK: int = paramiko.SFTP_OK
FAILURE: int = paramiko.SFTP_FAILURE
DENIED: int = paramiko.SFTP_PERMISSION_DENIED
NO_SUCH_FILE: int = paramiko.SFTP_NO_SUCH_FILE
AUTH_SUCCESSFUL: int = paramiko.AUTH_SUCCESSFUL
AUTH_FAILED: int = paramiko.AUTH_FAILED
OPEN_SUCCEEDED: int = paramiko.OPEN_SUCCEEDED
OPEN_PROHIBITED: int = paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


@dataclass(frozen=True)
class SftpAccount:
    """A partner's login on the hub's SFTP server (built from partners.yaml by the caller)."""

    partner_id: str
    username: str
    public_keys: tuple[str, ...]  # OpenSSH public key lines ("ssh-ed25519 AAAA... comment")
    check_password: Callable[[str], bool] | None = None  # None: password auth refused
    max_file_size: int = 50 * 1024 * 1024
    max_uploads_per_minute: int = 120
    suspended: bool = False


@dataclass(frozen=True)
class Upload:
    """A complete file a partner dropped into its ``/in``, handed to ``on_upload``."""

    partner_id: str
    filename: str  # sanitised base name as it sits in in/
    path: Path  # the complete file, in the partner's in/ folder
    size: int


def sanitise_name(name: str) -> str:
    """The base name a file is stored under: characters outside [A-Za-z0-9._-] become ``_``, leading
    dots go, and a name longer than MAX_NAME_LENGTH is cut (keeping a short extension).
    Raises ValueError when nothing usable is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    clean = _BAD_CHARS.sub("_", base).lstrip(".")
    if len(clean) > MAX_NAME_LENGTH:
        stem, dot, ext = clean.rpartition(".")
        if dot and stem and len(ext) <= 16:
            clean = stem[: MAX_NAME_LENGTH - len(ext) - 1] + "." + ext
        else:
            clean = clean[:MAX_NAME_LENGTH]
    if not clean or not _NAME.fullmatch(clean):
        raise ValueError(f"unusable file name {name!r}")
    return clean


def is_temporary_name(name: str) -> bool:
    """Whether an upload name marks a temporary file, to be renamed to its final name when complete."""
    return name.startswith(".") or name.endswith(TEMPORARY_SUFFIX)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def link_no_overwrite(src: Path, dst: Path) -> None:
    """Give ``src`` the name ``dst`` without ever replacing an existing ``dst`` (FileExistsError), then
    drop the name ``src``. Both are in the same file system."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # a file system without hard links: check, then rename (not atomic against other writers)
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "file exists", str(dst)) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def parse_public_key(line: str) -> tuple[str, bytes] | None:
    """(key type, key blob) of an OpenSSH public key line, or None when it is not one."""
    parts = line.split()
    for i in range(len(parts) - 1):
        key_type, encoded = parts[i], parts[i + 1]
        if not key_type.startswith(("ssh-", "ecdsa-", "sk-")):
            continue
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return None
        # the blob starts with the key type as an SSH string; both must agree
        if len(blob) < 4:
            return None
        n = int.from_bytes(blob[:4], "big")
        if blob[4 : 4 + n] != key_type.encode("ascii", "replace"):
            return None
        return key_type, blob
    return None


class _Refused(Exception):
    """An SFTP request refused with a message for the partner (sent with the failure status)."""


def _split(path: str) -> tuple[str, ...]:
    """The components of a path inside a box, resolved lexically: relative paths start at ``/`` and
    ``..`` stops at ``/`` (as it does at a real root), so no path names anything outside the box."""
    parts: list[str] = []
    for part in path.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return tuple(parts)


def _dir_attrs(path: Path, name: str) -> Any:
    attr = paramiko.SFTPAttributes.from_stat(os.stat(path), name)
    return attr


class _Auth(paramiko.ServerInterface):  # type: ignore[misc]
    """SSH authentication and channel policy for one connection."""

    max_channels = 10

    def __init__(self, hub: SftpServer, peer: str) -> None:
        self.hub = hub
        self.peer = peer
        self.account: SftpAccount | None = None
        self._pending: tuple[SftpAccount, str] | None = None
        self.channels = 0

    def _lookup(self, username: str, method: str) -> SftpAccount | None:
        try:
            account = self.hub.accounts(username)
        except Exception:
            logger.exception("sftp account lookup failed for %r", username,
                             extra={"event": "sftp.auth_error", "username": username, "peer": self.peer})
            return None
        if account is None:
            self._failed(username, method, "unknown user")
            return None
        if account.suspended:
            self._failed(username, method, "account suspended", account.partner_id)
            return None
        return account

    def _failed(self, username: str, method: str, reason: str, partner_id: str | None = None) -> None:
        logger.warning("sftp auth failed: user %r from %s (%s: %s)", username, self.peer, method, reason,
                       extra={"event": "sftp.auth_failed", "username": username, "peer": self.peer,
                              "method": method, "reason": reason, "partner_id": partner_id})

    def _succeeded(self, account: SftpAccount, method: str) -> int:
        # paramiko also asks about a public key before the client proves it holds it (the "query"), so
        # success here is not yet a login: the account is bound when the first channel opens, which
        # paramiko allows only once authentication is complete (and the user name cannot change).
        self._pending = (account, method)
        return AUTH_SUCCESSFUL

    def get_allowed_auths(self, username: str) -> str:
        try:
            account = self.hub.accounts(username)
        except Exception:
            account = None
        if account is not None and account.check_password is not None and not account.suspended:
            return "publickey,password"
        return "publickey"

    def check_auth_none(self, username: str) -> int:
        return AUTH_FAILED

    def check_auth_publickey(self, username: str, key: Any) -> int:
        account = self._lookup(username, "publickey")
        if account is None:
            return AUTH_FAILED
        offered = (key.get_name(), key.asbytes())
        for line in account.public_keys:
            if parse_public_key(line) == offered:
                return self._succeeded(account, "publickey")
        self._failed(username, "publickey", f"key {key.get_name()} {key.fingerprint} not registered",
                     account.partner_id)
        return AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        account = self._lookup(username, "password")
        if account is None:
            return AUTH_FAILED
        if account.check_password is None:
            self._failed(username, "password", "password login not enabled", account.partner_id)
            return AUTH_FAILED
        try:
            ok = bool(account.check_password(password))
        except Exception:
            logger.exception("sftp password check raised for %r", username,
                             extra={"event": "sftp.auth_error", "username": username, "peer": self.peer})
            ok = False
        if not ok:
            self._failed(username, "password", "wrong password", account.partner_id)
            return AUTH_FAILED
        return self._succeeded(account, "password")

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if self.account is None and self._pending is not None:
            self.account, method = self._pending
            logger.info("sftp login: user %r (partner %s) from %s by %s", self.account.username,
                        self.account.partner_id, self.peer, method,
                        extra={"event": "sftp.login", "username": self.account.username, "peer": self.peer,
                               "partner_id": self.account.partner_id, "method": method})
        if kind != "session" or self.account is None or self.channels >= self.max_channels:
            return OPEN_PROHIBITED
        self.channels += 1
        return OPEN_SUCCEEDED


class _HubSFTPServer(paramiko.SFTPServer):  # type: ignore[misc]
    """paramiko's SFTP subsystem, with the partner-facing reason of a refusal in the status message."""

    def __init__(self, channel: Any, name: str, server: _Auth, *args: Any, **kwargs: Any) -> None:
        super().__init__(channel, name, server, *args, **kwargs)
        self.daemon = True
        server.hub._track_thread(self)

    def _send_status(self, request_number: int, code: int, desc: str | None = None) -> None:
        box: _BoxSFTP = self.server
        message, box.message = box.message, None
        if desc is None and code != OK and message:
            desc = message
        super()._send_status(request_number, code, desc)


class _ReadHandle(paramiko.SFTPHandle):  # type: ignore[misc]
    def __init__(self, fd: int) -> None:
        super().__init__(os.O_RDONLY)
        self.readfile = os.fdopen(fd, "rb")

    def stat(self) -> Any:
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))

    def chattr(self, attr: Any) -> int:
        return DENIED


class _UploadHandle(paramiko.SFTPHandle):  # type: ignore[misc]
    """A file being written into /in. Its bytes go to a staging file; only an explicit CLOSE makes it
    complete. The CLOSE paramiko performs itself when the session ends is not one (see close())."""

    def __init__(self, session: _BoxSFTP, name: str, staging: Path, fd: int, reserved: bool) -> None:
        super().__init__(os.O_WRONLY)
        self.session = session
        self.name = name
        self.staging = staging
        self.fd: int | None = fd
        self.temporary = not reserved  # a temporary name: held after CLOSE until renamed
        self.reserved = reserved  # holds the reservation of name (a final name, not a temporary one)
        self.size = 0
        self.refusal: str | None = None
        self.closed = False
        self.mtime = int(time.time())

    def write(self, offset: int, data: bytes) -> int:
        if self.refusal is not None or self.fd is None:
            self.session.message = self.refusal or "file is closed"
            return FAILURE
        limit = self.session.account.max_file_size
        end = offset + len(data)
        if end > limit:
            self._refuse(f"file too large: the limit is {limit} bytes; upload of {self.name} discarded")
            return FAILURE
        try:
            view = memoryview(data)
            pos = offset
            while view:
                n = os.pwrite(self.fd, view, pos)
                view = view[n:]
                pos += n
        except OSError as exc:
            logger.error("sftp write to staging failed: %s", exc,
                         extra={"event": "sftp.write_error", "partner_id": self.session.account.partner_id,
                                "file_name": self.name})
            self._refuse(f"the hub could not store {self.name}; upload discarded, please retry")
            return FAILURE
        self.size = max(self.size, end)
        self.mtime = int(time.time())
        return OK

    def read(self, offset: int, length: int) -> int:
        self.session.message = "/in is write-only"
        return DENIED

    def stat(self) -> Any:
        attr = paramiko.SFTPAttributes()
        attr.st_size = self.size
        attr.st_mode = stat_mod.S_IFREG | 0o200
        attr.st_mtime = attr.st_atime = self.mtime
        return attr

    def chattr(self, attr: Any) -> int:
        return OK  # times and modes of an upload are not kept; accepting keeps "put -p" clients happy

    def _refuse(self, message: str) -> None:
        self.refusal = message
        self.session.message = message
        self.session.uploads.discard(self)
        self.session.remember_refusal(self.name, message)
        logger.warning("sftp upload refused: %s", message,
                       extra={"event": "sftp.upload_refused", "partner_id": self.session.account.partner_id,
                              "file_name": self.name})
        self._discard()

    def _discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.staging.unlink(missing_ok=True)
        self._release()

    def _release(self) -> None:
        if self.reserved:
            self.session.hub._release(self.session.account.partner_id, self.name)
            self.reserved = False

    def close(self) -> None:
        # paramiko calls close() on two paths: for the client's CLOSE request, and from
        # SFTPServer.finish_subsystem for every handle still open when the session ends (connection cut,
        # client gone). finish_subsystem calls session_ended() first, which sets session.ended: such a
        # handle is an incomplete upload and is discarded. Raising here makes paramiko answer the
        # CLOSE with a failure status (carrying session.message).
        if self.closed:
            return
        self.closed = True
        self.session.uploads.discard(self)
        if self.session.ended:
            if self.fd is not None:
                logger.info("sftp upload of %s cut after %d bytes: discarded", self.name, self.size,
                            extra={"event": "sftp.upload_incomplete",
                                   "partner_id": self.session.account.partner_id,
                                   "file_name": self.name, "size": self.size})
            self._discard()
            return
        if self.refusal is not None:
            self._discard()
            self.session.message = self.refusal
            raise _Refused(self.refusal)
        assert self.fd is not None
        try:
            os.fsync(self.fd)
        except OSError:
            self.session.message = f"the hub could not store {self.name}; upload discarded, please retry"
            self._discard()
            raise
        finally:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
        if self.temporary:
            self.session.hold(self.name, self.staging, self.size)
            return
        try:
            self.session.accept(self.name, self.staging, self.size)
        finally:
            self.staging.unlink(missing_ok=True)
            self._release()


class _BoxSFTP(paramiko.SFTPServerInterface):  # type: ignore[misc]
    """One SFTP session of an authenticated partner: every path is resolved inside its box."""

    def __init__(self, auth: _Auth, *args: Any, **kwargs: Any) -> None:
        super().__init__(auth, *args, **kwargs)
        assert auth.account is not None
        self.hub = auth.hub
        self.account: SftpAccount = auth.account
        self.peer = auth.peer
        self.box = self.hub.box(self.account.partner_id)
        self.message: str | None = None  # reason of the next failure status (see _HubSFTPServer)
        self.ended = False
        self.uploads: set[_UploadHandle] = set()
        self.held: dict[str, tuple[Path, int]] = {}  # temporary name -> (staging file, size)
        self.accepted: OrderedDict[str, tuple[int, int]] = OrderedDict()  # name -> (size, mtime)
        self.refused: OrderedDict[str, str] = OrderedDict()  # name -> why its upload was discarded

    # session -------------------------------------------------------------------------------------

    def session_ended(self) -> None:
        self.ended = True
        for staging, _size in self.held.values():
            staging.unlink(missing_ok=True)
        self.held.clear()

    def _deny(self, message: str, code: int = DENIED) -> int:
        self.message = message
        return code

    # upload completion ------------------------------------------------------------------------------

    def remember_refusal(self, name: str, message: str) -> None:
        # Clients may not see a refused WRITE or CLOSE (paramiko ignores the status of pipelined writes
        # and of CLOSE); the stat they do to confirm the upload then carries the reason.
        self.accepted.pop(name, None)
        self.refused[name] = message
        while len(self.refused) > 256:
            self.refused.popitem(last=False)

    def hold(self, name: str, staging: Path, size: int) -> None:
        old = self.held.pop(name, None)
        if old is not None and old[0] != staging:
            old[0].unlink(missing_ok=True)
        self.held[name] = (staging, size)

    def accept(self, name: str, staging: Path, size: int) -> None:
        """Move a complete upload to in/ and hand it to the hub (the caller holds the name)."""
        target = self.box / "in" / name
        try:
            link_no_overwrite(staging, target)
        except FileExistsError:
            self.message = f"{name} is still awaiting processing; send it again later or under another name"
            self.remember_refusal(name, self.message)
            raise _Refused(self.message) from None
        except OSError:
            self.message = f"the hub could not store {name}; upload discarded, please retry"
            self.remember_refusal(name, self.message)
            raise
        fsync_dir(target.parent)
        self.refused.pop(name, None)
        self.accepted[name] = (size, int(time.time()))
        while len(self.accepted) > 256:
            self.accepted.popitem(last=False)
        self.hub._hand_over(Upload(self.account.partner_id, name, target, size), self.peer)

    # paths ----------------------------------------------------------------------------------------

    def _in_name(self, raw: str) -> str | None:
        if is_temporary_name(raw):
            return raw if len(raw) <= MAX_NAME_LENGTH + 16 and "/" not in raw and "\x00" not in raw else None
        try:
            return sanitise_name(raw)
        except ValueError:
            return None

    def _served_file(self, folder: str, name: str) -> Path | None:
        """A file in out/ or ack/ the partner may read or delete: a regular file, not a link."""
        if not _NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
            return None
        path = self.box / folder / name
        try:
            st = os.lstat(path)
        except OSError:
            return None
        return path if stat_mod.S_ISREG(st.st_mode) else None

    # SFTPServerInterface ----------------------------------------------------------------------------

    def canonicalize(self, path: str) -> str:
        return "/" + "/".join(_split(path))

    def list_folder(self, path: str) -> Any:
        parts = _split(path)
        if not parts:
            return [_dir_attrs(self.box / f, f) for f in FOLDERS]
        if len(parts) != 1 or parts[0] not in FOLDERS:
            return self._deny(f"no such folder {self.canonicalize(path)}", NO_SUCH_FILE)
        folder = self.box / parts[0]
        out = []
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    if not _NAME.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
                        continue
                    try:
                        out.append(paramiko.SFTPAttributes.from_stat(entry.stat(follow_symlinks=False),
                                                                     entry.name))
                    except OSError:
                        continue
        except OSError:
            return self._deny(f"cannot list {self.canonicalize(path)}", FAILURE)
        out.sort(key=lambda a: a.filename)
        return out

    def stat(self, path: str) -> Any:
        parts = _split(path)
        if not parts:
            return _dir_attrs(self.box, "/")
        if parts[0] not in FOLDERS or len(parts) > 2:
            return self._deny(f"no such file {self.canonicalize(path)}", NO_SUCH_FILE)
        if len(parts) == 1:
            return _dir_attrs(self.box / parts[0], parts[0])
        folder, raw = parts
        if folder == "in":
            return self._stat_in(raw)
        served = self._served_file(folder, raw)
        if served is None:
            return self._deny(f"no such file /{folder}/{raw}", NO_SUCH_FILE)
        return paramiko.SFTPAttributes.from_stat(os.lstat(served), raw)

    def _stat_in(self, raw: str) -> Any:
        name = self._in_name(raw)
        attr = paramiko.SFTPAttributes()
        attr.filename = raw
        attr.st_mode = stat_mod.S_IFREG | 0o600
        if name is None:
            return self._deny(f"no such file /in/{raw}", NO_SUCH_FILE)
        if name in self.refused:
            return self._deny(self.refused[name], FAILURE)
        if name in self.held:
            attr.st_size = self.held[name][1]
            attr.st_mtime = attr.st_atime = int(time.time())
            return attr
        for handle in self.uploads:
            if handle.name == name:
                return handle.stat()
        if name in self.accepted:
            # uploaded in this session and already handed to the hub: clients that check the size
            # after a put (paramiko's confirm) see what they sent
            attr.st_size, attr.st_mtime = self.accepted[name]
            attr.st_atime = attr.st_mtime
            return attr
        try:
            st = os.lstat(self.box / "in" / name)
        except OSError:
            return self._deny(f"no such file /in/{raw}", NO_SUCH_FILE)
        if not stat_mod.S_ISREG(st.st_mode):
            return self._deny(f"no such file /in/{raw}", NO_SUCH_FILE)
        return paramiko.SFTPAttributes.from_stat(st, name)

    def lstat(self, path: str) -> Any:
        return self.stat(path)

    def open(self, path: str, flags: int, attr: Any) -> Any:
        parts = _split(path)
        writing = bool(flags & (os.O_WRONLY | os.O_RDWR))
        where = self.canonicalize(path)
        if len(parts) != 2 or parts[0] not in FOLDERS:
            return self._deny(f"{where}: files can only be written into /in and read from /out and /ack")
        folder, raw = parts
        if folder == "in":
            if not writing:
                return self._deny("/in is write-only: the hub takes each file as soon as it is complete")
            return self._open_upload(raw)
        if writing:
            return self._deny(f"/{folder} is read-only: upload into /in")
        served = self._served_file(folder, raw)
        if served is None:
            return self._deny(f"no such file {where}", NO_SUCH_FILE)
        try:
            fd = os.open(served, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return self._deny(f"no such file {where}", NO_SUCH_FILE)
        handle = _ReadHandle(fd)
        handle.filename = str(served)
        return handle

    def _open_upload(self, raw: str) -> Any:
        name = self._in_name(raw)
        if name is None:
            return self._deny(f"unusable file name {raw!r}: use letters, digits, '.', '_' and '-'", FAILURE)
        if not self.hub._allow_upload(self.account):
            logger.warning("sftp upload rate limit reached by partner %s", self.account.partner_id,
                           extra={"event": "sftp.rate_limited", "partner_id": self.account.partner_id,
                                  "peer": self.peer, "file_name": name})
            return self._deny(f"upload rate limit reached ({self.account.max_uploads_per_minute} files "
                              "a minute); retry later", FAILURE)
        temporary = is_temporary_name(name)
        if temporary:
            old = self.held.pop(name, None)
            if old is not None:
                old[0].unlink(missing_ok=True)
        elif not self.hub._reserve(self.account.partner_id, name):
            return self._deny(f"{name} is still awaiting processing; send it again later or under another "
                              "name", FAILURE)
        staging = self.box / STAGING / f"{secrets.token_hex(12)}.part"
        try:
            fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            if not temporary:
                self.hub._release(self.account.partner_id, name)
            logger.error("sftp cannot create staging file: %s", exc,
                         extra={"event": "sftp.write_error", "partner_id": self.account.partner_id})
            return self._deny("the hub cannot accept files right now; retry later", FAILURE)
        self.refused.pop(name, None)
        handle = _UploadHandle(self, name, staging, fd, reserved=not temporary)
        self.uploads.add(handle)
        return handle

    def rename(self, oldpath: str, newpath: str) -> int:
        old, new = _split(oldpath), _split(newpath)
        if len(old) != 2 or len(new) != 2 or old[0] != "in" or new[0] != "in":
            return self._deny("only a temporary upload in /in can be renamed, to its final name in /in")
        old_name = self._in_name(old[1])
        if old_name is None or old_name not in self.held:
            return self._deny(f"/in/{old[1]} is not a temporary upload of this session", NO_SUCH_FILE)
        new_name = self._in_name(new[1])
        if new_name is None or is_temporary_name(new_name):
            return self._deny(f"unusable final name {new[1]!r}", FAILURE)
        if not self.hub._reserve(self.account.partner_id, new_name):
            return self._deny(f"{new_name} is still awaiting processing; send it again later or under "
                              "another name", FAILURE)
        staging, size = self.held.pop(old_name)
        try:
            self.accept(new_name, staging, size)
        except _Refused:
            return FAILURE
        except OSError:
            return FAILURE
        finally:
            staging.unlink(missing_ok=True)
            self.hub._release(self.account.partner_id, new_name)
        return OK

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self.rename(oldpath, newpath)

    def remove(self, path: str) -> int:
        parts = _split(path)
        if len(parts) != 2 or parts[0] not in READ_FOLDERS:
            return self._deny(f"{self.canonicalize(path)}: only files in /out and /ack can be deleted")
        served = self._served_file(parts[0], parts[1])
        if served is None:
            return self._deny(f"no such file {self.canonicalize(path)}", NO_SUCH_FILE)
        try:
            served.unlink()
        except FileNotFoundError:
            return self._deny(f"no such file {self.canonicalize(path)}", NO_SUCH_FILE)
        except OSError:
            return self._deny(f"cannot delete {self.canonicalize(path)}", FAILURE)
        return OK

    def chattr(self, path: str, attr: Any) -> int:
        parts = _split(path)
        if len(parts) == 2 and parts[0] == "in":
            name = self._in_name(parts[1])
            if name is not None and (name in self.held or name in self.accepted
                                     or any(h.name == name for h in self.uploads)):
                return OK  # ignored, as for open uploads
        return self._deny("attributes cannot be changed on the hub")

    def mkdir(self, path: str, attr: Any) -> int:
        return self._deny("folders cannot be created on the hub")

    def rmdir(self, path: str) -> int:
        return self._deny("folders cannot be removed on the hub")

    def symlink(self, target_path: str, path: str) -> int:
        return self._deny("symbolic links are not supported")

    def readlink(self, path: str) -> int:
        return self._deny("symbolic links are not supported")


class SftpServer:
    """The hub's SFTP server. ``accounts`` maps a login name to its account at each authentication
    (None: unknown); ``on_upload`` journals a complete file durably and returns, or raises (the file
    then stays in in/ for :meth:`recover`). ``on_upload`` is called from connection threads, possibly
    several at once."""

    accept_poll = 0.25  # seconds between checks of the stop flag in the accept loop
    login_timeout = 60.0  # seconds from connect to an open session channel
    max_connections = 200

    def __init__(self, root: Path, host_key_path: Path, accounts: Callable[[str], SftpAccount | None],
                 on_upload: Callable[[Upload], None], host: str = "127.0.0.1", port: int = 2222) -> None:
        self.root = Path(root)
        self.host_key_path = Path(host_key_path)
        self.accounts = accounts
        self.on_upload = on_upload
        self.host = host
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._transports: set[Any] = set()
        self._reserved: set[tuple[str, str]] = set()
        self._recent_uploads: dict[str, deque[float]] = {}
        self.host_key: Any = None

    # boxes ----------------------------------------------------------------------------------------

    def box(self, partner_id: str) -> Path:
        """The partner's box, root/<partner_id>, with in/, out/, ack/ (and the hidden staging folder)."""
        if not _PARTNER_ID.fullmatch(partner_id):
            raise ValueError(f"partner id {partner_id!r} cannot name a box")
        box = self.root / partner_id
        for sub in (*FOLDERS, STAGING):
            (box / sub).mkdir(parents=True, exist_ok=True, mode=0o750)
        return box

    def _boxes(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir()
                      if _PARTNER_ID.fullmatch(p.name) and p.is_dir() and not p.is_symlink())

    def _reserve(self, partner_id: str, name: str) -> bool:
        """Claim an in/ name for one upload (or one hand-over); False if it is taken or still in in/."""
        key = (partner_id, name)
        with self._lock:
            if key in self._reserved or os.path.lexists(self.root / partner_id / "in" / name):
                return False
            self._reserved.add(key)
            return True

    def _release(self, partner_id: str, name: str) -> None:
        with self._lock:
            self._reserved.discard((partner_id, name))

    def _allow_upload(self, account: SftpAccount) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = self._recent_uploads.setdefault(account.partner_id, deque())
            while recent and recent[0] <= now - 60.0:
                recent.popleft()
            if len(recent) >= account.max_uploads_per_minute:
                return False
            recent.append(now)
            return True

    def _hand_over(self, upload: Upload, peer: str | None = None) -> bool:
        """Give a complete file in in/ to on_upload; remove it once on_upload has returned."""
        extra = {"event": "sftp.upload", "partner_id": upload.partner_id, "file_name": upload.filename,
                 "size": upload.size, "peer": peer}
        try:
            self.on_upload(upload)
        except Exception:
            logger.exception("sftp hand-over of %s/in/%s failed; it stays in in/ until recover()",
                             upload.partner_id, upload.filename, extra={**extra, "event": "sftp.handover_failed"})
            return False
        try:
            upload.path.unlink()
            fsync_dir(upload.path.parent)
        except FileNotFoundError:
            pass
        logger.info("sftp upload %s/in/%s (%d bytes) handed to the hub", upload.partner_id, upload.filename,
                    upload.size, extra=extra)
        return True

    def recover(self) -> int:
        """Hand every complete file left in any in/ to on_upload (after a crash, or after a failed
        hand-over). Returns how many were handed over."""
        count = 0
        for box in self._boxes():
            partner_id = box.name
            inbox = box / "in"
            try:
                entries = sorted(os.scandir(inbox), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if not _NAME.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                key = (partner_id, entry.name)
                with self._lock:
                    if key in self._reserved:
                        continue
                    self._reserved.add(key)
                try:
                    if not os.path.lexists(entry.path):
                        continue
                    size = os.lstat(entry.path).st_size
                    if self._hand_over(Upload(partner_id, entry.name, Path(entry.path), size)):
                        count += 1
                finally:
                    self._release(partner_id, entry.name)
        return count

    def _clean_staging(self) -> None:
        for box in self._boxes():
            staging = box / STAGING
            if not staging.is_dir():
                continue
            for leftover in staging.iterdir():
                if leftover.is_file() or leftover.is_symlink():
                    leftover.unlink(missing_ok=True)
                    logger.info("sftp removed incomplete upload %s", leftover,
                                extra={"event": "sftp.staging_cleaned", "partner_id": box.name})

    # host key ---------------------------------------------------------------------------------------

    def _load_host_key(self) -> Any:
        path = self.host_key_path
        if path.exists():
            mode = stat_mod.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                logger.warning("sftp host key %s is readable by others (mode %o); chmod 600 it", path, mode,
                               extra={"event": "sftp.host_key_mode"})
            return paramiko.RSAKey(filename=str(path))
        key = paramiko.RSAKey.generate(3072)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                key.write_private_key(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            link_no_overwrite(tmp, path)  # another process that won the race keeps its key
        except FileExistsError:
            tmp.unlink(missing_ok=True)
            return paramiko.RSAKey(filename=str(path))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)
        logger.info("sftp host key generated at %s (fingerprint SHA256:%s)", path, host_key_fingerprint(key),
                    extra={"event": "sftp.host_key_generated"})
        return key

    # serving ----------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._sock is not None:
            return int(self._sock.getsockname()[1])
        return self._port

    @property
    def listening(self) -> bool:
        """Whether the server accepts connections (started, not stopped, its accept thread alive)."""
        return self._sock is not None and self._accept_thread is not None and self._accept_thread.is_alive()

    def start(self) -> None:
        """Load (or create) the host key, clean staging, recover(), bind and serve in the background."""
        if self._sock is not None:
            raise RuntimeError("SFTP server already started")
        self.host_key = self._load_host_key()
        self.root.mkdir(parents=True, exist_ok=True)
        self._clean_staging()
        recovered = self.recover()
        if recovered:
            logger.info("sftp recovered %d file(s) left in in/", recovered, extra={"event": "sftp.recovered"})
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._port))
            sock.listen(64)
            sock.settimeout(self.accept_poll)
        except OSError:
            sock.close()
            raise
        self._stopping.clear()
        self._sock = sock
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"sftp-accept-{self.port}",
                                               daemon=True)
        self._accept_thread.start()
        logger.info("sftp server listening on %s:%d", self.host, self.port,
                    extra={"event": "sftp.listening", "port": self.port})

    def _accept_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stopping.is_set():
            try:
                conn, addr = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                time.sleep(self.accept_poll)
                continue
            peer = f"{addr[0]}:{addr[1]}"
            with self._lock:
                busy = len(self._threads) >= self.max_connections
            if busy:
                logger.warning("sftp connection from %s refused: too many connections", peer,
                               extra={"event": "sftp.too_many_connections", "peer": peer})
                conn.close()
                continue
            thread = threading.Thread(target=self._serve, args=(conn, peer), name=f"sftp-conn-{peer}",
                                      daemon=True)
            self._track_thread(thread)
            thread.start()

    def _track_thread(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive() or not t.ident}
            self._threads.add(thread)

    def _serve(self, conn: socket.socket, peer: str) -> None:
        transport: Any = None
        try:
            conn.settimeout(None)
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", _HubSFTPServer, _BoxSFTP)
            with self._lock:
                if self._stopping.is_set():
                    return
                self._transports.add(transport)
            transport.start_server(server=_Auth(self, peer))
            deadline = time.monotonic() + self.login_timeout
            channel = None
            while channel is None and transport.is_active() and not self._stopping.is_set():
                if time.monotonic() > deadline:
                    logger.info("sftp connection from %s closed: no session opened in time", peer,
                                extra={"event": "sftp.login_timeout", "peer": peer})
                    return
                channel = transport.accept(timeout=self.accept_poll)
            while transport.is_active() and not self._stopping.is_set():
                transport.join(self.accept_poll)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            logger.info("sftp connection from %s ended: %s", peer, exc or type(exc).__name__,
                        extra={"event": "sftp.connection_error", "peer": peer})
        except Exception:
            logger.exception("sftp connection from %s failed", peer,
                             extra={"event": "sftp.connection_error", "peer": peer})
        finally:
            if transport is not None:
                transport.close()
                with self._lock:
                    self._transports.discard(transport)
            conn.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and wait (up to ``timeout``) for their threads."""
        self._stopping.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        deadline = time.monotonic() + timeout
        if self._accept_thread is not None:
            self._accept_thread.join(max(0.0, deadline - time.monotonic()))
            self._accept_thread = None
        with self._lock:
            transports = list(self._transports)
        for transport in transports:
            transport.close()
        while True:
            with self._lock:
                threads = [t for t in self._threads if t.is_alive() and t is not threading.current_thread()]
            if not threads or time.monotonic() >= deadline:
                break
            for thread in threads:
                thread.join(max(0.0, min(0.2, deadline - time.monotonic())))
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive()}
            if self._threads:
                logger.warning("sftp stop: %d thread(s) still running after %.1fs", len(self._threads), timeout,
                               extra={"event": "sftp.stop_timeout"})


def host_key_fingerprint(key: Any) -> str:
    """The SHA256 fingerprint of a key, as ssh-keygen -l prints it (without the ``SHA256:`` prefix)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return base64.b64encode(digest).decode("ascii").rstrip("=")
