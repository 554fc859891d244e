"""Where the consumer keeps its consumer keys (ck/cks, per AM issuer), access tokens (per resource)
and the tickets of requests awaiting the realm owner (per resource); and, for a native
application's login (RFC 8252), the public client registered at each AM (per issuer) and, with
each login's access token, its refresh token, ``client_id`` and the AM's token endpoint.

``FileStore`` writes ``credentials.json`` with mode 0600 from its first byte:
the file is created with ``os.open(..., 0o600)`` under a fresh name and moved
into place with ``os.replace`` (atomic on POSIX), inside a 0700 directory.
Secrets never appear in ``repr`` or in log output.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from platformdirs import user_config_dir

from . import locks
from .errors import StoreError

#: A token is used only until this many seconds before its ``expires_at``.
EXPIRY_MARGIN = 30.0


@dataclass(frozen=True)
class ClientCredentials:
    """A consumer key (RFC 7591 §3.2.1 ``client_id`` = ck, ``client_secret`` = cks) issued by one AM."""

    client_id: str
    client_secret: str = field(repr=False)
    issuer: str


@dataclass(frozen=True)
class Token:
    """An access token (RFC 6749 §5.1) for one protected resource (RFC 9728 ``resource``)."""

    access_token: str = field(repr=False)
    token_type: str
    expires_at: float
    scope: frozenset[str]
    realm: str | None
    resource: str
    issuer: str
    #: Set for a login (authorization code grant, RFC 6749 §4.1); ``None`` for a handshake token.
    refresh_token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    token_endpoint: str | None = None

    @property
    def is_login(self) -> bool:
        """Obtained by a person's login (refreshable at ``token_endpoint``), not by the handshake."""
        return self.client_id is not None and self.token_endpoint is not None

    def is_usable(self, now: float) -> bool:
        """Usable only before ``expires_at - 30 s`` (leaves room for clock skew and transit)."""
        return now < self.expires_at - EXPIRY_MARGIN


@dataclass(frozen=True)
class PendingTicket:
    """A token request the AM put to the realm owner (UMA 2.0 Grant §3.3.6 ``request_submitted``),
    kept per resource so that a later request polls with its ticket instead of asking again.
    Only the consumer key that asked (``client_id``) may poll with it."""

    ticket: str = field(repr=False)
    resource: str
    realm: str | None
    issuer: str
    client_id: str
    scopes: frozenset[str]
    interval: int


class CredentialStore(Protocol):
    """Synchronous storage of consumer keys, tokens and pending tickets; implementations must not
    log secrets. (The pending-ticket methods are optional: a store without them never resumes.)"""

    def get_client(self, issuer: str) -> ClientCredentials | None: ...
    def put_client(self, credentials: ClientCredentials) -> None: ...
    def get_token(self, resource: str) -> Token | None: ...
    def put_token(self, token: Token) -> None: ...
    def delete_token(self, resource: str) -> None: ...
    def tokens(self) -> list[Token]: ...


class LoginStore(CredentialStore, Protocol):
    """A store a login can use: it also keeps the public client (RFC 7591 ``token_endpoint_auth_method``
    ``none``) registered at each AM, so that the next login does not register again."""

    def get_public_client(self, issuer: str) -> str | None: ...
    def put_public_client(self, issuer: str, client_id: str) -> None: ...
    #: Optional: held around a refresh of ``resource``'s login (``locks``); without it, in-process only.
    def refresh_lock(self, resource: str) -> AbstractAsyncContextManager[Any]: ...


class MemoryStore:
    """Process-local store (the default of ``ProtectServeAuth``)."""

    def __init__(self) -> None:
        self._clients: dict[str, ClientCredentials] = {}
        self._tokens: dict[str, Token] = {}
        self._pending: dict[str, PendingTicket] = {}
        self._public_clients: dict[str, str] = {}

    def get_public_client(self, issuer: str) -> str | None:
        return self._public_clients.get(issuer)

    def put_public_client(self, issuer: str, client_id: str) -> None:
        self._public_clients[issuer] = client_id

    def refresh_lock(self, resource: str) -> AbstractAsyncContextManager[Any]:
        return locks.local_lock(self, resource)

    def get_client(self, issuer: str) -> ClientCredentials | None:
        return self._clients.get(issuer)

    def put_client(self, credentials: ClientCredentials) -> None:
        self._clients[credentials.issuer] = credentials

    def get_token(self, resource: str) -> Token | None:
        return self._tokens.get(resource)

    def put_token(self, token: Token) -> None:
        self._tokens[token.resource] = token

    def delete_token(self, resource: str) -> None:
        self._tokens.pop(resource, None)

    def tokens(self) -> list[Token]:
        return list(self._tokens.values())

    def get_pending(self, resource: str) -> PendingTicket | None:
        return self._pending.get(resource)

    def put_pending(self, pending: PendingTicket) -> None:
        self._pending[pending.resource] = pending

    def delete_pending(self, resource: str) -> None:
        self._pending.pop(resource, None)


def default_path() -> Path:
    """``<user config dir>/protectserve/credentials.json`` (platformdirs)."""
    return Path(user_config_dir("protectserve")) / "credentials.json"


class FileStore:
    """JSON file store, re-read on every access so that separate processes share it."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"

    def get_client(self, issuer: str) -> ClientCredentials | None:
        entry = self._load()["clients"].get(issuer)
        if entry is None:
            return None
        return ClientCredentials(entry["client_id"], entry["client_secret"], issuer)

    def put_client(self, credentials: ClientCredentials) -> None:
        data = self._load()
        data["clients"][credentials.issuer] = {
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        }
        self._save(data)

    def get_public_client(self, issuer: str) -> str | None:
        entry = self._load().get("public_clients", {}).get(issuer)
        client_id = entry.get("client_id") if isinstance(entry, dict) else None
        return client_id if isinstance(client_id, str) else None

    def put_public_client(self, issuer: str, client_id: str) -> None:
        data = self._load()
        data.setdefault("public_clients", {})[issuer] = {"client_id": client_id}
        self._save(data)

    @asynccontextmanager
    async def refresh_lock(self, resource: str) -> AsyncIterator[None]:
        """This process's lock, then ``flock`` on ``<file>.lock``: one refresh at a time across processes."""
        async with locks.local_lock(self, resource), locks.file_lock(self.path.with_name(self.path.name + ".lock")):
            yield

    def get_token(self, resource: str) -> Token | None:
        entry = self._load()["tokens"].get(resource)
        return None if entry is None else _token_from_json(entry)

    def put_token(self, token: Token) -> None:
        data = self._load()
        entry = {k: v for k, v in asdict(token).items() if v is not None or k == "realm"}
        entry["scope"] = sorted(token.scope)
        data["tokens"][token.resource] = entry
        self._save(data)

    def delete_token(self, resource: str) -> None:
        data = self._load()
        if data["tokens"].pop(resource, None) is not None:
            self._save(data)

    def tokens(self) -> list[Token]:
        return [_token_from_json(entry) for entry in self._load()["tokens"].values()]

    def get_pending(self, resource: str) -> PendingTicket | None:
        entry = self._load().get("pending", {}).get(resource)
        if not isinstance(entry, dict):
            return None
        try:
            return PendingTicket(ticket=entry["ticket"], resource=resource, realm=entry.get("realm"),
                                 issuer=entry["issuer"], client_id=entry["client_id"],
                                 scopes=frozenset(entry["scopes"]), interval=int(entry["interval"]))
        except (KeyError, TypeError, ValueError):
            raise StoreError("credential store holds a malformed pending ticket") from None

    def put_pending(self, pending: PendingTicket) -> None:
        data = self._load()
        entry = asdict(pending)
        entry["scopes"] = sorted(pending.scopes)
        data.setdefault("pending", {})[pending.resource] = entry
        self._save(data)

    def delete_pending(self, resource: str) -> None:
        data = self._load()
        if data.get("pending", {}).pop(resource, None) is not None:
            self._save(data)

    def _load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {"version": 1, "clients": {}, "tokens": {}}
        except OSError as exc:
            raise StoreError(f"cannot read credential store {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(raw)
            if not isinstance(data.get("clients"), dict) or not isinstance(data.get("tokens"), dict):
                raise ValueError
            if not isinstance(data.get("pending", {}), dict) or not isinstance(data.get("public_clients", {}), dict):
                raise ValueError
        except (ValueError, AttributeError):
            raise StoreError(f"credential store {self.path} is not valid") from None
        return data

    def _save(self, data: dict[str, Any]) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = directory / f".{self.path.name}.{secrets.token_hex(8)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            raise StoreError(f"cannot write credential store {self.path}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                if hasattr(os, "fchmod"):
                    os.fchmod(handle.fileno(), 0o600)  # exact mode whatever the umask
                handle.write(json.dumps(data, indent=2, sort_keys=True).encode())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _token_from_json(entry: dict[str, Any]) -> Token:
    try:
        return Token(
            access_token=entry["access_token"],
            token_type=entry["token_type"],
            expires_at=float(entry["expires_at"]),
            scope=frozenset(entry["scope"]),
            realm=entry.get("realm"),
            resource=entry["resource"],
            issuer=entry["issuer"],
            refresh_token=_optional_str(entry, "refresh_token"),
            client_id=_optional_str(entry, "client_id"),
            token_endpoint=_optional_str(entry, "token_endpoint"),
        )
    except (KeyError, TypeError, ValueError):
        raise StoreError("credential store holds a malformed token entry") from None


def _optional_str(entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(key)
    return value
