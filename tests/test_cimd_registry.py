"""Issue 12 §6: client ID metadata documents as the authorization and token endpoints meet
them — through ``ctx.clients.find`` in a running AM, fetched over real sockets from a client's
site on 127.0.0.1 (``allow_private_targets``), with the AM's injected clock."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from bobkit import CountingListener
from conftest import Clock, running_am

from authmanager.errors import ClientMetadataDocumentError
from authmanager.serving import bound_socket, serve


class Site:
    """A client's web site serving its metadata document (``docs[path]``), counting fetches."""

    def __init__(self) -> None:
        self.base = ""
        self.docs: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
        self.hits: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        doc, headers = self.docs[request.path]
        return web.json_response(doc, headers=headers)

    def serve(self, path: str, headers: dict[str, str] | None = None, **change: Any) -> str:
        url = self.base + path
        doc = {"client_id": url, "client_name": "Photo Printer", "logo_uri": "https://printer.example/logo.png",
               "client_uri": "https://printer.example/", "token_endpoint_auth_method": "none",
               "redirect_uris": ["https://printer.example/cb", "http://127.0.0.1/callback"],
               "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], **change}
        self.docs[path] = ({k: v for k, v in doc.items() if v is not None}, headers or {})
        return url


@pytest.fixture
async def site():
    s = Site()
    app = web.Application()
    app.router.add_get("/{tail:.*}", s.handle)
    async with serve(app, bound_socket()) as base:
        s.base = base
        yield s


@pytest.fixture
async def am(database_url: str, clock: Clock, tmp_path: Path):
    clock.freeze()
    async with running_am(database_url, clock, tmp_path, allow_private_targets=True) as handle:
        yield handle


async def refused(am: Any, url: str) -> str:
    with pytest.raises(ClientMetadataDocumentError) as caught:
        await am.ctx.clients.find(url)
    assert caught.value.client_id == url and caught.value.error == "invalid_client"
    return caught.value.reason


async def test_a_document_is_fetched_through_the_registry(am, site):
    url = site.serve("/client.json")
    client = await am.ctx.clients.find(url)
    assert client is not None and site.hits["/client.json"] == 1
    assert (client.client_id, client.source, client.public) == (url, "metadata_document", True)
    assert client.redirect_uris == ("https://printer.example/cb", "http://127.0.0.1/callback")
    assert (client.client_name, client.logo_uri, client.client_uri) == (
        "Photo Printer", "https://printer.example/logo.png", "https://printer.example/")
    assert client.grant_types == ("authorization_code", "refresh_token")
    assert client.verified_origin == "127.0.0.1"  # the host of the client ID URL, not of a redirect URI


async def test_a_document_naming_another_client_id_is_refused(am, site):
    url = site.serve("/client.json", client_id=site.base + "/other.json")
    assert "is not the URL it was fetched from" in await refused(am, url)
    url = site.serve("/slash.json")
    site.docs["/slash.json"][0]["client_id"] = url + "/"  # no normalisation: simple string comparison
    assert "is not the URL it was fetched from" in await refused(am, url)


@pytest.mark.parametrize(("method", "reason"), [
    ("client_secret_basic", "needs a shared secret"),
    ("client_secret_post", "needs a shared secret"),
    ("private_key_jwt", "is not supported by this authorization server yet"),
    ("http_message_signature_hmac_sha256", "is not supported; use none"),
])
async def test_a_document_with_an_auth_method_other_than_none_is_refused(am, site, method, reason):
    """Only public clients (``none``, PKCE) come from documents until client assertions arrive
    (issue 13: ``private_key_jwt`` with ``jwks``): a document cannot establish a shared secret."""
    url = site.serve("/client.json", token_endpoint_auth_method=method)
    assert reason in await refused(am, url)


async def test_a_document_is_not_refetched_within_its_max_age(am, site):
    url = site.serve("/client.json", headers={"Cache-Control": "max-age=600"})
    first = await am.ctx.clients.find(url)
    am.clock.advance(599)
    assert await am.ctx.clients.find(url) is first and site.hits["/client.json"] == 1
    site.serve("/client.json", headers={"Cache-Control": "max-age=600"}, client_name="Renamed")
    assert (await am.ctx.clients.find(url)).client_name == "Photo Printer"  # the change waits
    am.clock.advance(1)
    again = await am.ctx.clients.find(url)
    assert again.client_name == "Renamed" and site.hits["/client.json"] == 2


async def test_cache_lifetimes_are_bounded(am, site):
    url = site.serve("/client.json", headers={"Cache-Control": "max-age=1000000000"})
    await am.ctx.clients.find(url)
    am.clock.advance(3600)  # max_ttl
    await am.ctx.clients.find(url)
    assert site.hits["/client.json"] == 2
    url = site.serve("/nostore.json", headers={"Cache-Control": "no-store"})
    await am.ctx.clients.find(url)
    am.clock.advance(59)  # min_ttl: one authorization does not fetch three times
    await am.ctx.clients.find(url)
    assert site.hits["/nostore.json"] == 1


async def test_a_failure_is_backed_off_for_ten_seconds_then_retried(am, site):
    url = site.serve("/client.json", redirect_uris=["http://printer.example/cb"])
    first = await refused(am, url)
    site.serve("/client.json")  # fixed at once...
    am.clock.advance(9)
    assert await refused(am, url) == first and site.hits["/client.json"] == 1  # ...but not fetched again yet
    am.clock.advance(1)
    assert (await am.ctx.clients.find(url)).client_id == url and site.hits["/client.json"] == 2


@pytest.mark.parametrize(("template", "reason"), [
    ("https://127.0.0.1:{port}/client.json", "refused to connect to 127.0.0.1 (loopback)"),
    ("https://localhost:{port}/client.json", "resolves only to"),  # a name resolving to loopback
    ("https://10.0.0.1:{port}/client.json", "(private)"),
])
async def test_private_targets_are_refused_without_allow_private_targets(database_url, clock, tmp_path,
                                                                          template, reason):
    async with CountingListener() as listener, running_am(database_url, clock, tmp_path) as am:
        url = template.format(port=listener.port)
        assert am.ctx.clients.names_document(url)
        assert reason in await refused(am, url)
    assert listener.connections == 0


async def test_loopback_http_is_a_client_id_url_only_with_private_targets_allowed(database_url, clock, tmp_path,
                                                                                  site):
    url = site.serve("/client.json")
    async with running_am(database_url, clock, tmp_path) as strict:
        assert not strict.ctx.clients.names_document(url)
        assert await strict.ctx.clients.find(url) is None  # no such consumer key; nothing fetched
    assert site.hits["/client.json"] == 0


async def test_a_document_larger_than_the_size_cap_is_refused(am, site):
    url = site.serve("/client.json", padding="x" * 6000)
    assert len(json.dumps(site.docs["/client.json"][0])) > 5 * 1024
    assert await refused(am, url) == "could not be fetched: response larger than 5120 bytes"
