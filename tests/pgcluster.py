"""A private PostgreSQL cluster for one test: ``initdb`` into a temporary directory, ``pg_ctl``
on a free loopback port, stopped and started at will, removed afterwards. The machine's shared
server (127.0.0.1:5432) is never touched.

The binaries are the newest ``/usr/lib/postgresql/*/bin`` (or ``PROTECTSERVE_PG_BINDIR``).
PostgreSQL refuses to run as root, so as root every command runs as the ``postgres`` user
(``runuser -u postgres --``) in a directory that user owns, created under the system temporary
directory (pytest's own are private to root). The socket directory is the cluster's own too.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

ENV_BINDIR = "PROTECTSERVE_PG_BINDIR"
SERVICE_USER = "postgres"


class ClusterUnavailable(RuntimeError):
    """No PostgreSQL binaries here, or the cluster could not be created or started."""


def find_bindir() -> Path:
    if os.environ.get(ENV_BINDIR):
        return Path(os.environ[ENV_BINDIR])
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if not found:
        raise ClusterUnavailable("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return max(found, key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)] or [0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """``await create()``, then ``start()`` / ``stop(mode)`` any number of times, ``destroy()``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="protectserve-pg-"))
        if self.as_root:
            try:
                owner = pwd.getpwnam(SERVICE_USER)
            except KeyError:
                shutil.rmtree(self.root)
                raise ClusterUnavailable(f"running as root and there is no {SERVICE_USER!r} user") from None
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.data = self.root / "data"
        self.port = 0
        self.running = False
        self._started = False

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of its ``postgres`` database (trust authentication on loopback)."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    async def _run(self, tool: str, *args: str) -> str:
        command = [str(self.bindir / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=self.root, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"})
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        if proc.returncode != 0:
            raise ClusterUnavailable(f"{tool} failed ({proc.returncode}):\n{out.decode(errors='replace')}"
                                     f"{self.log_tail()}")
        return out.decode(errors="replace")

    def log_tail(self, lines: int = 20) -> str:
        log = self.root / "server.log"
        if not log.exists():
            return ""
        return "\nserver.log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    async def create(self) -> PgCluster:
        # fsync off and no initdb sync: a throw-away cluster, and the tests stay fast.
        await self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                        "--locale=C", "--no-sync", "--no-instructions")
        return self

    async def start(self) -> None:
        """Start (again) and wait until it accepts connections; the same port every time, once
        chosen (a few tries in case another process takes a free port first)."""
        for attempt in range(3):
            self.port = self.port or _free_port()
            try:
                await self._run("pg_ctl", "start", "-D", str(self.data), "-w", "-t", "30",
                                "-l", str(self.root / "server.log"),
                                "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -F")
            except ClusterUnavailable:
                if self._started or attempt == 2 or "could not bind" not in self.log_tail(5):
                    raise
                self.port = 0
                continue
            self.running = self._started = True
            return

    async def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m smart|fast|immediate`` and wait until it is down."""
        await self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "30")
        self.running = False

    async def destroy(self) -> None:
        if self.running:
            with contextlib.suppress(ClusterUnavailable):
                await self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.asynccontextmanager
async def private_cluster(bindir: Path | None = None) -> AsyncIterator[PgCluster]:
    """A started private cluster, stopped and removed on exit."""
    cluster = PgCluster(bindir or find_bindir())
    try:
        await cluster.create()
        await cluster.start()
        yield cluster
    finally:
        await cluster.destroy()
