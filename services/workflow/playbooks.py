"""Playbooks for frequent complaints (domain §5, source 000): standard handling, retrieved by the
complaint's type and words. Configuration: playbooks.toml."""

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from services.common.keywords import keyword_regex
from services.workflow.contract import CompensationBody

PLAYBOOKS_FILE = Path(__file__).with_name("playbooks.toml")


class Bilingual(BaseModel):
    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)


class Playbook(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    types: list[str]
    keywords: list[str] = Field(min_length=1)
    title: Bilingual
    steps: Bilingual
    update: Bilingual = Field(description="text to insert into a progress update or the result")
    remedy: CompensationBody | None = None


class PlaybookError(ValueError):
    pass


def load_playbooks(path: Path = PLAYBOOKS_FILE) -> list[Playbook]:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    books = []
    for index, raw in enumerate(data.get("playbook", []), start=1):
        try:
            books.append(Playbook.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PlaybookError(f"{path}: playbook {index} ({raw.get('id')}): {where}: {first['msg']}") from exc
    return books


def _hits(keywords: list[str], text: str) -> int:
    return sum(bool(re.search(keyword_regex(word), text)) for word in keywords)


def suggest(books: list[Playbook], complaint_type: str | None, text: str, limit: int = 3) -> list[Playbook]:
    """The playbooks whose words the complaint uses, those of its type first, most words first."""
    lowered = text.lower()
    scored = [(_hits(b.keywords, lowered), complaint_type in b.types, b) for b in books]
    ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (not s[1], -s[0]))
    return [book for _, _, book in ranked[:limit]]
