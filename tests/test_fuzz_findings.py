"""What the schema-driven fuzzing (``.ci/fuzz``) found, pinned as tests over a real AM, so that a
fix cannot regress even on a fuzzing run that happens not to generate the input again."""

from __future__ import annotations

import aiohttp
import pytest


@pytest.mark.parametrize("method", [[], ["oauth1_hmac_sha256"], {"a": 1}, 1, None, True])
async def test_registration_with_a_non_string_auth_method_is_invalid_client_metadata(am, method):
    """RFC 7591 §2 ``token_endpoint_auth_method`` is a string; a list or an object made the
    membership test raise TypeError: a 500."""
    async with aiohttp.ClientSession() as http:
        async with http.post(am.url("/register"), json={"token_endpoint_auth_method": method}) as r:
            assert r.status == 400
            assert (await r.json())["error"] == "invalid_client_metadata"
