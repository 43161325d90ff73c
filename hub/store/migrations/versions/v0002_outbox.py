"""The running hub: message leases, the delivery outbox, expected acknowledgements.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.store.types import UTCDateTime, json_type

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("claimed_until", UTCDateTime(), nullable=True))

    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("partner", sa.String(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", json_type(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("control_ref", sa.String(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name="fk_deliveries_message_id_messages"),
        sa.UniqueConstraint("message_id", "purpose", "partner", name="uq_deliveries_identity"),
    )
    op.create_index("ix_deliveries_status_next_attempt_at", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_partner_created_at", "deliveries", ["partner", "created_at"])

    op.create_table(
        "expected_acks",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("delivery_id", sa.String(32), nullable=False),
        sa.Column("partner", sa.String(), nullable=False),
        sa.Column("control_ref", sa.String(), nullable=False),
        sa.Column("message_refs", json_type(), nullable=True),
        sa.Column("deadline", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ack_message_id", sa.String(32), nullable=True),
        sa.Column("detail", json_type(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_expected_acks"),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], name="fk_expected_acks_delivery_id_deliveries"),
        sa.ForeignKeyConstraint(["ack_message_id"], ["messages.id"],
                                name="fk_expected_acks_ack_message_id_messages"),
        sa.UniqueConstraint("partner", "control_ref", name="uq_expected_acks_partner"),
    )
    op.create_index("ix_expected_acks_status_deadline", "expected_acks", ["status", "deadline"])


def downgrade() -> None:
    op.drop_table("expected_acks")
    op.drop_table("deliveries")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
