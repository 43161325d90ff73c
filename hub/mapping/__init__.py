"""Declarative mappings from EDIFACT and XML messages into the mapped-message vocabulary
(`hub.mapping.targets`), from which correlation builds dossiers. Specs live in `mappings/*.yaml`."""

from hub.mapping.evaluate import EdifactSource, Mapped, XmlSource, evaluate, message_tree
from hub.mapping.spec import MappingError, MappingSpec, compile_spec

__all__ = ["EdifactSource", "Mapped", "MappingError", "MappingSpec", "XmlSource", "compile_spec", "evaluate",
           "message_tree"]
