"""The customer's pages' words in Chinese and English, one table. A page speaks the customer's
language: the one they chose with the switch in its header, else the language of their
complaint (the language we write to them in), else their browser's."""

from fastapi import Request

from services.common.code_words import DEFAULT_LANGUAGE, word
from services.common.web_session import language_of
from services.workflow.contract import Stage

LANG_COOKIE = "customer_lang"

LABELS: dict[str, tuple[str, str]] = {
    "language": ("语言", "Language"),
    "complaint": ("投诉", "Complaint"),
    "submit_complaint": ("提交投诉", "Submit a complaint"),
    "name": ("姓名", "Name"),
    "phone": ("手机", "Phone"),
    "email": ("邮箱", "E-mail"),
    "preferred_channel": ("我们如何答复您", "How should we answer you?"),
    "contact_hint": (
        "请至少留下手机或邮箱中的一项，我们通过它告知处理进展和结果。",
        "Give a phone number or an e-mail address (at least one): we tell you there how your complaint goes.",
    ),
    "reply_by_email": ("邮件", "By e-mail"),
    "reply_by_sms": ("短信", "By text message (SMS)"),
    "company": ("公司（选填）", "Company (optional)"),
    "account_id": ("账号（选填）", "Account or customer number (optional)"),
    "occurred_at": ("发生时间", "When it happened"),
    "occurred_at_in": ("发生时间（{zone}，选填）", "When it happened ({zone}, optional)"),
    "description": ("发生了什么", "What happened"),
    "impact": ("影响（选填，如：3 个订单无法提交）", "What it caused (optional, e.g. 3 orders could not be submitted)"),
    "demand": ("您的诉求（选填）", "What do you expect (optional)"),
    "urgent": ("有人受伤或有危险", "Someone is hurt or in danger"),
    "submit": ("提交", "Submit"),
    "expected_by": ("预计", "By"),
    "recorded_only": (
        "这里显示的是已记录的进度，实时状态稍后恢复；届时您可以回复、评价或重新打开投诉。您的投诉不会丢失，请稍后刷新。",
        "This is the progress we have recorded; the live status will be back shortly, and you can answer, rate"
        " or reopen then. Nothing is lost. Refresh in a moment.",
    ),
    "your_answer": ("您的回复", "Your answer"),
    "send": ("发送", "Send"),
    "satisfaction_result": ("对处理结果的满意度（1–5）", "Satisfaction with the result (1–5)"),
    "satisfaction_speed": ("对处理速度的满意度（1–5）", "Satisfaction with the speed (1–5)"),
    "scale_low": ("很不满意", "very dissatisfied"),
    "scale_high": ("很满意", "very satisfied"),
    "suggestion": ("建议（选填）", "Suggestion (optional)"),
    "reopen_label": ("问题没有解决？重新打开投诉", "Not settled? Reopen your complaint"),
    "reopen_until": ("截止", "until"),
    "reopen": ("重新打开", "Reopen"),
    "messages": ("我们发给您的消息", "Messages to you"),
    "messages_unavailable": (
        "暂时无法显示消息，消息不会丢失，请稍后刷新。",
        "Your messages cannot be shown right now; none is lost. Refresh in a moment.",
    ),
    "none_yet": ("暂无", "None yet."),
    # what the web form asks again, beside the field (problem_<field>)
    "problems": ("请检查以下内容：", "Please check:"),
    "problem_name": ("请填写您的姓名。", "Enter your name."),
    "problem_phone": (
        "请填写有效的手机号码；或留下邮箱，以便我们答复您。",
        "Enter a valid phone number, or leave an e-mail address, so that we can answer you.",
    ),
    "problem_email": ("请填写有效的邮箱地址。", "Enter a valid e-mail address."),
    "problem_reply_by_email": (
        "您选择了邮件答复，请填写邮箱地址。",
        "You asked for an answer by e-mail: enter your address.",
    ),
    "problem_reply_by_sms": (
        "您选择了短信答复，请填写手机号码。",
        "You asked for an answer by text message: enter your phone number.",
    ),
    "problem_company": ("请检查公司名称。", "Check the company name."),
    "problem_account_id": ("请检查账号。", "Check the account number."),
    "problem_occurred_at": ("请填写发生的日期和时间。", "Give the date and time it happened."),
    "problem_description": ("请说明发生了什么。", "Say what happened."),
    "problem_impact": ("请检查影响的说明。", "Check what it caused."),
    "problem_demand": ("请检查您的诉求。", "Check what you expect."),
    "problem_form": ("请检查填写的内容。", "Check what you entered."),
    # a form the complaint no longer takes (sent twice, or from a page left open)
    "survey_scores_missing": (
        "请为处理结果和处理速度各选一个分数。",
        "Choose a score for the result and one for the speed.",
    ),
    "survey_not_open": ("评价已提交或已不再开放。", "The survey was answered already or is no longer open."),
    "no_question_open": ("目前没有需要您回答的问题。", "There is no question waiting for your answer."),
    "cannot_reopen": ("这份投诉现在不能重新打开。", "This complaint cannot be reopened now."),
    # why, where the workflow said (its coded reasons, services/workflow/contract/refusals.py)
    "reopen_window_passed": (
        "投诉办结后 {days} 天内可以重新打开，现已超过期限。如有新的问题，请提交新的投诉。",
        "A complaint can be reopened within {days} days of its result, and that time has passed. "
        "For a new matter, please make a new complaint.",
    ),
    "settled_by_customer": (
        "您已答复处理结果解决了问题，这份投诉不能再重新打开。如有新的问题，请提交新的投诉。",
        "You told us the result settles it, so this complaint cannot be reopened. "
        "For a new matter, please make a new complaint.",
    ),
}
# The workflow's reasons a customer is told in their own words (with their particulars).
CUSTOMER_REASONS = ("reopen_window_passed", "settled_by_customer")

# What each stage means to the customer, and what comes next.
STAGE: dict[Stage, tuple[str, str]] = {
    Stage.received: ("已收到", "Received"),
    Stage.assigned: ("已分派", "Assigned"),
    Stage.acknowledged: ("处理中", "Being handled"),
    Stage.waiting_on_customer: ("等待您的回复", "Waiting for you"),
    Stage.resolved: ("已解决", "Resolved"),
    Stage.awaiting_survey: ("请评价", "Please rate us"),
    Stage.second_follow_up: ("回访中", "Following up"),
    Stage.closed: ("已结案", "Closed"),
}
NEXT_STEP: dict[Stage, tuple[str, str]] = {
    Stage.received: (
        "我们已收到您的投诉，正在分派给合适的团队。",
        "We have your complaint and are assigning it to the right team.",
    ),
    Stage.assigned: (
        "已有团队负责您的投诉，处理人员将尽快与您联系。",
        "A team has your complaint; a handler will contact you shortly.",
    ),
    Stage.acknowledged: ("处理人员正在处理您的投诉。", "A handler is working on your complaint."),
    Stage.waiting_on_customer: (
        "我们需要您补充一些信息：请回答我们发给您的问题。",
        "We need a detail from you: please answer the question we sent you.",
    ),
    Stage.resolved: (
        "您的投诉已处理完毕，书面处理结果见下方我们发给您的消息。",
        "Your complaint is resolved; the written result is among our messages to you below.",
    ),
    Stage.awaiting_survey: (
        "请告诉我们您对处理结果是否满意。",
        "Please tell us how satisfied you are with the result.",
    ),
    Stage.second_follow_up: (
        "很抱歉结果未能让您满意，处理人员将再次与您联系。",
        "We are sorry it did not satisfy you; a handler will contact you again.",
    ),
    Stage.closed: ("您的投诉已结案，感谢您的反馈。", "Your complaint is closed. Thank you."),
}


def label(key: str, lang: str) -> str:
    return word(LABELS, key, lang)


def both(pair: tuple[str, str]) -> str:
    """Chinese and English together, as the JSON for customers has always given them."""
    return f"{pair[0]} / {pair[1]}"


def page_language(request: Request, complaint_language: str | None = None) -> str:
    """'zh' or 'en': the reader's choice (the switch's cookie), else their complaint's language
    ("zh-CN" or "en", as messages name it), else the first of ours their browser asks for."""
    if complaint_language:
        otherwise = "zh" if complaint_language.startswith("zh") else "en"
    else:
        otherwise = _browser_language(request)
    return language_of(request, LANG_COOKIE, otherwise)


def _browser_language(request: Request) -> str:
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE


def message_language(lang: str) -> str:
    """The page's language as messages and times name it."""
    return "zh-CN" if lang == "zh" else "en"
