"""The watched folder: files dropped into a local folder (or a mounted share) are journalled and removed.

Layout: `<folder>/<file>` (the sender is found from the UNB header) or `<folder>/<PARTNER_ID>/<file>`
(the sender is that partner). A file is taken only once it has stopped changing: its size and
modification time must be the same on two successive scans. Writers should still write under a hidden
name (`.name`) or with a `.part`/`.tmp` suffix and rename when done; such names are never taken.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("hub.folder")

_IGNORED_SUFFIXES = (".part", ".tmp", ".filepart", ".crdownload")


class FolderWatcher:
    def __init__(self, root: Path, on_file: Callable[[Path, str | None], None], *,
                 interval: float = 1.0) -> None:
        """`on_file(path, partner_id or None)` must journal the file durably; the file is then deleted."""
        self.root = Path(root)
        self.on_file = on_file
        self.interval = interval
        self._seen: dict[Path, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _candidates(self) -> list[tuple[Path, str | None]]:
        out: list[tuple[Path, str | None]] = []
        if not self.root.is_dir():
            return out
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_dir() and not entry.is_symlink():
                out.extend((f, entry.name) for f in sorted(entry.iterdir())
                           if f.is_file() and not f.is_symlink() and not f.name.startswith("."))
            elif entry.is_file() and not entry.is_symlink():
                out.append((entry, None))
        return [(f, p) for f, p in out if not f.name.lower().endswith(_IGNORED_SUFFIXES)]

    def scan(self) -> int:
        """One pass: hand over every file unchanged since the previous pass; returns how many."""
        taken = 0
        current: dict[Path, tuple[int, int]] = {}
        for path, partner in self._candidates():
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            signature = (st.st_size, st.st_mtime_ns)
            if self._seen.get(path) != signature:
                current[path] = signature  # new or still changing: look again next pass
                continue
            try:
                self.on_file(path, partner)
            except Exception:
                log.exception("could not journal %s; it stays in the folder", path)
                current[path] = signature
                continue
            path.unlink(missing_ok=True)
            taken += 1
        self._seen = current
        return taken

    @property
    def alive(self) -> bool:
        """Started and its thread running (a stopped watcher is not alive)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="folder-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.scan()
            except Exception:
                log.exception("folder scan failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
