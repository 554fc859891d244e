"""The console's CSRF defence is the shared one (:mod:`authmanager.signin.csrf`)."""

from ..signin.csrf import FIELD, SAFE, csrf_middleware

__all__ = ["FIELD", "SAFE", "csrf_middleware"]
