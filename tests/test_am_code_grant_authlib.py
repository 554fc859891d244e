"""Interop: Authlib's ``AsyncOAuth2Client`` (an unmodified third-party client, public, PKCE S256)
exchanges a code the dialog issued and refreshes with rotation, against the real AM."""

import aiohttp
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.httpx_client.oauth2_client import OAuthError

from sqlalchemy import select

from authmanager.authorize import codes
from authmanager.secretbox import random_secret
from authmanager.storage.models import AuthorizationCode
from codekit import REDIRECT, RESOURCE, account, claims, introspect, public_client, realm_id, subject


async def test_authlib_public_client_exchanges_and_refreshes(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    person, client_id = await account(am), await public_client(am)
    verifier = random_secret(48)
    async with AsyncOAuth2Client(client_id=client_id, token_endpoint_auth_method="none", redirect_uri=REDIRECT,
                                 code_challenge_method="S256") as oauth:
        url, _ = oauth.create_authorization_url(am.url("/authorize"), code_verifier=verifier)
        challenge = dict(pair.split("=", 1) for pair in url.split("?", 1)[1].split("&"))["code_challenge"]
        rid = await realm_id(am, "photos")
        async with am.ctx.sessions.begin() as session:
            code = await codes.issue(session, client_id=client_id, account_id=person, realm_id=rid,
                                     redirect_uri=REDIRECT, code_challenge=challenge, resource=RESOURCE,
                                     scopes=["read", "write"], now=int(am.clock()))
        token = await oauth.fetch_token(am.url("/token"), grant_type="authorization_code", code=code,
                                        code_verifier=verifier)
        assert token["token_type"] == "Bearer" and token["refresh_token"]
        first_refresh = token["refresh_token"]
        rotated = await oauth.refresh_token(am.url("/token"), refresh_token=first_refresh)
        assert rotated["refresh_token"] != first_refresh
        with pytest.raises(OAuthError) as refused:
            await oauth.refresh_token(am.url("/token"), refresh_token=first_refresh)
        assert refused.value.error == "invalid_grant"
    async with aiohttp.ClientSession() as http:
        _, got = await claims(http, am, token["access_token"])
        assert got["sub"] == subject(am, person) and got["client_id"] == client_id
        assert await introspect(http, am, realm, rotated["access_token"]) == {"active": False}  # reuse: family gone
    async with am.ctx.sessions() as session:
        assert await session.scalar(select(AuthorizationCode.used_at)) is not None
