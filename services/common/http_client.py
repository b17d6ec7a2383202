"""The HTTP client every service calls another with (and notify its webhook provider).

It never makes a request wait for a free connection. httpcore 1.0.9, the newest release, leaks
a connection slot when a request that waits for one times out or is cancelled
(encode/httpcore#1093): under a burst, a capped pool fills with leaked slots, and from then on
every call fails with PoolTimeout until the process restarts. A service's calls out are bounded
by the requests and loops that make them, so the pool needs no cap of its own."""

import httpx

KEPT_ALIVE = 20  # idle connections kept for reuse (httpx's default); more are closed after use


def http_client(**kwargs) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` (same arguments) whose pool has no cap on connections."""
    kwargs.setdefault("limits", httpx.Limits(max_connections=None, max_keepalive_connections=KEPT_ALIVE))
    return httpx.AsyncClient(**kwargs)
