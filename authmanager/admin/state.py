"""How console handlers reach the AM's context and the signed-in account (the state itself is
the shared sign-in state, :mod:`authmanager.signin.state`)."""

from __future__ import annotations

from aiohttp import web

from ..signin.state import PRINCIPAL, SESSION_HASH, SIGNIN, am
from .auth import Principal

__all__ = ["PRINCIPAL", "SESSION_HASH", "SIGNIN", "am", "principal"]


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]
