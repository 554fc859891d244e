"""Runtime settings: one frozen dataclass.

Sources, highest precedence first: command-line flags, environment variables
(``AUTHMANAGER_<FIELD>``, e.g. ``AUTHMANAGER_TOKEN_TTL=600``), a TOML file (``--config FILE`` or
``AUTHMANAGER_CONFIG``; keys are the field names, at top level or under ``[authmanager]``), and
the defaults below. An unknown key or a badly typed value is an error, never ignored.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./authmanager.db"
ENV_DATABASE_URL = "AUTHMANAGER_DATABASE_URL"
ENV_SECRET_KEY = "AUTHMANAGER_SECRET_KEY"
ENV_KEY_FILE = "AUTHMANAGER_KEY_FILE"
ENV_ALLOW_PRIVATE_TARGETS = "AUTHMANAGER_ALLOW_PRIVATE_TARGETS"
ENV_CONFIG = "AUTHMANAGER_CONFIG"
ENV_PREFIX = "AUTHMANAGER_"


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the source and the key."""


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
    #: Longest wait for the database (lock, pool, connect, command), seconds; then 503.
    db_timeout: float = 10.0
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
    #: Let outbound pushes (ticket discovery and delivery) reach loopback, private, link-local and
    #: other non-public addresses. Off by default (SSRF); for tests and internal deployments.
    allow_private_targets: bool = False
    #: Rate-limit storage (``limits`` URI): ``memory://`` for one process, a shared one
    #: (``redis://host:6379``) when several AM processes serve one database.
    rate_limit_storage: str = "memory://"
    #: Consumer-key registrations: per client IP, and over all clients (``limits`` notation).
    registration_limit_per_ip: str = "20/minute"
    registration_limit: str = "600/minute"
    #: Token requests (all grants): per client IP, and over all clients.
    token_limit_per_ip: str = "200/second"
    token_limit: str = "5000/second"
    #: Introspection answers ``active: false`` at most this often per realm before ``429``
    #: (against fishing with random tokens).
    introspection_miss_limit: str = "120/minute"
    #: How long a request put to the realm owner (UMA ``request_submitted``) waits for an answer:
    #: its ticket's lifetime, seconds.
    request_ttl: int = 900
    #: The polling interval announced with ``request_submitted``; faster polls get ``slow_down``.
    poll_interval: int = 5
    #: Admin console sign-in attempts per client IP, and consecutive failed sign-ins per account
    #: name (``limits`` notation); over either, ``429`` with ``Retry-After``, no password checked.
    admin_login_limit_per_ip: str = "30/minute"
    admin_login_limit_per_account: str = "5/minute"
    #: An admin console session ends this long after sign-in, seconds.
    admin_session_ttl: int = 8 * 3600
    #: Request-head caps (aiohttp's parser limits, see ``serving.py``): the request line, bytes
    #: (over it: ``414``); one header field, bytes (aiohttp's C parser counts the value, its
    #: pure-Python one the whole line), and the number of header fields (over either: ``431``).
    #: A header field must hold ``Authorization: Bearer`` plus a token of the 8 KiB the
    #: endpoints accept, so that an oversized token gets their ``400``.
    max_request_line: int = 8190
    max_header_field: int = 16384
    max_headers: int = 100
    #: Refresh tokens (issue 12, RFC 9700 §4.14.2): a family's token unused for ``refresh_idle_ttl``
    #: seconds expires (each rotation moves it on); no token of a family outlives
    #: ``refresh_absolute_ttl`` seconds from the authorization-code grant that started it.
    refresh_idle_ttl: int = 14 * 24 * 3600
    refresh_absolute_ttl: int = 90 * 24 * 3600
    #: One access-log line per request (logger ``aiohttp.access``, to stderr). Decisions are in the
    #: audit log either way; turn this off behind a proxy that logs requests (it costs about a
    #: third of an introspection's CPU time, docs/performance.md).
    access_log: bool = True
    #: The clock, injectable so expiry is testable without sleeping.
    now: Callable[[], float] = field(default=time.time, compare=False)

    def __post_init__(self) -> None:
        if self.refresh_idle_ttl > self.refresh_absolute_ttl:
            raise ConfigError(f"refresh_idle_ttl ({self.refresh_idle_ttl}) must not exceed "
                              f"refresh_absolute_ttl ({self.refresh_absolute_ttl})")

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or default_key_file(self.database_url)

    def endpoint(self, path: str) -> str:
        return self.issuer.rstrip("/") + path

    @classmethod
    def load(cls, *, config_file: Path | None = None, flags: dict[str, object] | None = None,
             environ: dict[str, str] | None = None) -> "Settings":
        """Merge defaults < TOML file < environment < flags (``None`` flags are absent)."""
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        path = config_file or (Path(environ[ENV_CONFIG]) if environ.get(ENV_CONFIG) else None)
        if path is not None:
            values.update(_from_toml(path))
        for name in _CONFIGURABLE:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = _coerce(name, raw, f"environment variable {ENV_PREFIX + name.upper()}")
        values.update({k: v for k, v in (flags or {}).items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


#: Every field but the clock can be configured.
_CONFIGURABLE = {f.name: f for f in dataclasses.fields(Settings) if f.name != "now"}
_PATHS = {"key_file"}
_OPTIONAL_STR = {"secret_key"}
#: Numbers that may be zero; every other number must be positive.
_MAY_BE_ZERO = {"key_activation_delay"}
#: Quotas in the ``limits`` library's notation (``"20/minute"``).
_QUOTAS = {name for name in _CONFIGURABLE if name.endswith("_limit") or "_limit_per_" in name}


def _coerce(name: str, raw: object, source: str) -> object:
    """``raw`` as the type of ``name``'s default, checked for what the AM can use."""
    value = _typed(name, raw, source)
    problem = _unusable(name, value)
    if problem:
        raise ConfigError(f"{source}: {name} = {raw!r} {problem}")
    return value


def _unusable(name: str, value: object) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            return "is not a finite number"
        if value < 0 or (value == 0 and name not in _MAY_BE_ZERO):
            return "must be positive" if name not in _MAY_BE_ZERO else "must not be negative"
    if name in _QUOTAS:
        from limits import parse

        try:
            parse(str(value))
        except ValueError:
            return 'is not a rate limit such as "20/minute"'
    if name == "rate_limit_storage":
        from limits.storage import SCHEMES

        scheme = str(value).partition("://")[0]
        if "://" not in str(value) or scheme.removeprefix("async+") not in SCHEMES:
            return "is not a rate-limit storage URI such as memory:// or redis://HOST:6379"
    return None


def _typed(name: str, raw: object, source: str) -> object:
    default = _CONFIGURABLE[name].default
    try:
        if name in _PATHS:
            return Path(str(raw))
        if name in _OPTIONAL_STR or isinstance(default, str):
            if not isinstance(raw, str):
                raise TypeError
            return raw
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("1", "true", "yes", "on"):
                return True
            if str(raw).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            if isinstance(raw, bool) or isinstance(raw, float):
                raise TypeError
            return int(raw)  # type: ignore[call-overload]
        if isinstance(default, float):
            if isinstance(raw, bool):
                raise TypeError
            return float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"{source}: {name} = {raw!r} is not a valid {type(default).__name__}")


def _from_toml(path: Path) -> dict[str, object]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    table = doc.get("authmanager", doc)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [authmanager] must be a table")
    unknown = sorted(set(table) - set(_CONFIGURABLE) - {"authmanager"})
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    return {k: _coerce(k, v, f"config file {path}") for k, v in table.items() if k in _CONFIGURABLE}
