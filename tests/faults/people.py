"""Who uses the system while `make test-faults` breaks it: channel adapters submitting and staff
acting (`Traffic`, each retrying with its Idempotency-Key as real clients do), a manager and
customers reading their pages (`Readers`), a manager signing in and out (`SigningInAndOut`), and
the probes the suite takes while one part is down (`staff_reads`, `customer_reads`,
`waiting_to_start`). Each reader and probe has a client of its own, as each person has a
browser: hundreds of the traffic's requests waiting on a slow system hold every connection of
its pool, and a read queued behind them would measure that queue, not the system."""

import asyncio
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from services.intake import words as customer_words
from services.run import LocalSystem
from tests.e2e.test_end_to_end import RESOLUTION, new_complaint

SUBMISSIONS_PER_SECOND = 4
# Requests the adapters and staff have in flight at once; the rest wait their turn. The limit is
# ours, not the HTTP pool's, which must never make a request wait (`services/common/http_client.py`).
IN_FLIGHT = 100


@dataclass
class Traffic:
    """Adapters and staff as they behave in production: a request that fails (no answer,
    503, 429) is sent again with the same Idempotency-Key until it gets an answer."""

    system: LocalSystem
    http: httpx.AsyncClient
    answers: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    pages: dict[str, str] = field(default_factory=dict)  # complaint id -> the customer's page
    answered: set[str] = field(default_factory=set)  # the customer rated it: the complaint closes
    unfinished: list[str] = field(default_factory=list)
    tasks: set[asyncio.Task] = field(default_factory=set)
    as_staff: dict[str, str] = field(default_factory=dict)  # a signed-in manager (before any fault)
    in_flight: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(IN_FLIGHT))

    async def call(
        self, method: str, url: str, client: httpx.AsyncClient | None = None, **kwargs
    ) -> httpx.Response | None:
        try:
            if client is not None:  # a reader's own browser: one request at a time
                response = await client.request(method, url, **kwargs)
            else:
                async with self.in_flight:
                    response = await self.http.request(method, url, **kwargs)
        except httpx.TransportError:
            self.answers["no answer"] += 1
            return None
        self.answers[response.status_code] += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.server_errors.append(f"{method} {url} -> {response.status_code} {response.text[:300]}")
        if method == "GET" and response.status_code == 409:  # seen once: "closed" for a running complaint
            self.refused.append(f"{method} {url} -> {response.status_code} {response.text[:300]}")
        return response

    async def until_answered(self, method: str, url: str, ok: int, deadline: float, **kwargs) -> dict | None:
        while time.monotonic() < deadline:
            response = await self.call(method, url, **kwargs)
            if response is not None and response.status_code == ok:
                return response.json()
            if response is not None and response.status_code in (400, 401, 403, 409, 413, 422):
                self.refused.append(f"{method} {url} -> {response.status_code} {response.text[:300]}")
                return None
            await asyncio.sleep(0.5)
        self.unfinished.append(f"{method} {url}")
        return None

    async def complaint_lifecycle(self, deadline: float) -> None:
        intake, staff = self.system.settings.url_of("intake"), self.system.settings.url_of("workflow")
        accepted = await self.until_answered(
            "POST",
            f"{intake}/v1/complaints",
            202,
            deadline,
            json=new_complaint(),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if accepted is None:
            return
        complaint_id = accepted["complaint_id"]
        self.accepted.add(complaint_id)
        self.pages[complaint_id] = accepted["page_url"]
        while time.monotonic() < deadline:  # staff act once the live view shows it assigned
            response = await self.call("GET", f"{staff}/v1/complaints/{complaint_id}", headers=self.as_staff)
            # Not `live`: what the events recorded while no worker answers, a step the workflow
            # may not have completed yet; as in the console, no action is offered on it.
            if response is not None and response.status_code == 200 and response.json()["live"]:
                if response.json()["stage"] == "assigned":
                    break
            await asyncio.sleep(0.5)
        for action, body in (("acknowledge", {"note": "on it"}), ("resolve", RESOLUTION)):
            done = await self.until_answered(
                "POST",
                f"{staff}/v1/complaints/{complaint_id}/{action}",
                200,
                deadline,
                json=body,
                headers={**self.as_staff, "Idempotency-Key": str(uuid.uuid4())},
            )
            if done is None:
                return
        self.resolved.add(complaint_id)
        if random.random() < 0.5:
            return  # this customer does not answer the survey (yet): the complaint stays open
        status_url = accepted["status_url"]
        while time.monotonic() < deadline:
            response = await self.call("GET", status_url)
            if response is not None and response.status_code == 200 and response.json()["survey_open"]:
                break
            await asyncio.sleep(0.5)
        rating = {"satisfaction_result": 5, "satisfaction_speed": 4}
        if await self.until_answered("POST", f"{status_url}/survey", 200, deadline, json=rating) is not None:
            self.answered.add(complaint_id)

    async def run(self, stop: asyncio.Event, deadline: float) -> None:
        while not stop.is_set():
            task = asyncio.create_task(self.complaint_lifecycle(deadline))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            await asyncio.sleep(random.expovariate(SUBMISSIONS_PER_SECOND))

    async def finish(self) -> None:
        await asyncio.gather(*list(self.tasks))


@dataclass
class Readers:
    """People reading pages while the faults happen, each page once a second: a manager's console
    (the inbox and a resolved complaint), the reports it hands over to the dashboard (a one-use
    code traded for the dashboard's session), the report API, and a customer's own page. Their
    answers count with the traffic's: 200, 503 while a dependency is down, or no answer while
    the service itself is; any other answer is a fault they must not see."""

    traffic: Traffic
    manager_token: str
    answers: Counter = field(default_factory=Counter)

    def visits(self) -> list[tuple[str, dict]]:
        workflow, reporting = (self.traffic.system.settings.url_of(s) for s in ("workflow", "reporting"))
        page = {"headers": {"Accept": BROWSER_ACCEPT}}
        found = [
            (f"{workflow}/console", page),
            (f"{workflow}/console/reports", {**page, "follow_redirects": True}),  # lands on the dashboard
            (f"{reporting}/v1/reports/timeliness", {"headers": {"Authorization": f"Bearer {self.manager_token}"}}),
        ]
        if self.traffic.resolved:
            complaint_id = random.choice(sorted(self.traffic.resolved))
            found += [
                (f"{workflow}/console/complaints/{complaint_id}", page),
                (self.traffic.pages[complaint_id], page),
            ]
        return found

    async def run(self, stop: asyncio.Event) -> None:
        # A browser of its own: the console's session cookie, then the dashboard's.
        async with httpx.AsyncClient(timeout=10, cookies={"console_session": self.manager_token}) as browser:
            while not stop.is_set():
                for url, options in self.visits():
                    response = await self.traffic.call("GET", url, client=browser, **options)
                    self.answers[response.status_code if response is not None else "no answer"] += 1
                    if response is not None and response.status_code not in (200, 503):
                        self.traffic.refused.append(f"GET {url} -> {response.status_code} {response.text[:300]}")
                    if response is not None and "headers" in options and "Accept" in options["headers"]:
                        # A person reads a page even when it cannot be served: never bare JSON.
                        if not response.headers.get("content-type", "").startswith("text/html"):
                            self.traffic.refused.append(f"GET {url} -> {response.status_code}, not a page")
                await asyncio.sleep(1)


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class SigningInAndOut:
    """A manager signing in and out while PostgreSQL is down, where the staff accounts live: the
    console and the dashboard answer 503 (try again), never a wrong-password form, and a
    sign-out that could not revoke the session keeps it rather than pretend it is gone."""

    system: LocalSystem
    staff_id: str
    seen: dict[str, int] = field(default_factory=dict)

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=10, base_url=self.system.settings.url_of("reporting"))

    async def sign_in(self, browser: httpx.AsyncClient, site: str, path: str) -> httpx.Response:
        form = await browser.get(f"{site}{path}/sign-in")
        assert form.status_code == 200, form.text
        password = self.system.settings.demo_password
        assert password is not None
        return await browser.post(
            f"{site}{path}/sign-in",
            data={"staff_id": self.staff_id, "password": password.get_secret_value(), "csrf": _csrf(form.text)},
        )

    async def before(self) -> None:
        """Signed in to the dashboard before the outage."""
        self.dashboard = self.browser()
        signed_in = await self.sign_in(self.dashboard, "", "/dashboard")
        assert signed_in.status_code == 303, signed_in.text
        self.session_page = await self.dashboard.get("/dashboard")
        assert self.session_page.status_code == 200, self.session_page.text
        self.token = self.dashboard.cookies["dashboard_session"]

    async def while_down(self) -> None:
        async with self.browser() as fresh:
            self.seen["dashboard sign-in"] = (await self.sign_in(fresh, "", "/dashboard")).status_code
        async with self.browser() as fresh:
            console = self.system.settings.url_of("workflow")
            self.seen["console sign-in"] = (await self.sign_in(fresh, console, "/console")).status_code
        signed_out = await self.dashboard.post("/dashboard/sign-out", data={"csrf": _csrf(self.session_page.text)})
        self.seen["dashboard sign-out"] = signed_out.status_code

    async def after(self) -> None:
        """Back up: the session the failed sign-out kept still works, and signing out now ends it."""
        self.seen["dashboard after the outage"] = (await self.dashboard.get("/dashboard")).status_code
        signed_out = await self.dashboard.post("/dashboard/sign-out", data={"csrf": _csrf(self.session_page.text)})
        self.seen["dashboard sign-out after the outage"] = signed_out.status_code
        self.seen["dashboard once signed out"] = (await self.dashboard.get("/dashboard")).status_code
        # The token itself is revoked, and the reports stop taking it at once (not a minute later).
        reports = await self.dashboard.get("/v1/reports/timeliness", headers={"Authorization": f"Bearer {self.token}"})
        self.seen["reports with the signed-out token"] = reports.status_code
        await self.dashboard.aclose()


def _csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found, page[:500]
    return found.group(1)


async def staff_reads(traffic: Traffic, readers: Readers, live: bool = True) -> tuple[int, bool, bool, int, str, bool]:
    """The manager opens a resolved complaint's page in the console: its status, whether it says
    it shows only what was recorded, and whether it offers any action of the workflow's (the
    contact in full is offered still: it needs only the database); then reads it from the
    staff API: its status, stage and whether it is the live view. Expecting it `live`, they
    reload until it is (a query waits for a worker under this load)."""
    complaint_id = sorted(traffic.resolved)[0]
    workflow = traffic.system.settings.url_of("workflow")
    async with httpx.AsyncClient(cookies={"console_session": readers.manager_token}) as browser:
        page = await _read_until(
            "the console's complaint page",
            lambda wait: browser.get(
                f"{workflow}/console/complaints/{complaint_id}", headers={"Accept": BROWSER_ACCEPT}, timeout=wait
            ),
            lambda r: live != ('data-testid="recorded-only"' in r.text),
        )
    # An action on the complaint (its workflow's); showing the contact asks only the database.
    action_forms = re.findall(rf'action="/console/complaints/{re.escape(complaint_id)}/([a-z_-]+)"', page.text)
    offers = any(action != "contact" for action in action_forms)
    async with httpx.AsyncClient(headers=traffic.as_staff) as staff_api:
        api = await _read_until(
            "the staff API's complaint",
            lambda wait: staff_api.get(f"{workflow}/v1/complaints/{complaint_id}", timeout=wait),
            lambda r: r.json()["live"] == live,
        )
    view = api.json() if api.status_code == 200 else {}
    return (
        page.status_code,
        'data-testid="recorded-only"' in page.text and "Resolved" in page.text,
        offers,
        api.status_code,
        view.get("stage", ""),
        view.get("live", False),
    )


async def waiting_to_start(traffic: Traffic, any_waiting: bool) -> tuple[int, set[str]]:
    """What staff are shown as accepted and waiting to start (in no queue yet): the status and the
    complaints listed. Expecting `any_waiting` or none, they reload until it is so."""
    workflow = traffic.system.settings.url_of("workflow")
    async with httpx.AsyncClient(headers=traffic.as_staff) as staff_api:
        listed = await _read_until(
            "the complaints waiting to start",
            lambda wait: staff_api.get(
                f"{workflow}/v1/complaints/waiting-to-start", params={"limit": 200}, timeout=wait
            ),
            lambda r: bool(r.json()["complaints"]) == any_waiting,
        )
    complaints = listed.json()["complaints"] if listed.status_code == 200 else []
    return listed.status_code, {c["complaint_id"] for c in complaints}


# The page says it in the customer's language, whichever that is.
MESSAGES_NOT_SHOWN = customer_words.LABELS["messages_unavailable"]


async def customer_reads(traffic: Traffic, live: bool = True) -> tuple[int, bool, bool, bool, bool]:
    """A customer whose complaint was resolved (so they have been sent messages) opens their
    page: its status, whether it lists messages, says they cannot be shown, whether the JSON
    answer says they are shown, and whether it shows the live status (or, while the engine is
    down, what was recorded). Expecting it `live`, they reload until it is."""
    complaint_id = sorted(traffic.resolved)[0]
    page_url = traffic.pages[complaint_id]
    async with httpx.AsyncClient() as browser:
        page = await _read_until(
            "the customer's page",
            lambda wait: browser.get(page_url, timeout=wait),
            lambda r: live != ('data-testid="recorded-only"' in r.text),
        )
        status = await _read_until(
            "the customer's status (JSON)",
            lambda wait: browser.get(page_url.replace("/track/", "/v1/track/"), timeout=wait),
            lambda r: r.json()["live"] == live,
        )
    return (
        page.status_code,
        "<pre>" in page.text,
        any(words in page.text for words in MESSAGES_NOT_SHOWN),
        status.json()["messages_shown"],
        status.json()["live"],
    )


async def _read_until(
    what: str,
    read: Callable[[float], Awaitable[httpx.Response]],
    as_expected: Callable[[httpx.Response], bool],
    within: float = 90.0,
) -> httpx.Response:
    """As a person reloads: the page also asks the workflow, whose queries wait for a worker
    under this load (and for its sticky queue after a kill), so one read may show what was
    recorded, or answer slowly. Each read waits as long as is left of `within`, as a browser
    waits for a slow page: an answer that comes late is still an answer."""
    began = time.monotonic()
    until = began + within
    tries: list[str] = []
    while True:
        try:
            response = await read(max(until - time.monotonic(), 5.0))
        except httpx.TransportError as exc:
            response = None
            tries.append(type(exc).__name__)
        else:
            tries.append(str(response.status_code))
        answered = response is not None and response.status_code == 200 and as_expected(response)
        if answered or time.monotonic() > until:
            took = time.monotonic() - began
            if took > within / 3:  # a slow read says what it got meanwhile
                print(f"\n    {what}: a read took {took:.0f} s: {Counter(tries)}", flush=True)
            assert response is not None, f"{what}: no answer within {within} s: {Counter(tries)}"
            return response
        await asyncio.sleep(1)
