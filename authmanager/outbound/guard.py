"""The SSRF guard for the AM's outbound pushes (docs/protocol.md §12.4).

The subject URL of a share, and the ticket endpoint it advertises, are chosen by someone else;
fetching them must not let that someone reach the AM's own network. The check is made on the
address actually connected, never on the name:

* ``GuardedResolver`` (an aiohttp resolver) drops every refused address a name resolves to,
  so ``localhost`` or a DNS name pointing at ``10.0.0.1`` never gets a connection;
* ``socket_factory`` (aiohttp's connector hook, called with the address aiohappyeyeballs is
  about to connect) re-checks each address, which also covers IP literals (aiohttp does not
  resolve those) and every redirect hop, since each hop connects anew through the same guard;
* host names in the inet_aton shorthand (``2130706433``, ``0177.0.0.1``, ``0x7f000001``,
  ``127.1``) resolve to the address they encode and are refused as that address; ``fetch``
  also refuses them by name before any lookup, whatever the policy: no legitimate URL uses them.

The default policy refuses what ``ipaddress`` knows is not globally reachable — loopback,
RFC 1918/4193 private, link-local, unspecified, multicast, reserved, shared (RFC 6598) — and
every IPv6 form that embeds an IPv4 address (IPv4-mapped ``::ffff:0:0/96``, IPv4-translated
``::ffff:0:0:0/96``, NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``, 6to4 ``2002::/16``,
Teredo ``2001::/32``, IPv4-compatible ``::/96``). It also refuses, by an explicit table that does
not depend on the Python version's ``ipaddress`` data, the IPv6 ranges of the IANA special-purpose
registry (RFC 6890) that are not globally reachable or were deprecated — among them site-local
``fec0::/10`` (RFC 3879), which ``ipaddress`` calls global — and the unicast space outside
``2000::/3`` that is not assigned. ``allow_private_targets`` switches it off.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import TCPConnector, ThreadedResolver
from aiohttp.abc import AbstractResolver, ResolveResult

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: A policy returns why an address is refused, or ``None`` to allow it.
Policy = Callable[[Address], "str | None"]

_EMBEDDING_V4 = [ipaddress.ip_network(n) for n in (
    "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32", "::/96")]
#: IPv6 ranges refused whatever ``ipaddress`` says of them (the IANA IPv6 special-purpose address
#: registry, and deprecated ranges nobody can legitimately serve a web page from).
_SPECIAL_V6 = [(ipaddress.ip_network(n), why) for n, why in (
    ("::/128", "unspecified"),
    ("100::/64", "discard-only, RFC 6666"),
    ("100:0:0:1::/64", "dummy prefix, RFC 9780"),
    ("2001::/23", "IETF protocol assignments, RFC 2928"),
    ("2001:db8::/32", "documentation, RFC 3849"),
    ("3fff::/20", "documentation, RFC 9637"),
    ("3ffe::/16", "6bone, returned, RFC 3701"),
    ("5f00::/16", "SRv6 SIDs, RFC 9602"),
    ("fc00::/7", "unique local, RFC 4193"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local, deprecated, RFC 3879"),
    ("ff00::/8", "multicast"),
)]
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_NUMERIC_PART = re.compile(r"(0[xX][0-9a-fA-F]*|[0-9]+)")
_CANONICAL_V4 = re.compile(r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}")


def strict(ip: Address) -> str | None:
    """The production default: only globally reachable unicast addresses."""
    for name in ("loopback", "unspecified"):
        if getattr(ip, f"is_{name}"):
            return name
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _EMBEDDING_V4):
            return "IPv6 address embedding an IPv4 address (mapped, translated or tunnelled)"
        for net, why in _SPECIAL_V6:
            if ip in net:
                return why
        if ip not in _GLOBAL_UNICAST_V6:
            return "reserved (outside 2000::/3)"
    for name in ("link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    if not ip.is_global:
        return "not globally reachable"
    return None


def permissive(ip: Address) -> str | None:
    """``allow_private_targets``: any address (tests and internal deployments)."""
    return None


def allowing(*addresses: str, base: Policy = strict) -> Policy:
    """``base`` plus an allow-list of exact addresses (for tests: one explicitly allowed listener)."""
    allowed = {ipaddress.ip_address(a) for a in addresses}
    return lambda ip: None if ip in allowed else base(ip)


def policy_for(allow_private_targets: bool) -> Policy:
    return permissive if allow_private_targets else strict


class GuardRefusal(OSError):
    """Raised inside aiohttp's connection machinery; ``authmanager.outbound.fetch`` turns it into
    the typed ``TargetRefused``. An ``OSError`` so that aiohttp wraps it as a connection error."""


def parse_address(text: str) -> Address:
    return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id


def check(policy: Policy, address: str) -> None:
    try:
        ip = parse_address(address)
    except ValueError:
        raise GuardRefusal(f"{address!r} is not an IP address") from None
    reason = policy(ip)
    if reason is not None:
        raise GuardRefusal(f"refused to connect to {ip} ({reason})")


def numeric_trick(host: str) -> bool:
    """True for inet_aton shorthand that is not a canonical dotted quad (decimal, octal, hex, short)."""
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_PART.fullmatch(p) for p in parts):
        return False
    return not _CANONICAL_V4.fullmatch(host)


class GuardedResolver(AbstractResolver):
    """Resolves with the system resolver, then keeps only the addresses the policy allows."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._policy(parse_address(r["host"])) is None]
        if not allowed:
            reasons = sorted({f"{r['host']} ({self._policy(parse_address(r['host']))})" for r in results})
            raise GuardRefusal(f"refused {host!r}: it resolves only to {', '.join(reasons)}")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def plain_socket(addr_info: Any) -> socket.socket:
    family, type_, proto, _, _ = addr_info
    return socket.socket(family=family, type=type_, proto=proto)


def socket_factory(policy: Policy, make: Callable[[Any], socket.socket] = plain_socket
                   ) -> Callable[[Any], socket.socket]:
    """aiohttp's ``socket_factory`` hook: sees ``(family, type, proto, canonname, sockaddr)`` of
    the address about to be connected, for names and IP literals alike. ``make`` creates the
    socket once the address has passed (tests substitute a tripwire)."""

    def guarded(addr_info: Any) -> socket.socket:
        check(policy, addr_info[4][0])
        return make(addr_info)

    return guarded


def guarded_connector(policy: Policy, make: Callable[[Any], socket.socket] = plain_socket) -> TCPConnector:
    return TCPConnector(resolver=GuardedResolver(policy), socket_factory=socket_factory(policy, make),
                        use_dns_cache=False, limit=4)
