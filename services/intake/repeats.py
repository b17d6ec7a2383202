"""Repeats (domain §3): the same customer writing again about the same open matter is
recognised by who they are and what they wrote, and added to that complaint."""

from datetime import datetime, timedelta

import asyncpg

from services.common.customer_identity import keys_of
from services.workflow.contract import Customer


def customer_keys(customer: Customer) -> list[str]:
    """Hashed identities of a customer (phone, e-mail, account), to find their earlier complaints
    without indexing contact data."""
    return keys_of(customer.model_dump(mode="json"))  # the keys the inbox and erasure find them by


def _bigrams(text: str) -> set[str]:
    letters = "".join(c for c in text.lower() if c.isalnum())
    return {letters[i : i + 2] for i in range(len(letters) - 1)}


def similarity(a: str, b: str) -> float:
    """Overlap of character pairs (Jaccard): works for Chinese and English alike."""
    x, y = _bigrams(a), _bigrams(b)
    return len(x & y) / len(x | y) if x and y else 0.0


def same_matter(
    earlier: list[asyncpg.Record],
    description: str,
    cause: str | None,
    received_at: datetime,
    window: timedelta,
    min_similarity: float,
) -> asyncpg.Record | None:
    """The customer's open complaint this one repeats: recent, and the same words or the same cause."""
    for row in earlier:
        if received_at - row["received_at"] > window:
            break
        if (cause and row["cause"] == cause) or similarity(description, row["description"] or "") >= min_similarity:
            return row
    return None
