"""confirmed baselines, photo states, photos before or after a session, per-source sign-in throttling

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00

- ``course_baselines``: the baseline photo a provider chose for a course, who confirmed it, when.
- ``photos.state``: active, held (a patient's upload dated before the baseline) or hidden.
- ``photos.before_session``: for a photo taken on a session's day, before (True) or after (False)
  the treatment; None when not known.
- ``sign_in_throttle``: failed sign-ins per (account, source) with their back-off, replacing the
  per-account lock (``users.failed_logins``, ``users.locked_until``) that let anyone lock anyone out.
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('course_baselines',
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('confirmed_by', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['confirmed_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('course_id')
    )
    with op.batch_alter_table('course_baselines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_course_baselines_photo_id'), ['photo_id'], unique=False)

    op.create_table('sign_in_throttle',
    sa.Column('account_key', sa.String(length=64), nullable=False),
    sa.Column('source_key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(), nullable=False),
    sa.Column('blocked_until', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('account_key', 'source_key')
    )
    # Existing photos are all in use; the server default fills them and is then dropped, so the
    # column reads like the model (whose default is set by the application).
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('before_session', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('state', sa.String(length=10), nullable=False, server_default='active'))
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.alter_column('state', server_default=None)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(), nullable=True))
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.drop_column('state')
        batch_op.drop_column('before_session')
    op.drop_table('sign_in_throttle')
    with op.batch_alter_table('course_baselines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_course_baselines_photo_id'))
    op.drop_table('course_baselines')
