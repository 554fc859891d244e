"""Realm administration: what the CLI, the demo and (later) the console call.

``create_realm`` returns the sph secret exactly once; only its digest is stored. Scopes are
documented things (title, description, icon URI), published at ``/realms/{realm}/scopes`` and
shown wherever the owner is asked about them. Policies: :mod:`authmanager.policy_admin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .grants.issuance import parse_scope
from .secretbox import digest, random_secret
from .storage import realms as realm_repo
from .storage.models import Realm, RealmScope


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


@dataclass(frozen=True, slots=True)
class ScopeText:
    """How a scope is documented (UMA scope description: ``name``, ``icon_uri``; plus a title)."""

    title: str | None = None
    description: str | None = None
    icon_uri: str | None = None


def _check_icon(uri: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(uri) > 2000:
        raise AdminError("an icon URI must be an absolute http(s) URL")


def _apply(row: RealmScope, text: ScopeText) -> None:
    if text.title is not None:
        if len(text.title) > 200:
            raise AdminError("a scope title has at most 200 characters")
        row.title = text.title
    if text.description is not None:
        if len(text.description) > 4000:
            raise AdminError("a scope description has at most 4000 characters")
        row.description = text.description
    if text.icon_uri is not None:
        if text.icon_uri:
            _check_icon(text.icon_uri)
        row.icon_uri = text.icon_uri or None


async def create_realm(
    sessions: async_sessionmaker[AsyncSession], *, name: str, resource: str, scopes: Sequence[str],
    now: int, resource_name: str | None = None, allow_subkeys: bool = True,
    scope_texts: Mapping[str, ScopeText] | None = None,
) -> NewRealm:
    if not name or len(name) > 100 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise AdminError("realm name: 1-100 letters, digits, '-', '_' or '.'")
    _check_resource(resource)
    if not scopes:
        raise AdminError("a realm needs at least one --scope")
    parse_scope(" ".join(scopes))
    texts = dict(scope_texts or {})
    strays = set(texts) - set(scopes)
    if strays:
        raise AdminError(f"documented scopes that are not --scope: {' '.join(sorted(strays))}")
    new = NewRealm(realm=name, sph=random_secret(12), sph_secret=random_secret(32), resource=resource)
    try:
        async with sessions.begin() as session:
            realm = Realm(name=name, sph=new.sph, sph_secret_hash=digest(new.sph_secret), resource=resource,
                          resource_name=resource_name or name, created_at=now, allow_subkeys=allow_subkeys)
            session.add(realm)
            await session.flush()
            for scope in dict.fromkeys(scopes):
                row = RealmScope(realm_id=realm.id, name=scope, title=scope, description="")
                _apply(row, texts.get(scope, ScopeText()))
                session.add(row)
    except IntegrityError as exc:
        raise AdminError(f"realm {name!r} already exists") from exc
    return new


async def set_scope(sessions: async_sessionmaker[AsyncSession], *, realm: str, name: str, text: ScopeText) -> None:
    """Document an existing scope of ``realm`` (``authmanager scope set``)."""
    async with sessions.begin() as session:
        row = await realm_repo.by_name(session, realm)
        if row is None:
            raise AdminError(f"no realm named {realm!r}")
        scope = await session.get(RealmScope, (row.id, name))
        if scope is None:
            raise AdminError(f"realm {realm} has no scope {name!r}")
        _apply(scope, text)


async def set_subkeys(sessions: async_sessionmaker[AsyncSession], *, realm: str, allow: bool) -> None:
    async with sessions.begin() as session:
        row = await realm_repo.by_name(session, realm)
        if row is None:
            raise AdminError(f"no realm named {realm!r}")
        row.allow_subkeys = allow

