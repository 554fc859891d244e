"""Issue 12 §4/§6: a client identified by its metadata document URL (IndieAuth's client model)
is a public client at the token endpoint: ``client_id`` in the form, no signature. Its document
is served on 127.0.0.1 (``allow_private_targets``)."""

import aiohttp
import pytest
from aiohttp import web

from authmanager.serving import bound_socket, serve
from codekit import REDIRECT, RESOURCE, account, claims, code_form, make_code, post, refresh, subject
from conftest import running_am


@pytest.fixture
async def document_am(database_url, clock, tmp_path):
    sock = bound_socket()
    client_id = "http://127.0.0.1:%d/client.json" % sock.getsockname()[1]
    doc = {"client_id": client_id, "client_name": "Doc app", "redirect_uris": [REDIRECT],
           "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"}

    async def document(request: web.Request) -> web.Response:
        return web.json_response(doc)

    app = web.Application()
    app.router.add_get("/client.json", document)
    async with serve(app, sock), running_am(database_url, clock, tmp_path, allow_private_targets=True) as am:
        await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
        async with aiohttp.ClientSession() as http:
            yield am, client_id, http


async def test_a_client_id_url_redeems_and_refreshes_as_a_public_client(document_am):
    am, client_id, http = document_am
    person = await account(am)
    code, verifier = await make_code(am, client_id=client_id, account_id=person)
    status, body, _ = await post(http, am, code_form(code, verifier, client_id))
    assert status == 200, body
    _, got = await claims(http, am, body["access_token"])
    assert got["client_id"] == client_id and got["sub"] == subject(am, person)
    status, again, _ = await refresh(http, am, body["refresh_token"], client_id)
    assert status == 200, again


async def test_a_client_id_url_that_names_no_document_is_invalid_client(document_am):
    am, client_id, http = document_am
    person = await account(am)
    missing = client_id.replace("client.json", "missing.json")
    code, verifier = await make_code(am, client_id=missing, account_id=person)
    status, body, _ = await post(http, am, code_form(code, verifier, missing))
    assert status == 401 and body["error"] == "invalid_client"
