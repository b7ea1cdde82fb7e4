"""Who authenticated a chart's document (a FHIR DocumentReference's authenticator, or the form's "Signed by"): it
satisfies the completeness check's signature rule.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("charts") as batch:
        batch.add_column(sa.Column("signed_by", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("charts") as batch:
        batch.drop_column("signed_by")
