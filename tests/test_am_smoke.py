import aiohttp

from signers import sign_9421, sign_5849, token_form


async def test_smoke(am):
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read", "write"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        r = await http.post(am.url("/register"), json={"client_name": "t"})
        reg = await r.json()
        assert r.status == 201, reg
        for signer in (sign_9421, sign_5849):
            body = token_form(realm.sph, "read write")
            headers = signer(am.url("/token"), body, reg["client_id"], reg["client_secret"])
            r = await http.post(am.url("/token"), data=body, headers=headers)
            tok = await r.json()
            assert r.status == 200, tok
            assert tok["scope"] == "read"
