"""Triage of low-confidence classifications, repeat complaints, and possible duplicates
(flagged, merged with an event on both, or dismissed)."""

from datetime import UTC, datetime

import pytest

from contracts import api
from contracts.envelope import Actor
from servicekit.clock import FrozenClock
from servicekit.errors import StateConflict
from services.intake.application import IntakeApplication

AGENT = Actor(id="agent-7", role="agent")
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
ZHANG = {"name": "Zhang Wei", "phone": "+86 138 0013 8000"}


@pytest.fixture
def clock():
    return FrozenClock(T0)


@pytest.fixture
def app(clock):
    return IntakeApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)


def receive(app, text, customer=None, channel="phone"):
    return app.receive_complaint(api.ReceiveComplaint(
        channel=channel, customer=customer or {"name": "N"}, text=text), AGENT)


def kinds(app):
    return [e.event_type for e in app.notifications(1, 1000)]


def test_a_classification_records_its_provenance(app):
    view = receive(app, "I was charged twice for the same order")
    classified = [e for e in app.notifications(1, 10)
                  if e.event_type == "complaint.classified"][0].parsed()
    assert classified.ruleset_version == view.classification.ruleset_version
    assert classified.scores["billing"] > 0 and 0 <= classified.confidence <= 1
    assert classified.matched_rules


def test_a_low_confidence_complaint_waits_in_triage_until_an_agent_decides(app):
    tied = receive(app, "服务员态度很差，我等了一个小时才上菜。")  # attitude and delay tie
    clear = receive(app, "I was charged twice for the same order")
    assert tied.classification.needs_triage and not clear.classification.needs_triage
    assert [c.complaint_id for c in app.triage_queue().complaints] == [tied.complaint_id]
    confirmed = app.confirm_classification(tied.complaint_id, api.Decide(
        reason="the rudeness is what they complain about"), AGENT)
    assert confirmed.classification.method == "confirmed"
    assert app.triage_queue().complaints == []
    with pytest.raises(StateConflict, match="not in triage"):
        app.confirm_classification(clear.complaint_id, api.Decide(reason="fine"), AGENT)


def test_an_override_also_takes_a_complaint_out_of_triage(app):
    tied = receive(app, "服务员态度很差，我等了一个小时才上菜。")
    app.reclassify(tied.complaint_id, api.Reclassify(category="response_delay",
                                                     reason="the wait is the complaint"),
                   AGENT)
    assert app.triage_queue().complaints == []


def test_a_repeat_complaint_from_the_same_customer_is_at_least_high(app, clock):
    first = receive(app, "The air conditioning in the hall is broken", ZHANG)
    clock.advance(days=20)
    again = receive(app, "Your parking lot lights are out at night", ZHANG)
    stranger = receive(app, "Your parking lot lights are out at night")
    assert first.classification.severity == "normal"
    assert again.classification.severity == "high"
    assert stranger.classification.severity == "normal"


def test_similar_text_from_the_same_customer_within_14_days_is_flagged(app, clock):
    first = receive(app, "The waiter was rude to me at lunch today", ZHANG)
    clock.advance(days=3)
    second = receive(app, "The waiter was rude to me at lunch", ZHANG)
    other_topic = receive(app, "I want to know your opening hours", ZHANG)
    assert second.possible_duplicate_of == first.complaint_id
    assert second.duplicate_status == "flagged"
    assert other_topic.possible_duplicate_of is None
    clock.advance(days=20)
    late = receive(app, "The waiter was rude to me at lunch today", ZHANG)
    assert late.possible_duplicate_of is None, "older than 14 days is not a duplicate"


def test_merging_a_duplicate_records_an_event_on_both(app, clock):
    first = receive(app, "我的快递包裹破损了，里面的杯子碎了", ZHANG)
    second = receive(app, "我的快递包裹破损了，杯子碎了", {**ZHANG, "email": "z@example.com"})
    assert second.possible_duplicate_of == first.complaint_id
    merged = app.merge_duplicate(second.complaint_id, api.Decide(reason="same parcel"), AGENT)
    assert merged.duplicate_status == "merged"
    assert app.get_complaint(first.complaint_id).merged_duplicates == [second.complaint_id]
    assert kinds(app)[-2:] == ["complaint.merged", "complaint.duplicate_absorbed"]
    with pytest.raises(StateConflict, match="duplicate merged"):
        app.dismiss_duplicate(second.complaint_id, api.Decide(reason="not the same"), AGENT)


def test_a_dismissed_flag_cannot_be_merged_and_an_unflagged_complaint_neither(app):
    first = receive(app, "The waiter was rude to me at lunch today", ZHANG)
    second = receive(app, "The waiter was rude to me at lunch", ZHANG)
    head = app.head()
    with pytest.raises(StateConflict, match="not flagged"):
        app.merge_duplicate(first.complaint_id, api.Decide(reason="x y z"), AGENT)
    assert app.head() == head
    app.dismiss_duplicate(second.complaint_id, api.Decide(reason="a second visit"), AGENT)
    with pytest.raises(StateConflict, match="duplicate dismissed"):
        app.merge_duplicate(second.complaint_id, api.Decide(reason="x y z"), AGENT)
