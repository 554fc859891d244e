"""one realm per resource: realms.resource_key, unique

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 09:00:00

Tokens name their resource by ``aud``; two realms on one resource get tokens each other's SP
accepts (issue 11, item 8). Each realm gets the normalised form of its resource URL
(``authmanager.operations.resources.resource_key``) in a unique column.

A database that already holds two realms on one resource is not silently "fixed": the upgrade
stops before changing anything, names the realms, and says what to do.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from authmanager.operations.resources import resource_key
from authmanager.storage.migrate import MigrationRefused

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _key(resource: str) -> str:
    try:
        return resource_key(resource)
    except ValueError:  # a resource the checks of today would refuse: compared as stored
        return resource


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name, resource FROM realms ORDER BY id")).all()
    keys = {row.id: _key(row.resource) for row in rows}
    sharing: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        sharing[keys[row.id]].append(f"{row.name} ({row.resource})")
    clashes = {key: names for key, names in sharing.items() if len(names) > 1}
    if clashes:
        listed = "; ".join(f"{key}: realms {', '.join(names)}" for key, names in sorted(clashes.items()))
        raise MigrationRefused(
            "cannot upgrade to 0006 (one realm per resource): realms share a resource, so each one's SP "
            f"accepts the other's tokens — {listed}. Nothing was changed. Give all but one of each group a "
            "resource URL of its own (UPDATE realms SET resource = '<url>' WHERE name = '<realm>'; configure "
            "its SP with that URL too, since it becomes its tokens' aud), then run `authmanager db upgrade` again")
    # Plain ALTER TABLE ADD COLUMN and CREATE UNIQUE INDEX, on SQLite too: a batch-mode rebuild of
    # ``realms`` would drop the old table, and with foreign keys on that cascades into every row
    # that references a realm (scopes, policies, tokens, grants, tickets, requests, admins).
    op.add_column('realms', sa.Column('resource_key', sa.Text(), server_default='', nullable=False))
    for realm_id, key in keys.items():
        bind.execute(sa.text("UPDATE realms SET resource_key = :key WHERE id = :id"), {"key": key, "id": realm_id})
    op.create_index('ix_realms_resource_key', 'realms', ['resource_key'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_realms_resource_key', table_name='realms')
    op.execute("ALTER TABLE realms DROP COLUMN resource_key")  # SQLite >= 3.35: no rebuild either
