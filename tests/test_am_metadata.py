"""Step 3: AM metadata (RFC 8414) and the JWKS."""

import aiohttp


async def test_metadata_fields_come_from_the_configured_issuer(am):
    async with aiohttp.ClientSession() as http:
        async with http.get(am.url("/.well-known/oauth-authorization-server"),
                            headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"}) as r:
            assert r.status == 200
            doc = await r.json()
    assert doc["issuer"] == am.issuer
    for field, path in [("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"), ("registration_endpoint", "/register"),
                        ("introspection_endpoint", "/introspect"), ("revocation_endpoint", "/revoke"),
                        ("jwks_uri", "/jwks.json")]:
        assert doc[field] == am.issuer + path
    assert doc["grant_types_supported"] == [
        "authorization_code", "refresh_token", "client_credentials", "ticket",
        "urn:ietf:params:oauth:grant-type:uma-ticket"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "http_message_signature_hmac_sha256", "oauth1_hmac_sha256", "client_secret_jwt", "private_key_jwt", "none"}
    assert set(doc["token_endpoint_auth_signing_alg_values_supported"]) == {"HS256", "ES256", "EdDSA", "RS256", "PS256"}
    assert "none" in doc["revocation_endpoint_auth_methods_supported"]
    # Issue 12: what an OAuth 2.1 client (the MCP SDK, Authlib) needs to start a person's login.
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["client_id_metadata_document_supported"] is True
    assert "evil" not in str(doc)


async def test_scopes_supported_lists_realm_scopes(am):
    await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read", "write"])
    async with aiohttp.ClientSession() as http:
        async with http.get(am.url("/.well-known/oauth-authorization-server")) as r:
            assert (await r.json())["scopes_supported"] == ["read", "write"]


async def test_jwks_publishes_only_the_public_es256_key(am):
    async with aiohttp.ClientSession() as http:
        async with http.get(am.url("/jwks.json")) as r:
            assert r.status == 200
            keys = (await r.json())["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256" and key["kid"]
    assert "d" not in key
