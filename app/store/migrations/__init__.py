"""Alembic migrations of the store (applied by ``app.store.migrate.upgrade``)."""
