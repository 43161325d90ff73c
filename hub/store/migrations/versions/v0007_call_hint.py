"""The vessel call a message's bytes name, read at intake (`messages.call_hint`).

Several hub processes on one PostgreSQL store lease only the messages of the calls they own or that
nobody owns (hub.affinity, hub.store.work.claim_messages), instead of validating and mapping a message
only to find that another process owns its call. Messages journalled before the upgrade have no hint
and are shared out as before, after mapping. A nullable column is added in place on both backends
(no table rewrite).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("call_hint", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("call_hint")
