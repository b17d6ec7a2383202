"""The complaint page's marks for what staff owed each other and gave late: a department late to
another, an approver late to the handler. Neither breaches the complaint, so each says what was late."""

import re
from datetime import UTC, datetime

import pytest

from services.common.code_words import value_label
from services.workflow.console.labels import label
from services.workflow.console.rendering import PAGES
from services.workflow.contract import ComplaintView, Stage
from services.workflow.contract.record import Channel

MARKS = PAGES.env.from_string('{% from "_marks.html" import late_marks with context %}{{ late_marks(view) }}')


def marks(lang: str, **late: list[str]) -> str:
    view = ComplaintView(
        complaint_id="C-1", stage=Stage.acknowledged, channel=Channel.hotline, received_at=datetime.now(UTC), **late
    )
    return MARKS.render(view=view, t=lambda key: label(key, lang), v=lambda kind, value: value_label(kind, value, lang))


@pytest.mark.parametrize(
    "late, shown, not_shown",
    [
        ({}, [], ["late-between-departments", "late-approval"]),
        (
            {"late_between_departments": ["transfer_acceptance"], "late_between_staff": ["transfer_acceptance"]},
            ["late between departments: transfer acceptance"],
            ["late-approval"],
        ),
        (
            {"late_between_staff": ["compensation_approval"]},
            ["approval late: compensation approval"],
            ["late-between-departments"],
        ),
        (
            {
                "late_between_departments": ["consultation_answer"],
                "late_between_staff": ["compensation_approval", "consultation_answer"],
            },
            ["late between departments: consultation answer", "approval late: compensation approval"],
            [],
        ),
    ],
)
def test_each_lateness_between_staff_is_marked_once_by_what_was_late(late, shown, not_shown):
    text = " ".join(marks("en", **late).split())
    for words in shown:
        assert words in text
    for test_id in not_shown:
        assert test_id not in text
    assert text.count("consultation answer") <= 1  # a department's lateness is not marked again as an approval's


def test_the_marks_read_in_chinese():
    words = re.sub(r"<[^>]+>", "", marks("zh", late_between_staff=["compensation_approval"])).strip()
    assert words == "审批逾期: 补偿审批"
