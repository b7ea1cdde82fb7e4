"""Bulk imports: the jobs, the queue of charts whose suggestions are computed in the background, and the stored
suggestions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("precomputed", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_import_jobs_created_by", "import_jobs", ["created_by"])
    op.create_table(
        "precompute_queue",
        sa.Column("chart_id", sa.Integer, sa.ForeignKey("charts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("import_jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_precompute_queue_job_id", "precompute_queue", ["job_id"])
    op.create_table(
        "chart_suggestions",
        sa.Column("chart_id", sa.Integer, sa.ForeignKey("charts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chart_suggestions")
    op.drop_table("precompute_queue")
    op.drop_table("import_jobs")
