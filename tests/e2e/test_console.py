"""The staff console in a real browser: Playwright driving Debian's chromium against the whole
system (the same launcher as `make run`). An agent, a liaison, a group lead and a manager each
do their part of one complaint; screenshots are saved as test artefacts."""

import os
import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.test_end_to_end import eventually, spans_in, submit_new

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", "test-artifacts")) / "console"


async def sign_in(browser: Browser, system, staff_id: str, *, width: int = 1280, lang: str = "en") -> Page:
    context = await browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB")
    page = await context.new_page()
    console = f"{system.settings.url_of('workflow')}/console"
    await page.goto(f"{console}/language/{lang}")
    await expect(page).to_have_url(re.compile(r"/console/sign-in"))  # no session: sign in first
    await page.get_by_label("Staff id" if lang == "en" else "工号").fill(staff_id)
    await page.get_by_label("Password" if lang == "en" else "密码").fill(system.ensure_demo_password())
    await page.get_by_role("button", name="Sign in" if lang == "en" else "登录").click()
    await expect(page.get_by_test_id("signed-in-as")).to_contain_text(staff_id)
    return page


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def submit(
    system, description: str, phone: str | None = None, channel: str = "hotline", *, more: dict | None = None
) -> str:
    """A complaint as a channel adapter sends it; `more`: further fields of the record (its
    `customer` merged into the customer's)."""
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
        n = uuid.uuid4().int % 10**8
        more = dict(more or {})
        customer = {"name": "李伟", "phone": phone or f"+86 139-{n // 10**4:04d}-{n % 10**4:04d}"}
        answer = await http.post(
            f"{system.settings.url_of('intake')}/v1/complaints",
            headers={"Idempotency-Key": str(n)},
            json={
                "channel": channel,
                "description": description,
                "demand": "an apology and my money back",
                **more,
                "customer": {**customer, **more.get("customer", {})},
            },
        )
        assert answer.status_code == 202, answer.text
        return answer.json()["complaint_id"]


async def shown_after_reload(page: Page, test_id: str, text: str, tries: int = 60) -> None:
    """What another process updates (notify's deliveries, the relay): the page shows it once
    it has happened, at the latest after a reload."""
    for _ in range(tries):
        part = page.get_by_test_id(test_id)
        if await part.count() and text in (await part.text_content() or ""):
            return
        await page.wait_for_timeout(500)
        await page.reload()
    raise AssertionError(f"{test_id} never showed {text!r}")


async def act(page: Page, action: str, fields: dict[str, str] | None = None, *, done: str) -> None:
    """Open an action's form on the complaint page, fill it, submit, and see it done."""
    form = page.locator(f"details[data-action='{action}']")
    if await form.get_attribute("open") is None:
        await form.locator("summary").click()
    for name, value in (fields or {}).items():
        control = form.locator(f"[name='{name}']")
        if await control.count() > 1:  # radio buttons
            await form.locator(f"[name='{name}'][value='{value}']").check()
        elif await control.evaluate("e => e.tagName") == "SELECT":
            await control.select_option(value)
        else:
            await control.fill(value)
    await form.locator("button[type=submit]").click()
    await expect(page.get_by_test_id("done")).to_contain_text(done)


async def test_agent_liaison_lead_and_manager_work_one_complaint_in_the_browser(system, browser):
    the_call = {
        "recorded_by": "zhou.ting",  # who took the hotline call
        "occurred_at": "2026-12-02T09:12:00+08:00",
        "impact": "left the store without buying",
        "customer": {"email": "liwei@example.com", "preferred_channel": "sms", "company": "李记商行"},
    }
    n = uuid.uuid4().int % 10**8
    complaint_id = await submit(
        system,
        f"the agent was rude to me on the phone ({uuid.uuid4().hex[:6]})",
        phone=f"+86 139-{n // 10**4:04d}-{n % 10**4:04d}",
        more=the_call,
    )

    # The agent: the complaint is in My work with a live countdown; acknowledge, tell the
    # customer (a playbook's text inserted), offer a refund above an agent's limit, transfer.
    agent = await sign_in(browser, system, "zhou.ting")
    row = agent.get_by_test_id("mine").locator(f"tr[data-complaint='{complaint_id}']")
    await expect(row).to_be_visible(timeout=30_000)
    await expect(row.locator("time.countdown")).to_have_text(re.compile(r"^\d+h \d+m|^\d+m \d+s|^\d+d"))
    await shot(agent, "1-agent-my-work")
    await agent.get_by_label("Search (id, customer, phone or e-mail)").fill(complaint_id)  # filters and search
    await agent.get_by_label("Tier").select_option("1")
    await agent.get_by_role("button", name="Apply").click()
    await expect(agent.get_by_test_id("mine")).to_have_count(0)  # a tier-3 complaint: filtered out
    await agent.get_by_label("Tier").select_option("3")
    await agent.get_by_role("button", name="Apply").click()
    await expect(agent.get_by_test_id("mine").locator("tbody tr")).to_have_count(1)
    await agent.get_by_label("Search (id, customer, phone or e-mail)").fill("139****")  # the masked contact too
    await agent.get_by_role("button", name="Apply").click()
    await expect(row).to_be_visible()
    # A caller's whole number, as they say it, finds their complaint; the list still shows it masked.
    await agent.get_by_label("Search (id, customer, phone or e-mail)").fill(f"139{n:08d}")
    await agent.get_by_role("button", name="Apply").click()
    await expect(row).to_be_visible()
    await expect(row).not_to_contain_text(f"{n:08d}")
    await agent.get_by_label("Search (id, customer, phone or e-mail)").fill(f"139{(n + 1) % 10**8:08d}")
    await agent.get_by_role("button", name="Apply").click()
    await expect(agent.get_by_test_id("mine")).to_have_count(0)  # another caller's number
    await agent.get_by_label("Search (id, customer, phone or e-mail)").fill(complaint_id)
    await agent.get_by_role("button", name="Apply").click()
    await expect(row).to_be_visible()
    await row.get_by_role("link", name=complaint_id).click()
    await expect(agent.get_by_test_id("stage")).to_have_text("assigned")
    await expect(agent.locator("dl.facts")).to_contain_text("the agent was rude to me on the phone")  # as received
    # The whole record (domain §4), not only what was said: when it happened, what it caused, how
    # to answer them, who took the call.
    facts = agent.locator("dl.facts")
    await expect(facts).to_contain_text("Happened2026-12-02 09:12")
    await expect(facts).to_contain_text("Impactleft the store without buying")
    await expect(facts).to_contain_text("Company / account李记商行")
    await expect(agent.get_by_test_id("reply-by")).to_have_text("SMS (the customer's choice)")
    await expect(facts).to_contain_text("hotline · recorded by Zhou Ting")
    assert "liwei@example.com" not in await facts.inner_text()  # contact data stays masked
    await expect(agent.get_by_test_id("deadlines")).to_contain_text("first response")
    await act(agent, "acknowledge", {"note": "called the customer back"}, done="Acknowledge")
    await expect(agent.get_by_test_id("stage")).to_have_text("in handling")
    await agent.get_by_role("button", name="Insert into progress update").first.click()
    message = agent.locator("#post_progress-message")
    await expect(message).not_to_have_value("")
    await act(agent, "post_progress", done="Progress update")
    await act(
        agent,
        "propose_compensation",
        {"kind": "refund", "amount": "1500", "reason": "charged twice"},
        done="Propose compensation",
    )
    await expect(agent.get_by_test_id("compensations")).to_contain_text("refund 1,500 yuan — awaiting approval")
    await expect(agent.locator("details[data-action='decide_compensation']")).to_have_count(0)  # beyond an agent
    await act(
        agent,
        "transfer",
        {"to_group": "liaison-operations", "reason": "billing owns double charges"},
        done="Transfer to a department",
    )
    await expect(agent.locator(".mark.transfer")).to_contain_text("Operations liaison")  # the group's title
    await shown_after_reload(agent, "messages", "delivered (SMS)")  # notify's delivery status

    # An SRE finds the page's call to notify in the page's trace.
    traces = system.settings.traces_dir or system.settings.data_dir / "traces"

    async def page_traced_through_notify():
        pages = {
            sp["context"]["trace_id"]
            for sp in spans_in(traces / "workflow.jsonl")
            if sp["name"] == "GET /console/complaints/{complaint_id}"
        }
        return any(
            sp["name"] == "GET /v1/notifications" and sp["context"]["trace_id"] in pages
            for sp in spans_in(traces / "notify.jsonl")
        )

    assert await eventually(page_traced_through_notify)
    await shot(agent, "2-agent-complaint")

    # The liaison of the receiving department: the transfer waits in their queue; accept it.
    liaison = await sign_in(browser, system, "ma.jun")
    await shown_after_reload(liaison, "alerts", "transfer request")
    await expect(liaison.get_by_test_id("alerts")).to_contain_text("Ma Jun")  # whom it reached, in words
    await expect(liaison.get_by_test_id("alerts")).not_to_contain_text("staff:")
    waiting = liaison.get_by_test_id("queue").locator(f"tr[data-complaint='{complaint_id}']")
    await expect(waiting).to_contain_text("transfer waiting")
    await expect(waiting).to_contain_text("Zhou Ting")  # staff by name, not by their sign-in id
    await waiting.get_by_role("link", name=complaint_id).click()
    await act(liaison, "accept_transfer", done="Accept the transfer")
    await expect(liaison.get_by_test_id("assignee")).to_have_text("Ma Jun")
    await expect(liaison.get_by_test_id("assignee").locator("[title='ma.jun']")).to_be_visible()  # the id on hover
    await act(liaison, "add_note", {"text": "second charge confirmed in billing"}, done="Internal note")
    await expect(liaison.get_by_test_id("notes")).to_contain_text("Ma Jun: second charge confirmed")
    timeline = liaison.get_by_test_id("timeline")
    await expect(timeline).to_contain_text("liaison: Ma Jun")  # whom the transfer asked
    await expect(timeline).to_contain_text("by: Zhou Ting")
    await expect(timeline).not_to_contain_text("ma.jun")
    await expect(timeline).not_to_contain_text("zhou.ting")
    await shot(liaison, "3-liaison-accepted")

    # The group lead: the team page, then the approval the refund waits for.
    lead = await sign_in(browser, system, "liu.yang")
    await lead.get_by_role("link", name="Team").click()
    await expect(lead.get_by_test_id("people")).to_contain_text("ma.jun")
    # What routing balances, named as such: "Mine" on My work also counts owned and liaised ones.
    await expect(lead.get_by_test_id("people").locator("thead")).to_contain_text("Assigned, open")
    # A person's groups by title, told apart though a title has a comma of its own.
    groups_of_zhou = lead.get_by_test_id("people").locator("tr[data-staff='zhou.ting'] td[data-label='Groups']")
    await expect(groups_of_zhou).to_have_text("Front line, service · Front line, general")
    standby = lead.get_by_test_id("people").locator("tr[data-staff='wu.hao']")
    await standby.get_by_role("button", name="Go off duty: wu.hao").click()  # a lead switches duty
    await expect(standby).to_contain_text("Off duty")
    await standby.get_by_role("button", name="Go on duty: wu.hao").click()
    await expect(standby).to_contain_text("On duty")
    await shot(lead, "4-lead-team")
    await lead.goto(f"{system.settings.url_of('workflow')}/console/complaints/{complaint_id}")
    # Whom a lead may assign it to, by name (the group's members).
    await expect(lead.locator("details[data-action='assign'] option[value='ma.jun']")).to_have_text("Ma Jun (ma.jun)")
    await act(
        lead,
        "decide_compensation",
        {"approve": "yes", "note": "within a lead's limit"},
        done="Approve or reject compensation",
    )
    await expect(lead.get_by_test_id("compensations")).to_contain_text("approved")

    # The manager resolves with the written result; the timeline has every step.
    manager = await sign_in(browser, system, "wang.fang", lang="zh")
    await manager.goto(f"{system.settings.url_of('workflow')}/console/complaints/{complaint_id}")
    await expect(manager.get_by_role("heading", name="可执行操作")).to_be_visible()  # Chinese labels
    await expect(manager.get_by_test_id("deadlines")).to_contain_text("办结")  # the resolution deadline's target
    await expect(manager.get_by_test_id("deadlines").locator("time.countdown").first).to_have_text(
        re.compile(r"^(超时 )?\d+(天|小时|分)")
    )
    await act(
        manager,
        "resolve",
        {
            "cause": "a rude agent and a payment retry",
            "measures_taken": "apologised; refunded the second charge",
            "improvement_plan": "coaching; retries reuse the first payment's key",
        },
        done="办结并书面反馈",
    )
    await expect(manager.get_by_test_id("stage")).to_have_text(re.compile("已办结|待满意度回访"))
    await expect(manager.locator("details[data-action='reopen']")).to_have_count(1)  # within the window
    # Every step on the timeline, and the domain's codes too, in the reader's language.
    timeline = manager.get_by_test_id("timeline")
    for step in ("确认受理", "进度更新", "提出补偿", "申请转办", "接收转办", "补偿审批", "办结"):
        await expect(timeline).to_contain_text(step)
    await expect(timeline).to_contain_text("方式: 退款")  # the compensation's kind
    await expect(timeline).to_contain_text("三级服务态度投诉交一线服务组")  # the route's reason
    await expect(timeline).to_contain_text("接收组: 运营业务联络组")  # a group by its title
    await expect(manager.get_by_test_id("classification")).to_contain_text("员工对客户的服务态度（提到“rude”）")
    await expect(timeline.locator("strong[title='TransferAccepted']")).to_have_text("接收转办")  # the code on hover
    await expect(manager.get_by_test_id("compensations")).to_contain_text("退款")
    await expect(manager.get_by_test_id("messages")).to_contain_text("已送达 (短信)")
    for code in ("TransferAccepted", "hotline", "(optional)", " (sms)", "how staff treated", "liaison-operations"):
        await expect(manager.locator("main")).not_to_contain_text(code)
    await shot(manager, "5-manager-resolved")

    phone = await sign_in(browser, system, "zhou.ting", width=390)
    await phone.goto(f"{system.settings.url_of('workflow')}/console/complaints/{complaint_id}")
    await expect(phone.get_by_test_id("timeline")).to_contain_text("Resolved")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390  # nothing runs off a phone
    await shot(phone, "6-agent-phone-width")


async def test_the_console_refuses_what_the_person_may_not_do(system, browser):
    complaint_id = await submit(system, f"the agent was rude to me ({uuid.uuid4().hex[:6]})")
    console = f"{system.settings.url_of('workflow')}/console"

    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as http:  # no session
        assert (await http.get(f"{console}/complaints/{complaint_id}")).status_code == 303
        forged = await http.post(f"{console}/complaints/{complaint_id}/acknowledge", data={"csrf": "x"})
        assert forged.status_code == 303 and "/console/sign-in" in forged.headers["location"]

    # An agent of another group sees the complaint but no action; a forged form is refused with
    # the reason, and a form without the session's CSRF token never reaches the workflow.
    other = await sign_in(browser, system, "zhao.min")
    await other.goto(f"{console}/complaints/{complaint_id}")
    await expect(other.get_by_test_id("no-actions")).to_be_visible()
    csrf = await other.locator("header input[name=csrf]").get_attribute("value")
    refused = await other.request.post(
        f"{console}/complaints/{complaint_id}/acknowledge", form={"csrf": csrf, "action_key": "k1"}
    )
    assert refused.status == 403 and "not yours" in await refused.text()
    no_token = await other.request.post(f"{console}/complaints/{complaint_id}/acknowledge", form={"action_key": "k2"})
    assert no_token.status == 403 and (await no_token.json())["error"] == "csrf"
    bad_filter = await other.request.get(f"{console}?tier=9")
    assert bad_filter.status == 422 and (await bad_filter.json())["fields"][0]["field"] == "tier"
    opened = await other.goto(f"{console}?tier=9")  # typed into the address bar: a page, not JSON
    assert opened is not None and opened.status == 422
    await expect(other.get_by_role("heading", level=1)).to_contain_text("请求有误")
    await expect(other.locator("main li code")).to_have_text("tier")
    await other.goto(f"{console}/team")
    await expect(other.locator("[role=alert]")).to_contain_text("group leads")
    await shot(other, "7-agent-refused-team")

    # In Chinese a refusal reads in Chinese, a group by its title: of the person (403) and of the stage (409).
    other_zh = await sign_in(browser, system, "zhao.min", lang="zh")
    csrf = await other_zh.locator("header input[name=csrf]").get_attribute("value")
    refused = await other_zh.request.post(
        f"{console}/complaints/{complaint_id}/acknowledge", form={"csrf": csrf, "action_key": "k3"}
    )
    assert refused.status == 403 and "投诉在「一线服务组」，不是你所在的组" in await refused.text()
    handler_zh = await sign_in(browser, system, "zhou.ting", lang="zh")
    csrf = await handler_zh.locator("header input[name=csrf]").get_attribute("value")
    too_early = await handler_zh.request.post(
        f"{console}/complaints/{complaint_id}/post_progress", form={"csrf": csrf, "action_key": "k4", "message": "在查"}
    )
    text = await too_early.text()
    assert too_early.status == 409 and "投诉当前为「已分派」，不能更新进度；仅在处理中时可以" in text
    assert "cannot" not in text and "post progress" not in text
    # A key the page did not give (longer than an Update's id may be) is refused naming it: a 422, not
    # "the engine did not answer"; nothing is done.
    long_key = await handler_zh.request.post(
        f"{console}/complaints/{complaint_id}/acknowledge", form={"csrf": csrf, "action_key": "k" * 5000}
    )
    assert long_key.status == 422 and "action_key: a form&#39;s key is 1 to 200" in await long_key.text()
    long_key = await handler_zh.request.post(f"{console}/record", form={"csrf": csrf, "record_key": "k k"})
    assert long_key.status == 422 and "record_key: a form&#39;s key" in await long_key.text()

    # A wrong password says so (typed with the keyboard only), and signing out ends the session at once.
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{console}/sign-in")
    await expect(page.get_by_label("工号")).to_be_focused()  # the staff id field has the focus
    await page.keyboard.type("zhou.ting")
    await page.keyboard.press("Tab")
    await page.keyboard.type("not-the-password")
    await page.keyboard.press("Enter")
    await expect(page.locator("[role=alert]")).to_have_text("工号或密码错误")
    await expect(page.get_by_label("工号")).to_have_value("zhou.ting")
    owner = await sign_in(browser, system, "zhou.ting")
    await owner.get_by_role("button", name="Sign out").click()
    await expect(owner).to_have_url(re.compile(r"/console/sign-in$"))
    await owner.goto(f"{console}/complaints/{complaint_id}")
    await expect(owner).to_have_url(re.compile(r"/console/sign-in\?next="))


async def test_the_handler_sees_the_full_contact_on_asking_and_the_page_records_who_did(system, browser):
    n = uuid.uuid4().int % 10**8
    phone = f"+86 139-{n // 10**4:04d}-{n % 10**4:04d}"
    complaint_id = await submit(system, f"the agent was rude to me ({uuid.uuid4().hex[:6]})", phone=phone)
    console = f"{system.settings.url_of('workflow')}/console"

    agent = await sign_in(browser, system, "zhou.ting")  # front-line-service, where it went
    await agent.goto(f"{console}/complaints/{complaint_id}")
    facts = agent.locator("dl.facts")
    await expect(facts).to_contain_text("139****")
    assert phone not in await facts.inner_text()  # masked until asked for
    ask = agent.locator("details[data-action='show_contact']")
    await ask.locator("summary").click()
    await ask.get_by_label("Reason").select_option("call_back")
    await ask.get_by_role("button", name="Show the full contact").click()
    await expect(agent.get_by_test_id("contact")).to_contain_text(phone)
    await expect(agent.get_by_test_id("contact")).to_contain_text("shown to you, and recorded")
    call = agent.get_by_test_id("contact").get_by_role("link", name=phone)  # a phone's tap calls them
    await expect(call).to_have_attribute("href", f"tel:+86139{n:08d}")
    await expect(agent.get_by_test_id("contact-showings")).to_contain_text("Zhou Ting · calling them back")
    await shot(agent, "9-agent-full-contact")
    await agent.goto(f"{console}/complaints/{complaint_id}")  # for that answer only
    await expect(agent.get_by_test_id("contact")).to_have_count(0)
    assert phone not in await agent.locator("main").inner_text()

    # Another group's agent is not offered it, and a forged form is refused with the reason.
    other = await sign_in(browser, system, "zhao.min")
    await other.goto(f"{console}/complaints/{complaint_id}")
    await expect(other.locator("details[data-action='show_contact']")).to_have_count(0)
    await expect(other.get_by_test_id("contact-showings")).to_have_count(0)
    csrf = await other.locator("header input[name=csrf]").get_attribute("value")
    refused = await other.request.post(
        f"{console}/complaints/{complaint_id}/contact", form={"csrf": csrf, "purpose": "call_back"}
    )
    assert refused.status == 403 and "not yours" in await refused.text() and phone not in await refused.text()
    no_token = await other.request.post(f"{console}/complaints/{complaint_id}/contact", form={"purpose": "call_back"})
    assert no_token.status == 403 and (await no_token.json())["error"] == "csrf"
    no_reason = await agent.request.post(
        f"{console}/complaints/{complaint_id}/contact",
        form={"csrf": await agent.locator("header input[name=csrf]").get_attribute("value"), "purpose": "curious"},
    )
    assert no_reason.status == 422 and phone not in await no_reason.text()


async def test_an_agent_takes_down_a_complaint_made_at_the_counter(system, browser):
    n = uuid.uuid4().int % 10**8
    phone = f"+86 138-{n // 10**4:04d}-{n % 10**4:04d}"
    console = f"{system.settings.url_of('workflow')}/console"
    agent = await sign_in(browser, system, "zhou.ting")
    await agent.get_by_role("link", name="Record a complaint").click()
    await expect(agent).to_have_url(re.compile(r"/console/record$"))
    form = agent.get_by_test_id("record-form")
    await form.get_by_label("store").check()
    await form.get_by_label("Customer's name").fill("Wu Hao")
    await form.get_by_label("Description").fill(f"the headphones bought here have no sound on the left ({n})")
    await form.get_by_label("Happened").fill("2026-12-01T10:15")
    await form.get_by_role("button", name="Record a complaint").click()

    # Refused (no way to answer the customer): the form again, as typed, the box to fix marked.
    await expect(agent.get_by_test_id("error")).to_contain_text("give a phone or an email")
    await expect(form.get_by_label("Customer's name")).to_have_value("Wu Hao")
    await expect(form.get_by_label("Phone")).to_have_attribute("aria-invalid", "true")
    await form.get_by_label("Phone").fill(phone)
    await shot(agent, "12-agent-records-a-complaint")
    await form.get_by_role("button", name="Record a complaint").click()

    await expect(agent).to_have_url(re.compile(r"/console/complaints/[0-9]{8}-[0-9A-F]{8}\?done=recorded$"))
    complaint_id = re.search(r"complaints/([^?]+)", agent.url).group(1)
    await expect(agent.get_by_test_id("done")).to_contain_text("complaint recorded")
    for _ in range(60):  # the page waits a moment for its start; on a busy machine it may say it waits
        if not await agent.get_by_test_id("not-started").count():
            break
        await agent.wait_for_timeout(500)
        await agent.reload()
    facts = agent.locator("dl.facts")
    await expect(facts).to_contain_text("store · recorded by Zhou Ting")
    await expect(facts).to_contain_text("2026-12-01 10:15")
    await expect(facts).to_contain_text("138****")
    assert phone not in await facts.inner_text()
    # Not hers to handle, but hers to follow: she adds what the customer says when they call again.
    await expect(agent.locator("details[data-action='acknowledge']")).to_have_count(0)
    await act(agent, "add_note", {"text": "called again: the left ear crackles too"}, done="Internal note")
    await expect(agent.locator("main")).to_contain_text("the left ear crackles too")

    # It went to another group's queue (tier 2: senior agents), yet she follows what she took
    # down (source 001: the first to receive a complaint follows it to its close).
    workflow = system.settings.url_of("workflow")
    async with httpx.AsyncClient(timeout=30, headers=await system.staff_headers("zhou.ting")) as http:
        view = (await http.get(f"{workflow}/v1/complaints/{complaint_id}")).json()
        mine = {"recorded_by": "zhou.ting", "include_closed": "true"}

        async def listed() -> bool:
            found = (await http.get(f"{workflow}/v1/complaints", params=mine)).json()
            return complaint_id in {i["complaint_id"] for i in found}

        await eventually(listed)  # the staff API's filter, as the page's list
    assert view["group"] not in ("front-line-service", "front-line-general"), view["group"]
    await agent.goto(console)
    row = f"tr[data-complaint='{complaint_id}']"
    await expect(agent.get_by_test_id("taken-down").locator(row)).to_be_visible()
    await expect(agent.locator(row)).to_have_count(1)  # there only: not in a queue of hers
    other = await sign_in(browser, system, "zhao.min")  # who took nothing down: no such list
    await expect(other.get_by_test_id("taken-down")).to_have_count(0)

    # A caller whose complaint came in by another channel and went to another group: the agent
    # finds it by the number they give, in every queue, not only in her own.
    m = uuid.uuid4().int % 10**8
    elsewhere = await submit(
        system, f"charged twice for order {m}, refund me", phone=f"+86 137-{m // 10**4:04d}-{m % 10**4:04d}"
    )
    async with httpx.AsyncClient(timeout=30, headers=await system.staff_headers("zhou.ting")) as http:
        await eventually(lambda: _stage_is(http, f"{workflow}/v1/complaints/{elsewhere}", "assigned"))
    await agent.get_by_role("link", name="Record a complaint").click()  # the form asks this first
    await agent.get_by_label("has the customer complained before?").fill(f"137{m:08d}")
    await agent.get_by_role("button", name="Find").click()
    await expect(agent.get_by_test_id("queue").locator(f"tr[data-complaint='{elsewhere}']")).to_be_visible()
    await expect(agent.locator("#h-queue")).to_contain_text("Found in every queue")

    # The same form sent again (a double click, a reload) records nothing new.
    csrf = await agent.locator("header input[name=csrf]").get_attribute("value")
    await agent.goto(f"{console}/record")
    key = await agent.locator("input[name=record_key]").get_attribute("value")
    fields = {"csrf": csrf, "record_key": key, "channel": "hotline", "customer_name": "Wu Hao", "phone": phone,
              "description": f"my parcel was left in the rain and the box is soaked ({n})"}  # fmt: skip
    sent = [await agent.request.post(f"{console}/record", form=fields, max_redirects=0) for _ in range(2)]
    assert [r.status for r in sent] == [303, 303]
    assert sent[0].headers["location"] == sent[1].headers["location"] != f"/console/complaints/{complaint_id}"

    # Not offered to an admin account, refused if forged, and refused without the form's token.
    admin = await sign_in(browser, system, "ops.admin")
    await expect(admin.get_by_role("link", name="Record a complaint")).to_have_count(0)
    refused = await admin.goto(f"{console}/record")
    assert refused is not None and refused.status == 403
    admin_csrf = await admin.locator("header input[name=csrf]").get_attribute("value")
    forged = await admin.request.post(f"{console}/record", form={**fields, "csrf": admin_csrf, "record_key": "x"})
    assert forged.status == 403 and "admin" in await forged.text()
    no_token = await agent.request.post(f"{console}/record", form={**fields, "csrf": ""})
    assert no_token.status == 403 and (await no_token.json())["error"] == "csrf"


async def test_a_lead_hands_an_absent_persons_complaints_over_on_the_team_page(system, browser):
    complaint_id = await submit(system, f"charged twice for order {uuid.uuid4().hex[:8]}, refund me")
    workflow = system.settings.url_of("workflow")
    async with httpx.AsyncClient(timeout=30, headers=await system.staff_headers("wang.fang")) as http:
        complaint = f"{workflow}/v1/complaints/{complaint_id}"
        await eventually(lambda: _stage_is(http, complaint, "assigned"))
        taken = await http.post(f"{complaint}/assign", json={"assignee": "liu.yang"})
        assert taken.status_code == 200 and taken.json()["group"] == "senior-agents", taken.text
        # She also owns an improvement action of a review of it, which would wait for her too.
        action = {"action": "call refund callers back", "owner": "liu.yang", "due_at": "2099-03-01T09:00:00+08:00"}
        review = {"complaint_id": complaint_id, "what": "charged twice", "why": "a retry", "who": "payments",
                  "when": "today", "where": "app", "how": "refunded", "actions": [action]}  # fmt: skip
        reporting = system.settings.url_of("reporting")

        async def reviewed():
            answer = await http.post(f"{reporting}/v1/reviews", json=review)
            return answer if answer.status_code != 422 else None  # the reports follow the feed

        assert (await eventually(reviewed)).status_code == 201

        manager = await sign_in(browser, system, "wang.fang")
        await manager.goto(f"{workflow}/console/team")
        hand_over = manager.get_by_role("button", name="Hand over to colleagues on duty: liu.yang")
        await expect(hand_over).to_have_count(0)  # offered only once she is off duty
        await manager.get_by_role("button", name="Go off duty: liu.yang").click()
        try:
            await hand_over.click()
            handed = manager.get_by_test_id("handed-over")
            await expect(handed).to_contain_text("Complaints handed over from Liu Yang")
            await expect(handed.get_by_role("listitem").filter(has_text=complaint_id)).to_contain_text("Chen Jie")
            await shot(manager, "13-lead-hands-over")
            await expect(manager.get_by_role("button", name="Hand over to colleagues on duty: liu.yang")).to_have_count(
                0
            )  # nothing of hers left to hand over
            # Her open improvement actions, on the dashboard through the console's sign-in: given on.
            await handed.get_by_role("link", name="Their open improvement actions").click()
            await expect(manager.get_by_test_id("owner-shown")).to_contain_text("Liu Yang (liu.yang)")
            await expect(manager.get_by_test_id("owner-shown")).to_contain_text("off duty")
            card = manager.get_by_test_id("review").filter(has_text=complaint_id)
            row = card.locator("tr").filter(has_text="call refund callers back")
            await expect(row.get_by_test_id("owner-off-duty")).to_have_count(1)
            await row.get_by_label("Give to").select_option("chen.jie")
            await row.get_by_role("button", name="Give to").click()
            await expect(row).to_contain_text("Chen Jie (chen.jie)")
            await expect(row).to_contain_text("given from Liu Yang (liu.yang) by Wang Fang (wang.fang)")
            await expect(row.get_by_test_id("owner-off-duty")).to_have_count(0)  # Chen Jie is on duty
            await shot(manager, "13b-lead-gives-an-action")
        finally:
            assert (await http.put(f"{workflow}/v1/staff/liu.yang/duty", json={"on_duty": True})).status_code == 200
        assert (await http.get(complaint)).json()["assignee"] == "chen.jie"

    # Not for an agent, even with a forged form.
    agent = await sign_in(browser, system, "zhou.ting")
    csrf = await agent.locator("header input[name=csrf]").get_attribute("value")
    forged = await agent.request.post(f"{workflow}/console/team/hand-over/liu.yang", form={"csrf": csrf})
    assert forged.status == 403 and "only a group lead or above may hand someone&#39;s complaints over" in (
        await forged.text()
    )
    # In Chinese, the Team page's forms say why in Chinese, on the console's page.
    agent_zh = await sign_in(browser, system, "zhou.ting", lang="zh")
    csrf = await agent_zh.locator("header input[name=csrf]").get_attribute("value")
    for path, doing in (("hand-over/liu.yang", "移交他人的投诉"), ("duty/liu.yang", "设置他人的值班状态")):
        forged = await agent_zh.request.post(f"{workflow}/console/team/{path}", form={"csrf": csrf, "on_duty": "no"})
        text = await forged.text()
        assert forged.status == 403 and f"只有组长及以上可以{doing}；你是客服专员" in text, text
        assert "only a group lead" not in text and 'data-testid="signed-in-as"' in text


async def _stage_is(http: httpx.AsyncClient, complaint: str, stage: str) -> bool:
    return (await http.get(complaint)).json().get("stage") == stage


async def test_a_declined_transfer_is_on_the_common_superiors_desk(system, browser):
    complaint_id = await submit(system, f"the agent was rude and hung up on me ({uuid.uuid4().hex[:6]})")
    complaint = f"{system.settings.url_of('workflow')}/v1/complaints/{complaint_id}"
    async with httpx.AsyncClient(timeout=30, headers=await system.staff_headers("zhou.ting")) as http:
        await eventually(lambda: _stage_is(http, complaint, "assigned"))
        assert (await http.post(f"{complaint}/acknowledge")).status_code == 200
        asked = await http.post(f"{complaint}/transfer", json={"to_group": "liaison-product", "reason": "a defect?"})
        assert asked.status_code == 200, asked.text
    async with httpx.AsyncClient(timeout=30, headers=await system.staff_headers("zheng.li")) as http:
        declined = await http.post(f"{complaint}/transfer/decline", json={"reason": "rudeness is not a defect"})
        assert declined.status_code == 200, declined.text

    # Both groups answer to the group leads (routing.toml): the disagreement is on their desk.
    lead = await sign_in(browser, system, "liu.yang")
    disputed = lead.get_by_test_id("alerts").locator("li").filter(has_text=complaint_id)
    await expect(disputed).to_contain_text("transfer disputed")
    agent = await sign_in(browser, system, "zhao.min")  # neither group's superior
    await expect(agent.locator("li").filter(has_text=complaint_id)).to_have_count(0)


async def test_the_second_follow_up_is_done_on_the_page_that_shows_what_the_customer_said(system, browser):
    """A dissatisfied customer's scores and words are on the complaint page for whoever calls
    them back, and what that call did is on it afterwards."""
    complaint_id, status_url = await submit_new(system, channel="app", description="the agent was rude to me")
    async with httpx.AsyncClient(timeout=30, headers=await system.staff_headers("zhou.ting")) as staff:
        complaint = f"{system.settings.url_of('workflow')}/v1/complaints/{complaint_id}"
        await eventually(lambda: _stage_is(staff, complaint, "assigned"))
        assert (await staff.post(f"{complaint}/acknowledge")).status_code == 200
        result = {"cause": "a rude agent", "measures_taken": "apologised", "improvement_plan": "coaching"}
        assert (await staff.post(f"{complaint}/resolve", json=result)).status_code == 200
        await eventually(lambda: _stage_is(staff, complaint, "awaiting_survey"))
    async with httpx.AsyncClient(timeout=30) as customer:
        said = {
            "satisfaction_result": 2,
            "satisfaction_speed": 4,
            "suggestion": "道歉不够诚恳，退款也还没到账，请打13812345678",
        }
        assert (await customer.post(f"{status_url}/survey", json=said)).status_code == 200

    handler = await sign_in(browser, system, "zhou.ting", lang="zh")
    await handler.goto(f"{system.settings.url_of('workflow')}/console/complaints/{complaint_id}")
    await expect(handler.get_by_test_id("stage")).to_have_text("二次回访")
    survey = handler.get_by_test_id("survey")
    await expect(survey).to_contain_text("对处理结果2/5")
    await expect(survey).to_contain_text("对处理速度4/5")
    await expect(survey).to_contain_text("客户的意见道歉不够诚恳，退款也还没到账，请打138****5678")  # masked
    timeline = handler.get_by_test_id("timeline")
    await expect(timeline.locator("li").filter(has_text="满意度已回复")).to_contain_text("对结果满意度: 2")
    await expect(handler.locator("main")).not_to_contain_text("13812345678")
    await act(
        handler,
        "record_follow_up",
        {"outcome": "致电客户再次致歉，退款已加急", "extra_compensation": "20 元优惠券"},
        done="记录二次回访",
    )
    follow_up = handler.get_by_test_id("follow-up")
    await expect(follow_up).to_contain_text("致电客户再次致歉，退款已加急")
    await expect(follow_up).to_contain_text("20 元优惠券")
    await expect(follow_up).to_contain_text("Zhou Ting")
    await shot(handler, "14-second-follow-up")
    # The customer has it in writing, as they had the first result.
    async with httpx.AsyncClient(timeout=30) as customer:

        async def written_to_customer() -> bool:
            messages = (await customer.get(status_url)).json()["messages"]
            return any("退款已加急" in m["body"] and "20 元优惠券" in m["body"] for m in messages)

        await eventually(written_to_customer)
    # The alert that asked for it says where the complaint is now.
    await handler.get_by_role("link", name="我的工作").click()
    asked = handler.get_by_test_id("alerts").locator("li").filter(has_text=complaint_id)
    await expect(asked).to_contain_text("需二次回访")
    await expect(asked).to_contain_text("(现为 已办结)")

    # The manager reads why customers were dissatisfied beside what was done, on the dashboard.
    manager = await sign_in(browser, system, "wang.fang", lang="zh")
    await manager.get_by_role("link", name="报表").click()
    await shown_after_reload(manager, "dissatisfied", "致电客户再次致歉")
    row = manager.get_by_test_id("dissatisfied").locator("tr").filter(has_text=complaint_id)
    await expect(row).to_contain_text("2/5 · 4/5")
    await expect(row).to_contain_text("道歉不够诚恳，退款也还没到账，请打138****5678")
    await expect(row).to_contain_text("服务态度")


async def test_a_manager_reads_the_dashboard_linked_from_the_console(system, browser):
    complaint_id = await submit(system, f"the agent was rude to me ({uuid.uuid4().hex[:6]})")
    manager = await sign_in(browser, system, "wang.fang")
    handed = []
    manager.on("request", lambda r: handed.append(r.url) if "/dashboard/handoff" in r.url else None)
    # The reporting service, signed in as who the console has: no second password.
    await manager.get_by_role("link", name="Reports").click()
    await expect(manager).to_have_url(re.compile(r"/dashboard$"))
    await expect(manager.get_by_test_id("signed-in-as")).to_have_text("Wang Fang (wang.fang, manager)")
    figures = manager.get_by_test_id("figures")
    await expect(figures).to_contain_text("Responses within target")
    await expect(figures).to_contain_text("target ≥ 95 %")
    await shown_after_reload(manager, "stages", "assigned")  # the projection follows the feed
    await expect(manager.get_by_test_id("heat-map")).to_contain_text("service attitude")
    await expect(manager.get_by_test_id("trend")).to_be_visible()
    await expect(manager.get_by_test_id("trend").locator("circle").first).to_be_attached()  # a day, as a dot
    # The departments by their titles from the routing configuration, which the reports keep as ids.
    service_desk = manager.get_by_test_id("departments").locator("tr[data-group='front-line-service']")
    await expect(service_desk.locator("th")).to_have_text("Front line, service")
    await expect(manager.get_by_test_id("departments")).not_to_contain_text("front-line-service")
    # Source 000's report by tier: how long the first response and the resolution took, how many were late.
    by_tier = manager.get_by_test_id("by-tier")
    for heading in ("first response", "resolution", "Average time", "Late", "Escalations by level"):
        await expect(by_tier.locator("thead")).to_contain_text(heading)
    await expect(by_tier.locator("tr[data-tier='3'] td").first).to_have_text(re.compile(r"^[1-9]\d*$"))
    # Source 003's distributions, the most frequent first, in words.
    spread = manager.get_by_test_id("distribution")
    await expect(spread.locator("table[data-dimension='type']")).to_contain_text("service attitude")
    await expect(spread.locator("table[data-dimension='channel']")).to_contain_text("hotline")
    await expect(spread.locator("table[data-dimension='urgency'] caption")).to_have_text("Urgency")
    # The period's reports for a spreadsheet, downloaded with the dashboard's session; nobody else's.
    reporting = system.settings.url_of("reporting")
    href = (
        await manager.get_by_test_id("downloads").get_by_role("link", name="Timeliness by tier").get_attribute("href")
    )
    assert href is not None and re.fullmatch(r"/dashboard/reports/timeliness\.csv\?start=[\d-]+&end=[\d-]+", href)
    downloaded = await manager.request.get(f"{reporting}{href}")
    assert downloaded.status == 200 and downloaded.headers["content-type"].startswith("text/csv")
    assert (await downloaded.text()).startswith("tier,complaints,target,")
    async with httpx.AsyncClient(timeout=10) as http:  # without a session: to sign in, no file
        for cookie in ({}, {"Cookie": "dashboard_session=not-a-session"}):
            refused = await http.get(f"{reporting}{href}", headers=cookie)
            assert refused.status_code == 303 and refused.headers["location"] == "/dashboard/sign-in"
    await shot(manager, "8-manager-dashboard")
    assert complaint_id  # submitted above: today's complaints are on the dashboard

    # Another period, chosen on the page; the language switch keeps it; a start after the end is refused.
    await manager.get_by_label("From").fill("2026-01-01")
    await manager.get_by_label("To", exact=True).fill("2026-01-31")
    await manager.get_by_role("button", name="Show", exact=True).click()
    await expect(manager).to_have_url(re.compile(r"/dashboard\?start=2026-01-01&end=2026-01-31$"))
    await expect(manager.locator("h1")).to_contain_text("2026-01-01 – 2026-01-31")
    await expect(manager.locator("section[aria-labelledby=h-tiers]")).to_contain_text("No complaints in the period.")
    await manager.get_by_role("link", name="中文").click()
    await expect(manager.locator("h1")).to_contain_text("2026-01-01 – 2026-01-31")
    await expect(manager.locator("section[aria-labelledby=h-tiers] h2")).to_contain_text("各等级时效")
    await manager.get_by_role("link", name="English").click()
    refused = await manager.goto(f"{system.settings.url_of('reporting')}/dashboard?start=2026-02-01&end=2026-01-01")
    assert refused is not None and refused.status == 422
    await expect(manager.locator("main li code")).to_have_text("start")
    await manager.goto(f"{system.settings.url_of('reporting')}/dashboard")

    # The policy simulator: today's complaints replayed against a proposal beside the policy in force.
    await manager.get_by_role("link", name=re.compile("Try a policy")).click()
    policy = manager.get_by_label("Proposed policy (TOML)")
    text = await policy.input_value()
    await policy.fill(text.replace("version = 4", "version = 5", 1))
    await manager.get_by_role("button", name="Simulate").click()
    result = manager.get_by_test_id("simulation")
    await expect(result).to_contain_text("proposed default@v5")
    await expect(result).to_contain_text("in force default@v4")
    await expect(result).to_contain_text("0 complaints would change")  # the same numbers: nothing changes
    await manager.get_by_label("Proposed policy (TOML)").fill("name = 'broken'")
    await manager.get_by_role("button", name="Simulate").click()
    await expect(manager.locator("[role=alert]")).to_contain_text("policy:")
    await shot(manager, "9-manager-simulator")

    # In Chinese, the figures and the domain's codes alike; and back to the console from the header.
    await manager.get_by_role("link", name="中文").click()
    await expect(manager.get_by_role("heading", name="时效政策模拟")).to_be_visible()
    await manager.goto(f"{system.settings.url_of('reporting')}/dashboard")
    await expect(manager.get_by_test_id("figures")).to_contain_text("按时响应率")
    await expect(manager.get_by_test_id("heat-map")).to_contain_text("服务态度")
    await expect(manager.get_by_test_id("distribution")).to_contain_text("热线电话")
    await expect(manager.get_by_test_id("stages")).to_contain_text("已分派")
    await expect(service_desk.locator("th")).to_have_text("一线服务组")
    for code in ("Responses within target", "service attitude", "assigned", "breached"):
        await expect(manager.locator("main")).not_to_contain_text(code)
    await shot(manager, "10-manager-dashboard-zh")
    await manager.set_viewport_size({"width": 390, "height": 844})  # on a phone the wide tables scroll, the page not
    assert await manager.evaluate("document.documentElement.scrollWidth") <= 390
    await manager.set_viewport_size({"width": 1280, "height": 900})
    await manager.get_by_role("link", name="投诉工作台").click()
    await expect(manager.get_by_test_id("signed-in-as")).to_contain_text("wang.fang")  # still signed in there

    # The handoff's link works once: opened again (a copied URL, a browser's history), it asks to sign in.
    assert len(handed) == 1 and "code=" in handed[0]
    stranger = await browser.new_page()
    await stranger.goto(handed[0])
    await expect(stranger.locator("[role=alert]")).to_contain_text("used or has expired")
    await expect(stranger.get_by_label("Password · 密码")).to_be_visible()

    # An agent handed over is the agent there: the dashboard is for group leads and up.
    agent = await sign_in(browser, system, "zhou.ting")
    await expect(agent.get_by_role("link", name="Reports")).to_have_count(0)
    await agent.goto(f"{system.settings.url_of('workflow')}/console/reports")
    await expect(agent).to_have_url(re.compile(r"/dashboard$"))
    await expect(agent.locator("main")).to_contain_text("group leads and up")
    assert (await agent.request.get(f"{reporting}{href}")).status == 403  # nor the reports' files
    await agent.goto(f"{system.settings.url_of('reporting')}/dashboard/sign-in")
    await agent.get_by_label("Staff id · 工号").fill("zhou.ting")
    await agent.get_by_label("Password · 密码").fill(system.ensure_demo_password())
    await agent.get_by_role("button", name="Sign in · 登录").click()
    await expect(agent.locator("[role=alert]")).to_contain_text("group leads and up")


async def test_a_manager_erases_a_customers_personal_data_from_the_complaint_page(system, browser):
    complaint_id = await submit(system, f"please delete my data ({uuid.uuid4().hex[:6]})")
    console = f"{system.settings.url_of('workflow')}/console"

    # Only managers are offered it; an agent's forged form is refused and nothing is recorded.
    agent = await sign_in(browser, system, "zhou.ting")
    await agent.goto(f"{console}/complaints/{complaint_id}")
    await expect(agent.locator("details[data-action='erase']")).to_have_count(0)
    csrf = await agent.locator("header input[name=csrf]").get_attribute("value")
    forged = await agent.request.post(
        f"{console}/complaints/{complaint_id}/erase",
        form={"csrf": csrf, "action_key": "k1", "basis": "the customer asked", "confirm": "yes"},
    )
    assert forged.status == 403 and "only a manager" in await forged.text()

    manager = await sign_in(browser, system, "wang.fang")
    await manager.goto(f"{console}/complaints/{complaint_id}")
    form = manager.locator("details[data-action='erase']")
    await form.locator("summary").click()
    await form.get_by_label("Basis").fill("the customer asked by hotline, ticket 4711")
    # Without the box ticked the browser does not send it; a request that skips the browser is refused.
    await form.get_by_role("button", name="Erase the customer's personal data").click()
    await expect(form.locator("[name=confirm]")).to_have_js_property("validity.valid", False)
    csrf = await manager.locator("header input[name=csrf]").get_attribute("value")
    unconfirmed = await manager.request.post(
        f"{console}/complaints/{complaint_id}/erase", form={"csrf": csrf, "action_key": "k2", "basis": "asked"}
    )
    assert unconfirmed.status == 422 and "tick the box" in await unconfirmed.text()

    await form.get_by_label(re.compile("cannot be undone")).check()
    key = await form.locator("[name=action_key]").input_value()
    await form.get_by_role("button", name="Erase the customer's personal data").click()
    await expect(manager.get_by_test_id("done")).to_contain_text("Erase the customer's personal data")
    # Still being handled: recorded now, erased when it closes.
    await shown_after_reload(manager, "erasures", "waiting for")
    erasures = manager.get_by_test_id("erasures")
    await expect(erasures).to_contain_text("Wang Fang")  # who asked, by name
    await expect(erasures).to_contain_text(complaint_id)
    await expect(erasures.locator("li")).to_have_count(1)
    resent = await manager.request.post(  # the same form sent again (a reload, a double click) asks once
        f"{console}/complaints/{complaint_id}/erase",
        form={"csrf": csrf, "action_key": key, "basis": "the customer asked by hotline, ticket 4711", "confirm": "yes"},
    )
    assert resent.ok
    async with httpx.AsyncClient(timeout=30, headers=await system.staff_headers("wang.fang")) as http:
        register = (await http.get(f"{system.settings.url_of('workflow')}/v1/erasures")).json()
    mine = [r for r in register if r["complaint_id"] == complaint_id]
    # The form's key names the erasure (its workflow id), so a resend finds the one already asked.
    assert [r["erasure_id"] for r in mine] == [str(uuid.uuid5(uuid.NAMESPACE_URL, f"erasure/wang.fang/console:{key}"))]
    await manager.reload()
    await expect(erasures.locator("li")).to_have_count(1)
    await shot(manager, "9-manager-erasure")


async def test_a_person_changes_their_password_in_the_console(system, browser):
    """From the header of any page; the form says what is wrong in words; the session goes on and
    the new password signs in. (chen.jie: no other test here signs in as them.)"""
    demo = system.settings.demo_password.get_secret_value()
    page = await sign_in(browser, system, "chen.jie")
    await page.get_by_role("link", name="Change password").click()
    await page.get_by_label("Current password").fill(demo)
    await page.get_by_label("New password", exact=True).fill("chen.jie likes tea")
    await page.get_by_label("New password again").fill("chen.jie likes tea")
    await page.get_by_role("button", name="Change password").click()
    await expect(page.get_by_test_id("error")).to_have_text("The new password must not contain your staff id")
    await page.get_by_label("Current password").fill(demo)
    await page.get_by_label("New password", exact=True).fill("green tea in the morning")
    await page.get_by_label("New password again").fill("green tea in the morning")
    await page.get_by_role("button", name="Change password").click()
    await expect(page.get_by_test_id("done")).to_contain_text("Password changed")
    await shot(page, "11-password-changed")
    await page.get_by_role("link", name="My work").click()  # still signed in here
    await expect(page.get_by_test_id("signed-in-as")).to_contain_text("chen.jie")
    async with httpx.AsyncClient(timeout=30, base_url=system.settings.url_of("workflow")) as http:
        for password, status in ((demo, 401), ("green tea in the morning", 200)):
            answer = await http.post("/v1/auth/token", json={"staff_id": "chen.jie", "password": password})
            assert answer.status_code == status


async def test_what_the_customer_said_when_they_wrote_again_is_on_the_complaint_page(system, browser):
    """A second message from the customer about the same matter is linked to their complaint, not
    a new one: its words are on the complaint's page, so nobody asks them to repeat the story."""
    phone = f"+86 137-{uuid.uuid4().int % 10**4:04d}-{uuid.uuid4().int % 10**4:04d}"
    first = await submit(system, "my parcel is three days late and nobody answers the phone", phone)
    again = await submit(system, "my parcel is three days late, and now the box arrived crushed", phone, "app")
    assert again == first  # linked: the same complaint
    manager = await sign_in(browser, system, "wang.fang")
    await manager.goto(f"{system.settings.url_of('workflow')}/console/complaints/{first}")
    await shown_after_reload(manager, "wrote-again", "the box arrived crushed")
    wrote_again = manager.get_by_test_id("wrote-again")
    await expect(wrote_again.locator("li")).to_have_count(1)
    await expect(wrote_again).to_contain_text("app")  # the channel it came by
    await expect(manager.locator("dl.facts")).to_contain_text("nobody answers the phone")  # the first, as received


async def test_a_message_the_customer_never_received_is_on_the_complaint_page(system, browser):
    """The only address the customer gave refuses mail: their receipt fails for good, and the
    complaint's page says so, what failed and why, and how to reach them instead."""
    assert system.mail is not None
    address = f"no.such.box.{uuid.uuid4().hex[:8]}@example.com"
    refused_before = system.mail.handler.refuse
    system.mail.handler.refuse = lambda to: refused_before(to) or to == address
    try:
        complaint = await submit(
            system, "charged twice for one order", more={"customer": {"phone": None, "email": address}}
        )
        manager = await sign_in(browser, system, "wang.fang")
        await manager.goto(f"{system.settings.url_of('workflow')}/console/complaints/{complaint}")
        await shown_after_reload(manager, "not-reached", "550")
    finally:
        system.mail.handler.refuse = refused_before
    never = manager.get_by_test_id("not-reached")
    await expect(never.locator("li")).to_have_count(1)
    await expect(never).to_contain_text(re.compile(r"receipt|after-hours reply"))  # the auto-reply after hours
    await expect(never).to_contain_text("Reach them another way")
    await expect(never).not_to_contain_text(address)
    await shot(manager, "customer-not-reached")
    await manager.goto(f"{system.settings.url_of('workflow')}/console")  # My work marks it in the queue
    row = manager.locator("tr", has=manager.locator(f'a[href="/console/complaints/{complaint}"]'))
    await expect(row.get_by_test_id("not-reached-mark")).to_have_text("customer not reached")

    # Called: recorded on the complaint, the notice and the mark are gone.
    await manager.goto(f"{system.settings.url_of('workflow')}/console/complaints/{complaint}")
    fields = {"how": "phone", "note": "told them we have it and will call on Monday"}
    await act(manager, "customer_reached", fields, done="Reached the customer another way")
    await expect(manager.get_by_test_id("not-reached")).to_have_count(0)
    await expect(manager.get_by_test_id("timeline")).to_contain_text("Customer reached another way")
    await expect(manager.locator("details[data-action='customer_reached']")).to_have_count(0)  # nothing left to do
    await manager.goto(f"{system.settings.url_of('workflow')}/console")
    await expect(row).to_be_visible()
    await expect(row.get_by_test_id("not-reached-mark")).to_have_count(0)


async def test_a_handler_asks_other_departments_and_their_liaison_answers_on_the_page(system, browser):
    """Source 002's joint consultation: the handler asks two departments at once, the asked
    liaison finds it on My work and answers; the handler reads the answer on the complaint page.
    Someone of neither group is offered no answer, and refused one through the staff API."""
    complaint_id = await submit(
        system, f"the agent was rude when I asked why my invoice changed ({uuid.uuid4().hex[:6]})"
    )
    complaint = f"{system.settings.url_of('workflow')}/v1/complaints/{complaint_id}"
    async with httpx.AsyncClient(timeout=30, headers=await system.staff_headers("zhou.ting")) as http:
        await eventually(lambda: _stage_is(http, complaint, "assigned"))
        assert (await http.post(f"{complaint}/acknowledge")).status_code == 200

    agent = await sign_in(browser, system, "zhou.ting")
    await agent.goto(f"{system.settings.url_of('workflow')}/console/complaints/{complaint_id}")
    form = agent.locator("details[data-action='consult']")
    await form.locator("summary").click()
    await form.locator("textarea[name='question']").fill("did the 14:00 release renumber invoices?")
    await form.locator("button[type=submit]").click()  # no department ticked: refused, naming the box
    await expect(agent.locator("[role=alert]")).to_contain_text("Departments to ask: choose at least 1")
    form = agent.locator("details[data-action='consult']")
    if await form.get_attribute("open") is None:
        await form.locator("summary").click()
    await form.get_by_label("Product liaison").check()
    await form.get_by_label("Operations liaison").check()
    await form.locator("textarea[name='question']").fill("did the 14:00 release renumber invoices?")
    await form.locator("button[type=submit]").click()
    await expect(agent.get_by_test_id("done")).to_contain_text("Ask other departments")
    asked = agent.get_by_test_id("consultations")
    await expect(asked.locator("li[data-group]")).to_have_count(2)
    await expect(asked).to_contain_text("no answer yet")
    await expect(asked.get_by_test_id("answer-by")).to_have_count(2)  # the policy's consultation_answer
    await expect(agent.get_by_test_id("deadlines")).to_contain_text("consultation answer")
    await expect(agent.locator("details[data-action='answer_consultation']")).to_have_count(0)  # not asked of her

    liaison = await sign_in(browser, system, "zheng.li")
    consulted_row = liaison.get_by_test_id("consulted").locator(f"tr[data-complaint='{complaint_id}']")
    await expect(consulted_row.get_by_test_id("answer-by")).to_have_count(1)  # counts down to her answer's deadline
    await liaison.get_by_test_id("consulted").get_by_role("link", name=complaint_id).click()
    await expect(liaison.locator("details[data-action='acknowledge']")).to_have_count(0)  # it is not hers to handle
    answering = liaison.locator("details[data-action='answer_consultation']")
    await expect(answering.locator("select[name='group']")).to_have_count(0)  # she is in one asked group only
    answer = "yes: the fix goes out at 18:00; her other line 13812345678 was charged too"
    await act(liaison, "answer_consultation", {"answer": answer}, done="Answer for")
    await expect(liaison.get_by_test_id("consultations")).to_contain_text("yes: the fix goes out at 18:00")

    await agent.reload()
    product = agent.get_by_test_id("consultations").locator("li[data-group='liaison-product']")
    await expect(product).to_contain_text("Zheng Li")
    await expect(product).to_contain_text("yes: the fix goes out at 18:00")
    await expect(product).to_contain_text("her other line 138****5678")  # typed into staff's words: masked
    await expect(product.get_by_test_id("answer-by")).to_have_count(0)  # answered
    await shot(agent, "13-consultation-answered")
    await agent.goto(f"{system.settings.url_of('workflow')}/console")
    answered = agent.get_by_test_id("alerts").locator("li").filter(has_text=complaint_id)
    await expect(answered.filter(has_text="consultation answered")).to_have_count(1)

    async with httpx.AsyncClient(timeout=30, headers=await system.staff_headers("zhao.min")) as http:
        refused = await http.post(f"{complaint}/consultations/answers", json={"answer": "not ours"})
        assert refused.status_code == 403 and "none of them is yours" in refused.json()["message"]


async def test_a_manager_writes_a_root_cause_review_and_marks_its_overdue_action_done(system, browser):
    complaint_id = await submit(system, f"the agent was rude to me again ({uuid.uuid4().hex[:6]})")
    manager = await sign_in(browser, system, "wang.fang")
    await manager.get_by_role("link", name="Reports").click()
    await manager.get_by_role("link", name="Root-cause reviews").click()
    await expect(manager.get_by_role("heading", name="Root-cause reviews")).to_be_visible()
    await manager.get_by_text("New review").click()  # the form opens on asking; the reviews come first
    form = manager.get_by_test_id("review-form")

    async def fill(complaint: str) -> None:
        await form.get_by_label("Complaint id").fill(complaint)
        words = {
            "What happened": "a customer was shouted at on the hotline",
            "Why: the root cause": "a new agent without coaching, call 13812345678 for details",
            "Who was involved": "front-line service",
            "When": "2026-11-30 morning",
            "Where": "hotline",
            "How it came about and was handled": "apologised, refunded",
        }
        for field, text in words.items():
            await form.get_by_label(field, exact=True).fill(text)
        await form.get_by_label("Action 1").fill("coach the agent")
        await form.get_by_label("Owner 1").select_option("zhou.ting")
        await form.get_by_label("Due 1").fill("2026-11-01T09:00")
        await form.get_by_label("Action 2").fill("update the call script")
        await form.get_by_label("Owner 2").select_option("liu.yang")
        await form.get_by_label("Due 2").fill("2099-01-01T09:00")

    # A complaint the reports do not know: refused in words, naming the field, the form kept.
    await fill("20990101-NOPE")
    await form.get_by_role("button", name="Write the review").click()
    await expect(manager.locator("[role=alert]")).to_contain_text("complaint_id: no complaint 20990101-NOPE")
    await expect(form.get_by_label("Where")).to_have_value("hotline")
    await expect(manager.get_by_test_id("review").filter(has_text="20990101-NOPE")).to_have_count(0)

    # The same form sent twice (a double click, a retry): one review.
    await form.get_by_label("Complaint id").fill(complaint_id)
    for _ in range(60):  # the reports follow the feed: the complaint is there within seconds
        statuses = await manager.evaluate(
            """async () => { const f = document.getElementById('review-form'); const out = [];
                for (const _ of [1, 2])
                    out.push((await fetch(f.action, {method: 'POST', body: new FormData(f)})).status);
                return out; }"""
        )
        if statuses != [422, 422]:
            break
        await manager.wait_for_timeout(500)
    assert statuses == [200, 200], statuses  # each followed the redirect to the list
    await manager.goto(f"{system.settings.url_of('reporting')}/dashboard/reviews")
    review = manager.get_by_test_id("review").filter(has_text=complaint_id)
    await expect(review).to_have_count(1)
    await expect(review).to_contain_text("138****5678")  # the words are kept masked
    await expect(review).not_to_contain_text("13812345678")
    coach = review.locator("tr").filter(has_text="coach the agent")
    await expect(coach).to_contain_text("Zhou Ting (zhou.ting)")
    await expect(coach).to_contain_text("overdue")
    await expect(review.locator("tr").filter(has_text="update the call script")).to_contain_text("open")
    await shot(manager, "11-manager-review")

    # The agent who owns the overdue action finds it from the console, signed in already, and marks it done.
    agent = await sign_in(browser, system, "zhou.ting")
    await agent.get_by_role("link", name="My improvement actions").click()
    await expect(agent.get_by_role("heading", name="My improvement actions")).to_be_visible()
    await expect(agent.get_by_role("link", name="Root-cause reviews")).to_have_count(0)  # for leads and up
    mine = agent.get_by_test_id("my-actions").locator("tr").filter(has_text="coach the agent")
    await expect(mine).to_contain_text(complaint_id)
    await expect(mine).to_contain_text("overdue")
    await expect(agent.get_by_test_id("my-actions")).not_to_contain_text("update the call script")  # Liu Yang's
    await mine.get_by_role("button", name="Mark done").click()
    await expect(agent).to_have_url(re.compile(r"/dashboard/reviews/mine$"))
    await expect(mine).to_contain_text("done by zhou.ting")
    await shot(agent, "12-agent-improvement-actions")

    await manager.reload()
    await expect(coach).to_contain_text("done by zhou.ting")
    await expect(coach.get_by_role("button", name="Mark done")).to_have_count(0)
    await manager.get_by_role("link", name="All actions done").click()
    await expect(manager.get_by_test_id("review").filter(has_text=complaint_id)).to_have_count(0)  # one still open
    script = manager.get_by_test_id("review").filter(has_text=complaint_id).locator("tr")
    await manager.get_by_role("link", name="With open actions").click()
    await script.filter(has_text="update the call script").get_by_role("button", name="Mark done").click()
    await manager.get_by_role("link", name="All actions done").click()
    await expect(manager.get_by_test_id("review").filter(has_text=complaint_id)).to_have_count(1)
    # What the review found needs one more action: added to it, the review is open again.
    done_review = manager.get_by_test_id("review").filter(has_text=complaint_id)
    await done_review.locator("summary", has_text="Add an action").click()
    adding = done_review.get_by_test_id("add-action")
    await adding.get_by_label("Action").fill("share the case at the weekly meeting")
    await adding.get_by_label("Owner").select_option("zhao.min")
    await adding.get_by_label("Due").fill("2099-02-01T10:00")
    await adding.get_by_role("button", name="Add an action").click()
    added = manager.get_by_test_id("review").filter(has_text=complaint_id).locator("tr")
    await expect(added.filter(has_text="share the case")).to_contain_text("Zhao Min (zhao.min)")
    await expect(added.filter(has_text="share the case")).to_contain_text("2099-02-01 10:00")
    await manager.get_by_role("link", name="With open actions").click()
    await expect(manager.get_by_test_id("review").filter(has_text=complaint_id)).to_have_count(1)
    await manager.get_by_role("link", name="中文").click()
    await expect(manager.get_by_role("heading", name="根因复盘")).to_be_visible()

    # A lead starts a review from the complaint's page in the console: signed in there, the form filled in.
    lead = await sign_in(browser, system, "liu.yang")
    await lead.goto(f"{system.settings.url_of('workflow')}/console/complaints/{complaint_id}")
    await lead.get_by_role("link", name="Write a root-cause review").click()
    await expect(lead).to_have_url(re.compile(rf"/dashboard/reviews\?complaint_id={complaint_id}$"))
    await expect(lead.get_by_label("Complaint id")).to_have_value(complaint_id)
    await expect(lead.get_by_label("What happened")).to_be_visible()  # the form is open
    await agent.goto(f"{system.settings.url_of('workflow')}/console/complaints/{complaint_id}")
    await expect(agent.get_by_test_id("stage")).to_be_visible()
    await expect(agent.get_by_role("link", name="Write a root-cause review")).to_have_count(0)  # leads and up


async def test_pages_load_without_an_error_in_the_browsers_console(system, browser):
    """Every site is asked for its icon: without one, the first page a person opened on each
    service logged a 404 in their browser's console, burying the errors worth seeing there."""
    context = await browser.new_context()  # a browser that has not asked these sites for their icon yet
    page = await context.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(f"{page.url}: {message.text}") if message.type == "error" else None
    )
    for service, path in (("workflow", "/console/sign-in"), ("intake", "/complaint-form"), ("reporting", "/dashboard")):
        await page.goto(f"{system.settings.url_of(service)}{path}")
        await page.wait_for_load_state("networkidle")  # the icon is asked for once the page has loaded
    assert errors == []
    async with httpx.AsyncClient(timeout=10) as http:
        for service in ("intake", "workflow", "notify", "reporting"):
            icon = await http.get(f"{system.settings.url_of(service)}/favicon.ico")
            assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml", service
            assert icon.text.startswith("<svg")
    await context.close()


# What a screen reader needs of a page's structure, checked where the page is built: the browser.
STRUCTURE_PROBLEMS = """() => {
  const problems = [];
  const named = el => (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.title || '').trim();
  if (!document.documentElement.lang) problems.push('no lang on <html>');
  if (!document.title.trim()) problems.push('no <title>');
  if (document.querySelectorAll('h1').length !== 1) problems.push(`${document.querySelectorAll('h1').length} <h1>`);
  if (document.querySelectorAll('main').length !== 1) problems.push('no single <main>');
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || el.hidden || ['submit', 'button'].includes(el.type)) continue;
    if (!el.labels.length && !named(el)) problems.push(`no label for ${el.tagName.toLowerCase()} ${el.name}`);
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (!el.textContent.trim() && !named(el)) problems.push(`no name for ${el.outerHTML.slice(0, 60)}`);
  }
  const seen = new Set();
  for (const el of document.querySelectorAll('[id]')) {
    if (seen.has(el.id)) problems.push(`id ${el.id} twice`);
    seen.add(el.id);
  }
  for (const el of document.querySelectorAll('[aria-describedby], [aria-labelledby], label[for]')) {
    for (const attribute of ['aria-describedby', 'aria-labelledby', 'for']) {
      for (const id of (el.getAttribute(attribute) || '').split(/\\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) problems.push(`${attribute}=${id} names nothing`);
      }
    }
  }
  for (const table of document.querySelectorAll('table')) {
    if (!table.querySelector('th')) problems.push('a table without headers');
  }
  return problems;
}"""


async def test_every_page_has_the_structure_a_screen_reader_reads(system, browser):
    """Each site's pages, as a customer, a group lead and a manager see them: the language, a
    title, one main heading inside one main part, a name for every control, button and link,
    unique ids and no reference to a missing one."""
    complaint_id, status_url = await submit_new(system)
    customer = await (await browser.new_context()).new_page()
    intake = system.settings.url_of("intake")
    pages: dict[Page, list[str]] = {
        customer: [status_url.replace("/v1/track/", "/track/"), f"{intake}/complaint-form"],
    }
    console = f"{system.settings.url_of('workflow')}/console"
    pages[await sign_in(browser, system, "liu.yang")] = [
        console,
        f"{console}/complaints/{complaint_id}",
        f"{console}/record",
        f"{console}/team",
        f"{console}/password",
    ]
    manager = await sign_in(browser, system, "wang.fang")
    await manager.goto(console)
    await manager.get_by_role("link", name="Reports").click()  # signed in on the dashboard
    await expect(manager).to_have_url(re.compile(r"/dashboard$"))
    dashboard = f"{system.settings.url_of('reporting')}/dashboard"
    pages[manager] = [dashboard, f"{dashboard}/reviews", f"{dashboard}/simulate"]
    problems = {}
    for page, urls in pages.items():
        for url in urls:
            answer = await page.goto(url)
            assert answer is not None and answer.status == 200, url
            problems[url] = await page.evaluate(STRUCTURE_PROBLEMS)
    assert problems == {url: [] for url in problems}
    # The check sees what it is for: a page without its main part is found.
    await customer.goto(pages[customer][0])
    await customer.evaluate("document.querySelector('main').replaceWith(...document.querySelector('main').childNodes)")
    assert await customer.evaluate(STRUCTURE_PROBLEMS) == ["no single <main>"]
