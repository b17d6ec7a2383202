"""Classification by rules from configuration (domain §2, §4): tier, type, urgency,
responsibility, scope and difficulty, each with the rule that decided it and why.

The rules file (`classification.toml`) is an ordered list. A rule matches when every condition
it states holds (keywords in the text, IVR tags, channel, customer segment, the channel's
urgency hint), and it sets some fields. For each field the first matching rule that sets it
decides; the file's defaults fill the rest. The tier follows the domain's tiering dimensions:
urgency high → 1, medium → 2, low → 3, and a problem hitting a group is never routine.

Keywords: Chinese (and any non-ASCII) phrases match anywhere in the text; ASCII words match
whole words, or as a stem when they end with `*` ("refund*" matches "refunded").

When no rule decides the urgency (or the type), the labelled examples decide instead
(`classification_examples.jsonl`): the nearest ones by shared words (English) and character
pairs (Chinese) vote, and the decision names the example it is most like. When none is alike
either, the defaults decide and the complaint `needs_review` (at medium urgency: what nothing
recognises is not presumed routine). Staff who retier a complaint are the best source of new
examples.

    python -m services.intake.classification check FILE
    python -m services.intake.classification explain "支付系统崩溃，所有用户都无法支付"
    python -m services.intake.classification candidates            # complaints staff re-tiered
    python -m services.intake.classification accept COMPLAINT_ID…  # into the labelled examples

`candidates` and `accept` read the workflow service's re-tiers (COMPLAINTS_WORKFLOW_URL, and the
operator token from COMPLAINTS_OPERATOR_TOKEN or the data folder's operator-token.txt); `accept`
prints the held-out accuracy with the examples as they were and with the accepted ones.
"""

import json
import os
import re
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import get_args

from services.common.code_words import value_label
from services.common.keywords import any_of
from services.workflow.contract import (
    CLASSIFIED_FIELDS,
    Classification,
    ComplaintType,
    Difficulty,
    FieldDecision,
    Responsibility,
    Scope,
    Urgency,
)

RULES_FILE = Path(__file__).with_name("classification.toml")
URGENCY_BY_TIER = {1: "high", 2: "medium", 3: "low"}
STOPWORDS = frozenset(
    """a an the and or but of to in on at for with from by is are was were be been it its this
that these those i me my we our you your he she they them his her their there here have has had do does did
not no so as if then than too very can could would should will just still also again after before about
into over all any some more most one two three""".split()  # noqa: SIM905 - a word list a person can read
)


def features(text: str) -> frozenset[str]:
    """What two complaints share when they are alike: word stems (Latin script) and pairs of
    characters (Chinese, which has no spaces)."""
    text = text.lower()
    found = {w[:5] for w in re.findall(r"[a-z][a-z0-9']+", text) if w not in STOPWORDS}
    for run in re.findall(r"[\u3400-\u9fff]+", text):
        found.update(run[i : i + 2] for i in range(len(run) - 1))
        if len(run) == 1:
            found.add(run)
    return frozenset(found)


@dataclass(frozen=True)
class Example:
    text: str
    tier: int
    complaint_type: str
    features: frozenset[str]


@dataclass(frozen=True)
class Examples:
    """Labelled complaints that decide what no rule recognises (k nearest, weighted vote)."""

    items: tuple[Example, ...] = ()
    k: int = 5
    min_similarity: float = 0.1

    def nearest(self, text: str, skip: str | None = None) -> list[tuple[float, Example]]:
        mine = features(text)
        if not mine:
            return []
        scored = []
        for example in self.items:
            if example.text == skip:
                continue  # leave-one-out: an example does not vote for itself
            shared = len(mine & example.features)
            if shared >= 2:  # one common word ("nobody", "order") is no likeness
                scored.append((shared / len(mine | example.features), example))
        scored.sort(key=lambda pair: -pair[0])
        return [pair for pair in scored[: self.k] if pair[0] >= self.min_similarity]

    def vote(self, text: str, skip: str | None = None) -> tuple[int, str, Example, float] | None:
        near = self.nearest(text, skip)
        if not near:
            return None
        tiers: defaultdict[int, float] = defaultdict(float)
        kinds: defaultdict[str, float] = defaultdict(float)
        for score, example in near:
            tiers[example.tier] += score
            kinds[example.complaint_type] += score
        tier = max(tiers, key=tiers.__getitem__)
        best_score, best = next(pair for pair in near if pair[1].tier == tier)
        return tier, max(kinds, key=kinds.__getitem__), best, best_score


def load_examples(path: Path, k: int, min_similarity: float) -> Examples:
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if row.get("segment") or row.get("tags") or row.get("hint"):
                continue  # its tier came from the context, not the words: it cannot vote on words
            items.append(Example(row["text"], int(row["tier"]), row["type"], features(row["text"])))
        except (ValueError, KeyError) as exc:
            raise RulesError(f"{path}:{number}: an example needs text, tier and type: {exc}") from exc
    return Examples(tuple(items), k, min_similarity)


ALLOWED_VALUES = {
    "complaint_type": get_args(ComplaintType),
    "urgency": get_args(Urgency),
    "responsibility": get_args(Responsibility),
    "scope": get_args(Scope),
    "difficulty": get_args(Difficulty),
}
TIER_BY_URGENCY = {"high": 1, "medium": 2, "low": 3}
CONDITIONS = ("any", "all", "none", "tags", "channels", "segments", "hints")


class RulesError(ValueError):
    """The rules file is wrong; the message names the file, the rule and the field."""


@dataclass(frozen=True)
class Facts:
    """What a rule can look at."""

    text: str
    channel: str = ""
    tags: tuple[str, ...] = ()
    segment: str | None = None
    urgency_hint: str | None = None


@dataclass(frozen=True)
class Why:
    """Why something applies, as staff read it in English and in Chinese."""

    en: str
    zh: str


@dataclass(frozen=True)
class Rule:
    name: str
    reason: str
    reason_zh: str
    sets: dict[str, str]
    any: re.Pattern | None = None
    all: tuple[re.Pattern, ...] = ()
    none: re.Pattern | None = None
    tags: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    hints: frozenset[str] = frozenset()
    cause: bool = True  # whether complaints matching it may share one cause (batch incidents)

    def match(self, facts: Facts, text: str) -> Why | None:
        """Why this rule applies to these facts, or None."""
        why: list[Why] = []
        if self.tags:
            hit = sorted(self.tags & set(facts.tags))
            if not hit:
                return None
            why.append(Why(f"IVR/channel tag '{hit[0]}'", f"IVR/渠道标签“{hit[0]}”"))
        if self.channels and facts.channel not in self.channels:
            return None
        if self.segments:
            if facts.segment not in self.segments:
                return None
            why.append(Why(f"customer segment '{facts.segment}'", f"客户分层“{facts.segment}”"))
        if self.hints:
            if facts.urgency_hint not in self.hints:
                return None
            hint = value_label("urgency", facts.urgency_hint, "zh")
            why.append(Why(f"the channel's urgency hint '{facts.urgency_hint}'", f"渠道的紧急提示“{hint}”"))
        for pattern in ((self.any,) if self.any else ()) + self.all:
            found = pattern.search(text)
            if not found:
                return None
            why.append(Why(f"mentions '{found.group(0)}'", f"提到“{found.group(0)}”"))
        if self.none and self.none.search(text):
            return None
        if not why:
            return Why("always", "始终适用")
        return Why(", ".join(w.en for w in why), "，".join(w.zh for w in why))


@dataclass(frozen=True)
class Ruleset:
    version: str
    rules: tuple[Rule, ...]
    defaults: dict[str, str]
    group_is_never_routine: bool = True
    examples: Examples = dataclass_field(default_factory=Examples)

    def classify(self, facts: Facts, skip_example: str | None = None) -> Classification:
        """`skip_example`: leave that labelled example out (for measuring accuracy on the examples)."""
        text = facts.text.lower()
        decided: dict[str, FieldDecision] = {}
        cause = None
        for rule in self.rules:
            open_fields = [f for f in rule.sets if f not in decided]
            if not open_fields and (cause is not None or not rule.cause):
                continue
            why = rule.match(facts, text)
            if why is None:
                continue
            for field in open_fields:
                decided[field] = FieldDecision(
                    field=field,
                    value=rule.sets[field],
                    rule=rule.name,
                    reason=f"{rule.reason} ({why.en})",
                    reason_zh=f"{rule.reason_zh}（{why.zh}）",
                )
            if cause is None and rule.cause:
                cause = f"{rule.name}: {why.en}"  # rule and words: "money-lost: mentions 'charged twice'"
        if "urgency" not in decided or "complaint_type" not in decided:
            voted = self.examples.vote(facts.text, skip_example)
            if voted:
                tier, kind, example, score = voted
                like = Why(
                    f"no rule decided it; most like the labelled example '{example.text[:80]}' "
                    f"(tier {example.tier}, {example.complaint_type}; similarity {score:.2f})",
                    f"没有规则判定；最接近已标注的样例“{example.text[:80]}”"
                    f"（等级 {example.tier}，{value_label('complaint_type', example.complaint_type, 'zh')}；"
                    f"相似度 {score:.2f}）",
                )
                for name, value in (("urgency", URGENCY_BY_TIER[tier]), ("complaint_type", kind)):
                    decided.setdefault(
                        name,
                        FieldDecision(
                            field=name, value=value, rule="similar-examples", reason=like.en, reason_zh=like.zh
                        ),
                    )
        for name, value in self.defaults.items():
            default = Why("no rule decided it", "没有规则判定")
            if name == "urgency":
                default = Why(
                    "no rule recognised it and no labelled example is alike: for staff to review",
                    "没有规则识别，也没有相近的已标注样例：待人工复核",
                )
            decided.setdefault(
                name, FieldDecision(field=name, value=value, rule="default", reason=default.en, reason_zh=default.zh)
            )
        urgency, scope = decided["urgency"], decided["scope"]
        tier = TIER_BY_URGENCY[str(urgency.value)]
        if self.group_is_never_routine and tier == 3 and scope.value == "group":
            tier, basis = 2, scope
        else:
            basis = urgency
        basis_zh = (
            f"{value_label('classification_field', basis.field, 'zh')}{value_label(basis.field, basis.value, 'zh')}"
        )
        decided["tier"] = FieldDecision(
            field="tier",
            value=tier,
            rule=basis.rule,
            reason=f"{basis.field} {basis.value}: {basis.reason}",
            reason_zh=f"{basis_zh}：{basis.reason_zh or basis.reason}",
        )
        return Classification(
            **{f: decided[f].value for f in CLASSIFIED_FIELDS},
            decided_by=[decided[f] for f in CLASSIFIED_FIELDS],
            rules_version=self.version,
            cause=cause,
            needs_review=decided["urgency"].rule == "default",
        )


def _strings(source: str, where: str, value, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RulesError(f"{source}: {where}: '{field}' must be a list of non-empty strings")
    return value


def parse_rules(data: dict, source: str = "<rules>", base: Path | None = None) -> Ruleset:
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise RulesError(f"{source}: 'version' must be a positive integer")
    defaults = data.get("defaults", {})
    missing = sorted(set(ALLOWED_VALUES) - set(defaults))
    if missing:
        raise RulesError(f"{source}: [defaults] must set {', '.join(missing)}")
    _check_values(source, "[defaults]", defaults)
    rules, names = [], set()
    for index, raw in enumerate(data.get("rule", []), start=1):
        name = raw.get("name")
        where = f"rule {index} ({name or 'unnamed'})"
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", name):
            raise RulesError(f"{source}: {where}: 'name' must be lower-case letters, digits and dashes")
        if name in names:
            raise RulesError(f"{source}: {where}: the name is used twice")
        names.add(name)
        unknown = sorted(set(raw) - {"name", "reason", "reason_zh", "sets", "cause", *CONDITIONS})
        if unknown:
            raise RulesError(f"{source}: {where}: unknown field '{unknown[0]}'")
        sets = raw.get("sets")
        if not isinstance(sets, dict) or not sets:
            raise RulesError(f"{source}: {where}: 'sets' must set at least one field")
        _check_values(source, where, sets)
        if not any(c in raw for c in CONDITIONS):
            raise RulesError(f"{source}: {where}: give at least one condition ({', '.join(CONDITIONS)})")
        groups = raw.get("all", [])
        if not isinstance(groups, list):
            raise RulesError(f"{source}: {where}: 'all' must be a list of keyword lists")
        rules.append(
            Rule(
                name=name,
                reason=str(raw.get("reason", name)),
                reason_zh=str(raw.get("reason_zh", raw.get("reason", name))),
                sets=dict(sets),
                any=any_of(_strings(source, where, raw["any"], "any")) if "any" in raw else None,
                all=tuple(p for g in groups if (p := any_of(_strings(source, where, g, "all"))) is not None),
                none=any_of(_strings(source, where, raw["none"], "none")) if "none" in raw else None,
                tags=frozenset(t.lower() for t in _strings(source, where, raw.get("tags", []), "tags")),
                channels=frozenset(_strings(source, where, raw.get("channels", []), "channels")),
                segments=frozenset(_strings(source, where, raw.get("segments", []), "segments")),
                hints=frozenset(_strings(source, where, raw.get("hints", []), "hints")),
                cause=bool(raw.get("cause", True)),
            )
        )
    examples = Examples()
    if "examples" in data:
        spec = data["examples"]
        if not isinstance(spec.get("file"), str):
            raise RulesError(f"{source}: [examples] needs 'file', the labelled examples (JSON lines)")
        examples = load_examples(
            (base or Path(".")) / spec["file"], int(spec.get("k", 5)), float(spec.get("min_similarity", 0.1))
        )
    return Ruleset(
        version=f"{Path(source).stem}@v{version}", rules=tuple(rules), defaults=dict(defaults), examples=examples
    )


def _check_values(source: str, where: str, values: dict) -> None:
    for field, value in values.items():
        if field not in ALLOWED_VALUES:
            raise RulesError(f"{source}: {where}: cannot set '{field}'; fields: {', '.join(ALLOWED_VALUES)}")
        if value not in ALLOWED_VALUES[field]:
            raise RulesError(f"{source}: {where}: {field} '{value}' is not one of {', '.join(ALLOWED_VALUES[field])}")


def load_rules(path: Path = RULES_FILE) -> Ruleset:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{path}: {exc}") from exc
    return parse_rules(data, str(path), Path(path).parent)


@dataclass(frozen=True)
class Score:
    tier: float
    complaint_type: float
    count: int
    urgent_recall: float  # tier-1 examples classified tier 1

    def __str__(self) -> str:
        return (
            f"tier {self.tier:.1%}, type {self.complaint_type:.1%} of {self.count}; "
            f"tier-1 recall {self.urgent_recall:.1%}"
        )


def facts_of(row: dict) -> Facts:
    """A labelled example's facts (classification_examples.jsonl's fields)."""
    return Facts(
        text=row["text"],
        channel=row.get("channel", ""),
        tags=tuple(row.get("tags", [])),
        segment=row.get("segment"),
        urgency_hint=row.get("hint"),
    )


def score(rules: Ruleset, rows: list[dict], leave_one_out: bool = False) -> Score:
    """How many labelled rows the rules tier and type as labelled (leave-one-out: an example
    does not vote for itself)."""
    results = [rules.classify(facts_of(r), skip_example=r["text"] if leave_one_out else None) for r in rows]
    pairs = list(zip(results, rows, strict=True))
    urgent = [c.tier == 1 for c, r in pairs if r["tier"] == 1]
    return Score(
        tier=sum(c.tier == r["tier"] for c, r in pairs) / len(rows),
        complaint_type=sum(c.complaint_type == r["type"] for c, r in pairs) / len(rows),
        count=len(rows),
        urgent_recall=sum(urgent) / len(urgent) if urgent else 1.0,
    )


def read_labelled(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


HOLDOUT_FILE = Path(__file__).parents[2] / "tests" / "data" / "holdout_complaints.jsonl"


def _retier_candidates() -> list[dict]:
    import httpx  # only the maintenance commands call another service

    from services.common.settings import get_settings

    settings = get_settings()
    token = (
        os.environ.get("COMPLAINTS_OPERATOR_TOKEN") or (settings.data_dir / "operator-token.txt").read_text().strip()
    )
    response = httpx.get(
        f"{settings.url_of('workflow')}/v1/classification/candidates",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def accept_candidates(chosen: list[dict], examples: Path) -> int:
    """Append re-tiered complaints as labelled examples (the tier staff gave them); returns how
    many were new."""
    known = {row["text"] for row in read_labelled(examples)}
    new = [c for c in chosen if c["text"] not in known]
    with examples.open("a", encoding="utf-8") as out:
        for c in new:
            lang = "zh" if re.search(r"[\u3400-\u9fff]", c["text"]) else "en"
            row = {
                "lang": lang,
                "tier": c["tier"],
                "type": c["complaint_type"] or "other",
                "text": c["text"],
                "source": f"retier:{c['complaint_id']}",  # staff taught it (make test scores with and without)
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(new)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "check":
        try:
            ruleset = load_rules(Path(argv[1]))
        except RulesError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"{argv[1]}: {len(ruleset.rules)} rules, version {ruleset.version}")
        return 0
    if len(argv) == 2 and argv[0] == "explain":
        result = load_rules().classify(Facts(text=argv[1]))
        for decision in result.decided_by:
            print(f"{decision.field:>15} = {decision.value!s:<16} {decision.rule}: {decision.reason}")
        return 0
    if argv[:1] == ["candidates"]:
        for c in _retier_candidates():
            print(f"{c['complaint_id']}  tier {c['from_tier']} -> {c['tier']}  ({c['reason']})  {c['text'][:100]}")
        return 0
    if argv[:1] == ["accept"] and len(argv) > 1:
        wanted = set(argv[1:])
        chosen = [c for c in _retier_candidates() if c["complaint_id"] in wanted]
        missing = wanted - {c["complaint_id"] for c in chosen}
        if missing:
            print(f"not re-tiered: {', '.join(sorted(missing))}", file=sys.stderr)
            return 1
        examples = RULES_FILE.with_name("classification_examples.jsonl")
        held_out = read_labelled(HOLDOUT_FILE) if HOLDOUT_FILE.exists() else []
        before = score(load_rules(), held_out) if held_out else None
        added = accept_candidates(chosen, examples)
        print(f"{added} new labelled examples in {examples.name}")
        if before is not None:
            print(f"held-out set before: {before}")
            print(f"held-out set after:  {score(load_rules(), held_out)}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
