"""hub.store: the durable store, SQLAlchemy Core on SQLite (embedded default, WAL) or PostgreSQL.

    from hub.store import open_store
    store = open_store()                      # $HUB_DATABASE_URL or sqlite:///var/hub.db, migrated
    entry = store.journal(data, channel="sftp", partner="MAEU", filename="baplie.edi")
    # ... now the transport may be acknowledged
    with store.transaction() as tx:           # one unit of work, all or nothing
        for dossier_id in tx.find_dossier_ids("container", "MSKU1234565"):
            doc, version = tx.load_dossier(dossier_id)
            ...
            tx.update_dossier(dossier_id, status, doc, version)   # ConcurrentUpdate if it moved

Modules: `store` (the API), `schema` (tables), `engine` (URLs, SQLite pragmas, migrating),
`types` (UTC timestamps, JSON/JSONB), `ids` (ULIDs), `migrations/` (Alembic). The store imports
nothing from the rest of the hub; docs/store.md describes the tables, the API and the migrations.
"""

from hub.store.engine import DEFAULT_URL, ENV_VAR, StoreError
from hub.store.ids import new_id
from hub.store.store import (
    CHANNELS,
    DISCREPANCY_STATUSES,
    DOSSIER_KINDS,
    QUERY_KEYS,
    STATUSES,
    ConcurrentUpdate,
    DossierExists,
    JournalEntry,
    KeyNormalizer,
    NotFound,
    Received,
    Store,
    StoredMessage,
    Transaction,
    open_store,
)

__all__ = [
    "CHANNELS",
    "DEFAULT_URL",
    "DISCREPANCY_STATUSES",
    "DOSSIER_KINDS",
    "ENV_VAR",
    "QUERY_KEYS",
    "STATUSES",
    "ConcurrentUpdate",
    "DossierExists",
    "JournalEntry",
    "KeyNormalizer",
    "NotFound",
    "Received",
    "Store",
    "StoreError",
    "StoredMessage",
    "Transaction",
    "new_id",
    "open_store",
]
