"""The AM's own figures (issue 6): token issuance on SQLite and PostgreSQL, empty and with
1,000,000 tokens already stored, introspection, and the Authlib reference — in one run.

Layout of a run:

1. in parallel: the SQLite and PostgreSQL databases are created, each AM's schema and realm,
   the 1,000,000-token prefills (SQLite in this process, PostgreSQL in its server), the Authlib
   reference's database, client and key, and the signing pool;
2. SQLite group — the AM on an empty database, the AM on the prefilled one, and Authlib, each
   pinned to core 0 and loaded by wrk on core 1, in interleaved rounds; then introspection on
   the empty-database AM (one token repeated, then the tokens it issued during its warm-up);
3. PostgreSQL group — the AM on an empty and on a prefilled database, interleaved likewise
   (PostgreSQL itself runs unpinned: it shares both cores, as it would on one machine).

Servers of a group run only during that group; databases are dropped and temporary files removed
whatever happens.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import sys
import tempfile
import time
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp

from . import pg
from .introspection import Introspection, check_active
from .issuance import AuthlibTokenEndpoint, OurTokenEndpoint, Series, compare, one_run
from .prefill import prefill_postgres, prefill_sqlite, sqlite_path
from .presign import Signer
from .procs import PY, free_port, log_problems, run, server
from .services import AM, clone_am, prepare_am, serve_am
from .wrk import Load, captured, wrk_binary

SERVER_CPU, LOAD_CPU = 0, 1

#: Single-process WSGI servers tried for the Authlib reference, each one process pinned to core 0
#: as the AM is (``python -m bench --authlib-servers`` compares them): their arguments after
#: ``python``, given the port. gunicorn's gthread worker with one thread was the fastest in every
#: comparison made (4 threads close behind: the work holds the GIL; waitress next; the sync worker
#: last, as it closes the connection after each request), so it is the default.
_GUNICORN = ["-m", "gunicorn", "--workers", "1", "--no-control-socket", "--worker-tmp-dir", "/dev/shm"]
_APP_FACTORY = "bench.authlib_reference:create_app"
AUTHLIB_SERVERS: dict[str, Any] = {
    "gunicorn-sync": lambda port: [*_GUNICORN, "--worker-class", "sync", "--bind", f"127.0.0.1:{port}",
                                   f"{_APP_FACTORY}()"],
    "gunicorn-gthread-1": lambda port: [*_GUNICORN, "--worker-class", "gthread", "--threads", "1",
                                        "--bind", f"127.0.0.1:{port}", f"{_APP_FACTORY}()"],
    "gunicorn-gthread-4": lambda port: [*_GUNICORN, "--worker-class", "gthread", "--threads", "4",
                                        "--bind", f"127.0.0.1:{port}", f"{_APP_FACTORY}()"],
    "waitress-4": lambda port: ["-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=4", "--call",
                                _APP_FACTORY],
}
DEFAULT_AUTHLIB_SERVER = "gunicorn-gthread-1"
AUTHLIB_SERVER_NAMES = {"gunicorn-sync": "gunicorn, 1 sync worker", "gunicorn-gthread-1": "gunicorn, 1 gthread worker, "
                        "1 thread", "gunicorn-gthread-4": "gunicorn, 1 gthread worker, 4 threads",
                        "waitress-4": "waitress, 4 threads"}


def available_servers() -> list[str]:
    """The variants whose server is installed (waitress is not in the ``bench`` extra)."""
    return [name for name in AUTHLIB_SERVERS
            if importlib.util.find_spec(name.split("-")[0]) is not None]


@dataclass(frozen=True)
class Plan:
    seconds: int = 5
    rounds: int = 3
    warmup_seconds: int = 2
    prefill: int = 1_000_000
    connections: int = 32
    postgres: bool = True
    postgres_prefill: bool = True
    #: WSGI servers for the Authlib reference, measured side by side; the row uses the fastest.
    authlib_servers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.authlib_servers:  # the full run tries every server installed
            object.__setattr__(self, "authlib_servers", tuple(available_servers()) or (DEFAULT_AUTHLIB_SERVER,))

    @classmethod
    def quick(cls) -> "Plan":
        """Shorter rounds, the default server only for the Authlib reference, and no prefilled
        PostgreSQL database (its 1,000,000 rows and its AM's rounds cost about 15 s, which --quick
        cannot afford on a busy 2-core machine)."""
        return cls(seconds=2, rounds=2, warmup_seconds=1, postgres_prefill=False,
                   authlib_servers=(DEFAULT_AUTHLIB_SERVER,))

    @property
    def load(self) -> Load:
        return Load(seconds=self.seconds, connections=self.connections, cpu=LOAD_CPU)

    @property
    def warmup(self) -> Load:
        return Load(seconds=self.warmup_seconds, connections=self.connections, cpu=LOAD_CPU)


@dataclass
class Results:
    plan: Plan
    sqlite: dict[str, Series] = field(default_factory=dict)
    introspection: dict[str, Series] = field(default_factory=dict)
    postgres: dict[str, Series] = field(default_factory=dict)
    distinct_tokens: int = 0
    notes: dict[str, str] = field(default_factory=dict)  # why a figure is missing
    timings: dict[str, float] = field(default_factory=dict)


def authlib_available() -> str | None:
    missing = [m for m in ("authlib", "flask", "flask_sqlalchemy", "gunicorn") if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(missing)} (pip install -e '.[bench]')" if missing else None


@dataclass
class Reference:
    base_url: str
    client: dict[str, str]
    workdir: Path
    log: Path

    def copy_for(self, variant: str) -> "Reference":
        """A copy (database, key, settings; same client) in its own directory, for another port,
        so that servers measured side by side share no database file."""
        import shutil

        workdir = self.workdir.with_name(f"{self.workdir.name}-{variant}")
        shutil.copytree(self.workdir, workdir)
        return Reference(base_url=f"http://127.0.0.1:{free_port()}", client=self.client, workdir=workdir,
                         log=workdir / "authlib.log")


async def prepare_authlib(workdir: Path) -> Reference:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    client = json.loads(await run(PY, "-m", "bench.authlib_reference", "setup", str(workdir), base,
                                  "http://127.0.0.1:9/", env=_env()))
    return Reference(base_url=base, client=client, workdir=workdir, log=workdir / "authlib.log")


@asynccontextmanager
async def serve_authlib(ref: Reference, variant: str) -> AsyncIterator[Reference]:
    port = ref.base_url.rsplit(":", 1)[1]
    args = [PY, *AUTHLIB_SERVERS[variant](port)]
    async with server(args, env={**_env(), "BENCH_AUTHLIB_DIR": str(ref.workdir)}, log=ref.log,
                      ready_url=ref.base_url + "/alive", cpu=SERVER_CPU):
        yield ref


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


async def _register(am: AM) -> dict[str, str]:
    async with aiohttp.ClientSession() as http:
        return await am.register(http)


async def _timed(label: str, timings: dict[str, float], coro: Any) -> Any:
    started = time.perf_counter()
    try:
        return await coro
    finally:
        timings[label] = time.perf_counter() - started


async def measure(plan: Plan) -> Results:
    wrk_binary()  # a clear error now rather than after the set-up
    results = Results(plan)
    with tempfile.TemporaryDirectory(prefix="protectserve-bench-") as tmp, Signer() as signer:
        root = Path(tmp)
        try:
            await _measure(plan, results, root, signer)
        except Exception:
            _keep_logs(root)
            raise
        _check_logs(results, root)
        if any(key.startswith("log ") for key in results.notes):
            _keep_logs(root)
        results.timings["signing"] = signer.seconds
        results.timings["signed"] = float(signer.signed)
    return results


def _check_logs(results: Results, root: Path) -> None:
    """Error lines in any server's log are reported (stderr and a note under the table)."""
    for log in sorted(root.rglob("*.log")):
        count, first = log_problems(log)
        if count:
            name = "/".join(log.relative_to(root).parts)
            print(f"warning: {count} errors logged in {name}:\n  " + "\n  ".join(first), file=sys.stderr)
            results.notes[f"log {name}"] = f"{count} errors logged by a server ({name}): " + "; ".join(first)


def _keep_logs(root: Path) -> None:
    """Copy the servers' logs out of the temporary directory before it goes, and say where."""
    import shutil

    logs = sorted(root.rglob("*.log"))
    if not logs:
        return
    kept = Path(tempfile.mkdtemp(prefix="protectserve-bench-logs-"))
    for log in logs:
        shutil.copyfile(log, kept / "-".join(log.relative_to(root).parts))
    print(f"server logs kept in {kept}", file=sys.stderr)


async def _measure(plan: Plan, results: Results, root: Path, signer: Signer) -> None:
    t = results.timings
    async with AsyncExitStack() as stack:
        dbs: list[str] = []
        if plan.postgres:
            try:
                dbs = await stack.enter_async_context(pg.databases(2 if plan.postgres_prefill else 1))
            except pg.Unavailable as exc:
                results.notes["postgres"] = str(exc)
        authlib_missing = authlib_available()
        if authlib_missing:
            results.notes["authlib"] = authlib_missing

        async def sqlite_pair() -> tuple[AM, AM]:
            empty = await prepare_am(root / "sqlite")
            full = await clone_am(empty, root / "sqlite-1m")
            await _timed("prefill sqlite", t, asyncio.to_thread(
                prefill_sqlite, sqlite_path(full.database_url), realm=full.realm["realm"], count=plan.prefill))
            return empty, full

        async def postgres_pair() -> tuple[AM, AM | None]:
            empty = await prepare_am(root / "pg", database_url=pg.sqlalchemy_url(dbs[0]))
            if not plan.postgres_prefill:
                return empty, None
            await pg.copy(dbs[0], dbs[1])
            full = await clone_am(empty, root / "pg-1m", database_url=pg.sqlalchemy_url(dbs[1]))
            await _timed("prefill postgres", t, prefill_postgres(pg.server_dsn(dbs[1]), realm=full.realm["realm"],
                                                                  count=plan.prefill))
            return empty, full

        jobs: dict[str, Any] = {"sqlite": sqlite_pair(), "warm-signer": asyncio.to_thread(signer.warm)}
        if not authlib_missing:
            jobs["authlib"] = prepare_authlib(root / "authlib")
        if dbs:
            jobs["postgres"] = postgres_pair()
        started = time.perf_counter()
        prepared = dict(zip(jobs, await _gather(jobs.values())))
        prepared["sqlite"], prepared["sqlite-1m"] = prepared["sqlite"]
        if dbs:
            prepared["postgres"], prepared["postgres-1m"] = prepared["postgres"]
        t["preparation"] = time.perf_counter() - started

        # SQLite group: issuance (empty, prefilled, Authlib), then introspection.
        started = time.perf_counter()
        async with AsyncExitStack() as group:
            servers: list[Any] = [serve_am(prepared[name], cpu=SERVER_CPU) for name in ("sqlite", "sqlite-1m")]
            if "authlib" in prepared:  # one server per variant, each with its own port and database
                servers += [serve_authlib(prepared["authlib"].copy_for(variant), variant)
                            for variant in plan.authlib_servers]
            running = await _enter_all(group, servers)
            ams = dict(zip(("sqlite", "sqlite-1m"), running))
            targets: list[Any] = []
            for name, am in ams.items():
                targets.append(OurTokenEndpoint(f"ours-{name}", am, await _register(am), signer, root))
            for variant, ref in zip(plan.authlib_servers, running[2:]):
                targets.append(AuthlibTokenEndpoint(f"authlib {variant}", ref.base_url, ref.client, root))
            # every side keeps its tokens (the same client work for all); ours-sqlite's feed introspection
            capture = {t.name: root / f"tokens-{t.name.replace(' ', '-')}" for t in targets}
            results.sqlite = await compare(targets, plan.load, rounds=plan.rounds, warmup=plan.warmup,
                                           capture=capture)
            tokens = captured(capture["ours-sqlite"], plan.load.threads)
            if not tokens:
                raise RuntimeError("the issuance runs captured no token to introspect")
            results.distinct_tokens = len(tokens)
            sample = [tokens[0]] + random.sample(tokens, min(20, len(tokens)))
            await check_active(ams["sqlite"], sample)
            results.introspection = await compare(
                [Introspection("introspect-one", ams["sqlite"], tokens[:1], root),
                 Introspection("introspect-many", ams["sqlite"], tokens, root)],
                plan.load, rounds=plan.rounds, warmup=plan.warmup, warm_first_only=True)
        t["sqlite group"] = time.perf_counter() - started

        if dbs:
            started = time.perf_counter()
            async with AsyncExitStack() as group:
                names = [name for name in ("postgres", "postgres-1m") if prepared.get(name) is not None]
                running = await _enter_all(group, [serve_am(prepared[name], cpu=SERVER_CPU) for name in names])
                targets = [OurTokenEndpoint(f"ours-{name}", am, await _register(am), signer, root)
                           for name, am in zip(names, running)]
                results.postgres = await compare(targets, plan.load, rounds=plan.rounds, warmup=plan.warmup)
            t["postgres group"] = time.perf_counter() - started


async def compare_authlib_servers(plan: Plan, variants: list[str]) -> dict[str, Series]:
    """The Authlib reference under each WSGI server of ``variants``, one at a time (they share
    core 0), in interleaved rounds: how the default was chosen."""
    wrk_binary()
    missing = authlib_available()
    if missing:
        raise RuntimeError(missing)
    with tempfile.TemporaryDirectory(prefix="protectserve-bench-") as tmp:
        ref = await prepare_authlib(Path(tmp) / "authlib")
        series = {v: Series(AuthlibTokenEndpoint(v, ref.base_url, ref.client, Path(tmp))) for v in variants}
        for i in range(plan.rounds + 1):  # round 0 is each server's warm-up
            for variant, s in series.items():
                async with serve_authlib(ref, variant):
                    await one_run(s, plan.warmup, warmup=True)
                    if i:
                        s.rounds.append(await one_run(s, plan.load))
                        print(f"  round {i} {variant}: {s.rounds[-1].rps:.0f}/s", file=sys.stderr)
        return series


async def _enter_all(stack: AsyncExitStack, managers: list[Any]) -> list[Any]:
    """Enter async context managers concurrently (servers start in parallel); each one entered is
    on ``stack`` to be exited, even if another failed to start."""
    return await _gather([stack.enter_async_context(cm) for cm in managers])


async def _gather(coros: Any) -> list[Any]:
    """Run all; if any fails, wait for the others to finish (so nothing is left half-made), then raise."""
    done = await asyncio.gather(*coros, return_exceptions=True)
    for item in done:
        if isinstance(item, BaseException):
            raise item
    return done


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    res = asyncio.run(measure(Plan.quick() if quick else Plan()))
    for group in (res.sqlite, res.introspection, res.postgres):
        for name, s in group.items():
            print(name, [round(r) for r in s.rates])
    print(res.notes, res.timings)
