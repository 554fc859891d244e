"""Accounts: the people who can sign in (issue 12 §1).

Every row of ``admins`` is an account. One that ``administers`` realms is a realm admin, as
before; one that administers none may only sign in, approve applications for itself in the
authorization dialog, and manage the applications it allowed. No aiohttp here.

* :func:`subject_of` is the account's **stable subject**, the ``sub`` of the tokens issued for
  it (RFC 9068 §2.2): ``<issuer>/people/<account id>``. The id never changes and is never
  reused by the databases' autoincrement keys, unlike a name.
* :func:`create_account` creates one (scrypt hash, audited as ``admin.create``); the CLI is
  ``authmanager admin create NAME [--no-admin]``.
* :mod:`.auth` — passwords, API tokens and the :class:`~.auth.Principal` behind a request (the
  console, the admin API and the dialog all use it; no aiohttp, no web package imported).
"""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .auth import create_admin

Sessions = async_sessionmaker[AsyncSession]

#: How a policy names an account: ``account:<name>`` (beside consumer keys and ``subject:<URL>``).
ACCOUNT_PREFIX = "account:"


def subject_of(issuer: str, account_id: int) -> str:
    """The stable subject identifier of account ``account_id`` at ``issuer``."""
    return f"{issuer.rstrip('/')}/people/{account_id}"


async def create_account(sessions: Sessions, *, name: str, password: str, administers: bool,
                         realms: Sequence[str] = (), now: int, actor: str = "cli") -> dict[str, Any]:
    """An account named ``name``. ``administers``: a realm admin of ``realms`` (none: every
    realm); else an account that administers nothing (``realms`` must be empty)."""
    return await create_admin(sessions, name=name, password=password, realms=realms, now=now, actor=actor,
                              administers=administers)
