"""Property tests of the AM's signature verification (both methods), with Hypothesis:
sign -> verify succeeds, and every single-byte mutation of a covered part fails."""

import asyncio
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from signers import sign_5849, sign_9421

from authmanager.client_auth import RequestView, verify
from authmanager.endpoints.forms import parse_form_body
from authmanager.errors import InvalidClient, InvalidRequest

URL = "http://127.0.0.1:8400/token"
CK, CKS, NOW = "ck-property", "s3cret-with-256-bits-of-entropy-xxxxxxxxxxxx", 1_800_000_000
ALNUM = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
FORMS = st.dictionaries(ALNUM, ALNUM, min_size=1, max_size=5)


async def _lookup(client_id: str) -> str | None:
    return CKS if client_id == CK else None


def _verify(method: str, body: bytes, headers: dict[str, str]) -> bool:
    """As the endpoints do: the form is parsed once, and that form is what RFC 5849 covers."""
    try:
        view = RequestView(method=method, url=URL, headers=headers, body=body, header_lines=tuple(headers.items()),
                           form=parse_form_body(body))
        asyncio.run(verify(view, _lookup, now=NOW, window=300))
    except (InvalidClient, InvalidRequest):
        return False
    return True


def _signed(scheme: str, form: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    body = urlencode(form).encode()
    if scheme == "rfc9421":
        return body, sign_9421(URL, body, CK, CKS, created=NOW, nonce="n0nce")
    return body, sign_5849(URL, body, CK, CKS, timestamp=NOW, nonce="n0nce")


def _mutate(data: bytes, index: int, byte: int) -> bytes:
    index %= len(data)
    assume(data[index] != byte)
    return data[:index] + bytes([byte]) + data[index + 1:]


property_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("scheme", ["rfc9421", "rfc5849"])
@property_settings
@given(form=FORMS)
def test_signed_requests_verify(scheme, form):
    body, headers = _signed(scheme, form)
    assert _verify("POST", body, headers)


@pytest.mark.parametrize("scheme", ["rfc9421", "rfc5849"])
@property_settings
@given(form=FORMS, index=st.integers(min_value=0), byte=st.integers(min_value=0, max_value=255))
def test_any_body_byte_changed_fails(scheme, form, index, byte):
    body, headers = _signed(scheme, form)
    mutated = _mutate(body, index, byte)
    if scheme == "rfc5849":  # the OAuth 1 base string covers the decoded parameters, not raw bytes
        try:
            assume(sorted(parse_qsl(mutated.decode(), keep_blank_values=True)) != sorted(form.items()))
        except UnicodeDecodeError:
            pass
    assert not _verify("POST", mutated, headers)


@pytest.mark.parametrize("scheme, header", [("rfc9421", "Signature-Input"), ("rfc9421", "Signature"),
                                            ("rfc9421", "Content-Digest"), ("rfc5849", "Authorization")])
@property_settings
@given(form=FORMS, index=st.integers(min_value=0), byte=st.integers(min_value=0x21, max_value=0x7E))
def test_any_signature_header_byte_changed_fails(scheme, header, form, index, byte):
    body, headers = _signed(scheme, form)
    value = headers[header].encode()
    mutated = _mutate(value, index, byte).decode()
    if header in ("Signature", "Content-Digest", "Authorization"):
        # a base64 character whose change only touches padding bits encodes the same bytes
        assume(not _same_after_decoding(headers[header], mutated))
    if header == "Authorization":
        # the auth-scheme is case-insensitive (RFC 9110 §11.1): "OAutH" names the same scheme
        scheme_name, _, rest = mutated.partition(" ")
        assume(not (scheme_name.lower() == "oauth" and rest == headers[header].partition(" ")[2]))
    assert not _verify("POST", body, {**headers, header: mutated})


def test_method_is_covered():
    for scheme in ("rfc9421", "rfc5849"):
        body, headers = _signed(scheme, {"grant_type": "client_credentials"})
        assert _verify("POST", body, headers) and not _verify("PUT", body, headers)


def _same_after_decoding(original: str, mutated: str) -> bool:
    import base64
    import re
    from urllib.parse import unquote

    def blobs(text: str) -> list[bytes]:
        out = []
        for token in re.findall(r"[A-Za-z0-9+/=%_-]{16,}", text):
            try:
                out.append(base64.b64decode(unquote(token) + "==", validate=False))
            except ValueError:
                out.append(token.encode())
        return out

    strip = re.sub(r"[A-Za-z0-9+/=%_-]{16,}", "", original) == re.sub(r"[A-Za-z0-9+/=%_-]{16,}", "", mutated)
    return strip and blobs(original) == blobs(mutated)
