"""The canonical dossier model: vessel calls, consignments and equipment, their keys, lifecycles and
provenance (see docs/dossier.md). Pure Python, no I/O.

- `hub.dossier.model`: the dataclasses (VesselCall, ConsignmentDossier, Equipment, ...), each with exact
  `to_dict()` / `from_dict()`;
- `hub.dossier.keys`: ISO 6346 container numbers, IMO numbers, UN/LOCODEs, B/L and voyage normalisation,
  EDIFACT dates (`Stamp`);
- `hub.dossier.lifecycle`: lifecycle states and the order-independent transition rule;
- `hub.dossier.schema`: the JSON Schema of dossier documents.
"""
