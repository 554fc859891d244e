"""Alembic environment: run against the connection the AM hands over (async engine, run_sync)."""

from __future__ import annotations

from alembic import context

from authmanager.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `authmanager db upgrade`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs go through batch mode
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
