"""Sessions of the console and the authorization dialog: aiohttp-session's
``EncryptedCookieStorage`` plus a server-side session row.

* The cookie key is derived from the AM's server key with HKDF (``SecretBox.derive``): no new
  key is stored anywhere, and every AM process sharing the server key reads the same cookies.
* The cookie (``protectserve_session``, path ``/``) is HttpOnly, SameSite=Lax, and Secure when
  the issuer is https. It carries a random session id, the CSRF token and the digests of the
  authorization requests shown to this browser, encrypted and authenticated (Fernet).
  Path ``/`` because one sign-in serves ``/admin`` and ``/authorize``. Lax, not Strict: the
  person reaches ``/authorize`` by a top-level navigation from the client application's site,
  and a Strict cookie would not be sent on it, so a signed-in person would be asked to sign in
  again on every authorization. Lax still withholds the cookie from cross-site subresources,
  frames and POSTs; every POST also needs the CSRF token and a same-origin ``Origin``
  (:mod:`.csrf`), and GET handlers change nothing that matters (see docs/authorization.md).
* Signing in starts a NEW session (new cookie, new id), so an id planted before sign-in is
  worthless (no fixation). The database keeps only the SHA-256 of the id (``admin_sessions``),
  with an absolute expiry (``admin_session_ttl``); every request checks that row, and logging
  out deletes it, so the old cookie stops working at once, even if it was copied.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import Session, get_session, new_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from .. import audit
from ..secretbox import SecretBox, digest, random_secret
from ..settings import Settings
from ..storage import admins as admin_repo
from ..storage.models import Admin, AdminSession
from ..accounts.auth import Principal, principal
from .state import PRINCIPAL, SESSION_HASH, am

COOKIE = "protectserve_session"


def cookie_middleware(box: SecretBox, settings: Settings):  # type: ignore[no-untyped-def]
    storage = EncryptedCookieStorage(box.derive("signin-session-cookie"), cookie_name=COOKIE, path="/",
                                     httponly=True, samesite="Lax", secure=settings.issuer.startswith("https:"))
    return session_middleware(storage)


async def csrf_token(request: web.Request) -> str:
    """This session's CSRF token (a session is started for a visitor who has none)."""
    session = await get_session(request)
    if "csrf" not in session:
        session["csrf"] = random_secret(32)
    return str(session["csrf"])


async def signed_in(request: web.Request) -> Principal | None:
    """The account of this request's live session, else None. Sets ``request[PRINCIPAL]``."""
    session = await get_session(request)
    sid = session.get("sid")
    if not isinstance(sid, str):
        return None
    ctx = am(request)
    async with ctx.sessions() as db:
        row = await admin_repo.live_session(db, digest(sid), now=ctx.now())
        admin = None if row is None else await admin_repo.get(db, row.admin_id)
        if admin is None:
            return None
        who = await principal(db, admin)
    request[PRINCIPAL] = who
    request[SESSION_HASH] = digest(sid)
    return who


async def start(request: web.Request, admin: Admin) -> Session:
    """A fresh session for ``admin`` (new cookie, new id, new CSRF token), audited as admin.login.
    Whatever the old session held is dropped."""
    ctx = am(request)
    now, sid = ctx.now(), random_secret(32)
    async with ctx.sessions.begin() as db:
        await admin_repo.end_expired_sessions(db, now=now)
        await admin_repo.add_session(db, AdminSession(id_hash=digest(sid), admin_id=admin.id, created_at=now,
                                                      expires_at=now + ctx.settings.admin_session_ttl))
        await audit.record(db, action="admin.login", actor=f"admin:{admin.name}", now=now,
                           detail={"ip": request.remote or "unknown"})
    session = await new_session(request)
    session["sid"], session["csrf"] = sid, random_secret(32)
    return session


async def end(request: web.Request) -> None:
    """Delete the session row (the cookie is dead from now on), audited as admin.logout."""
    ctx = am(request)
    async with ctx.sessions.begin() as db:
        await admin_repo.end_session(db, request[SESSION_HASH])
        await audit.record(db, action="admin.logout", actor=request[PRINCIPAL].actor, now=ctx.now())
    (await get_session(request)).invalidate()


async def flash(request: web.Request, kind: str, text: str) -> None:
    """A message for the next page (after a redirect)."""
    session = await get_session(request)
    session["flash"] = [*session.get("flash", []), [kind, text[:500]]][-5:]


async def take_flashes(request: web.Request) -> list[list[str]]:
    session = await get_session(request)
    return list(session.pop("flash", [])) if "flash" in session else []
