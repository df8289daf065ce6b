"""Resolution: closure schedules the follow-up; overdue follow-ups are listed; a
dissatisfied follow-up reopens, and the first response is never overwritten."""

from datetime import timedelta
from decimal import Decimal

import pytest

from contracts.vocabulary import ResolutionStatus
from servicekit.clock import FrozenClock
from servicekit.errors import StateConflict
from services.resolution.application import ResolutionApplication
from services.resolution.policy import ResolutionPolicy
from tests.unit.test_resolution import (
    T0,
    Upstream,
    accept,
    close,
    dispute,
    follow_up,
    new_complaint,
    published,
    respond,
)

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


@pytest.fixture
def clock():
    return FrozenClock(T0 + timedelta(hours=1))


@pytest.fixture
def app(clock):
    return ResolutionApplication(env=POPO, clock=clock)


@pytest.fixture
def upstream():
    return Upstream()


def closed_complaint(app, upstream, clock):
    complaint_id = new_complaint(app, upstream)
    respond(app, complaint_id)
    accept(app, complaint_id)
    clock.advance(hours=1)
    close(app, complaint_id)
    return complaint_id


# --- the schedule ---------------------------------------------------------------------


def test_closure_schedules_the_follow_up_three_days_later(app, upstream, clock):
    complaint_id = closed_complaint(app, upstream, clock)
    view = app.get_resolution(complaint_id)
    assert view.closed_at == clock.now()
    assert view.follow_up_due == clock.now() + timedelta(days=3)
    closed = app.notifications(1, 100)[-1]
    assert closed.event_type == "resolution.closed"
    assert closed.parsed().follow_up_due == view.follow_up_due


def test_the_follow_up_delay_comes_from_the_policy(upstream, clock):
    app = ResolutionApplication(env=POPO, clock=clock, policy=ResolutionPolicy(
        default_threshold=Decimal("1000"), follow_up_days=7))
    complaint_id = closed_complaint(app, upstream, clock)
    assert app.get_resolution(complaint_id).follow_up_due == clock.now() + timedelta(days=7)


def test_follow_ups_not_done_by_their_due_date_are_listed_as_overdue(app, upstream, clock):
    early = closed_complaint(app, upstream, clock)
    clock.advance(days=1)
    late = closed_complaint(app, upstream, clock)
    done = closed_complaint(app, upstream, clock)
    follow_up(app, done, satisfaction=5)
    open_case = new_complaint(app, upstream)
    respond(app, open_case)

    listed = app.list_follow_ups()
    assert [(f.complaint_id, f.overdue) for f in listed.follow_ups] == [(early, False),
                                                                        (late, False)]
    first = listed.follow_ups[0]
    assert first.due == first.closed_at + timedelta(days=3)

    clock.at = first.due  # due is not yet overdue
    assert app.list_follow_ups(overdue=True).follow_ups == []
    clock.advance(seconds=1)
    assert [f.complaint_id for f in app.list_follow_ups(overdue=True).follow_ups] == [early]
    assert [f.complaint_id for f in app.list_follow_ups(overdue=False).follow_ups] == [late]

    follow_up(app, early, satisfaction=4)
    assert [f.complaint_id for f in app.list_follow_ups().follow_ups] == [late]
    clock.advance(days=30)
    assert [f.complaint_id for f in app.list_follow_ups(overdue=True).follow_ups] == [late]


def test_the_follow_up_list_is_empty_without_resolutions(app):
    assert app.list_follow_ups().follow_ups == []


def test_the_follow_up_list_pages_through_a_long_log(app, upstream, clock, monkeypatch):
    monkeypatch.setattr("servicekit.application.PAGE", 3)
    ids = [closed_complaint(app, upstream, clock) for _ in range(7)]
    assert [f.complaint_id for f in app.list_follow_ups().follow_ups] == ids


# --- the reopen path -----------------------------------------------------------------


@pytest.mark.parametrize(("satisfaction", "solved", "reopens"), [
    (1, True, True), (2, True, True), (3, True, False), (5, True, False),
    (5, False, True), (3, False, True), (1, False, True),
])
def test_a_follow_up_of_1_or_2_or_not_solved_reopens(app, upstream, clock, satisfaction,
                                                     solved, reopens):
    complaint_id = closed_complaint(app, upstream, clock)
    view = follow_up(app, complaint_id, satisfaction=satisfaction, solved=solved)
    assert view.follow_up["satisfaction"] == satisfaction
    if reopens:
        assert (view.status, view.reopen_count) == (ResolutionStatus.reopened, 1)
        assert published(app)[-2:] == ["resolution.followed_up", "resolution.reopened"]
        reopened = app.notifications(1, 100)[-1].parsed()
        assert reopened.reopen_count == 1
        assert reopened.reason.startswith("follow-up: ")
        assert (f"satisfaction {satisfaction}/5" in reopened.reason) == (satisfaction <= 2)
        assert ("not solved" in reopened.reason) == (not solved)
        assert (view.closed_at, view.follow_up_due, view.outcome) == (None, None, None)
    else:
        assert (view.status, view.reopen_count) == (ResolutionStatus.closed, 0)
        assert published(app)[-1] == "resolution.followed_up"


def test_a_reopened_complaint_waits_for_the_investigation_then_is_answered_again(
        app, upstream, clock):
    complaint_id = new_complaint(app, upstream)
    first = respond(app, complaint_id, amount=Decimal("50.00"))
    clock.advance(hours=2)
    dispute(app, complaint_id, "not enough")
    app.process(upstream.concluded(complaint_id, number=2))
    second = respond(app, complaint_id, amount=Decimal("80.00"))
    accept(app, complaint_id)
    close(app, complaint_id)
    clock.advance(days=3)
    reopened = follow_up(app, complaint_id, satisfaction=2, solved=False)
    assert reopened.status == ResolutionStatus.reopened
    assert app.list_follow_ups().follow_ups == []
    with pytest.raises(StateConflict) as caught:
        respond(app, complaint_id)
    assert (caught.value.state, caught.value.allowed) == ("reopened", [])

    app.process(upstream.concluded(complaint_id, number=3))
    assert app.get_resolution(complaint_id).status == ResolutionStatus.ready
    clock.advance(hours=5)
    third = respond(app, complaint_id, amount=Decimal("300.00"))
    close(app, complaint_id)

    view = app.get_resolution(complaint_id)
    # Nothing earlier is overwritten: the first response and its time stay first.
    assert view.first_response_at == first.first_response_at == first.responses[0].at
    assert view.responses[:2] == second.responses
    assert view.responses[0] == first.responses[0]
    assert [r.amount for r in view.responses] == [Decimal("50.00"), Decimal("80.00"),
                                                  Decimal("300.00")]
    assert third.responses[-1].number == 3
    # A new follow-up is due for the new closure, once.
    assert view.status == ResolutionStatus.closed and view.follow_up is None
    assert view.follow_up_due == clock.now() + timedelta(days=3)
    assert [f.complaint_id for f in app.list_follow_ups().follow_ups] == [complaint_id]
    assert follow_up(app, complaint_id, satisfaction=5).status == ResolutionStatus.closed
    with pytest.raises(StateConflict):
        follow_up(app, complaint_id, satisfaction=5)
    assert view.reopen_count == 1 and view.disputes == ["not enough"]


def test_a_second_bad_follow_up_reopens_again_with_the_count(app, upstream, clock):
    complaint_id = closed_complaint(app, upstream, clock)
    follow_up(app, complaint_id, satisfaction=1)
    app.process(upstream.concluded(complaint_id, number=2))
    respond(app, complaint_id)
    close(app, complaint_id)
    view = follow_up(app, complaint_id, satisfaction=2)
    assert (view.status, view.reopen_count) == (ResolutionStatus.reopened, 2)
    assert app.notifications(1, 100)[-1].parsed().reopen_count == 2


@pytest.mark.parametrize("type_", ["suggestion", "praise", "inquiry"])
def test_feedback_that_is_not_a_complaint_is_answered_again_at_once(app, upstream, type_):
    complaint_id = new_complaint(app, upstream, type_=type_)
    respond(app, complaint_id, outcome="explanation", message="Thank you.")
    if type_ != "inquiry":  # an inquiry is closed with its answer
        close(app, complaint_id)
    view = follow_up(app, complaint_id, satisfaction=1, solved=False)
    assert (view.status, view.reopen_count) == (ResolutionStatus.ready, 1)
    again = respond(app, complaint_id, outcome="explanation", message="Better answer.")
    assert [r.number for r in again.responses] == [1, 2]
    assert again.first_response_at == again.responses[0].at
