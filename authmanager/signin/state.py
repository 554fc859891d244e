"""The shared sign-in state (one ``web.AppKey`` on the AM's application) and the request keys
of a signed-in request."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..accounts.auth import Principal
from ..context import CONTEXT, Context
from ..runtime.signin_throttle import SignInThrottle


@dataclass(slots=True)
class SigninState:
    #: aiohttp-session's middleware over EncryptedCookieStorage, built at start-up, when the
    #: server key (from which the cookie key is derived) has been loaded.
    sessions: Middleware
    #: Sign-in throttling (per client IP and per account name).
    throttle: SignInThrottle


SIGNIN: web.AppKey[SigninState] = web.AppKey("protectserve_signin", SigninState)
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("protectserve_admin", Principal)
#: The hashed session id of a signed-in request (to end it at logout).
SESSION_HASH: web.RequestKey[str] = web.RequestKey("protectserve_admin_session", str)


def am(request: web.Request) -> Context:
    """The AM's context from inside a sub-application."""
    return request.config_dict[CONTEXT]
