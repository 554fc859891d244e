"""consumer_sdk.ticket_flow without I/O: where the redemption looks for the AM, what it sends,
and that the ticket never appears in a reported step."""

import json

import pytest

from consumer_sdk import Headers, HttpResponse, MemoryStore, MetadataError, TokenRequestError
from consumer_sdk.ticket_flow import redeem_ticket

RESOURCE = "https://alice.example/"
ISSUER = "https://am.example"
TICKET = "t" * 43


def reply(status=200, body=None, **headers):
    return HttpResponse(status, Headers(headers), json.dumps(body).encode() if body is not None else b"")


def resource_doc():
    return {"resource": RESOURCE, "authorization_servers": [ISSUER], "sph": "sph", "realm": "feed",
            "scopes_supported": ["read"]}


def am_doc(grants=("client_credentials", "ticket")):
    return {"issuer": ISSUER, "token_endpoint": ISSUER + "/token", "grant_types_supported": list(grants),
            "token_endpoint_auth_methods_supported": ["http_message_signature_hmac_sha256"]}


def start(store=None, steps=None):
    flow = redeem_ticket(ticket=TICKET, resource=RESOURCE, store=store or MemoryStore(),
                         on_step=(steps.append if steps is not None else None))
    return flow, next(flow)


def test_the_challenge_names_the_metadata_and_the_ticket_goes_to_the_named_am():
    store, steps = MemoryStore(), []
    flow, first = start(store, steps)
    assert (first.method, first.url) == ("GET", RESOURCE)
    metadata = "https://alice.example/.well-known/oauth-protected-resource"
    challenge = f'Bearer realm="feed", resource_metadata="{metadata}"'
    assert flow.send(reply(401, **{"WWW-Authenticate": challenge})).url == metadata
    assert flow.send(reply(body=resource_doc())).url == ISSUER + "/.well-known/oauth-authorization-server"
    token_request = flow.send(reply(body=am_doc()))
    assert (token_request.method, token_request.url) == ("POST", ISSUER + "/token")
    assert token_request.body == f"grant_type=ticket&ticket={TICKET}".encode()
    assert "Authorization" not in token_request.headers and "Signature" not in token_request.headers
    with pytest.raises(StopIteration) as done:
        flow.send(reply(body={"access_token": "jwt", "token_type": "Bearer", "expires_in": 600, "scope": "read"}))
    token = done.value.value
    assert store.get_token(RESOURCE) == token and token.scope == {"read"} and token.issuer == ISSUER
    assert [s.name for s in steps] == ["challenge", "resource_metadata", "am_metadata", "token"]
    assert TICKET not in repr(steps)


def test_no_challenge_or_a_foreign_one_falls_back_to_the_rfc9728_location():
    for first_reply in (reply(404), reply(401, **{"WWW-Authenticate":
                                                  'Bearer resource_metadata="https://evil.example/m"'})):
        flow, _ = start()
        assert flow.send(first_reply).url == "https://alice.example/.well-known/oauth-protected-resource"


def test_an_am_without_the_ticket_grant_or_a_refusal_stops_the_redemption():
    flow, _ = start()
    flow.send(reply(404))
    flow.send(reply(body=resource_doc()))
    with pytest.raises(MetadataError, match="ticket grant"):
        flow.send(reply(body=am_doc(grants=("client_credentials",))))
    flow, _ = start()
    flow.send(reply(404))
    flow.send(reply(body=resource_doc()))
    flow.send(reply(body=am_doc()))
    with pytest.raises(TokenRequestError) as refused:
        flow.send(reply(400, body={"error": "invalid_grant"}))
    assert refused.value.error == "invalid_grant"
