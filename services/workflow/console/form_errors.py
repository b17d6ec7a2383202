"""A refusal said in the page's language. A form's box: which box (by its label on the page)
and what is wrong with it, from the kind of problem pydantic found and its limits. A refusal of
the person or of the complaint's stage: its coded reason (contract/refusals.py), groups by their
titles. The staff API answers in English with the field's name; a person at the console reads
their own words."""

from services.common.web import ApiError
from services.workflow.console.labels import LABELS, label
from services.workflow.contract.refusals import GroupTitle, said

# pydantic's kind of problem -> what is wrong, in Chinese and English, with its limits ({max_length} …).
_REASONS: dict[str, tuple[str, str]] = {
    "missing": ("必填", "is required"),
    "string_too_short": ("不能为空", "must not be empty"),
    "string_too_long": ("最多 {max_length} 个字", "takes at most {max_length} characters"),
    "too_short": ("至少选择 {min_length} 项", "choose at least {min_length}"),
    "too_long": ("最多选择 {max_length} 项", "choose at most {max_length}"),
    "greater_than_equal": ("不能小于 {ge}", "must be at least {ge}"),
    "less_than_equal": ("不能大于 {le}", "must be at most {le}"),
    "int_parsing": ("请填写整数", "must be a whole number"),
    "float_parsing": ("请填写数字", "must be a number"),
    "literal_error": ("请从列表中选择", "choose one of the list"),
    "enum": ("请从列表中选择", "choose one of the list"),
    "string_pattern_mismatch": ("格式不正确", "is not in the expected form"),
    "datetime_parsing": ("请填写日期和时间，例如 2026-12-04 09:30", "a date and time such as 2026-12-04 09:30"),
}
# Our own validators' words (the contract's), in Chinese; others keep their English.
_OWN_WORDS_ZH = {
    "name each group once": "每个部门只需选一次",
    "give a phone or an email so that we can answer the customer": "请填写电话或邮箱，以便答复客户",
    "preferred_channel is email but no email is given": "选择了邮件答复，但没有填写邮箱",
    "preferred_channel is sms but no phone is given": "选择了短信答复，但没有填写电话",
    "give complaint_type, responsibility or both": "请更正问题类型或责任方，或两者",
    "must not contain NUL characters": "含有无效字符",
}


class FormError(ApiError):
    """422 for one box of a console form: `kind` and `limits` are pydantic's, `said` the
    validator's own words (English), `box` the key of the box's label on the page."""

    def __init__(self, field: str, kind: str, limits: dict, said: str, box: str | None = None):
        super().__init__(422, "invalid_request", f"{field}: {said}", field=field)
        self.kind, self.limits, self.said, self.box = kind, limits, said, box or field


def in_words(error: ApiError, lang: str, group_title: GroupTitle = lambda group, _lang: group) -> str:
    """What the page says of a refusal: a form's box, or a coded reason (permissions, the stage),
    in the page's language; any other (a dependency down) as its message reads."""
    if error.reason is not None:
        return said(error.reason, lang, group_title)
    if not isinstance(error, FormError):
        return error.message
    box = label(error.box, lang) if error.box in LABELS else error.box
    zh = lang == "zh"
    if error.kind in _REASONS:
        reason = _REASONS[error.kind][0 if zh else 1].format(**error.limits)
    else:
        reason = _OWN_WORDS_ZH.get(error.said, error.said) if zh else error.said
    return f"「{box}」{reason}" if zh else f"{box}: {reason}"
