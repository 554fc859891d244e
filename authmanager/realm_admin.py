"""Realm administration: what the CLI, the demo and (later) the console call.

``create_realm`` returns the sph secret exactly once; only its digest is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .grants.client_credentials import parse_scope
from .policy import EFFECTS
from .secretbox import digest, random_secret
from .storage import realms as realm_repo
from .storage.models import Policy, Realm, RealmScope


class AdminError(ValueError):
    """A realm-admin request that cannot be carried out; the message is for the admin."""


@dataclass(frozen=True, slots=True)
class NewRealm:
    realm: str
    sph: str
    sph_secret: str
    resource: str

    def as_dict(self) -> dict[str, str]:
        return {"realm": self.realm, "sph": self.sph, "sph_secret": self.sph_secret, "resource": self.resource}


def _check_resource(resource: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(resource)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment or parts.query:
        raise AdminError("--resource must be an absolute http(s) URL without query or fragment (RFC 9728 §1.2)")


async def create_realm(
    sessions: async_sessionmaker[AsyncSession], *, name: str, resource: str, scopes: Sequence[str],
    now: int, resource_name: str | None = None, scope_titles: dict[str, str] | None = None,
    allow_subkeys: bool = True,
) -> NewRealm:
    if not name or len(name) > 100 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise AdminError("realm name: 1-100 letters, digits, '-', '_' or '.'")
    _check_resource(resource)
    if not scopes:
        raise AdminError("a realm needs at least one --scope")
    parse_scope(" ".join(scopes))
    new = NewRealm(realm=name, sph=random_secret(12), sph_secret=random_secret(32), resource=resource)
    try:
        async with sessions.begin() as session:
            realm = Realm(name=name, sph=new.sph, sph_secret_hash=digest(new.sph_secret), resource=resource,
                          resource_name=resource_name or name, created_at=now, allow_subkeys=allow_subkeys)
            session.add(realm)
            await session.flush()
            for scope in dict.fromkeys(scopes):
                session.add(RealmScope(realm_id=realm.id, name=scope, title=(scope_titles or {}).get(scope, scope)))
    except IntegrityError as exc:
        raise AdminError(f"realm {name!r} already exists") from exc
    return new


async def add_policy(
    sessions: async_sessionmaker[AsyncSession], *, realm: str, effect: str, scopes: Sequence[str],
    consumer: str = "*", max_ttl: int | None = None, now: int,
) -> int:
    if effect not in EFFECTS:
        raise AdminError(f"--effect must be one of {', '.join(EFFECTS)}")
    if max_ttl is not None and max_ttl <= 0:
        raise AdminError("--max-ttl must be positive")
    async with sessions.begin() as session:
        row = await realm_repo.by_name(session, realm)
        if row is None:
            raise AdminError(f"no realm named {realm!r}")
        known = {s.name for s in await realm_repo.scopes(session, row.id)}
        unknown = set(scopes) - known
        if not scopes or unknown:
            raise AdminError(f"scopes must be among the realm's: {' '.join(sorted(known))}")
        policy = Policy(realm_id=row.id, position=await realm_repo.next_policy_position(session, row.id),
                        effect=effect, scopes=sorted(set(scopes)), consumer=consumer or "*", max_ttl=max_ttl,
                        created_at=now)
        session.add(policy)
        await session.flush()
        return policy.id


async def set_subkeys(sessions: async_sessionmaker[AsyncSession], *, realm: str, allow: bool) -> None:
    async with sessions.begin() as session:
        row = await realm_repo.by_name(session, realm)
        if row is None:
            raise AdminError(f"no realm named {realm!r}")
        row.allow_subkeys = allow
