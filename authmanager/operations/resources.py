"""What makes two realms' resource URLs "the same resource" (issue 11, item 8).

An access token names its resource server by ``aud`` (the realm's resource URL, RFC 9068 §3),
so two realms on one resource would get tokens each other's SP accepts. The AM therefore
allows one realm per resource, compared by :func:`resource_key`: the URL after RFC 3986 §6.2.2
syntax-based and §6.2.3 scheme-based normalisation, as ``yarl`` performs it —

* scheme and host in lower case, an internationalised host in its IDNA (punycode) form;
* the default port dropped (``:80`` for http, ``:443`` for https), so ``http://h:80/`` is
  ``http://h/``; any other port kept;
* an empty path is ``/``; dot segments removed (``/a/../b`` is ``/b``); percent-encoding
  normalised (``%7e`` is ``~``, ``%2f`` is ``%2F``).

The path is otherwise compared exactly: ``/photos`` and ``/photos/`` are different resources,
and so are ``h`` and ``h.``. The realm keeps the URL as the admin typed it: that is the ``aud``
its SP is configured with; only the key is normalised (and unique in the database).

A resource is an absolute http(s) URL without query, fragment or user information (RFC 9728
§1.2; RFC 9110 §4.2.4 forbids userinfo in http(s) URIs), at most 2000 characters.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from yarl import URL

MAX_RESOURCE = 2000


def resource_key(resource: str) -> str:
    """The normalised form of ``resource`` two realms may not share; ``ValueError`` (with a
    message for the admin) if it is not an acceptable resource URL."""
    problem = ValueError("--resource must be an absolute http(s) URL without query, fragment or user "
                         f"information (RFC 9728 §1.2), at most {MAX_RESOURCE} characters")
    if len(resource) > MAX_RESOURCE or not resource.isprintable() or any(c.isspace() for c in resource):
        raise problem
    parts = urlsplit(resource)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or "#" in resource or "?" in resource \
            or "@" in parts.netloc:
        raise problem
    try:
        url = URL(resource)
        url.port  # noqa: B018 -- a malformed port raises here
    except ValueError:
        raise problem from None
    if not url.host:
        raise problem
    key = str(url.with_path(url.raw_path or "/", encoded=True))
    if len(key) > MAX_RESOURCE:
        raise problem
    return key
