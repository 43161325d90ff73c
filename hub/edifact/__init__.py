"""The EDIFACT engine: tokenize, validate against the UN directories and implementation guides,
acknowledge.

    >>> from hub.edifact import validate
    >>> report = validate(open("bayplan.edi", "rb").read())
    >>> report.accepted, report.to_dict()

`validate` uses the directories and guides shipped under `schemas/`; pass `catalog=` for others.
"""

from __future__ import annotations

from hub.edifact.tokenizer import Segment, segments
from hub.edifact.validator import CatalogLike, Options
from hub.report import Report


def validate(data: bytes, catalog: CatalogLike | None = None, options: Options | None = None) -> Report:
    """The validation report of one input: every issue, at every level, never an exception."""
    from hub.edifact import validator

    if catalog is None:
        from hub.catalog import default_catalog

        catalog = default_catalog()
    return validator.validate(data, catalog, options)


__all__ = ["validate", "segments", "Segment", "Options", "Report"]
