"""Channel API keys and per-key rate limits.

A key looks like `ck_<key id>_<secret>`; intake keeps only its SHA-256, so a leaked table
does not leak keys. Each key is scoped to one channel, or '*'. Create one with
`python -m services.intake.keys create CHANNEL [LABEL]` (printed once, never again).
"""

import asyncio
import hashlib
import secrets
import sys
import time
from dataclasses import dataclass, field

import asyncpg

ANY_CHANNEL = "*"


@dataclass(frozen=True)
class ChannelKey:
    key_id: str
    channel: str

    def allows(self, channel: str) -> bool:
        return self.channel in (ANY_CHANNEL, channel)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(pool: asyncpg.Pool, channel: str, label: str = "") -> str:
    key_id = secrets.token_hex(4)
    secret = f"ck_{key_id}_{secrets.token_urlsafe(24)}"
    await pool.execute(
        "INSERT INTO intake.channel_keys (key_id, channel, key_hash, label) VALUES ($1, $2, $3, $4)",
        key_id,
        channel,
        _hash(secret),
        label,
    )
    return secret


class KeyStore:
    """Looks keys up by hash, with a short cache so that a busy adapter costs no query per call."""

    def __init__(self, pool: asyncpg.Pool, cache_seconds: float = 30.0):
        self.pool, self.cache_seconds = pool, cache_seconds
        self._cache: dict[str, tuple[float, ChannelKey | None]] = {}

    async def authenticate(self, secret: str) -> ChannelKey | None:
        digest = _hash(secret)
        cached = self._cache.get(digest)
        if cached and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        row = await self.pool.fetchrow(
            "SELECT key_id, channel FROM intake.channel_keys WHERE key_hash = $1 AND revoked_at IS NULL", digest
        )
        key = ChannelKey(row["key_id"], row["channel"]) if row else None
        self._cache[digest] = (time.monotonic(), key)
        return key


@dataclass
class RateLimiter:
    """A token bucket per key: `per_minute` sustained, bursts up to `burst`. Per process, so no
    request waits on a shared store: with N intake replicas behind a balancer each allows the
    whole rate, and the settings should give each replica its 1/N."""

    per_minute: float
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key_id: str) -> float:
        """0 when allowed; otherwise the seconds to wait before the next request fits."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.per_minute / 60)
        if tokens >= 1:
            self._buckets[key_id] = (tokens - 1, now)
            return 0.0
        self._buckets[key_id] = (tokens, now)
        return (1 - tokens) * 60 / self.per_minute


async def _main(argv: list[str]) -> None:
    from pathlib import Path

    from services.common.db import migrate
    from services.common.settings import Settings

    if len(argv) < 2 or argv[0] != "create":
        sys.exit("usage: python -m services.intake.keys create CHANNEL [LABEL]")
    settings = Settings()
    pool = await asyncpg.create_pool(settings.require_database_url(), min_size=1, max_size=1)
    try:
        await migrate(pool, "intake", Path(__file__).parent / "migrations")
        print(await create_key(pool, argv[1], " ".join(argv[2:])))
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1:]))
