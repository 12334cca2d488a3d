"""Alembic's environment for the state DB: it runs on the open connection `maintbot.state.schema` gives it.

No URL and no alembic.ini: the caller has already connected (async engine, SQLite pragmas, the
PostgreSQL lock) and opened the transaction the migrations run in.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from maintbot.state.models import StateBase

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("the state DB's migrations run through maintbot.state.schema (`maintbot migrate`)")

# Batch mode, so that drafts Alembic writes for SQLite copy the table where SQLite cannot ALTER it.
context.configure(connection=connection, target_metadata=StateBase.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
