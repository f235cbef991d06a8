"""analysis job finished by: which batch finished each job

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 01:10:00

- ``analysis_jobs.finished_by``: a random id of the batch whose worker finished the job, so
  that a batch reports what it did and not also what another batch at work on the same store
  finished meanwhile (it counted every job finished since it started). Jobs finished before
  have none.
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('analysis_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('finished_by', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('analysis_jobs', schema=None) as batch_op:
        batch_op.drop_column('finished_by')
