"""research consent, erased patients' audit subject, clinician grades, patient-reported outcomes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:30:00

- ``research_consents``: each patient's consent to research use (text version, when, by whom)
  and its withdrawal.
- ``audit_events.subject``: the pseudonymous id that replaces an erased patient's ids.
- ``clinician_grades``: providers' grades of photos on validated scales, with the scale's version.
- ``patient_reports``: patients' answers to the questionnaire sent with a photo.
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('research_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('text_version', sa.String(length=20), nullable=False),
    sa.Column('given_at', sa.DateTime(), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(), nullable=True),
    sa.Column('withdrawn_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['withdrawn_by'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('research_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_research_consents_patient_id'), ['patient_id'], unique=False)

    op.create_table('clinician_grades',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('scale', sa.String(length=30), nullable=False),
    sa.Column('scale_version', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('items', sa.JSON(), nullable=True),
    sa.Column('graded_by', sa.Integer(), nullable=True),
    sa.Column('graded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['graded_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('clinician_grades', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinician_grades_photo_id'), ['photo_id'], unique=False)

    op.create_table('patient_reports',
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('questionnaire_version', sa.String(length=20), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('answered_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('photo_id')
    )

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_events_subject'), ['subject'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_subject'))
        batch_op.drop_column('subject')
    op.drop_table('patient_reports')
    with op.batch_alter_table('clinician_grades', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinician_grades_photo_id'))
    op.drop_table('clinician_grades')
    with op.batch_alter_table('research_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_research_consents_patient_id'))
    op.drop_table('research_consents')
