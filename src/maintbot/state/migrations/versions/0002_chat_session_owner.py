"""chat_sessions.owner: the fingerprint of the API key a conversation belongs to (None without keys).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Earlier conversations keep owner NULL: they were made without keys, or before keys named a caller.
    with op.batch_alter_table("chat_sessions") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=True))
        batch.create_index("ix_chat_sessions_owner", ["owner"])


def downgrade() -> None:
    # On SQLite, batch mode copies the table without the column (foreign keys must be off meanwhile).
    with op.batch_alter_table("chat_sessions") as batch:
        batch.drop_index("ix_chat_sessions_owner")
        batch.drop_column("owner")
