"""My work's alerts: the newest few in view, the rest folded under them, and a count that says
when there are older ones than the page lists (it used to show the query's limit as the count)."""

import re
from datetime import UTC, datetime, timedelta

from services.common.code_words import value_label
from services.workflow.console.labels import label
from services.workflow.console.rendering import PAGES

LIST = PAGES.env.from_string(
    '{% from "_marks.html" import alert_list with context %}{{ alert_list(alerts, first, older) }}'
)
NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def alerts(n: int) -> list[dict]:
    return [
        {
            "complaint_id": f"C-{k}",
            "template": "sla_escalation",
            "address": "staff:liu.yang",
            "variables": {"target": "first_response", "level": 1},
            "created_at": NOW - timedelta(minutes=k),
            "stage": "assigned",
        }
        for k in range(n)
    ]


def rendered(listed: list[dict], older: bool, lang: str = "en") -> str:
    return LIST.render(
        alerts=listed,
        first=10,
        older=older,
        t=lambda key: label(key, lang),
        v=lambda kind, value: value_label(kind, value, lang),
        g=lambda group: group,
        names={"liu.yang": "Liu Yang"},
        local=lambda moment: moment.strftime("%Y-%m-%d %H:%M"),
    )


def shown(html: str) -> tuple[list[str], list[str]]:
    """The complaint ids in view and those folded."""
    in_view, _, folded = html.partition('data-testid="more-alerts"')
    return re.findall(r">(C-\d+)</a>", in_view), re.findall(r">(C-\d+)</a>", folded)


def test_a_few_alerts_are_all_in_view():
    html = rendered(alerts(3), older=False)
    assert shown(html) == (["C-0", "C-1", "C-2"], [])
    assert "(3)" in html and "more-alerts" not in html and "Liu Yang" in html


def test_past_the_first_ten_the_rest_are_folded_and_older_ones_are_said_to_exist():
    html = rendered(alerts(30), older=True)
    in_view, folded = shown(html)
    assert in_view == [f"C-{k}" for k in range(10)] and folded == [f"C-{k}" for k in range(10, 30)]
    assert "(30+)" in html and "Earlier alerts (20+)" in html and "Older alerts are not listed" in html
    exact = rendered(alerts(12), older=False)
    assert "(12)" in exact and "Earlier alerts (2)" in exact and "Older alerts" not in exact


def test_the_list_reads_in_chinese():
    html = rendered(alerts(11), older=False, lang="zh")
    assert "更早的提醒 (1)" in html and "Earlier" not in html
