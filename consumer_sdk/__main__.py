"""``python -m consumer_sdk get URL``: fetch a ProtectServe-protected resource, walking the handshake.

``python -m consumer_sdk login URL``: log in as a person for the resource at URL (RFC 8252: the
system browser, a redirect to 127.0.0.1 on a free port, PKCE); the tokens go to the store, and
``get`` then uses and refreshes them.

The body goes to stdout. ``-v`` traces each exchange to stderr (methods, URLs,
status codes and public values; never cks or a token). On failure a single
``error: …`` line goes to stderr and the exit status is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Sequence
from typing import BinaryIO, TextIO

import aiohttp

from .challenge import find_bearer
from .errors import ChallengeError, ProtectServeError
from .flow import USER_AGENT
from .messages import Step
from .middleware import ProtectServeAuth
from .store import FileStore


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m consumer_sdk", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("get", help="GET a protected URL and print its body")
    get.add_argument("url")
    get.add_argument("--scope", action="append", default=None, metavar="S",
                     help="scope to request (repeatable; default: the realm's scopes_supported)")
    get.add_argument("-v", "--verbose", action="store_true", help="print each handshake step to stderr")
    get.add_argument("--store", metavar="PATH", help="credential file (default: user config dir)")
    get.add_argument("--signature", choices=("rfc9421", "rfc5849"), default="rfc9421",
                     help="token request signature method (default: rfc9421)")
    get.add_argument("--client-name", default="protectserve consumer", help="client_name to register with")
    get.add_argument("--approval-timeout", type=_seconds, default=60.0, metavar="S",
                     help="when the realm owner is asked, wait this long for the answer (default 60; "
                          "the request stays pending, and the next run resumes it)")
    login = commands.add_parser("login", help="log in as a person for a protected URL (RFC 8252)")
    login.add_argument("url")
    login.add_argument("--scope", action="append", default=None, metavar="S",
                       help="scope to ask for (repeatable; default: the challenge's, else the realm's scopes)")
    login.add_argument("--client-id", metavar="URL", default=None,
                       help="client ID metadata document URL to use as client_id (default: register)")
    login.add_argument("--client-name", default="protectserve consumer", help="client_name to register with")
    login.add_argument("--store", metavar="PATH", help="credential file (default: user config dir)")
    login.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    login.add_argument("--timeout", type=_seconds, default=300.0, metavar="S",
                       help="how long to wait for the browser's redirect (default 300)")
    login.add_argument("-v", "--verbose", action="store_true", help="print each step to stderr")
    return parser


async def run_login(args: argparse.Namespace, *, stdout: BinaryIO, stderr: TextIO) -> int:
    """Execute a parsed ``login`` command; returns the exit status. Prints no token."""
    from .loopback import log_in, system_browser

    scopes = None if args.scope is None else [s for arg in args.scope for s in arg.split()]

    def trace(step: Step) -> None:
        print(format_step(step), file=stderr, flush=True)

    try:
        token = await log_in(args.url, store=FileStore(args.store), scopes=scopes, client_id=args.client_id,
                             client_name=args.client_name, timeout=args.timeout,
                             open_browser=system_browser(print_url=args.no_browser, out=stderr),
                             on_step=trace if args.verbose else None)
    except ProtectServeError as exc:
        code = f" [{exc.error}]" if exc.error and exc.error not in str(exc) else ""
        print(f"error: {type(exc).__name__}: {exc}{code}", file=stderr)
        return 1
    except (TimeoutError, aiohttp.ClientError, ValueError, OSError) as exc:
        print(f"error: {args.url}: {type(exc).__name__}: {exc}".rstrip(": "), file=stderr)
        return 1
    scope = " ".join(sorted(token.scope))
    print(f"logged in for {token.resource} at {token.issuer} (scope: {scope or '-'}; "
          f"refresh token: {'kept' if token.refresh_token else 'none'})", file=stderr)
    return 0


def format_step(step: Step) -> str:
    """One trace line: name, exchange, status and the step's public details."""
    exchange = f" -> {step.status}" if step.status else ""  # 0: the browser's part of a login
    parts = [f"{step.name:<17} {step.method} {step.url}{exchange}"]
    for key, value in step.detail.items():
        if value is None or value == []:
            continue
        if isinstance(value, (list, tuple)):
            value = " ".join(map(str, value))
        parts.append(f"{key}={value}")
    return "  ".join(parts)


async def run(args: argparse.Namespace, *, stdout: BinaryIO, stderr: TextIO) -> int:
    """Execute a parsed ``get`` command; returns the exit status."""
    scopes = None if args.scope is None else [s for arg in args.scope for s in arg.split()]

    def trace(step: Step) -> None:
        print(format_step(step), file=stderr, flush=True)

    auth = ProtectServeAuth(
        store=FileStore(args.store),
        client_name=args.client_name,
        scopes=scopes,
        signature_method=args.signature,
        on_step=trace if args.verbose else None,
        approval_timeout=args.approval_timeout,
    )
    timeout = aiohttp.ClientTimeout(total=30 + args.approval_timeout)
    try:
        async with aiohttp.ClientSession(middlewares=[auth], headers={"User-Agent": USER_AGENT}, timeout=timeout
                                         ) as session:
            async with session.get(args.url) as response:
                body = await response.read()
                if response.status >= 400:
                    print(f"error: GET {args.url} -> HTTP {response.status}{_reason(response)}", file=stderr)
                    return 1
    except ProtectServeError as exc:
        code = f" [{exc.error}]" if exc.error and exc.error not in str(exc) else ""
        print(f"error: {type(exc).__name__}: {exc}{code}", file=stderr)
        return 1
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        print(f"error: {args.url}: {type(exc).__name__}: {exc}".rstrip(": "), file=stderr)
        return 1
    stdout.write(body)
    stdout.flush()
    return 0


def _reason(response: aiohttp.ClientResponse) -> str:
    try:
        challenge = find_bearer(", ".join(response.headers.getall("WWW-Authenticate", [])))
    except ChallengeError:
        challenge = None
    if challenge is not None and challenge.error:
        return f" ({challenge.error})"
    return f" {response.reason}" if response.reason else ""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "login":
        return asyncio.run(run_login(args, stdout=sys.stdout.buffer, stderr=sys.stderr))
    return asyncio.run(run(args, stdout=sys.stdout.buffer, stderr=sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
