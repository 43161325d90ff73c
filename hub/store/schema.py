"""The store's tables, as SQLAlchemy Core metadata.

This module is the reference the migrations are checked against (a test runs Alembic's autogenerate
comparison after `upgrade head` and expects no difference). Change it together with a new revision in
`migrations/versions/`.

Choices worth knowing:

* The raw bytes of a message live in `message_bodies`, not in `messages`. SQLite rewrites a whole row,
  overflow pages included, on every UPDATE, so a status change on a 10 MB bayplan would rewrite 10 MB;
  with the body apart, `messages` rows stay a few hundred bytes, pipeline updates stay cheap on both
  backends, and the bodies are written once and never updated (the audit wants them immutable).
* Nothing in `messages` is unique but the id: a retransmission is journaled like any message and
  flagged with `duplicate_of` (the first message with the same SHA-256).
* Vocabularies that will grow (channels, pipeline statuses, dossier statuses) are checked in Python, not
  by CHECK constraints: changing a constraint on SQLite means rebuilding the table, and `messages` is the
  biggest table there is.
* Timestamps are `UTCDateTime` and documents `json_type()` (JSONB on PostgreSQL), see `types.py`.
* Indexes are named for the queries they serve. The unique constraint of `correlation_keys` starts with
  (key_type, value), so it is also the index for look-ups by key; a second index would only slow writes.
* Foreign keys have no ON DELETE action: deleting a dossier is explicit (`Transaction.delete_dossier`
  deletes its keys, events and discrepancies first), so a stray DELETE fails instead of cascading.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from hub.store.types import UTCDateTime, json_type

__all__ = [
    "call_owners",
    "correlation_keys",
    "discrepancies",
    "deliveries",
    "dossier_fragments",
    "dossier_parts",
    "dossiers",
    "events",
    "expected_acks",
    "message_bodies",
    "messages",
    "metadata",
    "reports",
]

# Constraint names must be deterministic for Alembic (and for SQLite batch migrations, which rebuild
# tables and recreate constraints by name).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = String(32)  # ULIDs (26 characters) made by hub.store.ids
EXTERNAL_ID = String(64)  # ids chosen by callers: dossier UUIDs, deterministic event ids

# An autoincrementing 64-bit key: BIGSERIAL on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the
# rowid alias that autoincrements (and it is 64-bit there anyway).
_BIG_PK = BigInteger().with_variant(Integer(), "sqlite")

messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger(), nullable=False),
    Column("channel", String(16), nullable=False),  # sftp, amqp, http, folder, cli
    Column("partner", String(), nullable=True),
    Column("filename", String(), nullable=True),
    Column("duplicate_of", ID, ForeignKey("messages.id"), nullable=True),
    # What detection found in the envelope; filled at intake when known, else by set_meta later.
    Column("syntax", String(16), nullable=True),  # edifact, xml
    Column("sender", String(), nullable=True),  # UNB 0004 / XML sender
    Column("recipient", String(), nullable=True),  # UNB 0010
    Column("control_ref", String(), nullable=True),  # UNB 0020
    Column("message_type", String(), nullable=True),  # the first message's type, e.g. BAPLIE
    Column("message_types", json_type(), nullable=True),  # all distinct types, in order
    Column("message_refs", json_type(), nullable=True),  # UNH 0062 of each message
    Column("meta", json_type(), nullable=True),  # anything else the channel knows (AMQP headers, ...)
    # Pipeline stage: received -> validated -> mapped -> correlated, or failed (with the error).
    Column("status", String(16), nullable=False),
    Column("error", Text(), nullable=True),
    Column("status_at", UTCDateTime(), nullable=False),
    # A pipeline worker's lease on the message (see work.py): taken before processing, so two hub
    # processes never process it at once, and expiring, so a crashed worker's message is taken over.
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", UTCDateTime(), nullable=True),
    # The vessel call the bytes name, read at intake (hub.affinity.call_hint, e.g. "voyage|0712N"): with
    # several processes on PostgreSQL a worker leases only the messages of calls it owns or nobody does.
    Column("call_hint", String(), nullable=True),
    Index("ix_messages_sha256", "sha256"),
    Index("ix_messages_status_received_at", "status", "received_at"),  # work queues, oldest first
    Index("ix_messages_received_at", "received_at"),  # tracking pages, retention
    Index("ix_messages_partner_received_at", "partner", "received_at"),  # a partner's traffic
    Index("ix_messages_sender_control_ref", "sender", "control_ref"),  # CONTRL reconciliation
)

message_bodies = Table(
    "message_bodies",
    metadata,
    Column("message_id", ID, ForeignKey("messages.id"), primary_key=True),
    Column("raw", LargeBinary(), nullable=False),
)

reports = Table(
    "reports",
    metadata,
    # One current report per message: re-running validation replaces it (stages are idempotent).
    Column("message_id", ID, ForeignKey("messages.id"), primary_key=True),
    Column("accepted", Boolean(), nullable=False),
    Column("report", json_type(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

dossiers = Table(
    "dossiers",
    metadata,
    Column("id", EXTERNAL_ID, primary_key=True),
    Column("kind", String(32), nullable=False),  # vessel_call, consignment
    Column("status", String(64), nullable=False),
    Column("document", json_type(), nullable=False),
    Column("version", Integer(), nullable=False),  # optimistic concurrency, starts at 1
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_dossiers_kind_status", "kind", "status"),
    Index("ix_dossiers_updated_at", "updated_at"),
)

# What each message said about a dossier (correlation folds them into the document): one row a message,
# written once, so that a vessel call's hundredth message does not rewrite the ninety-nine before it.
dossier_fragments = Table(
    "dossier_fragments",
    metadata,
    Column("id", _BIG_PK, primary_key=True, autoincrement=True),  # the order they were attached in
    Column("dossier_id", EXTERNAL_ID, ForeignKey("dossiers.id"), nullable=False),
    Column("source_id", EXTERNAL_ID, nullable=False),  # the message's content id (SourceMessage.message_id)
    Column("fragment", json_type(), nullable=False),
    UniqueConstraint("dossier_id", "source_id", name="uq_dossier_fragments_source"),
)

# The long lists of a dossier's document whose items never change once made (a vessel call's bayplan
# versions with their stowage, its events), one row an item: the document keeps a placeholder
# {"$part": "<list>/<item id>"} in the item's place (hub.store.store.split_parts), so that a busy call's
# row stays small and a message writes only its own items instead of the whole call again.
dossier_parts = Table(
    "dossier_parts",
    metadata,
    Column("dossier_id", EXTERNAL_ID, ForeignKey("dossiers.id"), primary_key=True),
    Column("part", String(), primary_key=True),  # "<list>/<item id>", e.g. "events/ev-..."
    Column("item", json_type(), nullable=False),
)

correlation_keys = Table(
    "correlation_keys",
    metadata,
    Column("id", _BIG_PK, primary_key=True, autoincrement=True),
    Column("key_type", String(32), nullable=False),  # hub.dossier.keys.KeyType: bl, container, imo, ...
    Column("value", String(), nullable=False),  # normalised (hub.dossier's rules)
    Column("raw", String(), nullable=True),  # as received
    # '' when the key is global. Not NULL, because NULLs are distinct in a unique constraint and the
    # same key could then be recorded twice.
    Column("scope", String(), nullable=False, server_default=""),
    Column("dossier_id", EXTERNAL_ID, ForeignKey("dossiers.id"), nullable=False),
    Column("dossier_kind", String(32), nullable=False),
    Column("message_id", ID, ForeignKey("messages.id"), nullable=True),  # first seen in
    Column("created_at", UTCDateTime(), nullable=False),
    # value first: every look-up gives it, and no plan can then scan all the keys of a type (migration 0006)
    UniqueConstraint("value", "key_type", "scope", "dossier_id", name="uq_correlation_keys_identity"),
    Index("ix_correlation_keys_dossier_id", "dossier_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", EXTERNAL_ID, primary_key=True),
    Column("dossier_id", EXTERNAL_ID, ForeignKey("dossiers.id"), nullable=False),
    Column("type", String(64), nullable=False),
    Column("event_time", UTCDateTime(), nullable=True),  # when it happened, if the message says
    Column("recorded_at", UTCDateTime(), nullable=False),  # when the hub learnt it
    Column("message_id", ID, ForeignKey("messages.id"), nullable=True),
    Column("detail", json_type(), nullable=True),
    Index("ix_events_dossier_id_event_time", "dossier_id", "event_time"),
    Index("ix_events_message_id", "message_id"),  # what did this message do
)

discrepancies = Table(
    "discrepancies",
    metadata,
    Column("id", ID, primary_key=True),
    Column("dossier_id", EXTERNAL_ID, ForeignKey("dossiers.id"), nullable=False),
    Column("type", String(64), nullable=False),
    Column("key", String(), nullable=False),  # stable identity within (dossier, type), e.g. a container
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # open, accepted, resolved
    Column("detail", json_type(), nullable=True),
    Column("message_id", ID, ForeignKey("messages.id"), nullable=True),  # last seen in
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("dossier_id", "type", "key", name="uq_discrepancies_identity"),
    Index("ix_discrepancies_status_created_at", "status", "created_at"),  # the review queue
)

# --- the outbox and the acknowledgements the hub waits for (work.py) ------------------------------------

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    # What made it: the journalled message it answers or routes (null for hub-generated traffic).
    Column("message_id", ID, ForeignKey("messages.id"), nullable=True),
    # Identity of the delivery within its message, e.g. "contrl", "aperak", "route:3:original", so that
    # routing a message twice (after a crash) inserts nothing new.
    Column("purpose", String(64), nullable=False),
    Column("partner", String(), nullable=False),  # the receiving partner's id
    Column("channel", String(16), nullable=False),  # sftp (the partner's box), sftp-push, amqp, folder
    Column("target", json_type(), nullable=False),  # where on that channel: box folder, routing key, ...
    Column("kind", String(32), nullable=False),  # original, json, contrl, aperak, xml-ack, iftsta, ...
    Column("filename", String(), nullable=False),
    Column("content_type", String(64), nullable=True),
    Column("payload", LargeBinary(), nullable=False),
    Column("control_ref", String(), nullable=True),  # UNB 0020 of an EDIFACT payload: ack matching
    Column("status", String(16), nullable=False),  # pending, delivered, dead
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", UTCDateTime(), nullable=True),
    UniqueConstraint("message_id", "purpose", "partner", name="uq_deliveries_identity"),
    Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),  # the delivery queue
    Index("ix_deliveries_partner_created_at", "partner", "created_at"),
)

expected_acks = Table(
    "expected_acks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("delivery_id", ID, ForeignKey("deliveries.id"), nullable=False),
    Column("partner", String(), nullable=False),
    Column("control_ref", String(), nullable=False),  # UNB 0020 of the interchange the hub sent
    Column("message_refs", json_type(), nullable=True),  # UNH 0062 of its messages
    Column("deadline", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # waiting, accepted, rejected, overdue
    Column("ack_message_id", ID, ForeignKey("messages.id"), nullable=True),  # the CONTRL that answered
    Column("detail", json_type(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("partner", "control_ref", name="uq_expected_acks_partner"),
    Index("ix_expected_acks_status_deadline", "status", "deadline"),
)

# Which pipeline worker works on which vessel call, when several hub processes share a PostgreSQL store
# (hub.pipeline: a worker that leases a message of a call another worker owns hands it over, instead of
# waiting on that call's row locks and reading back what the other wrote). An owner keeps a call while
# it goes on writing it; a row whose `until` has passed is free for anyone.
call_owners = Table(
    "call_owners",
    metadata,
    Column("call_key", String(), primary_key=True),  # hub.pipeline's lock order key, e.g. "port_voyage|MAPTM|123E"
    Column("worker", String(64), nullable=False),  # hub.pipeline.pipeline_worker_name()
    Column("until", UTCDateTime(), nullable=False),
)
