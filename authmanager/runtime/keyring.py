"""The signing-key ring and its rotation.

A key's state is derived from two times, so every AM process agrees without coordination:

* **staged** — published in the JWKS, not yet signing (``now < activates_at``);
* **active** — the most recently activated key; it signs;
* **retiring** — superseded, still published until ``retires_at`` (its successor's activation
  plus the longest token lifetime), so every token it signed can still be verified;
* **retired** — no longer published.

``authmanager keys rotate`` stages a successor with a delay; resource servers learn of it from
the JWKS (and a ``keys_changed`` feed event) before it signs anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..secretbox import SecretBox, random_secret
from ..storage import events as event_repo
from ..storage import keys as key_repo
from ..storage.models import SigningKey

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1


def key_state(row: SigningKey, *, now: int, signing_kid: str | None) -> str:
    if row.retires_at is not None and row.retires_at <= now:
        return "retired"
    if row.activates_at > now:
        return "staged"
    return "active" if row.kid == signing_kid else "retiring"


def signing_row(rows: list[SigningKey], now: int) -> SigningKey | None:
    """The key that signs at ``now``: the latest one already activated and not retired."""
    live = [r for r in rows if r.activates_at <= now and (r.retires_at is None or r.retires_at > now)]
    return max(live, key=lambda r: (r.activates_at, r.created_at)) if live else None


@dataclass(frozen=True, slots=True)
class _Entry:
    kid: str
    activates_at: int
    retires_at: int | None
    key: ECKey
    public_jwk: dict[str, Any]


class KeyRing:
    """Published keys, parsed once. Signing picks the active key for the current time."""

    def __init__(self, rows: list[tuple[SigningKey, ECKey]]):
        if not rows:
            raise ValueError("key ring is empty")
        self._entries = sorted(
            (_Entry(r.kid, r.activates_at, r.retires_at, k, r.public_jwk) for r, k in rows),
            key=lambda e: e.activates_at,
        )

    def _signer(self, now: int) -> _Entry:
        for entry in reversed(self._entries):
            if entry.activates_at <= now:
                return entry
        return self._entries[0]

    def kid(self, now: int) -> str:
        return self._signer(now).kid

    def jwks(self, now: int | None = None) -> dict[str, Any]:
        keys = [e.public_jwk for e in self._entries if now is None or e.retires_at is None or e.retires_at > now]
        return {"keys": keys}

    def sign(self, claims: dict[str, Any], *, now: int) -> str:
        entry = self._signer(now)
        return jwt.encode({"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": entry.kid}, claims, entry.key)

    @classmethod
    async def load(cls, sessions: async_sessionmaker[AsyncSession], box: SecretBox, *, now: int) -> "KeyRing":
        """Load published keys, creating the first key if there is none."""
        async with sessions.begin() as session:
            rows = await key_repo.published(session, now=now)
            if signing_row(rows, now) is None:
                rows.append(await create_key(session, box, now=now, activates_at=now))
            return cls([(row, import_private(box, row)) for row in rows])


def import_private(box: SecretBox, row: SigningKey) -> ECKey:
    return ECKey.import_key(box.open(row.private_sealed, aad=row.kid), parameters={"kid": row.kid})


async def create_key(session: AsyncSession, box: SecretBox, *, now: int, activates_at: int) -> SigningKey:
    kid = random_secret(12)
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": ALGORITHM, "use": "sig"}, private=True)
    row = SigningKey(
        kid=kid, alg=ALGORITHM, private_sealed=box.seal(key.as_pem(private=True), aad=kid),
        public_jwk=key.as_dict(private=False), created_at=now, activates_at=activates_at,
    )
    await key_repo.add(session, row)
    return row


async def rotate(session: AsyncSession, box: SecretBox, *, now: int, delay: int, max_token_ttl: int) -> SigningKey:
    """Stage a successor that signs from ``now + delay``; schedule the current keys' retirement for
    when the last token they can sign has expired."""
    rows = await key_repo.published(session, now=now)
    new = await create_key(session, box, now=now, activates_at=now + delay)
    for row in rows:
        retire = new.activates_at + max_token_ttl
        if row.retires_at is None or row.retires_at > retire:
            row.retires_at = retire
    await event_repo.append(session, kind="keys_changed", realm_id=None, exp=new.activates_at + max_token_ttl,
                            now=now)
    return new
