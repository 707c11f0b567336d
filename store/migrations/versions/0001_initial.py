"""Initial schema: decisions, corrections, model versions, training runs.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(length=256), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("margin", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=16), nullable=False),
        sa.Column("top_k", JSON, nullable=False),
        sa.Column("novel", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("decided_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=True),
        sa.Column("stored_at", TS, nullable=False),
        sa.CheckConstraint("band IN ('routed', 'shadow', 'manual')", name="ck_decisions_band"),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        sa.UniqueConstraint("ticket_id", name="uq_decisions_ticket_id"),
    )
    op.create_index("ix_decisions_band_margin", "decisions", ["band", "margin"])
    op.create_index("ix_decisions_decided_at", "decisions", ["decided_at"])
    op.create_index("ix_decisions_model_version", "decisions", ["model_version"])

    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("corrections_used", sa.Integer(), nullable=False),
        sa.Column("gold_rows", sa.Integer(), nullable=False),
        sa.Column("candidate_version", sa.String(length=128), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("report", JSON, nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('deployed', 'rejected', 'failed')",
            name="ck_training_runs_outcome",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_training_runs"),
    )

    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("correction_id", sa.String(length=128), nullable=False),
        sa.Column("ticket_id", sa.String(length=256), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("reviewer", sa.String(length=256), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_label", sa.String(length=128), nullable=False),
        sa.Column("decided_band", sa.String(length=16), nullable=False),
        sa.Column("corrected_at", TS, nullable=False),
        sa.Column("stored_at", TS, nullable=False),
        sa.Column("used_in_training_run", sa.Integer(), nullable=True),
        sa.CheckConstraint("action IN ('confirm', 'override')", name="ck_corrections_action"),
        sa.CheckConstraint(
            "decided_band IN ('routed', 'shadow', 'manual')", name="ck_corrections_decided_band"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["decisions.ticket_id"], name="fk_corrections_ticket_id_decisions"
        ),
        sa.ForeignKeyConstraint(
            ["used_in_training_run"],
            ["training_runs.id"],
            name="fk_corrections_used_in_training_run_training_runs",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_corrections"),
        sa.UniqueConstraint("correction_id", name="uq_corrections_correction_id"),
    )
    op.create_index("ix_corrections_ticket_id", "corrections", ["ticket_id"])
    op.create_index("ix_corrections_used_in_training_run", "corrections", ["used_in_training_run"])

    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("model_dir", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("metrics", JSON, nullable=True),
        sa.Column("gate_report", JSON, nullable=True),
        sa.Column("parent_version", sa.String(length=128), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("deployed_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('candidate', 'deployed', 'rejected', 'retired')",
            name="ck_model_versions_status",
        ),
        sa.ForeignKeyConstraint(
            ["parent_version"],
            ["model_versions.version"],
            name="fk_model_versions_parent_version_model_versions",
        ),
        sa.PrimaryKeyConstraint("version", name="pk_model_versions"),
    )
    op.create_index(
        "uq_model_versions_one_deployed",
        "model_versions",
        ["status"],
        unique=True,
        sqlite_where=sa.text("status = 'deployed'"),
        postgresql_where=sa.text("status = 'deployed'"),
    )


def downgrade() -> None:
    op.drop_table("model_versions")
    op.drop_table("corrections")
    op.drop_table("training_runs")
    op.drop_table("decisions")
