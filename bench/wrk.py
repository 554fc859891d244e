"""wrk as the load generator: requests from a file through ``requests.lua``, every response checked.

The request file has one request per line, tab-separated (see ``requests.lua``); each run says
how many were sent, how many answers were not 200 or did not match the expected body, and
whether a thread ran out of single-use requests (then the run is invalid, not merely slow).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from .procs import die_with_parent, pinned

SCRIPT = Path(__file__).with_name("requests.lua")


class WrkMissing(RuntimeError):
    pass


class RequestsExhausted(RuntimeError):
    """A single-use request file ran out before the end of the run."""


class BadResponses(RuntimeError):
    pass


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: str = ""


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise WrkMissing("wrk is not installed: apt-get install -y wrk (Debian's package)")
    return found


def request_line(request: Request) -> str:
    """One request as one line of the request file. Fields must hold no tab and no newline."""
    fields = [request.method, request.path, request.body]
    for name, value in request.headers.items():
        fields += [name, value]
    for field in fields:
        if "\t" in field or "\n" in field or "\r" in field:
            raise ValueError(f"a request field holds a tab or a line break: {field!r}")
    if not request.method or not request.path.startswith("/"):
        raise ValueError(f"bad request line: {request.method!r} {request.path!r}")
    return "\t".join(fields)


def captured(capture: Path, threads: int) -> list[str]:
    """The tokens a ``capture`` run wrote (see :func:`run`)."""
    tokens: list[str] = []
    for k in range(threads):
        part = capture.with_name(f"{capture.name}.{k}")
        if part.exists():
            tokens += [line for line in part.read_text().splitlines() if line]
    return tokens


def unsent(lines: list[str], sent_by_thread: list[int]) -> list[str]:
    """The lines of a request file that no thread took (thread k of T takes lines k, k+T, ...
    in order; see requests.lua)."""
    threads = len(sent_by_thread)
    return [line for k, sent in enumerate(sent_by_thread) for line in lines[k::threads][sent:]]


def write_requests(path: Path, lines: Iterable[str]) -> int:
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
            count += 1
    return count


@dataclass(frozen=True)
class WrkResult:
    rps: float
    responses: int
    sent: int
    seconds: float
    bad_status: int
    bad_body: int
    exhausted: bool
    sent_by_thread: list[int]
    socket_errors: dict[str, int]
    first_error: str | None
    output: str

    def check(self, what: str, *, allow_exhausted: bool = False) -> None:
        """Raise unless every answer was a 200 with the expected body and the file lasted."""
        if self.exhausted and not allow_exhausted:
            raise RequestsExhausted(f"{what}: the pre-signed requests ran out after {self.sent} "
                                    f"({self.rps:.0f}/s); the harness must pre-sign more")
        if self.bad_status or self.bad_body:
            raise BadResponses(f"{what}: {self.bad_status} answers were not 200 and {self.bad_body} had an "
                               f"unexpected body, of {self.responses}; first: {self.first_error}\n{self.output}")
        broken = {k: v for k, v in self.socket_errors.items() if v and k != "timeout"}
        if broken:
            raise BadResponses(f"{what}: socket errors {broken}\n{self.output}")

    @property
    def warning(self) -> str | None:
        """Not a wrong answer, but a sign of a stalled server or a starved machine."""
        if self.responses == 0:
            return "no answer at all during the run"
        if self.socket_errors.get("timeout"):
            return f"{self.socket_errors['timeout']} requests timed out"
        return None


def parse_output(out: str) -> WrkResult:
    """Parse wrk's report and the BENCH-RESULT line printed by ``requests.lua``."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    ours = re.search(r"BENCH-RESULT sent=(\d+) responses=(\d+) bad_status=(\d+) bad_body=(\d+) exhausted=(\d+) "
                     r"by_thread=([\d,]+)", out)
    if not rate or not total or not ours:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors = dict(zip(errors, map(int, sock.groups())))
    first = re.search(r"^BENCH-FIRST-ERROR (.*)$", out, re.M)
    sent, responses, bad_status, bad_body, exhausted = map(int, ours.groups()[:5])
    by_thread = [int(n) for n in ours.group(6).split(",")]
    return WrkResult(rps=float(rate.group(1)), responses=responses, sent=sent,
                     seconds=float(total.group(2)) * scale, bad_status=bad_status, bad_body=bad_body,
                     exhausted=bool(exhausted), sent_by_thread=by_thread, socket_errors=errors,
                     first_error=first.group(1) if first else None, output=out)

@dataclass(frozen=True)
class Load:
    """wrk's settings, identical for every side of a comparison."""

    seconds: int = 5
    connections: int = 32
    threads: int = 1  # a single thread's Lua state is loaded before the clock starts (see requests.lua)
    cpu: int | None = 1
    timeout_s: int = 10


async def run(base_url: str, request_file: Path, *, mode: str, expect: str, load: Load,
              capture: Path | None = None) -> WrkResult:
    """Run wrk against ``base_url`` with the requests of ``request_file``; the parsed result.
    With ``capture``, the access tokens answered are written to ``capture.<thread>`` files."""
    if mode not in ("once", "cycle"):
        raise ValueError(mode)
    args = pinned([wrk_binary(), f"-t{load.threads}", f"-c{load.connections}", f"-d{load.seconds}s",
                   f"--timeout={load.timeout_s}s", "-s", str(SCRIPT), base_url, "--", str(request_file), mode,
                   str(load.threads), expect, str(capture or "")], load.cpu)
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                                                preexec_fn=die_with_parent)
    try:
        out = (await asyncio.wait_for(proc.communicate(), load.seconds + 120))[0].decode(errors="replace")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}")
    return parse_output(out)
