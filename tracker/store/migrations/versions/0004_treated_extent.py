"""what a course's treatment covered: the whole face or only the region of interest

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 11:00:00

- ``courses.treated_extent``: ``face`` (skin outside the region of interest may have been treated
  too, so it never serves as the colour reference) or ``region`` (only the region was treated).
  Existing courses become ``face``, the safe reading: their photos are re-analysed under it.
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The server default fills existing rows and is then dropped, so the column reads like the
    # model (whose default is set by the application).
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('treated_extent', sa.String(length=10), nullable=False, server_default='face'))
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.alter_column('treated_extent', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.drop_column('treated_extent')
