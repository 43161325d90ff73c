"""A small JSON Schema checker for the keywords `hub.dossier.schema` uses (type, enum, const, properties,
required, additionalProperties, items, anyOf, oneOf, allOf, if/then/else, local $ref). The tests use it
always, and `jsonschema` as well when it is installed."""

from __future__ import annotations

from typing import Any

_TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
KNOWN = {"$schema", "$id", "$ref", "$defs", "title", "description", "type", "enum", "const", "properties",
         "required", "additionalProperties", "items", "anyOf", "oneOf", "allOf", "if", "then", "else"}


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def errors(schema: dict[str, Any], value: Any, root: dict[str, Any] | None = None,
           at: str = "$") -> list[str]:
    root = schema if root is None else root
    unknown = set(schema) - KNOWN
    if unknown:
        raise ValueError(f"minischema does not know {sorted(unknown)}")
    out: list[str] = []
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        out += errors(root["$defs"][ref[len("#/$defs/"):]], value, root, at)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            return out + [f"{at}: {value!r} is not of type {types}"]
    if "enum" in schema and not any(_same(value, v) for v in schema["enum"]):
        out.append(f"{at}: {value!r} not in {schema['enum']}")
    if "const" in schema and not _same(value, schema["const"]):
        out.append(f"{at}: {value!r} is not {schema['const']!r}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{at}: missing {name}")
        for k, v in value.items():
            if k in props:
                out += errors(props[k], v, root, f"{at}.{k}")
            elif "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    out.append(f"{at}: unexpected {k}")
                elif isinstance(extra, dict):
                    out += errors(extra, v, root, f"{at}[{k!r}]")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            out += errors(schema["items"], v, root, f"{at}[{i}]")
    if "anyOf" in schema and all(errors(s, value, root, at) for s in schema["anyOf"]):
        out.append(f"{at}: matches none of anyOf")
    if "oneOf" in schema:
        n = sum(1 for s in schema["oneOf"] if not errors(s, value, root, at))
        if n != 1:
            out.append(f"{at}: matches {n} of oneOf")
    for s in schema.get("allOf", []):
        out += errors(s, value, root, at)
    if "if" in schema:
        branch = "then" if not errors(schema["if"], value, root, at) else "else"
        if branch in schema:
            out += errors(schema[branch], value, root, at)
    return out
