"""Alembic migrations of the hub store (see docs/store.md, "Migrations")."""
