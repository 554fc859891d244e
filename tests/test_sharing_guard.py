"""The SSRF guard of the AM's outbound pushes (docs/protocol.md §12.4).

Every refusal is made on the address actually connected. A counting listener on 127.0.0.1 shows
that no connection was made, and the tripwire (the guard's socket maker in tests) makes sure no
test could ever connect anywhere but loopback, even if the guard were broken.
"""

import asyncio
import ipaddress

import pytest
from aiohttp import web
from bobkit import CountingListener, Tripwire, bob_site

from authmanager.errors import OutboundError, TargetRefused
from authmanager.outbound.fetch import fetch, outbound_session
from authmanager.outbound.guard import GuardedResolver, GuardRefusal, allowing, numeric_trick, permissive, strict
from authmanager.serving import bound_socket, serve
from authmanager.settings import Settings
from authmanager.sharing.discovery import discover_ticket_endpoint, find_in_html
from authmanager.sharing.share import ShareFailed, list_shares, share

REFUSED = [
    "http://127.0.0.1:{port}/",
    "http://[::1]:{port}/",
    "http://10.0.0.1:{port}/",
    "http://172.16.0.1:{port}/",
    "http://172.31.255.254:{port}/",
    "http://192.168.1.1:{port}/",
    "http://169.254.169.254:{port}/",
    "http://0.0.0.0:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://2130706433:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://0x7f000001:{port}/",
    "http://localhost:{port}/",
]


@pytest.fixture
async def listener():
    async with CountingListener() as counting:
        yield counting


@pytest.mark.parametrize("template", REFUSED)
async def test_discovery_refuses_non_public_targets_without_connecting(listener, template):
    tripwire = Tripwire()
    async with outbound_session(strict, make_socket=tripwire) as http:
        with pytest.raises(TargetRefused):
            await discover_ticket_endpoint(http, template.format(port=listener.port))
    assert listener.connections == 0 and tripwire.attempts == []


@pytest.mark.parametrize("target", [
    "http://[::ffff:127.0.0.1]:{port}/", "http://[::1]:{port}/", "http://2130706433:{port}/",
    "http://10.0.0.1:{port}/", "http://0.0.0.0:{port}/"])
async def test_a_redirect_from_an_allowed_host_to_a_refused_one_is_not_followed(listener, target):
    hits = []

    async def redirect(request: web.Request) -> web.Response:
        hits.append(request.path)
        raise web.HTTPFound(target.format(port=listener.port))

    app = web.Application()
    app.router.add_get("/", redirect)
    sock, tripwire = bound_socket(), Tripwire()
    async with serve(app, sock) as url, outbound_session(allowing("127.0.0.1"), make_socket=tripwire) as http:
        with pytest.raises(TargetRefused):
            await discover_ticket_endpoint(http, url + "/")
    assert hits == ["/"]  # the allowed hop was made
    assert listener.connections == 0 and tripwire.attempts == []


async def test_the_listener_does_count_when_private_targets_are_allowed(listener):
    async with outbound_session(permissive, make_socket=Tripwire()) as http:
        with pytest.raises(OutboundError) as caught:
            await discover_ticket_endpoint(http, f"http://127.0.0.1:{listener.port}/")
    assert not isinstance(caught.value, TargetRefused) and listener.connections >= 1  # aiohttp retries a GET once


async def test_share_refuses_a_private_subject_by_default_and_stores_nothing(am, clock, listener):
    await am.create_realm("photos", resource="http://127.0.0.1:9/", scopes=["read"])
    with pytest.raises(ShareFailed, match="refused"):
        await share(am.ctx.sessions, realm="photos", subject=f"http://127.0.0.1:{listener.port}/", scopes=["read"],
                    max_ttl=None, policy=strict, now=clock, make_socket=Tripwire())
    assert listener.connections == 0 and await list_shares(am.ctx.sessions) == []


async def test_a_private_ticket_endpoint_is_refused_at_delivery_and_recorded(am, clock, listener):
    """Bob's homepage (explicitly allowed) advertises a ticket endpoint on a refused address."""
    await am.create_realm("photos", resource="http://127.0.0.1:9/", scopes=["read"])
    tripwire = Tripwire()
    app = web.Application()

    async def homepage(request: web.Request) -> web.Response:
        return web.Response(text="Bob", headers={"Link": f'<http://[::1]:{listener.port}/t>; rel="ticket_endpoint"'})

    app.router.add_get("/", homepage)
    sock = bound_socket()
    async with serve(app, sock) as url:
        result = await share(am.ctx.sessions, realm="photos", subject=url + "/", scopes=["read"], max_ttl=None,
                             policy=allowing("127.0.0.1"), now=clock, make_socket=tripwire)
    assert not result.delivered and result.status is None and "refused" in result.error
    [row] = await list_shares(am.ctx.sessions)
    assert row["delivery"] == "failed" and "::1" in row["error"]
    assert listener.connections == 0 and tripwire.attempts == []


async def test_redirect_limit_size_cap_and_total_timeout():
    never = asyncio.Event()

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (256 * 1024 + 1), content_type="text/html")

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    app = web.Application()
    for path, handler in (("/loop", loop), ("/huge", huge), ("/hang", hang)):
        app.router.add_get(path, handler)
    sock = bound_socket()
    async with serve(app, sock) as url, outbound_session(allowing("127.0.0.1"), make_socket=Tripwire()) as http:
        with pytest.raises(OutboundError, match="more than 3 redirects"):
            await fetch(http, "GET", url + "/loop")
        with pytest.raises(OutboundError, match="larger than"):
            await discover_ticket_endpoint(http, url + "/huge")
        with pytest.raises(OutboundError, match="no answer within"):
            await fetch(http, "GET", url + "/hang", timeout=0.3)
        never.set()


async def test_discovery_by_html_link_resolves_against_the_final_url(am):
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/people/bob/")

    async def page(request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=(
            '<html><head><link rel="stylesheet" href="/s.css"><link rel="Ticket_Endpoint" href="../t?x=1">'
            '</head></html>'))

    app = web.Application()
    app.router.add_get("/bob", moved)
    app.router.add_get("/people/bob/", page)
    sock = bound_socket()
    async with serve(app, sock) as url, outbound_session(allowing("127.0.0.1"), make_socket=Tripwire()) as http:
        assert await discover_ticket_endpoint(http, url + "/bob") == url + "/people/t?x=1"
    async with bob_site(relative=True) as (bob, _), outbound_session(permissive) as http:
        assert await discover_ticket_endpoint(http, bob) == bob + "ticket"  # relative Link header
    assert find_in_html('<link rel="me"><link rel="a ticket_endpoint b" href="/e"/>') == "/e"


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "0x7f000001", "127.1", "localhost"])
async def test_the_resolver_refuses_by_the_resolved_address(host):
    """The name-level refusal of numeric shorthand aside, the address it resolves to is refused."""
    resolver = GuardedResolver(strict)
    try:
        with pytest.raises(GuardRefusal, match=r"resolves only to 127\.0\.0\.1 \(loopback\)"):
            await resolver.resolve(host, 80)
        assert [r["host"] for r in await GuardedResolver(allowing("127.0.0.1")).resolve(host, 80)] == ["127.0.0.1"]
    finally:
        await resolver.close()


#: IPv6 ranges the guard refuses by its own table (issue 11, item 9): deprecated site-local
#: fec0::/10, which ``ipaddress`` calls global, and the rest of the special-purpose registry.
SPECIAL_V6 = ["fec0::1", "feff:ffff::1", "fed0::80", "::", "100::1", "100:0:0:1::1", "2001:db8::1", "3fff::1",
              "3ffe::1", "2001:20::1", "2001:2::1", "5f00::1", "ff0e::1", "ff05::2", "4000::1", "1::1"]


@pytest.mark.parametrize("address", SPECIAL_V6)
async def test_special_purpose_ipv6_is_refused_without_connecting(listener, address):
    tripwire = Tripwire()  # it would record (and fail) any attempt to connect beyond loopback
    async with outbound_session(strict, make_socket=tripwire) as http:
        with pytest.raises(TargetRefused):
            await discover_ticket_endpoint(http, f"http://[{address}]:{listener.port}/")
    assert listener.connections == 0 and tripwire.attempts == []
    assert strict(ipaddress.ip_address(address)) is not None


def test_global_ipv6_unicast_is_still_allowed():
    for address in ("2606:4700:4700::1111", "2a00:1450:4001:830::200e", "2620:4f:8000::1", "2c0f:fb50:4003::1"):
        assert strict(ipaddress.ip_address(address)) is None, address


def test_policy_and_numeric_hosts():
    refused = ["127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.1.1", "0.0.0.0", "::",
               "::ffff:127.0.0.1", "::ffff:8.8.8.8", "64:ff9b::a00:1", "2002:7f00:1::", "fe80::1", "fc00::1",
               "224.0.0.1", "ff02::1", "240.0.0.1", "255.255.255.255", "100.64.0.1", "192.0.2.1"]
    for address in refused:
        assert strict(ipaddress.ip_address(address)) is not None, address
    for address in ("93.184.216.34", "2606:4700:4700::1111"):
        assert strict(ipaddress.ip_address(address)) is None, address
    assert allowing("127.0.0.1")(ipaddress.ip_address("127.0.0.1")) is None
    assert allowing("127.0.0.1")(ipaddress.ip_address("127.0.0.2")) is not None
    for host in ("2130706433", "0177.0.0.1", "0x7f000001", "127.1", "010.0.0.1", "0x7f.1"):
        assert numeric_trick(host), host
    for host in ("127.0.0.1", "8.8.8.8", "cafe.be", "bob.example", "1.2.3.4.5"):
        assert not numeric_trick(host), host


def test_allow_private_targets_from_the_environment():
    assert Settings.load(environ={}).allow_private_targets is False
    assert Settings.load(environ={"AUTHMANAGER_ALLOW_PRIVATE_TARGETS": "1"}).allow_private_targets is True
