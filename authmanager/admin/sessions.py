"""The console's sessions are the shared sign-in sessions (:mod:`authmanager.signin.sessions`)."""

from ..signin.sessions import COOKIE, cookie_middleware, csrf_token, end, flash, signed_in, start, take_flashes

__all__ = ["COOKIE", "cookie_middleware", "csrf_token", "end", "flash", "signed_in", "start", "take_flashes"]
