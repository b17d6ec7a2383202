"""Staff passwords, for an administrator (production has no demo password):

    python -m services.workflow.accounts set-password STAFF_ID    # asks for the password twice

The person must be on the roster (the workflow service loads it at start). DATABASE_URL (or
the settings' database) names the database; only the argon2id hash is stored.
"""

import asyncio
import getpass
import sys

from services.common.db import create_pool
from services.common.settings import get_settings
from services.workflow.staff_auth import set_password

MIN_LENGTH = 12


async def _set(staff_id: str, password: str) -> int:
    pool = await create_pool(get_settings().require_database_url())
    try:
        if not await pool.fetchval("SELECT 1 FROM workflow.staff WHERE staff_id = $1", staff_id):
            print(f"no staff member '{staff_id}' on the roster", file=sys.stderr)
            return 2
        await set_password(pool, staff_id, password)
    finally:
        await pool.close()
    print(f"password set for {staff_id}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "set-password":
        print(__doc__, file=sys.stderr)
        return 2
    password = getpass.getpass("new password: ")
    if len(password) < MIN_LENGTH:
        print(f"a password has at least {MIN_LENGTH} characters", file=sys.stderr)
        return 2
    if getpass.getpass("again: ") != password:
        print("the two differ", file=sys.stderr)
        return 2
    return asyncio.run(_set(argv[1], password))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
