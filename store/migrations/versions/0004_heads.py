"""Heads: a decision keeps every head beyond the primary one, a correction names its head.

Existing decisions were made by single-head models (``heads`` stays NULL, read as none) and
every existing correction labels the primary head, so ``head`` is filled with ``label``.
Downgrading drops the child heads' corrections: the old schema cannot tell them from the
primary head's, and keeping them would train and count a child label as a team.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Plain ALTER TABLE on decisions: a batch rebuild would drop the table corrections' foreign
    # key points at, which SQLite refuses with foreign keys on (SQLite >= 3.35 drops a column).
    op.add_column("decisions", sa.Column("heads", JSON, nullable=True))
    with op.batch_alter_table("corrections") as batch:
        batch.add_column(
            sa.Column("head", sa.String(length=64), server_default="label", nullable=False)
        )


def downgrade() -> None:
    op.execute("DELETE FROM corrections WHERE head <> 'label'")
    with op.batch_alter_table("corrections") as batch:
        batch.drop_column("head")
    op.drop_column("decisions", "heads")
