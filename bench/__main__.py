"""Run every benchmark in one process on this machine and print one table.

    python -m bench [--quick] [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
from pathlib import Path

from . import propagation, throughput, verification
from .machine import describe


def rows(quick: bool) -> list[tuple[str, str, str, str]]:
    out = []
    fs = verification.first_sight(1000 if quick else 3000)
    out.append(("first-sight verification / bare ES256 verify (cryptography)",
                f"{fs['ratio']:.2f} ({fs['ours_us']:.0f} µs / {fs['bare_us']:.0f} µs)", "≤ 1.3", _ok(fs["ratio"] <= 1.3)))
    mem = verification.cache_memory()
    out.append(("verified-token cache, 100,000 tokens", f"{mem['mib']:.1f} MiB; hit {mem['hit_us']:.1f} µs",
                "≤ 64 MiB", _ok(mem["mib"] <= 64)))
    tp = asyncio.run(throughput.measure(seconds=2 if quick else 5, rounds=2 if quick else 3))
    out.append(("protected / unprotected throughput, repeat token (wrk)",
                f"{tp['ratio']:.3f} ({tp['protected_rps']:.0f} / {tp['unprotected_rps']:.0f} req/s)", "≥ 0.95",
                _ok(tp["ratio"] >= 0.95)))
    pr = asyncio.run(propagation.measure(samples=20 if quick else 100))
    out.append(("revocation propagation to an SP in another process",
                f"p50 {pr['p50_s'] * 1000:.0f} ms, p99 {pr['p99_s'] * 1000:.0f} ms ({pr['samples']:.0f} samples)",
                "p99 ≤ 1 s", _ok(pr["p99_s"] <= 1.0)))
    return out


def _ok(flag: bool) -> str:
    return "met" if flag else "MISSED"


def render(table: list[tuple[str, str, str, str]], command: str) -> str:
    lines = [f"Measured {datetime.date.today().isoformat()} with `{command}` on: {describe()}", "",
             "| figure | measured | target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke test of the harness)")
    parser.add_argument("--write", type=Path, help="also write the table into this Markdown file")
    args = parser.parse_args()
    command = "python -m bench" + (" --quick" if args.quick else "")
    text = render(rows(args.quick), command)
    print(text)
    if args.write:
        args.write.write_text(_page(text))


def _page(table: str) -> str:
    return ("# Performance\n\nFigures measured side by side in one run on one machine by `python -m bench` "
            "(servers and load generator pinned to different cores with `taskset`). Regenerate with "
            "`python -m bench --write docs/performance.md`.\n\n" + table)


if __name__ == "__main__":
    main()
