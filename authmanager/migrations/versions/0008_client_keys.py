"""client keys: the public keys of private_key_jwt consumers, one per device, with scope ceilings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:50:00

Issue 13. A consumer may hold several public keys (RFC 7523 ``private_key_jwt``), each with a
``kid`` unique for that consumer, an optional name and an optional scope ceiling (OAuth3 issuer
step 4). An access token obtained with an assertion signed by one of them names it, so that
revoking the key revokes its tokens.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'client_keys',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('client_id', sa.String(length=64),
                  sa.ForeignKey('consumers.client_id', ondelete='CASCADE'), nullable=False, index=True),
        sa.Column('kid', sa.String(length=128), nullable=False),
        sa.Column('jwk', sa.JSON(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=True),
        sa.Column('scope_ceiling', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('revoked_at', sa.BigInteger(), nullable=True),
        sa.UniqueConstraint('client_id', 'kid', name='uq_client_keys_client_kid'),
    )
    with op.batch_alter_table('access_tokens') as batch:
        batch.add_column(sa.Column('client_key_id', sa.Integer(), nullable=True))
    op.create_index('ix_access_tokens_client_key_id', 'access_tokens', ['client_key_id'])


def downgrade() -> None:
    op.drop_index('ix_access_tokens_client_key_id', 'access_tokens')
    with op.batch_alter_table('access_tokens') as batch:
        batch.drop_column('client_key_id')
    op.drop_table('client_keys')
