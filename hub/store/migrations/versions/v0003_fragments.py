"""Dossier fragments in a table of their own.

Until now a dossier's document held, beside the folded dossier, every fragment of every message that
contributed to it, and each new message rewrote them all: a busy vessel call's row grew by the size of
each message and was written again in full every time. The fragments move to `dossier_fragments`, one
row a message, written once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from hub.store.types import json_type

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dossier_fragments",
        sa.Column("id", _BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("dossier_id", sa.String(64), sa.ForeignKey("dossiers.id"), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("fragment", json_type(), nullable=False),
        sa.UniqueConstraint("dossier_id", "source_id", name="uq_dossier_fragments_source"),
    )
    if context.is_offline_mode():
        # A printed script cannot read rows: it creates the table only. Upgrade a database that holds
        # dossiers online (`python -m hub.store upgrade head`, or simply start the hub).
        return
    # Move the fragments of the dossiers already stored, a few hundred rows at a time.
    bind = op.get_bind()
    dossiers = sa.table("dossiers", sa.column("id", sa.String), sa.column("document", json_type()))
    fragments = sa.table("dossier_fragments", sa.column("dossier_id", sa.String), sa.column("source_id", sa.String),
                         sa.column("fragment", json_type()))
    last = ""
    while True:
        rows = bind.execute(sa.select(dossiers.c.id, dossiers.c.document).where(dossiers.c.id > last)
                            .order_by(dossiers.c.id).limit(200)).all()
        if not rows:
            break
        for dossier_id, document in rows:
            if isinstance(document, dict) and "fragments" in document:
                moved = [{"dossier_id": dossier_id, "source_id": source_id, "fragment": fragment}
                         for source_id, fragment in (document.get("fragments") or {}).items()]
                if moved:
                    bind.execute(fragments.insert(), moved)
                rest = {k: v for k, v in document.items() if k != "fragments"}
                bind.execute(dossiers.update().where(dossiers.c.id == dossier_id).values(document=rest))
        last = rows[-1][0]


def downgrade() -> None:
    if context.is_offline_mode():
        op.drop_table("dossier_fragments")
        return
    bind = op.get_bind()
    dossiers = sa.table("dossiers", sa.column("id", sa.String), sa.column("document", json_type()))
    fragments = sa.table("dossier_fragments", sa.column("id", sa.BigInteger), sa.column("dossier_id", sa.String),
                         sa.column("source_id", sa.String), sa.column("fragment", json_type()))
    for (dossier_id, document) in bind.execute(sa.select(dossiers.c.id, dossiers.c.document)).all():
        held = bind.execute(sa.select(fragments.c.source_id, fragments.c.fragment)
                            .where(fragments.c.dossier_id == dossier_id).order_by(fragments.c.id)).all()
        if held:
            document = {**document, "fragments": {source_id: fragment for source_id, fragment in held}}
            bind.execute(dossiers.update().where(dossiers.c.id == dossier_id).values(document=document))
    op.drop_table("dossier_fragments")
