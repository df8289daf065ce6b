"""Investigation: cases opened by classified complaints, worked, concluded and reopened."""

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from eventsourcing.persistence import RecordConflictError
from pydantic import BaseModel

from contracts import api, events
from contracts.envelope import Actor, make_envelope
from contracts.vocabulary import CaseStatus
from servicekit.clock import FrozenClock
from servicekit.errors import NotFound, StateConflict
from services.intake import sla
from services.investigation.application import InvestigationApplication, load_roster


def nobody_available():
    """The shipped routing table and roster with every investigator away: cases stay in
    their team's queue until someone assigns them (routing has its own tests)."""
    roster = load_roster()
    return replace(roster, away=frozenset(i for team in roster.investigators.values()
                                          for i in team))


T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
AGENT = Actor(id="agent-7", role="agent")
CUSTOMER_DESK = Actor(id="resolver-3", role="resolver")
LI = Actor(id="li.na", role="investigator")
SUPERVISOR = Actor(id="sup-1", role="supervisor")


class Upstream:
    """Builds the integration events intake and resolution would publish, with their
    positions increasing per origin service as in a real notification log."""

    def __init__(self):
        self.positions = {"intake": 0, "resolution": 0}

    def envelope(self, origin: str, event: BaseModel, complaint_id: uuid.UUID,
                 at: datetime = T0, actor: Actor = AGENT):
        self.positions[origin] += 1
        return make_envelope(
            event=event, complaint_id=complaint_id, origin_service=origin,
            origin_position=self.positions[origin], aggregate_id=complaint_id,
            aggregate_version=self.positions[origin], occurred_at=at, recorded_at=at,
            actor=actor, correlation_id=f"corr-{complaint_id}")

    def classified(self, complaint_id, type_="complaint", category="billing",
                   severity="normal", channel="web", at=T0):
        return self.envelope("intake", events.ComplaintClassified(
            channel=channel, type=type_, category=category, severity=severity,
            matched_rules=[], ruleset_version="test",
            deadlines=sla.deadlines(at, channel, severity)), complaint_id, at)

    def reclassified(self, complaint_id, type_, category, severity,
                     previous=("complaint", "billing", "normal"), at=T0):
        return self.envelope("intake", events.ComplaintReclassified(
            type=type_, category=category, severity=severity, previous_type=previous[0],
            previous_category=previous[1], previous_severity=previous[2],
            reason="agent override", deadlines=sla.deadlines(at, "web", severity)),
            complaint_id, at, SUPERVISOR)

    def disputed(self, complaint_id, reason="the refund is too small", count=1, at=T0):
        return self.envelope("resolution", events.ResolutionDisputed(
            reason=reason, dispute_count=count), complaint_id, at, CUSTOMER_DESK)


@pytest.fixture
def clock():
    return FrozenClock(T0 + timedelta(hours=1))


@pytest.fixture
def app(clock):
    return InvestigationApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                                    clock=clock, roster=nobody_available())


@pytest.fixture
def upstream():
    return Upstream()


def open_case(app, upstream, **classification):
    complaint_id = uuid.uuid4()
    app.process(upstream.classified(complaint_id, **classification))
    return complaint_id


def assign(app, complaint_id, investigator="li.na", actor=SUPERVISOR, reason=None):
    return app.assign(complaint_id, api.Assign(investigator=investigator, reason=reason), actor)


def finding(app, complaint_id, text="CCTV shows the cashier scanned the item twice",
            kind="evidence"):
    return app.record_finding(complaint_id, api.RecordFinding(kind=kind, text=text), LI)


def conclude(app, complaint_id, root_cause="process"):
    return app.conclude(complaint_id, api.Conclude(
        root_cause=root_cause,
        five_whys=["item scanned twice", "scanner beeped late", "no double-scan check"],
        responsible_department="Store operations",
        corrective_actions=[{"action": "add a double-scan warning", "owner": "it.ops",
                             "due_date": "2026-12-01"}],
        summary="The customer was charged twice for one item."), LI)


def published(app):
    return [e.event_type for e in app.notifications(1, 100)]


# --- opening cases --------------------------------------------------------------


def test_a_classified_complaint_opens_a_case_routed_to_its_team(app, upstream):
    complaint_id = open_case(app, upstream, category="billing")
    case = app.get_case(complaint_id)
    assert case.complaint_id == complaint_id
    assert case.status == CaseStatus.open
    assert case.team == "finance"
    assert (case.category, case.severity) == ("billing", "normal")
    assert case.investigator is None
    assert case.escalated is False
    assert case.opened_at == T0
    assert published(app) == ["case.opened"]
    opened = app.notifications(1, 1)[0]
    assert opened.actor == Actor(id="investigation", role="system")
    assert opened.correlation_id == f"corr-{complaint_id}"
    assert opened.parsed().team == "finance"


@pytest.mark.parametrize(("category", "team"), [
    ("service_attitude", "customer-service"), ("response_delay", "customer-service"),
    ("product_quality", "product"), ("after_sales", "product"), ("billing", "finance"),
    ("facilities", "facilities"), ("safety", "safety"), ("privacy", "privacy"),
    ("information", "customer-service"), ("other", "customer-service"),
])
def test_every_category_is_routed_to_a_team(app, upstream, category, team):
    assert app.get_case(open_case(app, upstream, category=category)).team == team


@pytest.mark.parametrize("type_", ["inquiry", "praise", "suggestion"])
def test_feedback_that_is_not_a_complaint_opens_no_case(app, upstream, type_):
    complaint_id = open_case(app, upstream, type_=type_)
    with pytest.raises(NotFound):
        app.get_case(complaint_id)
    assert app.head() == 0
    assert app.position("intake") == 1


def test_events_investigation_does_not_care_about_are_tracked_and_ignored(app, upstream):
    complaint_id = uuid.uuid4()
    app.process(upstream.envelope("intake", events.ComplaintReceived(
        channel="web", language="en", text="rude", product=None, location=None,
        customer_request=None, happened_at=None, received_at=T0), complaint_id))
    assert app.position("intake") == 1
    assert app.head() == 0


def test_a_critical_complaint_is_escalated_at_once(app, upstream):
    complaint_id = open_case(app, upstream, category="safety", severity="critical")
    case = app.get_case(complaint_id)
    assert case.escalated is True
    assert case.escalation_reasons == ["severity critical; safety complaint"]
    assert case.team == "safety"
    assert published(app) == ["case.opened", "case.escalated"]


def test_an_ordinary_complaint_is_not_escalated(app, upstream):
    assert app.get_case(open_case(app, upstream, severity="normal")).escalated is False


def test_a_safety_complaint_is_escalated_at_once(app, upstream):
    # DOMAIN.md: serious cases (safety, injury, legal threat, media exposure, repeated
    # complaint) are escalated to a supervisor at once. A safety hazard without injury
    # is classified high (the safety category lifts it), not critical.
    complaint_id = open_case(app, upstream, category="safety", severity="high")
    assert app.get_case(complaint_id).escalated is True


def test_a_reclassification_to_critical_moves_and_escalates_the_case(app, upstream):
    complaint_id = open_case(app, upstream, category="billing", severity="normal")
    app.process(upstream.reclassified(complaint_id, "complaint", "safety", "critical"))
    case = app.get_case(complaint_id)
    assert (case.category, case.severity, case.team) == ("safety", "critical", "safety")
    assert case.escalation_reasons == ["reclassified to severity critical; safety complaint"]
    assert published(app) == ["case.opened", "case.reclassified", "case.escalated"]


def test_an_inquiry_reclassified_as_a_complaint_opens_a_case(app, upstream):
    complaint_id = open_case(app, upstream, type_="inquiry")
    app.process(upstream.reclassified(complaint_id, "complaint", "information", "normal",
                                      previous=("inquiry", "information", "normal")))
    assert app.get_case(complaint_id).team == "customer-service"


# --- working a case -------------------------------------------------------------


def test_assign_record_findings_and_conclude(app, upstream, clock):
    complaint_id = open_case(app, upstream)
    case = assign(app, complaint_id)
    assert (case.status, case.investigator) == (CaseStatus.investigating, "li.na")
    clock.advance(hours=2)
    case = finding(app, complaint_id)
    assert [(f.kind, f.author, f.at) for f in case.findings] == [
        ("evidence", "li.na", T0 + timedelta(hours=3))]
    case = conclude(app, complaint_id)
    assert case.status == CaseStatus.concluded
    assert case.root_cause == "process"
    assert case.five_whys[-1] == "no double-scan check"
    assert case.responsible_department == "Store operations"
    assert case.corrective_actions[0].due_date == date(2026, 12, 1)
    assert case.summary == "The customer was charged twice for one item."
    assert app.get_case(complaint_id) == case
    assert published(app) == ["case.opened", "case.assigned", "case.finding_recorded",
                              "case.concluded", "corrective_action.opened"]
    concluded = app.notifications(4, 1)[0]
    assert concluded.actor == LI
    assert concluded.parsed().conclusion_number == 1


def test_a_supervisor_can_reassign_and_the_previous_investigator_is_recorded(app, upstream):
    complaint_id = open_case(app, upstream)
    assign(app, complaint_id, "li.na")
    case = assign(app, complaint_id, "wang.fang", reason="li.na is on leave")
    assert case.investigator == "wang.fang"
    reassigned = app.notifications(1, 10)[-1].parsed()
    assert (reassigned.previous_investigator, reassigned.investigator, reassigned.reason) == (
        "li.na", "wang.fang", "li.na is on leave")


def test_concluding_an_open_case_is_refused_naming_the_state_and_what_is_allowed(app, upstream):
    complaint_id = open_case(app, upstream)
    with pytest.raises(StateConflict) as caught:
        conclude(app, complaint_id)
    assert caught.value.state == "open"
    assert caught.value.allowed == ["assign", "escalate", "request_consultation"]
    assert "'open'" in str(caught.value) and "assign" in str(caught.value)
    assert published(app) == ["case.opened"]


def test_findings_cannot_be_recorded_before_the_case_is_assigned(app, upstream):
    complaint_id = open_case(app, upstream)
    with pytest.raises(StateConflict) as caught:
        finding(app, complaint_id)
    assert (caught.value.state, caught.value.allowed) == (
        "open", ["assign", "escalate", "request_consultation"])


@pytest.mark.parametrize("action", [
    lambda app, cid: finding(app, cid),
    lambda app, cid: conclude(app, cid),
    lambda app, cid: assign(app, cid, "wang.fang"),
], ids=["record_finding", "conclude", "assign"])
def test_a_concluded_case_accepts_no_more_work(app, upstream, action):
    complaint_id = open_case(app, upstream)
    assign(app, complaint_id)
    conclude(app, complaint_id)
    head = app.head()
    with pytest.raises(StateConflict) as caught:
        action(app, complaint_id)
    assert caught.value.state == "concluded"
    assert caught.value.allowed == []
    assert "allowed now: none" in str(caught.value)
    assert app.head() == head


def test_commands_on_an_unknown_complaint_are_not_found(app):
    with pytest.raises(NotFound):
        assign(app, uuid.uuid4())
    with pytest.raises(NotFound):
        app.get_case(uuid.uuid4())


# --- disputes reopen ------------------------------------------------------------


def test_a_dispute_reopens_the_concluded_case(app, upstream):
    complaint_id = open_case(app, upstream)
    assign(app, complaint_id)
    conclude(app, complaint_id)
    app.process(upstream.disputed(complaint_id, "the refund is too small"))
    case = app.get_case(complaint_id)
    assert case.status == CaseStatus.investigating
    assert case.investigator == "li.na"
    assert case.reopen_count == 1
    assert case.reopen_reasons == ["disputed by the customer: the refund is too small"]
    assert app.position("resolution") == 1
    reopened = app.notifications(1, 100)[-1]
    assert reopened.event_type == "case.reopened"
    assert reopened.parsed().reopen_count == 1


def test_the_reopen_count_grows_with_every_dispute(app, upstream):
    complaint_id = open_case(app, upstream)
    assign(app, complaint_id)
    for n in (1, 2, 3):
        concluded = conclude(app, complaint_id)
        assert concluded.status == CaseStatus.concluded
        app.process(upstream.disputed(complaint_id, f"dispute {n}", count=n))
        assert app.get_case(complaint_id).reopen_count == n
    finding(app, complaint_id, "the customer brought the receipt", kind="interview")
    conclude(app, complaint_id)
    conclusions = [e.parsed().conclusion_number for e in app.notifications(1, 100)
                   if e.event_type == "case.concluded"]
    assert conclusions == [1, 2, 3, 4]


def test_a_dispute_of_a_case_still_under_investigation_changes_nothing(app, upstream):
    complaint_id = open_case(app, upstream)
    assign(app, complaint_id)
    head = app.head()
    app.process(upstream.disputed(complaint_id))
    assert app.get_case(complaint_id).reopen_count == 0
    assert app.head() == head
    assert app.position("resolution") == 1


def test_a_dispute_for_a_complaint_without_a_case_changes_nothing(app, upstream):
    app.process(upstream.disputed(uuid.uuid4()))
    assert app.head() == 0
    assert app.position("resolution") == 1


# --- exactly once ---------------------------------------------------------------


def test_the_same_upstream_position_is_never_applied_twice(app, upstream):
    complaint_id = uuid.uuid4()
    envelope = upstream.classified(complaint_id, severity="critical")
    app.process(envelope)
    with pytest.raises(RecordConflictError):
        app.process(envelope)
    assert app.position("intake") == 1
    assert published(app) == ["case.opened", "case.escalated"]
    assert app.get_case(complaint_id).escalation_reasons == ["severity critical"]


def test_a_replayed_dispute_does_not_reopen_twice(app, upstream):
    complaint_id = open_case(app, upstream)
    assign(app, complaint_id)
    conclude(app, complaint_id)
    dispute = upstream.disputed(complaint_id)
    app.process(dispute)
    conclude(app, complaint_id)
    with pytest.raises(RecordConflictError):
        app.process(dispute)
    case = app.get_case(complaint_id)
    assert (case.status, case.reopen_count) == (CaseStatus.concluded, 1)


def test_the_same_classification_published_again_opens_no_second_case(app, upstream):
    complaint_id = open_case(app, upstream)
    app.process(upstream.classified(complaint_id))  # same fact, later position
    assert published(app) == ["case.opened"]
    assert app.position("intake") == 2


def test_positions_are_tracked_per_upstream_service(app, upstream):
    complaint_id = open_case(app, upstream)
    open_case(app, upstream)
    assign(app, complaint_id)
    conclude(app, complaint_id)
    app.process(upstream.disputed(complaint_id))
    assert (app.position("intake"), app.position("resolution")) == (2, 1)


# --- queries --------------------------------------------------------------------


def test_list_cases_filters_by_assignee_and_status(app, upstream):
    li_open = open_case(app, upstream, category="billing")
    li_done = open_case(app, upstream, category="safety")
    wang = open_case(app, upstream, category="privacy")
    unassigned = open_case(app, upstream, category="facilities")
    assign(app, li_open, "li.na")
    assign(app, li_done, "li.na")
    conclude(app, li_done)
    assign(app, wang, "wang.fang")

    def ids(**filters):
        return {c.complaint_id for c in app.list_cases(**filters).cases}

    assert ids() == {li_open, li_done, wang, unassigned}
    assert ids(investigator="li.na") == {li_open, li_done}
    assert ids(investigator="li.na", status="investigating") == {li_open}
    assert ids(status="investigating") == {li_open, wang}
    assert ids(status="concluded") == {li_done}
    assert ids(status="open") == {unassigned}
    assert ids(investigator="nobody") == set()
    listed = {c.complaint_id: c for c in app.list_cases().cases}
    assert listed[li_done] == app.get_case(li_done)


def test_list_cases_is_ordered_by_opening_time(app, upstream):
    later = open_case(app, upstream, at=T0 + timedelta(hours=3))
    earlier = open_case(app, upstream, at=T0 + timedelta(hours=1))
    assert [c.complaint_id for c in app.list_cases().cases] == [earlier, later]
