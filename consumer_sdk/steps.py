"""The handshake's trace: each exchange reported as a ``Step`` with public values only (realm,
issuer, client_id, scopes, OAuth error codes) — never cks, a token or a ticket."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .challenge import BearerChallenge
from .documents import AuthorizationServer, ResourceMetadata, json_error
from .messages import HttpResponse, Step
from .store import ClientCredentials


def check_step(emit: Callable[[Step], None], name: str, url: str, reply: HttpResponse,
               reader: Callable[..., Any], method: str = "GET", **kwargs: Any) -> Any:
    """Run ``reader`` on ``reply`` and report the exchange as a ``Step``, also when it is refused."""
    try:
        result = reader(reply, **kwargs)
    except Exception as exc:
        detail = {"error": getattr(exc, "error", None) or type(exc).__name__, "reason": str(exc)}
        emit(Step(name, method, url, reply.status, detail))
        raise
    emit(Step(name, method, url, reply.status, _detail(result)))
    return result


def challenge_detail(challenge: BearerChallenge) -> dict[str, Any]:
    detail: dict[str, Any] = {"realm": challenge.realm, "resource_metadata": challenge.resource_metadata}
    if challenge.error:
        detail["error"] = challenge.error
    if challenge.scope:
        detail["scope"] = " ".join(sorted(challenge.scope))
    return detail


def _detail(result: Any) -> dict[str, Any]:
    if isinstance(result, ResourceMetadata):
        return {"resource": result.resource, "realm": result.realm, "sph": result.sph,
                "authorization_server": result.authorization_server, "scopes_supported": list(result.scopes_supported)}
    if isinstance(result, AuthorizationServer):
        return {"issuer": result.issuer, "token_endpoint": result.token_endpoint,
                "registration_endpoint": result.registration_endpoint}
    if isinstance(result, ClientCredentials):
        return {"client_id": result.client_id}
    return {}


def token_step(emit: Callable[[Step], None], am: AuthorizationServer, credentials: ClientCredentials,
               scopes: tuple[str, ...], signature: str, reply: HttpResponse) -> None:
    detail: dict[str, Any] = {"client_id": credentials.client_id, "signature": signature,
                              "scope": " ".join(scopes)}
    if reply.status == 200:
        try:
            granted = json.loads(reply.body)
            detail.update(granted_scope=granted.get("scope"), expires_in=granted.get("expires_in"))
        except (ValueError, AttributeError):
            pass
    else:
        detail["error"] = json_error(reply)[0]
    emit(Step("token", "POST", am.token_endpoint, reply.status, detail))
