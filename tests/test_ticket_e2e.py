"""End to end over real sockets on 127.0.0.1: the owner shares a realm with Bob (IndieAuth Ticket
Auth); the AM discovers Bob's ticket endpoint and pushes a ticket; Bob's consumer_sdk endpoint
redeems it at the AM named by the realm metadata; Bob's next request is served with no handshake."""

import aiohttp
from amkit import counts
from bobkit import bob_site
from conftest import running_am
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from authmanager.outbound.guard import policy_for
from authmanager.serving import base_url, bound_socket, serve
from authmanager.sharing.share import list_shares, share
from authmanager.storage.models import SavedGrant
from consumer_sdk import MemoryStore, ProtectServeAuth, TicketEndpoint
from rs_middleware.example import create_example_app


async def test_share_push_redeem_then_bob_reads_without_a_handshake(database_url, clock, tmp_path):
    async with running_am(database_url, clock, tmp_path, allow_private_targets=True) as am:
        sock = bound_socket()
        resource = base_url(sock) + "/"
        realm = await am.create_realm("photos", resource=resource, scopes=["read", "write"])
        # no policy: the owner's share is the authorization
        sp = create_example_app(realm="photos", resource=resource, authorization_manager=am.issuer, sph=realm.sph,
                                sph_secret=realm.sph_secret, now=clock)
        store, ticket_steps = MemoryStore(), []
        endpoint = lambda bob: TicketEndpoint(subject=bob, store=store, on_step=ticket_steps.append)
        async with serve(sp, sock), bob_site(endpoint=endpoint) as (bob, ticket_endpoint):
            result = await share(am.ctx.sessions, realm="photos", subject=bob, scopes=["read"], max_ttl=600,
                                 policy=policy_for(am.settings.allow_private_targets), now=clock)
            assert result.delivered and result.status == 202 and result.endpoint == bob + "ticket"
            [outcome] = await ticket_endpoint.join()
            assert outcome.error is None and outcome.token is not None
            assert outcome.token.resource == resource and outcome.token.scope == {"read"}
            assert [s.name for s in ticket_steps] == ["challenge", "resource_metadata", "am_metadata", "token"]

            steps = []
            async with aiohttp.ClientSession(middlewares=[ProtectServeAuth(store=store, on_step=steps.append)]) as http:
                async with http.get(resource + "photos/") as r:
                    assert r.status == 200 and "photos" in await r.json()
            assert [(s.name, s.status) for s in steps] == [("request", 200)]  # no handshake

        claims = jwt.decode(outcome.token.access_token, KeySet.import_key_set(am.ctx.keyring.jwks()),
                            algorithms=["ES256"]).claims
        assert claims["sub"] == bob and claims["client_id"] == bob and claims["aud"] == resource
        assert claims["scope"] == "read" and claims["exp"] - claims["iat"] == 600  # --max-ttl
        assert (await counts(am))["consumers"] == 0  # Bob never registered a consumer key
        [row] = await list_shares(am.ctx.sessions)
        assert row["delivery"] == "delivered" and row["http_status"] == 202 and row["redeemed_at"] is not None
        async with am.ctx.sessions() as session:
            grant = (await session.scalars(select(SavedGrant))).one()
        assert (grant.subject, grant.scopes, grant.max_ttl) == (bob, ["read"], 600)
