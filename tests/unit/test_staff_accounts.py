"""Staff passwords and tokens against a real database: argon2id hashes, tokens kept as
digests, expiry and sign-out; authority from the roster role and the escalation roles held."""

from datetime import timedelta

import pytest

from services.workflow import staff_auth
from services.workflow.permissions import Handling, answering_for, refusal
from services.workflow.routing import Router, load_routing


async def _router(store) -> Router:
    router = Router(store.pool, load_routing())
    await router.load_roster()
    return router


async def test_a_password_signs_in_and_a_token_works_until_it_expires_or_is_signed_out(store):
    router = await _router(store)
    await staff_auth.set_password(store.pool, "zhou.ting", "correct horse battery staple")
    assert await staff_auth.sign_in(store.pool, "zhou.ting", "wrong") is None
    assert await staff_auth.sign_in(store.pool, "sun.lei", "correct horse battery staple") is None  # no password
    issued = await staff_auth.sign_in(store.pool, "zhou.ting", "correct horse battery staple")
    assert issued is not None
    staff = await staff_auth.staff_for_token(store.pool, router, issued.token)
    assert (staff.staff_id, staff.authority) == ("zhou.ting", "agent")

    await store.pool.execute("UPDATE workflow.staff_tokens SET expires_at = now() - $1::interval", timedelta(seconds=1))
    assert await staff_auth.staff_for_token(store.pool, router, issued.token) is None
    again = await staff_auth.sign_in(store.pool, "zhou.ting", "correct horse battery staple")
    await staff_auth.sign_out(store.pool, again.token)
    assert await staff_auth.staff_for_token(store.pool, router, again.token) is None


async def test_who_may_act_on_which_complaint(store):
    router = await _router(store)
    await staff_auth.give_demo_accounts(store.pool, "demo password 1")

    async def person(staff_id):
        issued = await staff_auth.sign_in(store.pool, staff_id, "demo password 1")
        return await staff_auth.staff_for_token(store.pool, router, issued.token)

    agent, other_agent, lead, manager, admin = [
        await person(i) for i in ("zhou.ting", "zhao.min", "liu.yang", "wang.fang", "ops.admin")
    ]
    service_desk = Handling(group="front-line-service", assignee="zhou.ting", owner=None, liaison=None)
    config = router.config
    assert refusal(agent, "acknowledge", service_desk, config) is None
    assert refusal(other_agent, "acknowledge", service_desk, config).code == "not_your_group"
    assigned_elsewhere = Handling(group="front-line-product", assignee="zhou.ting", owner=None, liaison=None)
    assert refusal(agent, "post_progress", assigned_elsewhere, config) is None  # their own complaint
    assert refusal(agent, "retier", service_desk, config).code == "leads_only"
    assert lead.authority == "group_lead" and refusal(lead, "retier", service_desk, config) is None
    assert refusal(manager, "assign", assigned_elsewhere, config) is None
    assert refusal(manager, "apply_policy", service_desk, config).code == "admins_only"
    assert refusal(admin, "apply_policy", service_desk, config) is None
    # Who took it down adds notes to it wherever it went (001: they follow it to its close), no more.
    taken_down_by_other = Handling(
        group="senior-agents", assignee="liu.yang", owner=None, liaison=None, recorded_by="zhao.min"
    )
    assert refusal(other_agent, "add_note", taken_down_by_other, config) is None
    assert refusal(other_agent, "acknowledge", taken_down_by_other, config).code == "not_your_group"
    assert refusal(agent, "add_note", taken_down_by_other, config).code == "not_your_group"
    # A group asked for its view answers (source 002's joint consultation), and does no more.
    liaison = await person("zheng.li")
    consulted = Handling(
        group="front-line-service", assignee="zhou.ting", owner=None, liaison=None, consulted=("liaison-product",)
    )
    assert refusal(liaison, "answer_consultation", consulted, config) is None
    assert answering_for(liaison, consulted, config) == ["liaison-product"]
    assert refusal(liaison, "post_progress", consulted, config).code == "not_your_group"
    assert refusal(other_agent, "answer_consultation", consulted, config).code == "not_consulted"
    assert refusal(liaison, "answer_consultation", service_desk, config) is None  # nothing asked: the desk's 409
    assert refusal(manager, "answer_consultation", consulted, config) is None
    assert refusal(agent, "consult", consulted, config) is None  # its handler asks
    assert refusal(liaison, "consult", consulted, config).code == "not_your_group"


async def test_repeated_wrong_passwords_lock_the_account_for_a_while(store):
    await _router(store)
    await staff_auth.set_password(store.pool, "zhou.ting", "correct horse battery staple")
    for _ in range(staff_auth.MAX_FAILED_ATTEMPTS):
        assert await staff_auth.sign_in(store.pool, "zhou.ting", "guess") is None
    with pytest.raises(staff_auth.LockedOut) as locked:  # even the right password, for now
        await staff_auth.sign_in(store.pool, "zhou.ting", "correct horse battery staple")
    assert timedelta(minutes=14) < locked.value.retry_after <= staff_auth.LOCKOUT
    await store.pool.execute("UPDATE workflow.staff_credentials SET locked_until = now() - interval '1 second'")
    assert await staff_auth.sign_in(store.pool, "zhou.ting", "correct horse battery staple") is not None
    # A success starts the count again: four wrong ones do not lock.
    for _ in range(staff_auth.MAX_FAILED_ATTEMPTS - 1):
        assert await staff_auth.sign_in(store.pool, "zhou.ting", "guess") is None
    assert await staff_auth.sign_in(store.pool, "zhou.ting", "correct horse battery staple") is not None


async def test_a_person_changes_their_password_and_their_other_sessions_end(store):
    router = await _router(store)
    old, new = "correct horse battery staple", "purple monkey dishwasher at dawn"
    await staff_auth.set_password(store.pool, "zhou.ting", old)
    here = await staff_auth.sign_in(store.pool, "zhou.ting", old)
    elsewhere = await staff_auth.sign_in(store.pool, "zhou.ting", old)
    await staff_auth.set_password(store.pool, "zhao.min", "demo password 1")
    colleague = await staff_auth.sign_in(store.pool, "zhao.min", "demo password 1")
    # A code for the dashboard, asked for by the other session before the change.
    handed_off = await staff_auth.hand_off(store.pool, "zhou.ting")
    colleagues_code = await staff_auth.hand_off(store.pool, "zhao.min")

    with pytest.raises(staff_auth.WrongPassword):
        await staff_auth.change_password(store.pool, "zhou.ting", "guess", new, here.token)
    for unfit, problem in (("short", "too_short"), ("zhou.ting is my name", "contains_staff_id"), (old, "unchanged")):
        with pytest.raises(staff_auth.UnfitPassword) as refused:
            await staff_auth.change_password(store.pool, "zhou.ting", old, unfit, here.token)
        assert refused.value.problem == problem
    assert await staff_auth.staff_for_token(store.pool, router, elsewhere.token) is not None  # nothing changed yet

    await staff_auth.change_password(store.pool, "zhou.ting", old, new, here.token)
    assert await staff_auth.sign_in(store.pool, "zhou.ting", old) is None
    assert await staff_auth.sign_in(store.pool, "zhou.ting", new) is not None
    assert await staff_auth.staff_for_token(store.pool, router, here.token) is not None  # the session it was changed in
    assert await staff_auth.staff_for_token(store.pool, router, elsewhere.token) is None  # opened with the old one
    assert await staff_auth.staff_for_token(store.pool, router, colleague.token) is not None  # nobody else's
    assert await staff_auth.redeem_handoff(store.pool, handed_off.token) is None  # it would open a new session
    assert await staff_auth.redeem_handoff(store.pool, colleagues_code.token) is not None


async def test_wrong_current_passwords_count_towards_the_lockout(store):
    """A session left open on a shared computer must not become a way to guess the password."""
    await _router(store)
    await staff_auth.set_password(store.pool, "zhou.ting", "correct horse battery staple")
    session = await staff_auth.sign_in(store.pool, "zhou.ting", "correct horse battery staple")
    for _ in range(staff_auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(staff_auth.WrongPassword):
            await staff_auth.change_password(store.pool, "zhou.ting", "guess", "a new long password", session.token)
    with pytest.raises(staff_auth.LockedOut):
        await staff_auth.change_password(
            store.pool, "zhou.ting", "correct horse battery staple", "a new long password", session.token
        )


async def test_an_administrators_reset_signs_the_person_out_everywhere(store):
    router = await _router(store)
    await staff_auth.set_password(store.pool, "zhou.ting", "correct horse battery staple")
    sessions = [await staff_auth.sign_in(store.pool, "zhou.ting", "correct horse battery staple") for _ in range(2)]
    await staff_auth.sign_out(store.pool, sessions[0].token)  # ended already: not counted again
    code = await staff_auth.hand_off(store.pool, "zhou.ting")
    assert await staff_auth.revoke_tokens(store.pool, "zhou.ting") == 1
    assert await staff_auth.staff_for_token(store.pool, router, sessions[1].token) is None
    assert await staff_auth.redeem_handoff(store.pool, code.token) is None
