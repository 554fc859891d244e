"""A one-paragraph description of the machine the figures were measured on."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess


def describe() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    wrk = shutil.which("wrk")
    wrk_version = ""
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True)
        wrk_version = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "wrk"
    return (f"{cpu}, {os.cpu_count()} cores{mem}; Linux {platform.release()}; Python {platform.python_version()}"
            + (f"; {wrk_version}" if wrk_version else "; wrk not installed") + _software())


def _software() -> str:
    """Versions of what the figures depend on besides the AM: SQLite, PostgreSQL, the reference."""
    import sqlite3
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"SQLite {sqlite3.sqlite_version}"]
    psql = shutil.which("psql")
    if psql:  # the server's version, from the benchmarks' admin DSN
        from .pg import ADMIN_DSN

        try:
            out = subprocess.run([psql, ADMIN_DSN, "-Atc", "SHOW server_version"], capture_output=True, text=True,
                                 timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                parts.append(f"PostgreSQL {out.stdout.split()[0]}")
        except subprocess.TimeoutExpired:
            pass
    for package in ("Authlib", "gunicorn"):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            pass
    return "; " + ", ".join(parts)
