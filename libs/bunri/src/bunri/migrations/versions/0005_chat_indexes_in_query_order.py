"""chat indexes in the order the queries read

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 18:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_chat_messages_conversation_id_id", "chat_messages", ["conversation_id", "id"]
    )
    op.drop_index("ix_chat_messages_conversation_id", table_name="chat_messages")
    op.create_index("ix_conversations_user_id_id", "conversations", ["user_id", "id"])
    op.drop_index("ix_conversations_user_id_updated_at", table_name="conversations")


def downgrade() -> None:
    op.create_index(
        "ix_conversations_user_id_updated_at", "conversations", ["user_id", "updated_at"]
    )
    op.drop_index("ix_conversations_user_id_id", table_name="conversations")
    op.create_index("ix_chat_messages_conversation_id", "chat_messages", ["conversation_id"])
    op.drop_index("ix_chat_messages_conversation_id_id", table_name="chat_messages")
