"""RFC 8707 resource indicators: which realm a ``resource`` parameter names (issue 13 §4).

RFC 8707 §2: "The value of the resource parameter MUST be an absolute URI, as specified by
Section 4.3 of [RFC3986], that MAY include a query component but MUST NOT include a fragment
component. ... If the client omits the resource parameter when requesting authorization, the
authorization server MAY process the request with no specific resource or by using a
pre-defined default resource value." And: "the authorization server ... SHOULD use the
"invalid_target" error code when the requested resource is invalid, missing, unknown, or
malformed."

The one rule, used at the token endpoint (every grant) and at the authorization endpoint:

* ``resource`` is parsed and normalised exactly as a realm's resource URL is
  (:func:`authmanager.operations.resources.resource_key`): an absolute http(s) URL, no
  fragment, no user information, at most 2000 characters — and here also no query (a realm's
  resource has none, so a query names nothing a realm covers) and at most
  :data:`MAX_SEGMENTS` path segments. Anything else is ``invalid_target`` (malformed).
* The realm is the one whose resource URL **equals** the normalised ``resource``, or **lies
  above it at a path boundary**: realm ``http://h/photos/`` covers ``http://h/photos/1``;
  realm ``http://h/photos`` covers ``http://h/photos`` and ``http://h/photos/x`` but not
  ``http://h/photosx``. When several realms cover it, the **longest** (the most specific) wins.
  None covers it: ``invalid_target`` (unknown).
* The lookup is one indexed query: the candidate keys are the normalised URL itself and its
  prefixes at each ``/`` of the path (each with and without that ``/``), matched by
  ``realms.resource_key IN (...)`` (:func:`candidates`).

The token's ``aud`` stays the matched realm's own resource URL (RFC 8707 §2: the AS "can
audience-restrict" the token to it; RFC 9068 §3).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import InvalidTarget
from ..storage import realms as realm_repo
from ..storage.models import Realm
from .resources import resource_key

#: Path segments a ``resource`` may have (bounds the candidate list: 2 per segment, plus one).
MAX_SEGMENTS = 64
MALFORMED = ("resource must be an absolute http(s) URL without query, fragment or user information, "
             f"at most 2000 characters and {MAX_SEGMENTS} path segments (RFC 8707 §2)")
UNKNOWN = "no realm of this authorization server protects that resource (RFC 8707 §2)"


class Keyed(Protocol):
    @property
    def resource_key(self) -> str: ...


K = TypeVar("K", bound=Keyed)


def target_key(resource: str) -> str:
    """The normalised form of a ``resource`` parameter; :class:`InvalidTarget` if malformed."""
    try:
        key = resource_key(resource)
    except ValueError:
        raise InvalidTarget(MALFORMED) from None
    if _path_start(key) < 0 or key.count("/", _path_start(key)) > MAX_SEGMENTS:
        raise InvalidTarget(MALFORMED)
    return key


def _path_start(key: str) -> int:
    """Index of the path's first ``/`` in a normalised URL (``scheme://authority/...``)."""
    return key.find("/", key.find("://") + 3)


def candidates(key: str) -> tuple[str, ...]:
    """Every realm key that would cover ``key`` (a :func:`target_key` value): ``key`` itself and,
    for each ``/`` of its path, the prefix ending with it and the one ending just before it
    (the bare origin, which no realm key is, is left out).

    >>> candidates("http://h/photos/1")
    ('http://h/photos/1', 'http://h/', 'http://h/photos', 'http://h/photos/')
    """
    start = _path_start(key)
    out = [key]
    index = start
    while index >= 0:
        if index > start:
            out.append(key[:index])
        out.append(key[:index + 1])
        index = key.find("/", index + 1)
    return tuple(dict.fromkeys(out))


def covers(realm_key: str, key: str) -> bool:
    """Whether a realm whose resource key is ``realm_key`` covers the resource ``key``: equal, or
    a path prefix of it ending at a ``/`` boundary."""
    if not realm_key:
        return False
    return key == realm_key or key.startswith(realm_key if realm_key.endswith("/") else realm_key + "/")


def most_specific(rows: Iterable[K], key: str) -> K | None:
    """Of ``rows``, the one covering ``key`` with the longest resource key (None if none covers it)."""
    covering = [row for row in rows if covers(row.resource_key, key)]
    return max(covering, key=lambda row: len(row.resource_key)) if covering else None


async def find_realm(session: AsyncSession, key: str) -> Realm:
    """The realm a normalised ``resource`` names (one indexed query); :class:`InvalidTarget` if none."""
    realm = most_specific(await realm_repo.by_resource_keys(session, candidates(key)), key)
    if realm is None:
        raise InvalidTarget(UNKNOWN)
    return realm


async def require_within(session: AsyncSession, resource: str | None, *, realm_id: int,
                         granted: str | None = None) -> None:
    """RFC 8707 §2.2: a ``resource`` sent with a grant already made (a code, a refresh token, a
    ticket) must be one the grant was for: it names the grant's realm by the rule above, or is
    (normalised) the very resource the grant was made for. Else :class:`InvalidTarget`."""
    if resource is None:
        return
    key = target_key(resource)
    if granted is not None:
        try:
            if resource_key(granted) == key:
                return
        except ValueError:
            pass
    realm = most_specific(await realm_repo.by_resource_keys(session, candidates(key)), key)
    if realm is None or realm.id != realm_id:
        raise InvalidTarget("resource is not one the grant was made for (RFC 8707 §2.2)")
