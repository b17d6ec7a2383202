"""The customer's pages in a real browser (Playwright driving Debian's chromium, a phone-sized
window): a complaint sent from the web form, followed on its tracking page, a question answered,
the status shown as recorded while the workflow engine is down, and the survey. Screenshots are
saved as test artefacts."""

import asyncio
import os
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from services.common.written_time import written_time
from services.run import LocalSystem
from tests.e2e.test_end_to_end import RESOLUTION

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", "test-artifacts")) / "customer"


async def on_a_phone(browser: Browser) -> Page:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    return await context.new_page()


async def reload_until(page: Page, shown: Callable[[], Locator], timeout: float = 60.0) -> None:
    """As a customer does: reload the page until it shows what they wait for."""
    until = time.monotonic() + timeout
    while not await shown().count():
        assert time.monotonic() < until, f"not shown within {timeout} s: {await page.content()}"
        await asyncio.sleep(0.5)
        await page.reload()


async def shot(page: Page, name: str) -> None:
    """A screenshot, once the page is checked to fit the phone's width (a long link in a message
    must wrap, not make the customer scroll sideways)."""
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: the page is {overflow} px wider than the phone"
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_a_customer_sends_follows_answers_and_rates_their_complaint(system: LocalSystem, browser: Browser):
    page = await on_a_phone(browser)
    await page.goto(f"{system.settings.url_of('intake')}/complaint-form")
    await page.get_by_label("姓名").fill("李伟")
    await page.get_by_label("手机").fill("13912345678")
    await page.get_by_label("发生了什么").fill("我的订单被重复扣款了，客服一直没有回复")
    await page.get_by_label("您的诉求").fill("退还多扣的款项")
    await page.get_by_label("短信", exact=True).check()  # how we answer them
    await shot(page, "0-form")
    await page.get_by_role("button", name="提交", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/track/"))
    await reload_until(page, lambda: page.get_by_text("已分派", exact=True))
    await shot(page, "1-assigned")
    complaint_id = (await page.locator("h1").inner_text()).rsplit(" ", 1)[-1]

    staff = f"{system.settings.url_of('workflow')}/v1/complaints/{complaint_id}"
    async with httpx.AsyncClient(timeout=30, headers=await system.staff_headers("wang.fang")) as http:
        assert (await http.post(f"{staff}/acknowledge")).status_code == 200
        asked = await http.post(f"{staff}/request-info", json={"question": "请问是哪一笔订单？"})
        assert asked.status_code == 200, asked.text
        answer_box = lambda: page.get_by_label("您的回复", exact=True)  # noqa: E731
        await reload_until(page, answer_box)

        # The engine goes down: the page still shows where the complaint stands, says it is what
        # was recorded, and offers no form to send into nowhere.
        await system.stop_temporal()
        await page.reload()
        await expect(page.get_by_test_id("recorded-only")).to_be_visible()
        await expect(page.get_by_text("等待您的回复", exact=True)).to_be_visible()
        await expect(answer_box()).to_have_count(0)
        await shot(page, "2-recorded-while-the-engine-is-down")
        await system.start_temporal()

        await reload_until(page, answer_box)
        await expect(page.get_by_test_id("recorded-only")).to_have_count(0)
        await answer_box().fill("订单 778，11 月 22 日")
        await page.get_by_role("button", name="发送", exact=True).click()
        await expect(page.get_by_text("处理中", exact=True)).to_be_visible()

        assert (await http.post(f"{staff}/resolve", json=RESOLUTION)).status_code == 200
    await reload_until(page, lambda: page.get_by_role("button", name="提交", exact=True))
    await expect(page.get_by_text(RESOLUTION["measures_taken"])).to_be_visible()  # the written result
    await expect(page.locator("li strong").first).to_contain_text("请您评价")  # the newest message first
    await shot(page, "3-survey")
    result = page.get_by_role("group", name="对处理结果的满意度（1–5）")
    speed = page.get_by_role("group", name="对处理速度的满意度（1–5）")
    await expect(page.locator("input[type=radio]:checked")).to_have_count(0)  # no score given for them
    await page.get_by_role("button", name="提交", exact=True).click()  # the browser asks for both scores first
    await expect(page.get_by_text("已结案", exact=True)).to_have_count(0)
    await result.get_by_label("5 很满意", exact=True).check()
    await speed.get_by_label("4", exact=True).check()
    await page.get_by_role("button", name="提交", exact=True).click()
    await reload_until(page, lambda: page.get_by_text("已结案", exact=True))
    await expect(page.locator("form")).to_have_count(0)
    await shot(page, "4-closed")


async def test_a_customers_page_speaks_their_language_and_writes_times_in_their_zone(
    system: LocalSystem, browser: Browser
):
    intake = system.settings.url_of("intake")
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
        sent = await http.post(
            f"{intake}/v1/complaints",
            headers={"Idempotency-Key": f"app-{uuid.uuid4()}"},
            json={
                "channel": "app",
                "customer": {"name": "Ann Lee", "email": "ann@example.com", "time_zone": "Europe/London"},
                "description": "My parcel is three days late and nobody answers the phone",
            },
        )
        assert sent.status_code == 202, sent.text
        page_url = sent.json()["page_url"]

        async def assigned() -> dict | None:
            status = (await http.get(sent.json()["status_url"])).json()
            return status if status["stage"] == "assigned" and status["messages"] else None

        until = time.monotonic() + 60
        while (status := await assigned()) is None:
            assert time.monotonic() < until, "not assigned with its receipt within 60 s"
            await asyncio.sleep(0.5)

    # A browser set to Chinese still gets the complaint's language: the customer wrote in English.
    page = await on_a_phone(browser)
    await page.goto(page_url)
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_text("Assigned", exact=True)).to_be_visible()
    by = written_time(datetime.fromisoformat(status["expected_by"]), "en", "Europe/London")
    assert by.endswith("(Europe/London)")
    await expect(page.get_by_text(f"By: {by}")).to_be_visible()  # their zone, as their messages write it
    sent_at = written_time(datetime.fromisoformat(status["messages"][0]["sent_at"]), "en", "Europe/London")
    await expect(page.get_by_text(sent_at, exact=True)).to_be_visible()
    body = await page.locator("body").inner_text()
    assert not re.search(r"[\u4e00-\u9fff]", body.replace("中文", "")), body  # no Chinese but the switch's name
    await shot(page, "5-english")

    # The switch: the page, and the next one, in Chinese.
    await page.get_by_role("link", name="中文").click()
    await expect(page).to_have_url(re.compile(re.escape(page_url.removeprefix(intake)) + "$"))
    await expect(page.get_by_text("已分派", exact=True)).to_be_visible()
    await expect(
        page.get_by_text(
            f"预计：{written_time(datetime.fromisoformat(status['expected_by']), 'zh-CN', 'Europe/London')}"
        )
    ).to_be_visible()
    await page.reload()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_text("Assigned", exact=True)).to_be_visible()
