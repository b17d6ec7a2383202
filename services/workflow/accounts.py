"""Staff passwords, for an administrator (production has no demo password):

    python -m services.workflow.accounts set-password STAFF_ID    # asks for the password twice

The person must be on the roster (the workflow service loads it at start). DATABASE_URL (or
the settings' database) names the database; only the argon2id hash is stored. Every session
the person had is signed out (a reset is often for a password that got out). People change
their own in the console (`/console/password`) or with `POST /v1/auth/password`.
"""

import asyncio
import getpass
import sys

from services.common.db import create_pool
from services.common.settings import get_settings
from services.workflow.staff_auth import PASSWORD_PROBLEMS, password_problem, revoke_tokens, set_password


async def _set(staff_id: str, password: str) -> int:
    pool = await create_pool(get_settings().require_database_url())
    try:
        if not await pool.fetchval("SELECT 1 FROM workflow.staff WHERE staff_id = $1", staff_id):
            print(f"no staff member '{staff_id}' on the roster", file=sys.stderr)
            return 2
        await set_password(pool, staff_id, password)
        ended = await revoke_tokens(pool, staff_id)
    finally:
        await pool.close()
    print(f"password set for {staff_id}; {ended} session(s) of theirs signed out")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "set-password":
        print(__doc__, file=sys.stderr)
        return 2
    password = getpass.getpass("new password: ")
    if problem := password_problem(argv[1], password):
        print(PASSWORD_PROBLEMS[problem], file=sys.stderr)
        return 2
    if getpass.getpass("again: ") != password:
        print("the two differ", file=sys.stderr)
        return 2
    return asyncio.run(_set(argv[1], password))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
