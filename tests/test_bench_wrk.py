"""The benchmark harness's own plumbing (never a benchmark): the request-file format, wrk's output
parsing, the page markers, and ``bench/requests.lua`` driven by a real wrk for one second against
a stub server (skipped without wrk): single use, slices per thread, capture, bad answers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from aiohttp import web

from bench.__main__ import BEGIN, END, page
from bench.procs import log_problems
from bench.wrk import BadResponses, Load, Request, RequestsExhausted, captured, parse_output, request_line, run
from bench.wrk import unsent, write_requests

WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:8400
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   160.12ms   20.11ms 300.00ms   70.00%
    Req/Sec   200.00     10.00   220.00     80.00%
  401 requests in 2.01s, 300.00KB read
  Socket errors: connect 0, read 0, write 0, timeout 2
Requests/sec:    199.50
Transfer/sec:    149.25KB
BENCH-RESULT sent=433 responses=401 bad_status=1 bad_body=0 exhausted=0 by_thread=433
BENCH-FIRST-ERROR 401 {"error": "invalid_client"}
"""


def test_request_line_and_its_limits() -> None:
    line = request_line(Request("POST", "/token", {"A": "1", "Signature": "sig1=:x=:"}, "a=1&b=2"))
    assert line.split("\t") == ["POST", "/token", "a=1&b=2", "A", "1", "Signature", "sig1=:x=:"]
    for bad in (Request("POST", "/token", {"A": "x\ty"}), Request("POST", "/t", {}, "a\nb"),
                Request("POST", "token", {})):
        with pytest.raises(ValueError):
            request_line(bad)


def test_unsent_follows_the_thread_slices() -> None:
    lines = [f"r{i}" for i in range(10)]  # thread 0: r0 r2 r4 r6 r8; thread 1: r1 r3 r5 r7 r9
    assert unsent(lines, [2, 4]) == ["r4", "r6", "r8", "r9"]
    assert unsent(lines, [10]) == []
    assert unsent(lines, [3]) == lines[3:]


def test_parse_output() -> None:
    result = parse_output(WRK_OUTPUT)
    assert (result.rps, result.responses, result.sent, result.bad_status) == (199.5, 401, 433, 1)
    assert result.seconds == pytest.approx(2.01) and result.sent_by_thread == [433]
    assert result.socket_errors["timeout"] == 2 and result.warning == "2 requests timed out"
    assert result.first_error == '401 {"error": "invalid_client"}'
    with pytest.raises(BadResponses):
        result.check("x")


def test_page_keeps_the_prose_around_the_markers() -> None:
    existing = f"# Performance\n\nintro\n\n{BEGIN}\nold table\n{END}\n\n## Reading the figures\n\nanalysis\n"
    new = page(existing, "new table\n")
    assert new == f"# Performance\n\nintro\n\n{BEGIN}\nnew table\n{END}\n\n## Reading the figures\n\nanalysis\n"
    assert page(new, "new table\n") == new
    with pytest.raises(SystemExit):
        page("# no markers\n", "table\n")
    assert BEGIN in page(None, "table\n")


def test_log_problems_groups_errors_with_their_exception(tmp_path: Path) -> None:
    log = tmp_path / "am.log"
    log.write_text(
        '2026-11-29 09:24:45,096 aiohttp.access INFO 127.0.0.1 "POST /token HTTP/1.1" 200 729\n'
        + "2026-11-29 09:24:45,116 authmanager ERROR database unavailable\nTraceback (most recent call last):\n"
          '  File "x.py", line 1, in f\n    g()\nConnectionResetError: Connection lost\n' * 2
        + "2026-11-29 09:25:20,570 asyncio ERROR Future exception was never retrieved\n"
          "future: <Future finished exception=ConnectionError('x')>\n")
    count, kinds = log_problems(log)
    assert count == 3
    assert kinds[0] == "2× authmanager ERROR database unavailable → ConnectionResetError: Connection lost"
    assert kinds[1].startswith("1× asyncio ERROR Future exception was never retrieved → future:")
    assert log_problems(tmp_path / "missing.log") == (0, [])


#: Skipped without wrk, except where it is required (``.ci/run`` installs it): there, they fail.
needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None and os.environ.get("PROTECTSERVE_REQUIRE_WRK") != "1",
                               reason="wrk is not installed")


def _stub(seen: list[str]) -> web.Application:
    async def token(request: web.Request) -> web.Response:
        n = request.match_info["n"]
        seen.append(n)
        if n == "bad":
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response({"access_token": f"tok-{n}", "token_type": "Bearer"})

    app = web.Application()
    app.router.add_post("/token/{n}", token)
    return app


@needs_wrk
async def test_lua_sends_each_request_once_and_reports_exhaustion(aiohttp_server, tmp_path: Path) -> None:
    seen: list[str] = []
    server = await aiohttp_server(_stub(seen))
    lines = [request_line(Request("POST", f"/token/{i}", {"Content-Type": "text/plain"}, f"body {i}"))
             for i in range(40)]
    write_requests(tmp_path / "req", lines)
    load = Load(seconds=1, connections=4, threads=2, cpu=None)
    result = await run(str(server.make_url("/")), tmp_path / "req", mode="once", expect='"access_token"',
                       load=load, capture=tmp_path / "tokens")
    assert result.exhausted and sum(result.sent_by_thread) == 40 and result.sent_by_thread == [20, 20]
    # every request at most once; wrk takes thread 0's first request to check the script's
    # output before the run (script_verify_request) and never sends it
    assert sorted(seen, key=int) == [str(i) for i in range(1, 40)]
    tokens = captured(tmp_path / "tokens", 2)  # the answers read before each thread stopped
    assert len(tokens) == len(set(tokens)) == result.responses > 0
    assert set(tokens) <= {f"tok-{i}" for i in range(1, 40)}
    assert unsent(lines, result.sent_by_thread) == []
    result.check("stub", allow_exhausted=True)
    with pytest.raises(RequestsExhausted):
        result.check("stub")


@needs_wrk
async def test_lua_counts_bad_answers_in_cycle_mode(aiohttp_server, tmp_path: Path) -> None:
    seen: list[str] = []
    server = await aiohttp_server(_stub(seen))
    write_requests(tmp_path / "req", [request_line(Request("POST", "/token/1", {})),
                                      request_line(Request("POST", "/token/bad", {}))])
    result = await run(str(server.make_url("/")), tmp_path / "req", mode="cycle", expect='"access_token"',
                       load=Load(seconds=1, connections=2, threads=1, cpu=None))
    assert not result.exhausted and result.responses > 2
    assert result.bad_status >= 1 and result.first_error.startswith("401 ")
    with pytest.raises(BadResponses):
        result.check("stub")
