"""The routing groups (departments) as other services name them: each group's id, which events
and reports keep, and its title in the reader's language, which pages show."""

from pydantic import BaseModel, Field

# The workflow service's list of groups (any signed-in staff member may read it).
GROUPS_PATH = "/v1/groups"


class Group(BaseModel):
    group: str = Field(description="the id events and reports keep, e.g. front-line-service")
    title: dict[str, str] = Field(description="what staff call it, by language: zh, en")


def titles_of(groups: list[Group]) -> dict[str, dict[str, str]]:
    return {g.group: g.title for g in groups}


def title_in(titles: dict[str, dict[str, str]], group: str, lang: str) -> str:
    """A group's title in `lang`; its id when the group or that language has none."""
    return titles.get(group, {}).get(lang) or group
