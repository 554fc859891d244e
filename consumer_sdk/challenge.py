"""Parsing ``WWW-Authenticate`` (RFC 7235 §4.1 / RFC 9110 §11.6.1) and reading the Bearer challenge.

Grammar implemented (RFC 9110 §11.2, §5.6)::

    WWW-Authenticate = #challenge
    challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param       = token BWS "=" BWS ( token / quoted-string )
    quoted-string    = DQUOTE *( qdtext / quoted-pair ) DQUOTE
    quoted-pair      = "\\" ( HTAB / SP / VCHAR / obs-text )

Parameter names are case-insensitive and occur at most once per challenge
(RFC 9110 §11.2). token68 is recognised only so that other schemes' challenges
can be skipped; the Bearer challenge of RFC 6750 §3 uses auth-params.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ChallengeError

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"([A-Za-z0-9\-._~+/]+=*)[ \t]*(?=,|$)")
_OWS = re.compile(r"[ \t]*")


@dataclass(frozen=True)
class Challenge:
    """One challenge: the scheme (lower-cased), its auth-params (names lower-cased) or token68."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None


@dataclass(frozen=True)
class BearerChallenge:
    """The RFC 6750 §3 Bearer challenge with the RFC 9728 §5.1 ``resource_metadata`` parameter."""

    realm: str | None
    resource_metadata: str | None
    error: str | None = None
    error_description: str | None = None
    scope: frozenset[str] = frozenset()


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def skip_ows(self) -> None:
        self.pos = _OWS.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def token(self) -> str | None:
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        return match.group()

    def quoted_string(self) -> str:
        assert self.peek() == '"'
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char == "\\":
                if self.pos >= len(self.text):
                    break
                char = self.text[self.pos]
                self.pos += 1
                if not _is_quotable(char):
                    raise ChallengeError("invalid quoted-pair in WWW-Authenticate")
            elif not _is_qdtext(char):
                raise ChallengeError("invalid character in WWW-Authenticate quoted-string")
            out.append(char)
        raise ChallengeError("unterminated quoted-string in WWW-Authenticate")

    def fail(self, what: str) -> ChallengeError:
        return ChallengeError(f"malformed WWW-Authenticate: {what} at offset {self.pos}")


def _is_quotable(char: str) -> bool:
    return char in "\t " or 0x21 <= ord(char) <= 0x7E or 0x80 <= ord(char) <= 0xFF


def _is_qdtext(char: str) -> bool:
    return _is_quotable(char) and char not in '"\\'


def parse_www_authenticate(value: str) -> list[Challenge]:
    """Parse a (possibly combined) ``WWW-Authenticate`` field value into its challenges."""
    scan = _Scanner(value)
    challenges: list[Challenge] = []
    while True:
        while True:  # empty list elements are allowed (RFC 9110 §5.6.1)
            scan.skip_ows()
            if scan.peek() != ",":
                break
            scan.pos += 1
        if scan.pos >= len(value):
            return challenges
        scheme = scan.token()
        if scheme is None:
            raise scan.fail("expected an auth-scheme")
        if scan.peek() not in (" ", "\t"):
            if scan.peek() not in (",", ""):
                raise scan.fail("expected SP after auth-scheme")
            challenges.append(Challenge(scheme.lower()))
            continue
        scan.skip_ows()
        token68 = _TOKEN68.match(value, scan.pos)
        if token68 is not None:
            scan.pos = token68.end()
            challenges.append(Challenge(scheme.lower(), token68=token68.group(1)))
            continue
        challenges.append(Challenge(scheme.lower(), _auth_params(scan)))


def _auth_params(scan: _Scanner) -> dict[str, str]:
    params: dict[str, str] = {}
    while True:
        start = scan.pos
        scan.skip_ows()
        name = scan.token()
        if name is None:
            if scan.peek() in (",", ""):  # empty element, or end of the field
                if scan.peek() == ",":
                    scan.pos += 1
                    continue
                return params
            raise scan.fail("expected an auth-param")
        scan.skip_ows()
        if scan.peek() != "=":  # not a parameter: the next challenge's auth-scheme
            scan.pos = start
            return params
        scan.pos += 1
        scan.skip_ows()
        param_value = scan.quoted_string() if scan.peek() == '"' else scan.token()
        if param_value is None:
            raise scan.fail(f"expected a value for {name!r}")
        if name.lower() in params:
            raise ChallengeError(f"malformed WWW-Authenticate: duplicate parameter {name!r}")
        params[name.lower()] = param_value
        scan.skip_ows()
        if scan.peek() == "":
            return params
        if scan.peek() != ",":
            raise scan.fail("expected ',' between auth-params")
        scan.pos += 1


def find_bearer(value: str | None) -> BearerChallenge | None:
    """Return the first Bearer challenge in ``value`` (RFC 6750 §3), ``None`` if there is none.

    Raises ``ChallengeError`` if the field cannot be parsed.
    """
    if not value:
        return None
    for challenge in parse_www_authenticate(value):
        if challenge.scheme == "bearer":
            params = challenge.params
            return BearerChallenge(
                realm=params.get("realm"),
                resource_metadata=params.get("resource_metadata"),
                error=params.get("error"),
                error_description=params.get("error_description"),
                scope=frozenset(params.get("scope", "").split()),
            )
    return None
