"""Two AM processes on one PostgreSQL database, as a scaled-out deployment runs them: a nonce
used at one is refused at the other, and a revocation made at one reaches an SP subscribed to
the other within a second. Nothing in-process is needed for either."""

import json
import os
import sys

import aiohttp

from signers import sign_9421, token_form
from test_cli_processes import free_port, run, server
from test_propagation_processes import _status, _until_rejected

PY = sys.executable


async def test_two_am_processes_share_one_truth(pg_url, tmp_path):
    port1, port2, sp_port = free_port(), free_port(), free_port()
    issuer, other = f"http://127.0.0.1:{port1}", f"http://127.0.0.1:{port2}"  # one issuer, two processes
    resource = f"http://127.0.0.1:{sp_port}/"
    env = {**os.environ, "AUTHMANAGER_DATABASE_URL": pg_url, "AUTHMANAGER_KEY_FILE": str(tmp_path / "am.key")}
    serve = [PY, "-m", "authmanager.cli", "serve", "--issuer", issuer, "--port"]
    async with server(*serve, str(port1), env=env), server(*serve, str(port2), env=env):
        code, out, err = await run(PY, "-m", "authmanager.cli", "realm", "create", "photos", "--resource",
                                   resource, "--scope", "read", "--json", env=env)
        assert code == 0, err
        realm = json.loads(out)
        await run(PY, "-m", "authmanager.cli", "policy", "add", "photos", "--effect", "permit", "--scope", "read",
                  env=env)
        async with aiohttp.ClientSession() as http:
            async with http.post(other + "/register", json={"client_name": "scaled"}) as r:
                client = await r.json()
            # 1. Replay across processes, both directions.
            for first, second in ((issuer, other), (other, issuer)):
                body = token_form(realm["sph"], "read")
                headers = sign_9421(issuer + "/token", body, client["client_id"], client["client_secret"])
                async with http.post(first + "/token", data=body, headers=headers) as r:
                    assert r.status == 200
                    token = (await r.json())["access_token"]
                async with http.post(second + "/token", data=body, headers=headers) as r:
                    assert r.status == 401 and (await r.json())["error"] == "invalid_client"

            # 2. An SP subscribed to process 1; the revocation is made at process 2.
            sp_env = {**os.environ, "PROTECTSERVE_SPH_SECRET": realm["sph_secret"]}
            async with server(PY, "-m", "rs_middleware.example", "--port", str(sp_port), "--authorization-manager",
                              issuer, "--realm", "photos", "--sph", realm["sph"], "--resource", resource,
                              env=sp_env):
                url = resource + "photos/1"
                assert await _status(http, url, token) == 200
                basic = {"Authorization": aiohttp.encode_basic_auth(realm["sph"], realm["sph_secret"])}
                async with http.post(other + "/revoke", data={"token": token}, headers=basic) as r:
                    assert r.status == 200
                assert await _until_rejected(http, url, token, deadline_s=1.0) < 1.0
