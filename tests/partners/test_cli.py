"""`hub check` and `hub partner add|list|suspend|resume`, through hub.cli.main with HUB_HOME in tmp_path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hub.cli import main
from hub.partners import load_partners
from tests.partners.helpers import REPO, ed25519_public_key, write


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HUB_HOME", str(tmp_path))
    for var in ("HUB_DATABASE_URL", "HUB_AMQP_URL"):
        monkeypatch.delenv(var, raising=False)
    shutil.copy(REPO / "partners.yaml", tmp_path / "partners.yaml")
    return tmp_path


def test_check_good_files(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "hub.toml: not found, every setting at its default" in out
    assert "partners.yaml: 5 partners (0 suspended), 6 routes, 5 UNB ids, 2 AMQP queues" in out
    assert "mapping specs" in out and out.rstrip().endswith("ok")


def test_check_reports_every_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(home / "hub.toml", "[sftp]\nport = 0\n")
    text = (home / "partners.yaml").read_text().replace("    role: terminal\n", "    role: terminal\n    rol: x\n")
    (home / "partners.yaml").write_text(text.replace("role: customs", "role: douane"))
    assert main(["check", "--home", str(home)]) == 1
    out = capsys.readouterr().out
    assert "error: " in out and "sftp.port: expected a TCP port number" in out
    assert "partner CT1: rol: unknown key (did you mean 'role'?)" in out
    assert "partner DOUANE: role: 'douane' is not one of" in out
    assert "3 problems" in out


def test_check_without_partners_file_warns(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "partners.yaml").unlink()
    assert main(["check"]) == 0
    assert "warning: " in capsys.readouterr().out


def test_add_keeps_comments_and_validates(home: Path, tmp_path_factory: pytest.TempPathFactory,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path_factory.mktemp("keys") / "maeu.pub"
    key = ed25519_public_key("maeu@example.com")
    key_file.write_text(key + "\n")
    before = (home / "partners.yaml").read_text()
    assert main(["partner", "add", "MAEU", "--unb-id", "MAEU:ZZZ", "--name", "Maersk", "--role", "line",
                 "--sftp-key", str(key_file), "--amqp-queue", "maeu.in", "--sends", "BAPLIE", "CUSCAR"]) == 0
    after = (home / "partners.yaml").read_text()
    assert after.startswith(before.rstrip("\n"))  # every comment and line of the administrator's file kept
    assert "# ---- Customs: manifests in, decisions out" in after and "added by `hub partner add`" in after
    maeu = load_partners(home / "partners.yaml").get("MAEU")
    assert maeu is not None and maeu.name == "Maersk" and maeu.role == "line"
    assert maeu.sftp is not None and maeu.sftp.public_keys == (key,)
    assert maeu.amqp is not None and maeu.amqp.queues == ("maeu.in",) and maeu.sends == ("BAPLIE", "CUSCAR")
    assert [p.name for p in home.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    assert "partner MAEU added" in capsys.readouterr().out


def test_add_refuses_duplicates_and_invalid_entries(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (home / "partners.yaml").read_text()
    assert main(["partner", "add", "AML", "--unb-id", "NEW"]) == 1
    assert "there is already a partner AML" in capsys.readouterr().err
    assert main(["partner", "add", "NEW", "--unb-id", "CT1CAS:ZZZ"]) == 1
    assert "UNB id CT1CAS:ZZZ already belongs to partner CT1" in capsys.readouterr().err
    assert main(["partner", "add", "NEW", "--unb-id", "NEW", "--amqp-queue", "ct1.to-hub"]) == 1
    assert "AMQP queue 'ct1.to-hub' is already partner CT1's" in capsys.readouterr().err
    assert main(["partner", "add", "NEW", "--unb-id", "NEW", "--sends", "NOT A TYPE"]) == 1
    assert "would not load" in capsys.readouterr().err
    assert (home / "partners.yaml").read_text() == before  # nothing written when refused


def test_add_usage_errors(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["partner", "add", "NEW"]) == 2  # --unb-id is required
    assert main(["partner", "add", "NEW", "--unb-id", "A:TOOLONG"]) == 2
    assert main(["partner", "add", "NEW", "--unb-id", "A", "--sftp-key", str(home / "none.pub")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_add_to_a_missing_file_creates_it(home: Path) -> None:
    (home / "partners.yaml").unlink()
    assert main(["partner", "add", "A", "--unb-id", "A:ZZZ"]) == 0
    assert main(["partner", "add", "B", "--unb-id", "B"]) == 0
    ps = load_partners(home / "partners.yaml")
    assert [p.id for p in ps] == ["A", "B"]
    assert (home / "partners.yaml").read_text().startswith("# partners.yaml:")


def test_suspend_and_resume(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["partner", "suspend", "CT1"]) == 0
    ps = load_partners(home / "partners.yaml")
    assert ps.get("CT1").suspended and "ct1.to-hub" not in ps.queues()  # type: ignore[union-attr]
    assert main(["partner", "suspend", "CT1"]) == 0
    assert "already suspended" in capsys.readouterr().out
    assert main(["partner", "resume", "CT1"]) == 0
    assert not load_partners(home / "partners.yaml").get("CT1").suspended  # type: ignore[union-attr]
    assert main(["partner", "suspend", "NOBODY"]) == 1
    assert "no partner NOBODY" in capsys.readouterr().err
    text = (home / "partners.yaml").read_text()
    assert "# the terminal's system writes lower case under UNOA" in text


def test_list_text_and_json(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["partner", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "ROLE", "STATUS"] and len(lines) == 6
    assert lines[1].split()[:5] == ["AML", "line", "active", "AMLTNG:ZZZ,AMLCAS:ZZZ", "sftp"]
    assert main(["partner", "list", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == ["AML", "CT1", "DOUANE", "KASBAH", "ONSSA"]
    assert rows[0]["sftp"]["public_keys"] == 1 and rows[0]["sftp"]["password"] is False


def test_list_of_a_broken_file_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(home / "partners.yaml", "partners:\n  - id: A\n    nme: x\n")
    assert main(["partner", "list"]) == 1
    assert "partners.yaml:3: partner A: nme: unknown key (did you mean 'name'?)" in capsys.readouterr().err
