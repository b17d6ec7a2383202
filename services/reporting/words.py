"""The dashboard's own words in Chinese and English, one table (the domain's coded values, such
as stages and complaint types, are in services/common/code_words.py, shared with the console).
The language is the reader's choice, handed over from the console or switched in the header."""

from services.common.code_words import word

LABELS: dict[str, tuple[str, str]] = {
    "dashboard": ("投诉时效看板", "Timeliness dashboard"),
    "console": ("投诉工作台", "Complaint console"),
    "language": ("语言", "Language"),
    "sign_out": ("退出", "Sign out"),
    "handoff_refused": (
        "登录链接已使用或已过期，请重新登录",
        "this sign-in link was used or has expired; sign in again",
    ),
    "only_leads": ("看板仅限组长及以上", "The dashboard is for group leads and up."),
    # against the targets (services/reporting/reports.py names each figure)
    "against_targets": ("目标达成", "Against the targets"),
    "responses within target": ("按时响应率", "Responses within target"),
    "completed within target": ("按时办结率", "Completed within target"),
    "customers satisfied": ("客户满意率", "Customers satisfied"),
    "escalations for slowness, change on the previous period": (
        "因处理慢而升级，较上一周期",
        "Escalations for slowness, change on the previous period",
    ),
    "target": ("目标", "target"),
    # the trend
    "breach_trend": ("超时趋势", "Breach trend"),
    "breach_trend_note": ("当日投诉中超时的比例", "share of the day's complaints breached"),
    "daily_breach_rate": ("每日超时率", "daily breach rate"),
    "as_table": ("以表格查看", "As a table"),
    "day": ("日期", "Day"),
    "received": ("受理", "Received"),
    "breached": ("超时", "Breached"),
    "escalated": ("升级", "Escalated"),
    "no_complaints": ("该期间没有投诉", "No complaints in the period."),
    # the heat map and stages
    "heat_map": ("等级×类型", "Tier × type"),
    "heat_map_note": ("投诉数，其中超时", "complaints, breached"),
    "tier": ("等级", "Tier"),
    "breached_count": ("件超时", "breached"),
    "open_by_stage": ("未结投诉（按阶段）", "Open complaints by stage"),
    "none_open": ("没有未结投诉", "None open."),
    # what dissatisfied customers said
    "dissatisfied": ("客户不满意的原因", "Why customers were dissatisfied"),
    "dissatisfied_note": ("最近的不满意评价及二次回访", "the latest dissatisfied answers and their second follow-up"),
    "surveys_answered": ("已评价", "Surveys answered"),
    "surveys_expired": ("未评价", "unanswered"),
    "average_result": ("结果平均", "result on average"),
    "average_speed": ("速度平均", "speed on average"),
    "complaint": ("投诉", "Complaint"),
    "scores": ("结果 · 速度", "Result · speed"),
    "they_said": ("客户的意见", "What they said"),
    "we_did": ("二次回访", "What the follow-up did"),
    "not_yet": ("尚未回访", "not yet"),
    "none_dissatisfied": ("该期间没有不满意的评价", "No dissatisfied answers in the period."),
    # the departments
    "departments": ("部门协作", "Departments"),
    "departments_note": (
        "投诉在各部门停留的时间，转派的接收和会诊的答复",
        "time complaints stayed with each, transfers it took and views it was asked for",
    ),
    "department": ("部门", "Department"),
    "time_with_it": ("投诉停留时长", "Time with it"),
    "transfers_to_it": ("转派给该部门", "Transfers to it"),
    "consultations_of_it": ("请该部门会诊", "Asked for its view"),
    "transfers_received": ("收到", "Received"),
    "accepted": ("已接收", "Accepted"),
    "average_to_accept": ("平均接收用时", "Average to accept"),
    "asked": ("次数", "Asked"),
    "answered": ("已答复", "Answered"),
    "answered_late": ("超过答复期限", "Past answer-by"),
    "average_to_answer": ("平均答复用时", "Average to answer"),
    "try_policy": ("用这些投诉模拟新的时效政策", "Try a policy on these complaints"),
    "reports_behind": ("这些数字背后的报表：", "The reports behind these figures:"),
    "json_or_csv": ("（JSON 或 CSV）", "(JSON or CSV)"),
    # the policy simulator
    "simulator": ("时效政策模拟", "Policy simulator"),
    "simulator_note": (
        "把一段时间的投诉按拟议的政策重新计算，与当时实际适用的政策并列（使用工作流自己的时限算法）。未重算：",
        "Last period's complaints replayed against a proposed policy, beside the policy they ran under"
        " (the workflow's own deadline arithmetic). Not replayed:",
    ),
    "not_replayed": ("进度更新周期和计时暂停", "progress cadences and clock pauses"),
    "from": ("从", "From"),
    "to": ("到", "To"),
    "proposed_policy": ("拟议政策（TOML）", "Proposed policy (TOML)"),
    "simulate": ("模拟", "Simulate"),
    "complaints": ("件投诉", "complaints"),
    "proposed": ("拟议", "proposed"),
    "in_force": ("现行", "in force"),
    "target_column": ("时限", "Target"),
    "complaints_column": ("投诉数", "Complaints"),
    "rate_in_force": ("现行政策超时率", "Breach rate in force"),
    "rate_proposed": ("拟议政策超时率", "Breach rate proposed"),
    "would_change": ("件投诉结果会改变", "complaints would change"),
    "late": ("超时", "late"),
    "on_time": ("按时", "on time"),
}


def label(key: str, lang: str) -> str:
    return word(LABELS, key, lang)
