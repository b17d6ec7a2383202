"""Routing (domain §3): the group a complaint goes to, and the member who takes it.

The group comes from `routing.toml` (pure: `RoutingConfig.group_for`); the member from the
staff on duty in that group, by the group's strategy (round robin or least loaded), in one
transaction per group so that two complaints routed at once do not both count the same load.
A decision is stored per complaint: a retried routing activity gets the same answer.
"""

import logging
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import asyncpg
from pydantic import BaseModel

from services.workflow.contract import AssignAction, ComplaintClient, ComplaintError
from services.workflow.contract.groups import StaffMember, title_in
from services.workflow.contract.names import SUPERIORS_ADDRESS

log = logging.getLogger(__name__)

ROUTING_FILE = Path(__file__).with_name("routing.toml")
ROSTER_FILE = Path(__file__).with_name("roster.toml")
Strategy = Literal["round_robin", "least_loaded"]
ROLES = ("agent", "senior", "liaison", "manager", "admin")
# The escalation chain's roles, lowest first: who leads a group, and whom groups answer to.
LEADING_ROLES = ("group_lead", "department_head", "manager")


class RoutingError(ValueError):
    pass


class RouteRequest(BaseModel):
    complaint_id: str
    tier: int
    complaint_type: str
    segment: str | None = None
    overflow: bool = False


class Route(BaseModel):
    group: str
    rule: str
    reason: str
    reason_zh: str | None = None  # the same in Chinese, for the console
    strategy: Strategy
    assignee: str | None = None  # None: nobody of the group is on duty; the group's queue has it
    liaison: str | None = None
    urgent_call: str | None = None  # the on-duty senior or manager called for a tier-1 complaint


@dataclass(frozen=True)
class GroupConfig:
    strategy: Strategy
    urgent_call_roles: tuple[str, ...] = ()
    title: dict[str, str] = field(default_factory=dict)  # what staff call it, by language (zh, en)


@dataclass(frozen=True)
class RouteRule:
    name: str
    reason: str
    reason_zh: str
    group: str
    tiers: frozenset[int] = frozenset()
    types: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    overflow: bool | None = None
    liaison: bool = False

    def applies(self, request: RouteRequest) -> bool:
        return (
            (not self.tiers or request.tier in self.tiers)
            and (not self.types or request.complaint_type in self.types)
            and (not self.segments or request.segment in self.segments)
            and (self.overflow is None or request.overflow == self.overflow)
        )


@dataclass(frozen=True)
class RoutingConfig:
    groups: dict[str, GroupConfig]
    routes: tuple[RouteRule, ...]
    liaison_groups: dict[str, str] = field(default_factory=dict)
    # Who holds each escalation-chain role: group (or "*" for every group) -> role -> staff ids.
    escalation: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def title_of(self, group: str | None, lang: str) -> str:
        """A group as staff call it in this language; its id when the file names it no other way."""
        return title_in(self.titles, group, lang) if group else ""

    @cached_property
    def titles(self) -> dict[str, dict[str, str]]:
        """Each group's titles by language, as the groups' contract gives them to other services."""
        return {name: g.title for name, g in self.groups.items()}

    def holders(self, role: str, group: str) -> tuple[str, ...]:
        """The staff who hold a chain role for a group: the group's own, else everyone's ("*")."""
        return self.escalation.get(group, {}).get(role) or self.escalation.get("*", {}).get(role) or ()

    def common_superiors(self, group: str, other: str) -> tuple[str, ...]:
        """Who two groups that disagree answer to together (source 001: a disagreement between
        departments goes up to their common superior): the holders of the lowest chain role
        held for both by the same people, else the first group's managers."""
        for role in LEADING_ROLES:
            theirs = set(self.holders(role, other))
            common = tuple(staff_id for staff_id in self.holders(role, group) if staff_id in theirs)
            if common:
                return common
        return self.holders(LEADING_ROLES[-1], group)

    def group_for(self, request: RouteRequest) -> RouteRule:
        for rule in self.routes:
            if rule.applies(request):
                return rule
        raise RoutingError(f"no route for tier {request.tier} {request.complaint_type}; add a catch-all route")


def load_routing(path: Path = ROUTING_FILE) -> RoutingConfig:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    groups = {}
    for name, raw in data.get("groups", {}).items():
        if raw.get("strategy") not in ("round_robin", "least_loaded"):
            raise RoutingError(f"{path}: groups.{name}: strategy must be round_robin or least_loaded")
        title = raw.get("title", {})
        if not isinstance(title, dict) or not all(isinstance(t, str) and t for t in title.values()):
            raise RoutingError(f"{path}: groups.{name}: title must be a table of names, e.g. {{ zh = ..., en = ... }}")
        groups[name] = GroupConfig(raw["strategy"], tuple(raw.get("urgent_call_roles", ())), dict(title))
    routes = []
    for index, raw in enumerate(data.get("route", []), start=1):
        if raw.get("group") not in groups:
            raise RoutingError(f"{path}: route {index} ({raw.get('name')}): unknown group '{raw.get('group')}'")
        routes.append(
            RouteRule(
                name=raw["name"],
                reason=raw.get("reason", raw["name"]),
                reason_zh=raw.get("reason_zh", raw.get("reason", raw["name"])),
                group=raw["group"],
                tiers=frozenset(raw.get("tiers", ())),
                types=frozenset(raw.get("types", ())),
                segments=frozenset(raw.get("segments", ())),
                overflow=raw.get("overflow"),
                liaison=bool(raw.get("liaison", False)),
            )
        )
    liaisons = dict(data.get("liaison_groups", {}))
    for kind, group in liaisons.items():
        if group not in groups:
            raise RoutingError(f"{path}: liaison_groups.{kind}: unknown group '{group}'")
    escalation = {}
    for group, roles in data.get("escalation", {}).items():
        if group != "*" and group not in groups:
            raise RoutingError(f"{path}: escalation.{group}: unknown group")
        escalation[group] = {role: tuple(ids) for role, ids in roles.items()}
    return RoutingConfig(groups, tuple(routes), liaisons, escalation)


# A member's load: the open complaints assigned to them (from the staff inbox), for staff s.
OPEN_COMPLAINTS_OF_STAFF = (
    "(SELECT count(*) FROM workflow.inbox i WHERE i.assignee = s.staff_id AND i.stage <> 'closed')"
)


class Router:
    def __init__(self, pool: asyncpg.Pool, config: RoutingConfig):
        self.pool, self.config = pool, config
        self.roster_ids: set[str] = set()  # who the roster file names (load_roster)

    async def route(self, request: RouteRequest) -> Route:
        stored = await self.pool.fetchval(
            "SELECT decision FROM workflow.routes WHERE complaint_id = $1", request.complaint_id
        )
        if stored:
            return Route.model_validate_json(stored)
        rule = self.config.group_for(request)
        group = self.config.groups[rule.group]
        async with self.pool.acquire() as conn, conn.transaction():
            # One routing at a time per group: the load each pick counts includes the last pick.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('route:' || $1))", rule.group)
            assignee = await self._pick(conn, rule.group, group.strategy)
            liaison = None
            if rule.liaison and request.complaint_type in self.config.liaison_groups:
                liaison_group = self.config.liaison_groups[request.complaint_type]
                liaison = await self._pick(conn, liaison_group, self.config.groups[liaison_group].strategy)
            urgent_call = None
            if group.urgent_call_roles:
                urgent_call = await self._pick(
                    conn, rule.group, "least_loaded", roles=group.urgent_call_roles, exclude=assignee
                )
            route = Route(
                group=rule.group,
                rule=rule.name,
                reason=rule.reason,
                reason_zh=rule.reason_zh,
                strategy=group.strategy,
                assignee=assignee,
                liaison=liaison,
                urgent_call=urgent_call or assignee,
            )
            inserted = await conn.fetchval(
                """INSERT INTO workflow.routes (complaint_id, group_name, decision) VALUES ($1, $2, $3)
                   ON CONFLICT DO NOTHING RETURNING complaint_id""",
                request.complaint_id,
                rule.group,
                route.model_dump_json(),
            )
            if inserted and assignee:
                # Counted as load at once, before the workflow's Assigned event reaches the inbox.
                await conn.execute(
                    """INSERT INTO workflow.inbox (complaint_id, group_name, assignee, tier) VALUES ($1, $2, $3, $4)
                       ON CONFLICT (complaint_id) DO UPDATE SET group_name = $2, assignee = $3""",
                    request.complaint_id,
                    rule.group,
                    assignee,
                    request.tier,
                )
        if not inserted:  # a concurrent retry won: its decision stands
            return Route.model_validate_json(
                await self.pool.fetchval(
                    "SELECT decision FROM workflow.routes WHERE complaint_id = $1", request.complaint_id
                )
            )
        return route

    async def _pick(
        self,
        conn: asyncpg.Connection,
        group: str,
        strategy: Strategy,
        roles: tuple[str, ...] = (),
        exclude: str | None = None,
    ) -> str | None:
        members = await conn.fetch(
            f"""SELECT s.staff_id, {OPEN_COMPLAINTS_OF_STAFF} AS load
               FROM workflow.staff s
               WHERE $1 = ANY(s.groups) AND s.on_duty
                 AND (cardinality($2::text[]) = 0 OR s.role = ANY($2::text[]))
               ORDER BY s.staff_id""",
            group,
            list(roles),
        )
        candidates = [m for m in members if m["staff_id"] != exclude] or list(members)
        if not candidates:
            return None
        if strategy == "least_loaded":
            return min(candidates, key=lambda m: (m["load"], m["staff_id"]))["staff_id"]
        last = await conn.fetchval("SELECT last_member FROM workflow.routing_cursors WHERE group_name = $1", group)
        after = [m for m in candidates if last is None or m["staff_id"] > last]
        chosen = (after or candidates)[0]["staff_id"]
        await conn.execute(
            """INSERT INTO workflow.routing_cursors (group_name, last_member) VALUES ($1, $2)
               ON CONFLICT (group_name) DO UPDATE SET last_member = $2""",
            group,
            chosen,
        )
        return chosen

    # ------------------------------------------------------------ the queue

    async def queued(self, limit: int = 50) -> list[asyncpg.Record]:
        """Complaints waiting in a group's queue (nobody was on duty) whose group has someone now."""
        return await self.pool.fetch(
            """SELECT i.complaint_id, i.group_name FROM workflow.inbox i
               WHERE i.assignee IS NULL AND i.stage IN ('assigned', 'acknowledged', 'waiting_on_customer')
                 AND EXISTS (SELECT 1 FROM workflow.staff s WHERE i.group_name = ANY(s.groups) AND s.on_duty)
               ORDER BY i.next_deadline NULLS LAST, i.received_at LIMIT $1""",
            limit,
        )

    async def pick_for(self, group: str) -> str | None:
        """A member of the group on duty, by the group's strategy."""
        strategy = self.config.groups[group].strategy if group in self.config.groups else "least_loaded"
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('route:' || $1))", group)
            return await self._pick(conn, group, strategy)

    # ------------------------------------------------------------ the roster

    async def load_roster(self, path: Path = ROSTER_FILE) -> int:
        staff = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("staff", [])
        for index, person in enumerate(staff, start=1):
            if person.get("role") not in ROLES:
                raise RoutingError(
                    f"{path}: staff {index} ({person.get('id')}): role must be one of {', '.join(ROLES)}"
                )
            unknown = sorted(set(person.get("groups", [])) - set(self.config.groups))
            if unknown:
                raise RoutingError(f"{path}: staff {index} ({person['id']}): unknown group '{unknown[0]}'")
        self.roster_ids = {p["id"] for p in staff}
        await self.pool.executemany(
            """INSERT INTO workflow.staff (staff_id, name, role, groups) VALUES ($1, $2, $3, $4)
               ON CONFLICT (staff_id) DO UPDATE SET name = $2, role = $3, groups = $4, updated_at = now()""",
            [(p["id"], p["name"], p["role"], list(p.get("groups", []))) for p in staff],
        )
        return len(staff)

    def check_escalation(self, chain_roles: set[str], roster_ids: set[str]) -> None:
        """Every role of every escalation chain names people of the roster, for every group: a
        role nobody holds is refused now, not discovered when a complaint breaches."""
        for group in self.config.groups:
            for role in sorted(chain_roles - {"owner"}):
                holders = self.config.holders(role, group)
                if not holders:
                    raise RoutingError(f"escalation role '{role}' of group '{group}': nobody holds it")
                unknown = sorted(set(holders) - roster_ids)
                if unknown:
                    raise RoutingError(
                        f"escalation role '{role}' of group '{group}': '{unknown[0]}' is not on the roster"
                    )

    async def recipients(self, request: dict) -> list[tuple[str, dict]]:
        """The people a message to an escalation-chain role goes to: its holders on duty, or all
        of them when none is (an escalation does not wait for a shift); a message to one member of
        staff, addressed by their name. Other messages as they are. Each person's copy of a
        role's message is (their staff id, the request addressed to them)."""
        address = request.get("recipient_address", "")
        person = re.fullmatch(r"staff:(.+)", address)
        if person:  # named by id in the workflow (it reads no roster): addressed by name, as a role's copies are
            name = await self.pool.fetchval("SELECT name FROM workflow.staff WHERE staff_id = $1", person[1])
            return [("", {**request, "recipient_name": name} if name else request)]
        between = SUPERIORS_ADDRESS.fullmatch(address)
        role_at = re.fullmatch(r"role:([a-z_]+)@(.+)", address)
        if between:
            holders = self.config.common_superiors(between[1], between[2])
        elif role_at:
            holders = self.config.holders(role_at[1], role_at[2])
        else:
            return [("", request)]
        if not holders:
            return [("", request)]  # not a chain role (the group's queue): the group's mailbox
        rows = await self.pool.fetch(
            "SELECT staff_id, name, on_duty FROM workflow.staff WHERE staff_id = ANY($1::text[])", list(holders)
        )
        on_duty = [r for r in rows if r["on_duty"]] or list(rows)
        if not on_duty:
            log.error("escalation role held by nobody on the roster", extra={"address": request["recipient_address"]})
            return [("", request)]
        ordered = sorted(on_duty, key=lambda r: holders.index(r["staff_id"]))
        return [
            (r["staff_id"], {**request, "recipient_name": r["name"], "recipient_address": f"staff:{r['staff_id']}"})
            for r in ordered
        ]

    async def staff(self) -> list[StaffMember]:
        rows = await self.pool.fetch(
            f"""SELECT s.staff_id, s.name, s.role, s.groups, s.on_duty, {OPEN_COMPLAINTS_OF_STAFF} AS open_complaints
                FROM workflow.staff s ORDER BY s.staff_id"""
        )
        return [StaffMember(**dict(r)) for r in rows]

    async def names(self) -> dict[str, str]:
        """Staff id -> the person's name, for pages that show who did what."""
        return {r["staff_id"]: r["name"] for r in await self.pool.fetch("SELECT staff_id, name FROM workflow.staff")}

    async def set_on_duty(self, staff_id: str, on_duty: bool) -> StaffMember | None:
        updated = await self.pool.fetchval(
            "UPDATE workflow.staff SET on_duty = $2, updated_at = now() WHERE staff_id = $1 RETURNING staff_id",
            staff_id,
            on_duty,
        )
        if not updated:
            return None
        return next(m for m in await self.staff() if m.staff_id == staff_id)


async def assign_queued(router: Router, complaints: ComplaintClient) -> None:
    """Complaints routed while nobody of their group was on duty are picked, by the group's
    strategy, as soon as someone is: the 2 h assignment target does not wait for a manual assign.

    Every worker replica runs this loop; one sweeps at a time (an advisory lock held by a
    transaction open for the sweep: however the sweep ends, even cancelled, the pool's reset
    rolls it back and the lock goes with it), and the assignment's Update id is the complaint's,
    so even a sweep that overlaps another after a crash assigns each queued complaint once."""
    async with router.pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('workflow:queue-sweep'))"):
            return  # another replica is sweeping
        await _sweep(router, complaints)


async def _sweep(router: Router, complaints: ComplaintClient) -> None:
    for row in await router.queued():
        assignee = await router.pick_for(row["group_name"])
        if assignee is None:
            continue
        action = AssignAction(
            staff_id="router", assignee=assignee, note=f"picked from the {row['group_name']} queue when on duty"
        )
        try:
            await complaints.assign(row["complaint_id"], action, key=f"queue-sweep:{row['complaint_id']}")
        except ComplaintError as exc:  # closed or moved on meanwhile: the next pass sees it
            log.info(
                "queued complaint not assigned", extra={"complaint_id": row["complaint_id"], "reason": exc.message}
            )
