"""Accounts (admins and people who administer nothing): scrypt password hashes, realm limits, API tokens, and who is acting.

* Passwords are hashed with scrypt (RFC 7914, memory-hard) from ``cryptography``: a 16-byte
  random salt and the parameters are stored with the hash
  (``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>``), so they can be raised later without breaking old
  hashes. Verification is constant-time (``Scrypt.verify``) and runs in a worker thread so it
  never blocks the event loop. An unknown account costs the same scrypt run as a known one.
* API tokens are 256 random bits, shown once; only their SHA-256 is stored (like ``sph_secret``).

Every change is one transaction with its audit event (``admin.create``, ``admin.token_create``,
``admin.token_revoke``). No aiohttp here: the CLI and the web layer share these functions.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any, Sequence

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .. import audit
from ..identifiers import is_key, is_name, is_row_id, is_text
from ..operations.realms import AdminError
from ..secretbox import b64u, digest, random_secret, unb64u
from ..storage import admins as admin_repo
from ..storage import realms as realm_repo
from ..storage.models import Admin, AdminToken

Sessions = async_sessionmaker[AsyncSession]

#: scrypt cost: N = 2**15, r = 8, p = 1 (32 MiB, RFC 7914 §2 / OWASP's interactive-login minimum).
LOG2_N, R, P = 15, 8, 1
MIN_PASSWORD, MAX_PASSWORD = 10, 1024


def _kdf(salt: bytes, log2_n: int, r: int, p: int) -> Scrypt:
    return Scrypt(salt=salt, length=32, n=2 ** log2_n, r=r, p=p)


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    key = _kdf(salt, LOG2_N, R, P).derive(password.encode())
    return f"scrypt${LOG2_N}${R}${P}${b64u(salt)}${b64u(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored scrypt hash."""
    try:
        scheme, log2_n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        _kdf(unb64u(salt), int(log2_n), int(r), int(p)).verify(password.encode()[:MAX_PASSWORD * 4], unb64u(key))
    except (InvalidKey, ValueError):
        return False
    return True


#: Checked when the account does not exist, so that its absence costs the same time.
_DUMMY = hash_password(random_secret(16))


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or not is_text(password, max_len=MAX_PASSWORD):
        raise AdminError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters (no NUL)")


def check_name(name: str) -> None:
    if not is_name(name):
        raise AdminError("admin name: 1-100 letters, digits, '-', '_' or '.'")


@dataclass(frozen=True, slots=True)
class Principal:
    """The admin behind a request, with the realms they may administer."""

    admin_id: int
    name: str
    all_realms: bool
    realm_ids: frozenset[int]
    #: False: an account that administers no realm (issue 12): it may sign in and manage the
    #: applications it allowed, and is refused every admin page and the admin API.
    administers: bool = True

    @property
    def actor(self) -> str:
        return f"admin:{self.name}"

    def may(self, realm_id: int) -> bool:
        return self.administers and (self.all_realms or realm_id in self.realm_ids)

    @property
    def visible(self) -> frozenset[int] | None:
        """``None`` for every realm, else the realm ids this admin may see."""
        if not self.administers:
            return frozenset()
        return None if self.all_realms else self.realm_ids


async def principal(session: AsyncSession, admin: Admin) -> Principal:
    if not admin.administers:
        return Principal(admin_id=admin.id, name=admin.name, all_realms=False, realm_ids=frozenset(),
                         administers=False)
    ids = frozenset() if admin.all_realms else frozenset(await admin_repo.realm_ids(session, admin.id))
    return Principal(admin_id=admin.id, name=admin.name, all_realms=admin.all_realms, realm_ids=ids)


async def create_admin(sessions: Sessions, *, name: str, password: str, realms: Sequence[str] = (), now: int,
                       actor: str = "cli", administers: bool = True) -> dict[str, Any]:
    """An admin of ``realms`` (none given: every realm); with ``administers=False`` an account
    that administers no realm (``realms`` must then be empty). Nothing is stored on bad input."""
    check_name(name)
    check_password(password)
    if not administers:
        if realms:
            raise AdminError("an account that administers no realm takes no --realm")
        return await _create(sessions, name=name, password=password, realm_names=(), all_realms=False,
                             administers=False, now=now, actor=actor)
    return await _create(sessions, name=name, password=password, realm_names=realms, all_realms=not realms,
                         administers=True, now=now, actor=actor)


async def _create(sessions: Sessions, *, name: str, password: str, realm_names: Sequence[str], all_realms: bool,
                  administers: bool, now: int, actor: str) -> dict[str, Any]:
    realms = realm_names
    hashed = await asyncio.to_thread(hash_password, password)
    try:
        async with sessions.begin() as session:
            ids = []
            for realm in dict.fromkeys(realms):
                row = await realm_repo.by_name(session, realm)
                if row is None:
                    raise AdminError(f"no realm named {realm!r}")
                ids.append(row.id)
            admin = await admin_repo.add(session, Admin(name=name, password_hash=hashed, all_realms=all_realms,
                                                        administers=administers, created_at=now), ids)
            shown: list[str] | str = (sorted(set(realms)) or "*") if administers else []
            await audit.record(session, action="admin.create", actor=actor, now=now, target=f"admin:{name}",
                               detail={"realms": shown, **({} if administers else {"administers": False})})
            return {"id": admin.id, "name": name, "realms": shown, "administers": administers}
    except IntegrityError as exc:
        raise AdminError(f"admin {name!r} already exists") from exc


async def list_admins(sessions: Sessions) -> list[dict[str, Any]]:
    async with sessions() as session:
        return [{"id": a.id, "name": a.name, "created_at": a.created_at, "administers": a.administers,
                 "realms": [] if not a.administers else "*" if a.all_realms
                 else await admin_repo.realm_names(session, a.id)}
                for a in await admin_repo.list_all(session)]


async def authenticate_password(sessions: Sessions, name: str, password: str) -> Admin | None:
    """The admin whose name and password these are, else None (same scrypt cost either way)."""
    async with sessions() as session:
        admin = await admin_repo.by_name(session, name)
    ok = await asyncio.to_thread(verify_password, password, admin.password_hash if admin else _DUMMY)
    return admin if ok and admin is not None else None


async def create_token(sessions: Sessions, *, name: str, label: str = "", now: int, actor: str = "cli"
                       ) -> dict[str, Any]:
    """A new API token for admin ``name``: returned once, only its SHA-256 stored."""
    if not is_text(label, max_len=100):
        raise AdminError("a token label is text (no NUL) of at most 100 characters")
    value = random_secret(32)
    async with sessions.begin() as session:
        admin = await admin_repo.by_name(session, name)
        if admin is None:
            raise AdminError(f"no admin named {name!r}")
        if not admin.administers:
            raise AdminError(f"{name!r} administers no realm: the admin API is not for it")
        row = await admin_repo.add_token(session, AdminToken(admin_id=admin.id, token_hash=digest(value),
                                                             label=label, created_at=now))
        await audit.record(session, action="admin.token_create", actor=actor, now=now, target=f"admin:{name}",
                           detail={"token_id": row.id, "label": label})
        return {"id": row.id, "admin": name, "label": label, "token": value}


async def revoke_token(sessions: Sessions, token_id: int, *, now: int, actor: str = "cli") -> dict[str, Any]:
    async with sessions.begin() as session:
        row = await admin_repo.token(session, token_id, for_update=True) if is_row_id(token_id) else None
        if row is None or row.revoked_at is not None:
            raise AdminError(f"no live admin token {token_id}")
        admin = await admin_repo.get(session, row.admin_id)
        assert admin is not None
        await admin_repo.revoke_token(session, token_id, now=now)
        await audit.record(session, action="admin.token_revoke", actor=actor, now=now, target=f"admin:{admin.name}",
                           detail={"token_id": token_id})
        return {"id": token_id, "admin": admin.name}


async def list_tokens(sessions: Sessions) -> list[dict[str, Any]]:
    async with sessions() as session:
        return [{"id": t.id, "admin": name, "label": t.label, "created_at": t.created_at,
                 "revoked": t.revoked_at is not None} for t, name in await admin_repo.tokens(session)]


async def authenticate_token(sessions: Sessions, value: str) -> Principal | None:
    """The principal of a live API token, else None (compared by SHA-256; 256-bit base64url values)."""
    if not is_key(value, max_len=200):
        return None
    async with sessions() as session:
        row = await admin_repo.token_by_hash(session, digest(value))
        if row is None or row.revoked_at is not None:
            return None
        admin = await admin_repo.get(session, row.admin_id)
        # An account that administers no realm has no use for the admin API: its tokens are dead.
        return None if admin is None or not admin.administers else await principal(session, admin)
