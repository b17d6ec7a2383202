"""Compensation within authority (domain §5, source 002): what each role may grant on its own,
and who must approve what is beyond it. The limits are configuration (authority.toml)."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from services.workflow.permissions import RANK

AUTHORITY_FILE = Path(__file__).with_name("authority.toml")
KINDS = ("refund", "return", "compensation", "gift", "written_apology")
WITH_AMOUNT = ("refund", "compensation", "gift")


class AuthorityError(ValueError):
    """The authority file is wrong; the message names the role and the kind."""


@dataclass(frozen=True)
class Authority:
    limits: dict[str, dict[str, float | bool]]

    def covers(self, role: str, kind: str, amount: float | None) -> bool:
        limit = self.limits.get(role, {}).get(kind)
        if kind in WITH_AMOUNT:
            return isinstance(limit, int | float) and not isinstance(limit, bool) and (amount or 0) <= limit
        return limit is True

    def approver_for(self, kind: str, amount: float | None) -> str | None:
        """The lowest role whose limit covers it; None when no role's does."""
        for role in sorted(self.limits, key=RANK.__getitem__):
            if self.covers(role, kind, amount):
                return role
        return None


def load_authority(path: Path = AUTHORITY_FILE) -> Authority:
    limits = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("limits", {})
    for role, kinds in limits.items():
        if role not in RANK:
            raise AuthorityError(f"{path}: unknown role '{role}'")
        for kind, limit in kinds.items():
            if kind not in KINDS:
                raise AuthorityError(f"{path}: [limits.{role}] unknown kind '{kind}'")
            wanted = (int, float) if kind in WITH_AMOUNT else (bool,)
            if isinstance(limit, bool) != (wanted == (bool,)) or not isinstance(limit, wanted):
                raise AuthorityError(
                    f"{path}: [limits.{role}] {kind} must be {'an amount' if kind in WITH_AMOUNT else 'true or false'}"
                )
    return Authority(limits)
