"""Bad configuration and bad input get one line and exit status 1 (2 for usage errors), never a
traceback: a database the AM cannot use (named with its password hidden), a bad server key, a bad
setting, a port in use, bad arguments. In-process through click's CliRunner (the same
``_Main.invoke`` mapping the console script runs), and as real processes for ``serve``,
``serve --workers 2`` and one database case."""

import asyncio
import os
import socket
import sys
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner, Result
from conftest import PG_ADMIN_DSN

from authmanager.cli import main
from authmanager.secretbox import b64u

PY = sys.executable
SECRET = "hunter2-not-to-be-printed"
PG = urlsplit(PG_ADMIN_DSN)
PG_HOST = f"{PG.hostname}:{PG.port or 5432}"


@pytest.fixture
def closed_port():
    """A port that refuses connections for the whole test: bound, never listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture
def env(tmp_path):
    """A clean environment: no AUTHMANAGER_* of the caller's, a SQLite file in tmp_path."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTHMANAGER_")}
    return {**clean, "AUTHMANAGER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'am.db'}",
            "AUTHMANAGER_KEY_FILE": str(tmp_path / "am.db.key"), "HOME": str(tmp_path)}


def cli(args: list[str], env: dict[str, str], input: str | None = None) -> Result:
    # CliRunner sets these over os.environ; None unsets the caller's AUTHMANAGER_* values.
    overrides: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AUTHMANAGER_")}
    overrides.update({k: v for k, v in env.items() if k.startswith("AUTHMANAGER_")})
    return CliRunner().invoke(main, args, env=overrides, input=input)


def assert_one_line(code: int, stderr: str, *names: str, status: int = 1) -> str:
    line = stderr.strip()
    assert code == status, stderr
    assert "Traceback" not in stderr and "\n" not in line, stderr
    assert SECRET not in stderr
    for name in names:
        assert name in line, line
    return line


def assert_clean(result: Result, *names: str) -> str:
    # An exception the mapping did not know would be result.exception (click's runner keeps it).
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    return assert_one_line(result.exit_code, result.stderr, *names)


# -- a database the AM cannot use -------------------------------------------------------------

#: Every command that opens the database.
DB_COMMANDS = [["realm", "list"], ["scope", "list", "photos"], ["policy", "list", "photos"], ["requests", "list"],
               ["grants", "list"], ["keys", "list"], ["keys", "rotate"], ["consumer", "list"],
               ["consumer", "revoke", "ck"], ["purge"], ["admin", "list"], ["admin", "token", "list"],
               ["share", "list"], ["db", "current"], ["db", "upgrade"], ["policy", "remove", "1"]]


def test_every_command_names_an_unreachable_database_in_one_line(env, closed_port):
    url = f"postgresql+asyncpg://nobody:{SECRET}@127.0.0.1:{closed_port}/x"
    shown = f"postgresql+asyncpg://nobody:***@127.0.0.1:{closed_port}/x"
    env["AUTHMANAGER_DATABASE_URL"] = url  # from the environment: never echoed either
    for args in DB_COMMANDS:
        line = assert_clean(cli(args, env), shown, "connection refused")
        assert line == f"Error: cannot use database {shown}: connection refused", args
    # and from the flag
    assert_clean(cli(["--database", url, "realm", "list"], env), shown, "connection refused")


@pytest.mark.parametrize("case", ["wrong role", "no such database"])
def test_postgresql_refusals_name_the_url_and_the_reason(env, pg_database, case):
    if pg_database is None:
        pytest.skip("PostgreSQL unreachable")  # REQUIRE_POSTGRES makes the pg_database fixture fail
    if case == "wrong role":
        url = f"postgresql+asyncpg://nobody_protectserve:{SECRET}@{PG_HOST}/{pg_database}"
        reason = 'authentication failed: role "nobody_protectserve" does not exist'
    else:
        url = f"postgresql+asyncpg://{PG.username}:{SECRET}@{PG_HOST}/no_such_protectserve_db"
        reason = 'database "no_such_protectserve_db" does not exist'
    shown = url.replace(SECRET, "***")
    assert assert_clean(cli(["--database", url, "realm", "list"], env)) == f"Error: cannot use database {shown}: {reason}"


def test_urls_the_am_cannot_use(env, tmp_path):
    (tmp_path / "notes.txt").write_text("not a database\n")
    (tmp_path / "adir").mkdir()
    cases = {
        f"mysql://root:{SECRET}@127.0.0.1/x": "unsupported scheme or driver 'mysql'",
        f"postgresql://root:{SECRET}@127.0.0.1/x": "unsupported scheme or driver 'postgresql'",
        "sqlite:///x.db": "unsupported scheme or driver 'sqlite'",
        f"postgresql+asyncpg://root:{SECRET}@127.0.0.1:notaport/x": "malformed URL",
        "not a url": "malformed URL",
        f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'am.db'}": f"directory {tmp_path / 'missing'} does not exist",
        f"sqlite+aiosqlite:///{tmp_path / 'notes.txt'}": f"{tmp_path / 'notes.txt'} is not a SQLite database",
        f"sqlite+aiosqlite:///{tmp_path / 'adir'}": f"{tmp_path / 'adir'} is a directory",
        f"sqlite+aiosqlite:///{tmp_path / 'notes.txt' / 'am.db'}": f"{tmp_path / 'notes.txt'} is not a directory",
    }
    for url, reason in cases.items():
        line = assert_clean(cli(["--database", url, "realm", "list"], env), "cannot use database", reason)
        assert "://" not in url or url.split("://")[0] + "://" in line
    # A password in the query is left out too.
    url = f"postgresql+asyncpg://u@nosuch.invalid/x?password={SECRET}&ssl=disable"
    assert_clean(cli(["--database", url, "realm", "list"], env), "postgresql+asyncpg://u@nosuch.invalid/x?ssl=disable",
                 "cannot resolve the host")


def test_an_out_of_date_schema_names_the_database(env, tmp_path):
    import sqlite3

    assert cli(["db", "upgrade"], env).exit_code == 0
    with sqlite3.connect(tmp_path / "am.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'older'")
    for args in (["realm", "list"], ["serve", "--port", "1"]):
        assert_clean(cli(args, env), f"cannot use database {env['AUTHMANAGER_DATABASE_URL']}: ", "db upgrade")


# -- the server key ---------------------------------------------------------------------------

def test_server_keys_that_cannot_be_used(env, tmp_path):
    files = {"garbage.key": b"garbage!\n", "short.key": b"AAAA\n", "binary.key": b"\xff\xfe\n"}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    assert_clean(cli(["--key-file", str(tmp_path / "garbage.key"), "keys", "rotate"], env), "garbage.key",
                 "is not base64url")
    assert_clean(cli(["--key-file", str(tmp_path / "short.key"), "keys", "rotate"], env), "short.key",
                 "holds 3 bytes; a server key has 32")
    assert_clean(cli(["--key-file", str(tmp_path / "binary.key"), "keys", "rotate"], env), "binary.key",
                 "not base64url text")
    assert_clean(cli(["keys", "rotate"], {**env, "AUTHMANAGER_KEY_FILE": str(tmp_path)}),
                 f"cannot read server key file {tmp_path}: Is a directory")
    for bad in (SECRET, b64u(b"\x00" * 16)):
        line = assert_clean(cli(["keys", "rotate"], {**env, "AUTHMANAGER_SECRET_KEY": bad}), "AUTHMANAGER_SECRET_KEY")
        assert bad not in line


def test_a_key_file_that_is_not_the_databases_refuses_before_sealing_anything(env, tmp_path):
    assert cli(["keys", "rotate"], env).exit_code == 0  # the first key, sealed under am.db.key
    other = tmp_path / "other.key"
    for args in (["keys", "rotate"], ["serve", "--port", "1"]):
        assert_clean(cli(["--key-file", str(other), *args], env), f"server key file {other} does not open the keys "
                     f"sealed in database {env['AUTHMANAGER_DATABASE_URL']}")
    assert cli(["keys", "list", "--json"], env).output.count('"kid"') == 1  # nothing sealed under other.key


# -- settings ---------------------------------------------------------------------------------

def test_settings_that_cannot_be_used(env, tmp_path):
    bad_value, bad_toml, not_utf8 = tmp_path / "v.toml", tmp_path / "t.toml", tmp_path / "u.toml"
    bad_value.write_text('[authmanager]\nregistration_limit = "lots"\n')
    bad_toml.write_text("token_ttl = \n")
    not_utf8.write_bytes(b'issuer = "\xff"\n')
    assert_clean(cli(["--config", str(bad_value), "realm", "list"], env), str(bad_value), "registration_limit",
                 "is not a rate limit")
    assert_clean(cli(["--config", str(bad_toml), "realm", "list"], env), str(bad_toml), "is not valid TOML")
    assert_clean(cli(["--config", str(not_utf8), "realm", "list"], env), str(not_utf8), "is not UTF-8 text")
    assert_clean(cli(["realm", "list"], {**env, "AUTHMANAGER_CONFIG": str(tmp_path / "none.toml")}),
                 "cannot read config file", "none.toml")
    for name, value, says in [("TOKEN_TTL", "-5", "must be positive"), ("DB_TIMEOUT", "nan", "not a finite number"),
                              ("TOKEN_TTL", "ten", "is not a valid int"),
                              ("RATE_LIMIT_STORAGE", "bogus://x", "is not a rate-limit storage URI")]:
        assert_clean(cli(["realm", "list"], {**env, f"AUTHMANAGER_{name}": value}), f"AUTHMANAGER_{name}", says)
    assert cli(["realm", "list"], {**env, "AUTHMANAGER_KEY_ACTIVATION_DELAY": "0"}).exit_code == 0


# -- arguments --------------------------------------------------------------------------------

def test_bad_arguments_are_one_line_or_a_usage_error(env, tmp_path):
    for args in (["policy", "remove", "abc"], ["grants", "revoke", str(2**63)], ["requests", "approve", "0"],
                 ["admin", "token", "revoke", "99999999999999999999999"], ["serve", "--port", "70000"]):
        result = cli(args, env)
        assert result.exit_code == 2 and "Traceback" not in result.stderr, (args, result.stderr)
    assert cli(["realm", "create", "photos", "--resource", "https://photos.example/", "--scope", "read"],
               env).exit_code == 0
    for args, says in [(["policy", "add", "nope", "--effect", "permit", "--scope", "read"], "no realm named 'nope'"),
                       (["policy", "add", "photos", "--effect", "permit", "--scope", "read",
                         "--not-before", "99999999999999999999"], "--not-before must lie between 1970"),
                       (["policy", "add", "photos", "--effect", "permit", "--scope", "read",
                         "--not-after", "²"], "--not-after must be unix seconds or an ISO 8601"),
                       (["policy", "remove", str(2**63 - 1)], "no policy"),
                       (["demo", "--trace", str(tmp_path / "missing" / "t.jsonl")], "No such file or directory")]:
        assert_clean(cli(args, env), says)


# -- real processes ---------------------------------------------------------------------------

async def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode, err.decode()


async def test_processes_answer_a_bad_database_and_a_port_in_use_with_one_line(env, tmp_path, closed_port):
    url = f"postgresql+asyncpg://nobody:{SECRET}@127.0.0.1:{closed_port}/x"
    shown = f"postgresql+asyncpg://nobody:***@127.0.0.1:{closed_port}/x"
    code, err = await run(PY, "-m", "authmanager.cli", "serve", "--port", "1", env={**env, "AUTHMANAGER_DATABASE_URL": url})
    assert_one_line(code, err, f"Error: cannot use database {shown}: connection refused")

    # the schema first, so that serve says nothing but its error
    assert (await asyncio.to_thread(cli, ["db", "upgrade"], env)).exit_code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):  # --workers 2: the workers report, the parent says it once
            code, err = await run(PY, "-m", "authmanager.cli", "serve", "--port", str(port), "--workers", workers,
                                  env=env)
            assert_one_line(code, err, f"Error: cannot listen on 127.0.0.1:{port}: Address already in use")
        code, err = await run(PY, "-m", "rs_middleware.example", "--port", str(port), "--authorization-manager",
                              f"http://127.0.0.1:{closed_port}", "--realm", "photos", "--sph", "s",
                              "--resource", f"http://127.0.0.1:{port}/", env=env)
        assert_one_line(code, err, f"error: cannot listen on 127.0.0.1:{port}: Address already in use")


# -- the example service and the consumer ----------------------------------------------------

def test_example_service_refuses_bad_arguments_in_one_line(capsys, closed_port):
    from rs_middleware.example import main as example

    base = ["--realm", "photos", "--sph", "s", "--resource", "http://127.0.0.1:8080/"]
    for args, says, status in [
        (["--port", "8080", "--authorization-manager", "notaurl", *base], "authorization_manager must be", 2),
        (["--port", "8080", "--authorization-manager", "http://127.0.0.1:1", "--introspection", *base],
         "introspection mode needs sph_secret", 2),
        (["--port", "8080", "--host", "nosuch.invalid", "--authorization-manager", "http://127.0.0.1:1", *base],
         "cannot listen on nosuch.invalid:8080", 1),
    ]:
        with pytest.raises(SystemExit) as stop:
            example(args)
        assert_one_line(stop.value.code, capsys.readouterr().err, says, status=status)
    with pytest.raises(SystemExit) as stop:
        example(["--port", "70000", "--authorization-manager", "http://127.0.0.1:1", *base])
    assert stop.value.code == 2 and "is not a TCP port" in capsys.readouterr().err


async def test_consumer_answers_a_bad_url_and_an_unreachable_am_in_one_line(tmp_path, closed_port):
    import io

    from authmanager.serving import bound_socket, serve
    from consumer_sdk.__main__ import build_parser
    from consumer_sdk.__main__ import run as consumer
    from rs_middleware.example import create_example_app

    sock = bound_socket()
    resource = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    app = create_example_app(realm="photos", resource=resource, sph="s", sph_secret=None,
                             authorization_manager=f"http://127.0.0.1:{closed_port}")
    store = str(tmp_path / "store.json")
    async with serve(app, sock):
        for url, says in [("notaurl", "notaurl"), (resource + "photos/", f"127.0.0.1:{closed_port}")]:
            stderr = io.StringIO()
            code = await consumer(build_parser().parse_args(["get", url, "--store", store]), stdout=io.BytesIO(),
                                  stderr=stderr)
            assert_one_line(code, stderr.getvalue(), "error:", says)
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["get", resource, "--approval-timeout", "nan"])
    assert stop.value.code == 2
