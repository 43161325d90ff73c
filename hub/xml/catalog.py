"""The XSD catalog: which schema validates which XML document (`schemas/xsd/catalog.yaml`).

A document type is recognised by its root element (namespace and local name) and, where one root
stands for several types (a WCO `MetaData` carries a declaration, a cancellation or a response), by
discriminator conditions on the parsed tree, tried in the catalog's order. The catalog file's own
header documents the format.

Rules:
1. Schemas come from the catalog's folder and nowhere else. When the catalog loads, every
   `xs:import`/`xs:include`/`xs:redefine` reachable from each schema is followed on disk and must stay
   inside the folder; while compiling, a resolver hands libxml2 an empty document for anything else,
   so a schema that points at the network fails to compile instead of fetching.
2. Each schema is compiled once per thread, on first use, and kept. lxml validators keep their error
   log on the validator object, so one compiled schema must not serve two threads at once.
3. A broken catalog is an operator's error: loading raises `CatalogError` with every problem found,
   rather than letting documents fail one by one later.

No network I/O; the only files read are the catalog and its schemas.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml
from lxml import etree

try:
    from hub.mapping._xmlwalk import Walk as _CWalk
except ImportError:  # not built: discriminators and references go to XPath
    _CWalk = None  # type: ignore[assignment, misc]

__all__ = ["CatalogError", "Condition", "DocumentType", "XsdCatalog", "default_catalog", "default_xsd_dir",
           "reload_default_catalog"]

_XS = "http://www.w3.org/2001/XMLSchema"
_SCHEMA_LINKS = (f"{{{_XS}}}import", f"{{{_XS}}}include", f"{{{_XS}}}redefine")


class CatalogError(Exception):
    """The catalog or one of its schemas is unusable; the message lists every problem found."""


def default_xsd_dir() -> Path:
    """`$HUB_SCHEMAS/xsd` when HUB_SCHEMAS is set (as for the EDIFACT catalog), else the checkout's
    `schemas/xsd`."""
    env = os.environ.get("HUB_SCHEMAS")
    base = Path(env) if env else Path(__file__).resolve().parent.parent.parent / "schemas"
    return base / "xsd"


class _Path:
    """An XPath from the root element, evaluated fast when it is a plain child path.

    Discriminators and references are nearly always `prefix:A/prefix:B[2]/prefix:C`. Such a path is
    followed by a C walk of the mapping's (`hub/mapping/_xmlwalk.c`: the first element it selects in
    document order, as XPath's), several times cheaper than calling an XPath object; anything else,
    or any path where that extension is not built, goes to libxml2's XPath."""

    _STEP = re.compile(r"([A-Za-z_][\w.-]*):([A-Za-z_][\w.-]*)(?:\[([1-9][0-9]*)\])?")
    _XML_SPACE = re.compile(r"[ \t\r\n]+")

    def __init__(self, path: str, ns: Mapping[str, str]) -> None:
        self.path = path
        steps: list[tuple[bytes, bytes, int]] = []
        for step in path.split("/"):
            m = self._STEP.fullmatch(step)
            if m is None or m.group(1) not in ns:
                steps = []  # not a plain child path
                break
            steps.append((ns[m.group(1)].encode(), m.group(2).encode(), int(m.group(3) or 0)))
        self._walk = _CWalk(0, tuple(steps), None, None) if steps and _CWalk is not None else None
        self._exists = etree.XPath(f"boolean({path})", namespaces=dict(ns))
        self._string = etree.XPath(f"normalize-space({path})", namespaces=dict(ns))

    def exists(self, root: etree._Element) -> bool:
        if self._walk is not None:
            return self._walk.first(root) is not None
        return bool(self._exists(root))

    def string(self, root: etree._Element) -> str:
        """XPath's normalize-space() of the first node selected ("" when none)."""
        if self._walk is not None:
            node = self._walk.first(root)
            if node is None:
                return ""
            if len(node) == 0:  # a leaf: its text is its string value
                return self._XML_SPACE.sub(" ", node.text or "").strip(" ")
        value = self._string(root)
        return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Condition:
    """One discriminator: `path` selects something (or, with `equals`, its first node's
    whitespace-normalised text equals the value)."""

    path: str
    equals: str | None
    _path: _Path = field(repr=False, compare=False)

    def holds(self, root: etree._Element) -> bool:
        if self.equals is None:
            return self._path.exists(root)
        return self._path.string(root) == self.equals

    def describe(self) -> str:
        return self.path if self.equals is None else f"{self.path} = {self.equals!r}"


@dataclass(frozen=True)
class DocumentType:
    """One kind of document the hub knows."""

    id: str
    title: str
    root: str  # Clark notation: {namespace}LocalName
    xsd: str  # relative to the catalog folder, with forward slashes
    when: tuple[Condition, ...] = ()
    reference_path: str | None = None
    _reference: _Path | None = field(default=None, repr=False, compare=False)

    def matches(self, root: etree._Element) -> bool:
        for condition in self.when:
            if not condition.holds(root):
                return False
        return True

    def reference(self, root: etree._Element) -> str | None:
        if self._reference is None:
            return None
        return self._reference.string(root) or None


class _LocalOnly(etree.Resolver):
    """Lets libxml2 load files inside the catalog folder; answers anything else with an empty
    document, which fails the schema's compilation with the offending location in the message."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self._folder = folder

    # lxml calls resolve() with the context as third argument; its stubs leave it out.
    def resolve(self, system_url: str, public_id: str, context: object) -> Any:  # type: ignore[override]
        path = _local_path(system_url)
        if path is not None and _inside(path, self._folder):
            return None  # libxml2's own loader reads the local file
        return self.resolve_string("", context, base_url=None)


def _local_path(url: str) -> Path | None:
    parsed = urlparse(url)
    if parsed.scheme in ("", "file") and not parsed.netloc:
        return Path(unquote(parsed.path))
    if len(parsed.scheme) == 1:  # a Windows drive letter, not a scheme
        return Path(url)
    return None


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


class XsdCatalog:
    """Document types by root element, and their compiled schemas."""

    def __init__(self, folder: Path, types: Iterable[DocumentType]) -> None:
        self.folder = folder
        self.types: tuple[DocumentType, ...] = tuple(types)
        self._by_root: dict[str, list[DocumentType]] = {}
        for t in self.types:
            self._by_root.setdefault(t.root, []).append(t)
        self._local = threading.local()

    # ----- loading -----

    @classmethod
    def load(cls, folder: Path | None = None) -> XsdCatalog:
        """Read `catalog.yaml` in `folder` (default: `default_xsd_dir()`) and check every schema's
        imports stay local. Schemas compile later, on first use."""
        folder = folder or default_xsd_dir()
        path = folder / "catalog.yaml"
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            raise CatalogError(f"{path}: cannot read the XSD catalog: {e}") from e
        problems: list[str] = []
        types = _read_types(raw, folder, problems)
        for xsd in sorted({t.xsd for t in types}):
            problems.extend(_link_problems(folder, folder / xsd))
        if problems:
            raise CatalogError(f"{path}: " + "; ".join(problems))
        return cls(folder, types)

    # ----- selection -----

    def candidates(self, root: etree._Element) -> list[DocumentType]:
        """The types whose root element is this one, in catalog order (discriminators not applied)."""
        return self._by_root.get(root.tag, []) if isinstance(root.tag, str) else []

    def select(self, root: etree._Element) -> DocumentType | None:
        for t in self.candidates(root):
            if t.matches(root):
                return t
        return None

    def same_local_name(self, root: etree._Element) -> list[str]:
        """Roots the catalog knows with this element's local name but another namespace: the usual
        mistake is a missing or misspelt namespace declaration."""
        local = etree.QName(root).localname
        return sorted(r for r in self._by_root if r != root.tag and etree.QName(r).localname == local)

    # ----- schemas -----

    def schema(self, doc_type: DocumentType) -> etree.XMLSchema:
        """The compiled schema of `doc_type`, compiled for this thread on first use."""
        cache: dict[str, etree.XMLSchema] | None = getattr(self._local, "schemas", None)
        if cache is None:
            cache = self._local.schemas = {}
        compiled = cache.get(doc_type.xsd)
        if compiled is None:
            compiled = cache[doc_type.xsd] = self._compile(doc_type.xsd)
        return compiled

    def compile_all(self) -> None:
        """Compile every schema now (start-up, CI); raises CatalogError listing the failures."""
        problems = []
        for t in self.types:
            try:
                self.schema(t)
            except CatalogError as e:
                problems.append(str(e))
        if problems:
            raise CatalogError("; ".join(problems))

    def _compile(self, xsd: str) -> etree.XMLSchema:
        parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
        parser.resolvers.add(_LocalOnly(self.folder))
        path = self.folder / xsd
        try:
            return etree.XMLSchema(etree.parse(str(path), parser))
        except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as e:
            raise CatalogError(f"{xsd}: the schema does not compile: {e}") from e


def _read_types(raw: object, folder: Path, problems: list[str]) -> list[DocumentType]:
    if not isinstance(raw, Mapping) or raw.get("version") != 1:
        problems.append("expected a mapping with 'version: 1', 'prefixes' and 'documents'")
        return []
    prefixes = raw.get("prefixes") or {}
    if not isinstance(prefixes, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in prefixes.items()):
        problems.append("'prefixes' must map prefixes to namespace URIs")
        prefixes = {}
    ns = {str(k): str(v) for k, v in prefixes.items()}
    entries = raw.get("documents")
    if not isinstance(entries, list) or not entries:
        problems.append("'documents' must be a non-empty list")
        return []
    types: list[DocumentType] = []
    ids: set[str] = set()
    for n, entry in enumerate(entries, 1):
        where = f"document {n}"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: expected a mapping")
            continue
        ident = entry.get("id")
        if not isinstance(ident, str) or not ident:
            problems.append(f"{where}: 'id' is missing")
            continue
        where = f"document {ident!r}"
        if ident in ids:
            problems.append(f"{where}: the id is used twice")
        ids.add(ident)
        unknown = set(entry) - {"id", "title", "root", "when", "xsd", "reference"}
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        root = _clark(entry.get("root"), ns)
        if root is None:
            problems.append(f"{where}: 'root' must be prefix:LocalName with a declared prefix, "
                            "or {namespace}LocalName")
            continue
        xsd = entry.get("xsd")
        if not isinstance(xsd, str) or not (folder / xsd).is_file():
            problems.append(f"{where}: 'xsd' must name a schema file in {folder}")
            continue
        if not _inside(folder / xsd, folder):
            problems.append(f"{where}: the schema {xsd} is outside {folder}")
            continue
        try:
            conditions = tuple(_condition(c, ns) for c in entry.get("when") or [])
            ref_path = entry.get("reference")
            if ref_path is not None and not isinstance(ref_path, str):
                raise ValueError("'reference' must be an XPath")
            reference = None if ref_path is None else _Path(ref_path, ns)
        except (ValueError, TypeError, etree.XPathSyntaxError) as e:
            problems.append(f"{where}: {e}")
            continue
        title = entry.get("title")
        types.append(DocumentType(ident, str(title) if title else ident, root, xsd, conditions,
                                  ref_path, reference))
    return types


def _clark(value: object, ns: Mapping[str, str]) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("{"):
        return value if "}" in value and not value.endswith("}") else None
    prefix, sep, local = value.partition(":")
    if not sep:
        return local  # a root element in no namespace
    uri = ns.get(prefix)
    return f"{{{uri}}}{local}" if uri and local else None


def _condition(raw: object, ns: Mapping[str, str]) -> Condition:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("path"), str):
        raise ValueError("each 'when' condition needs a 'path'")
    if set(raw) - {"path", "equals"}:
        raise ValueError("a 'when' condition has only 'path' and 'equals'")
    path = raw["path"]
    equals = raw.get("equals")
    if equals is not None and (isinstance(equals, bool) or not isinstance(equals, str | int)):
        raise ValueError(f"'equals' of {path!r} must be a string")
    return Condition(path, None if equals is None else str(equals), _Path(path, ns))


def _link_problems(folder: Path, start: Path) -> list[str]:
    """Follow every schemaLocation from `start`; each must be a local file inside `folder`."""
    problems: list[str] = []
    seen: set[Path] = set()
    todo = [start.resolve()]
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        try:
            tree = etree.parse(str(path), parser)
        except (OSError, etree.XMLSyntaxError) as e:
            problems.append(f"{path.relative_to(folder.resolve())}: cannot read: {e}")
            continue
        for link in tree.getroot().iter(*_SCHEMA_LINKS):
            location = link.get("schemaLocation")
            if location is None:
                continue  # an import by namespace only: satisfied elsewhere in the set, or an error
            target = _local_path(location)
            where = f"{path.relative_to(folder.resolve())} line {link.sourceline}"
            if target is None:
                problems.append(f"{where}: schemaLocation {location!r} is not a local file")
                continue
            target = (path.parent / target).resolve()
            if not _inside(target, folder):
                problems.append(f"{where}: schemaLocation {location!r} leaves {folder}")
            elif not target.is_file():
                problems.append(f"{where}: schemaLocation {location!r} does not exist")
            else:
                todo.append(target)
    return problems


_default: XsdCatalog | None = None
_default_lock = threading.Lock()


def default_catalog() -> XsdCatalog:
    """The catalog of `default_xsd_dir()`, loaded on first use."""
    global _default
    catalog = _default
    if catalog is None:
        with _default_lock:
            if _default is None:
                _default = XsdCatalog.load()
            catalog = _default
    return catalog


def reload_default_catalog() -> XsdCatalog:
    """Read the catalog again (after an administrator edited it). Raises CatalogError, keeping the
    previous catalog in use, when the new one is broken."""
    global _default
    catalog = XsdCatalog.load()
    catalog.compile_all()
    with _default_lock:
        _default = catalog
    return catalog
