"""The customer's pages in a real browser (Playwright driving Debian's chromium, a phone-sized
window): a complaint sent from the web form, followed on its tracking page, a question answered,
the status shown as recorded while the workflow engine is down, and the survey. Screenshots are
saved as test artefacts."""

import asyncio
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

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
    await page.get_by_label("姓名 / Name").fill("李伟")
    await page.get_by_label("手机 / Phone").fill("13912345678")
    await page.get_by_label("发生了什么 / What happened").fill("我的订单被重复扣款了，客服一直没有回复")
    await page.get_by_label("您的诉求 / What do you expect").fill("退还多扣的款项")
    await page.get_by_role("button", name="提交 / Submit").click()
    await expect(page).to_have_url(re.compile(r"/track/"))
    await reload_until(page, lambda: page.get_by_text("已分派 / Assigned"))
    await shot(page, "1-assigned")
    complaint_id = (await page.locator("h1").inner_text()).rsplit(" ", 1)[-1]

    staff = f"{system.settings.url_of('workflow')}/v1/complaints/{complaint_id}"
    async with httpx.AsyncClient(timeout=30, headers=await system.staff_headers("wang.fang")) as http:
        assert (await http.post(f"{staff}/acknowledge")).status_code == 200
        asked = await http.post(f"{staff}/request-info", json={"question": "请问是哪一笔订单？"})
        assert asked.status_code == 200, asked.text
        answer_box = lambda: page.get_by_label("您的回复 / Your answer")  # noqa: E731
        await reload_until(page, answer_box)

        # The engine goes down: the page still shows where the complaint stands, says it is what
        # was recorded, and offers no form to send into nowhere.
        await system.stop_temporal()
        await page.reload()
        await expect(page.get_by_test_id("recorded-only")).to_be_visible()
        await expect(page.get_by_text("等待您的回复 / Waiting for you")).to_be_visible()
        await expect(answer_box()).to_have_count(0)
        await shot(page, "2-recorded-while-the-engine-is-down")
        await system.start_temporal()

        await reload_until(page, answer_box)
        await expect(page.get_by_test_id("recorded-only")).to_have_count(0)
        await answer_box().fill("订单 778，11 月 22 日")
        await page.get_by_role("button", name="发送 / Send").click()
        await expect(page.get_by_text("处理中 / Being handled")).to_be_visible()

        assert (await http.post(f"{staff}/resolve", json=RESOLUTION)).status_code == 200
    await reload_until(page, lambda: page.get_by_role("button", name="提交 / Submit"))
    await expect(page.get_by_text(RESOLUTION["measures_taken"])).to_be_visible()  # the written result
    await shot(page, "3-survey")
    await page.get_by_label("对处理结果的满意度 / Satisfaction with the result (1–5)").select_option("5")
    await page.get_by_label("对处理速度的满意度 / Satisfaction with the speed (1–5)").select_option("4")
    await page.get_by_role("button", name="提交 / Submit").click()
    await reload_until(page, lambda: page.get_by_text("已结案 / Closed"))
    await expect(page.locator("form")).to_have_count(0)
    await shot(page, "4-closed")
