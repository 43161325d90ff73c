"""`hub serve`'s /health in process: what makes it "down" (503) rather than "ok" or "degraded"."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from hub.serve import Hub, build


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    settings = replace(Settings.defaults(tmp_path), sftp_port=0, http_port=0, prepare_processes=0)
    partners = tmp_path / "partners.yaml"
    partners.write_text("partners: []\n")
    running = build(settings, partners)
    running.start()
    try:
        yield running
    finally:
        running.stop(timeout=10)
        running.store.close()


def get_health(hub: Hub) -> tuple[int, dict[str, Any]]:
    assert hub.http is not None
    url = f"http://127.0.0.1:{hub.http.server_address[1]}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_a_running_hub_is_ok(hub: Hub) -> None:
    code, health = get_health(hub)
    assert code == 200 and health["status"] == "ok" and "down" not in health
    assert health["sftp"]["listening"] is True and health["threads"]["dead"] == []


def test_a_dead_worker_thread_takes_the_hub_down(hub: Hub) -> None:
    gone = threading.Thread(target=lambda: None, name="pipeline-7")
    gone.start()
    gone.join()
    hub.threads.append(gone)  # as a pipeline thread killed by a bug would be
    code, health = get_health(hub)
    assert code == 503 and health["status"] == "down" and health["down"] == ["pipeline-7"]


def test_an_sftp_server_that_stopped_listening_takes_the_hub_down(hub: Hub) -> None:
    hub.sftp.stop()
    code, health = get_health(hub)
    assert code == 503 and health["down"] == ["sftp"] and health["sftp"]["listening"] is False


def test_an_unreachable_store_takes_the_hub_down(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk I/O error")

    monkeypatch.setattr(hub.store, "transaction", broken)
    code, health = get_health(hub)
    assert code == 503 and health["down"] == ["store"] and health["store"] == "error: disk I/O error"


def test_a_broken_partners_file_only_degrades(hub: Hub) -> None:
    hub.partners_file.path.write_text("partners: [\n")
    hub.partners_file.current()  # the reload attempt that finds it broken
    code, health = get_health(hub)
    assert code == 200 and health["status"] == "degraded" and health["partners"]["last_error"]
