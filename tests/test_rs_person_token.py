"""Issue 12 §4: a person's token at a resource server protected by rs_middleware, against the
real AM: ``token_claims(request)["sub"]`` is the account's subject and ``client_id`` the
application, whether the SP verifies JWTs itself or introspects."""

import aiohttp
import pytest
from aiohttp import web

from authmanager.serving import bound_socket, serve
from codekit import account, code_form, make_code, post, public_client, subject
from rs_middleware import protect, requires, token_claims


@requires("read")
async def whoami(request: web.Request) -> web.Response:
    claims = token_claims(request)
    return web.json_response({"sub": claims.get("sub"), "client_id": claims.get("client_id")})


@pytest.mark.parametrize("mode", ["jwks", "introspection"])
async def test_token_claims_carry_the_persons_subject(am, clock, mode):
    sock = bound_socket()
    resource = "http://127.0.0.1:%d/" % sock.getsockname()[1]
    realm = await am.create_realm("photos", resource=resource, scopes=["read", "write"])
    app = web.Application()
    protect(app, realm="photos", resource=resource, authorization_manager=am.issuer, sph=realm.sph,
            sph_secret=realm.sph_secret, scopes=("read", "write"), mode=mode, now=clock)
    app.router.add_get("/me", whoami)
    person, client_id = await account(am), await public_client(am)
    code, verifier = await make_code(am, client_id=client_id, account_id=person, resource=resource)
    async with serve(app, sock) as url, aiohttp.ClientSession() as http:
        status, body, _ = await post(http, am, code_form(code, verifier, client_id))
        assert status == 200, body
        async with http.get(url + "/me", headers={"Authorization": f"Bearer {body['access_token']}"}) as r:
            assert r.status == 200
            assert await r.json() == {"sub": subject(am, person), "client_id": client_id}
