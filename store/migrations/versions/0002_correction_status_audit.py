"""Corrections get a status (active or quarantined) and an audit log of who changed it.

Existing corrections become ``active``: they were all being trained on, and this revision does
not decide which of them were bad; a person quarantines those with ``triage corrections``.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Batch mode: SQLite cannot add a CHECK constraint in place, so the table is rebuilt.
    with op.batch_alter_table("corrections") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=16), server_default="active", nullable=False)
        )
        batch.create_check_constraint(
            "ck_corrections_status", "status IN ('active', 'quarantined')"
        )
        batch.create_index("ix_corrections_status", ["status"])

    op.create_table(
        "correction_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("acted_at", TS, nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("correction_ids", JSON, nullable=False),
        sa.Column("training_run", sa.Integer(), nullable=True),
        sa.Column("details", JSON, nullable=True),
        sa.CheckConstraint(
            "action IN ('quarantine', 'release', 'delete')", name="ck_correction_audit_action"
        ),
        sa.ForeignKeyConstraint(
            ["training_run"],
            ["training_runs.id"],
            name="fk_correction_audit_training_run_training_runs",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_correction_audit"),
    )
    op.create_index("ix_correction_audit_acted_at", "correction_audit", ["acted_at"])


def downgrade() -> None:
    op.drop_table("correction_audit")
    with op.batch_alter_table("corrections") as batch:
        batch.drop_index("ix_corrections_status")
        batch.drop_constraint("ck_corrections_status", type_="check")
        batch.drop_column("status")
