"""docs/sequence/ must match what the code does: re-run the traced demo and re-render."""

import subprocess
import sys
from pathlib import Path

from authmanager.demo.run import run_demo
from authmanager.demo.sequence import render_all
from authmanager.demo.trace import Tracer

DOCS = Path(__file__).resolve().parent.parent / "docs" / "sequence"


async def test_committed_diagrams_match_a_traced_run(tmp_path):
    trace = tmp_path / "trace.jsonl"
    lines: list[str] = []
    assert await run_demo(trace_file=trace, out=lines.append) == 0
    rendered = render_all(Tracer.load(trace))
    for name, text in rendered.items():
        committed = (DOCS / name).read_text()
        assert committed == text, f"docs/sequence/{name} is stale: run `authmanager demo --trace t.jsonl && " \
                                  f"python -m authmanager.demo.sequence t.jsonl docs/sequence`"
    assert "POST /token (RFC 9421 hmac-sha256)" in rendered["handshake.md"]
    assert "POST /introspect" in rendered["introspection.md"]
    assert "POST /token" not in rendered["validation.md"].split("Note over SP")[1]
    ticket = rendered["ticket.md"]
    assert "participant Bob" in ticket and "participant Bob" not in rendered["handshake.md"]
    for line in ('AM->>Bob: GET /', 'Bob-->>AM: 200 Link: rel="ticket_endpoint"',
                 "AM->>Bob: POST /ticket (ticket, resource, subject)", "Bob-->>AM: 202",
                 "Bob->>AM: POST /token (grant_type=ticket, ticket)", "Consumer->>SP: GET /photos/ (Bearer token)"):
        assert line in ticket, line
    assert "/register" not in ticket  # Bob never registers a consumer key
    dialog = rendered["dialog.md"]
    for line in ("Consumer->>AM: POST /register", "AM-->>Person: 303 Location: /admin/login (next)",
                 "Person->>AM: POST /authorize (csrf_token, request_id, approve_scope, decision)",
                 "AM-->>Person: 303 Location: redirect_uri (code, state, iss)",
                 "Consumer->>AM: POST /token (grant_type=authorization_code, code, redirect_uri, code_verifier, "
                 "client_id)", "Consumer->>SP: GET /photos/ (Bearer token)", "SP-->>Consumer: 200 {photos}"):
        assert line in dialog, line
    assert "GET /jwks.json" not in dialog and "participant Person" not in rendered["handshake.md"]
    assert "private targets allowed" in "\n".join(lines) and "DEMO OK" in lines[-1]


async def test_demo_with_oauth1_signatures_serves_the_resource():
    lines: list[str] = []
    assert await run_demo(signature="rfc5849", out=lines.append) == 0
    output = "\n".join(lines)
    assert "register" in output and "signature=rfc5849" in output
    assert "DEMO OK" in output


def test_demo_command_exits_zero_and_prints_the_handshake():
    proc = subprocess.run([sys.executable, "-m", "authmanager.cli", "demo"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    for step in ("challenge", "resource_metadata", "am_metadata", "register", "token", "retry", "-> 401",
                 '"aud"', "DEMO OK"):
        assert step in proc.stdout
