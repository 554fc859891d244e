"""What one AM process remembers and runs beside the requests: the consumer-key and known-token
caches, the signing-key ring, the feed poller, the rate limiter and the purge task. Every entry
is either a fact that cannot go stale or is withdrawn by the revocation log (README, Design)."""
