"""Server processes for the benchmarks, always cleaned up.

Every server runs in its own session (process group), with its output in a log file (a file
never fills up and blocks the server, as an undrained pipe would), and is told by the kernel to
die if the harness dies (``PR_SET_PDEATHSIG``). Leaving :func:`server` — normally, by an error
or by Ctrl-C — terminates the whole group (SIGTERM, then SIGKILL); an ``atexit`` hook kills any
group still alive if the event loop never got to its ``finally``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import aiohttp

PY = sys.executable
_live: set[int] = set()  # process-group ids of servers still running


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(args: list[str] | tuple[str, ...], cpu: int | None) -> list[str]:
    """``args`` run under ``taskset -c cpu`` (when taskset exists and a core is given)."""
    if cpu is None or not shutil.which("taskset") or (os.cpu_count() or 1) <= cpu:
        return list(args)
    return ["taskset", "-c", str(cpu), *args]


def die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_live):
        _kill_group(pgid, signal.SIGKILL)
    _live.clear()


async def run(*args: str, env: dict[str, str]) -> str:
    """Run a short command to completion; its stdout, or RuntimeError with its stderr."""
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, start_new_session=True,
                                                preexec_fn=die_with_parent)
    _live.add(proc.pid)
    try:
        out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            _kill_group(proc.pid, signal.SIGKILL)
            await proc.wait()
        _live.discard(proc.pid)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return out.decode()


SUSPICIOUS = (" ERROR ", " CRITICAL ", "Error handling request", "[ERROR]", "[CRITICAL]")


def log_problems(path: Path, limit: int = 5) -> tuple[int, list[str]]:
    """How many errors a server's log holds, and the most frequent kinds (``count× message →
    exception``, timestamps left out)."""
    import collections
    import re

    kinds: collections.Counter[str] = collections.Counter()
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return 0, []
    for i, line in enumerate(lines):
        if not any(mark in line for mark in SUSPICIOUS):
            continue
        message = re.sub(r"^\S+ \S+ ", "", line).strip()  # drop the asctime
        j = i + 1
        if j < len(lines) and lines[j].startswith("Traceback"):
            j += 1
            while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
                j += 1
            if j < len(lines):
                message += " → " + lines[j].strip()
        elif j < len(lines) and lines[j].startswith(("future:", "exception=")):
            message += " → " + lines[j].strip()
        kinds[message[:300]] += 1
    return sum(kinds.values()), [f"{n}× {kind}" for kind, n in kinds.most_common(limit)]


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@asynccontextmanager
async def server(args: list[str], *, env: dict[str, str], log: Path, ready_url: str, cpu: int | None = None,
                 timeout: float = 60.0) -> AsyncIterator[asyncio.subprocess.Process]:
    """Start a server (pinned to ``cpu``), wait until ``ready_url`` answers 200, stop it on exit."""
    with open(log, "ab") as out:
        proc = await asyncio.create_subprocess_exec(*pinned(args, cpu), env=env, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=out, stderr=asyncio.subprocess.STDOUT,
                                                    start_new_session=True, preexec_fn=die_with_parent)
    _live.add(proc.pid)
    try:
        await _wait_ready(proc, ready_url, timeout, log)
        yield proc
    finally:
        await stop(proc)


async def stop(proc: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    if proc.returncode is None:
        _kill_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            pass
    _kill_group(proc.pid, signal.SIGKILL)  # stragglers in the group (e.g. gunicorn's workers)
    if proc.returncode is None:
        await proc.wait()
    _live.discard(proc.pid)


async def _wait_ready(proc: asyncio.subprocess.Process, url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise RuntimeError(f"server exited ({proc.returncode}) before it was ready; log {log}:\n"
                                   + log_tail(log))
            try:
                async with http.get(url) as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server not ready at {url} after {timeout:.0f} s; log {log}:\n" + log_tail(log))
