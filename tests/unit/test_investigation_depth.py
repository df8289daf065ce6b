"""Routing, escalation, consultation and corrective actions in investigation."""

import random
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from contracts import api, events
from contracts.envelope import Actor, make_envelope
from contracts.vocabulary import ActionStatus, EscalationStatus
from servicekit.clock import FrozenClock
from servicekit.errors import Forbidden, InvalidCommand, StateConflict
from services.intake import sla
from services.investigation.application import InvestigationApplication, load_roster
from services.investigation.routing import Workload, choose_investigator

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
INVESTIGATOR = Actor(id="inv-1", role="investigator")
SUPERVISOR = Actor(id="sup-cs", role="supervisor")
QUALITY = Actor(id="qm-1", role="quality_manager")
LEGAL = Actor(id="legal-1", role="investigator")
CONCLUSION = api.Conclude(root_cause="process", five_whys=["no check"],
                          responsible_department="ops", summary="s",
                          corrective_actions=[{"action": "add a check", "owner": "ops-lead",
                                               "due_date": "2026-11-20"}])


class Upstream:
    def __init__(self):
        self.positions = {"intake": 0, "resolution": 0, "intake-sla": 0}

    def envelope(self, service, event, complaint_id, at=T0):
        self.positions[service] += 1
        return make_envelope(
            event=event, complaint_id=complaint_id, origin_service=service,
            origin_position=self.positions[service], aggregate_id=complaint_id,
            aggregate_version=self.positions[service], occurred_at=at, recorded_at=at,
            actor=Actor(id=service, role="system"), correlation_id="c")

    def classified(self, complaint_id, category="service_attitude", severity="normal"):
        return self.envelope("intake", events.ComplaintClassified(
            channel="web", type="complaint", category=category, severity=severity,
            matched_rules=[], ruleset_version="t",
            deadlines=sla.deadlines(T0, "web", severity)), complaint_id)


@pytest.fixture
def clock():
    return FrozenClock(T0)


@pytest.fixture
def app(clock):
    return InvestigationApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                                    clock=clock)


@pytest.fixture
def upstream():
    return Upstream()


def new_case(app, upstream, **kwargs):
    complaint_id = uuid.uuid4()
    app.process(upstream.classified(complaint_id, **kwargs))
    return complaint_id


# --- routing -------------------------------------------------------------------


def test_a_new_case_goes_to_its_category_team_least_loaded_investigator(app, upstream):
    first = app.get_case(new_case(app, upstream))
    second = app.get_case(new_case(app, upstream))
    billing = app.get_case(new_case(app, upstream, category="billing"))
    assert (first.team, first.investigator) == ("customer-service", "inv-1")
    assert second.investigator == "inv-2"
    assert (billing.team, billing.investigator) == ("finance", "inv-6")


def test_ties_in_open_load_go_to_the_longest_idle_investigator(app, upstream, clock):
    cases = [new_case(app, upstream) for _ in range(3)]  # inv-1, inv-2, inv-3
    for complaint_id in cases[1:]:
        app.conclude(complaint_id, CONCLUSION, INVESTIGATOR)
    clock.advance(minutes=1)
    # inv-2 and inv-3 both have no open case; inv-2 was given one longest ago.
    assert app.get_case(new_case(app, upstream)).investigator == "inv-2"


def test_an_investigator_marked_away_gets_nothing_new(clock, upstream):
    roster = load_roster()
    app = InvestigationApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                                   clock=clock, roster=replace(roster, away=frozenset({"inv-1"})))
    assert {app.get_case(new_case(app, upstream)).investigator for _ in range(6)} == {
        "inv-2", "inv-3"}


def test_a_team_with_nobody_available_keeps_the_case_in_its_queue(clock, upstream):
    roster = load_roster()
    app = InvestigationApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                                   clock=clock, roster=replace(roster, away=frozenset({"inv-11"})))
    case = app.get_case(new_case(app, upstream, category="privacy"))
    assert (case.status, case.investigator, case.team) == ("open", None, "privacy")


@pytest.mark.parametrize("seed", range(5))
def test_routing_1000_random_cases_always_picks_a_least_loaded_investigator(seed):
    """Cases arrive for random teams and close at random: every new case goes to an
    available investigator with the fewest open cases, and the open counts are exact."""
    rng = random.Random(seed)
    roster = replace(load_roster(), away=frozenset({"inv-3"}))
    workload = Workload()
    holders: dict[uuid.UUID, str] = {}
    for n in range(1000):
        team = rng.choice(sorted(roster.investigators))
        chosen = choose_investigator(team, roster, workload)
        available = [i for i in roster.investigators[team] if i not in roster.away]
        assert chosen in available
        assert workload.open_cases(chosen) == min(workload.open_cases(i) for i in available)
        workload.assigned(uuid.UUID(int=n), chosen, T0 + timedelta(minutes=n))
        holders[uuid.UUID(int=n)] = chosen
        if rng.random() < 0.4:
            closed = rng.choice(sorted(holders))
            workload.concluded(closed)
            del holders[closed]
    for investigator in {i for team in roster.investigators.values() for i in team}:
        assert workload.open_cases(investigator) == sum(
            1 for who in holders.values() if who == investigator)
    assert workload.open_cases("inv-3") == 0


def test_routing_without_closures_balances_exactly():
    roster = load_roster()
    workload = Workload()
    for n in range(1000):
        chosen = choose_investigator("customer-service", roster, workload)
        workload.assigned(uuid.UUID(int=n), chosen, T0 + timedelta(seconds=n))
    counts = [workload.open_cases(i) for i in roster.investigators["customer-service"]]
    assert max(counts) - min(counts) <= 1 and sum(counts) == 1000


# --- reassignment and escalation --------------------------------------------------


def test_only_a_supervisor_reassigns_and_says_why(app, upstream):
    complaint_id = new_case(app, upstream)
    with pytest.raises(Forbidden, match="supervisor"):
        app.assign(complaint_id, api.Assign(investigator="inv-2", reason="swap"), INVESTIGATOR)
    with pytest.raises(InvalidCommand, match="reason"):
        app.assign(complaint_id, api.Assign(investigator="inv-2"), SUPERVISOR)
    head = app.head()
    case = app.assign(complaint_id, api.Assign(investigator="inv-2", reason="workload"),
                      SUPERVISOR)
    assert case.investigator == "inv-2" and app.head() == head + 1


def test_a_critical_case_waits_in_the_supervisor_queue_until_taken(app, upstream):
    critical = new_case(app, upstream, severity="critical")
    new_case(app, upstream)
    queue = app.supervisor_queue().cases
    assert [c.complaint_id for c in queue] == [critical]
    assert queue[0].escalation_status == EscalationStatus.pending
    with pytest.raises(Forbidden):
        app.take_escalation(critical, api.TakeEscalation(), INVESTIGATOR)
    taken = app.take_escalation(critical, api.TakeEscalation(note="on it"), SUPERVISOR)
    assert (taken.escalation_status, taken.escalation_taken_by) == ("taken", "sup-cs")
    assert app.supervisor_queue().cases == []
    with pytest.raises(StateConflict, match="escalation taken"):
        app.take_escalation(critical, api.TakeEscalation(), SUPERVISOR)


def test_an_investigator_can_ask_for_escalation(app, upstream):
    complaint_id = new_case(app, upstream)
    case = app.escalate(complaint_id, api.Escalate(reason="legal threat in a letter"),
                        INVESTIGATOR)
    assert case.escalation_status == "pending"
    assert case.escalation_reasons == ["legal threat in a letter"]


def test_a_missed_deadline_escalates_the_case_with_the_breach(app, upstream):
    complaint_id = new_case(app, upstream)
    app.process(upstream.envelope("intake", events.ComplaintDeadlineBreached(
        target="first_reply", deadline=T0 + timedelta(hours=24),
        breached_at=T0 + timedelta(hours=24, seconds=1)), complaint_id))
    case = app.get_case(complaint_id)
    assert case.escalation_status == "pending"
    assert "first_reply deadline" in case.escalation_reasons[0]


def test_the_second_reopen_escalates(app, upstream):
    complaint_id = new_case(app, upstream)
    for n in (1, 2):
        app.conclude(complaint_id, CONCLUSION, INVESTIGATOR)
        app.process(upstream.envelope("resolution", events.ResolutionDisputed(
            reason=f"dispute {n}", dispute_count=n), complaint_id))
    case = app.get_case(complaint_id)
    assert case.reopen_count == 2
    assert case.escalation_reasons == ["reopened 2 times"]


def test_a_dissatisfied_follow_up_reopens_the_case(app, upstream):
    complaint_id = new_case(app, upstream)
    app.conclude(complaint_id, CONCLUSION, INVESTIGATOR)
    app.process(upstream.envelope("resolution", events.ResolutionReopened(
        reason="still broken", reopen_count=1), complaint_id))
    case = app.get_case(complaint_id)
    assert (case.status, case.reopen_count) == ("investigating", 1)
    assert case.reopen_reasons == ["dissatisfied at the follow-up: still broken"]


# --- consultation, evidence, conclusion --------------------------------------------


def test_a_consultation_must_be_answered_before_the_case_concludes(app, upstream):
    complaint_id = new_case(app, upstream)
    case = app.request_consultation(complaint_id, api.RequestConsultation(
        department="legal", question="Was the contract clause enforceable?"), SUPERVISOR)
    assert [c.consultation_id for c in case.consultations] == ["c1"]
    with pytest.raises(StateConflict, match="legal") as caught:
        app.conclude(complaint_id, CONCLUSION, INVESTIGATOR)
    assert "conclude" not in caught.value.allowed
    answered = app.answer_consultation(complaint_id, "c1", api.AnswerConsultation(
        findings="Not enforceable"), LEGAL)
    assert (answered.consultations[0].findings, answered.consultations[0].answered_by) == (
        "Not enforceable", "legal-1")
    with pytest.raises(StateConflict):
        app.answer_consultation(complaint_id, "c1", api.AnswerConsultation(findings="x"), LEGAL)
    with pytest.raises(InvalidCommand, match="c9"):
        app.answer_consultation(complaint_id, "c9", api.AnswerConsultation(findings="x"), LEGAL)
    assert app.conclude(complaint_id, CONCLUSION, INVESTIGATOR).status == "concluded"


def test_evidence_keeps_its_attachments_and_author(app, upstream):
    complaint_id = new_case(app, upstream)
    case = app.record_finding(complaint_id, api.RecordFinding(
        kind="evidence", text="CCTV still", attachments=[{
            "filename": "cctv.jpg", "content_type": "image/jpeg", "size": 52311,
            "checksum": "a" * 64}]), INVESTIGATOR)
    finding = case.findings[0]
    assert (finding.author, finding.attachments[0]["filename"]) == ("inv-1", "cctv.jpg")


# --- corrective actions ----------------------------------------------------------------


def test_a_conclusion_opens_its_corrective_actions_which_are_done_then_verified(app, upstream,
                                                                                 clock):
    complaint_id = new_case(app, upstream)
    app.conclude(complaint_id, CONCLUSION, INVESTIGATOR)
    [action] = app.corrective_actions().actions
    assert (action.status, action.owner, action.due_date) == ("open", "ops-lead",
                                                               date(2026, 11, 20))
    assert not action.overdue
    clock.advance(days=30)
    assert [a.action_id for a in app.corrective_actions(overdue=True).actions] == [
        action.action_id]
    with pytest.raises(StateConflict, match="'open'"):
        app.verify_action(action.action_id, api.VerifyAction(effective=True), QUALITY)
    done = app.complete_action(action.action_id, api.CompleteAction(evidence="check live"),
                               INVESTIGATOR)
    assert (done.status, done.overdue) == (ActionStatus.done, False)
    with pytest.raises(Forbidden, match="quality_manager"):
        app.verify_action(action.action_id, api.VerifyAction(effective=True), SUPERVISOR)
    verified = app.verify_action(action.action_id, api.VerifyAction(
        effective=False, note="complaints went on"), QUALITY)
    assert (verified.status, verified.verified_by) == ("verified_ineffective", "qm-1")
    published = [e.event_type for e in app.notifications(1, 100)]
    assert published[-3:] == ["corrective_action.opened", "corrective_action.done",
                              "corrective_action.verified"]
    assert app.notifications(1, 100)[-1].payload["action_id"] == str(action.action_id)
