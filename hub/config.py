"""The hub's settings: `<home>/hub.toml`, environment variables for secrets, a default for everything.

The home folder is `HUB_HOME` (default: the current directory). It holds `hub.toml`, `partners.yaml`
and `var/` (the embedded database, the SFTP boxes, the watched folders). `hub.toml` is optional: a hub
started in an empty folder runs on the defaults below. Its settings are grouped in tables
(`[sftp] port = 2222`); a relative path in it is relative to the home folder.

Rules:
- every problem in the file is reported at once (`ConfigError.problems`), each naming the file, the
  key and what was expected; an unknown key is an error, with a suggestion when it looks like a typo;
- environment variables win over the file for the two URLs that may carry passwords
  (`HUB_DATABASE_URL`, `HUB_AMQP_URL`), so no secret has to be written in `hub.toml`.

No network I/O; reading the file is the only I/O here.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "Settings", "did_you_mean", "home", "load_settings", "partners_path", "settings_from_data",
           "settings_path"]

_LOCODE = re.compile(r"[A-Z]{2}[A-Z2-9]{3}")  # UN/LOCODE: ISO 3166 country + 3 letters or digits 2-9
_UNB_ID = re.compile(r"[A-Za-z0-9 .\-_/&()]{1,35}")  # 0004 is an..35; keep to what every repertoire carries
LOG_FORMATS = ("text", "json")


class ConfigError(Exception):
    """hub.toml cannot be used. `problems` lists every problem found, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def home() -> Path:
    """The hub's home folder: `HUB_HOME`, else the current directory."""
    env = os.environ.get("HUB_HOME")
    return Path(env).absolute() if env else Path.cwd()


_home_folder = home  # `load_settings` takes a parameter named `home`


def settings_path(home_dir: Path) -> Path:
    return home_dir / "hub.toml"


def partners_path(home_dir: Path) -> Path:
    return home_dir / "partners.yaml"


@dataclass(frozen=True)
class Settings:
    """What the hub runs with. Build it with `load_settings` (or `Settings.defaults(home)` in tests)."""

    home: Path
    our_ports: tuple[str, ...] = ()  # UN/LOCODEs of the ports this hub serves (e.g. MAPTM, MACAS)
    our_unb_id: str = "PORTNETHUB"  # the hub's interchange id: UNB sender of its CONTRLs and APERAKs
    database_url: str = ""  # default sqlite:///<home>/var/hub.db (see `defaults`)
    amqp_url: str | None = None  # None: no AMQP intake or delivery
    sftp_host: str = "127.0.0.1"  # loopback until an administrator opens it on purpose
    sftp_port: int = 2222  # not 22: the hub does not run as root
    sftp_root: Path = Path("var/sftp")
    sftp_host_key: Path = Path("var/sftp_host_key")
    folder_in: Path = Path("var/folder/in")
    folder_out: Path = Path("var/folder/out")
    http_host: str = "127.0.0.1"  # health and metrics
    http_port: int = 8080
    delivery_max_age_s: int = 86_400  # a delivery still failing after a day is dead-lettered
    delivery_initial_backoff_s: int = 5
    delivery_max_backoff_s: int = 600  # retry at least every 10 minutes once backed off
    delivery_senders: int = 4  # threads sending a leased batch at once (each its own AMQP connection)
    ack_deadline_minutes: int = 60  # a CONTRL expected back later than this is reported overdue
    dedupe_window_hours: int = 72  # the same bytes twice within 3 days are one message
    pipeline_workers: int = 1
    # Messages a pipeline worker leases and writes in one transaction. A dossier touched by several
    # messages of a batch (a busy vessel call) is written once for all of them, and the per-transaction
    # statements are shared: bench/bench_load.py went from about 220 to 250-290 msg/s with 60 instead of
    # 20. A batch holds SQLite's write lock while it is written (60 messages: a fifth of a second).
    pipeline_batch: int = 60
    # Helper processes that validate and map for the pipeline threads (hub.preparation); None: one
    # when the machine has more than one core, 0: in the pipeline threads themselves.
    prepare_processes: int | None = None
    log_format: str = "text"  # "json" (one object a line) in production

    @classmethod
    def defaults(cls, home_dir: Path) -> Settings:
        """Every setting at its default, paths under `home_dir` (no file or environment read)."""
        h = home_dir
        return cls(home=h, database_url=f"sqlite:///{h / 'var' / 'hub.db'}", sftp_root=h / "var" / "sftp",
                   sftp_host_key=h / "var" / "sftp_host_key", folder_in=h / "var" / "folder" / "in",
                   folder_out=h / "var" / "folder" / "out")


# ---- the file's shape: table -> key -> (attribute, checker) -------------------------------------------

_Check = Callable[[Any, Path], tuple[Any, str | None]]  # value, home -> (converted, problem or None)


def _string(value: Any, _: Path) -> tuple[Any, str | None]:
    if isinstance(value, str) and value.strip():
        return value.strip(), None
    return None, "expected a non-empty string"


def _port(value: Any, _: Path) -> tuple[Any, str | None]:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value, None
    return None, "expected a TCP port number from 1 to 65535"


def _positive(value: Any, _: Path) -> tuple[Any, str | None]:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, None
    return None, "expected a whole number greater than 0"


def _count(value: Any, _: Path) -> tuple[Any, str | None]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value, None
    return None, "expected a whole number, 0 or more"


def _path(value: Any, home_dir: Path) -> tuple[Any, str | None]:
    if isinstance(value, str) and value.strip():
        p = Path(value.strip()).expanduser()
        return (p if p.is_absolute() else home_dir / p), None
    return None, "expected a path (a string; relative paths are relative to the home folder)"


def _locodes(value: Any, _: Path) -> tuple[Any, str | None]:
    if isinstance(value, list) and all(isinstance(v, str) and _LOCODE.fullmatch(v) for v in value):
        return tuple(value), None
    return None, "expected a list of UN/LOCODEs in capitals, e.g. [\"MAPTM\", \"MACAS\"]"


def _unb_id(value: Any, _: Path) -> tuple[Any, str | None]:
    if isinstance(value, str) and _UNB_ID.fullmatch(value):
        return value, None
    return None, "expected an interchange id of 1 to 35 letters, digits or spaces, e.g. \"PORTNETHUB\""


def _log_format(value: Any, _: Path) -> tuple[Any, str | None]:
    if value in LOG_FORMATS:
        return value, None
    return None, "expected \"text\" or \"json\""


_SCHEMA: dict[str, dict[str, tuple[str, _Check]]] = {
    "hub": {"our_ports": ("our_ports", _locodes), "our_unb_id": ("our_unb_id", _unb_id)},
    "database": {"url": ("database_url", _string)},
    "amqp": {"url": ("amqp_url", _string)},
    "sftp": {"host": ("sftp_host", _string), "port": ("sftp_port", _port), "root": ("sftp_root", _path),
             "host_key": ("sftp_host_key", _path)},
    "folder": {"in": ("folder_in", _path), "out": ("folder_out", _path)},
    "http": {"host": ("http_host", _string), "port": ("http_port", _port)},
    "delivery": {"max_age_s": ("delivery_max_age_s", _positive),
                 "initial_backoff_s": ("delivery_initial_backoff_s", _positive),
                 "max_backoff_s": ("delivery_max_backoff_s", _positive),
                 "senders": ("delivery_senders", _positive)},
    "acks": {"deadline_minutes": ("ack_deadline_minutes", _positive)},
    "intake": {"dedupe_window_hours": ("dedupe_window_hours", _positive)},
    "pipeline": {"workers": ("pipeline_workers", _positive), "batch": ("pipeline_batch", _positive),
                 "prepare_processes": ("prepare_processes", _count)},
    "log": {"format": ("log_format", _log_format)},
}

# Environment variables that override the file (they may carry passwords).
_ENV = {"HUB_DATABASE_URL": "database_url", "HUB_AMQP_URL": "amqp_url"}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the choice closest to a mistyped word, else ""; two letters swapped
    (`prot`) count as closer than one letter changed (`root`)."""
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    close.sort(key=lambda c: sorted(c) != sorted(word))  # stable: difflib's order otherwise
    return f" (did you mean '{close[0]}'?)" if close else ""


def settings_from_data(data: Mapping[str, Any], home_dir: Path, file: str = "hub.toml",
                       environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from parsed TOML (tables of keys), environment overrides applied. Raises ConfigError."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for table, content in data.items():
        keys = _SCHEMA.get(table)
        if keys is None:
            problems.append(f"{file}: [{table}]: unknown table{did_you_mean(table, list(_SCHEMA))}; "
                            f"the tables are {', '.join('[' + t + ']' for t in _SCHEMA)}")
            continue
        if not isinstance(content, dict):
            problems.append(f"{file}: {table}: expected a table ([{table}] with keys under it)")
            continue
        for key, value in content.items():
            spec = keys.get(key)
            if spec is None:
                problems.append(f"{file}: {table}.{key}: unknown key{did_you_mean(key, list(keys))}; "
                                f"[{table}] takes {', '.join(keys)}")
                continue
            attr, check = spec
            converted, problem = check(value, home_dir)
            if problem:
                problems.append(f"{file}: {table}.{key}: {problem}, got {value!r}")
            else:
                values[attr] = converted
    env = os.environ if environ is None else environ
    for var, attr in _ENV.items():
        if env.get(var):
            values[attr] = env[var]
    if (values.get("delivery_initial_backoff_s", 5) > values.get("delivery_max_backoff_s", 600)
            and not problems):
        problems.append(f"{file}: delivery.initial_backoff_s: expected at most delivery.max_backoff_s")
    if problems:
        raise ConfigError(problems)
    return dataclasses.replace(Settings.defaults(home_dir), **values)


def load_settings(home: Path | None = None) -> Settings:
    """The settings of a home folder (default: `home()`): `hub.toml` if present, else the defaults,
    with `HUB_DATABASE_URL` and `HUB_AMQP_URL` applied. Raises ConfigError listing every problem."""
    home_dir = home if home is not None else _home_folder()
    path = settings_path(home_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return settings_from_data({}, home_dir, str(path))
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e.strerror or e}"]) from e
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError([f"{path}: not UTF-8 text (byte {e.start})"]) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{path}: not valid TOML: {e}"]) from e
    return settings_from_data(data, home_dir, str(path))
