"""Intake: receive, classify, acknowledge with the promised deadlines, reclassify."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import api
from contracts.envelope import Actor
from contracts.vocabulary import Channel, Severity
from servicekit.clock import FrozenClock
from servicekit.errors import InvalidCommand, NotFound
from services.intake import sla
from services.intake.application import IntakeApplication

RECEIVED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday morning
AGENT = Actor(id="agent-7", role="agent")
SUPERVISOR = Actor(id="sup-1", role="supervisor")


@pytest.fixture
def clock():
    return FrozenClock(RECEIVED)


@pytest.fixture
def intake(clock):
    return IntakeApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)


def receive(app, text, channel="web", **fields):
    customer = fields.pop("customer", {"name": "Zhang Wei", "phone": "+86 138 0013 8000",
                                       "email": "zhang.wei@example.com"})
    return app.receive_complaint(
        api.ReceiveComplaint(channel=channel, customer=customer, text=text, **fields), AGENT)


def reclassify(app, complaint_id, actor=SUPERVISOR, **fields):
    return app.reclassify(complaint_id, api.Reclassify(**fields), actor)


def hhmm(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


# --- receipt ------------------------------------------------------------------


def test_a_received_complaint_is_classified_automatically(intake):
    view = receive(intake, "The staff at the counter was rude and shouted at me.",
                   product="Membership card", location="Store 12")
    assert view.classification.type == "complaint"
    assert view.classification.category == "service_attitude"
    assert view.classification.severity == "normal"
    assert view.classification.method == "automatic"
    assert view.classification.matched_rules == ["type.complaint.en", "cat.attitude.en"]
    assert view.classification.reason is None
    assert view.received_at == RECEIVED
    assert (view.product, view.location) == ("Membership card", "Store 12")
    assert intake.get_complaint(view.complaint_id) == view


def test_each_complaint_gets_its_own_id(intake):
    first = receive(intake, "rude staff")
    second = receive(intake, "rude staff")
    assert first.complaint_id != second.complaint_id


def test_the_customer_phone_is_kept_in_international_form(intake):
    view = receive(intake, "rude staff")
    assert view.customer["phone"] == "+8613800138000"
    assert view.customer["name"] == "Zhang Wei"


def test_a_critical_complaint_promises_contact_within_30_minutes(intake):
    view = receive(intake, "My son was injured by a falling shelf and is in hospital",
                   channel="phone")
    assert view.classification.severity == "critical"
    deadlines = view.deadlines
    policy = sla.default_policy()
    assert deadlines.acknowledge_by == RECEIVED + timedelta(minutes=30)
    assert deadlines.first_contact_by == RECEIVED + timedelta(minutes=30)
    assert deadlines.first_reply_by == RECEIVED + timedelta(hours=24)
    # a complex case: resolution by the promised date, in working days
    assert deadlines.resolve_by == policy.clock("working").add(RECEIVED, timedelta(hours=90))
    assert deadlines.policy_version == policy.version


def test_an_email_complaint_promises_a_first_reply_within_4_hours(intake):
    view = receive(intake, "I was overcharged on my invoice", channel="email")
    assert view.classification.severity == "normal"
    assert view.deadlines.acknowledge_by == RECEIVED + timedelta(hours=2)
    assert view.deadlines.first_reply_by == RECEIVED + timedelta(hours=4)
    assert view.deadlines.first_contact_by is None, "only urgent complaints promise a call"
    assert view.deadlines.resolve_by == RECEIVED + timedelta(hours=24)


def test_an_ordinary_web_complaint_gets_a_reply_within_24_hours(intake):
    view = receive(intake, "I was overcharged on my invoice", channel="web")
    assert view.deadlines.first_reply_by == RECEIVED + timedelta(hours=24)
    assert view.deadlines.resolve_by == RECEIVED + timedelta(hours=24)


def test_deadlines_run_from_the_time_of_receipt(intake, clock):
    clock.advance(hours=5, minutes=17)
    view = receive(intake, "I was overcharged on my invoice", channel="email")
    assert view.received_at == RECEIVED + timedelta(hours=5, minutes=17)
    assert view.deadlines.first_reply_by == view.received_at + timedelta(hours=4)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(Channel)), st.sampled_from(list(Severity)))
def test_every_deadline_honours_the_service_level_targets(channel, severity):
    d = sla.deadlines(RECEIVED, channel, severity)
    urgent = severity == Severity.critical
    assert RECEIVED < d["acknowledge_by"] <= d["resolve_by"]
    assert d["first_reply_by"] <= RECEIVED + timedelta(hours=24)
    assert d["first_reply_by"] <= d["resolve_by"]
    if urgent:
        assert d["acknowledge_by"] <= d["first_contact_by"] <= RECEIVED + timedelta(minutes=30)
    else:
        assert d["first_contact_by"] is None
    if channel == Channel.email:
        assert d["first_reply_by"] <= RECEIVED + timedelta(hours=4)
    if severity in (Severity.low, Severity.normal):
        assert d["resolve_by"] == RECEIVED + timedelta(hours=24)


def test_an_english_customer_is_acknowledged_in_english_with_the_deadlines(intake):
    view = receive(intake, "I was overcharged on my invoice", channel="email")
    ack = view.acknowledgement
    assert view.language == "en"
    assert ack.startswith("We have received your complaint")
    assert str(view.complaint_id)[:8] in ack
    assert hhmm(view.deadlines.first_reply_by) in ack  # 2026-11-02 13:00
    assert "2026-11-02 13:00" in ack
    assert hhmm(view.deadlines.resolve_by) in ack


def test_a_chinese_customer_is_acknowledged_in_chinese_with_the_deadlines(intake):
    view = receive(intake, "孩子在店里摔倒受伤住院了", channel="phone")
    ack = view.acknowledgement
    assert view.language == "zh"
    assert view.classification.severity == "critical"
    assert ack.startswith("我们已收到您的投诉")
    assert "2026-11-02 09:30" in ack  # first contact within 30 minutes
    assert hhmm(view.deadlines.first_reply_by) in ack
    assert hhmm(view.deadlines.resolve_by) in ack


def test_praise_is_acknowledged_as_praise_not_as_a_complaint(intake):
    view = receive(intake, "非常感谢王经理的耐心帮助")
    assert view.classification.type == "praise"
    assert "表扬" in view.acknowledgement
    assert "投诉" not in view.acknowledgement


def test_the_agent_can_set_the_language_the_customer_wants(intake):
    view = receive(intake, "The staff was rude", language="zh")
    assert view.language == "zh"
    assert view.acknowledgement.startswith("我们已收到您的投诉")


def test_the_notification_log_holds_receipt_classification_and_acknowledgement(intake):
    view = receive(intake, "I was overcharged on my invoice", channel="email")
    envelopes = intake.notifications(1, 10)
    assert [e.event_type for e in envelopes] == [
        "complaint.received", "complaint.classified", "complaint.acknowledged",
        "complaint.deadlines_set", "complaint.target_met"]
    assert [e.origin_position for e in envelopes] == [1, 2, 3, 4, 5]
    assert {e.complaint_id for e in envelopes} == {view.complaint_id}
    assert {e.origin_service for e in envelopes} == {"intake"}
    assert {e.actor for e in envelopes} == {AGENT}
    assert len({e.correlation_id for e in envelopes}) == 1
    assert {e.occurred_at for e in envelopes} == {RECEIVED}
    classified = envelopes[1].parsed()
    assert classified.category == "billing"
    assert classified.deadlines == view.deadlines
    assert envelopes[2].parsed().message == view.acknowledgement
    assert envelopes[4].parsed().target == "acknowledge" and envelopes[4].parsed().on_time
    assert intake.head() == 5


def test_the_customer_personal_data_never_leaves_intake(intake):
    receive(intake, "The staff was rude", customer={
        "name": "Zhang Wei", "phone": "+86 138 0013 8000",
        "email": "zhang.wei@example.com", "customer_id": "CUST-99881"})
    published = " ".join(e.model_dump_json() for e in intake.notifications(1, 10))
    for personal in ("Zhang Wei", "8613800138000", "zhang.wei@example.com", "CUST-99881"):
        assert personal not in published


# --- reclassification ---------------------------------------------------------


def test_reclassify_records_an_override_with_its_reason(intake, clock):
    view = receive(intake, "I was overcharged on my invoice", channel="email")
    clock.advance(hours=1)
    after = reclassify(intake, view.complaint_id, category="after_sales", severity="high",
                       reason="customer wants the refund for a returned item")
    c = after.classification
    assert (c.type, c.category, c.severity) == ("complaint", "after_sales", "high")
    assert c.method == "override"
    assert c.reason == "customer wants the refund for a returned item"
    assert c.matched_rules == ["cat.billing.en"]
    assert intake.get_complaint(view.complaint_id).classification == c
    assert after.version > view.version


def test_reclassify_recomputes_the_deadlines_from_the_time_of_receipt(intake, clock):
    view = receive(intake, "I was overcharged on my invoice", channel="email")
    clock.advance(minutes=10)
    after = reclassify(intake, view.complaint_id, severity="critical",
                       reason="customer says she was injured")
    assert after.deadlines.first_contact_by == RECEIVED + timedelta(minutes=30)
    assert after.deadlines.resolve_by == sla.default_policy().clock("working").add(
        RECEIVED, timedelta(hours=90))
    assert after.deadlines.first_reply_by == RECEIVED + timedelta(hours=4)
    assert after.deadlines != view.deadlines


def test_the_automatic_decision_stays_visible_after_an_override(intake, clock):
    view = receive(intake, "I was overcharged on my invoice", channel="web")
    clock.advance(hours=2)
    reclassify(intake, view.complaint_id, type="inquiry", category="billing",
               reason="the customer only asks how fees are computed")
    envelopes = intake.notifications(1, 10)
    assert [e.event_type for e in envelopes] == [
        "complaint.received", "complaint.classified", "complaint.acknowledged",
        "complaint.deadlines_set", "complaint.target_met", "complaint.reclassified",
        "complaint.deadlines_set"]
    automatic = envelopes[1].parsed()
    assert (automatic.type, automatic.category, automatic.severity) == (
        "complaint", "billing", "normal")
    assert automatic.matched_rules == ["cat.billing.en"]
    override = envelopes[5]
    assert override.actor == SUPERVISOR
    assert override.occurred_at == RECEIVED + timedelta(hours=2)
    change = override.parsed()
    assert (change.previous_type, change.previous_category, change.previous_severity) == (
        "complaint", "billing", "normal")
    assert (change.type, change.category, change.severity) == ("inquiry", "billing", "normal")
    assert change.reason == "the customer only asks how fees are computed"


def test_a_second_override_remembers_the_first_as_previous(intake):
    view = receive(intake, "rude staff")
    reclassify(intake, view.complaint_id, severity="high", reason="third visit this month")
    reclassify(intake, view.complaint_id, severity="critical", reason="now a lawyer letter")
    last = [e for e in intake.notifications(1, 20)
            if e.event_type == "complaint.reclassified"][-1].parsed()
    assert (last.previous_severity, last.severity) == ("high", "critical")


def test_reclassifying_to_the_same_values_is_rejected_and_stores_nothing(intake):
    view = receive(intake, "The staff was rude")
    head = intake.head()
    with pytest.raises(InvalidCommand) as caught:
        reclassify(intake, view.complaint_id, type="complaint", category="service_attitude",
                   severity="normal", reason="no change at all")
    assert "equals the current" in caught.value.problem
    assert intake.head() == head
    assert intake.get_complaint(view.complaint_id) == view


def test_reclassify_validates_its_request():
    with pytest.raises(ValueError):
        api.Reclassify(reason="only a reason")
    with pytest.raises(ValueError):
        api.Reclassify(severity="high", reason="no")  # reason too short


def test_an_unknown_complaint_is_not_found(intake):
    unknown = uuid.uuid4()
    with pytest.raises(NotFound):
        intake.get_complaint(unknown)
    with pytest.raises(NotFound):
        reclassify(intake, unknown, severity="high", reason="does not exist")
    assert intake.head() == 0


def test_a_complaint_about_the_future_is_rejected_and_nothing_is_stored():
    app = IntakeApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                            clock=FrozenClock(RECEIVED))
    request = api.ReceiveComplaint(channel="web", customer={"name": "N"}, text="rude staff",
                                   happened_at=RECEIVED + timedelta(days=1))
    with pytest.raises(InvalidCommand, match="happened_at"):
        app.receive_complaint(request, AGENT)
    assert app.head() == 0
