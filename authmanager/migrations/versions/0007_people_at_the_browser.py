"""people at the browser: accounts that administer nothing, authorization codes, refresh tokens, consents

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:00:00

Issue 12. Every row of ``admins`` becomes an account; ``administers`` false marks one that
administers no realm. Access tokens issued for a person name the account and the refresh family.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('admins') as batch:
        batch.add_column(sa.Column('administers', sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table('access_tokens') as batch:
        batch.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('family_id', sa.String(length=64), nullable=True))
    op.create_index('ix_access_tokens_account_id', 'access_tokens', ['account_id'])
    op.create_index('ix_access_tokens_family_id', 'access_tokens', ['family_id'])

    op.create_table(
        'authorization_codes',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('code_hash', sa.String(length=64), nullable=False, unique=True),
        sa.Column('client_id', sa.String(length=512), nullable=False, index=True),
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('admins.id', ondelete='CASCADE'), nullable=False, index=True),
        sa.Column('realm_id', sa.Integer(), sa.ForeignKey('realms.id', ondelete='CASCADE'), nullable=False, index=True),
        sa.Column('redirect_uri', sa.Text(), nullable=False),
        sa.Column('code_challenge', sa.String(length=128), nullable=False),
        sa.Column('resource', sa.Text(), nullable=False),
        sa.Column('scopes', sa.JSON(), nullable=False),
        sa.Column('dpop_jkt', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('expires_at', sa.BigInteger(), nullable=False, index=True),
        sa.Column('used_at', sa.BigInteger(), nullable=True),
        sa.Column('token_jti', sa.String(length=64), nullable=True),
        sa.Column('family_id', sa.String(length=64), nullable=True),
    )
    op.create_table(
        'refresh_tokens',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('token_hash', sa.String(length=64), nullable=False, unique=True),
        sa.Column('family_id', sa.String(length=64), nullable=False, index=True),
        sa.Column('client_id', sa.String(length=512), nullable=False, index=True),
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('admins.id', ondelete='CASCADE'), nullable=False, index=True),
        sa.Column('realm_id', sa.Integer(), sa.ForeignKey('realms.id', ondelete='CASCADE'), nullable=False, index=True),
        sa.Column('resource', sa.Text(), nullable=False),
        sa.Column('scopes', sa.JSON(), nullable=False),
        sa.Column('dpop_jkt', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('expires_at', sa.BigInteger(), nullable=False, index=True),
        sa.Column('absolute_expires_at', sa.BigInteger(), nullable=False),
        sa.Column('used_at', sa.BigInteger(), nullable=True),
        sa.Column('revoked_at', sa.BigInteger(), nullable=True),
    )
    op.create_table(
        'consents',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('client_id', sa.String(length=512), nullable=False, index=True),
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('admins.id', ondelete='CASCADE'), nullable=False, index=True),
        sa.Column('realm_id', sa.Integer(), sa.ForeignKey('realms.id', ondelete='CASCADE'), nullable=False, index=True),
        sa.Column('client_name', sa.String(length=200), nullable=False),
        sa.Column('scopes', sa.JSON(), nullable=False),
        sa.Column('refused_scopes', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.BigInteger(), nullable=False),
        sa.Column('revoked_at', sa.BigInteger(), nullable=True),
        sa.UniqueConstraint('client_id', 'account_id', 'realm_id', name='uq_consents_client_account_realm'),
    )


def downgrade() -> None:
    op.drop_table('consents')
    op.drop_table('refresh_tokens')
    op.drop_table('authorization_codes')
    op.drop_index('ix_access_tokens_family_id', 'access_tokens')
    op.drop_index('ix_access_tokens_account_id', 'access_tokens')
    with op.batch_alter_table('access_tokens') as batch:
        batch.drop_column('family_id')
        batch.drop_column('account_id')
    with op.batch_alter_table('admins') as batch:
        batch.drop_column('administers')
