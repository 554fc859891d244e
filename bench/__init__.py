"""``python -m bench``: figures measured side by side in one run, printed as a table.

Never run by the unit tests (tests/test_bench_wrk.py only checks the plumbing). See
docs/performance.md for the committed results and how to regenerate them.

* ``verification``, ``throughput``, ``propagation`` — the resource-server figures;
* ``am_rows`` — the AM's figures of issue 6 (issuance, prefill ratio, introspection, Authlib),
  built on ``issuance``/``introspection`` (wrk targets), ``presign`` (signing pool),
  ``prefill`` (1,000,000 tokens), ``pg`` (throw-away databases), ``authlib_reference``;
* ``wrk`` with ``requests.lua`` (load from a request file, every answer checked), ``procs``
  (server processes that are always cleaned up) and ``services`` (AM and protected service).
"""
