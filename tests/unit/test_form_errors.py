"""A refused console form says which box and what is wrong with it in the page's language."""

import pytest

from services.common.web import ApiError
from services.workflow.console import forms
from services.workflow.console.form_errors import in_words
from services.workflow.console.record_page import taken_down
from tests.unit.test_record_page import FORM, SHANGHAI


def _refusal_of(action: str, fields: dict[str, str]) -> ApiError:
    with pytest.raises(ApiError) as refused:
        forms._body(forms.BY_ACTION[action], fields)
    return refused.value


def test_an_action_forms_box_is_named_by_its_label_with_the_limit_it_broke():
    nothing_ticked = _refusal_of("consult", {"groups": "", "question": "a defect?"})
    assert nothing_ticked.field == "groups"  # the API's name stays the field's
    assert in_words(nothing_ticked, "zh") == "「请哪些部门会诊」至少选择 1 项"
    assert in_words(nothing_ticked, "en") == "Departments to ask: choose at least 1"
    too_long = _refusal_of("add_note", {"text": "x" * 4001})
    assert in_words(too_long, "zh") == "「备注内容（仅内部可见）」最多 4000 个字"
    assert in_words(too_long, "en") == "Note (staff only): takes at most 4000 characters"
    twice = _refusal_of("consult", {"groups": "liaison-product,liaison-product", "question": "?"})
    assert in_words(twice, "zh") == "「请哪些部门会诊」每个部门只需选一次"  # our own validator's words
    assert in_words(twice, "en") == "Departments to ask: name each group once"


def test_the_record_forms_box_and_our_validators_words_in_chinese():
    with pytest.raises(ApiError) as refused:
        taken_down({**FORM, "phone": ""}, SHANGHAI)  # neither phone nor e-mail
    assert in_words(refused.value, "zh") == "「手机号」请填写电话或邮箱，以便答复客户"
    assert in_words(refused.value, "en").endswith("give a phone or an email so that we can answer the customer")
    with pytest.raises(ApiError) as refused:
        taken_down({**FORM, "occurred_at": "yesterday"}, SHANGHAI)
    assert in_words(refused.value, "zh").endswith("请填写日期和时间，例如 2026-12-04 09:30")


def test_a_refusal_that_is_not_a_forms_box_reads_as_its_reason():
    assert in_words(ApiError(403, "forbidden", "only a group lead or above may assign"), "zh") == (
        "only a group lead or above may assign"
    )
