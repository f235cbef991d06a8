"""course summaries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:16:57.167469
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('course_summaries',
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('provider_reasons', sa.JSON(), nullable=False),
    sa.Column('projected_resolution_day', sa.Float(), nullable=True),
    sa.Column('last_photo_at', sa.DateTime(), nullable=True),
    sa.Column('photos', sa.Integer(), nullable=False),
    sa.Column('trend', sa.Float(), nullable=True),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('course_id')
    )


def downgrade() -> None:
    op.drop_table('course_summaries')
