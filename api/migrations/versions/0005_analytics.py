"""Analytics: the suggestions shown with each feedback, summary counters kept up to date, each chart's findings and
its contribution to the counters; indexes for the figures read from charts and status changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("charts") as batch:
        batch.add_column(sa.Column("findings", sa.JSON, nullable=True))
        batch.add_column(sa.Column("contribution", sa.JSON, nullable=True))
    op.create_index("ix_charts_live_status_created", "charts", ["status", "created_at"],
                    sqlite_where=sa.text("deleted_at IS NULL"), postgresql_where=sa.text("deleted_at IS NULL"))
    op.drop_index("ix_chart_status_changes_to_at", "chart_status_changes")
    op.create_index("ix_chart_status_changes_to_at", "chart_status_changes", ["to_status", "changed_at", "changed_by"])
    op.create_table(
        "shown_suggestions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("chart_id", sa.Integer, sa.ForeignKey("charts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("selected", sa.Boolean, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user", sa.String(120), nullable=False),
    )
    op.create_index("ix_shown_suggestions_chart_id", "shown_suggestions", ["chart_id"])
    op.create_table(
        "analytics_counts",
        sa.Column("metric", sa.String(16), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("k1", sa.String(64), primary_key=True),
        sa.Column("k2", sa.String(64), primary_key=True),
        sa.Column("k3", sa.String(64), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("analytics_counts")
    op.drop_table("shown_suggestions")
    op.drop_index("ix_chart_status_changes_to_at", "chart_status_changes")
    op.create_index("ix_chart_status_changes_to_at", "chart_status_changes", ["to_status", "changed_at"])
    op.drop_index("ix_charts_live_status_created", "charts")
    with op.batch_alter_table("charts") as batch:
        batch.drop_column("contribution")
        batch.drop_column("findings")
