"""Alembic revisions, one file each; Alembic finds them by path (this file is skipped)."""
