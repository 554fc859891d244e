"""Signing-key rotation: staged keys are published before they sign; old keys stay until their
last token has expired; the CLI shows each key's state."""

import json

import aiohttp
import pytest
from amkit import register, request_token
from click.testing import CliRunner
from joserfc import jwt
from joserfc.jwk import KeySet

from authmanager.cli import main
from authmanager.runtime.keyring import rotate


async def jwks(http, am):
    async with http.get(am.url("/jwks.json")) as r:
        return await r.json()


async def test_rotation_publishes_first_signs_later_and_retires_after_the_last_token(am):
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        _, before, _ = await request_token(http, am, client, realm.sph, "read")
        old_kid = jwt.decode(before["access_token"], KeySet.import_key_set(await jwks(http, am)),
                             algorithms=["ES256"]).header["kid"]
        async with am.ctx.sessions.begin() as session:
            new = await rotate(session, am.ctx.box, now=int(am.clock()), delay=300, max_token_ttl=900)
        await am.ctx.feed.poll_once()  # what the poller does every 0.2 s: sees keys_changed, reloads
        published = await jwks(http, am)
        assert {k["kid"] for k in published["keys"]} == {old_kid, new.kid}
        _, during, _ = await request_token(http, am, client, realm.sph, "read")
        assert jwt.decode(during["access_token"], KeySet.import_key_set(published),
                          algorithms=["ES256"]).header["kid"] == old_kid  # staged: not signing yet
        am.clock.advance(300)
        _, after, _ = await request_token(http, am, client, realm.sph, "read")
        keys = KeySet.import_key_set(await jwks(http, am))
        assert jwt.decode(after["access_token"], keys, algorithms=["ES256"]).header["kid"] == new.kid
        assert jwt.decode(during["access_token"], keys, algorithms=["ES256"]).header["kid"] == old_kid
        am.clock.advance(900)  # the last token the old key could have signed has now expired
        assert [k["kid"] for k in (await jwks(http, am))["keys"]] == [new.kid]


def test_keys_cli_rotate_and_list(tmp_path):
    runner = CliRunner()
    args = ["--database", f"sqlite+aiosqlite:///{tmp_path / 'am.db'}"]
    result = runner.invoke(main, [*args, "keys", "list", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == []
    assert runner.invoke(main, [*args, "keys", "rotate", "--delay", "0"]).exit_code == 0
    result = runner.invoke(main, [*args, "keys", "rotate", "--delay", "600"])
    assert result.exit_code == 0 and "signing in 600 s" in result.output
    states = [k["state"] for k in json.loads(runner.invoke(main, [*args, "keys", "list", "--json"]).output)]
    assert states == ["active", "staged"]
    assert (tmp_path / "am.db.key").exists()


@pytest.mark.parametrize("revoke", ["revoke", "delete"])
def test_consumer_cli_revoke_and_delete(tmp_path, revoke):
    runner = CliRunner()
    args = ["--database", f"sqlite+aiosqlite:///{tmp_path / 'am.db'}"]
    result = runner.invoke(main, [*args, "consumer", revoke, "nobody"])
    assert result.exit_code == 1 and "no consumer key 'nobody'" in result.output
    assert json.loads(runner.invoke(main, [*args, "consumer", "list", "--json"]).output) == []
