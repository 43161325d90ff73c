"""The set of mapping specs in service, and the rule that a broken spec never replaces a working one.

No I/O: `update` takes parsed specs by file name; the catalog reads the files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.edifact.directory import Directory
from hub.mapping.spec import MappingError, MappingSpec, compile_spec


@dataclass
class MappingRegistry:
    """The specs in service. Not changed once made (`update` makes a new one), so the candidates for
    a kind of message are worked out once."""

    specs: dict[str, MappingSpec] = field(default_factory=dict)  # by file name
    problems: dict[str, list[str]] = field(default_factory=dict)  # file name -> why it was refused
    _candidates: dict[tuple[str | None, ...], tuple[MappingSpec, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def update(self, raw: Mapping[str, Any], directory: Callable[[str], Directory | None],
               xml_names: Callable[[dict[str, Any]], frozenset[str] | None] | None = None) -> MappingRegistry:
        """A new registry from parsed spec files. A file that does not compile keeps the version of it
        this registry had (if any) and has its problems recorded; a file that is gone is dropped."""
        specs: dict[str, MappingSpec] = {}
        problems: dict[str, list[str]] = {}
        for fname, data in sorted(raw.items()):
            if not isinstance(data, dict):
                problems[fname] = ["the file is not a YAML mapping"]
            else:
                dirs = {d: found for d in data.get("directories") or () if (found := directory(str(d)))}
                try:
                    specs[fname] = compile_spec(data, dirs, xml_names(data) if xml_names else None)
                    continue
                except MappingError as e:
                    problems[fname] = e.problems
            if fname in self.specs:
                specs[fname] = self.specs[fname]
        return MappingRegistry(specs, problems)

    def candidates(self, fmt: str, message: str | None, directory: str | None = None, guide: str | None = None,
                   namespace: str | None = None) -> tuple[MappingSpec, ...]:
        """The specs that may map a message, best first: those naming its guide (or, for XML, with a
        `when` condition) before the general ones."""
        key = (fmt, message, directory, guide, namespace)
        hits = self._candidates.get(key)
        if hits is None:
            found = [s for s in self.specs.values() if s.matches(fmt, message, directory, guide, namespace)]
            found.sort(key=lambda s: (not s.guides and s.when is None, s.name))
            hits = tuple(found)
            if len(self._candidates) < 10_000:  # the keys come from received messages: bounded
                self._candidates[key] = hits
        return hits

    def select(self, fmt: str, message: str | None, directory: str | None = None, guide: str | None = None,
               namespace: str | None = None) -> MappingSpec | None:
        """The spec for a message: one naming its guide first, then one for any guide."""
        hits = self.candidates(fmt, message, directory, guide, namespace)
        return hits[0] if hits else None
