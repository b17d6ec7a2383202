"""Why an action on a complaint is refused, in both languages: one coded reason for each rule
that refuses (permissions.py for who may, the workflow's validators for when), its words here.

The staff API answers with the English message and the reason's code and particulars; the
console says it in the page's language. Particulars are codes (a stage, an action, a group, a
role), each shown in the reader's words; a group by its title from the routing configuration.
"""

from collections.abc import Callable

from services.common.code_words import value_label
from services.common.web import Reason

# code -> (Chinese, English), with the particulars as {placeholders}.
WORDS: dict[str, tuple[str, str]] = {
    # when: the complaint's stage and what waits in it (the workflow's validators, 409)
    "wrong_stage": (
        "投诉当前为「{stage}」，不能{action}；仅在{allowed}时可以",
        "cannot {action} a complaint that is {stage}; only when it is {allowed}",
    ),
    "transfer_waiting": ("转办至「{group}」正等待接收", "a transfer to {group} is waiting to be accepted"),
    "with_group_already": ("投诉已在「{group}」", "the complaint is with {group} already"),
    "no_transfer_to_accept": ("没有等待接收的转办", "no transfer is waiting to be accepted"),
    "no_transfer_to_decline": ("没有等待退回的转办", "no transfer is waiting to be declined"),
    "group_not_asked": ("「{group}」未被邀请会诊此投诉", "{group} was not asked for its view of this complaint"),
    "nothing_asked": ("此投诉没有邀请其他部门会诊", "no other group was asked for its view of this complaint"),
    "compensation_waiting": ("有补偿等待审批，请先审批", "a compensation is waiting for approval; decide it first"),
    "compensation_waiting_before_result": (
        "有补偿等待审批，请在办结前先审批",
        "a compensation is waiting for approval; decide it before the result",
    ),
    "customer_not_unreached": (
        "没有未送达客户的消息，无需另行联系",
        "every message reached the customer; there is nothing to reach them about",
    ),
    "no_compensation_waiting": ("没有等待审批的补偿", "no compensation is waiting for approval"),
    "same_tier": ("投诉已是 {tier} 级", "the complaint is tier {tier} already"),
    "classified_so": ("投诉已是这样分类", "the complaint is classified so already"),
    "survey_answered": ("满意度回访已答复", "the survey has already been answered"),
    "reopening_not_available": (
        "此投诉创建时尚不支持重开，请提交新投诉",
        "this complaint started before reopening existed; submit a new complaint",
    ),
    "settled_by_customer": (
        "客户已答复处理结果解决了问题；新的问题请提交新投诉",
        "the customer answered that the result settles it; a new matter is a new complaint",
    ),
    "reopen_window_passed": (
        "投诉只能在办结后 {days} 天内重开",
        "a complaint can be reopened for {days} days after its result only",
    ),
    "still_on_duty": ("{person} 正在值班：请先将其设为下班", "{person} is on duty: set them off duty first"),
    "closed": ("投诉 {complaint_id} 已关闭", "complaint {complaint_id} is closed"),
    # who: the person's group and authority (permissions.py, 403)
    "not_your_group": (
        "投诉在「{group}」，不是你所在的组",
        "this complaint is with group '{group}', which is not yours",
    ),
    "transfer_not_for_you": (
        "转办等待「{group}」接收，不是你所在的组",
        "the transfer waits for group '{group}', which is not yours",
    ),
    "not_consulted": (
        "只有被邀请会诊的组（{groups}）可以回复，你不在其中",
        "only the groups asked for their view answer ({groups}); none of them is yours",
    ),
    "leads_only": (
        "只有组长及以上可以{doing}；你是{authority}",
        "only a group lead or above may {doing}; you are {authority}",
    ),
    "admins_only": ("只有系统管理员可以{doing}", "only an admin may {doing}"),
    "managers_only": ("只有经理可以{doing}", "only a manager may {doing}"),
    "admin_takes_nothing_down": (
        "系统管理员账号不能登记投诉；请以接待客户的员工身份登录",
        "an admin account does not take complaints down; sign in as the person who served the customer",
    ),
    "beyond_authority": (
        "此{kind}超出你的审批权限，由{approver}审批",
        "this {kind} is beyond your authority; a {approver} decides it",
    ),
}

# What only some may do, as a reason's {doing}.
DOING: dict[str, tuple[str, str]] = {
    "assign": ("分派投诉", "assign a complaint"),
    "retier": ("调整投诉等级", "change a tier"),
    "reclassify": ("更正投诉分类", "correct a classification"),
    "hand_over": ("移交他人的投诉", "hand someone's complaints over"),
    "set_duty": ("设置他人的值班状态", "set someone else's duty"),
    "apply_policy": ("将投诉改用其他政策", "move complaints to another policy"),
    "erase": ("删除客户的个人信息", "erase a customer's personal data"),
}

# Which kind of code each particular is, for its words; a particular not named here is shown
# as it is (a number of days, a tier).
_KINDS = {
    "stage": "stage",
    "allowed": "stage",
    "action": "action",
    "group": "group",
    "groups": "group",
    "authority": "role",
    "approver": "role",
    "kind": "compensation_kind",
    "doing": "doing",
}
# How a list of codes reads: the stages an action is allowed in are alternatives.
_JOINS = {"allowed": ("或", " or "), "groups": ("、", ", ")}

GroupTitle = Callable[[str, str], str]


def refused(code: str, **params: str | int | list[str]) -> Reason:
    """A coded reason; an unknown code is a mistake in our code (a test reads every one)."""
    if code not in WORDS:
        raise KeyError(f"no words for the refusal '{code}'")
    return Reason(code, {k: v if isinstance(v, list) else str(v) for k, v in params.items()})


def english(reason: Reason) -> str:
    """The reason as the API's message says it: codes as words, groups by their code."""
    return said(reason, "en", lambda group, _lang: group)


def said(reason: Reason, lang: str, group_title: GroupTitle) -> str:
    """The reason in the reader's language; a code with no words (a reason of a newer version)
    falls back to its particulars."""
    pair = WORDS.get(reason.code)
    if pair is None:
        return f"{reason.code}: {dict(reason.params)}"
    words = {name: _words_of(name, value, lang, group_title) for name, value in reason.params.items()}
    return (pair[0] if lang == "zh" else pair[1]).format_map(_Missing(words))


def _words_of(name: str, value: str | list[str], lang: str, group_title: GroupTitle) -> str:
    if isinstance(value, list):
        zh_join, en_join = _JOINS.get(name, ("、", ", "))
        return (zh_join if lang == "zh" else en_join).join(_word(name, v, lang, group_title) for v in value)
    return _word(name, value, lang, group_title)


def _word(name: str, value: str, lang: str, group_title: GroupTitle) -> str:
    kind = _KINDS.get(name)
    if kind == "group":
        return group_title(value, lang)
    if kind == "doing":
        pair = DOING.get(value)
        return value.replace("_", " ") if pair is None else pair[0 if lang == "zh" else 1]
    if kind is None:
        return value
    if lang != "zh":  # the English message names codes as words, as it always has
        return value.replace("_", " ")
    return value_label(kind, value, lang)


class _Missing(dict):
    """A placeholder with no particular shows as itself rather than failing the refusal."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
