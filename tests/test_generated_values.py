"""No generated identifier or secret begins with ``-`` (issue 11, item 11).

Base64url puts ``-`` first in 1 of 64 values, and a command line takes such a value for an option
(``--sph -H7u…``: "expected one argument"; ``authmanager consumer revoke -abc…``). The generators
draw again instead: the same length and alphabet, uniform over the other 63/64 of the values.

20,000 draws per generator: the old code passes with probability (63/64)^20000 ≈ e^-315."""

import ast
import asyncio
import secrets
from pathlib import Path
from string import ascii_letters, digits

import aiohttp
from click.testing import CliRunner
from joserfc import jwt
from joserfc.jwk import KeySet

from amkit import register, request_token
from authmanager import secretbox
from authmanager.admin.auth import create_admin, create_token
from authmanager.cli import main
from authmanager.secretbox import b64u, random_bytes, random_secret
from consumer_sdk.flow import default_nonce
from signers import FORM, sign_9421

DRAWS = 20_000
FIRST = set(ascii_letters + digits + "_")  # the base64url alphabet less "-"
ROOT = Path(__file__).resolve().parent.parent


def _check(values: list[str], length: int) -> None:
    assert {len(v) for v in values} == {length}
    assert [v for v in values if v.startswith("-")] == []
    assert {v[0] for v in values} == FIRST  # every other first character still occurs...
    assert any("-" in v[1:] for v in values)  # ...and the rest of the alphabet is untouched


def test_random_secret_and_random_bytes_never_begin_with_a_dash():
    for nbytes, length in ((12, 16), (16, 22), (32, 43)):
        _check([random_secret(nbytes) for _ in range(DRAWS)], length)
    _check([b64u(random_bytes(32)) for _ in range(DRAWS)], 43)


def test_consumer_sdk_nonces_never_begin_with_a_dash():
    _check([default_nonce() for _ in range(DRAWS)], 22)


def test_no_generator_bypasses_them():
    """The three packages draw random values only through ``random_bytes``/``random_secret`` (the
    consumer SDK through ``default_nonce``; a temporary file's hex name is no identifier)."""
    allowed = {("authmanager/secretbox.py", "token_bytes"), ("consumer_sdk/flow.py", "token_urlsafe"),
               ("consumer_sdk/store.py", "token_hex")}
    found = set()
    for package in ("authmanager", "rs_middleware", "consumer_sdk"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr.startswith("token_") and \
                        isinstance(node.value, ast.Name) and node.value.id == "secrets":
                    found.add((str(path.relative_to(ROOT)), node.attr))
                if isinstance(node, ast.Attribute) and node.attr in ("urandom", "randbytes", "getrandbits") \
                        and isinstance(node.value, ast.Name) and node.value.id in ("os", "random"):
                    found.add((str(path.relative_to(ROOT)), node.attr))
    # os.urandom: the scrypt salt and the AES-GCM nonce, both stored inside other values, never shown.
    assert found - allowed == {("authmanager/accounts/auth.py", "urandom"), ("authmanager/secretbox.py", "urandom")}


class _DashFirst:
    """``secrets`` as secretbox sees it: every other draw encodes to a value beginning with ``-``."""

    def __init__(self):
        self.draws = 0

    def token_bytes(self, nbytes: int) -> bytes:
        self.draws += 1
        data = secrets.token_bytes(nbytes)
        return bytes([0xF8 | data[0] & 3]) + data[1:] if self.draws % 2 else data


async def test_values_minted_through_the_am_and_used_on_its_command_line(am, monkeypatch):
    """With every other draw a would-be ``-…`` value (deterministically), what the AM hands out
    — ck, cks, sph, sph_secret, sub-keys, jti, admin tokens — begins with no ``-``, and the CLI
    takes the ck as the argument it is."""
    shim = _DashFirst()
    monkeypatch.setattr(secretbox, "secrets", shim)
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        body = b"ttl=60"
        headers = {**sign_9421(am.url("/grasshopper"), body, client["client_id"], client["client_secret"]),
                   "Content-Type": FORM}
        async with http.post(am.url("/grasshopper"), data=body, headers=headers) as r:
            sub = await r.json()
        status, token, _ = await request_token(http, am, client, realm.sph, "read")
        assert status == 200
        async with http.get(am.url("/jwks.json")) as r:
            jti = jwt.decode(token["access_token"], KeySet.import_key_set(await r.json())).claims["jti"]
    await create_admin(am.ctx.sessions, name="alice", password="a long enough password",
                       now=int(am.clock()))
    admin_token = (await create_token(am.ctx.sessions, name="alice", now=int(am.clock())))["token"]
    values = [client["client_id"], client["client_secret"], realm.sph, realm.sph_secret, sub["client_id"],
              sub["client_secret"], jti, admin_token]
    assert shim.draws >= 2 * len(values)  # each value needed a second draw
    assert [v for v in values if v.startswith("-")] == []
    result = await asyncio.to_thread(CliRunner().invoke, main, ["--database", am.settings.database_url,
                                                                "consumer", "revoke", client["client_id"]])
    assert result.exit_code == 0, result.output
