"""Held corrections: statuses ``held`` and ``overturned``, the hold and the second verdict.

Existing corrections keep their status: none of them was held, so the new columns stay NULL.
Downgrading cannot keep a held or overturned correction as such; both become ``quarantined``
(out of training, waiting for a person), the safe reading of "not trusted yet", and the new
audit actions are recorded as quarantine/release so the old CHECK accepts them.
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"

TS = sa.DateTime(timezone=True)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


OLD_STATUSES = ("active", "quarantined")
NEW_STATUSES = (*OLD_STATUSES, "held", "overturned")
OLD_ACTIONS = ("quarantine", "release", "delete")
NEW_ACTIONS = (*OLD_ACTIONS, "hold", "confirm", "overturn")


def upgrade() -> None:
    # Batch mode: SQLite cannot change a CHECK constraint in place, so the table is rebuilt.
    with op.batch_alter_table("corrections") as batch:
        batch.drop_constraint("ck_corrections_status", type_="check")
        batch.create_check_constraint("ck_corrections_status", _one_of("status", NEW_STATUSES))
        batch.add_column(sa.Column("held_at", TS, nullable=True))
        batch.add_column(sa.Column("hold_label", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("hold_against", sa.Float(), nullable=True))
        batch.add_column(sa.Column("verdict", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("verdict_by", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("verdict_at", TS, nullable=True))
        batch.create_check_constraint(
            "ck_corrections_verdict", "verdict IS NULL OR verdict IN ('confirmed', 'overturned')"
        )
    with op.batch_alter_table("correction_audit") as batch:
        batch.drop_constraint("ck_correction_audit_action", type_="check")
        batch.create_check_constraint("ck_correction_audit_action", _one_of("action", NEW_ACTIONS))


def downgrade() -> None:
    op.execute(
        "UPDATE corrections SET status = 'quarantined' WHERE status IN ('held', 'overturned')"
    )
    op.execute(
        "UPDATE correction_audit SET action = 'quarantine' WHERE action IN ('hold', 'overturn')"
    )
    op.execute("UPDATE correction_audit SET action = 'release' WHERE action = 'confirm'")
    with op.batch_alter_table("correction_audit") as batch:
        batch.drop_constraint("ck_correction_audit_action", type_="check")
        batch.create_check_constraint("ck_correction_audit_action", _one_of("action", OLD_ACTIONS))
    with op.batch_alter_table("corrections") as batch:
        batch.drop_constraint("ck_corrections_verdict", type_="check")
        for column in ("verdict_at", "verdict_by", "verdict", "hold_against", "hold_label"):
            batch.drop_column(column)
        batch.drop_column("held_at")
        batch.drop_constraint("ck_corrections_status", type_="check")
        batch.create_check_constraint("ck_corrections_status", _one_of("status", OLD_STATUSES))
