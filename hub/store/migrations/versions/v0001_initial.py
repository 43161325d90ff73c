"""Initial store.

Tables: messages (the journal) and message_bodies, reports, dossiers, correlation_keys, events,
discrepancies.

Revision ID: 0001
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.store.types import UTCDateTime, json_type

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("partner", sa.String(), nullable=True),
        sa.Column("filename", sa.String(), nullable=True),
        sa.Column("duplicate_of", sa.String(32), nullable=True),
        sa.Column("syntax", sa.String(16), nullable=True),
        sa.Column("sender", sa.String(), nullable=True),
        sa.Column("recipient", sa.String(), nullable=True),
        sa.Column("control_ref", sa.String(), nullable=True),
        sa.Column("message_type", sa.String(), nullable=True),
        sa.Column("message_types", json_type(), nullable=True),
        sa.Column("message_refs", json_type(), nullable=True),
        sa.Column("meta", json_type(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("status_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(["duplicate_of"], ["messages.id"], name="fk_messages_duplicate_of_messages"),
    )
    op.create_index("ix_messages_sha256", "messages", ["sha256"])
    op.create_index("ix_messages_status_received_at", "messages", ["status", "received_at"])
    op.create_index("ix_messages_received_at", "messages", ["received_at"])
    op.create_index("ix_messages_partner_received_at", "messages", ["partner", "received_at"])
    op.create_index("ix_messages_sender_control_ref", "messages", ["sender", "control_ref"])

    op.create_table(
        "message_bodies",
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_message_bodies"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"],
                                name="fk_message_bodies_message_id_messages"),
    )

    op.create_table(
        "reports",
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("report", json_type(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_reports"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name="fk_reports_message_id_messages"),
    )

    op.create_table(
        "dossiers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("document", json_type(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dossiers"),
    )
    op.create_index("ix_dossiers_kind_status", "dossiers", ["kind", "status"])
    op.create_index("ix_dossiers_updated_at", "dossiers", ["updated_at"])

    op.create_table(
        "correlation_keys",
        sa.Column("id", _BIG_PK, autoincrement=True, nullable=False),
        sa.Column("key_type", sa.String(32), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("raw", sa.String(), nullable=True),
        sa.Column("scope", sa.String(), server_default="", nullable=False),
        sa.Column("dossier_id", sa.String(64), nullable=False),
        sa.Column("dossier_kind", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_correlation_keys"),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"],
                                name="fk_correlation_keys_dossier_id_dossiers"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"],
                                name="fk_correlation_keys_message_id_messages"),
        sa.UniqueConstraint("key_type", "value", "scope", "dossier_id", name="uq_correlation_keys_identity"),
    )
    op.create_index("ix_correlation_keys_dossier_id", "correlation_keys", ["dossier_id"])

    op.create_table(
        "events",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("dossier_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("event_time", UTCDateTime(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("detail", json_type(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"], name="fk_events_dossier_id_dossiers"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name="fk_events_message_id_messages"),
    )
    op.create_index("ix_events_dossier_id_event_time", "events", ["dossier_id", "event_time"])
    op.create_index("ix_events_message_id", "events", ["message_id"])

    op.create_table(
        "discrepancies",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("dossier_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", json_type(), nullable=True),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_discrepancies"),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossiers.id"], name="fk_discrepancies_dossier_id_dossiers"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name="fk_discrepancies_message_id_messages"),
        sa.UniqueConstraint("dossier_id", "type", "key", name="uq_discrepancies_identity"),
    )
    op.create_index("ix_discrepancies_status_created_at", "discrepancies", ["status", "created_at"])


def downgrade() -> None:
    for table in ("discrepancies", "events", "correlation_keys", "dossiers", "reports", "message_bodies",
                  "messages"):
        op.drop_table(table)  # their indexes go with them
