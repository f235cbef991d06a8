"""browser sessions: a sign-in is also found by the browser's cookie

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 14:00:00

- ``auth_sessions.browser_key_hash``: the hash of the browser's session cookie, so every app
  replica behind a proxy, and a page reload, finds the signed-in session.
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('browser_key_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_auth_sessions_browser_key_hash'), ['browser_key_hash'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_sessions_browser_key_hash'))
        batch_op.drop_column('browser_key_hash')
