"""Realm administration: what the CLI, the demo and (later) the console call.

``create_realm`` returns the sph secret exactly once; only its digest is stored. Consumer keys
and live tokens are listed and revoked here too (``revoke_consumer_key``, ``list_live_tokens``,
``revoke_token_by_jti``); every change is audited in its own transaction. Scopes are
documented things (title, description, icon URI), published at ``/realms/{realm}/scopes`` and
shown wherever the owner is asked about them. Policies: :mod:`authmanager.operations.policies`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .. import audit
from ..grants.issuance import MAX_SCOPES
from ..identifiers import is_name, is_scope_token, is_text, is_url_text
from ..secretbox import digest, random_secret
from ..storage import consumers as consumer_repo
from ..storage import realms as realm_repo
from ..storage import tokens as token_repo
from ..storage.models import AccessToken, Realm, RealmScope
from .resources import resource_key
from .revocation import revoke_consumer, revoke_token


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


@dataclass(frozen=True, slots=True)
class ScopeText:
    """How a scope is documented (UMA scope description: ``name``, ``icon_uri``; plus a title)."""

    title: str | None = None
    description: str | None = None
    icon_uri: str | None = None


def _check_icon(uri: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if not is_url_text(uri) or parts.scheme not in ("http", "https") or not parts.netloc:
        raise AdminError("an icon URI must be an absolute http(s) URL")


def _apply(row: RealmScope, text: ScopeText) -> None:
    if text.title is not None:
        if not is_text(text.title, max_len=200):
            raise AdminError("a scope title is text (no NUL) of at most 200 characters")
        row.title = text.title
    if text.description is not None:
        if not is_text(text.description, max_len=4000):
            raise AdminError("a scope description is text (no NUL) of at most 4000 characters")
        row.description = text.description
    if text.icon_uri is not None:
        if text.icon_uri:
            _check_icon(text.icon_uri)
        row.icon_uri = text.icon_uri or None


async def create_realm(
    sessions: async_sessionmaker[AsyncSession], *, name: str, resource: str, scopes: Sequence[str],
    now: int, resource_name: str | None = None, allow_subkeys: bool = True,
    scope_texts: Mapping[str, ScopeText] | None = None, actor: str = "cli",
) -> NewRealm:
    """Create a realm with its documented scopes; returns the sph secret, which is never stored
    (only its digest) nor logged. One transaction with its ``realm.create`` audit event.

    One realm per resource (:func:`.resources.resource_key`): tokens name their resource by
    ``aud``, so a second realm on a resource would get tokens the first realm's SP accepts. The
    unique ``resource_key`` column decides a race between two creations."""
    if not is_name(name):
        raise AdminError("realm name: 1-100 letters, digits, '-', '_' or '.'")
    try:
        key = resource_key(resource)
    except ValueError as exc:
        raise AdminError(str(exc)) from None
    if resource_name is not None and not is_text(resource_name, max_len=200):
        raise AdminError("--resource-name is text (no NUL) of at most 200 characters")
    if not scopes:
        raise AdminError("a realm needs at least one --scope")
    if len(scopes) > MAX_SCOPES or not all(is_scope_token(scope) for scope in scopes):
        raise AdminError(f"at most {MAX_SCOPES} scopes, each an RFC 6749 §3.3 scope-token of at most 100 "
                         "printable ASCII characters (no space, '\"' or '\\')")
    texts = dict(scope_texts or {})
    strays = set(texts) - set(scopes)
    if strays:
        raise AdminError(f"documented scopes that are not --scope: {' '.join(sorted(strays))}")
    new = NewRealm(realm=name, sph=random_secret(12), sph_secret=random_secret(32), resource=resource)
    try:
        async with sessions.begin() as session:
            await _refuse_taken(session, name, resource, key)
            realm = Realm(name=name, sph=new.sph, sph_secret_hash=digest(new.sph_secret), resource=resource,
                          resource_key=key, resource_name=resource_name or name, created_at=now,
                          allow_subkeys=allow_subkeys)
            session.add(realm)
            await session.flush()
            for scope in dict.fromkeys(scopes):
                row = RealmScope(realm_id=realm.id, name=scope, title=scope, description="")
                _apply(row, texts.get(scope, ScopeText()))
                session.add(row)
            await audit.record(session, action="realm.create", actor=actor, now=now, realm_id=realm.id,
                               target=name, detail={"resource": resource, "scopes": list(dict.fromkeys(scopes))})
    except IntegrityError as exc:  # lost a race to a concurrent creation: say to which
        async with sessions() as session:
            await _refuse_taken(session, name, resource, key)
        raise AdminError(f"realm {name!r} could not be created: a concurrent change conflicted; try again") from exc
    return new


async def _refuse_taken(session: AsyncSession, name: str, resource: str, key: str) -> None:
    if await realm_repo.by_name(session, name) is not None:
        raise AdminError(f"realm {name!r} already exists")
    other = await realm_repo.by_resource_key(session, key)
    if other is not None:
        same = "" if other.resource == resource else f" (the same resource as {resource}: both are {key})"
        raise AdminError(f"realm {other.name!r} already protects {other.resource}{same}; tokens name their "
                         "resource by aud, so each realm needs a resource of its own")


async def set_scope(sessions: async_sessionmaker[AsyncSession], *, realm: str, name: str, text: ScopeText,
                    now: int | None = None, actor: str = "cli") -> None:
    """Document an existing scope of ``realm`` (``authmanager scope set``), with its ``scope.set``
    audit event."""
    async with sessions.begin() as session:
        row = await realm_repo.by_name(session, realm)
        if row is None:
            raise AdminError(f"no realm named {realm!r}")
        scope = await realm_repo.scope(session, row.id, name)
        if scope is None:
            raise AdminError(f"realm {realm} has no scope {name!r}")
        _apply(scope, text)
        changed = {k: v for k, v in (("title", text.title), ("description", text.description),
                                     ("icon_uri", text.icon_uri)) if v is not None}
        await audit.record(session, action="scope.set", actor=actor, now=int(time.time()) if now is None else now,
                           realm_id=row.id, target=f"{realm}/{name}", detail=changed)


async def set_subkeys(sessions: async_sessionmaker[AsyncSession], *, realm: str, allow: bool) -> None:
    async with sessions.begin() as session:
        row = await realm_repo.by_name(session, realm)
        if row is None:
            raise AdminError(f"no realm named {realm!r}")
        row.allow_subkeys = allow



async def list_realms(sessions: async_sessionmaker[AsyncSession], *, visible: frozenset[int] | None = None
                      ) -> list[dict[str, Any]]:
    """Realms (those in ``visible`` when given) with their documented scopes; never a secret."""
    async with sessions() as session:
        return [{"id": row.id, "realm": row.name, "sph": row.sph, "resource": row.resource,
                 "resource_name": row.resource_name, "subkeys": row.allow_subkeys, "created_at": row.created_at,
                 "scopes": [{"name": s.name, "title": s.title, "description": s.description, "icon_uri": s.icon_uri}
                            for s in await realm_repo.scopes(session, row.id)]}
                for row in await realm_repo.list_all(session) if visible is None or row.id in visible]


async def list_consumers(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    """Consumer keys, oldest first (secrets are never shown)."""
    async with sessions() as session:
        return [{"client_id": c.client_id, "client_name": c.client_name, "issued_at": c.issued_at,
                 "last_used_at": c.last_used_at, "revoked": c.revoked_at is not None,
                 "parent_client_id": c.parent_id, "expires_at": c.expires_at}
                for c in await consumer_repo.list_all(session)]


async def revoke_consumer_key(sessions: async_sessionmaker[AsyncSession], client_id: str, *, now: int,
                              delete: bool = False, actor: str = "cli") -> int:
    """Revoke (or delete) a consumer key, its sub-keys and their live tokens; returns how many
    tokens were revoked. Audited as ``consumer.revoke`` or ``consumer.delete``."""
    async with sessions.begin() as session:
        if await consumer_repo.get(session, client_id) is None:
            raise AdminError(f"no consumer key {client_id!r}")
        revoked = await revoke_consumer(session, client_id, now=now, delete=delete)
        await audit.record(session, action="consumer.delete" if delete else "consumer.revoke", actor=actor, now=now,
                           target=client_id, detail={"tokens_revoked": revoked})
        return revoked


def token_dict(row: AccessToken, realm: str) -> dict[str, Any]:
    """What an admin may see of a token: never its value nor its hash."""
    return {"jti": row.jti, "client_id": row.client_id, "realm": realm, "scope": row.scope,
            "issued_at": row.issued_at, "expires_at": row.expires_at}


async def list_live_tokens(sessions: async_sessionmaker[AsyncSession], *, now: int,
                           realm_ids: frozenset[int] | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Unrevoked, unexpired tokens (of ``realm_ids`` if given), newest first, at most ``limit``."""
    query = (select(AccessToken, Realm.name).join(Realm, Realm.id == AccessToken.realm_id)
             .where(AccessToken.revoked_at.is_(None), AccessToken.expires_at > now)
             .order_by(AccessToken.issued_at.desc(), AccessToken.jti).limit(limit))
    if realm_ids is not None:
        query = query.where(AccessToken.realm_id.in_(list(realm_ids)))
    async with sessions() as session:
        return [token_dict(row, name) for row, name in (await session.execute(query)).all()]


async def token_realm(sessions: async_sessionmaker[AsyncSession], jti: str) -> int:
    """The realm id of token ``jti`` (for access checks)."""
    async with sessions() as session:
        row = await token_repo.by_jti(session, jti)
        if row is None:
            raise AdminError(f"no token {jti!r}")
        return row.realm_id


async def revoke_token_by_jti(sessions: async_sessionmaker[AsyncSession], jti: str, *, now: int,
                              actor: str = "cli") -> bool:
    """Revoke token ``jti`` (feed event and ``token.revoke`` audit event included); False if it
    was already revoked."""
    async with sessions.begin() as session:
        row = await token_repo.by_jti(session, jti)
        if row is None:
            raise AdminError(f"no token {jti!r}")
        return await revoke_token(session, row, now=now, actor=actor)
