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
import time
from collections import Counter

import pytest
from temporalio.client import WorkflowExecutionStatus

from services.common.http_client import http_client
from services.notify.providers import LocalMailboxProvider
from services.run import LocalSystem, free_port, settings_on_free_ports
from services.workflow.contract import workflow_id_for
from tests.e2e.test_end_to_end import read_whole_feed
from tests.faults import chaos
from tests.faults.people import Readers, SigningInAndOut, Traffic, customer_reads, staff_reads, waiting_to_start

pytestmark = pytest.mark.faults

SETTLE_SECONDS = 150  # after the last fault: every retry done, every message out
ONCE_PER_COMPLAINT = ("feedback", "survey_request")


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
    async with system, http_client(timeout=10, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
        traffic = Traffic(system, http, as_staff=await system.staff_headers("wang.fang"))
        stop = asyncio.Event()
        deadline = time.monotonic() + 420
        load = asyncio.create_task(traffic.run(stop, deadline))
        readers = Readers(traffic, system.staff_tokens["wang.fang"])
        reading = asyncio.create_task(readers.run(stop))
        try:
            signing = SigningInAndOut(system, "wang.fang")
            await signing.before()  # signed in to the dashboard before any fault

            began = time.monotonic()

            async def outage(kill, restart, down_for: float = 3.0):
                await asyncio.sleep(6)  # traffic between faults: staff actions and deliveries in flight
                killed = time.monotonic()
                await kill()
                read = time.monotonic()  # what people saw meanwhile, read inside `kill`
                await asyncio.sleep(down_for)
                await restart()
                # As it goes, so that a run that fails tells which outage took long, and where.
                print(
                    f"\n  {kill.__name__}: at +{killed - began:.0f} s; killed and read in {read - killed:.1f} s, "
                    f"back {time.monotonic() - read - down_for:.1f} s after its {down_for:.0f} s down",
                    flush=True,
                )

            async def kill_workflow_service():  # its staff API and its worker, at once
                await asyncio.gather(chaos.kill_service(system, "workflow"), chaos.kill_service(system, "worker"))

            async def restart_workflow_service():
                await asyncio.gather(chaos.restart_service(system, "workflow"), chaos.restart_service(system, "worker"))

            async def kill_worker():
                await chaos.kill_service(system, "worker")

            await outage(kill_worker, lambda: chaos.restart_service(system, "worker"))
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

            async def kill_postgres():
                await chaos.kill_postgres(system)
                await signing.while_down()

            await outage(kill_postgres, lambda: chaos.restart_postgres(system))
            console_page: dict[str, tuple[int, bool, bool, int, str, bool]] = {}

            async def kill_temporal():
                await chaos.kill_temporal(system)
                console_page["while Temporal was down"] = await staff_reads(traffic, readers, live=False)
                customer_page["while Temporal was down"] = await customer_reads(traffic, live=False)

            await outage(kill_temporal, system.start_temporal)
            waiting: dict[str, tuple[int, set[str]]] = {}

            async def cut_intake_from_temporal():  # what it accepts meanwhile waits to start
                await proxy.cut()
                waiting["while intake could not reach Temporal"] = await waiting_to_start(traffic, any_waiting=True)

            await outage(cut_intake_from_temporal, proxy.restore, down_for=8.0)
            await outage(smtp_down, smtp_up, down_for=8.0)  # the mail server away for a while
            await asyncio.sleep(6)
            customer_page["once it was back"] = await customer_reads(traffic)
            console_page["once it was back"] = await staff_reads(traffic, readers)
            stop.set()
            await load
            await reading
            await signing.after()
            await traffic.finish()
        finally:  # a check that failed on the way stops the load, which would outlive the system
            stop.set()
            for task in (load, reading, *traffic.tasks):
                task.cancel()
        waiting["once it was back"] = await waiting_to_start(traffic, any_waiting=False)

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
            "a customer's page (status, lists messages, says they cannot be shown, shown in JSON, live)": customer_page,
            "a manager's complaint (page: status, only what was recorded, offers actions; API: status, stage, live)": (
                console_page
            ),
            "waiting to start, as staff see it (status, how many; all of them 202s)": {
                moment: (status, len(listed), listed <= traffic.accepted)
                for moment, (status, listed) in waiting.items()
            },
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
            "while notify was down": (200, False, True, False, True),  # the rest of the page, and why no messages
            "while Temporal was down": (200, True, False, True, False),  # as recorded, and its messages
            "once it was back": (200, True, False, True, True),
        }, report
        # As recorded, no actions; the API says so too (its stage: resolved, or closed by the survey).
        page, recorded, offers, api, stage, live = console_page["while Temporal was down"]
        assert (page, recorded, offers, api, live) == (200, True, False, 200, False), report
        assert stage in ("resolved", "awaiting_survey", "closed"), report
        page, recorded, _, api, _, live = console_page["once it was back"]
        assert (page, recorded, api, live) == (200, False, 200, True), report  # the live view again
        # Accepted while intake could not start them: listed for staff, each one a 202; none once back.
        status, listed = waiting["while intake could not reach Temporal"]
        assert status == 200 and listed and listed <= traffic.accepted, report
        assert waiting["once it was back"] == (200, set()), report
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
