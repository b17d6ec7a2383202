"""The words for the domain's coded values (channels, stages, deadline targets, classification,
compensation, roles, events, messages, delivery) in Chinese and English: one table for every
page of every service, so the console and the reports dashboard call a thing the same."""

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


def in_language(pair: tuple[str, str], lang: str) -> str:
    """The reader's words of a (Chinese, English) pair."""
    return pair[0] if lang == "zh" else pair[1]


def word(table: dict[str, tuple[str, str]], key: str, lang: str) -> str:
    """A page's own word from its table; a missing one shows as its key (a test then finds it)."""
    pair = table.get(key)
    return key if pair is None else in_language(pair, lang)


# The domain's coded values as people read them, by kind: a page shows these words, never the code.
# Chinese terms follow the sources (003's classification matrix, 001's tiers).
VALUES: dict[str, dict[str, tuple[str, str]]] = {
    "stage": {
        "received": ("已受理", "received"),
        "assigned": ("已分派", "assigned"),
        "acknowledged": ("处理中", "in handling"),
        "waiting_on_customer": ("等待客户回复", "waiting on the customer"),
        "resolved": ("已办结", "resolved"),
        "awaiting_survey": ("待满意度回访", "awaiting the survey"),
        "second_follow_up": ("二次回访", "second follow-up"),
        "closed": ("已关闭", "closed"),
    },
    # what staff and customers do to a complaint (the workflow's actions), as a verb
    "action": {
        "acknowledge": ("确认受理", "acknowledge"),
        "assign": ("分派", "assign"),
        "post_progress": ("更新进度", "post progress"),
        "give_plan": ("给出解决方案", "give plan"),
        "transfer": ("转办", "transfer"),
        "accept_transfer": ("接收转办", "accept transfer"),
        "decline_transfer": ("退回转办", "decline transfer"),
        "add_note": ("添加备注", "add note"),
        "consult": ("发起会诊", "consult"),
        "answer_consultation": ("回复会诊", "answer consultation"),
        "propose_compensation": ("提出补偿", "propose compensation"),
        "decide_compensation": ("审批补偿", "decide compensation"),
        "request_info": ("向客户询问", "request info"),
        "customer_reply": ("记录客户回复", "customer reply"),
        "resolve": ("办结", "resolve"),
        "retier": ("调整等级", "retier"),
        "reclassify": ("更正分类", "reclassify"),
        "apply_policy": ("改用政策", "apply policy"),
        "link_repeat": ("关联重复投诉", "link repeat"),
        "link_batch": ("关联批量投诉", "link batch"),
        "answer_survey": ("答复满意度回访", "answer survey"),
        "record_follow_up": ("记录二次回访", "record follow up"),
        "reopen": ("重开", "reopen"),
        "customer_not_reached": ("记录客户未收到消息", "customer not reached"),
        "customer_reached": ("记录已联系客户", "record reaching the customer"),
    },
    "target": {
        "first_response": ("首次响应", "first response"),
        "assignment": ("分派", "assignment"),
        "resolution": ("办结", "resolution"),
        "solution_plan": ("给出解决方案", "solution plan"),
        "compensation_approval": ("补偿审批", "compensation approval"),
        "transfer_acceptance": ("转办接收", "transfer acceptance"),
        "consultation_answer": ("会诊答复", "consultation answer"),
        "feedback": ("书面反馈", "written feedback"),
        "survey_follow_up": ("满意度回访", "satisfaction follow-up"),
        "second_follow_up": ("二次回访", "second follow-up"),
        "progress": ("进度更新", "progress update"),
    },
    "channel": {
        "hotline": ("热线电话", "hotline"),
        "email": ("邮件", "e-mail"),
        "web_form": ("网页表单", "web form"),
        "app": ("App", "app"),
        "chat_group": ("社群", "chat group"),
        "social_media": ("社交媒体", "social media"),
        "store": ("门店", "store"),
        "sms": ("短信", "SMS"),
        "wechat": ("微信", "WeChat"),
        "dingtalk": ("钉钉", "DingTalk"),
        "internal": ("内部提醒", "internal alert"),
    },
    "complaint_type": {
        "product_fault": ("产品故障", "product fault"),
        "service_attitude": ("服务态度", "service attitude"),
        "process_problem": ("流程问题", "process problem"),
        "other": ("其他", "other"),
    },
    "urgency": {"high": ("高", "high"), "medium": ("中", "medium"), "low": ("低", "low")},
    "responsibility": {
        "tech_support": ("技术支持部", "technical support"),
        "product": ("产品部", "product"),
        "rnd": ("研发部", "R&D"),
        "third_party": ("第三方", "third party"),
        "customer_error": ("客户自身", "the customer's own error"),
        "undetermined": ("待定", "undetermined"),
    },
    "scope": {"single_customer": ("个人投诉", "one customer"), "group": ("群体性投诉", "a group of customers")},
    "difficulty": {"front_line": ("一线可解决", "front line"), "cross_department": ("跨部门协作", "cross-department")},
    "classification_field": {
        "tier": ("等级", "tier"),
        "complaint_type": ("问题类型", "complaint type"),
        "urgency": ("紧急程度", "urgency"),
        "responsibility": ("责任归属", "responsibility"),
        "scope": ("影响范围", "scope"),
        "difficulty": ("处理难度", "difficulty"),
    },
    "compensation_kind": {
        "refund": ("退款", "refund"),
        "return": ("退货", "return"),
        "compensation": ("赔偿", "compensation"),
        "gift": ("赠品", "gift"),
        "written_apology": ("书面致歉", "written apology"),
    },
    "compensation_status": {
        "granted": ("权限内已给予", "granted within authority"),
        "pending": ("待审批", "awaiting approval"),
        "approved": ("已批准", "approved"),
        "rejected": ("已驳回", "rejected"),
    },
    "decision": {"True": ("批准", "approved"), "False": ("驳回", "rejected")},
    # how a handler reached a customer our messages could not
    "reached_how": {
        "phone": ("电话", "by phone"),
        "in_person": ("当面", "in person"),
        "their_channel": ("客户投诉所用渠道", "on the channel they complained on"),
    },
    "role": {
        "agent": ("客服专员", "agent"),
        "senior": ("资深客服", "senior agent"),
        "liaison": ("业务联络人", "liaison"),
        "group_lead": ("组长", "group lead"),
        "department_head": ("部门负责人", "department head"),
        "manager": ("经理", "manager"),
        "admin": ("系统管理员", "admin"),
    },
    "delivery": {
        "pending": ("排队中", "queued"),
        "sent": ("已发送", "sent"),
        "delivered": ("已送达", "delivered"),
        "failed": ("发送失败", "failed"),
        "unknown": ("未知", "unknown"),
    },
    "template": {
        # to the customer
        "received": ("受理通知", "receipt"),
        "after_hours": ("非工作时间回复", "after-hours reply"),
        "acknowledged": ("开始处理通知", "handling started"),
        "progress_update": ("进度更新", "progress update"),
        "solution_plan": ("解决方案", "solution plan"),
        "info_request": ("补充信息请求", "request for information"),
        "transfer_accepted": ("转办告知", "transfer notice"),
        "repeat_linked": ("重复投诉已合并", "repeat linked"),
        "feedback": ("书面处理结果", "written result"),
        "survey_request": ("满意度调查", "satisfaction survey"),
        "follow_up_promised": ("二次回访告知", "follow-up promised"),
        "follow_up_done": ("二次回访结果", "follow-up result"),
        "reopened": ("重新打开告知", "reopened"),
        # to staff
        "sla_warning": ("时限预警", "deadline warning"),
        "sla_escalation": ("超时升级", "escalation"),
        "progress_reminder": ("进度提醒", "progress reminder"),
        "urgent_call": ("紧急电话提醒", "urgent call"),
        "liaison_assigned": ("业务联络人指派", "liaison assigned"),
        "transfer_request": ("转办请求", "transfer request"),
        "transfer_declined": ("转办被退回", "transfer declined"),
        "transfer_disputed": ("转办分歧待裁决", "transfer disputed"),
        "consultation_requested": ("联合会诊请求", "consultation requested"),
        "consultation_answered": ("会诊意见", "consultation answered"),
        "compensation_approval": ("补偿待审批", "compensation to approve"),
        "compensation_decided": ("补偿审批结果", "compensation decided"),
        "customer_wrote_again": ("客户再次来信", "customer wrote again"),
        "customer_not_reached": ("客户未收到消息", "customer not reached"),
        "complaint_reopened": ("投诉重新打开", "complaint reopened"),
        "alert_email": ("提醒邮件", "alerts by e-mail"),
        "follow_up_needed": ("需二次回访", "second follow-up needed"),
        "batch_incident": ("批量事件", "batch incident"),
        "surge_warning": ("投诉激增预警", "surge warning"),
        "review_action_overdue": ("复盘措施逾期", "review action overdue"),
        "review_action_given": ("复盘措施转交", "review action given to you"),
    },
    "event": {
        "ComplaintReceived": ("收到投诉", "Complaint received"),
        "TierAssigned": ("定级分类", "Tier assigned"),
        "Assigned": ("分派", "Assigned"),
        "AutoReplySent": ("自动回复", "Automatic reply"),
        "Acknowledged": ("确认受理", "Acknowledged"),
        "AssignedToPerson": ("指派给个人", "Assigned to a person"),
        "ProgressPosted": ("进度更新", "Progress update"),
        "SolutionPlanGiven": ("告知解决方案", "Solution plan given"),
        "TransferRequested": ("申请转办", "Transfer requested"),
        "TransferAccepted": ("接收转办", "Transfer accepted"),
        "TransferDeclined": ("退回转办", "Transfer declined"),
        "NoteAdded": ("内部备注", "Internal note"),
        "ConsultationRequested": ("发起联合会诊", "Other departments consulted"),
        "ConsultationAnswered": ("会诊意见", "Consultation answered"),
        "CompensationProposed": ("提出补偿", "Compensation proposed"),
        "CompensationDecided": ("补偿审批", "Compensation decided"),
        "InfoRequested": ("向客户询问", "Information requested"),
        "ClockPaused": ("计时暂停", "Clock paused"),
        "CustomerReplied": ("客户回复", "Customer replied"),
        "ClockResumed": ("计时恢复", "Clock resumed"),
        "Retiered": ("调整等级", "Tier changed"),
        "Reclassified": ("更正分类", "Classification corrected"),
        "PolicyApplied": ("改用时限政策", "Policy applied"),
        "RepeatLinked": ("合并重复投诉", "Repeat linked"),
        "BatchLinked": ("归入批量事件", "Batch linked"),
        "CustomerNotReached": ("客户未收到消息", "Customer not reached"),
        "CustomerReached": ("已另行联系客户", "Customer reached another way"),
        "SlaWarning": ("时限预警", "Deadline warning"),
        "ProgressReminder": ("进度提醒", "Progress reminder"),
        "SlaBreached": ("超时", "Deadline breached"),
        "Escalated": ("升级", "Escalated"),
        "Resolved": ("办结", "Resolved"),
        "FeedbackSent": ("书面反馈已发送", "Written feedback sent"),
        "SurveyRequested": ("发送满意度调查", "Survey requested"),
        "SurveyAnswered": ("满意度已回复", "Survey answered"),
        "SurveyExpired": ("满意度调查过期", "Survey expired"),
        "FollowUpRequested": ("需二次回访", "Second follow-up requested"),
        "FollowedUp": ("已二次回访", "Followed up"),
        "Reopened": ("重新打开", "Reopened"),
        "Closed": ("结案", "Closed"),
        "CustomerDataErased": ("客户个人信息已删除", "Customer data erased"),
    },
    "detail": {
        "staff_id": ("操作人", "by"),
        "assignee": ("处理人", "assignee"),
        "group": ("组", "group"),
        "to_group": ("接收组", "to group"),
        "from_group": ("原组", "from group"),
        "groups": ("会诊部门", "groups asked"),
        "answer": ("会诊意见", "answer"),
        "tier": ("等级", "tier"),
        "to_tier": ("新等级", "new tier"),
        "complaint_type": ("问题类型", "complaint type"),
        "to_type": ("新问题类型", "new complaint type"),
        "target": ("时限", "deadline"),
        "level": ("级别", "level"),
        "to": ("升级至", "to"),
        "message": ("内容", "message"),
        "plan": ("方案", "plan"),
        "question": ("问题", "question"),
        "reason": ("原因", "reason"),
        "text": ("备注", "text"),
        "note": ("备注", "note"),
        "kind": ("方式", "kind"),
        "amount": ("金额", "amount"),
        "approved": ("审批", "decision"),
        "outcome": ("结果", "outcome"),
        "extra_compensation": ("追加补偿", "extra compensation"),
        "satisfaction_result": ("对结果满意度", "result"),
        "satisfaction_speed": ("对速度满意度", "speed"),
        "suggestion": ("客户意见", "customer's words"),
        "status": ("状态", "status"),
        "channel": ("渠道", "channel"),
        "liaison": ("业务联络人", "liaison"),
        "template": ("消息", "which message"),
        "how": ("联系方式", "how"),
    },
}

# Which kind of coded value a field of an event or a form carries.
FIELD_VALUES = {
    "complaint_type": "complaint_type",
    "responsibility": "responsibility",
    "to_type": "complaint_type",
    "target": "target",
    "to": "role",
    "kind": "compensation_kind",
    "status": "compensation_status",
    "approved": "decision",
    "channel": "channel",
    "template": "template",
    "how": "reached_how",
}


def value_label(kind: str, value: object, lang: str) -> str:
    """A coded value in the reader's language. Text that is not of a coded kind (a name, a
    message) shows as written; a code the table does not know yet shows as itself, so nothing the
    system records is ever hidden."""
    text = "" if value is None else str(value)
    codes = VALUES.get(kind)
    if codes is None:
        return text
    pair = codes.get(text)
    if pair is None:
        return text.replace("_", " ")
    return in_language(pair, lang)
