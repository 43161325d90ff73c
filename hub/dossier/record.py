"""Records: the dataclasses of the dossier model, turned into JSON-ready dicts and back, exactly.

Every model class derives from `Record`. `to_dict()` gives a dict that `json.dumps` accepts (strings,
numbers, booleans, None, lists, dicts with string keys); `from_dict()` rebuilds an equal object and
refuses anything that does not fit the class: a wrong type, an unknown key, a value outside an enum,
a float that is not finite. Field types are read from the annotations once per class and compiled into
decoders, so the same annotations also drive the JSON Schema (`hub.dossier.schema`).

Supported field types: str, int, float, bool, None, Enum subclasses, Record subclasses, list[X],
dict[str, X] and unions of those (`X | None`, `E1 | E2` of enums). A float field accepts a JSON
integer. A field with a default may be missing from the dict; it then takes its default.

A document root (a dossier) names its kind in the class variable `document_kind`; `to_dict()` then
starts with `"kind": <document_kind>` and `from_dict()` checks it when present.

No I/O here.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

Decoder = Callable[[Any, str], Any]


class DossierFormatError(ValueError):
    """A dict does not describe a record of the expected class. The message names the offending path."""


@dataclasses.dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field of a record class, as the codec and the schema generator see it."""

    name: str
    type: Any
    required: bool
    decode: Decoder
    default: Callable[[], Any] | None


class Record:
    """Base of every model class: exact `to_dict()` / `from_dict()` round trips."""

    __slots__ = ()
    document_kind: ClassVar[str | None] = None

    def to_dict(self) -> dict[str, Any]:
        cls = type(self)
        enc = _ENCODERS.get(cls)
        if enc is None:
            enc = _encoder_of(cls)
        return enc(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls._decode(data, cls.__name__)

    @classmethod
    def _decode(cls, data: Any, path: str) -> Self:
        if not isinstance(data, Mapping):
            raise DossierFormatError(f"{path}: expected an object, got {type(data).__name__}")
        fields = record_fields(cls)
        names = {f.name for f in fields}
        kind = cls.document_kind
        extra = [k for k in data if k not in names and not (kind is not None and k == "kind")]
        if extra:
            raise DossierFormatError(f"{path}: unknown field(s) {', '.join(sorted(map(str, extra)))}")
        if kind is not None and "kind" in data and data["kind"] != kind:
            raise DossierFormatError(f"{path}: kind is {data['kind']!r}, expected {kind!r}")
        values: dict[str, Any] = {}
        for f in fields:
            if f.name in data:
                values[f.name] = f.decode(data[f.name], f"{path}.{f.name}")
            elif f.default is not None:
                values[f.name] = f.default()
            else:
                raise DossierFormatError(f"{path}: missing field {f.name}")
        cls._post_decode(values, path)
        return cls(**values)

    @classmethod
    def _post_decode(cls, values: dict[str, Any], path: str) -> None:
        """Hook for a class whose field values depend on each other (e.g. a status whose enum depends on
        the direction). Called with the decoded values before the object is built."""


_PLAIN = frozenset({str, int, float, bool, type(None)})
_ENCODERS: dict[type, Callable[[Any], dict[str, Any]]] = {}


def _make_encoder(cls: type) -> Callable[[Any], dict[str, Any]]:
    """`to_dict` for one class, as one generated function: a dict display whose plain values (str,
    numbers, booleans, None) are taken as they are and the rest go through `encode`. Large dossiers
    (a bayplan of 24,000 stowage records) are encoded on every save, so this is worth the codegen.

    Fields declared as a record, a list of records or a dict of lists of records call that class's
    encoder directly when the value has exactly the declared class, instead of going through `encode`'s
    chain of checks for every item; any other value still goes through `encode`, so the result is
    `encode`'s in every case."""
    fields = record_fields(cls)
    lines = ["def to_dict(self):"]
    entries = []
    kind = cls.document_kind  # type: ignore[attr-defined]
    if kind is not None:
        entries.append(f"'kind': {kind!r}")
    namespace: dict[str, Any] = {"plain": _PLAIN, "encode": encode, "list": list, "dict": dict}
    for n, f in enumerate(fields):
        v = f"v{n}"
        lines.append(f"    {v} = self.{f.name}")
        tp = f.type
        members = [m for m in (union_args(tp) or (tp,)) if m is not type(None)]
        item = _record_item(tp)
        if item is not None:  # list[R]
            namespace[f"R{n}"], namespace[f"enc{n}"] = item, _encoder_of(item)
            entries.append(f"{f.name!r}: ([enc{n}(x) if x.__class__ is R{n} else encode(x) for x in {v}] "
                           f"if {v} else []) if {v}.__class__ is list else encode({v})")
        elif typing.get_origin(tp) is list:  # most lists of a record are empty
            entries.append(f"{f.name!r}: [] if ({v}.__class__ is list and not {v}) else encode({v})")
        elif typing.get_origin(tp) is dict and (item := _record_item(typing.get_args(tp)[1])) is not None:
            namespace[f"R{n}"], namespace[f"enc{n}"] = item, _encoder_of(item)  # dict[str, list[R]]
            # (most lists hold one record, e.g. a bayplan's cells: without a comprehension of their own)
            entries.append(f"{f.name!r}: {{k: ([enc{n}(xs[0])] if len(xs) == 1 and xs[0].__class__ is R{n} else "
                           f"[enc{n}(x) if x.__class__ is R{n} else encode(x) for x in xs]) "
                           f"if xs.__class__ is list else encode(xs) for k, xs in {v}.items()}} "
                           f"if {v}.__class__ is dict else encode({v})")
        elif len(members) == 1 and isinstance(members[0], type) and issubclass(members[0], Record):
            namespace[f"R{n}"], namespace[f"enc{n}"] = members[0], _encoder_of(members[0])
            entries.append(f"{f.name!r}: enc{n}({v}) if {v}.__class__ is R{n} else "
                           f"({v} if {v}.__class__ in plain else encode({v}))")
        elif (len(members) == 1 and isinstance(members[0], type) and issubclass(members[0], enum.Enum)
              and not issubclass(members[0], str | int)):
            namespace[f"E{n}"] = members[0]
            entries.append(f"{f.name!r}: {v}.value if {v}.__class__ is E{n} else encode({v})")
        else:
            entries.append(f"{f.name!r}: {v} if {v}.__class__ in plain else encode({v})")
    lines.append("    return {" + ", ".join(entries) + "}")
    exec("\n".join(lines), namespace)  # noqa: S102  the source is built from field names only
    fn: Callable[[Any], dict[str, Any]] = namespace["to_dict"]
    return fn


def _record_item(tp: Any) -> type | None:
    """R when `tp` is list[R] for a record class R, else None."""
    if typing.get_origin(tp) is not list:
        return None
    (item,) = typing.get_args(tp)
    return item if isinstance(item, type) and issubclass(item, Record) else None


def _encoder_of(cls: type) -> Callable[[Any], dict[str, Any]]:
    """The generated `to_dict` of a record class; for a class whose encoder is being generated (a class
    that contains itself), a function that looks it up when called."""
    enc = _ENCODERS.get(cls)
    if enc is not None:
        return enc
    if cls in _GENERATING:
        return lambda value: _ENCODERS[cls](value)
    _GENERATING.add(cls)
    try:
        enc = _ENCODERS[cls] = _make_encoder(cls)
    finally:
        _GENERATING.discard(cls)
    return enc


_GENERATING: set[type] = set()


def encode(value: Any) -> Any:
    """A model value as JSON-ready data."""
    if value.__class__ in _PLAIN or value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, list) and value and value[0].__class__ in _PLAIN:
        return [v if v.__class__ in _PLAIN else encode(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    raise TypeError(f"cannot encode {type(value).__name__}")


_FIELDS: dict[type, tuple[FieldInfo, ...]] = {}


def record_fields(cls: type) -> tuple[FieldInfo, ...]:
    """The fields of a record class with their resolved types and compiled decoders (cached)."""
    cached = _FIELDS.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        default: Callable[[], Any] | None = None
        if f.default is not dataclasses.MISSING:
            value = f.default
            default = lambda value=value: value  # noqa: E731
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory
        out.append(FieldInfo(f.name, tp, default is None, decoder(tp), default))
    result = tuple(out)
    _FIELDS[cls] = result
    return result


def union_args(tp: Any) -> tuple[Any, ...] | None:
    """The members of a union type (`X | Y` or `typing.Union`), or None if `tp` is not a union."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    return None


_DECODERS: dict[Any, Decoder] = {}


def decoder(tp: Any) -> Decoder:
    """A function (value, path) -> decoded value for a field type; raises DossierFormatError."""
    found = _DECODERS.get(tp)
    if found is None:
        found = _DECODERS[tp] = _make_decoder(tp)
    return found


def _fail(path: str, expected: str, value: Any) -> DossierFormatError:
    return DossierFormatError(f"{path}: expected {expected}, got {value!r}")


def _decode_str(value: Any, path: str) -> Any:
    if not isinstance(value, str):
        raise _fail(path, "a string", value)
    return value


def _decode_int(value: Any, path: str) -> Any:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(path, "an integer", value)
    return value


def _decode_float(value: Any, path: str) -> Any:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise _fail(path, "a finite number", value)
    return float(value)


def _decode_bool(value: Any, path: str) -> Any:
    if not isinstance(value, bool):
        raise _fail(path, "true or false", value)
    return value


def _decode_none(value: Any, path: str) -> Any:
    if value is not None:
        raise _fail(path, "null", value)
    return None


_SIMPLE: dict[Any, Decoder] = {str: _decode_str, int: _decode_int, float: _decode_float,
                               bool: _decode_bool, type(None): _decode_none}


def _make_decoder(tp: Any) -> Decoder:
    simple = _SIMPLE.get(tp)
    if simple is not None:
        return simple
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_decoder((tp,))
    if isinstance(tp, type) and issubclass(tp, Record):
        record_cls: type[Record] = tp
        return lambda value, path: record_cls._decode(value, path)
    members = union_args(tp)
    if members is not None:
        return _union_decoder(members)
    origin = typing.get_origin(tp)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        item = decoder(item_tp)

        def decode_list(value: Any, path: str) -> Any:
            if not isinstance(value, list):
                raise _fail(path, "a list", value)
            return [item(v, f"{path}[{i}]") for i, v in enumerate(value)]

        return decode_list
    if origin is dict:
        key_tp, value_tp = typing.get_args(tp)
        if key_tp is not str:
            raise TypeError(f"dict keys must be str in {tp}")
        item = decoder(value_tp)

        def decode_dict(value: Any, path: str) -> Any:
            if not isinstance(value, dict):
                raise _fail(path, "an object", value)
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise _fail(path, "string keys", k)
                out[k] = item(v, f"{path}[{k!r}]")
            return out

        return decode_dict
    raise TypeError(f"unsupported field type {tp!r}")


def _enum_decoder(enums: tuple[type[enum.Enum], ...]) -> Decoder:
    """Decode a value into the first of `enums` that has it (a class hook may refine the choice)."""
    lookup: dict[Any, enum.Enum] = {}
    for e in enums:
        for member in e:
            lookup.setdefault(member.value, member)
    names = ", ".join(sorted(repr(v) for v in lookup))

    def decode_enum(value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _fail(path, f"one of {names}", value)
        found = lookup.get(value)
        if found is None:
            raise _fail(path, f"one of {names}", value)
        return found

    return decode_enum


def _union_decoder(members: tuple[Any, ...]) -> Decoder:
    optional = type(None) in members
    rest = tuple(m for m in members if m is not type(None))
    if all(isinstance(m, type) and issubclass(m, enum.Enum) for m in rest):
        inner = _enum_decoder(rest)
    elif len(rest) == 1:
        inner = decoder(rest[0])
    else:
        parts = [decoder(m) for m in rest]

        def inner(value: Any, path: str) -> Any:
            for part in parts:
                try:
                    return part(value, path)
                except DossierFormatError:
                    continue
            raise _fail(path, " or ".join(map(repr, rest)), value)

    if not optional:
        return inner
    return lambda value, path: None if value is None else inner(value, path)
