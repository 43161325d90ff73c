"""The long, append-only lists of a dossier's document in a table of their own.

A vessel call's document carried every bayplan version it received, with its stowage records, and its
whole event list, and each new message of the call rewrote all of it: at a hundred messages the row was
160 KB, encoded and written again for every message. The items of those lists move to `dossier_parts`,
one row an item, written once; the document keeps a placeholder in each item's place
(hub.store.store.split_parts). Documents written before are read as they are (their lists inline), and
split the next time the hub writes them, so the upgrade only creates the table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from hub.store.types import json_type

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dossier_parts",
        sa.Column("dossier_id", sa.String(64), sa.ForeignKey("dossiers.id"), primary_key=True),
        sa.Column("part", sa.String(), primary_key=True),
        sa.Column("item", json_type(), nullable=False),
    )


def downgrade() -> None:
    if context.is_offline_mode():
        op.drop_table("dossier_parts")
        return
    # Put the items back in their documents' places, then drop the table.
    from hub.store.store import assemble_parts

    bind = op.get_bind()
    dossiers = sa.table("dossiers", sa.column("id", sa.String), sa.column("document", json_type()))
    parts = sa.table("dossier_parts", sa.column("dossier_id", sa.String), sa.column("part", sa.String),
                     sa.column("item", json_type()))
    held = [row[0] for row in bind.execute(sa.select(parts.c.dossier_id).distinct()).all()]
    for dossier_id in held:
        document = bind.execute(sa.select(dossiers.c.document).where(dossiers.c.id == dossier_id)).scalar_one()
        items = dict(bind.execute(sa.select(parts.c.part, parts.c.item)
                                  .where(parts.c.dossier_id == dossier_id)).all())
        bind.execute(dossiers.update().where(dossiers.c.id == dossier_id)
                     .values(document=assemble_parts(document, items)))
    op.drop_table("dossier_parts")
