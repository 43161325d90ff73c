"""The correlation keys' unique index leads with the value, not the key type.

Every look-up of a key gives its type and value (`key_type = ? AND value IN (...)`). With the type
first, PostgreSQL could, and did, scan every key of the type and filter the values: a generic plan
made before the table's statistics (a fresh database, its first minute) judged both ways alike, and
kept reading all 10,000 container keys for each look-up until the next ANALYZE. With the value first no
plan can use the index without it, and a value names few rows in any case. The columns and the
constraint's meaning (one link per type, value, scope and dossier) do not change. SQLite rebuilds the
table (batch mode); PostgreSQL builds the new index, holding a lock on the table while it does: on a
large store, plan the upgrade for a quiet hour.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "uq_correlation_keys_identity"


def _identity(columns: list[str]) -> None:
    with op.batch_alter_table("correlation_keys") as batch:
        batch.drop_constraint(NAME, type_="unique")
        batch.create_unique_constraint(NAME, columns)


def upgrade() -> None:
    _identity(["value", "key_type", "scope", "dossier_id"])


def downgrade() -> None:
    _identity(["key_type", "value", "scope", "dossier_id"])
