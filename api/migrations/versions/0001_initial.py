"""Initial chart store schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("user", sa.String(120), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("last_used_at", TS, nullable=True),
    )
    op.create_index("ix_api_tokens_token_hash", "api_tokens", ["token_hash"], unique=True)
    op.create_table(
        "charts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("encounter_id", sa.String(64), nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("provider", sa.String(200), nullable=True),
        sa.Column("document_date", sa.Date, nullable=True),
        sa.Column("specialty", sa.String(64), nullable=True),
        sa.Column("document_type", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
        sa.Column("deleted_at", TS, nullable=True),
        sa.Column("deleted_by", sa.String(120), nullable=True),
    )
    for col in ("patient_id", "encounter_id", "document_date", "created_at", "deleted_at"):
        op.create_index(f"ix_charts_{col}", "charts", [col])
    op.create_table(
        "chart_codes",
        sa.Column("chart_id", sa.Integer, sa.ForeignKey("charts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("code", sa.String(10), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_chart_codes_code", "chart_codes", ["code"])
    op.create_table(
        "chart_history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("chart_id", sa.Integer, sa.ForeignKey("charts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("changed_by", sa.String(120), nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
    )
    op.create_index("ix_chart_history_chart_id", "chart_history", ["chart_id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("chart_id", sa.Integer, sa.ForeignKey("charts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("user", sa.String(120), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_feedback_chart_id", "feedback", ["chart_id"])
    op.create_index("ix_feedback_code", "feedback", ["code"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("user", sa.String(120), nullable=False),
        sa.Column("token_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("chart_id", sa.Integer, nullable=True),
        sa.Column("codes", sa.JSON, nullable=True),
        sa.Column("detail", sa.JSON, nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_user", "audit_log", ["user"])
    op.create_index("ix_audit_log_chart_id", "audit_log", ["chart_id"])
    op.create_table(
        "service_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("service_state", "audit_log", "feedback", "chart_history", "chart_codes", "charts", "api_tokens"):
        op.drop_table(table)
