"""The console's typed state (one ``web.AppKey``) and how handlers reach the AM's context."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..context import CONTEXT, Context
from ..runtime.signin_throttle import SignInThrottle
from .auth import Principal


@dataclass(slots=True)
class ConsoleState:
    #: aiohttp-session's middleware over EncryptedCookieStorage, built at start-up, when the
    #: server key (from which the cookie key is derived) has been loaded.
    sessions: Middleware
    #: Sign-in throttling (per client IP and per account name).
    throttle: SignInThrottle


STATE: web.AppKey[ConsoleState] = web.AppKey("protectserve_console", ConsoleState)
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("protectserve_admin", Principal)
#: The hashed session id of a signed-in console request (to end it at logout).
SESSION_HASH: web.RequestKey[str] = web.RequestKey("protectserve_admin_session", str)


def am(request: web.Request) -> Context:
    """The AM's context from inside a sub-application."""
    return request.config_dict[CONTEXT]


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]
