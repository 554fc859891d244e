"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): the URL rules,
the reading of a document, the fetch through the SSRF guard with its caps, and the cache.

Documents are served by a real aiohttp server on 127.0.0.1, which counts the requests each path
gets; the fetcher runs with ``allow_private_targets`` (and the tripwire, so nothing but loopback
could ever be reached), except in the SSRF tests, which use the strict policy and a counting
listener. Time is the frozen ``clock`` fixture, moved by hand.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

import pytest
from aiohttp import web
from bobkit import CountingListener, Tripwire
from multidict import CIMultiDict

from authmanager.clients import ClientInfo
from authmanager.clients.cimd import (
    MetadataDocuments,
    is_client_id_url,
    lifetime,
    read_document,
)
from authmanager.errors import ClientMetadataDocumentError
from authmanager.serving import bound_socket, serve

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Site:
    """A client's web site: ``document`` or ``route`` what a path answers, ``hits`` counts."""

    def __init__(self) -> None:
        self.base = ""
        self.routes: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.accept: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        self.accept.append(request.headers.get("Accept", ""))
        return await self.routes[request.path](request)

    def route(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.base + path

    def respond(self, path: str, body: bytes, *, status: int = 200, content_type: str = "application/json",
                headers: dict[str, str] | None = None) -> str:
        async def answer(request: web.Request) -> web.Response:
            return web.Response(status=status, body=body, headers={"Content-Type": content_type, **(headers or {})})

        return self.route(path, answer)

    def document(self, path: str, change: Callable[[str], dict[str, Any]] | None = None, *,
                 headers: dict[str, str] | None = None, content_type: str = "application/json") -> str:
        """Serve a good document naming its own URL, or ``change(url)`` instead."""
        url = self.base + path
        doc = change(url) if change else good(url)
        return self.respond(path, json.dumps(doc).encode(), headers=headers, content_type=content_type)


def good(url: str, **extra: Any) -> dict[str, Any]:
    return {"client_id": url, "client_name": "Photo Printer", "logo_uri": "https://printer.example/logo.png",
            "client_uri": "https://printer.example/", "token_endpoint_auth_method": "none",
            "redirect_uris": ["https://printer.example/cb", "http://127.0.0.1/callback"], **extra}


@pytest.fixture
async def site():
    s = Site()
    app = web.Application()
    app.router.add_get("/{tail:.*}", s.handle)
    async with serve(app, bound_socket()) as base:
        s.base = base
        yield s


@pytest.fixture
async def documents(clock):
    clock.freeze()
    async with MetadataDocuments(allow_private_targets=True, now=clock, make_socket=Tripwire()) as docs:
        yield docs


async def refusal(documents: MetadataDocuments, url: str) -> ClientMetadataDocumentError:
    with pytest.raises(ClientMetadataDocumentError) as caught:
        await documents.get(url)
    error = caught.value
    assert error.client_id == url and error.status_code == 400
    assert error.body() == {"error": "invalid_client", "error_description": str(error)}
    assert str(error).isascii() and str(error).isprintable()  # one line, safe to log and to show
    return error


# --- the document --------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "application/oauth-client-metadata+json"])
async def test_a_good_document_becomes_the_client_info_the_dialog_uses(site, documents, content_type):
    url = site.document("/client.json", content_type=content_type)
    info = await documents.get(url)
    assert info == ClientInfo(
        client_id=url, client_name="Photo Printer",
        redirect_uris=("https://printer.example/cb", "http://127.0.0.1/callback"), auth_method="none",
        grant_types=("authorization_code",), logo_uri="https://printer.example/logo.png",
        client_uri="https://printer.example/", source="metadata_document")
    assert info.public and info.verified_origin == "127.0.0.1"  # the client ID URL's host, not a redirect URI's
    assert site.accept == ["application/json"]


@pytest.mark.parametrize("named", [
    lambda url: url + "/",  # a different string for what may be the same resource
    lambda url: url.replace("127.0.0.1", "localhost"),
    lambda url: url.upper(),
    lambda url: None,
    lambda url: [url],
])
async def test_the_document_must_name_exactly_the_url_it_was_fetched_from(site, documents, named):
    url = site.document("/client.json", lambda u: {**good(u), "client_id": named(u)})
    assert "is not the URL it was fetched from" in (await refusal(documents, url)).reason
    no_id = site.document("/anonymous.json", lambda u: {k: v for k, v in good(u).items() if k != "client_id"})
    assert "is not the URL it was fetched from" in (await refusal(documents, no_id)).reason


SECRET = "do-not-echo-this-body"


@pytest.mark.parametrize(("status", "content_type", "body", "reason"), [
    (404, "application/json", b"{}", "answered HTTP 404, not 200"),
    (500, "text/plain", SECRET.encode(), "answered HTTP 500, not 200"),
    (200, "text/html", f"<p>{SECRET}</p>".encode(), "is served as text/html, not application/json"),
    (200, "text/plain", b'{"client_id": "x"}', "is served as text/plain"),
    (200, "application/json", f"not json {SECRET}".encode(), "is not valid JSON"),
    (200, "application/json", b"\xff\xfe{}", "is not valid JSON"),  # not UTF-8
    (200, "application/json", b'{"a": NaN}', "is not valid JSON"),
    (200, "application/json", b"[" * 2500 + b"]" * 2500, "is not valid JSON"),  # nesting beyond recursion
    (200, "application/json", f'["{SECRET}"]'.encode(), "is not a JSON object"),
    (200, "application/json", b'"a string"', "is not a JSON object"),
])
async def test_anything_but_a_json_object_served_with_200_is_refused(site, documents, status, content_type,
                                                                     body, reason):
    url = site.respond("/client.json", body, status=status, content_type=content_type)
    error = await refusal(documents, url)
    assert reason in error.reason
    assert SECRET not in str(error) and len(str(error)) <= 520


@pytest.mark.parametrize(("change", "reason"), [
    (lambda u: {**good(u), "redirect_uris": None}, "redirect_uris must be a list"),
    (lambda u: {k: v for k, v in good(u).items() if k != "redirect_uris"}, "redirect_uris must be a list"),
    (lambda u: {**good(u), "redirect_uris": []}, "redirect_uris must be a list"),
    (lambda u: {**good(u), "redirect_uris": ["http://printer.example/cb"]}, "must be https, or http on a loopback"),
    (lambda u: {**good(u), "redirect_uris": ["https://printer.example/cb#x"]}, "has a fragment"),
    (lambda u: {**good(u), "redirect_uris": ["https://user@printer.example/cb"]}, "user information"),
    (lambda u: {**good(u), "client_secret": "s3cret"}, "contains client_secret, which a metadata document MUST NOT"),
    (lambda u: {**good(u), "client_secret_expires_at": 0}, "contains client_secret_expires_at"),
    (lambda u: {**good(u), "token_endpoint_auth_method": "client_secret_basic"}, "needs a shared secret"),
    (lambda u: {**good(u), "token_endpoint_auth_method": "client_secret_post"}, "needs a shared secret"),
    (lambda u: {**good(u), "token_endpoint_auth_method": "client_secret_jwt"}, "needs a shared secret"),
    (lambda u: {**good(u), "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://p.example/jwks"},
     "private_key_jwt (keys in jwks or jwks_uri) is not supported by this authorization server yet"),
])
async def test_bad_redirect_uris_forbidden_fields_and_secret_methods_are_refused(site, documents, change, reason):
    url = site.document("/client.json", change)
    error = await refusal(documents, url)
    assert reason in error.reason
    assert "s3cret" not in str(error)


async def test_duplicate_member_names_are_refused(site, documents):
    """Two parsers could read two different documents: one that keeps the first ``client_id``, one
    that keeps the last."""
    url = site.base + "/client.json"
    body = json.dumps(good(url))[:-1] + ', "client_id": "https://bank.example/client.json"}'
    site.respond("/client.json", body.encode())
    assert "duplicate member names" in (await refusal(documents, url)).reason


async def test_a_redirect_is_not_followed(site, documents):
    target = site.document("/real.json")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(target)

    url = site.route("/client.json", moved)
    assert "answered HTTP 302, not 200 (redirects are not followed)" in (await refusal(documents, url)).reason
    assert site.hits == {"/client.json": 1}  # the target was never asked


def test_reading_the_fields_of_a_document():
    url = "https://printer.example/client.json"
    minimal = read_document(url, {"client_id": url, "redirect_uris": ["https://printer.example/cb"]})
    assert (minimal.client_name, minimal.auth_method, minimal.grant_types, minimal.logo_uri) == \
        ("printer.example", "none", ("authorization_code",), None)
    assert read_document(url, {**good(url), "client_name": "   "}).client_name == "printer.example"
    # Grants this AM does not serve such a client (VS Code's document lists device_code) are left out.
    vscode = read_document(url, {**good(url), "grant_types": [
        "authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
        "response_types": ["code"], "application_type": "native"})
    assert vscode.grant_types == ("authorization_code", "refresh_token")
    loopback_logo = {**good(url), "logo_uri": "http://127.0.0.1:8000/logo.png"}
    assert read_document(url, loopback_logo, allow_private_targets=True).logo_uri == "http://127.0.0.1:8000/logo.png"
    refused = [
        ({"client_name": "Printer \u202egnp.exe"}, "client_name contains control, format"),
        ({"client_name": "Zero\u200bwidth"}, "client_name contains control, format"),
        ({"client_name": "P" * 101}, "client_name is longer than 100 characters"),
        ({"client_name": ["Printer"]}, "client_name must be a string"),
        ({"logo_uri": "http://printer.example/logo.png"}, "logo_uri must be an https URL"),
        ({"logo_uri": "http://127.0.0.1:8000/logo.png"}, "logo_uri must be an https URL"),  # not allowed here
        ({"logo_uri": "javascript:alert(1)"}, "logo_uri must be an https URL"),
        ({"logo_uri": "https://bank.example@evil.example/logo.png"}, "logo_uri must be an https URL"),
        ({"logo_uri": "https://printer.example/" + "l" * 2000}, "logo_uri must be a URL of at most 2000"),
        ({"client_uri": "data:text/html,hi"}, "client_uri must be an https URL"),
        ({"client_uri": 7}, "client_uri must be a URL"),
        ({"grant_types": ["refresh_token"]}, "grant_types must include authorization_code"),
        ({"grant_types": "authorization_code"}, "grant_types must be a non-empty list of strings"),
        ({"grant_types": []}, "grant_types must be a non-empty list of strings"),
        ({"response_types": ["token"]}, "response_types must include code"),
        ({"token_endpoint_auth_method": ["none"]}, "token_endpoint_auth_method must be a string"),
        ({"token_endpoint_auth_method": "tls_client_auth"}, "tls_client_auth is not supported; use none"),
    ]
    for change, reason in refused:
        with pytest.raises(ClientMetadataDocumentError) as caught:
            read_document(url, {**good(url), **change})
        assert reason in caught.value.reason, (change, caught.value.reason)
    with pytest.raises(ClientMetadataDocumentError, match="is not the URL") as caught:
        read_document(url, {**good(url), "client_id": "x" * 5000})
    assert len(str(caught.value)) <= 520


# --- the client ID URL ---------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "https://printer.example/client.json",
    "https://printer.example:8443/oauth/client",  # "MAY contain a port"
    "https://printer.example/a/b/c",
    "https://printer.example/a%2Fb",
])
def test_client_id_urls(url):
    assert is_client_id_url(url) and is_client_id_url(url, allow_private_targets=True)


@pytest.mark.parametrize("url", [
    "http://printer.example/client.json",  # not https
    "ftp://printer.example/client.json",
    "https://printer.example",  # no path component
    "https://printer.example/",
    "https://printer.example/client.json#x",  # fragment
    "https://printer.example/client.json#",
    "https://user@printer.example/client.json",  # user information
    "https://user:pw@printer.example/client.json",
    "https://printer.example/client.json?v=1",  # query string (SHOULD NOT; refused)
    "https://printer.example/client.json?",
    "https://printer.example/a/../client.json",  # dot segments
    "https://printer.example/./client.json",
    "https://printer.example/a/..",
    "https://printer.example/%2e%2e/client.json",  # dot segments in disguise: not canonical
    "https://Printer.example/client.json",  # not canonical (host case)
    "https://printer.example:443/client.json",  # not canonical (default port)
    "https://printer.example/%7Euser",  # not canonical (needless escape)
    "https://printer.example/a b",
    "https://printer.example/caf\u00e9",
    "https://printer.example/client.json\n",
    "https://2130706433/client.json",  # numeric shorthand for 127.0.0.1
    "https://0x7f000001/client.json",
    "https://printer.example:99999/client.json",  # bad port
    "https:///client.json",
    "/client.json",
    "printer.example/client.json",
    "",
    "https://printer.example/" + "a" * 2000,
    None,
    42,
])
def test_not_client_id_urls(url):
    assert not is_client_id_url(url) and not is_client_id_url(url, allow_private_targets=True)


def test_loopback_http_only_with_private_targets_allowed():
    for url in ("http://127.0.0.1:8080/client.json", "http://[::1]:8080/c", "http://localhost:3000/c",
                "http://127.0.0.2/c"):
        assert is_client_id_url(url, allow_private_targets=True) and not is_client_id_url(url), url
    assert not is_client_id_url("http://10.0.0.1/c", allow_private_targets=True)
    assert not is_client_id_url("http://printer.example/c", allow_private_targets=True)


# --- the fetch: SSRF guard, size and time -------------------------------------------------


@pytest.mark.parametrize(("template", "reason"), [
    ("https://127.0.0.1:{port}/client.json", "refused to connect to 127.0.0.1 (loopback)"),
    ("https://[::1]:{port}/client.json", "refused to connect to ::1 (loopback)"),
    ("https://localhost:{port}/client.json", "resolves only to"),
    ("https://10.0.0.1:{port}/client.json", "refused to connect to 10.0.0.1 (private)"),
    ("https://169.254.169.254:{port}/client.json", "(link-local)"),
    ("http://127.0.0.1:{port}/client.json", "MUST have an https scheme"),
    ("https://2130706433:{port}/client.json", "numeric shorthand"),
])
async def test_strict_policy_refuses_private_targets_without_connecting(clock, template, reason):
    tripwire = Tripwire()
    async with CountingListener() as listener, MetadataDocuments(now=clock, make_socket=tripwire) as documents:
        url = template.format(port=listener.port)
        assert reason in (await refusal(documents, url)).reason
        assert reason in (await refusal(documents, url)).reason  # again, from the failure back-off
    assert listener.connections == 0 and tripwire.attempts == []


async def test_the_size_cap_counts_decompressed_bytes_with_or_without_a_length(site, documents):
    def padded(url: str, size: int) -> bytes:
        doc = good(url, padding="")
        doc["padding"] = "x" * (size - len(json.dumps(doc).encode()))
        body = json.dumps(doc).encode()
        assert len(body) == size
        return body

    exactly = site.respond("/5120.json", padded(site.base + "/5120.json", 5 * 1024))
    assert (await documents.get(exactly)).client_name == "Photo Printer"
    over = site.respond("/5121.json", padded(site.base + "/5121.json", 5 * 1024 + 1))
    assert "response larger than 5120 bytes" in (await refusal(documents, over)).reason

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(4):
            await response.write(b" " * 2048)
        await response.write_eof()
        return response

    streamed = site.route("/chunked.json", chunked)
    assert "response larger than 5120 bytes" in (await refusal(documents, streamed)).reason
    bomb = site.respond("/gzip.json", gzip.compress(b" " * 100_000), headers={"Content-Encoding": "gzip"})
    assert "response larger than 5120 bytes" in (await refusal(documents, bomb)).reason


async def test_the_time_cap(site, clock):
    never, arrived = asyncio.Event(), asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        arrived.set()
        await never.wait()
        return web.Response()

    url = site.route("/client.json", hang)
    try:
        async with MetadataDocuments(allow_private_targets=True, now=clock, timeout=0.3,
                                     make_socket=Tripwire()) as documents:
            assert "could not be fetched: no answer within 0.3 s" in (await refusal(documents, url)).reason
        assert arrived.is_set()
    finally:
        never.set()


# --- the cache -----------------------------------------------------------------------------


async def test_a_document_is_remembered_for_its_max_age(site, clock, documents):
    url = site.document("/client.json", headers={"Cache-Control": "public, max-age=600"})
    first = await documents.get(url)
    assert await documents.get(url) is first and site.hits["/client.json"] == 1
    clock.advance(599)
    assert await documents.get(url) is first and site.hits["/client.json"] == 1
    clock.advance(1)
    assert await documents.get(url) == first and site.hits["/client.json"] == 2


@pytest.mark.parametrize(("headers", "remembered"), [
    ({"Cache-Control": "no-store"}, 60),  # still kept for min_ttl
    ({"Cache-Control": "no-cache"}, 60),
    ({"Cache-Control": "max-age=5"}, 60),
    ({"Cache-Control": "max-age=1000000000"}, 3600),  # clamped to max_ttl
    ({}, 300),  # no freshness information: default_ttl
])
async def test_lifetimes_are_clamped_within_bounds(site, clock, documents, headers, remembered):
    url = site.document("/client.json", headers=headers)
    await documents.get(url)
    clock.advance(remembered - 1)
    await documents.get(url)
    assert site.hits["/client.json"] == 1
    clock.advance(1)
    await documents.get(url)
    assert site.hits["/client.json"] == 2


def test_freshness_from_cache_headers():
    now = 1_700_000_000.0

    def http_date(t: float) -> str:
        return formatdate(t, usegmt=True)

    cases: list[tuple[CIMultiDict[str], float]] = [
        (CIMultiDict({"Cache-Control": "max-age=600"}), 600),
        (CIMultiDict({"cache-control": "Public, MAX-AGE=600"}), 600),
        (CIMultiDict({"Cache-Control": 'max-age="600"'}), 600),
        (CIMultiDict({"Cache-Control": "max-age=600", "Age": "100"}), 500),
        (CIMultiDict({"Cache-Control": "max-age=600, no-cache"}), 0),
        (CIMultiDict({"Cache-Control": "no-store, max-age=600"}), 0),
        (CIMultiDict({"Cache-Control": "max-age=soon"}), 0),  # invalid: stale
        (CIMultiDict({"Cache-Control": "max-age=-1"}), 0),
        (CIMultiDict([("Cache-Control", "max-age=60"), ("Cache-Control", "max-age=6000")]), 0),  # conflicting
        (CIMultiDict([("Cache-Control", "public"), ("Cache-Control", "max-age=60")]), 60),
        (CIMultiDict({"Cache-Control": "max-age=60", "Expires": http_date(now + 9000)}), 60),  # max-age wins
        (CIMultiDict({"Expires": http_date(now + 900), "Date": http_date(now - 100)}), 1000),
        (CIMultiDict({"Expires": http_date(now + 900)}), 900),  # no Date: now
        (CIMultiDict({"Expires": "0"}), 0),
        (CIMultiDict({"Cache-Control": "private"}), 123),
        (CIMultiDict(), 123),
    ]
    for headers, expected in cases:
        assert lifetime(headers, now, default=123) == expected, headers
    assert lifetime({"Cache-Control": "max-age=7"}, now, default=123) == 7  # a plain mapping too


async def test_ten_concurrent_gets_share_one_fetch(site, documents):
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.json_response(good(site.base + "/client.json"))

    url = site.route("/client.json", slow)
    gets = [asyncio.create_task(documents.get(url)) for _ in range(10)]
    await asyncio.wait_for(arrived.wait(), 10)
    gets[0].cancel()  # the caller that started the fetch gives up; the other nine still get it
    release.set()
    results = await asyncio.gather(*gets[1:])
    assert gets[0].cancelled() and all(r is results[0] for r in results)
    assert results[0].client_name == "Photo Printer" and site.hits["/client.json"] == 1


async def test_a_failure_is_remembered_briefly_then_retried(site, clock, documents):
    url = site.respond("/client.json", b"{}", status=503)
    assert "HTTP 503" in (await refusal(documents, url)).reason
    site.document("/client.json")  # the client repairs its site
    clock.advance(9)
    assert "HTTP 503" in (await refusal(documents, url)).reason
    assert site.hits["/client.json"] == 1  # the back-off asked nothing
    clock.advance(1)
    assert (await documents.get(url)).client_name == "Photo Printer"
    assert site.hits["/client.json"] == 2
    async with MetadataDocuments(allow_private_targets=True, now=clock, failure_ttl=0,
                                 make_socket=Tripwire()) as strict_draft:
        broken = site.respond("/broken.json", b"[]")
        for _ in range(2):
            await refusal(strict_draft, broken)
    assert site.hits["/broken.json"] == 2  # failure_ttl=0: nothing remembered


async def test_the_least_recently_used_entry_goes_first(site, clock):
    a, b, c = (site.document(f"/{name}.json") for name in "abc")
    async with MetadataDocuments(allow_private_targets=True, now=clock, max_entries=2,
                                 make_socket=Tripwire()) as documents:
        await documents.get(a)
        await documents.get(b)
        await documents.get(a)  # a is now the most recently used
        await documents.get(c)  # evicts b
        await documents.get(a)
        await documents.get(b)
    assert site.hits == {"/a.json": 1, "/b.json": 2, "/c.json": 1}


async def test_close_stops_fetches_and_refuses_further_gets(site, clock):
    arrived, never = asyncio.Event(), asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        arrived.set()
        await never.wait()
        return web.Response()

    url = site.route("/client.json", hang)
    documents = MetadataDocuments(allow_private_targets=True, now=clock, make_socket=Tripwire())
    pending = asyncio.create_task(documents.get(url))
    await asyncio.wait_for(arrived.wait(), 10)
    await documents.close()
    with pytest.raises(asyncio.CancelledError):
        await pending
    with pytest.raises(RuntimeError, match="closed"):
        await documents.get(url)
    never.set()
    with pytest.raises(ValueError, match="min_ttl"):
        MetadataDocuments(min_ttl=100, max_ttl=10)
