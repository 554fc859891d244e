"""Protected / unprotected throughput of one service process with a repeated token (wrk)."""

from __future__ import annotations

import asyncio
import re
import shutil

import aiohttp

from consumer_sdk import MemoryStore, ProtectServeAuth

from .services import deployment


async def wrk(url: str, *, seconds: int, connections: int, cpu: int | None, headers: dict[str, str]) -> float:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if cpu is not None and shutil.which("taskset"):
        args = ["taskset", "-c", str(cpu), *args]
    proc = await asyncio.create_subprocess_exec(*args, url, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out = (await proc.communicate())[0].decode()
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


async def measure(*, seconds: int = 5, rounds: int = 3) -> dict[str, float]:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    async with deployment(sp_cpu=0, am_cpu=1) as d:
        store = MemoryStore()
        async with aiohttp.ClientSession(middlewares=[ProtectServeAuth(store=store, scopes=["read"])]) as http:
            async with http.get(d.resource + "photos/1") as r:
                assert r.status == 200
        token = next(iter(store.tokens())).access_token
        bearer = {"Authorization": f"Bearer {token}"}
        open_rps, protected_rps = [], []
        for _ in range(rounds):  # interleaved, so drift affects both sides alike
            open_rps.append(await wrk(d.resource + "open/1", seconds=seconds, connections=32, cpu=1, headers=bearer))
            protected_rps.append(await wrk(d.resource + "photos/1", seconds=seconds, connections=32, cpu=1,
                                           headers=bearer))
    best_open, best_protected = max(open_rps), max(protected_rps)
    return {"unprotected_rps": best_open, "protected_rps": best_protected, "ratio": best_protected / best_open}
