"""The routing groups (departments) and the staff as other services name them: each group's id,
which events and reports keep, and its title in the reader's language, which pages show; each
staff member's id, name, role and groups."""

from pydantic import BaseModel, Field

# The workflow service's list of groups (any signed-in staff member may read it).
GROUPS_PATH = "/v1/groups"
# The workflow service's roster: who works here, on duty or not (any signed-in staff member).
STAFF_PATH = "/v1/staff"


class Group(BaseModel):
    group: str = Field(description="the id events and reports keep, e.g. front-line-service")
    title: dict[str, str] = Field(description="what staff call it, by language: zh, en")


class StaffMember(BaseModel):
    staff_id: str
    name: str
    role: str
    groups: list[str]
    on_duty: bool
    open_complaints: int = 0


def titles_of(groups: list[Group]) -> dict[str, dict[str, str]]:
    return {g.group: g.title for g in groups}


def title_in(titles: dict[str, dict[str, str]], group: str, lang: str) -> str:
    """A group's title in `lang`; its id when the group or that language has none."""
    return titles.get(group, {}).get(lang) or group
