"""The MCP Python SDK, unmodified, against the real AM and the example service over real sockets
(issue 12): its RFC 8414 and RFC 9728 models accept the AM's and the SP's metadata (the SDK
refused the AM's before, for want of ``authorization_endpoint``), and its ``OAuthClientProvider``
(an httpx2 ``Auth``) walks the whole flow by itself: 401 → protected-resource metadata → AS
metadata → dynamic registration as a public client → authorization code with PKCE and
``resource`` (a person approves in the dialog, driven over HTTP) → RFC 9207 ``iss`` checked by
the SDK → token → the retried request is served."""

from urllib.parse import parse_qs, urlsplit

import aiohttp
import httpx2
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthMetadata, OAuthToken
from mcp.shared.auth import ProtectedResourceMetadata

from adminkit import PASSWORD, jar, make_admin
from authmanager.serving import bound_socket, serve
from dialogkit import approve
from rs_middleware.example import create_example_app

REDIRECT = "http://127.0.0.1:33418/callback"


class Memory:
    """The SDK's ``TokenStorage`` protocol, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def _stack(am, clock):
    sock = bound_socket()
    resource = "http://127.0.0.1:%d/" % sock.getsockname()[1]
    realm = await am.create_realm("photos", resource=resource, scopes=["read", "write"])
    await am.add_policy("photos", "permit", ["read"])
    app = create_example_app(realm="photos", resource=resource, authorization_manager=am.issuer, sph=realm.sph,
                             sph_secret=realm.sph_secret, now=clock)
    return resource, app, sock


async def test_the_sdk_models_accept_the_am_and_sp_metadata(am, clock):
    resource, app, sock = await _stack(am, clock)
    async with serve(app, sock), aiohttp.ClientSession() as http:
        async with http.get(am.url("/.well-known/oauth-authorization-server")) as r:
            meta = OAuthMetadata.model_validate(await r.json())
        async with http.get(resource + ".well-known/oauth-protected-resource") as r:
            prm = ProtectedResourceMetadata.model_validate(await r.json())
    assert str(meta.authorization_endpoint) == am.issuer + "/authorize"
    assert meta.code_challenge_methods_supported == ["S256"] and meta.authorization_response_iss_parameter_supported
    assert "none" in (meta.token_endpoint_auth_methods_supported or [])
    assert [str(u).rstrip("/") for u in prm.authorization_servers] == [am.issuer]


async def test_oauth_client_provider_completes_the_flow_unmodified(am, clock):
    resource, app, sock = await _stack(am, clock)
    await make_admin(am, "alice")
    redirects: list[str] = []
    async with serve(app, sock), aiohttp.ClientSession(cookie_jar=jar()) as browser:

        async def redirect_handler(url: str) -> None:
            redirects.append(await approve(browser, url, name="alice", password=PASSWORD))

        async def callback_handler() -> AuthorizationCodeResult:
            query = parse_qs(urlsplit(redirects[-1]).query)
            return AuthorizationCodeResult(code=query["code"][0], state=query["state"][0], iss=query["iss"][0])

        storage = Memory()
        provider = OAuthClientProvider(
            server_url=resource + "photos/",
            client_metadata=OAuthClientMetadata(client_name="MCP client", redirect_uris=[REDIRECT],
                                                grant_types=["authorization_code", "refresh_token"],
                                                response_types=["code"], token_endpoint_auth_method="none",
                                                scope="read"),
            storage=storage, redirect_handler=redirect_handler, callback_handler=callback_handler)
        async with httpx2.AsyncClient(auth=provider, timeout=30) as client:
            response = await client.get(resource + "photos/")
        assert response.status_code == 200, response.text
        assert "photos" in response.json()
    assert len(redirects) == 1 and "iss=" in redirects[0]
    assert storage.tokens is not None and storage.tokens.refresh_token
    assert storage.client is not None and storage.client.token_endpoint_auth_method == "none"
