"""photo camera: which camera took each photo, as a keyed digest

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:10:00

- ``photos.camera_key``: HMAC of the EXIF maker and model under the installation's key, so a
  photo taken with another camera than the course's baseline can be told apart without
  storing what the camera was. Photos stored before have none (not known).
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('camera_key', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.drop_column('camera_key')
