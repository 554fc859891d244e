"""End to end over real sockets on 127.0.0.1: the real AM, the example service protected by
rs_middleware, and consumer_sdk — every step of the handshake, with both signature methods."""

import asyncio
import json
import os
import stat
import sys

import aiohttp
import pytest

from amkit import counts
from authmanager.serving import bound_socket, serve
from consumer_sdk import MemoryStore, ProtectServeAuth
from rs_middleware.example import create_example_app

HANDSHAKE = ["challenge", "resource_metadata", "am_metadata", "register", "token", "retry"]


class Stack:
    def __init__(self, am, realm, sp_url):
        self.am, self.realm, self.sp = am, realm, sp_url


async def _start_sp(am, clock, name, *, mode="jwks", scopes=("read",)):
    sock = bound_socket()
    resource = "http://127.0.0.1:%d/" % sock.getsockname()[1]
    realm = await am.create_realm(name, resource=resource, scopes=["read", "write"])
    await am.add_policy(name, "permit", list(scopes))
    app = create_example_app(realm=name, resource=resource, authorization_manager=am.issuer, sph=realm.sph,
                             sph_secret=realm.sph_secret, mode=mode, now=clock)
    return realm, app, sock


@pytest.fixture
async def stack(am, clock):
    realm, app, sock = await _start_sp(am, clock, "photos")
    async with serve(app, sock) as url:
        yield Stack(am, realm, url + "/")


def auth(signature="rfc9421", steps=None, scopes=("read",)):
    return ProtectServeAuth(store=MemoryStore(), client_name="e2e", scopes=list(scopes), signature_method=signature,
                            on_step=(steps.append if steps is not None else None))


@pytest.mark.parametrize("signature", ["rfc9421", "rfc5849"])
async def test_full_handshake(stack, signature):
    steps = []
    async with aiohttp.ClientSession(middlewares=[auth(signature, steps)]) as http:
        async with http.get(stack.sp + "photos/") as r:
            assert r.status == 200
            assert "photos" in await r.json()
        async with http.get(stack.sp + "photos/1") as r:
            assert r.status == 200
    assert [s.name for s in steps] == HANDSHAKE + ["request"]
    assert [s.status for s in steps] == [401, 200, 200, 201, 200, 200, 200]
    assert (await counts(stack.am))["access_tokens"] == 1


async def test_challenge_names_realm_and_metadata_from_configuration(stack):
    async with aiohttp.ClientSession() as http:
        async with http.get(stack.sp + "photos/", headers={"Host": "evil.example"}) as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"] == (
                f'Bearer realm="photos", resource_metadata="{stack.sp}.well-known/oauth-protected-resource", '
                'scope="read"')
        async with http.get(stack.sp + ".well-known/oauth-protected-resource") as r:
            doc = await r.json()
    assert doc == {"resource": stack.sp, "authorization_servers": [stack.am.issuer],
                   "scopes_supported": ["read", "write"], "bearer_methods_supported": ["header"],
                   "resource_name": doc["resource_name"], "realm": "photos", "sph": stack.realm.sph}


async def _token(stack, scopes=("read",)):
    store = MemoryStore()
    async with aiohttp.ClientSession(middlewares=[ProtectServeAuth(store=store, scopes=list(scopes))]) as http:
        async with http.get(stack.sp + "photos/") as r:
            assert r.status == 200
    return next(iter(store.tokens())).access_token


async def test_expired_token_is_invalid_token(stack, clock):
    token = await _token(stack)
    clock.advance(900 + 31)  # past exp plus the middleware's leeway
    async with aiohttp.ClientSession() as http:
        async with http.get(stack.sp + "photos/", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 401
            assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


async def test_missing_scope_is_403_insufficient_scope(stack):
    token = await _token(stack)
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.sp + "photos/", json={"title": "x"},
                             headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 403
            challenge = r.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="write"' in challenge


async def test_token_for_another_realm_is_rejected(stack, clock):
    realm2, app2, sock2 = await _start_sp(stack.am, clock, "notes")
    async with serve(app2, sock2) as url2:
        other_token = await _token(Stack(stack.am, realm2, url2 + "/"))
    async with aiohttp.ClientSession() as http:
        async with http.get(stack.sp + "photos/", headers={"Authorization": f"Bearer {other_token}"}) as r:
            assert r.status == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]


async def test_introspection_mode_sees_revocation(am, clock):
    realm, app, sock = await _start_sp(am, clock, "albums", mode="introspection")
    async with serve(app, sock) as url:
        stack = Stack(am, realm, url + "/")
        token = await _token(stack)
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(stack.sp + "photos/1", headers=headers) as r:
                assert r.status == 200
            basic = {"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}
            async with http.post(am.url("/revoke"), data={"token": token}, headers=basic) as r:
                assert r.status == 200
            async with http.get(stack.sp + "photos/1", headers=headers) as r:
                assert r.status == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]


async def test_consumer_cli_walks_the_handshake_with_a_0600_store(stack, tmp_path):
    store = tmp_path / "cfg" / "credentials.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "consumer_sdk", "get", stack.sp + "photos/", "--scope", "read", "-v",
        "--store", str(store), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "photos" in json.loads(out)
    for name in HANDSHAKE:
        assert name in err.decode()
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    saved = store.read_text()
    assert (await counts(stack.am))["consumers"] == 1 and "client_secret" in saved


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_forged_tokens_against_the_real_am_keys_never_reach_the_handler(stack):
    """alg=none and HS256 keyed with the AM's published public key, built from a real token's claims."""
    import hashlib
    import hmac

    from joserfc.jwk import ECKey

    good = await _token(stack)
    claims_b64 = good.split(".")[1]
    jwk = stack.am.ctx.keyring.jwks()["keys"][0]
    public_pem = ECKey.import_key(jwk).as_pem(private=False)
    forged = []
    for alg in ("none", "None", "NONE"):
        header = _b64(json.dumps({"alg": alg, "typ": "at+jwt", "kid": jwk["kid"]}).encode())
        forged.append(f"{header}.{claims_b64}.")
    header = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": jwk["kid"]}).encode())
    for secret in (public_pem, json.dumps(jwk).encode()):
        mac = hmac.new(secret, f"{header}.{claims_b64}".encode(), hashlib.sha256).digest()
        forged.append(f"{header}.{claims_b64}.{_b64(mac)}")
    async with aiohttp.ClientSession() as http:
        for token in forged:
            async with http.get(stack.sp + "photos/", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"], token
        async with http.get(stack.sp + "photos/", headers={"Authorization": f"Bearer {good}"}) as r:
            assert r.status == 200  # the same claims, honestly signed, pass


async def test_grasshopper_key_in_one_call_serves_a_worker_without_the_master_secret(stack):
    from consumer_sdk import mint_grasshopper

    master_store = MemoryStore()
    async with aiohttp.ClientSession(middlewares=[ProtectServeAuth(store=master_store, scopes=["read"])]) as http:
        async with http.get(stack.sp + "photos/") as r:
            assert r.status == 200
        master = master_store.get_client(stack.am.issuer)
        sub = await mint_grasshopper(http, issuer=stack.am.issuer, parent=master, ttl=300, scope=["read"])
    assert sub.parent_client_id == master.client_id and sub.client_id != master.client_id
    steps = []
    worker = ProtectServeAuth(store=sub.store(), scopes=["read"], on_step=steps.append)
    async with aiohttp.ClientSession(middlewares=[worker]) as http:
        async with http.get(stack.sp + "photos/1") as r:
            assert r.status == 200
    assert "register" not in [s.name for s in steps]  # it used the sub-key, not a new registration
    token = next(s for s in steps if s.name == "token")
    assert token.detail["client_id"] == sub.client_id and token.detail["expires_in"] <= 300
