"""analysis jobs: the claim/lease work queue of batch analysis

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00

- ``analysis_jobs``: one photo to analyse under one cache key (baseline, metric version,
  regions), its state, the lease of the process working on it, attempts and a one-line error.
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('analysis_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('baseline_hash', sa.String(length=64), nullable=False),
    sa.Column('metric_version', sa.String(length=20), nullable=False),
    sa.Column('regions_key', sa.String(length=80), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('lease_owner', sa.String(length=120), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=400), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('photo_id', 'baseline_hash', 'metric_version', 'regions_key')
    )
    with op.batch_alter_table('analysis_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analysis_jobs_course_id'), ['course_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_analysis_jobs_photo_id'), ['photo_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_analysis_jobs_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('analysis_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analysis_jobs_state'))
        batch_op.drop_index(batch_op.f('ix_analysis_jobs_photo_id'))
        batch_op.drop_index(batch_op.f('ix_analysis_jobs_course_id'))
    op.drop_table('analysis_jobs')
