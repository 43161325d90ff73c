"""hub.routing: which partners receive what the hub processed, in which form.

Rules live in partners.yaml (each partner's `receives:` list); this package evaluates them against a
processed message and the dossiers it touched, and returns the deliveries to put in the outbox.
"""

# The dossier fields a rule's `when:` may test (partners.yaml). The value `$self` stands for the
# receiving partner's own identifiers (e.g. "the forwarder of that B/L").
ROUTE_FIELDS = frozenset({
    "call.port",  # UN/LOCODE of the port of the vessel call
    "call.next_port",
    "call.previous_port",
    "call.vessel_imo",
    "consignment.port_of_loading",
    "consignment.port_of_discharge",
    "consignment.party",  # any party of the consignment (forwarder, consignee, notify...)
    "consignment.forwarder",
    "consignment.status",
    "message.function",  # BGM 1225 as a word: original, replace, change, cancellation
    "message.type",  # the message type (EDIFACT UNH 0065, or the XML document's mapped type)
    "message.sender",  # the sending partner's id or UNB sender
    "message.recipient",  # UNB recipient; `$self` routes a message to the partner it is addressed to
})

# What a rule may deliver: the message as received, the touched dossiers as canonical JSON, or a
# message the hub writes from those dossiers (hub.edifact.status): an IFTSTA status report of the
# consignments, a CUSRES release notice of those with a customs release.
OUTPUT_FORMATS = frozenset({"original", "json", "iftsta", "cusres"})

# The deliveries that carry an EDIFACT interchange of their own (its UNB 0020 as the delivery's
# control_ref), for which the receiver's CONTRL can be expected.
INTERCHANGE_KINDS = frozenset({"original", "iftsta", "cusres"})

__all__ = ["INTERCHANGE_KINDS", "OUTPUT_FORMATS", "ROUTE_FIELDS"]
