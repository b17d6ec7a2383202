"""Who is acting: staff sign in with their roster id and password and get a bearer token; every
staff endpoint takes the acting person from that token, never from what the caller types.

Passwords are hashed with argon2id (argon2-cffi, the library the Password Hashing Competition
winner ships as); tokens are 256 random bits, kept only as their SHA-256, valid for
`TOKEN_LIFETIME` and revoked at sign-out. An OIDC provider can replace the password check in
production (deploy/README.md): what the rest of the service needs is only `SignedIn`.
"""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.service_auth import unauthorized
from services.workflow.permissions import Staff, authority_of
from services.workflow.routing import Router

log = logging.getLogger(__name__)

TOKEN_LIFETIME = timedelta(hours=12)  # one working day and its overtime
HANDOFF_LIFETIME = timedelta(seconds=60)  # a redirect's round trip, with room for a slow network
# This many wrong passwords in a row lock the account for LOCKOUT (the person, or an admin
# setting a new password, unlocks it sooner).
MAX_FAILED_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)
_hasher = PasswordHasher()
_bearer = HTTPBearer(auto_error=False, description="the token from POST /v1/auth/token")
# Verified against when the staff id is unknown, so a wrong id takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


# What a new password must be (NIST SP 800-63B: length and not the obvious, no composition rules).
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 200


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Why a new password is refused, in words (the console has them in Chinese too).
PASSWORD_PROBLEMS = {
    "too_short": f"a password has at least {MIN_PASSWORD_LENGTH} characters",
    "too_long": f"a password has at most {MAX_PASSWORD_LENGTH} characters",
    "contains_staff_id": "a password must not contain the staff id",
    "unchanged": "the new password is the current one",
}


def password_problem(staff_id: str, password: str) -> str | None:
    """Why a new password is refused ("too_short", "too_long", "contains_staff_id"), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "too_short"
    if len(password) > MAX_PASSWORD_LENGTH:
        return "too_long"
    if staff_id.lower() in password.lower():
        return "contains_staff_id"
    return None


async def set_password(pool: asyncpg.Pool | asyncpg.Connection, staff_id: str, password: str) -> None:
    await pool.execute(
        """INSERT INTO workflow.staff_credentials (staff_id, password_hash) VALUES ($1, $2)
           ON CONFLICT (staff_id) DO UPDATE
           SET password_hash = $2, updated_at = now(), failed_attempts = 0, locked_until = NULL""",
        staff_id,
        _hasher.hash(password),
    )


async def give_demo_accounts(pool: asyncpg.Pool, password: str) -> int:
    """Local systems only (`make run`, tests): every roster member without a password gets this one."""
    missing = await pool.fetch(
        """SELECT s.staff_id FROM workflow.staff s
           WHERE NOT EXISTS (SELECT 1 FROM workflow.staff_credentials c WHERE c.staff_id = s.staff_id)"""
    )
    for row in missing:
        await set_password(pool, row["staff_id"], password)
    return len(missing)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


class LockedOut(Exception):
    def __init__(self, retry_after: timedelta):
        super().__init__("too many wrong passwords")
        self.retry_after = retry_after


class WrongPassword(Exception):
    """The current password given to change it is not the person's."""


class UnfitPassword(Exception):
    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem  # password_problem's code, or "unchanged"


async def sign_in(pool: asyncpg.Pool, staff_id: str, password: str) -> IssuedToken | None:
    """A new token for the right password; None for a wrong password or an unknown id (alike).
    Raises LockedOut while the account is locked after repeated wrong passwords."""
    stored = await _checked_password(pool, staff_id, password)
    if stored is None:
        return None
    issued = await _new_token(pool, staff_id)
    if _hasher.check_needs_rehash(stored):
        await set_password(pool, staff_id, password)
    return issued


async def change_password(pool: asyncpg.Pool, staff_id: str, current: str, new: str, keep_token: str) -> None:
    """The person's own change: the current password first (wrong ones count towards the lockout,
    so a stolen session cannot guess it), then the new one's fitness. Every other session of
    theirs is signed out; `keep_token`, the one they changed it with, goes on."""
    if await _checked_password(pool, staff_id, current) is None:
        raise WrongPassword()
    problem = password_problem(staff_id, new) or ("unchanged" if new == current else None)
    if problem:
        raise UnfitPassword(problem)
    async with pool.acquire() as conn, conn.transaction():
        await set_password(conn, staff_id, new)
        await revoke_tokens(conn, staff_id, keeping=keep_token)
    log.info("password changed; other sessions signed out", extra={"staff_id": staff_id})


async def revoke_tokens(db: asyncpg.Pool | asyncpg.Connection, staff_id: str, keeping: str | None = None) -> int:
    """Sign the person out everywhere (but of the session `keeping`): after a password change or
    reset, a session opened with the old password must not go on, nor a handoff code one of them
    asked for (it would open a new one). Returns how many sessions ended."""
    await db.execute("DELETE FROM workflow.staff_handoffs WHERE staff_id = $1 AND used_at IS NULL", staff_id)
    ended = await db.fetch(
        """UPDATE workflow.staff_tokens SET revoked_at = now()
           WHERE staff_id = $1 AND revoked_at IS NULL AND expires_at > now() AND token_hash IS DISTINCT FROM $2
           RETURNING 1""",
        staff_id,
        _digest(keeping) if keeping else None,
    )
    return len(ended)


async def _checked_password(pool: asyncpg.Pool, staff_id: str, password: str) -> str | None:
    """The stored hash when `password` is the person's; None otherwise (an unknown id alike,
    and as slow). Counts wrong ones towards the lockout; raises LockedOut while locked."""
    row = await pool.fetchrow(
        """SELECT password_hash, locked_until - now() AS locked_for FROM workflow.staff_credentials
           WHERE staff_id = $1""",
        staff_id,
    )
    if row is not None and row["locked_for"] is not None and row["locked_for"] > timedelta(0):
        raise LockedOut(row["locked_for"])
    stored = row["password_hash"] if row else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        log.warning("sign-in refused", extra={"staff_id": staff_id})
        if row is not None:
            await pool.execute(
                """UPDATE workflow.staff_credentials
                   SET failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0 ELSE failed_attempts + 1 END,
                       locked_until = CASE WHEN failed_attempts + 1 >= $2 THEN now() + $3 ELSE locked_until END
                   WHERE staff_id = $1""",
                staff_id,
                MAX_FAILED_ATTEMPTS,
                LOCKOUT,
            )
        return None
    if stored is None:
        return None
    await pool.execute(
        "UPDATE workflow.staff_credentials SET failed_attempts = 0, locked_until = NULL WHERE staff_id = $1", staff_id
    )
    return stored


async def _new_token(db: asyncpg.Pool | asyncpg.Connection, staff_id: str) -> IssuedToken:
    token = secrets.token_urlsafe(32)
    expires_at = await db.fetchval(
        """INSERT INTO workflow.staff_tokens (token_hash, staff_id, expires_at) VALUES ($1, $2, now() + $3)
           RETURNING expires_at""",
        _digest(token),
        staff_id,
        TOKEN_LIFETIME,
    )
    return IssuedToken(token, expires_at)


async def hand_off(pool: asyncpg.Pool, staff_id: str) -> IssuedToken:
    """A code that signs this person in to another of our services once, within HANDOFF_LIFETIME:
    one sign-in for the console and the reports dashboard. It travels in a redirect's URL, so it
    is single-use and short-lived; the service that redeems it gets a session of its own."""
    code = secrets.token_urlsafe(32)
    expires_at = await pool.fetchval(
        """WITH stale AS (DELETE FROM workflow.staff_handoffs WHERE expires_at < now() - interval '1 day')
           INSERT INTO workflow.staff_handoffs (code_hash, staff_id, expires_at) VALUES ($1, $2, now() + $3)
           RETURNING expires_at""",
        _digest(code),
        staff_id,
        HANDOFF_LIFETIME,
    )
    return IssuedToken(code, expires_at)


async def redeem_handoff(pool: asyncpg.Pool, code: str) -> IssuedToken | None:
    """A new token for a handoff code not used yet and not expired; None otherwise (alike)."""
    async with pool.acquire() as conn, conn.transaction():
        staff_id = await conn.fetchval(
            """UPDATE workflow.staff_handoffs SET used_at = now()
               WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING staff_id""",
            _digest(code),
        )
        if staff_id is None:
            log.warning("handoff refused: unknown, used or expired code")
            return None
        return await _new_token(conn, staff_id)


async def sign_out(pool: asyncpg.Pool, token: str) -> None:
    await pool.execute("UPDATE workflow.staff_tokens SET revoked_at = now() WHERE token_hash = $1", _digest(token))


async def staff_for_token(pool: asyncpg.Pool, router: Router, token: str) -> Staff | None:
    row = await pool.fetchrow(
        """SELECT s.staff_id, s.name, s.role, s.groups FROM workflow.staff_tokens t
           JOIN workflow.staff s ON s.staff_id = t.staff_id
           WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now()""",
        _digest(token),
    )
    if row is None:
        return None
    return Staff(
        staff_id=row["staff_id"],
        name=row["name"],
        role=row["role"],
        groups=tuple(row["groups"]),
        authority=authority_of(row["staff_id"], row["role"], router.config),
    )


async def signed_in(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Staff:
    """The signed-in person, or 401."""
    if credentials is None:
        raise unauthorized("sign in first (POST /v1/auth/token) and send 'Authorization: Bearer <token>'")
    state = request.app.state
    staff = await staff_for_token(state.pool, state.router, credentials.credentials)
    if staff is None:
        raise unauthorized("this token is unknown, expired or signed out")
    return staff


SignedIn = Annotated[Staff, Depends(signed_in)]
