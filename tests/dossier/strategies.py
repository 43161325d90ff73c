"""Hypothesis strategies for every model class, derived from the same annotations as the codec."""

from __future__ import annotations

import enum
import typing
from typing import Any

from hypothesis import strategies as st

from hub.dossier.lifecycle import CONSIGNMENT_MACHINES
from hub.dossier.model import ConsignmentDossier
from hub.dossier.record import Record, record_fields, union_args

text = st.text(max_size=10)
floats = st.floats(allow_nan=False, allow_infinity=False)


def for_type(tp: Any) -> st.SearchStrategy[Any]:
    if tp is str:
        return text
    if tp is int:
        return st.integers(min_value=-(2**53), max_value=2**53)
    if tp is float:
        return floats
    if tp is bool:
        return st.booleans()
    if tp is type(None):
        return st.none()
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if isinstance(tp, type) and issubclass(tp, Record):
        return st.deferred(lambda: records(tp))
    members = union_args(tp)
    if members is not None:
        return st.one_of([for_type(m) for m in members])
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return st.lists(for_type(args[0]), max_size=2)
    if origin is dict:
        return st.dictionaries(text, for_type(args[1]), max_size=2)
    raise TypeError(tp)


@st.composite
def _consignment(draw: st.DrawFn) -> ConsignmentDossier:
    fields = {f.name: for_type(f.type) for f in record_fields(ConsignmentDossier)
              if f.name not in ("status", "direction")}
    base = draw(st.builds(ConsignmentDossier, **fields))
    direction = draw(st.none() | st.sampled_from(list(CONSIGNMENT_MACHINES)))
    base.direction = direction
    if direction is not None:
        base.status = draw(st.none() | st.sampled_from(CONSIGNMENT_MACHINES[direction].order))
    return base


_CACHE: dict[type, st.SearchStrategy[Any]] = {}


def records(cls: type[Record]) -> st.SearchStrategy[Any]:
    if cls not in _CACHE:
        if cls is ConsignmentDossier:
            _CACHE[cls] = _consignment()
        else:
            _CACHE[cls] = st.builds(cls, **{f.name: for_type(f.type) for f in record_fields(cls)})
    return _CACHE[cls]
