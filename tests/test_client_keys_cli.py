"""``authmanager consumer create --auth-method …`` and ``consumer key add|list|revoke``, through the
real CLI against the running AM's database (SQLite and PostgreSQL). Revoking a key revokes the
tokens obtained with it (rows as the issuing transaction stores them), one feed event each, and
leaves the consumer's other keys and their tokens alone."""

import asyncio
import json

import pytest
from click.testing import CliRunner
from keykit import feed_jtis, insert_token, jwk_of, private_key, private_pem, public_jwk, public_pem, token_states

from authmanager.cli import main
from authmanager.storage import client_keys as key_repo
from authmanager.storage.models import AuditEvent


async def _cli(am, *args):
    """Run the CLI in a thread (it runs its own event loop) while the AM serves on this one."""
    result = await asyncio.to_thread(CliRunner().invoke, main, ["--database", am.settings.database_url,
                                                                "--key-file", str(am.settings.key_file), *args])
    return result.exit_code, result.stdout, result.stderr


async def _ok(am, *args):
    code, out, err = await _cli(am, *args)
    assert code == 0, err
    return out


def _one_line_error(code, err, *words):
    assert code == 1, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err


@pytest.fixture
async def photos(am):
    return await am.create_realm("photos", resource="http://127.0.0.1:9/", scopes=["read", "write"])


@pytest.fixture
def files(tmp_path):
    """Key files: an EC PEM, an Ed25519 JWK with a kid, an RSA JWK Set, and refused ones."""
    ec = private_key("ec")
    out = {"ec_pem": tmp_path / "ec.pem", "ed_jwk": tmp_path / "ed.jwk", "rsa_set": tmp_path / "rsa.jwks",
           "private_pem": tmp_path / "private.pem", "private_jwk": tmp_path / "private.jwk",
           "small_rsa": tmp_path / "small.jwk", "garbage": tmp_path / "garbage.txt"}
    out["ec_pem"].write_bytes(public_pem(ec))
    out["ed_jwk"].write_text(json.dumps(public_jwk("ed25519", kid="laptop-2026")))
    out["rsa_set"].write_text(json.dumps({"keys": [public_jwk("rsa", kid="rsa-1")]}))
    out["private_pem"].write_bytes(private_pem(ec))
    out["private_jwk"].write_text(json.dumps(jwk_of(private_key("ed25519"), private=True)))
    out["small_rsa"].write_text(json.dumps(public_jwk("rsa1024")))
    out["garbage"].write_text("hello")
    return {k: str(v) for k, v in out.items()}


async def test_create_private_key_jwt_from_pem_and_jwk(am, files):
    made = json.loads(await _ok(am, "consumer", "create", "robot", "--auth-method", "private_key_jwt",
                                "--public-key", files["ec_pem"], "--public-key", files["ed_jwk"], "--json"))
    assert made["token_endpoint_auth_method"] == "private_key_jwt" and "client_secret" not in made
    kids = [k["kid"] for k in made["jwks"]["keys"]]
    assert kids[1] == "laptop-2026" and len(kids[0]) == 43  # the PEM's RFC 7638 thumbprint
    listed = json.loads(await _ok(am, "consumer", "key", "list", made["client_id"], "--json"))
    assert [(k["kid"], k["kty"], k["revoked_at"], k["scope_ceiling"]) for k in listed] == [
        (kids[0], "EC", None, None), (kids[1], "OKP", None, None)]
    assert all(set(k) == {"kid", "name", "kty", "alg", "scope_ceiling", "created_at", "revoked_at"} for k in listed)
    text = await _ok(am, "consumer", "create", "robot2", "--auth-method", "private_key_jwt",
                     "--public-key", files["rsa_set"])
    assert "client_secret" not in text and "key rsa-1 (RSA)" in text


async def test_create_client_secret_jwt_prints_the_cks_once_and_the_default_is_unchanged(am):
    out = await _ok(am, "consumer", "create", "jwt", "--auth-method", "client_secret_jwt")
    assert "(client_secret_jwt, grants client_credentials)" in out
    assert "client_secret " in out and "(shown once)" in out
    out = await _ok(am, "consumer", "create", "plain")
    assert "(http_message_signature_hmac_sha256, grants client_credentials)" in out and "client_secret " in out


@pytest.mark.parametrize("args, status", [
    (["--auth-method", "private_key_jwt"], 2),                        # no key
    (["--public-key", "x.pem"], 2),                                    # a key without private_key_jwt
    (["--auth-method", "client_secret_jwt", "--public-key", "x.pem"], 2),
    (["--public", "--auth-method", "client_secret_jwt", "--redirect-uri", "http://127.0.0.1/cb"], 2),
])
async def test_create_usage_errors(am, args, status):
    code, _, err = await _cli(am, "consumer", "create", "x", *args)
    assert code == status, err
    assert (await _cli(am, "consumer", "list", "--json"))[1].strip() == "[]"


@pytest.mark.parametrize("which, says", [
    ("private_pem", "private key"), ("private_jwk", "private members"), ("small_rsa", "2048"),
    ("garbage", "neither a JWK nor a PEM"), ("missing", "No such file"),
])
async def test_create_with_a_bad_key_file_is_one_line_and_stores_nothing(am, files, which, says):
    path = files.get(which, "/nonexistent/key.pem")
    code, _, err = await _cli(am, "consumer", "create", "x", "--auth-method", "private_key_jwt", "--public-key", path)
    _one_line_error(code, err, says)
    assert (await _cli(am, "consumer", "list", "--json"))[1].strip() == "[]"


async def test_key_add_list_revoke_and_their_errors(am, photos, files):
    ck = json.loads(await _ok(am, "consumer", "create", "robot", "--auth-method", "private_key_jwt",
                              "--public-key", files["ec_pem"], "--json"))["client_id"]
    out = await _ok(am, "consumer", "key", "add", ck, "--public-key", files["ed_jwk"], "--scope", "read",
                    "--name", "laptop")
    assert out.strip() == f"added key laptop-2026 to {ck}"
    listed = json.loads(await _ok(am, "consumer", "key", "list", ck, "--json"))
    assert [(k["name"], k["scope_ceiling"]) for k in listed] == [(None, None), ("laptop", ["read"])]
    text = await _ok(am, "consumer", "key", "list", ck)
    assert "laptop-2026" in text and "ceiling: read" in text and "(follows the consumer)" in text

    code, _, err = await _cli(am, "consumer", "key", "add", ck, "--public-key", files["ed_jwk"])
    _one_line_error(code, err, "already has a key with kid 'laptop-2026'")
    code, _, err = await _cli(am, "consumer", "key", "add", "nosuchconsumerkey0000000", "--public-key",
                              files["rsa_set"])
    _one_line_error(code, err, "no consumer key")
    code, _, err = await _cli(am, "consumer", "key", "add", ck, "--public-key", files["rsa_set"], "--scope", "admin")
    _one_line_error(code, err, "'admin' is a scope of no realm")
    code, _, err = await _cli(am, "consumer", "key", "add", ck, "--public-key", files["rsa_set"], "--scope", 'a"b')
    _one_line_error(code, err, "scope tokens")
    code, _, err = await _cli(am, "consumer", "key", "add", ck, "--public-key", files["private_pem"])
    _one_line_error(code, err, "bad key", "private key")
    code, _, err = await _cli(am, "consumer", "key", "add", ck, "--public-key", "/nonexistent/k.jwk")
    _one_line_error(code, err, "/nonexistent/k.jwk")
    code, _, err = await _cli(am, "consumer", "key", "list", "nosuchconsumerkey0000000")
    _one_line_error(code, err, "no consumer key")

    assert (await _ok(am, "consumer", "key", "revoke", ck, "laptop-2026")).strip() == \
        f"revoked key laptop-2026 of {ck} and 0 live token(s)"
    code, _, err = await _cli(am, "consumer", "key", "revoke", ck, "laptop-2026")
    _one_line_error(code, err, "no live key with kid 'laptop-2026'")
    code, _, err = await _cli(am, "consumer", "key", "revoke", ck, "never-there")
    _one_line_error(code, err, "no live key")
    listed = json.loads(await _ok(am, "consumer", "key", "list", ck, "--json"))
    assert listed[1]["revoked_at"] is not None and listed[0]["revoked_at"] is None
    code, _, err = await _cli(am, "consumer", "key", "add", ck, "--public-key", files["ed_jwk"])
    _one_line_error(code, err, "already has a key")  # a kid names one key forever


async def test_public_clients_and_signing_consumers(am, files):
    public = json.loads(await _ok(am, "consumer", "create", "app", "--public", "--redirect-uri",
                                  "http://127.0.0.1/cb", "--json"))["client_id"]
    code, _, err = await _cli(am, "consumer", "key", "add", public, "--public-key", files["ec_pem"])
    _one_line_error(code, err, "public client")
    signing = json.loads(await _ok(am, "consumer", "create", "signer", "--json"))["client_id"]
    await _ok(am, "consumer", "key", "add", signing, "--public-key", files["ec_pem"])  # a device key beside cks


async def test_revoking_a_key_revokes_its_tokens_with_feed_events_and_spares_the_other_key(am, photos, files):
    made = json.loads(await _ok(am, "consumer", "create", "robot", "--auth-method", "private_key_jwt",
                                "--public-key", files["ec_pem"], "--public-key", files["ed_jwk"], "--json"))
    ck = made["client_id"]
    async with am.ctx.sessions() as session:
        first, laptop = await key_repo.live(session, ck)
    mine = [await insert_token(am, client_id=ck, realm="photos", client_key_id=laptop.id) for _ in range(3)]
    expired = await insert_token(am, client_id=ck, realm="photos", client_key_id=laptop.id, ttl=-10)
    others = [await insert_token(am, client_id=ck, realm="photos", client_key_id=first.id),
              await insert_token(am, client_id=ck, realm="photos", client_key_id=None)]

    out = await _ok(am, "consumer", "key", "revoke", ck, "laptop-2026")
    assert out.strip() == f"revoked key laptop-2026 of {ck} and 3 live token(s)"
    assert await token_states(am, mine + others + [expired]) == {
        **{j: True for j in mine}, **{j: False for j in others}, expired: False}
    assert sorted(await feed_jtis(am)) == sorted(mine)
    async with am.ctx.sessions() as session:
        assert [k.kid for k in await key_repo.live(session, ck)] == [first.kid]
        audited = (await session.execute(AuditEvent.__table__.select().where(
            AuditEvent.action == "client_key.revoke"))).all()
    assert [(a.actor, a.target, a.detail) for a in audited] == [
        ("cli", ck, {"kid": "laptop-2026", "tokens_revoked": 3})]
