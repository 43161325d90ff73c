"""The schema catalog: compiled EDIFACT directories and implementation guides read from `schemas/`.

This is where the pure core's data comes from. Files are read once and cached; directories load lazily,
on the first message that needs them. `HUB_SCHEMAS` names another schemas folder (tests, operators
with their own guides).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
from pathlib import Path

import yaml

from hub.edifact.directory import Directory
from hub.edifact.guides import Guide, GuideError
from hub.mapping.registry import MappingRegistry


def default_schemas_dir() -> Path:
    env = os.environ.get("HUB_SCHEMAS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "schemas"


def default_mappings_dir() -> Path:
    env = os.environ.get("HUB_MAPPINGS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "mappings"


class Catalog:
    """Directories by name (D95B, SERVICE3...) and guides by association code."""

    def __init__(self, root: Path | None = None, mappings_root: Path | None = None) -> None:
        self.root = root or default_schemas_dir()
        self.mappings_root = mappings_root or default_mappings_dir()
        self._mappings: MappingRegistry | None = None
        self._dirs: dict[tuple[str, str], Directory | None] = {}
        self._guides: dict[str, Guide] | None = None
        self._lock = threading.Lock()
        self.guide_problems: list[str] = []

    def directory(self, name: str, syntax_version: str | None = None) -> Directory | None:
        """A message directory merged with the service segments (UNH, UNT, UNS...) of the syntax
        version, or a service directory itself (SERVICE3, SERVICE4); None if not shipped."""
        if not re.fullmatch(r"D[0-9]{2}[A-Z]|SERVICE[34]", name):
            return None  # not a directory name: never a file name, never cached
        service = "SERVICE4" if syntax_version == "4" else "SERVICE3"
        key = (name, "" if name.startswith("SERVICE") else service)
        with self._lock:
            if key not in self._dirs:
                d = self._read(name)
                if d is not None and key[1]:
                    svc = self._read(service)
                    d = d.merged_with(svc) if svc is not None else d
                self._dirs[key] = d
            return self._dirs[key]

    def _read(self, name: str) -> Directory | None:
        path = self.root / "edifact" / f"{name}.json.gz"
        if not path.is_file():
            return None
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return Directory.from_data(json.load(f))

    def guides(self) -> dict[str, Guide]:
        with self._lock:
            if self._guides is None:
                self._guides = {}
                for path in sorted((self.root / "guides").glob("*.yaml")):
                    try:
                        g = Guide.from_data(yaml.safe_load(path.read_text(encoding="utf-8")))
                    except (GuideError, yaml.YAMLError, AttributeError) as e:
                        self.guide_problems.append(f"{path.name}: {e}")
                        continue
                    for code in g.association_codes:
                        self._guides[code] = g
            return self._guides

    def guide(self, assoc: str | None, message: str | None, directory: str) -> Guide | None:
        if not assoc:
            return None
        g = self.guides().get(assoc)
        if g is None or g.message != message or g.directory != directory:
            return None
        return g

    def mappings(self, reload: bool = False) -> MappingRegistry:
        """The mapping specs in service (`mappings/*.yaml`, or `HUB_MAPPINGS`). On reload, a spec
        that no longer compiles keeps its last working version; its problems are in `.problems`."""
        with self._lock:
            if self._mappings is not None and not reload:
                return self._mappings
        raw: dict[str, object] = {}
        for path in sorted(self.mappings_root.glob("*.yaml")):
            try:
                raw[path.name] = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as e:
                raw[path.name] = f"cannot read: {e}"
        base = self._mappings or MappingRegistry()
        registry = base.update(raw, lambda name: self.directory(name))
        with self._lock:
            self._mappings = registry
        return registry

    def use_mappings(self, registry: MappingRegistry) -> None:
        """Serve these specs rather than reading `mappings_root` (a helper process gets its parent's)."""
        with self._lock:
            self._mappings = registry

    def available_directories(self) -> list[str]:
        return sorted(p.name.removesuffix(".json.gz") for p in (self.root / "edifact").glob("*.json.gz"))


_default: Catalog | None = None


def default_catalog() -> Catalog:
    global _default
    if _default is None:
        _default = Catalog()
    return _default
