"""Issue 12 §5: refresh tokens (RFC 6749 §6, RFC 9700 §4.14.2, OAuth 2.1 §4.3): rotation, reuse
detection, client binding, idle and absolute lifetimes, RFC 7009 and IndieAuth revocation; and
a person token's ``sub`` in introspection and IndieAuth verification (``me``)."""

import asyncio

import aiohttp
import pytest
from sqlalchemy import func, select

from authmanager.settings import ConfigError, Settings
from authmanager.storage.models import AccessToken, RefreshToken, RevocationEvent
from codekit import RESOURCE, account, code_form, introspect, make_code, post, public_client, refresh, subject
from conftest import running_am


async def _grant(am, http, client_id, person, **code_kw):
    code, verifier = await make_code(am, client_id=client_id, account_id=person, **code_kw)
    status, body, _ = await post(http, am, code_form(code, verifier, client_id))
    assert status == 200, body
    return body


@pytest.fixture
async def granted(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    person = await account(am)
    client_id = await public_client(am)
    async with aiohttp.ClientSession() as http:
        yield am, realm, person, client_id, http, await _grant(am, http, client_id, person)


async def test_rotation_issues_a_new_pair_and_retires_the_old_refresh_token(granted):
    am, realm, person, client_id, http, first = granted
    status, second, _ = await refresh(http, am, first["refresh_token"], client_id)
    assert status == 200 and set(second) == set(first) and second["refresh_token"] != first["refresh_token"]
    status, third, _ = await refresh(http, am, second["refresh_token"], client_id)
    assert status == 200 and third["scope"] == "read write"
    got = await introspect(http, am, realm, third["access_token"])
    assert got["active"] is True and got["sub"] == subject(am, person) and got["client_id"] == client_id
    async with am.ctx.sessions() as session:
        families = await session.scalar(select(func.count(func.distinct(RefreshToken.family_id))))
        live = await session.scalar(select(func.count()).select_from(RefreshToken).where(RefreshToken.used_at.is_(None)))
    assert families == 1 and live == 1


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(granted):
    am, realm, _, client_id, http, first = granted
    status, second, _ = await refresh(http, am, first["refresh_token"], client_id)
    assert status == 200
    async with am.ctx.sessions() as session:
        events_before = await session.scalar(select(func.count()).select_from(RevocationEvent))
    status, body, _ = await refresh(http, am, first["refresh_token"], client_id)  # the thief, or the victim
    assert status == 400 and body["error"] == "invalid_grant"
    for token in (first["access_token"], second["access_token"]):
        assert await introspect(http, am, realm, token) == {"active": False}
    status, body, _ = await refresh(http, am, second["refresh_token"], client_id)
    assert status == 400 and body["error"] == "invalid_grant"
    async with am.ctx.sessions() as session:
        events = (await session.scalars(select(RevocationEvent).where(RevocationEvent.kind == "token_revoked"))).all()
    assert len(events) - events_before == 2  # resource servers hear of both access tokens


async def test_a_refresh_token_is_bound_to_its_client(granted):
    am, realm, _, client_id, http, first = granted
    other = await public_client(am)
    status, body, _ = await refresh(http, am, first["refresh_token"], other)
    assert status == 400 and body["error"] == "invalid_grant"
    status, _, _ = await refresh(http, am, first["refresh_token"], client_id)
    assert status == 200  # the other client's attempt changed nothing


async def test_scope_may_be_narrowed_never_widened(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write", "admin"])
    person, client_id = await account(am), await public_client(am)
    async with aiohttp.ClientSession() as http:
        first = await _grant(am, http, client_id, person)
        status, body, _ = await refresh(http, am, first["refresh_token"], client_id, scope="read admin")
        assert status == 400 and body["error"] == "invalid_scope"
        status, narrow, _ = await refresh(http, am, first["refresh_token"], client_id, scope="read")
        assert status == 200 and narrow["scope"] == "read"
        status, whole, _ = await refresh(http, am, narrow["refresh_token"], client_id)
        assert status == 200 and whole["scope"] == "read write"  # §6: the new refresh token's scope is identical


async def test_two_concurrent_uses_have_exactly_one_winner(granted):
    am, realm, _, client_id, http, first = granted
    answers = await asyncio.gather(*(refresh(http, am, first["refresh_token"], client_id) for _ in range(2)))
    assert sorted(status for status, _, _ in answers) == [200, 400]
    (winner,) = [body for status, body, _ in answers if status == 200]
    # The loser presented a used token: a reuse, so the family (the winner's new pair too) is revoked.
    assert await introspect(http, am, realm, winner["access_token"]) == {"active": False}
    async with am.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(RefreshToken)
                                    .where(RefreshToken.revoked_at.is_(None))) == 0


@pytest.mark.parametrize("limit", ["idle", "absolute"])
async def test_idle_and_absolute_lifetimes(database_url, clock, tmp_path, limit):
    async with running_am(database_url, clock, tmp_path, refresh_idle_ttl=100, refresh_absolute_ttl=250) as am:
        await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
        person, client_id = await account(am), await public_client(am)
        async with aiohttp.ClientSession() as http:
            token = (await _grant(am, http, client_id, person))["refresh_token"]
            if limit == "idle":
                clock.advance(99)
                status, body, _ = await refresh(http, am, token, client_id)
                assert status == 200
                token = body["refresh_token"]
                clock.advance(101)  # 200 s after the grant, 101 s idle
            else:
                for _ in range(2):  # used every 90 s: never idle for 100 s
                    clock.advance(90)
                    status, body, _ = await refresh(http, am, token, client_id)
                    assert status == 200
                    token = body["refresh_token"]
                clock.advance(71)  # 251 s after the grant
            status, body, _ = await refresh(http, am, token, client_id)
            assert status == 400 and body["error"] == "invalid_grant"


def test_lifetime_settings_are_checked():
    loaded = Settings.load(environ={"AUTHMANAGER_REFRESH_IDLE_TTL": "60", "AUTHMANAGER_REFRESH_ABSOLUTE_TTL": "600"})
    assert (loaded.refresh_idle_ttl, loaded.refresh_absolute_ttl) == (60, 600)
    assert (Settings().refresh_idle_ttl, Settings().refresh_absolute_ttl) == (14 * 86400, 90 * 86400)
    with pytest.raises(ConfigError, match="must not exceed"):
        Settings.load(environ={"AUTHMANAGER_REFRESH_IDLE_TTL": "601", "AUTHMANAGER_REFRESH_ABSOLUTE_TTL": "600"})
    with pytest.raises(ConfigError, match="must be positive"):
        Settings.load(environ={"AUTHMANAGER_REFRESH_IDLE_TTL": "0"})


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
async def test_rfc7009_revoking_a_refresh_token_revokes_its_family(granted, hint):
    am, realm, _, client_id, http, first = granted
    form = {"token": first["refresh_token"], "client_id": client_id, **({"token_type_hint": hint} if hint else {})}
    other = await public_client(am)
    status, body, _ = await post(http, am, {**form, "client_id": other}, path="/revoke")
    assert status == 400 and body["error"] == "unauthorized_client"
    assert (await introspect(http, am, realm, first["access_token"]))["active"] is True
    status, body, _ = await post(http, am, form, path="/revoke")
    assert status == 200 and body == {}
    assert await introspect(http, am, realm, first["access_token"]) == {"active": False}
    status, body, _ = await refresh(http, am, first["refresh_token"], client_id)
    assert status == 400 and body["error"] == "invalid_grant"


async def test_rfc7009_by_the_realms_service_provider(granted):
    am, realm, _, client_id, http, first = granted
    basic = {"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}
    status, _, _ = await post(http, am, {"token": first["refresh_token"]}, path="/revoke", headers=basic)
    assert status == 200
    status, body, _ = await refresh(http, am, first["refresh_token"], client_id)
    assert status == 400 and body["error"] == "invalid_grant"


async def test_rfc7009_a_public_client_revokes_its_access_token_alone(granted):
    am, realm, _, client_id, http, first = granted
    status, _, _ = await post(http, am, {"token": first["access_token"], "client_id": client_id}, path="/revoke")
    assert status == 200
    assert await introspect(http, am, realm, first["access_token"]) == {"active": False}
    status, _, _ = await refresh(http, am, first["refresh_token"], client_id)
    assert status == 200  # RFC 7009 §2.1 "MAY": the refresh token stays


async def test_rfc7009_without_client_id_is_invalid_client(granted):
    am, _, _, _, http, first = granted
    status, body, _ = await post(http, am, {"token": first["refresh_token"]}, path="/revoke")
    assert status == 401 and body["error"] == "invalid_client"


async def test_indieauth_verification_names_the_person_as_me(granted):
    am, _, person, client_id, http, first = granted
    async with http.get(am.url("/token"), headers={"Authorization": f"Bearer {first['access_token']}",
                                                   "Accept": "application/json"}) as r:
        assert r.status == 200
        assert await r.json() == {"me": subject(am, person), "client_id": client_id, "scope": "read write"}


async def test_indieauth_revoke_with_a_refresh_token_revokes_its_family(granted):
    am, realm, _, client_id, http, first = granted
    status, body, _ = await post(http, am, {"action": "revoke", "token": first["refresh_token"]})
    assert status == 200 and body == {}
    assert await introspect(http, am, realm, first["access_token"]) == {"active": False}
    status, body, _ = await refresh(http, am, first["refresh_token"], client_id)
    assert status == 400 and body["error"] == "invalid_grant"


async def test_revoke_family_operation(granted):
    """What a person's "applications I allowed" page and the realm admin call."""
    from authmanager.storage import refresh_tokens

    am, realm, person, client_id, http, first = granted
    async with am.ctx.sessions.begin() as session:
        (family,) = await refresh_tokens.families_of(session, client_id=client_id, account_id=person)
        assert await refresh_tokens.revoke_family(session, family, int(am.clock()), actor="admin:root") == 1
    assert await introspect(http, am, realm, first["access_token"]) == {"active": False}
    async with am.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AccessToken)
                                    .where(AccessToken.revoked_at.is_(None))) == 0
    status, _, _ = await refresh(http, am, first["refresh_token"], client_id)
    assert status == 400


async def test_rfc7009_a_confidential_client_revokes_its_refresh_token_signed(am):
    from codekit import confidential_client

    await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    person = await account(am)
    async with aiohttp.ClientSession() as http:
        client = await confidential_client(http, am)
        code, verifier = await make_code(am, client_id=client["client_id"], account_id=person)
        status, body, _ = await post(http, am, code_form(code, verifier, None), signed_by=client)
        assert status == 200
        status, _, _ = await post(http, am, {"token": body["refresh_token"], "token_type_hint": "refresh_token"},
                                  path="/revoke", signed_by=client)
        assert status == 200
        status, again, _ = await post(http, am, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                                      signed_by=client)
        assert status == 400 and again["error"] == "invalid_grant"


async def test_purge_keeps_what_reuse_detection_needs_and_drops_dead_families(granted):
    from authmanager.runtime.purge import CODE_KEPT, purge
    from authmanager.storage.models import AuthorizationCode, Consumer

    am, _, _, client_id, http, first = granted
    now = int(am.clock())
    async with am.ctx.sessions() as session:
        assert (await session.get(Consumer, client_id)).last_used_at is not None  # a public key in use is kept
    report = await purge(am.ctx.sessions, now=now + 3600, unused_consumer_ttl=10**9)
    assert (report.codes, report.refresh_tokens) == (0, 0)
    report = await purge(am.ctx.sessions, now=now + 60 + CODE_KEPT, unused_consumer_ttl=10**9)
    assert report.codes == 1 and report.refresh_tokens == 0
    report = await purge(am.ctx.sessions, now=now + am.settings.refresh_absolute_ttl, unused_consumer_ttl=10**9)
    assert report.refresh_tokens == 1
    async with am.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AuthorizationCode)) == 0


def test_serve_refuses_an_idle_lifetime_longer_than_the_absolute_one(tmp_path):
    from click.testing import CliRunner

    from authmanager.cli import main

    result = CliRunner().invoke(main, ["--database", f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", "serve",
                                       "--refresh-idle-ttl", "100", "--refresh-absolute-ttl", "50"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: refresh_idle_ttl (100) must not exceed refresh_absolute_ttl (50)"


@pytest.mark.parametrize("case", ["no refresh_token", "no client_id", "unknown token"])
async def test_refresh_request_errors(granted, case):
    am, _, _, client_id, http, first = granted
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": client_id}
    expected = {"no refresh_token": (400, "invalid_request"), "no client_id": (401, "invalid_client"),
                "unknown token": (400, "invalid_grant")}[case]
    if case == "no refresh_token":
        del form["refresh_token"]
    elif case == "no client_id":
        del form["client_id"]
    else:
        form["refresh_token"] = "never-issued"
    status, body, _ = await post(http, am, form)
    assert (status, body["error"]) == expected
    status, _, _ = await refresh(http, am, first["refresh_token"], client_id)
    assert status == 200  # none of these touched the family
