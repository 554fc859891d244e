"""Fill ``access_tokens`` with many realistic live tokens, fast, while no AM is running.

Rows look like the AM's own: a unique random ``jti`` (22 characters, like the AM's base64url of 16
bytes), a unique ``token_hash`` (64 hex characters, a SHA-256), one of 1,000 consumer keys, the
realm's id, a scope, ``issued_at`` now and ``expires_at`` a week ahead, so that the AM's purge
(which deletes tokens past ``expires_at``) leaves them alone during the run. The random values
are generated inside the database (SQLite: ``randomblob``; PostgreSQL: ``sha256``/``md5`` of
``random()``), in large transactions; the columns are read from the live schema, and a new
required column the filler does not know about is an error, not a silent skip.
"""

from __future__ import annotations

import sqlite3
import time

#: SQL expressions per column: SQLite, PostgreSQL. ``{realm}``/``{now}``/``{exp}`` are filled in;
#: ``i`` is the row number.
_SQLITE = {
    "jti": "lower(hex(randomblob(11)))",
    "token_hash": "lower(hex(randomblob(32)))",
    "client_id": "'prefill-' || (i % 1000)",
    "realm_id": "{realm}",
    "scope": "CASE WHEN i % 3 = 0 THEN 'read write' ELSE 'read' END",
    "issued_at": "{now}",
    "expires_at": "{exp}",
    "revoked_at": "NULL",
}
_PG = {
    "jti": "substr(md5(random()::text || i::text), 1, 22)",
    "token_hash": "encode(sha256((random()::text || ':' || i::text)::bytea), 'hex')",
    "client_id": "'prefill-' || (i % 1000)",
    "realm_id": "{realm}",
    "scope": "CASE WHEN i % 3 = 0 THEN 'read write' ELSE 'read' END",
    "issued_at": "{now}",
    "expires_at": "{exp}",
    "revoked_at": "NULL",
}
WEEK = 7 * 24 * 3600


def _columns_to_fill(columns: list[tuple[str, bool, bool]], known: dict[str, str]) -> list[str]:
    """``columns``: (name, required, has_default). The known columns, or an error for an unknown
    required column without a default."""
    unknown = [name for name, required, has_default in columns if name not in known and required and not has_default]
    if unknown:
        raise RuntimeError(f"access_tokens has required columns the prefill does not know: {unknown}; "
                           "update bench/prefill.py")
    return [name for name, _, _ in columns if name in known]


def sqlite_path(database_url: str) -> str:
    prefix = "sqlite+aiosqlite:///"
    if not database_url.startswith(prefix):
        raise ValueError(database_url)
    return database_url[len(prefix):]


def prefill_sqlite(path: str, *, realm: str, count: int, batch: int = 250_000) -> float:
    """Insert ``count`` rows; seconds taken. The AM must not be running."""
    started = time.perf_counter()
    now = int(time.time())
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")  # this connection only; checkpointed and synced below
        conn.execute("PRAGMA cache_size=-262144")  # 256 MiB
        found = conn.execute("SELECT id FROM realms WHERE name = ?", (realm,)).fetchone()
        if found is None:
            raise RuntimeError(f"no realm {realm!r} in {path}")
        realm_id = found[0]
        info = conn.execute("PRAGMA table_info(access_tokens)").fetchall()  # cid, name, type, notnull, dflt, pk
        if not info:
            raise RuntimeError(f"no access_tokens table in {path}")
        cols = _columns_to_fill([(r[1], bool(r[3]) or bool(r[5]), r[4] is not None) for r in info], _SQLITE)
        exprs = ", ".join(_SQLITE[c].format(realm=int(realm_id), now=now, exp=now + WEEK) for c in cols)
        before = conn.execute("SELECT count(*) FROM access_tokens").fetchone()[0]
        conn.execute("BEGIN IMMEDIATE")
        # Plain indexes are dropped and rebuilt (as by REINDEX); the unique ones (jti, token_hash)
        # take the random keys one by one, as they would on a live database.
        plain = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                             "tbl_name = 'access_tokens' AND sql IS NOT NULL").fetchall()
        for name, _ in plain:
            conn.execute(f'DROP INDEX "{name}"')
        done = 0
        while done < count:
            n = min(batch, count - done)
            conn.execute(f"WITH RECURSIVE seq(i) AS (SELECT {done + 1} UNION ALL SELECT i + 1 FROM seq "
                         f"WHERE i < {done + n}) INSERT INTO access_tokens ({', '.join(cols)}) SELECT {exprs} FROM seq")
            done += n
        for _, sql in plain:
            conn.execute(sql)
        conn.execute("COMMIT")
        after = conn.execute("SELECT count(*) FROM access_tokens").fetchone()[0]
        if after - before != count:
            raise RuntimeError(f"prefill inserted {after - before} rows, not {count}")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.perf_counter() - started


async def prefill_postgres(dsn: str, *, realm: str, count: int, batch: int = 250_000) -> float:
    """Insert ``count`` rows into the database at ``dsn`` (a plain ``postgresql://`` DSN), then
    ``VACUUM ANALYZE`` the table as autovacuum would have done on a live database; seconds taken."""
    import asyncpg

    started = time.perf_counter()
    now = int(time.time())
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        realm_id = await conn.fetchval("SELECT id FROM realms WHERE name = $1", realm)
        if realm_id is None:
            raise RuntimeError(f"no realm {realm!r}")
        info = await conn.fetch(
            "SELECT column_name, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_name = 'access_tokens' AND table_schema = current_schema() ORDER BY ordinal_position")
        if not info:
            raise RuntimeError("no access_tokens table")
        cols = _columns_to_fill([(r["column_name"], r["is_nullable"] == "NO", r["column_default"] is not None)
                                 for r in info], _PG)
        exprs = ", ".join(_PG[c].format(realm=int(realm_id), now=now, exp=now + WEEK) for c in cols)
        before = await conn.fetchval("SELECT count(*) FROM access_tokens")
        # One transaction: drop the table's indexes and unique constraints, insert, rebuild them
        # exactly as they were (PostgreSQL's DDL is transactional: an error restores everything).
        # Maintaining random-key B-trees row by row in a small shared_buffers is 3x slower.
        async with conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit = off")
            await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            await conn.execute("SET LOCAL session_replication_role = replica")  # realm_id is valid by construction
            constraints = await conn.fetch(
                "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
                "WHERE conrelid = 'access_tokens'::regclass AND contype IN ('p', 'u')")
            indexes = await conn.fetch(
                "SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = 'access_tokens'::regclass "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)")
            for row in indexes:
                await conn.execute(f'DROP INDEX "{row["name"]}"')
            for row in constraints:
                await conn.execute(f'ALTER TABLE access_tokens DROP CONSTRAINT "{row["conname"]}"')
            done = 0
            while done < count:
                n = min(batch, count - done)
                await conn.execute(f"INSERT INTO access_tokens ({', '.join(cols)}) SELECT {exprs} "
                                   f"FROM generate_series({done + 1}, {done + n}) AS i")
                done += n
            for row in constraints:
                await conn.execute(f'ALTER TABLE access_tokens ADD CONSTRAINT "{row["conname"]}" {row["def"]}')
            for row in indexes:
                await conn.execute(row["def"])
        after = await conn.fetchval("SELECT count(*) FROM access_tokens")
        if after - before != count:
            raise RuntimeError(f"prefill inserted {after - before} rows, not {count}")
        await conn.execute("VACUUM ANALYZE access_tokens")
    finally:
        await conn.close()
    return time.perf_counter() - started
