"""`make test-faults`: the whole system under steady traffic (channel adapters submitting,
staff acknowledging and resolving, each retrying with its Idempotency-Key as real clients do)
while processes are killed with -9 and restarted: the workflow service with its worker (twice),
notify, PostgreSQL, the Temporal dev server, and intake's connection to Temporal cut.

Meanwhile a manager and customers read their pages, and the manager signs in and out while
PostgreSQL is down.

Then: every 202 has a running or completed workflow, none failed; the feed holds no event twice;
every message was delivered, and the receiver, which drops repeats by Message-ID, got each
once; no request was answered 500. The counts are printed."""

import asyncio
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from services.notify.providers import LocalMailboxProvider
from services.run import LocalSystem, free_port, settings_on_free_ports
from services.workflow.contract import workflow_id_for
from tests.e2e.test_end_to_end import RESOLUTION, new_complaint, read_whole_feed
from tests.faults import chaos

pytestmark = pytest.mark.faults

SUBMISSIONS_PER_SECOND = 4
SETTLE_SECONDS = 150  # after the last fault: every retry done, every message out
ONCE_PER_COMPLAINT = ("feedback", "survey_request")


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

    async def call(
        self, method: str, url: str, client: httpx.AsyncClient | None = None, **kwargs
    ) -> httpx.Response | None:
        try:
            response = await (client or self.http).request(method, url, **kwargs)
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
        while time.monotonic() < deadline:  # staff see it once it is assigned
            response = await self.call("GET", f"{staff}/v1/complaints/{complaint_id}", headers=self.as_staff)
            if response is not None and response.status_code == 200 and response.json()["stage"] == "assigned":
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


async def staff_reads(traffic: Traffic, readers: Readers) -> tuple[int, bool, bool]:
    """The manager opens a resolved complaint's page in the console: its status, whether it says
    it shows only what was recorded, and whether it offers any action."""
    complaint_id = sorted(traffic.resolved)[0]
    url = f"{traffic.system.settings.url_of('workflow')}/console/complaints/{complaint_id}"
    async with httpx.AsyncClient(cookies={"console_session": readers.manager_token}) as browser:
        page = await browser.get(url, headers={"Accept": BROWSER_ACCEPT}, timeout=60)
    offers = f'action="/console/complaints/{complaint_id}/' in page.text
    return page.status_code, 'data-testid="recorded-only"' in page.text and "Resolved" in page.text, offers


MESSAGES_NOT_SHOWN = "Your messages cannot be shown right now; none is lost."


async def customer_reads(traffic: Traffic) -> tuple[int, bool, bool, bool]:
    """A customer whose complaint was resolved (so they have been sent messages) opens their
    page: its status, whether it lists messages, says they cannot be shown, and whether the JSON
    answer says they are shown."""
    complaint_id = sorted(traffic.resolved)[0]
    page = await _read_until_answered(traffic, traffic.pages[complaint_id])
    status = await _read_until_answered(traffic, traffic.pages[complaint_id].replace("/track/", "/v1/track/"))
    return page.status_code, "<pre>" in page.text, MESSAGES_NOT_SHOWN in page.text, status.json()["messages_shown"]


async def _read_until_answered(traffic: Traffic, url: str, within: float = 90.0) -> httpx.Response:
    """As a customer reloads: the page also asks the workflow, whose queries wait for a worker
    under this load (and for its sticky queue after a kill), so one read may time out."""
    until = time.monotonic() + within
    while True:
        try:
            response = await traffic.http.get(url, timeout=30)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code != 503 or time.monotonic() > until:
            assert response is not None, f"no answer from {url} within {within} s"
            return response
        await asyncio.sleep(1)


async def notifications_of(http, system, complaint_id) -> list[dict]:
    response = await http.get(
        f"{system.settings.url_of('notify')}/v1/notifications",
        params={"complaint_id": complaint_id},
        headers=system.headers_as("operator"),
    )
    response.raise_for_status()
    return response.json()


async def test_nothing_is_lost_or_doubled_when_every_part_is_killed_under_load(tmp_path):
    settings = settings_on_free_ports(tmp_path, log_level="WARNING")
    proxy = chaos.CuttableProxy(free_port(), settings.temporal_address)
    await proxy.restore()
    system = LocalSystem(settings, overrides={"intake": {"COMPLAINTS_TEMPORAL_ADDRESS": proxy.address}})
    async with system, httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
        traffic = Traffic(system, http, as_staff=await system.staff_headers("wang.fang"))
        stop = asyncio.Event()
        deadline = time.monotonic() + 420
        load = asyncio.create_task(traffic.run(stop, deadline))
        readers = Readers(traffic, system.staff_tokens["wang.fang"])
        reading = asyncio.create_task(readers.run(stop))

        async def outage(kill, restart, down_for: float = 3.0):
            await asyncio.sleep(6)  # traffic between faults: staff actions and deliveries in flight
            await kill()
            await asyncio.sleep(down_for)
            await restart()

        async def kill_workflow_service():  # its staff API and its worker, at once
            await asyncio.gather(chaos.kill_service(system, "workflow"), chaos.kill_service(system, "worker"))

        async def restart_workflow_service():
            await asyncio.gather(chaos.restart_service(system, "workflow"), chaos.restart_service(system, "worker"))

        await outage(lambda: chaos.kill_service(system, "worker"), lambda: chaos.restart_service(system, "worker"))
        await outage(kill_workflow_service, restart_workflow_service, down_for=1.0)
        caught_mid_delivery = []
        assert system.mail is not None

        async def smtp_down():  # answering 421 (try later), as a relay under maintenance does
            system.mail.handler.unavailable = True

        async def smtp_up():
            system.mail.handler.unavailable = False

        customer_page: dict[str, object] = {}

        async def kill_notify():
            caught_mid_delivery.append(await chaos.kill_notify_mid_delivery(system))
            customer_page["while notify was down"] = await customer_reads(traffic)

        await outage(kill_notify, lambda: chaos.restart_service(system, "notify"))
        signing = SigningInAndOut(system, "wang.fang")
        await signing.before()

        async def kill_postgres():
            await chaos.kill_postgres(system)
            await signing.while_down()

        await outage(kill_postgres, lambda: chaos.restart_postgres(system))
        console_page: dict[str, tuple[int, bool, bool]] = {}

        async def kill_temporal():
            await chaos.kill_temporal(system)
            console_page["while Temporal was down"] = await staff_reads(traffic, readers)

        await outage(kill_temporal, system.start_temporal)
        await outage(proxy.cut, proxy.restore, down_for=8.0)
        await outage(smtp_down, smtp_up, down_for=8.0)  # the mail server away for a while
        await asyncio.sleep(6)
        customer_page["once it was back"] = await customer_reads(traffic)
        console_page["once it was back"] = await staff_reads(traffic, readers)
        stop.set()
        await load
        await reading
        await signing.after()
        await traffic.finish()

        # Every 202 has its workflow; none failed.
        client = system.temporal.client
        statuses, not_closed = Counter(), []
        for complaint_id in sorted(traffic.accepted):
            try:
                description = await client.get_workflow_handle(workflow_id_for(complaint_id)).describe()
            except Exception:  # noqa: BLE001 - not found: the complaint was lost
                statuses["LOST"] += 1
                continue
            status = description.status.name if description.status else "UNKNOWN"
            statuses[status] += 1
            if complaint_id in traffic.answered and description.status != WorkflowExecutionStatus.COMPLETED:
                not_closed.append((complaint_id, status))

        # Everything the traffic caused is out of the workflow's outbox and delivered by notify.
        settle_until = time.monotonic() + SETTLE_SECONDS
        pending = None
        while time.monotonic() < settle_until:
            sent = {c: await notifications_of(http, system, c) for c in sorted(traffic.resolved)}
            pending = [n for items in sent.values() for n in items if n["status"] not in ("sent", "delivered")] + [
                c for c, items in sent.items() if not set(ONCE_PER_COMPLAINT) <= {n["template"] for n in items}
            ]
            if not pending:
                break
            await asyncio.sleep(2)

        feed = await read_whole_feed(http, system, page_size=1000)
        # What the receivers got: the SMTP server counts its transactions per Message-ID, the SMS
        # gateway (the local mailbox) keeps a file per attempt.
        sms = LocalMailboxProvider(system.settings.deliveries_dir).attempts("sms")
        smtp = system.mail.handler.transactions
        ours = [n for items in sent.values() for n in items if n["channel"] in ("email", "sms")]
        received = Counter(
            (smtp if n["channel"] == "email" else sms).get(f"<{n['notification_id']}@complaints.notify>", 0) > 0
            for n in ours
        )
        doubled = [
            (c, template)
            for c, items in sent.items()
            for template in ONCE_PER_COMPLAINT
            if [n["template"] for n in items].count(template) > 1
        ]
        sent_twice_smtp = sum(count - 1 for count in smtp.values())
        redelivered = sent_twice_smtp + sum(len(copies) - 1 for copies in sms.values())
        retried_email = sum(1 for n in ours if n["channel"] == "email" and n["attempts"] > 1)
        events_by_complaint = Counter((e["stream_id"], e["type"]) for e in feed)

        # A request the server saw fail unanswered: uvicorn logs it with its traceback.
        unanswered = {
            log.stem: count
            for log in sorted(system.logs_dir.glob("*.log"))
            if (count := log.read_text(errors="replace").count("Exception in ASGI application"))
        }

        report = {
            "complaints accepted (202)": len(traffic.accepted),
            "resolved by staff": len(traffic.resolved),
            "surveys answered (closed)": len(traffic.answered),
            "answered but not closed": len(not_closed),
            "workflows": dict(statuses),
            "lost (202 without a workflow)": statuses["LOST"],
            "failed workflows": statuses["FAILED"] + statuses["TERMINATED"] + statuses["TIMED_OUT"],
            "feed events": len(feed),
            "duplicate event ids": len(feed) - len({e["event_id"] for e in feed}),
            "duplicate stream versions": len(feed) - len({(e["stream_id"], e["version"]) for e in feed}),
            "staff actions not recorded exactly once": sum(
                1 for c in traffic.resolved for t in ("Acknowledged", "Resolved") if events_by_complaint[(c, t)] != 1
            ),
            "customer messages delivered": received[True],
            "customer messages not received": received[False] + len(pending or []),
            "doubled messages": len(doubled),
            "notify killed with messages in flight": caught_mid_delivery[0],
            "e-mails retried (the SMTP server answered 421 for 8 s)": retried_email,
            "sent twice to the SMTP server": sent_twice_smtp,
            "redelivered after a crash (dropped by the receiver)": redelivered,
            "answers": {str(k): v for k, v in sorted(traffic.answers.items(), key=str)},
            "pages read (console, dashboard, reports, customer's page)": {
                str(k): v for k, v in sorted(readers.answers.items(), key=str)
            },
            "signing in and out while PostgreSQL was down, then after": signing.seen,
            "a customer's page (status, lists messages, says they cannot be shown, shown in JSON)": customer_page,
            "a manager's complaint page (status, only what was recorded, offers actions)": console_page,
            "500s": len(traffic.server_errors),
            "requests that reached the server as an error (its logs)": unanswered,
            "refused": len(traffic.refused),
            "unfinished": len(traffic.unfinished),
        }
        print("\nfault suite:")
        for name, value in report.items():
            print(f"  {name}: {value}")

        assert traffic.accepted and traffic.resolved, report
        assert statuses["LOST"] == 0 and report["failed workflows"] == 0, report
        assert set(statuses) <= {"RUNNING", "COMPLETED"}, report
        assert traffic.answered and not not_closed, (not_closed[:5], report)
        assert report["duplicate event ids"] == 0 and report["duplicate stream versions"] == 0, report
        assert report["staff actions not recorded exactly once"] == 0, report
        assert not pending, pending[:5]
        assert received[False] == 0 and not doubled, (doubled, report)
        # A second copy can only be of a message in flight when notify was killed: the server may
        # have taken it before notify could record so (RFC 1047); it carries the same Message-ID.
        assert redelivered <= caught_mid_delivery[0], report
        assert traffic.server_errors == [], traffic.server_errors[:5]
        assert unanswered == {}, report
        assert customer_page == {
            "while notify was down": (200, False, True, False),  # the rest of the page, and why no messages
            "once it was back": (200, True, False, True),
        }, report
        assert console_page["while Temporal was down"] == (200, True, False), report  # recorded, no actions
        assert console_page["once it was back"][:2] == (200, False), report  # the live view again
        assert signing.seen == {
            "dashboard sign-in": 503,
            "console sign-in": 503,
            "dashboard sign-out": 503,
            "dashboard after the outage": 200,
            "dashboard sign-out after the outage": 303,
            "dashboard once signed out": 303,  # to the sign-in form
            "reports with the signed-out token": 401,
        }, report
        assert traffic.refused == [] and traffic.unfinished == [], (traffic.refused[:5], traffic.unfinished[:5])
