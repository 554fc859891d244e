"""Protected / unprotected throughput of one service process with a repeated token (wrk)."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from consumer_sdk import MemoryStore, ProtectServeAuth

from .procs import die_with_parent, pinned
from .services import Deployment, deployment
from .wrk import wrk_binary


async def wrk(url: str, *, seconds: int, connections: int, cpu: int | None, headers: dict[str, str]) -> float:
    args = [wrk_binary(), "-t1", f"-c{connections}", f"-d{seconds}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    proc = await asyncio.create_subprocess_exec(*pinned(args, cpu), url, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                                                preexec_fn=die_with_parent)
    try:
        out = (await proc.communicate())[0].decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if "Non-2xx" in out or "Socket errors" in out or proc.returncode != 0:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


async def measure(*, seconds: int = 5, rounds: int = 3, d: Deployment | None = None) -> dict[str, float]:
    """The SP must be pinned to core 0 and the AM elsewhere (``deployment(sp_cpu=0, am_cpu=1)``);
    one is made if none is given."""
    wrk_binary()
    if d is None:
        async with deployment(sp_cpu=0, am_cpu=1) as made:
            return await measure(seconds=seconds, rounds=rounds, d=made)
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
