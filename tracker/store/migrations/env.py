"""Alembic environment: runs on the connection handed over by tracker.store.db.migrate."""

from alembic import context

from tracker.store.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through tracker.store.db.migrate (or `tracker init`)")
context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
