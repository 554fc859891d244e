"""Owner-initiated sharing (IndieAuth Ticket Auth, docs/protocol.md §12): discover the subject's
ticket endpoint, deliver a single-use ticket to it, record the outcome — every outbound request
through the SSRF guard (``guard``)."""
