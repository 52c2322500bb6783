"""Alembic migrations of the store (run programmatically by :func:`vigia.store.db.upgrade`)."""
