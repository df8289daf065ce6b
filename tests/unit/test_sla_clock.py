"""The SLA clock in intake, on a frozen clock: deadlines promised and scheduled, a
warning at 80% and a breach at 100% exactly once (across a restart and with two
instances racing), pause and resume, targets met or missed when the step happens."""

import uuid
from datetime import UTC, datetime, timedelta

import eventlet
import pytest

from contracts import api, events
from contracts.envelope import Actor, make_envelope
from servicekit.clock import FrozenClock
from servicekit.errors import StateConflict
from services.intake.application import IntakeApplication

AGENT = Actor(id="agent-7", role="agent")
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
CRITICAL = "I was injured by your product, I am going to the hospital"


def receive(app, text="The staff were rude to me", channel="phone"):
    return app.receive_complaint(api.ReceiveComplaint(
        channel=channel, customer={"name": "N"}, text=text), AGENT)


def published(app, start=1):
    return [e for e in app.notifications(start, 1000)]


def kinds(app, start=1):
    return [e.event_type for e in published(app, start)]


@pytest.fixture
def clock():
    return FrozenClock(T0)


@pytest.fixture
def app(clock, tmp_path):
    return IntakeApplication(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                  "SQLITE_DBNAME": str(tmp_path / "intake.sqlite")},
                             clock=clock)


def test_receipt_schedules_every_target_and_meets_the_acknowledgement(app):
    view = receive(app, CRITICAL)
    assert view.sla_policy_version
    assert view.targets["first_contact"].deadline == T0 + timedelta(minutes=30)
    assert view.targets["first_contact"].warn_at == T0 + timedelta(minutes=24)
    assert view.targets["acknowledge"].status == "met"
    assert kinds(app)[-2:] == ["complaint.deadlines_set", "complaint.target_met"]


def test_a_warning_at_80_percent_and_a_breach_at_100_percent_each_exactly_once(app, clock):
    cid = receive(app, CRITICAL).complaint_id
    head = app.head()
    clock.advance(minutes=23)
    assert app.check_deadlines() == 0 and app.head() == head
    clock.advance(minutes=1)  # 24 min: 80% of the 30-minute first contact
    app.check_deadlines()
    warned = [e for e in published(app, head + 1) if e.event_type == "complaint.deadline_warned"]
    assert [e.payload["target"] for e in warned] == ["first_contact"]
    assert app.check_deadlines() == 0, "a warning is recorded once"
    clock.advance(minutes=6)  # 30 min
    app.check_deadlines()
    app.check_deadlines()
    breached = [e for e in published(app) if e.event_type == "complaint.deadline_breached"]
    assert [(e.payload["target"], e.occurred_at) for e in breached] == [
        ("first_contact", T0 + timedelta(minutes=30))]
    assert app.get_complaint(cid).targets["first_contact"].status == "breached"


def test_a_restart_between_warning_and_breach_breaches_once(app, clock, tmp_path):
    receive(app, CRITICAL)
    clock.advance(minutes=25)
    app.check_deadlines()
    app.close()
    clock.advance(minutes=10)
    again = IntakeApplication(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                   "SQLITE_DBNAME": str(tmp_path / "intake.sqlite")},
                              clock=clock)
    again.check_deadlines()
    again.check_deadlines()
    types = kinds(again)
    assert types.count("complaint.deadline_warned") >= 1
    first_contact = [e for e in published(again) if e.event_type in (
        "complaint.deadline_warned", "complaint.deadline_breached")
        and e.payload["target"] == "first_contact"]
    assert [e.event_type for e in first_contact] == ["complaint.deadline_warned",
                                                    "complaint.deadline_breached"]


def test_two_instances_racing_record_each_breach_once(clock, postgres_database):
    env = postgres_database("intake")
    first = IntakeApplication(env=env, clock=clock)
    second = IntakeApplication(env=env, clock=clock)
    for _ in range(5):
        receive(first, CRITICAL)
    clock.advance(hours=1)
    workers = [eventlet.spawn(app.check_deadlines) for app in (first, second, first, second)]
    for worker in workers:
        worker.wait()
    breaches = [(e.complaint_id, e.payload["target"]) for e in published(first)
                if e.event_type == "complaint.deadline_breached"]
    assert len(breaches) == len(set(breaches)) and len(breaches) >= 5
    warnings = [(e.complaint_id, e.payload["target"]) for e in published(first)
                if e.event_type == "complaint.deadline_warned"]
    assert len(warnings) == len(set(warnings))
    first.close()
    second.close()


def test_paused_time_does_not_count(app, clock):
    cid = receive(app, CRITICAL).complaint_id
    clock.advance(minutes=10)
    app.pause_clock(cid, api.PauseClock(reason="waiting for the customer's photos"), AGENT)
    with pytest.raises(StateConflict, match="clock paused"):
        app.pause_clock(cid, api.PauseClock(reason="again"), AGENT)
    clock.advance(hours=2)
    assert app.check_deadlines() == 0, "nothing falls due while paused"
    view = app.resume_clock(cid, api.ResumeClock(reason="photos received"), AGENT)
    assert view.targets["first_contact"].deadline == T0 + timedelta(minutes=30, hours=2)
    assert not view.clock_paused
    with pytest.raises(StateConflict, match="clock running"):
        app.resume_clock(cid, api.ResumeClock(reason="again"), AGENT)


def test_contact_meets_the_first_contact_target_on_time_or_late(app, clock):
    on_time = receive(app, CRITICAL).complaint_id
    late = receive(app, CRITICAL).complaint_id
    clock.advance(minutes=20)
    view = app.record_contact(on_time, api.RecordContact(note="called back"), AGENT)
    assert view.targets["first_contact"].status == "met"
    clock.advance(minutes=20)
    app.check_deadlines()
    view = app.record_contact(late, api.RecordContact(note="called back"), AGENT)
    assert view.targets["first_contact"].status == "breached"
    met = [e.payload for e in published(app) if e.event_type == "complaint.target_met"
           and e.payload["target"] == "first_contact"]
    assert [m["on_time"] for m in met] == [True, False]


class Resolution:
    def __init__(self):
        self.position = 0

    def envelope(self, event, complaint_id, at):
        self.position += 1
        return make_envelope(event=event, complaint_id=complaint_id,
                             origin_service="resolution", origin_position=self.position,
                             aggregate_id=uuid.uuid4(), aggregate_version=1, occurred_at=at,
                             recorded_at=at, actor=Actor(id="res-1", role="resolver"),
                             correlation_id="c")


def test_resolutions_steps_mark_the_targets_and_close_the_clock(app, clock):
    cid = receive(app).complaint_id
    resolution = Resolution()
    clock.advance(hours=2)
    app.process(resolution.envelope(events.ResolutionResponded(
        outcome="apology", message="sorry", amount=None, currency=None, channel="phone",
        response_number=1), cid, clock.now()))
    view = app.get_complaint(cid)
    assert view.targets["first_reply"].status == "met"
    app.process(resolution.envelope(events.ResolutionClosed(outcome="apology", note=None),
                                    cid, clock.now()))
    view = app.get_complaint(cid)
    assert all(t.status in ("met", "missed", "breached") for t in view.targets.values())
    clock.advance(days=30)
    assert app.check_deadlines() == 0, "a resolved complaint never breaches afterwards"
