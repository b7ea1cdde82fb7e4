"""Worklists and provider queries: a chart's status, assignee, priority and due date; its moves through the
workflow; users' specialties; questions to providers and their answers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

QUEUE_WHERE = "status = 'new' AND assignee IS NULL AND deleted_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("charts") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="new"))
        batch.add_column(sa.Column("assignee", sa.String(120), nullable=True))
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("due_date", sa.Date, nullable=True))
        batch.add_column(sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_charts_queue", "charts", [sa.text("priority DESC"), "due_date", "created_at", "id"],
                    sqlite_where=sa.text(QUEUE_WHERE), postgresql_where=sa.text(QUEUE_WHERE))
    op.create_index("ix_charts_status_assignee", "charts", ["status", "assignee"])

    op.create_table(
        "chart_status_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("chart_id", sa.Integer, sa.ForeignKey("charts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(120), nullable=True),
        sa.Column("changed_by", sa.String(120), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
    )
    op.create_index("ix_chart_status_changes_chart_id", "chart_status_changes", ["chart_id"])
    op.create_index("ix_chart_status_changes_to_at", "chart_status_changes", ["to_status", "changed_at"])
    op.create_index("ix_chart_status_changes_by_at", "chart_status_changes", ["changed_by", "changed_at"])

    op.create_table(
        "user_profiles",
        sa.Column("user", sa.String(120), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("specialties", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
    )

    op.create_table(
        "provider_queries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("chart_id", sa.Integer, sa.ForeignKey("charts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("template", sa.String(64), nullable=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("span_start", sa.Integer, nullable=True),
        sa.Column("span_end", sa.Integer, nullable=True),
        sa.Column("excerpt", sa.Text, nullable=True),
        sa.Column("provider", sa.String(120), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.Text, nullable=True),
        sa.Column("answer_option", sa.String(200), nullable=True),
        sa.Column("amendment", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(120), nullable=True),
    )
    op.create_index("ix_provider_queries_chart_id", "provider_queries", ["chart_id"])
    op.create_index("ix_provider_queries_provider", "provider_queries", ["provider"])
    op.create_index("ix_provider_queries_status", "provider_queries", ["status"])


def downgrade() -> None:
    op.drop_table("provider_queries")
    op.drop_table("user_profiles")
    op.drop_table("chart_status_changes")
    op.drop_index("ix_charts_status_assignee", "charts")
    op.drop_index("ix_charts_queue", "charts")
    with op.batch_alter_table("charts") as batch:
        for column in ("status_changed_at", "due_date", "priority", "assignee", "status"):
            batch.drop_column(column)
