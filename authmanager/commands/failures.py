"""What an operator can get wrong, as one line: the exceptions that configuration or input cause,
mapped to a message that says what was tried and what went wrong (``authmanager`` prints it as
``Error: …`` and exits 1).

``one_line`` is the only place that knows these kinds; ``cli.py`` applies it around every command
and around each ``serve --workers`` process's start-up. An exception it does not know is a defect
and keeps its traceback. The database is named by ``storage.db.shown`` (password hidden); no
message repeats a password or a server key.
"""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

from cryptography.exceptions import InvalidTag
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from ..operations.realms import AdminError
from ..secretbox import ServerKeyError
from ..serving import CannotListen
from ..settings import ConfigError, Settings
from ..storage.db import UnusableDatabaseURL, shown
from ..storage.migrate import SchemaOutOfDate

#: Errors whose message is already the whole story.
_SELF_EXPLAINED = (ConfigError, AdminError, ServerKeyError, CannotListen)

#: PostgreSQL SQLSTATE classes (and codes) that say the database cannot be used as configured:
#: 08 connection, 28 authorization (wrong role or password), 3D no such database, 3F no such
#: schema, 53 insufficient resources, 57 operator intervention (shutting down, starting up),
#: 25006 read-only (a standby), 42501 insufficient privilege.
_PG_UNUSABLE = ("08", "28", "3D", "3F", "53", "57", "25006", "42501")


def one_line(exc: BaseException, settings: Settings | None) -> str | None:
    """The message for ``exc`` if configuration or input can cause it, else None."""
    url = settings.database_url if settings is not None else None
    if isinstance(exc, _SELF_EXPLAINED):
        return str(exc)
    if isinstance(exc, (UnusableDatabaseURL, SchemaOutOfDate)):
        return _database(url, str(exc))
    if isinstance(exc, InvalidTag) and settings is not None:
        source = "secret_key (AUTHMANAGER_SECRET_KEY)" if settings.secret_key else \
            f"server key file {settings.resolved_key_file}"
        return (f"{source} does not open the keys sealed in database {shown(settings.database_url)}: "
                f"it is not the server key this database was created with")
    if isinstance(exc, sa_exc.TimeoutError):
        return _database(url, "no connection came free in time (pool timeout)")
    if isinstance(exc, sa_exc.DBAPIError):
        reason = _dbapi_reason(exc.orig, url)
        return None if reason is None else _database(url, reason)
    if isinstance(exc, OSError):
        if exc.filename is not None:  # a file named on the command line
            return f"{exc.filename}: {exc.strerror or exc}"
        # The CLI's only network peer is the database: listening is CannotListen, outbound
        # pushes report their own failures.
        return _database(url, _connect_reason(exc, settings))
    return None


def _database(url: str | None, reason: str) -> str:
    return f"cannot use database {shown(url)}: {reason}" if url is not None else reason


def _connect_reason(exc: OSError, settings: Settings | None) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return "no answer" + (f" within {settings.db_timeout:g} s" if settings is not None else "")
    return exc.strerror or str(exc) or type(exc).__name__


def _dbapi_reason(orig: BaseException | None, url: str | None) -> str | None:
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):  # asyncpg, through SQLAlchemy's adapter
        if not sqlstate.startswith(_PG_UNUSABLE):
            return None
        message = str(getattr(orig, "__cause__", None) or orig)
        return f"authentication failed: {message}" if sqlstate.startswith("28") else message
    if isinstance(orig, sqlite3.OperationalError) or type(orig) is sqlite3.DatabaseError:
        return _sqlite_reason(str(orig), url)
    return None


def _sqlite_reason(message: str, url: str | None) -> str:
    # What can be seen before connecting (a missing or unwritable directory, a file that is not
    # SQLite) was refused by storage.db.parse_url; this is what SQLite itself says.
    path = _sqlite_path(url)
    if path is not None and message == "file is not a database":
        return f"{path} is not a SQLite database"
    return message


def _sqlite_path(url: str | None) -> Path | None:
    try:
        database = make_url(url).database if url else None
    except (sa_exc.ArgumentError, ValueError):
        return None
    return Path(database) if database and database != ":memory:" else None
