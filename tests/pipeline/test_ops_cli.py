"""The operator's commands over a store the pipeline filled: messages, outbox, acks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.catalog import Catalog
from hub.cli import main
from hub.config import load_settings
from hub.delivery import Deliverer, DeliveryFailed
from hub.partners import load_partners
from hub.pipeline import Pipeline
from hub.store import open_store
from tests.pipeline.test_pipeline import PARTNERS, SAMPLES


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "partners.yaml").write_text(PARTNERS)
    settings = load_settings(tmp_path)
    partners = load_partners(tmp_path / "partners.yaml", settings)
    with open_store(settings.database_url) as store:
        store.journal((SAMPLES / "cuscar-d95b.edi").read_bytes(), channel="folder", partner="AML",
                      filename="manifest.edi")
        store.journal((SAMPLES / "invalid/codeco-wrong-unt-count.edi").read_bytes(), channel="folder",
                      partner="CT1", filename="gate.edi")
        Pipeline(store, Catalog(), lambda: partners, settings).run_once()

        def down(d: object, p: object) -> None:
            raise DeliveryFailed("customs gateway unreachable")

        from dataclasses import replace

        Deliverer(store, lambda: partners, replace(settings, delivery_max_age_s=0),
                  senders={"folder": down}).run_once()
    return tmp_path


def test_messages_list_and_show(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["messages", "--home", str(home), "list", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted((r["filename"], r["status"]) for r in rows) == [("gate.edi", "failed"), ("manifest.edi", "routed")]
    failed = next(r for r in rows if r["status"] == "failed")
    assert main(["messages", "--home", str(home), "show", failed["id"]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["report"]["accepted"] is False and shown["error"]
    assert main(["messages", "--home", str(home), "show", "NOPE"]) == 1


def test_outbox_dead_and_replay(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outbox", "--home", str(home), "dead", "--format", "json"]) == 0
    dead = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert dead and all("customs gateway unreachable" in d["last_error"] for d in dead)
    assert main(["outbox", "--home", str(home), "retry", dead[0]["id"]]) == 1  # dead is not pending
    capsys.readouterr()
    assert main(["outbox", "--home", str(home), "replay", "--all-dead"]) == 0
    assert main(["outbox", "--home", str(home), "list", "--status", "pending", "--format", "json"]) == 0
    pending = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert {p["id"] for p in pending} == {d["id"] for d in dead}
    assert main(["outbox", "--home", str(home), "show", dead[0]["id"], "--payload"]) == 0
