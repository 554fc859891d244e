"""The verified-token cache, the revoked sets and ``GuardedVerifier`` (no I/O: keys loaded directly).

Time is an injected clock; signature checks are counted by ``JWKSVerifier.signature_checks``.
"""

from __future__ import annotations

import gc
import json
import secrets
import tracemalloc
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from rs_middleware import InvalidToken, JWKSVerifier
from rs_middleware.cache import TokenCache, token_key
from rs_middleware.guarded import FeedStale, GuardedVerifier
from rs_middleware.revocations import Revocations

T0 = 1_700_000_000
ISS, AUD = "https://am.example.com:8400", "https://photos.example.com:8080/"


class Clock:
    def __init__(self) -> None:
        self.t: float = T0

    def __call__(self) -> float:
        return self.t


def claims(i: int = 0, **over: Any) -> dict[str, Any]:
    ck = over.pop("client_id", f"ck-{i:019d}")
    base = {"iss": ISS, "sub": ck, "aud": AUD, "client_id": ck, "scope": "read write",
            "realm": "photos", "iat": T0, "exp": T0 + 300, "jti": f"jti-{i:018d}"}
    return {k: v for k, v in {**base, **over}.items() if v is not None}


KEY = ECKey.generate_key("P-256", parameters={"kid": "k1"})


def sign(**over: Any) -> str:
    return jwt.encode({"typ": "at+jwt", "alg": "ES256", "kid": "k1"}, claims(**over), KEY, algorithms=["ES256"])


def guarded(clock: Clock, *, leeway: int = 30, size: int = 100, realm: str = "photos",
            cache: TokenCache | None = None, **kw: Any) -> GuardedVerifier:
    jwks = JWKSVerifier(issuer=ISS, audience=AUD, realm=realm, jwks_uri="http://127.0.0.1:1/jwks.json",
                        session=None, leeway=leeway, now=clock)
    jwks.load_jwks({"keys": [KEY.as_dict(private=False)]})
    revocations = Revocations(now=clock, leeway=leeway)
    if cache is None:
        cache = TokenCache(max_entries=size, now=clock, leeway=leeway, revocations=revocations)
    return GuardedVerifier(jwks=jwks, cache=cache, **kw)


# --- hits cost a lookup, not a signature check ---------------------------------------------------


async def test_a_hit_is_served_only_to_the_realm_it_was_issued_for() -> None:
    """Issue 11, item 8: ``aud`` does not say which realm a token is for; ``realm`` does, on first
    sight and on a cache hit alike (here a cache holding what another realm's SP verified)."""
    clock = Clock()
    photos = guarded(clock)
    albums = guarded(clock, realm="albums", cache=photos.cache)  # same aud, other realm, one cache
    token = sign()
    assert (await photos.verify(token))["realm"] == "photos"
    with pytest.raises(InvalidToken, match="another realm"):
        await albums.verify(token)  # a hit: no signature check
    assert (photos.jwks.signature_checks, albums.jwks.signature_checks) == (1, 0)
    with pytest.raises(InvalidToken, match="another realm"):
        await guarded(clock, realm="albums").verify(token)  # first sight
    with pytest.raises(InvalidToken, match="missing claim: realm"):
        await photos.verify(sign(realm=None))
    assert await photos.verify(token) and photos.jwks.signature_checks == 2  # a hit (the 2nd check was the realm-less token)


async def test_repeat_requests_are_cache_hits_without_signature_checks() -> None:
    verifier = guarded(Clock())
    token = sign(cnf={"x5t#S256": "abc"}, aud=[AUD, "http://other/"])
    first = await verifier.verify(token)
    for _ in range(5):
        assert await verifier.verify(token) == first
    assert verifier.jwks.signature_checks == 1
    assert (verifier.cache.hits, verifier.cache.misses) == (5, 1)
    hit = await verifier.verify(token)
    hit["aud"].append("mutated")  # nested values are fresh copies: no shared state between hits
    assert (await verifier.verify(token))["aud"] == [AUD, "http://other/"]
    await verifier.verify(sign(jti="another"))
    assert verifier.jwks.signature_checks == 2


def test_the_cache_stores_only_a_digest_of_the_token() -> None:
    cache = TokenCache(now=Clock())
    token = sign()
    cache.put(token, claims())
    assert list(cache._entries) == [token_key(token)] and len(token_key(token)) == 32
    assert token not in repr(cache._entries) and token.split(".")[2] not in repr(cache._entries)


async def test_bad_tokens_are_never_cached() -> None:
    verifier = guarded(Clock())
    for bad in (sign(exp=T0 - 31), sign(jti=None), sign(client_id=None), sign()[:-4] + "AAAA"):
        for _ in range(2):
            with pytest.raises(InvalidToken):
                await verifier.verify(bad)
    assert len(verifier.cache) == 0 and verifier.jwks.signature_checks == 8


# --- expiry: exp is exclusive, with the verifier's leeway, to the second -------------------------


@pytest.mark.parametrize("leeway", [0, 30])
async def test_hit_expires_at_exactly_exp_plus_leeway(leeway: int) -> None:
    clock = Clock()
    verifier = guarded(clock, leeway=leeway)
    token = sign(exp=T0 + 100)
    await verifier.verify(token)
    clock.t = T0 + 100 + leeway - 0.001
    await verifier.verify(token)
    assert verifier.cache.hits == 1
    clock.t = T0 + 100 + leeway  # now >= exp + leeway: dead, and no signature check to learn it
    with pytest.raises(InvalidToken, match="token expired"):
        await verifier.verify(token)
    assert verifier.jwks.signature_checks == 1 and len(verifier.cache) == 0
    # First sight applies the very same rule (joserfc alone would accept exp == now - leeway).
    with pytest.raises(InvalidToken, match="token expired"):
        await verifier.verify(sign(exp=T0 + 100, jti="fresh-one"))
    clock.t -= 0.001
    await verifier.verify(sign(exp=T0 + 100, jti="fresh-two"))


# --- revocations ----------------------------------------------------------------------------------


async def test_hit_refused_after_token_revocation_and_at_first_sight() -> None:
    clock = Clock()
    verifier = guarded(clock)
    token, other = sign(jti="j1"), sign(jti="j2")
    await verifier.verify(token), await verifier.verify(other)
    verifier.cache.revocations.revoke_token("j1", T0 + 300)
    with pytest.raises(InvalidToken, match="token revoked"):
        await verifier.verify(token)  # the hit is refused (and evicted)...
    assert verifier.jwks.signature_checks == 2
    with pytest.raises(InvalidToken, match="token revoked"):
        await verifier.verify(token)  # ...and so is the full verification
    assert (await verifier.verify(other))["jti"] == "j2"


async def test_client_revocation_covers_tokens_issued_up_to_issued_before() -> None:
    clock = Clock()
    verifier = guarded(clock)
    old, edge, newer = sign(jti="a", iat=T0 - 10), sign(jti="b", iat=T0), sign(jti="c", iat=T0 + 1)
    other_client = sign(jti="d", client_id="someone-else", iat=T0 - 10)
    for token in (old, edge, newer, other_client):
        await verifier.verify(token)
    verifier.cache.revocations.revoke_client(claims()["client_id"], issued_before=T0, exp=T0 + 300)
    for token in (old, edge):
        with pytest.raises(InvalidToken, match="token revoked"):
            await verifier.verify(token)
    await verifier.verify(newer), await verifier.verify(other_client)


def test_revoked_sets_are_bounded_by_expiry_plus_leeway_and_only_widen() -> None:
    clock = Clock()
    revs = Revocations(now=clock, leeway=30)
    revs.revoke_token("j", T0 + 10)
    revs.revoke_token("j", T0 + 5)  # an older event does not shorten it
    revs.revoke_client("ck", issued_before=T0, exp=T0 + 20)
    revs.revoke_client("ck", issued_before=T0 - 50, exp=T0 + 40)  # union: iat <= T0 until T0+40
    revs.revoke_token("long-dead", T0 - 30)  # already expired (+ leeway): not even stored
    assert len(revs) == 2 and revs.reason("x", "ck", T0) and not revs.reason("x", "ck", T0 + 1)
    clock.t = T0 + 10 + 30 - 0.001
    assert revs.purge() == 0 and revs.reason("j", "-", 0)
    clock.t = T0 + 40
    assert revs.purge() == 1 and revs.reason("j", "-", 0) is None
    assert revs.reason("x", "ck", T0)  # client entry lives until T0 + 40 + 30
    clock.t = T0 + 70
    assert revs.purge() == 1 and len(revs) == 0 and not revs._heap


# --- the freshness gate ---------------------------------------------------------------------------


class Fallback:
    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def verify(self, token: str) -> dict[str, Any]:
        self.tokens.append(token)
        return {"active": True, "scope": "read"}


async def test_not_fresh_goes_to_the_fallback_or_fails_with_feed_stale() -> None:
    fresh, fallback = [False], Fallback()
    verifier = guarded(Clock(), fresh=lambda: fresh[0], fallback=fallback)
    token = sign()
    assert (await verifier.verify(token))["active"] is True
    assert verifier.jwks.signature_checks == 0 and len(verifier.cache) == 0
    fresh[0] = True
    await verifier.verify(token), await verifier.verify(token)
    assert fallback.tokens == [token] and verifier.cache.hits == 1
    fresh[0] = False  # stale again: cached entries are not trusted either
    await verifier.verify(token)
    assert len(fallback.tokens) == 2
    no_fallback = guarded(Clock(), fresh=lambda: False, retry_after=lambda: 3.2)
    with pytest.raises(FeedStale) as info:
        await no_fallback.verify(token)
    assert info.value.retry_after == 4


# --- bounds: entries and memory -------------------------------------------------------------------


def test_lru_eviction_keeps_the_bound() -> None:
    cache = TokenCache(max_entries=3, now=Clock())
    for i in range(3):
        cache.put(f"t{i}", claims(i))
    assert cache.get("t0") is not None  # t0 is now the most recently used
    cache.put("t3", claims(3))
    assert len(cache) == 3 and cache.evictions == 1
    assert cache.get("t1") is None and all(cache.get(t) for t in ("t0", "t2", "t3"))
    for i in range(4, 1000):
        cache.put(f"t{i}", claims(i))
    assert len(cache) == 3 and cache.evictions == 997
    disabled = TokenCache(max_entries=0, now=Clock())
    disabled.put("t", claims())
    assert len(disabled) == 0 and disabled.get("t") is None
    with pytest.raises(ValueError):
        TokenCache(max_entries=-1)


def test_100k_realistic_entries_fit_in_64_mb() -> None:
    """RFC 9068 claims as the AM mints them, decoded from JSON like a real token, all distinct:
    22-character jti and client_id (one client per token, the worst case), URL iss/aud."""
    n = 100_000
    cache = TokenCache(max_entries=n, now=Clock())
    pad = secrets.token_urlsafe(250)  # only the digest is kept: distinct prefixes suffice
    tokens = [f"eyJ{i:07d}.{pad}" for i in range(n)]
    payloads = [
        f'{{"iss": "{ISS}", "sub": "{ck}", "aud": "{AUD}", "client_id": "{ck}", "scope": "read write", '
        f'"realm": "photos", "iat": {T0 + i // 100}, "exp": {T0 + 900 + i // 100}, '
        f'"jti": "{secrets.token_urlsafe(16)}"}}'
        for i, ck in enumerate(secrets.token_urlsafe(16) for _ in range(n))
    ]
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for token, payload in zip(tokens, payloads):
            cache.put(token, json.loads(payload))
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        gc.enable()
    print(f"\n100k cache entries: {used / 2**20:.1f} MiB ({used / n:.0f} bytes/entry)")
    assert len(cache) == n
    assert used < 64 * 2**20
    assert cache.get(tokens[-1])["client_id"] == json.loads(payloads[-1])["client_id"]
