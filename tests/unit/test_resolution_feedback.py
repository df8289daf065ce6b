"""Resolution: suggestions go to the improvement backlog, praise is recorded for the
named staff member, and inquiries are answered and closed without investigation."""

import uuid
from datetime import timedelta

import pytest

from contracts import api
from contracts.envelope import Actor, derived_id
from contracts.vocabulary import BacklogStatus, ResolutionStatus
from servicekit.clock import FrozenClock
from servicekit.errors import NotFound, StateConflict
from services.resolution.application import TEXT_NOT_RECEIVED, ResolutionApplication
from tests.unit.test_resolution import (
    RESOLVER,
    T0,
    Upstream,
    close,
    follow_up,
    new_complaint,
    published,
    respond,
)

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
QUALITY = Actor(id="qm-1", role="quality_manager")
IDEA = "Please add a children's menu with smaller portions"


@pytest.fixture
def clock():
    return FrozenClock(T0 + timedelta(hours=1))


@pytest.fixture
def app(clock):
    return ResolutionApplication(env=POPO, clock=clock)


@pytest.fixture
def upstream():
    return Upstream()


def mark(app, cid, status, note=None):
    return app.update_backlog_item(cid, api.UpdateBacklogItem(status=status, note=note),
                                   QUALITY)


# --- the improvement backlog ---------------------------------------------------------


def test_a_suggestion_goes_on_the_backlog_as_new(app, upstream):
    complaint_id = new_complaint(app, upstream, type_="suggestion", text=IDEA)
    item = app.get_backlog_item(complaint_id)
    assert (item.complaint_id, item.text, item.category, item.product, item.status) == (
        complaint_id, IDEA, "billing", "Membership card", BacklogStatus.new)
    assert [(h["status"], h["by"]) for h in item.history] == [("new", "resolution")]
    added = next(e for e in app.notifications(1, 100) if e.event_type == "backlog.item_added")
    assert added.complaint_id == complaint_id
    assert added.parsed().text == IDEA
    assert app.list_backlog().items == [item]
    assert app.list_backlog(status=BacklogStatus.new).items == [item]
    assert app.list_backlog(status=BacklogStatus.done).items == []
    # The backlog item has its own derived id, beside the resolution's.
    assert app.repository.get(derived_id(complaint_id, "backlog")).complaint_id == complaint_id


@pytest.mark.parametrize("type_", ["complaint", "praise", "inquiry"])
def test_only_suggestions_go_on_the_backlog(app, upstream, type_):
    complaint_id = new_complaint(app, upstream, type_=type_)
    assert app.list_backlog().items == []
    with pytest.raises(NotFound):
        app.get_backlog_item(complaint_id)


def test_a_backlog_item_moves_through_its_statuses_and_keeps_its_history(app, upstream,
                                                                          clock):
    complaint_id = new_complaint(app, upstream, type_="suggestion", text=IDEA)
    clock.advance(days=1)
    planned = mark(app, complaint_id, "planned", "for the spring menu")
    assert planned.status == BacklogStatus.planned
    clock.advance(days=30)
    done = mark(app, complaint_id, "done")
    assert [(h["status"], h["note"], h["by"]) for h in done.history] == [
        ("new", None, "resolution"), ("planned", "for the spring menu", "qm-1"),
        ("done", None, "qm-1")]
    assert done.history[-1]["at"] == clock.now()
    assert published(app)[-2:] == ["backlog.status_changed", "backlog.status_changed"]
    assert app.notifications(1, 100)[-1].parsed().status == "done"
    assert [i.complaint_id for i in app.list_backlog(status=BacklogStatus.done).items] == [
        complaint_id]
    with pytest.raises(StateConflict) as caught:
        mark(app, complaint_id, "new")
    assert (caught.value.action, caught.value.state, caught.value.allowed) == (
        "mark_new", "done", [])


@pytest.mark.parametrize(("path", "refused", "allowed"), [
    ([], "new", ["mark_declined", "mark_done", "mark_planned"]),
    (["planned"], "new", ["mark_declined", "mark_done"]),
    (["planned"], "planned", ["mark_declined", "mark_done"]),
    (["declined"], "done", ["mark_new"]),
    (["declined", "new"], "new", ["mark_declined", "mark_done", "mark_planned"]),
])
def test_a_forbidden_backlog_move_names_the_state_and_the_allowed_moves(
        app, upstream, path, refused, allowed):
    complaint_id = new_complaint(app, upstream, type_="suggestion")
    for status in path:
        mark(app, complaint_id, status)
    head = app.head()
    with pytest.raises(StateConflict) as caught:
        mark(app, complaint_id, refused)
    assert caught.value.state == (path[-1] if path else "new")
    assert caught.value.allowed == allowed
    assert app.head() == head


def test_an_unknown_backlog_item_is_not_found(app):
    with pytest.raises(NotFound):
        mark(app, uuid.uuid4(), "planned")


def test_a_suggestion_reclassified_as_something_else_leaves_the_backlog(app, upstream):
    complaint_id = new_complaint(app, upstream, type_="suggestion")
    app.process(upstream.reclassified(complaint_id, "complaint", previous_type="suggestion"))
    item = app.get_backlog_item(complaint_id)
    assert item.status == BacklogStatus.declined
    assert item.history[-1]["note"] == "reclassified as complaint: not a suggestion"
    assert app.list_backlog(status=BacklogStatus.new).items == []
    app.process(upstream.reclassified(complaint_id, "suggestion", previous_type="complaint"))
    item = app.get_backlog_item(complaint_id)
    assert item.status == BacklogStatus.new
    assert item.history[-1]["note"] == "reclassified as a suggestion"


def test_reclassifying_a_suggestion_as_a_suggestion_keeps_a_decision(app, upstream):
    complaint_id = new_complaint(app, upstream, type_="suggestion")
    mark(app, complaint_id, "declined", "out of scope")
    app.process(upstream.reclassified(complaint_id, "suggestion", previous_type="suggestion",
                                      category="facilities"))
    assert app.get_backlog_item(complaint_id).status == BacklogStatus.declined


def test_a_complaint_reclassified_as_a_suggestion_goes_on_the_backlog(app, upstream):
    complaint_id = new_complaint(app, upstream, concluded=False, text=IDEA)
    app.process(upstream.reclassified(complaint_id, "suggestion", previous_type="complaint",
                                      category="facilities"))
    item = app.get_backlog_item(complaint_id)
    assert (item.text, item.category, item.status) == (IDEA, "facilities", "new")


def test_a_suggestion_whose_receipt_resolution_never_saw_is_still_on_the_backlog(
        app, upstream):
    """Only when the case's conclusion reached resolution before the receipt did."""
    complaint_id = uuid.uuid4()
    app.process(upstream.concluded(complaint_id))
    app.process(upstream.received(complaint_id))
    app.process(upstream.classified(complaint_id))
    app.process(upstream.reclassified(complaint_id, "suggestion", previous_type="complaint"))
    assert app.get_backlog_item(complaint_id).text == TEXT_NOT_RECEIVED


def test_the_backlog_is_listed_oldest_first(app, upstream, clock):
    ids = []
    for _ in range(3):
        ids.append(new_complaint(app, upstream, type_="suggestion"))
        clock.advance(hours=1)
    assert [i.complaint_id for i in app.list_backlog().items] == ids


# --- praise --------------------------------------------------------------------------


def test_praise_for_a_named_staff_member_is_recorded_and_counted(app, upstream):
    first = new_complaint(app, upstream, type_="praise", staff_member="Wang Fang",
                          text="Wang Fang was wonderful")
    second = new_complaint(app, upstream, type_="praise", staff_member="Li Lei",
                           text="Li Lei fixed it fast")
    third = new_complaint(app, upstream, type_="praise", staff_member="Wang Fang",
                          text="Thanks to Wang Fang again")
    new_complaint(app, upstream, type_="praise", text="Great shop")  # nobody named
    new_complaint(app, upstream, type_="complaint", staff_member="Zhao Yun")  # not praise

    every = app.list_praise()
    assert [(p.complaint_id, p.staff_member) for p in every.praise] == [
        (first, "Wang Fang"), (second, "Li Lei"), (third, "Wang Fang")]
    assert every.by_staff_member == {"Li Lei": 1, "Wang Fang": 2}
    assert every.praise[0].text == "Wang Fang was wonderful"
    recorded = [e for e in app.notifications(1, 100) if e.event_type == "praise.recorded"]
    assert [(e.complaint_id, e.parsed().staff_member) for e in recorded] == [
        (first, "Wang Fang"), (second, "Li Lei"), (third, "Wang Fang")]

    wang = app.list_praise(staff_member="  wang   FANG ")
    assert [p.complaint_id for p in wang.praise] == [first, third]
    assert wang.by_staff_member == {"Wang Fang": 2}
    assert app.list_praise(staff_member="Nobody").praise == []


def test_praise_reclassified_as_a_complaint_is_no_longer_listed(app, upstream):
    complaint_id = new_complaint(app, upstream, type_="praise", staff_member="Wang Fang")
    app.process(upstream.reclassified(complaint_id, "complaint", previous_type="praise"))
    assert app.list_praise().praise == []
    app.process(upstream.reclassified(complaint_id, "praise", previous_type="complaint"))
    assert [p.complaint_id for p in app.list_praise().praise] == [complaint_id]
    recorded = [e for e in app.notifications(1, 100) if e.event_type == "praise.recorded"]
    assert len(recorded) == 1  # recorded once


def test_a_complaint_reclassified_as_praise_records_it(app, upstream):
    complaint_id = new_complaint(app, upstream, concluded=False, staff_member="Li Lei")
    app.process(upstream.reclassified(complaint_id, "praise", previous_type="complaint"))
    assert app.list_praise().by_staff_member == {"Li Lei": 1}


# --- inquiries ------------------------------------------------------------------------


def test_an_inquiry_is_answered_and_closed_at_once(app, upstream, clock):
    complaint_id = new_complaint(app, upstream, type_="inquiry")
    head = app.head()
    view = respond(app, complaint_id, outcome="explanation", message="We open at 9.")
    assert view.requires_investigation is False
    assert (view.status, view.outcome, view.closed_at) == (
        ResolutionStatus.closed, "explanation", clock.now())
    assert view.follow_up_due == clock.now() + timedelta(days=3)
    responded, closed = app.notifications(head + 1, 10)
    assert (responded.event_type, closed.event_type) == ("resolution.responded",
                                                         "resolution.closed")
    assert closed.origin_position == responded.origin_position + 1  # one save
    assert responded.occurred_at == closed.occurred_at
    assert responded.correlation_id == closed.correlation_id
    assert closed.parsed().note == "an inquiry is closed once it is answered"
    with pytest.raises(StateConflict) as caught:
        close(app, complaint_id)
    assert (caught.value.state, caught.value.allowed) == ("closed", ["follow_up"])
    assert follow_up(app, complaint_id, satisfaction=5).status == ResolutionStatus.closed


def test_an_inquiry_never_waits_for_an_investigation(app, upstream):
    complaint_id = new_complaint(app, upstream, type_="inquiry")
    assert app.get_resolution(complaint_id).status == ResolutionStatus.ready
    assert app.respond(complaint_id, api.Respond(outcome="no_action", message="n/a"),
                       RESOLVER).status == ResolutionStatus.closed
