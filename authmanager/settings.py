"""Runtime settings: one frozen dataclass, built from flags, environment or defaults."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./authmanager.db"
ENV_DATABASE_URL = "AUTHMANAGER_DATABASE_URL"
ENV_SECRET_KEY = "AUTHMANAGER_SECRET_KEY"
ENV_KEY_FILE = "AUTHMANAGER_KEY_FILE"


def default_key_file(database_url: str) -> Path:
    """The server key lives beside a SQLite file (``x.db`` -> ``x.db.key``), never inside it.

    For other databases it defaults to ``./authmanager.key``.
    """
    prefix = "sqlite+aiosqlite:///"
    if database_url.startswith(prefix) and ":memory:" not in database_url:
        return Path(database_url[len(prefix):] + ".key")
    return Path("authmanager.key")


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    issuer: str = "http://127.0.0.1:8400"
    #: Server key file (AES-256-GCM key for consumer secrets and signing keys).
    key_file: Path | None = None
    #: Base64url server key given directly (takes precedence over ``key_file``).
    secret_key: str | None = None
    #: Default and maximum access-token lifetime, seconds.
    token_ttl: int = 900
    #: Accepted clock skew for ``created`` / ``oauth_timestamp``, seconds (both directions).
    signature_window: int = 300
    #: Maximum request body, bytes; larger bodies get 413.
    max_body: int = 64 * 1024
    #: How often each AM process looks for new feed events (revocations made by any process).
    feed_poll_interval: float = 0.2
    #: Idle feed connections get an SSE keepalive comment this often, seconds.
    feed_keepalive: float = 5.0
    #: Background purge of expired tokens, spent nonces, stale events and unused keys, seconds.
    purge_interval: float = 60.0
    #: Consumer keys never used to obtain a token within this time are purged, seconds.
    unused_consumer_ttl: int = 7 * 24 * 3600
    #: Hard cap on a grasshopper sub-key's lifetime, seconds.
    grasshopper_max_ttl: int = 900
    #: Delay between staging a new signing key and its first signature, seconds.
    key_activation_delay: int = 300
    #: The clock, injectable so expiry is testable without sleeping.
    now: Callable[[], float] = field(default=time.time, compare=False)

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or default_key_file(self.database_url)

    def endpoint(self, path: str) -> str:
        return self.issuer.rstrip("/") + path

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        env: dict[str, object] = {}
        if ENV_DATABASE_URL in os.environ:
            env["database_url"] = os.environ[ENV_DATABASE_URL]
        if ENV_SECRET_KEY in os.environ:
            env["secret_key"] = os.environ[ENV_SECRET_KEY]
        if ENV_KEY_FILE in os.environ:
            env["key_file"] = Path(os.environ[ENV_KEY_FILE])
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**env)  # type: ignore[arg-type]
