"""Which redirect URIs may be registered, and when a presented one matches (RFC 8252 §7.3, RFC 9700 §4.1.3)."""

from __future__ import annotations

import pytest

from authmanager.clients.redirect_uris import check, check_all, find, matches
from authmanager.errors import InvalidRedirectUri

GOOD = ["https://app.example/cb", "https://app.example:8443/cb?x=1", "http://127.0.0.1/cb", "http://127.0.0.1:8765/cb",
        "http://127.9.9.9:1/", "http://[::1]:5000/callback", "http://localhost:3000/callback"]
BAD = ["", "/cb", "app.example/cb", "https://app.example/cb#frag", "https://app.example/cb#", "http://app.example/cb",
       "http://10.0.0.1/cb", "http://192.168.1.1/cb", "http://127.0.0.1.example/cb", "http://localhost.example/cb",
       "ftp://app.example/cb", "com.example.app:/cb", "javascript:alert(1)", "https://user@app.example/cb",
       "https://app.example/c b", "https://app.example/\x00", "https://äpp.example/cb", "https://app.example:99999/cb",
       "https:///cb", "https://" + "a" * 2000 + ".example/", 7, None]


@pytest.mark.parametrize("uri", GOOD)
def test_acceptable_redirect_uris(uri: str) -> None:
    assert check(uri) == uri


@pytest.mark.parametrize("uri", BAD)
def test_refused_redirect_uris_are_invalid_redirect_uri(uri: object) -> None:
    with pytest.raises(InvalidRedirectUri) as info:
        check(uri)
    assert info.value.error == "invalid_redirect_uri"


def test_a_list_is_required_and_deduplicated() -> None:
    assert check_all(["https://a.example/cb", "https://a.example/cb"]) == ("https://a.example/cb",)
    for bad in ([], "https://a.example/cb", ["https://a.example/cb"] * 21, [3]):
        with pytest.raises(InvalidRedirectUri):
            check_all(bad)


def test_exact_match_only_for_non_loopback() -> None:
    reg = "https://app.example/cb"
    assert matches(reg, reg)
    for other in ("https://app.example/cb/", "https://APP.example/cb", "https://app.example/cb?x=1",
                  "https://app.example:443/cb", "https://app.example:8443/cb", "https://app.example/c",
                  "https://app.example/cb#x", "http://app.example/cb", "https://evil.example/cb"):
        assert not matches(reg, other), other


def test_loopback_redirects_may_use_any_port_and_nothing_else_differs() -> None:
    reg = "http://127.0.0.1/callback"
    assert matches(reg, "http://127.0.0.1:49152/callback")
    assert matches("http://127.0.0.1:1234/callback", "http://127.0.0.1:5678/callback")
    assert matches("http://[::1]/cb", "http://[::1]:6000/cb")
    assert matches("http://localhost:3000/callback", "http://localhost:41234/callback")
    for other in ("http://127.0.0.1:49152/callback/", "http://127.0.0.1:49152/other", "http://127.0.0.2:49152/callback",
                  "http://localhost:49152/callback", "https://127.0.0.1:49152/callback",
                  "http://127.0.0.1:49152/callback?x=1", "http://127.0.0.1:49152/callback#f",
                  "http://evil@127.0.0.1:49152/callback", "http://127.0.0.1:notaport/callback"):
        assert not matches(reg, other), other


def test_find_uses_the_only_registered_uri_when_none_is_presented() -> None:
    one, two = ("https://a.example/cb",), ("https://a.example/cb", "https://a.example/cb2")
    assert find(one, None) == "https://a.example/cb"
    assert find(two, None) is None
    assert find(two, "https://a.example/cb2") == "https://a.example/cb2"
    assert find(two, "https://a.example/cb3") is None
    assert find(("http://127.0.0.1/cb",), "http://127.0.0.1:9/cb") == "http://127.0.0.1:9/cb"
