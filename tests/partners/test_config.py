"""hub.toml: defaults, values, environment overrides and the problems reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError, Settings, home, load_settings, partners_path
from tests.partners.helpers import REPO, write


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HUB_HOME", "HUB_DATABASE_URL", "HUB_AMQP_URL"):
        monkeypatch.delenv(var, raising=False)


def test_no_file_is_every_default_under_home(tmp_path: Path) -> None:
    s = load_settings(tmp_path)
    assert s == Settings.defaults(tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path}/var/hub.db"
    assert (s.sftp_host, s.sftp_port, s.sftp_root) == ("127.0.0.1", 2222, tmp_path / "var" / "sftp")
    assert (s.folder_in, s.folder_out) == (tmp_path / "var/folder/in", tmp_path / "var/folder/out")
    assert (s.http_host, s.http_port, s.amqp_url, s.our_ports) == ("127.0.0.1", 8080, None, ())
    assert (s.delivery_max_age_s, s.delivery_initial_backoff_s, s.delivery_max_backoff_s) == (86400, 5, 600)
    assert (s.ack_deadline_minutes, s.dedupe_window_hours, s.pipeline_workers, s.log_format) == (60, 72, 1, "text")
    assert s.prepare_processes is None  # hub serve decides by the number of cores
    assert partners_path(tmp_path) == tmp_path / "partners.yaml"


def test_values_from_the_file_relative_paths_under_home(tmp_path: Path) -> None:
    write(tmp_path / "hub.toml", """
        [hub]
        our_ports = ["MAPTM", "MACAS"]
        [sftp]
        port = 2022
        root = "boxes"
        host_key = "/etc/hub/host_key"
        [amqp]
        url = "amqp://hub@mq.example/portnet"
        [log]
        format = "json"
        [pipeline]
        workers = 4
        prepare_processes = 0
        batch = 100
    """)
    s = load_settings(tmp_path)
    assert s.prepare_processes == 0  # 0 is a choice here (no helper processes), not a mistake
    assert s.pipeline_batch == 100
    assert s.our_ports == ("MAPTM", "MACAS")
    assert (s.sftp_port, s.sftp_root, s.sftp_host_key) == (2022, tmp_path / "boxes", Path("/etc/hub/host_key"))
    assert (s.amqp_url, s.log_format, s.pipeline_workers) == ("amqp://hub@mq.example/portnet", "json", 4)
    assert s.sftp_host == "127.0.0.1"  # untouched keys keep their default


def test_environment_overrides_the_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "hub.toml", '[database]\nurl = "sqlite:///other.db"\n')
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://hub:secret@db/hub")
    monkeypatch.setenv("HUB_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    s = load_settings(tmp_path)
    assert s.database_url == "postgresql://hub:secret@db/hub"
    assert s.amqp_url == "amqp://guest:guest@127.0.0.1:5672/%2F"


def test_home_is_hub_home_else_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert home() == tmp_path
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "elsewhere"))
    assert home() == tmp_path / "elsewhere"
    write(tmp_path / "elsewhere.toml", "")  # not read: only <home>/hub.toml is
    (tmp_path / "elsewhere").mkdir()
    write(tmp_path / "elsewhere" / "hub.toml", "[http]\nport = 9090\n")
    assert load_settings().http_port == 9090


def test_every_problem_named_with_file_key_and_expectation(tmp_path: Path) -> None:
    path = write(tmp_path / "hub.toml", """
        [sftp]
        prot = 2022
        port = "2022"
        [hub]
        our_ports = ["casablanca"]
        [log]
        format = "xml"
        [delivery]
        max_age_s = 0
        [pipline]
        workers = 2
        [pipeline]
        prepare_processes = -1
        batch = 0
    """)
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path)
    problems = err.value.problems
    assert len(problems) == 8, problems
    text = str(err.value)
    assert f"{path}: sftp.prot: unknown key (did you mean 'port'?)" in text
    assert f"{path}: sftp.port: expected a TCP port number from 1 to 65535, got '2022'" in text
    assert "hub.our_ports: expected a list of UN/LOCODEs" in text
    assert "log.format: expected \"text\" or \"json\", got 'xml'" in text
    assert "delivery.max_age_s: expected a whole number greater than 0, got 0" in text
    assert "[pipline]: unknown table (did you mean 'pipeline'?)" in text
    assert "pipeline.prepare_processes: expected a whole number, 0 or more, got -1" in text
    assert "pipeline.batch: expected a whole number greater than 0, got 0" in text


def test_a_boolean_is_not_a_number(tmp_path: Path) -> None:
    write(tmp_path / "hub.toml", "[http]\nport = true\n")
    with pytest.raises(ConfigError, match="http.port: expected a TCP port"):
        load_settings(tmp_path)


def test_toml_syntax_error_has_its_line(tmp_path: Path) -> None:
    write(tmp_path / "hub.toml", "[sftp]\nport = = 2\n")
    with pytest.raises(ConfigError, match=r"hub.toml: not valid TOML: .*line 2"):
        load_settings(tmp_path)


def test_the_example_hub_toml_loads_to_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "hub.toml").write_bytes((REPO / "hub.toml").read_bytes())
    assert load_settings(tmp_path) == Settings.defaults(tmp_path)
