"""Authlib, an unmodified third-party OAuth client (``AsyncOAuth2Client`` over httpx), walks the
authorization-code flow with PKCE against the real AM over real sockets (issue 12, "done when"):
it registers as a public client (RFC 7591), builds the authorization URL itself, a person
approves one scope of two in the dialog (driven over HTTP by ``dialogkit.approve``), Authlib
exchanges the code, the example service answers 200, and Authlib's own refresh rotates the
refresh token; the rotated-out one, presented again, revokes the family (RFC 9700 §4.14.2)."""

import aiohttp
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.httpx_client.oauth2_client import OAuthError as AuthlibOAuthError

from adminkit import PASSWORD, jar, make_admin
from authmanager.serving import bound_socket, serve
from dialogkit import approve
from rs_middleware.example import create_example_app

REDIRECT = "http://127.0.0.1:53682/callback"  # RFC 8252 §7.3: the port may differ at run time


async def _introspect(http, am, realm, token):
    async with http.post(am.url("/introspect"), data={"token": token},
                         headers={"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}) as r:
        return await r.json()


async def test_authlib_authorization_code_pkce_refresh_rotation(am, clock):
    sock = bound_socket()
    resource = "http://127.0.0.1:%d/" % sock.getsockname()[1]
    realm = await am.create_realm("photos", resource=resource, scopes=["read", "write"])
    await am.add_policy("photos", "permit", ["read", "write"])
    await make_admin(am, "alice")
    sp = create_example_app(realm="photos", resource=resource, authorization_manager=am.issuer, sph=realm.sph,
                            sph_secret=realm.sph_secret, now=clock)
    async with serve(sp, sock), aiohttp.ClientSession(cookie_jar=jar()) as http:
        async with http.get(am.url("/.well-known/oauth-authorization-server")) as r:
            meta = await r.json()
        assert "S256" in meta["code_challenge_methods_supported"]
        async with http.post(meta["registration_endpoint"], json={
                "client_name": "Authlib app", "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                "application_type": "native"}) as r:
            assert r.status == 201, await r.text()
            registered = await r.json()
        assert registered["token_endpoint_auth_method"] == "none" and "client_secret" not in registered

        async with AsyncOAuth2Client(client_id=registered["client_id"], redirect_uri=REDIRECT,
                                     scope="read write", code_challenge_method="S256",
                                     token_endpoint_auth_method="none") as client:
            verifier = generate_token(48)
            url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                         resource=resource)
            location = await approve(http, url, name="alice", password=PASSWORD, scopes=["read"])
            assert location.startswith(REDIRECT + "?") and f"state={state}" in location
            token = await client.fetch_token(meta["token_endpoint"], authorization_response=location,
                                             code_verifier=verifier, resource=resource)
            assert token["token_type"].lower() == "bearer" and token["scope"] == "read"
            first_refresh = token["refresh_token"]

            async with http.get(resource + "photos/", headers={"Authorization": f"Bearer {token['access_token']}"}) as r:
                assert r.status == 200
            async with http.post(resource + "photos/", json={"title": "x"},
                                 headers={"Authorization": f"Bearer {token['access_token']}"}) as r:
                assert r.status == 403  # "write" was not approved

            # RFC 6749 §6: a refresh may not ask for a scope the person did not grant, and Authlib sends
            # the scope it was built with unless told otherwise: asked for "read write", it is refused.
            with pytest.raises(AuthlibOAuthError) as wider:
                await client.refresh_token(meta["token_endpoint"])
            assert wider.value.error == "invalid_scope"
            rotated = await client.refresh_token(meta["token_endpoint"], scope=token["scope"])
            assert rotated["refresh_token"] != first_refresh and rotated["access_token"] != token["access_token"]
            assert (await _introspect(http, am, realm, rotated["access_token"]))["active"] is True

            # The rotated-out refresh token again: invalid_grant, and the whole family is revoked.
            with pytest.raises(AuthlibOAuthError) as refused:
                await client.refresh_token(meta["token_endpoint"], refresh_token=first_refresh, scope="read")
            assert refused.value.error == "invalid_grant"
            assert (await _introspect(http, am, realm, rotated["access_token"])) == {"active": False}
            with pytest.raises(AuthlibOAuthError):
                await client.refresh_token(meta["token_endpoint"], refresh_token=rotated["refresh_token"], scope="read")
