"""A refusal reads in the reader's language: every coded reason the code can give has its words in
Chinese and English with the same particulars, each particular in words (a group by its title),
and the reason travels from the workflow to the console as a code."""

import re
from pathlib import Path
from string import Formatter

import pytest
from temporalio.exceptions import ApplicationError

from services.common.web import ApiError, Reason
from services.workflow.console.form_errors import in_words
from services.workflow.contract import ActionRefused
from services.workflow.contract.refusals import DOING, WORDS, english, refused, said
from services.workflow.contract.view import Stage
from services.workflow.routing import load_routing
from services.workflow.stages import ALLOWED_IN, Action, ActionNotAllowed, ensure_allowed

ROOT = Path(__file__).resolve().parents[2]
CHINESE = re.compile(r"[\u4e00-\u9fff]")
config = load_routing(ROOT / "services/workflow/routing.toml")


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


def _given_in_code() -> dict[str, set[str]]:
    """Each reason the services give, with the particulars they give it."""
    given: dict[str, set[str]] = {}
    for path in (ROOT / "services").rglob("*.py"):
        for code, args in re.findall(r'refused\(\s*"(\w+)"([^)]*)\)', path.read_text()):
            given.setdefault(code, set()).update(re.findall(r"(\w+)=", args))
    return given


def test_every_reason_the_code_gives_has_words_for_its_particulars_and_none_is_left_unused():
    given = _given_in_code()
    assert "wrong_stage" in given and "not_your_group" in given, "found no reasons: the scan is broken"
    assert set(given) == set(WORDS), f"without words: {set(given) - set(WORDS)}; unused: {set(WORDS) - set(given)}"
    for code, params in given.items():
        zh, en = WORDS[code]
        assert _placeholders(zh) == _placeholders(en) == params, code
        assert CHINESE.search(zh) and not CHINESE.search(en), code


@pytest.mark.parametrize("stage", list(Stage))
def test_every_stage_refusal_reads_in_chinese_with_no_code_left(stage):
    for action in Action:
        if stage in ALLOWED_IN[action]:
            continue
        with pytest.raises(ActionNotAllowed) as refusal:
            ensure_allowed(stage, action)
        reason = Reason(*refusal.value.details[0].values())
        text = said(reason, "zh", config.title_of)
        assert not re.search(r"[a-z]", text), text  # every stage and action in words
        assert english(reason) == refusal.value.message


def test_a_refusal_names_groups_by_their_titles_and_roles_in_words():
    assert said(refused("not_your_group", group="front-line-service"), "zh", config.title_of) == (
        "投诉在「一线服务组」，不是你所在的组"
    )
    assert english(refused("not_your_group", group="front-line-service")) == (
        "this complaint is with group 'front-line-service', which is not yours"
    )
    asked = refused("not_consulted", groups=["liaison-product", "liaison-operations"])
    assert (
        said(asked, "zh", config.title_of) == "只有被邀请会诊的组（产品业务联络组、运营业务联络组）可以回复，你不在其中"
    )
    assert said(asked, "en", config.title_of) == (
        "only the groups asked for their view answer (Product liaison, Operations liaison); none of them is yours"
    )
    leads = refused("leads_only", doing="retier", authority="senior")
    assert said(leads, "zh", config.title_of) == "只有组长及以上可以调整投诉等级；你是资深客服"
    assert english(leads) == "only a group lead or above may change a tier; you are senior"
    for doing in DOING:
        assert not re.search(r"[a-z]", said(refused("admins_only", doing=doing), "zh", config.title_of))


def test_the_reason_comes_back_from_the_workflow_failure_and_the_console_says_it():
    failure = ActionNotAllowed(refused("transfer_waiting", group="liaison-operations"))
    refusal = ActionRefused.of(failure)
    assert (refusal.status, refusal.message) == (409, "a transfer to liaison-operations is waiting to be accepted")
    assert refusal.reason == Reason("transfer_waiting", {"group": "liaison-operations"})
    assert in_words(refusal, "zh", config.title_of) == "转办至「运营业务联络组」正等待接收"
    # A worker of an older version gave only its message: the console shows it as it is.
    older = ActionRefused.of(ApplicationError("no transfer is waiting to be accepted", type="ActionNotAllowed"))
    assert older.reason is None and in_words(older, "zh") == "no transfer is waiting to be accepted"
    # A reason from a newer version, with no words here yet, still shows what it is about.
    unknown = ApiError(409, "action_not_allowed", "x", reason=Reason("a_new_rule", {"group": "vip"}))
    assert "a_new_rule" in in_words(unknown, "zh")
    with pytest.raises(KeyError):
        refused("no_such_reason")


def test_a_customer_is_told_why_their_complaint_cannot_be_reopened_in_their_words():
    from services.intake.customer_pages import _refused_in_words
    from services.intake.words import CUSTOMER_REASONS, LABELS

    for code in CUSTOMER_REASONS:  # a reason the workflow gives, with no particular it lacks
        assert code in WORDS
        for words in LABELS[code]:
            assert _placeholders(words) <= _placeholders(WORDS[code][1]), code
    late = refused("reopen_window_passed", days=7)
    assert _refused_in_words("cannot_reopen", late, "zh").startswith("投诉办结后 7 天内可以重新打开，现已超过期限")
    assert _refused_in_words("cannot_reopen", late, "en").startswith("A complaint can be reopened within 7 days")
    # A reason a customer has no words for (the complaint closed meanwhile): what the form could not do.
    closed = refused("closed", complaint_id="C-1")
    assert _refused_in_words("cannot_reopen", closed, "zh") == "这份投诉现在不能重新打开。"
    assert _refused_in_words("cannot_reopen", None, "en") == "This complaint cannot be reopened now."
