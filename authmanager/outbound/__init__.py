"""The AM's outbound HTTP (ticket discovery and delivery, client metadata documents): every
request through the SSRF guard, with bounded redirects, time and size (docs/protocol.md §12.4)."""
