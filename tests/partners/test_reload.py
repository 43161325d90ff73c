"""PartnersFile: reload on change, the last good file kept when an edit is broken."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from hub.partners import PartnersFile, hash_password

GOOD = "partners:\n  - id: A\n    unb_ids: [A]\n"
SECOND = "partners:\n  - id: A\n    unb_ids: [A]\n  - id: B\n    unb_ids: [B]\n"
BROKEN = "partners:\n  - id: A\n    unb_ids: [A]\n    suspendd: true\n"


def edit(path: Path, text: str, bump_ns: int = 5_000_000_000) -> None:
    """Write and move the mtime forward, as an editor saving seconds later would."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + bump_ns, before + bump_ns))


def test_good_edit_is_picked_up_without_restart(tmp_path: Path) -> None:
    path = tmp_path / "partners.yaml"
    edit(path, GOOD)
    pf = PartnersFile(path)
    first = pf.current()
    assert [p.id for p in first] == ["A"] and pf.last_error is None
    assert pf.current() is first  # unchanged file: no reload
    edit(path, SECOND)
    assert [p.id for p in pf.current()] == ["A", "B"]


def test_broken_edit_keeps_the_last_good_and_says_why_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "partners.yaml"
    edit(path, GOOD)
    pf = PartnersFile(path)
    good = pf.current()
    edit(path, BROKEN)
    with caplog.at_level(logging.ERROR, logger="hub.partners"):
        assert pf.current() is good
        assert pf.current() is good
    assert pf.last_error is not None and "partners.yaml:4: partner A: suspendd: unknown key" in pf.last_error
    assert "still serving the 1 partners loaded before" in pf.last_error
    assert len([r for r in caplog.records if "suspendd" in r.getMessage()]) == 1  # logged once
    edit(path, SECOND)  # the fix
    assert [p.id for p in pf.current()] == ["A", "B"] and pf.last_error is None


def test_replaced_file_with_the_same_size_and_time_is_seen_by_its_inode(tmp_path: Path) -> None:
    path = tmp_path / "partners.yaml"
    edit(path, GOOD)
    pf = PartnersFile(path)
    st = path.stat()
    other = tmp_path / "new.yaml"
    other.write_text(GOOD.replace("[A]", "[Z]"), encoding="utf-8")
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)  # as `hub partner` writes: same size, same mtime, another inode
    assert pf.current().by_unb("Z") is not None


def test_an_emptied_file_is_not_taken_for_no_partners(tmp_path: Path) -> None:
    path = tmp_path / "partners.yaml"
    edit(path, GOOD)
    pf = PartnersFile(path)
    edit(path, "# being rewritten\n")  # truncated by an editor, comments first
    assert len(pf.current()) == 1 and "the file is empty" in (pf.last_error or "")
    edit(path, "partners: []\n")  # no partners, on purpose
    assert len(pf.current()) == 0 and pf.last_error is None


def test_missing_file_at_start_is_no_partners_and_a_warning(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "partners.yaml"
    with caplog.at_level(logging.WARNING, logger="hub.partners"):
        pf = PartnersFile(path)
    assert len(pf.current()) == 0 and pf.last_error is None
    assert any("no such file" in r.getMessage() for r in caplog.records)
    edit(path, GOOD)
    assert [p.id for p in pf.current()] == ["A"]
    path.unlink()  # gone later: an accident, keep serving
    assert [p.id for p in pf.current()] == ["A"] and "the file is gone" in (pf.last_error or "")


def test_a_changed_secret_file_reloads(tmp_path: Path) -> None:
    secret = tmp_path / "a.hash"
    secret.write_text(hash_password("first password 123"))
    secret.chmod(0o600)
    path = tmp_path / "partners.yaml"
    edit(path, "partners:\n  - id: A\n    sftp:\n      password_hash_file: a.hash\n")
    pf = PartnersFile(path)
    first = pf.current().get("A").sftp.password_hash  # type: ignore[union-attr]
    edit(secret, hash_password("second password 456"))
    second = pf.current().get("A").sftp.password_hash  # type: ignore[union-attr]
    assert first != second and second is not None and second.startswith("scrypt$")


def test_current_from_many_threads(tmp_path: Path) -> None:
    path = tmp_path / "partners.yaml"
    edit(path, GOOD)
    pf = PartnersFile(path)
    seen: list[int] = []

    def read() -> None:
        for _ in range(50):
            seen.append(len(pf.current()))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    edit(path, SECOND)
    for t in threads:
        t.join()
    assert set(seen) <= {1, 2} and len(pf.current()) == 2
