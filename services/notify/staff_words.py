"""Staff and groups as staff alerts call them: a person by their roster name ("Zhou Ting", not
"zhou.ting"), a group by its title in the alert's language ("Operations liaison" / "运营业务联络组",
not "liaison-operations"). Read from the roster and the routing file (the workflow service's
configuration, the files it routes with), once at start; an id neither file knows is shown as it
is, so nothing an alert names is hidden."""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class StaffWords:
    names: dict[str, str] = field(default_factory=dict)  # staff id -> name
    titles: dict[str, dict[str, str]] = field(default_factory=dict)  # group id -> {language: title}

    def person(self, staff_id: str | None) -> str:
        return self.names.get(staff_id or "", staff_id or "")

    def group(self, group: str | None, language: str) -> str:
        return self.titles.get(group or "", {}).get(language) or group or ""


def load_staff_words(roster_file: Path, routing_file: Path) -> StaffWords:
    def read(path: Path) -> dict:
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            return {}  # the workflow service refuses a bad file at start; alerts then show ids

    roster, routing = read(roster_file), read(routing_file)
    names = {p["id"]: p["name"] for p in roster.get("staff", []) if p.get("id") and p.get("name")}
    titles = {
        group: dict(raw["title"])
        for group, raw in routing.get("groups", {}).items()
        if isinstance(raw, dict) and isinstance(raw.get("title"), dict)
    }
    return StaffWords(names, titles)
