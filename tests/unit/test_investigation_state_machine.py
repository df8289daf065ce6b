"""Generated lifecycles of investigation cases, checked against a model of the rules.

A classified complaint of any category and severity opens a case that routing cannot
give to anyone (every investigator is away), so it starts unassigned. Hypothesis then
draws any sequence of every case action: assign (an investigator picking the case up, a
supervisor reassigning with or without a reason, anyone else trying to reassign),
escalate, take the escalation (as a supervisor or not), request consultations, answer
one (open, already answered or unknown), record a finding, conclude (with or without
corrective actions), and the upstream events delivered through app.process:
resolution.disputed and resolution.reopened (reopen a concluded case; the second reopen
escalates), complaint.deadline_breached (escalates unless concluded) and
complaint.reclassified; and further complaints, whose cases must not disturb each other.

The model is written from the rules (README "States"), never from the domain's
allowed_actions(). Every attempt: an action the model allows must succeed, store exactly
the events the model predicts and leave the case as the model says; any other must raise
the error of a rule that refuses it -- StateConflict naming the status (or the
escalation or consultation state) and listing as allowed exactly what the rules allow,
never the refused action; Forbidden for a role rule; InvalidCommand for an input rule --
and store nothing. A fixed-seed run shows the generation meets every (status, action)
pair both ways the rules allow; two plain tests repeat, on their own, what it found.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from contracts import api, events
from contracts.envelope import Actor, Envelope, make_envelope
from contracts.vocabulary import CaseStatus, Category, EscalationStatus, FindingKind, Severity
from servicekit.clock import FrozenClock
from servicekit.errors import DomainError, Forbidden, InvalidCommand, StateConflict
from services.investigation.application import InvestigationApplication, load_roster

S = CaseStatus
E = EscalationStatus
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
DEADLINES = {"policy_version": "t", "acknowledge_by": T0 + timedelta(hours=2),
             "first_reply_by": T0 + timedelta(hours=24), "resolve_by": T0 + timedelta(days=3)}
ROSTER = load_roster()
NOBODY_AVAILABLE = replace(ROSTER, away=frozenset(
    i for team in ROSTER.investigators.values() for i in team))

INVESTIGATORS = ("inv-1", "inv-2", "inv-3")
SUPERVISOR = Actor(id="sup-cs", role="supervisor")
INVESTIGATOR = Actor(id="inv-1", role="investigator")
NON_SUPERVISOR_ROLES = ("agent", "investigator", "resolver", "quality_manager")
DEPARTMENTS = ("legal", "finance", "facilities")

ACTIONS = ("assign", "escalate", "take_escalation", "request_consultation",
           "answer_consultation", "record_finding", "conclude")
REACTIONS = ("resolution.disputed", "resolution.reopened", "complaint.deadline_breached",
             "complaint.reclassified")

# The rules, written out: what each status lets people do with a case, before the
# escalation and consultation conditions (Model.allowed). A concluded case takes no work.
WORK: dict[str, frozenset[str]] = {
    S.open: frozenset({"assign", "escalate", "request_consultation"}),
    S.investigating: frozenset({"assign", "escalate", "request_consultation",
                                "record_finding", "conclude"}),
    S.concluded: frozenset(),
}

# Which verdicts each (status, action) can have under the rules; the coverage test checks
# that a fixed-seed run of the machine meets every one of them.
A, R = "allowed", "refused"
EXPECTED_VERDICTS: dict[tuple[str, str], set[str]] = {
    (S.open, "assign"): {A},  # nobody holds an open case, so anyone may assign it first
    (S.open, "escalate"): {A},
    (S.open, "take_escalation"): {A, R},
    (S.open, "request_consultation"): {A},
    (S.open, "answer_consultation"): {A, R},
    (S.open, "record_finding"): {R},
    (S.open, "conclude"): {R},
    (S.investigating, "assign"): {A, R},
    (S.investigating, "escalate"): {A},
    (S.investigating, "take_escalation"): {A, R},
    (S.investigating, "request_consultation"): {A},
    (S.investigating, "answer_consultation"): {A, R},
    (S.investigating, "record_finding"): {A},
    (S.investigating, "conclude"): {A, R},
    **{(S.concluded, action): {R} for action in ACTIONS},
    **{(status, reopening): {"reopened" if status == S.concluded else "ignored"}
       for status in S for reopening in ("resolution.disputed", "resolution.reopened")},
    **{(status, "complaint.deadline_breached"): {
        "ignored" if status == S.concluded else "escalated"} for status in S},
    **{(status, "complaint.reclassified"): {"applied"} for status in S},
}
# The errors that refuse each action somewhere.
EXPECTED_REFUSALS: dict[str, set[str]] = {
    "assign": {"StateConflict", "Forbidden", "InvalidCommand"},
    "escalate": {"StateConflict"},
    "take_escalation": {"StateConflict", "Forbidden"},
    "request_consultation": {"StateConflict"},
    "answer_consultation": {"StateConflict", "InvalidCommand"},
    "record_finding": {"StateConflict"},
    "conclude": {"StateConflict"},
}
# Conditions deeper than the status that the run must reach too.
EXPECTED_SITUATIONS = {
    "a supervisor's assignment takes the pending escalation",
    "a supervisor's reassignment without a reason",
    "an answered consultation answered again while another is open",
    "concluding while a consultation is open",
    "the second reopen escalates",
    "a reclassification escalates the case",
}


def serious(category: str, severity: str) -> bool:
    """High or critical severity, or a safety complaint, goes to a supervisor at once."""
    return severity in (Severity.high, Severity.critical) or category == Category.safety


@dataclass(frozen=True)
class Refusal:
    """The rules refusing an attempt: the implementation must raise the error of one of
    them -- a StateConflict naming one of `states`, Forbidden, or an InvalidCommand for
    one of `fields`."""

    states: frozenset[str]
    forbidden: bool
    fields: frozenset[str]

    @property
    def errors(self) -> tuple[type[DomainError], ...]:
        return tuple(error for error, applies in ((StateConflict, self.states),
                                                  (Forbidden, self.forbidden),
                                                  (InvalidCommand, self.fields)) if applies)


def refused_by(*states: str | None, forbidden: bool = False,
               invalid: tuple[str | None, ...] = ()) -> Refusal | None:
    refusal = Refusal(frozenset(s for s in states if s), forbidden,
                      frozenset(f for f in invalid if f))
    return refusal if refusal.errors else None


@dataclass
class Model:
    category: str
    severity: str
    status: str = S.open
    investigator: str | None = None
    escalation: str = E.none
    taken_by: str | None = None
    escalation_reasons: int = 0
    consultations: dict[str, bool] = field(default_factory=dict)  # id -> answered
    findings: int = 0
    reopen_count: int = 0

    def open_consultations(self) -> list[str]:
        return [c for c, answered in self.consultations.items() if not answered]

    def allowed(self) -> set[str]:
        allowed = set(WORK[self.status])
        if allowed and self.escalation == E.pending:
            allowed.add("take_escalation")  # until a supervisor takes it
        if allowed and self.open_consultations():
            allowed.add("answer_consultation")
            allowed.discard("conclude")  # not while a department's answer is awaited
        return allowed

    def refused_by_status(self, action: str) -> str | None:
        return None if action in WORK[self.status] else self.status

    def escalated(self) -> None:
        self.escalation = E.pending
        self.taken_by = None
        self.escalation_reasons += 1


class Upstream:
    """Intake's and resolution's integration events, each at the next position of its
    origin's log (so each is processed, exactly once)."""

    def __init__(self) -> None:
        self.positions = {"intake": 0, "resolution": 0}
        self.counts: dict[tuple[uuid.UUID, str], int] = {}

    def envelope(self, service: str, complaint_id: uuid.UUID, event: Any) -> Envelope:
        self.positions[service] += 1
        return make_envelope(
            event=event, complaint_id=complaint_id, origin_service=service,
            origin_position=self.positions[service], aggregate_id=complaint_id,
            aggregate_version=self.positions[service], occurred_at=T0, recorded_at=T0,
            actor=Actor(id=service, role="system"), correlation_id="c")

    def count(self, complaint_id: uuid.UUID, what: str) -> int:
        self.counts[complaint_id, what] = self.counts.get((complaint_id, what), 0) + 1
        return self.counts[complaint_id, what]

    def classified(self, complaint_id: uuid.UUID, category: str, severity: str) -> Envelope:
        return self.envelope("intake", complaint_id, events.ComplaintClassified(
            channel="web", type="complaint", category=category, severity=severity,
            matched_rules=[], ruleset_version="t", deadlines=DEADLINES))

    def reclassified(self, complaint_id: uuid.UUID, was: Model, category: str,
                     severity: str) -> Envelope:
        return self.envelope("intake", complaint_id, events.ComplaintReclassified(
            type="complaint", category=category, severity=severity,
            previous_type="complaint", previous_category=was.category,
            previous_severity=was.severity, reason="agent override", deadlines=DEADLINES))

    def deadline_breached(self, complaint_id: uuid.UUID, target: str) -> Envelope:
        return self.envelope("intake", complaint_id, events.ComplaintDeadlineBreached(
            target=target, deadline=T0 + timedelta(hours=24),
            breached_at=T0 + timedelta(hours=24, seconds=1)))

    def disputed(self, complaint_id: uuid.UUID, reason: str) -> Envelope:
        return self.envelope("resolution", complaint_id, events.ResolutionDisputed(
            reason=reason, dispute_count=self.count(complaint_id, "disputes")))

    def reopened(self, complaint_id: uuid.UUID, reason: str) -> Envelope:
        return self.envelope("resolution", complaint_id, events.ResolutionReopened(
            reason=reason, reopen_count=self.count(complaint_id, "reopens")))


def conclusion(corrective_actions: int) -> api.Conclude:
    return api.Conclude(
        root_cause="process", five_whys=["no check"], responsible_department="ops",
        summary="understaffed shift", corrective_actions=[
            {"action": f"fix {n}", "owner": "ops-lead", "due_date": date(2026, 12, n)}
            for n in range(1, corrective_actions + 1)])


def actor(by: str, investigator: str) -> Actor:
    if by == "supervisor":
        return SUPERVISOR
    if by == "the investigator":  # picking the case up, or handing it to a colleague
        return Actor(id=investigator, role="investigator")
    return Actor(id="someone", role=by)


# No shrinking: it would take minutes over these 30-step runs; a failure's message says
# what the rules expected, and the steps before it are printed as generated.
@settings(max_examples=100, stateful_step_count=30, deadline=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
class InvestigationLifecycle(RuleBasedStateMachine):
    # What was tried, for the coverage test: (status, action or event, verdict),
    # (action, error raised) and the deeper situations met.
    tried: ClassVar[set[tuple[str, str, str]]] = set()
    refusals: ClassVar[set[tuple[str, str]]] = set()
    situations: ClassVar[set[str]] = set()

    def __init__(self) -> None:
        super().__init__()
        self.app = InvestigationApplication(env=POPO, clock=FrozenClock(T0 + timedelta(hours=1)),
                                            roster=NOBODY_AVAILABLE)
        self.upstream = Upstream()
        self.cases: dict[uuid.UUID, Model] = {}  # in the order they were opened
        self.last_head = 0

    @property
    def m(self) -> Model:
        """The model of the case the actions are tried on: the latest one opened."""
        return self.cases[self.cid]

    def saw(self, situation: str) -> None:
        type(self).situations.add(situation)

    # --- complaints arrive -----------------------------------------------------------

    @initialize(category=st.sampled_from(list(Category)), severity=st.sampled_from(list(Severity)))
    def classified(self, category: Category, severity: Severity) -> None:
        """A classified complaint opens a case nobody is available to take: unassigned."""
        self.cid = uuid.uuid4()
        self.cases[self.cid] = Model(category=category.value, severity=severity.value)
        if serious(category, severity):
            self.m.escalated()
        head = self.app.head()
        self.app.process(self.upstream.classified(self.cid, category.value, severity.value))
        self.judge(lambda: self.stored(head, 1 + self.m.escalation_reasons, "case opened"))

    @precondition(lambda self: len(self.cases) < 3)
    @rule(category=st.sampled_from(list(Category)), severity=st.sampled_from(list(Severity)))
    def another_complaint(self, category: Category, severity: Severity) -> None:
        """The actions move on to a new case; the earlier ones must stay as they are."""
        self.classified(category, severity)

    # --- attempting an action, and judging it ---------------------------------------------

    def judge(self, check: Callable[[], None]) -> None:
        check()

    def stored(self, head: int, events: int, what: str) -> None:
        assert self.app.head() == head + events, (
            f"{what}: expected {events} events stored, got {self.app.head() - head}")

    def attempt(self, action: str, call: Callable[[], api.CaseView], refusal: Refusal | None,
                on_success: Callable[[], None], events: int = 1) -> None:
        """Runs a command the model allows (refusal is None; it stores `events` events and
        on_success moves the model on) or refuses."""
        m = self.m
        status, allowed = m.status, m.allowed()
        assert refusal is not None or action in allowed, (action, allowed)  # model sanity
        head, escalation = self.app.head(), m.escalation
        try:
            outcome: api.CaseView | DomainError = call()
        except DomainError as exc:
            outcome = exc
            type(self).refusals.add((action, type(exc).__name__))
        type(self).tried.add((status, action, A if refusal is None else R))
        if refusal is None and not isinstance(outcome, DomainError):
            on_success()
        self.judge(lambda: self.judge_attempt(action, refusal, outcome, head,
                                              f"case {status}, escalation {escalation}",
                                              allowed, events))

    def judge_attempt(self, action: str, refusal: Refusal | None,
                      outcome: api.CaseView | DomainError, head: int, before: str,
                      allowed: set[str], events: int) -> None:
        if refusal is None:
            assert not isinstance(outcome, DomainError), (
                f"the rules allow {action} ({before}), but it was refused: {outcome!r}")
            self.stored(head, events, action)
            assert (outcome.status, outcome.investigator, outcome.escalation_status) == (
                self.m.status, self.m.investigator, self.m.escalation)
            return
        assert isinstance(outcome, refusal.errors), (
            f"{action} ({before}) should be refused with "
            f"{[e.__name__ for e in refusal.errors]}, got {outcome!r}")
        if isinstance(outcome, StateConflict):
            assert outcome.state in refusal.states, (action, outcome.state, refusal.states)
            assert outcome.action.split(" ")[0] == action, outcome.action
            assert action not in outcome.allowed, (
                f"{action} refused in state {outcome.state!r}, yet the error lists it as "
                f"allowed: {outcome.allowed}")
            assert outcome.allowed == sorted(allowed - {action}), (
                f"{action} refused in state {outcome.state!r}: the error lists as allowed "
                f"{outcome.allowed}, the rules allow {sorted(allowed - {action})}")
        elif isinstance(outcome, Forbidden):
            assert outcome.allowed_roles == ["supervisor"], outcome.allowed_roles
        else:
            assert outcome.field in refusal.fields, (action, outcome.field, refusal.fields)
        self.stored(head, 0, f"refused {action}")  # so the case is as it was

    def react(self, envelope: Envelope, status: str, verdict: str, events: int) -> None:
        """Delivers an upstream event; the model has already moved on."""
        head = self.app.head()
        type(self).tried.add((status, envelope.event_type, verdict))
        self.app.process(envelope)
        self.judge(lambda: self.stored(head, events, f"{envelope.event_type} {verdict}"))

    # --- assignment ------------------------------------------------------------------------

    @rule(by=st.sampled_from(["the investigator", "supervisor", *NON_SUPERVISOR_ROLES]),
          investigator=st.sampled_from(INVESTIGATORS),
          reason=st.sampled_from([None, "workload"]))
    def assign(self, by: str, investigator: str, reason: str | None) -> None:
        m, who = self.m, actor(by, investigator)
        reassigning = m.investigator is not None and investigator != m.investigator
        by_supervisor = who.role == SUPERVISOR.role
        refusal = refused_by(
            m.refused_by_status("assign"),
            forbidden=reassigning and not by_supervisor,  # only a supervisor reassigns
            invalid=("body.reason" if reassigning and not reason else None,  # and says why
                     "body.investigator" if investigator == m.investigator else None))
        takes = by_supervisor and m.escalation == E.pending
        if refusal is None and takes:
            self.saw("a supervisor's assignment takes the pending escalation")
        if reassigning and by_supervisor and not reason and WORK[m.status]:
            self.saw("a supervisor's reassignment without a reason")

        def assigned() -> None:
            m.investigator = investigator
            if m.status == S.open:
                m.status = S.investigating
            if takes:  # a supervisor who (re)assigns a case takes its pending escalation
                m.escalation, m.taken_by = E.taken, who.id

        self.attempt("assign", lambda: self.app.assign(
            self.cid, api.Assign(investigator=investigator, reason=reason), who),
            refusal, assigned, events=2 if takes else 1)

    # --- escalation ------------------------------------------------------------------------

    @rule(reason=st.sampled_from(["legal threat in a letter", "a journalist called"]))
    def escalate(self, reason: str) -> None:
        self.attempt("escalate", lambda: self.app.escalate(
            self.cid, api.Escalate(reason=reason), INVESTIGATOR),
            refused_by(self.m.refused_by_status("escalate")), self.m.escalated)

    @rule(by=st.sampled_from(["supervisor", "supervisor", *NON_SUPERVISOR_ROLES]))
    def take_escalation(self, by: str) -> None:
        m, who = self.m, actor(by, "inv-1")

        def taken() -> None:
            m.escalation, m.taken_by = E.taken, who.id

        refusal = refused_by(
            "concluded" if m.status == S.concluded else None,
            f"escalation {m.escalation}" if m.escalation != E.pending else None,
            forbidden=who.role != SUPERVISOR.role)
        self.attempt("take_escalation", lambda: self.app.take_escalation(
            self.cid, api.TakeEscalation(note="mine"), who), refusal, taken)

    # --- consultations -----------------------------------------------------------------------

    @rule(departments=st.lists(st.sampled_from(DEPARTMENTS), min_size=1, max_size=3))
    def request_consultations(self, departments: list[str]) -> None:
        for department in departments:
            self._request(department)

    def _request(self, department: str) -> None:
        m = self.m
        consultation_id = f"c{len(m.consultations) + 1}"  # numbered in order of request

        def requested() -> None:
            m.consultations[consultation_id] = False

        self.attempt("request_consultation", lambda: self.app.request_consultation(
            self.cid, api.RequestConsultation(department=department, question="liable?"),
            SUPERVISOR), refused_by(m.refused_by_status("request_consultation")), requested)

    @rule(data=st.data(), which=st.sampled_from(["open", "answered", "unknown"]))
    def answer_consultation(self, data: st.DataObject, which: str) -> None:
        """An open consultation, an answered one, or one the case never asked for (also
        when the case has none of the kind drawn)."""
        m = self.m
        unknown = ["c0", f"c{len(m.consultations) + 1}", "legal"]
        pool = {"open": m.open_consultations(),
                "answered": [c for c, answered in m.consultations.items() if answered],
                "unknown": unknown}[which]
        self._answer(data.draw(st.sampled_from(pool or unknown), label="consultation"))

    def _answer(self, consultation_id: str) -> None:
        m = self.m
        known = consultation_id in m.consultations
        answered = m.consultations.get(consultation_id, False)
        if answered and m.open_consultations():
            self.saw("an answered consultation answered again while another is open")

        def done() -> None:
            m.consultations[consultation_id] = True

        refusal = refused_by(
            "concluded" if m.status == S.concluded else None,
            "consultation answered" if answered else None,
            invalid=(None if known else "path.consultation_id",))
        self.attempt("answer_consultation", lambda: self.app.answer_consultation(
            self.cid, consultation_id, api.AnswerConsultation(findings="it was ours"),
            Actor(id="legal-1", role="investigator")), refusal, done)

    # --- findings and conclusion ---------------------------------------------------------------

    @rule(kind=st.sampled_from(list(FindingKind)))
    def record_finding(self, kind: FindingKind) -> None:
        m = self.m

        def recorded() -> None:
            m.findings += 1

        self.attempt("record_finding", lambda: self.app.record_finding(
            self.cid, api.RecordFinding(kind=kind, text="the waiter confirms"), INVESTIGATOR),
            refused_by(m.refused_by_status("record_finding")), recorded)

    @rule(corrective_actions=st.integers(0, 2))
    def conclude(self, corrective_actions: int) -> None:
        m = self.m
        waiting = m.status == S.investigating and bool(m.open_consultations())
        if waiting:
            self.saw("concluding while a consultation is open")

        def concluded() -> None:
            m.status = S.concluded

        self.attempt("conclude", lambda: self.app.conclude(
            self.cid, conclusion(corrective_actions), INVESTIGATOR),
            refused_by(m.refused_by_status("conclude") or (m.status if waiting else None)),
            concluded, events=1 + corrective_actions)  # the case's and one per action

    # --- upstream events ---------------------------------------------------------------------

    @rule(event=st.sampled_from(["resolution.disputed", "resolution.reopened"]),
          reason=st.sampled_from(["an apology is not enough", "the step is still loose"]))
    def resolution_reopens(self, event: str, reason: str) -> None:
        m, status = self.m, self.m.status
        make = self.upstream.disputed if event == "resolution.disputed" else \
            self.upstream.reopened
        if status != S.concluded:  # only a concluded case reopens
            self.react(make(self.cid, reason), status, "ignored", 0)
            return
        assert m.investigator is not None  # a case concludes only once assigned
        m.status = S.investigating
        m.reopen_count += 1
        escalates = m.reopen_count >= 2  # the second reopen (and any later one) escalates
        if escalates:
            m.escalated()
            self.saw("the second reopen escalates" if m.reopen_count == 2
                     else "a later reopen escalates too")
        self.react(make(self.cid, reason), status, "reopened", 1 + escalates)

    @rule(missed=st.sampled_from(["acknowledge", "first_contact", "first_reply", "resolve"]))
    def deadline_breached(self, missed: str) -> None:
        m, status = self.m, self.m.status
        if status == S.concluded:
            self.react(self.upstream.deadline_breached(self.cid, missed), status, "ignored", 0)
            return
        m.escalated()
        self.react(self.upstream.deadline_breached(self.cid, missed), status, "escalated", 1)

    @rule(category=st.sampled_from(list(Category)), severity=st.sampled_from(list(Severity)))
    def reclassified(self, category: Category, severity: Severity) -> None:
        m, status = self.m, self.m.status
        envelope = self.upstream.reclassified(self.cid, m, category.value, severity.value)
        m.category, m.severity = category.value, severity.value
        # Now serious and never escalated: it goes to a supervisor. (Routing to a new team
        # finds nobody available, so whoever holds the case keeps it.)
        escalates = serious(category, severity) and m.escalation == E.none
        if escalates:
            m.escalated()
            self.saw("a reclassification escalates the case")
        self.react(envelope, status, "applied", 1 + escalates)

    # --- steering towards deep states -------------------------------------------------------

    @rule(data=st.data())
    def progress(self, data: st.DataObject) -> None:
        """A step towards the next status, or an upstream event where the case stands
        (every rule above is also tried in every state): keeps open, concluded, reopened
        and twice-reopened cases well visited."""
        m = self.m
        waiting = m.open_consultations()
        pending = ["take_escalation"] if m.escalation == E.pending else []
        if m.status == S.concluded:
            steps = list(REACTIONS)
        elif m.status == S.open:
            steps = ["assign", "assign", "complaint.deadline_breached", "complaint.reclassified",
                     "request_consultation", *pending,
                     *(["answer_consultation"] if waiting else [])]
        elif waiting:
            steps = ["answer_consultation", "answer_consultation", *pending]
        else:  # (a case never escalated is worth reclassifying as serious, too)
            steps = ["conclude", "conclude", *pending,
                     *(["complaint.reclassified"] if m.escalation == E.none else [])]
        step = data.draw(st.sampled_from(steps), label="step")
        if step in ("resolution.disputed", "resolution.reopened"):
            self.resolution_reopens(step, "not enough")
        elif step == "complaint.deadline_breached":
            self.deadline_breached("resolve")
        elif step == "complaint.reclassified":
            self.reclassified(data.draw(st.sampled_from(list(Category)), label="category"),
                              data.draw(st.sampled_from(list(Severity)), label="severity"))
        elif step == "assign":
            self.assign("the investigator", data.draw(st.sampled_from(INVESTIGATORS)), None)
        elif step == "take_escalation":
            self.take_escalation("supervisor")
        elif step == "request_consultation":
            self._request("legal")
        elif step == "answer_consultation":
            self._answer(data.draw(st.sampled_from(waiting), label="consultation"))
        else:
            self.conclude(data.draw(st.integers(0, 1), label="corrective actions"))

    @rule(data=st.data())
    def one_allowed_action(self, data: st.DataObject) -> None:
        """Any one action the rules allow right now, with arguments that make it so."""
        m = self.m
        allowed = sorted(m.allowed())
        if not allowed:
            return
        action = data.draw(st.sampled_from(allowed), label="action")
        if action == "assign":
            others = [i for i in INVESTIGATORS if i != m.investigator]
            self.assign("supervisor", data.draw(st.sampled_from(others)), "workload")
        elif action == "answer_consultation":
            self._answer(data.draw(st.sampled_from(m.open_consultations())))
        elif action == "request_consultation":
            self._request(data.draw(st.sampled_from(DEPARTMENTS)))
        else:
            {"escalate": lambda: self.escalate("a journalist called"),
             "take_escalation": lambda: self.take_escalation("supervisor"),
             "record_finding": lambda: self.record_finding(FindingKind.interview),
             "conclude": lambda: self.conclude(1)}[action]()

    @rule()
    def every_refused_action_is_refused(self) -> None:
        """Whatever the rules refuse right now, tried once each: every action the status
        refuses, answering each answered consultation and an unknown one, taking the
        escalation without being a supervisor, and reassigning the case to whoever holds
        it, without a reason, or without being a supervisor."""
        tries = {
            "assign": lambda: self.assign("supervisor", "inv-2", "workload"),
            "escalate": lambda: self.escalate("unclear"),
            "take_escalation": lambda: self.take_escalation("supervisor"),
            "request_consultation": lambda: self._request("legal"),
            "answer_consultation": lambda: self._answer("c1"),
            "record_finding": lambda: self.record_finding(FindingKind.note),
            "conclude": lambda: self.conclude(0),
        }
        for action, attempt in tries.items():
            if action not in self.m.allowed():
                attempt()
        for consultation_id, answered in list(self.m.consultations.items()):
            if answered:
                self._answer(consultation_id)
        self._answer("c99")
        self.take_escalation("agent")
        holder = self.m.investigator
        if holder is not None:
            other = next(i for i in INVESTIGATORS if i != holder)
            self.assign("supervisor", holder, "again")
            self.assign("supervisor", other, None)
            self.assign("the investigator", other, "swap")

    # --- what always holds -------------------------------------------------------------------

    @invariant()
    def every_case_view_matches_its_model(self) -> None:
        for complaint_id, m in self.cases.items():
            view = self.app.get_case(complaint_id)
            assert view.status == m.status
            assert view.investigator == m.investigator
            assert view.escalation_status == m.escalation
            assert view.escalation_taken_by == m.taken_by
            assert len(view.escalation_reasons) == m.escalation_reasons
            assert view.escalated == (m.escalation_reasons > 0)
            assert view.reopen_count == m.reopen_count
            assert {c.consultation_id: c.findings is not None
                    for c in view.consultations} == m.consultations
            assert len(view.findings) == m.findings
            assert (view.category, view.severity) == (m.category, m.severity)
            assert view.team == ROSTER.routes[m.category]

    @invariant()
    def the_supervisor_queue_holds_the_cases_whose_escalation_is_pending(self) -> None:
        queued = [c.complaint_id for c in self.app.supervisor_queue().cases]
        assert queued == [cid for cid, m in self.cases.items() if m.escalation == E.pending]

    @invariant()
    def the_log_only_grows(self) -> None:
        head = self.app.head()
        assert head >= self.last_head
        self.last_head = head

    def teardown(self) -> None:
        self.app.close()


test_investigation_lifecycle = InvestigationLifecycle.TestCase


class CoverageRun(InvestigationLifecycle):
    """The same machine, counting what it tries. Whether the implementation agrees with
    the model is test_investigation_lifecycle's question; here a disagreement is ignored so
    that it cannot cut the count short."""

    tried: ClassVar[set[tuple[str, str, str]]] = set()
    refusals: ClassVar[set[tuple[str, str]]] = set()
    situations: ClassVar[set[str]] = set()

    def judge(self, check: Callable[[], None]) -> None:
        with contextlib.suppress(AssertionError):
            check()

    # not invariants here (no decorator)
    def every_case_view_matches_its_model(self) -> None:
        pass

    def the_supervisor_queue_holds_the_cases_whose_escalation_is_pending(self) -> None:
        pass


def test_a_fixed_seed_run_tries_every_action_in_every_status_both_ways():
    """Over one derandomized run of the machine: every action and upstream event was tried
    in every status, as allowed and as refused wherever the rules make it so (and never
    otherwise); every error that refuses an action was met; and so were the deeper
    situations (second reopen, an answered consultation answered again, ...)."""
    for tally in (CoverageRun.tried, CoverageRun.refusals, CoverageRun.situations):
        tally.clear()
    run_state_machine_as_test(CoverageRun, settings=settings(
        max_examples=250, stateful_step_count=30, deadline=None, derandomize=True,
        database=None, suppress_health_check=list(HealthCheck)))
    seen: dict[tuple[str, str], set[str]] = {}
    for status, action, verdict in CoverageRun.tried:
        seen.setdefault((status, action), set()).add(verdict)
    assert set(seen) == {(s, a) for s in S for a in (*ACTIONS, *REACTIONS)}
    assert seen == EXPECTED_VERDICTS
    refusals: dict[str, set[str]] = {}
    for action, error in CoverageRun.refusals:
        refusals.setdefault(action, set()).add(error)
    assert refusals == EXPECTED_REFUSALS
    assert CoverageRun.situations >= EXPECTED_SITUATIONS


# --- what the machine found, each on its own ----------------------------------------------
# The machine stops at its first failure; these show each disagreement it finds directly.


def assigned_case(app: InvestigationApplication, upstream: Upstream) -> uuid.UUID:
    complaint_id = uuid.uuid4()
    app.process(upstream.classified(complaint_id, "service_attitude", "normal"))
    app.assign(complaint_id, api.Assign(investigator="inv-1"), INVESTIGATOR)
    return complaint_id


def test_refusing_to_answer_an_answered_consultation_does_not_list_answering_as_allowed():
    app = InvestigationApplication(env=POPO, clock=FrozenClock(T0), roster=NOBODY_AVAILABLE)
    complaint_id = assigned_case(app, Upstream())
    for department in ("legal", "finance"):
        app.request_consultation(complaint_id, api.RequestConsultation(
            department=department, question="liable?"), SUPERVISOR)
    legal = Actor(id="legal-1", role="investigator")
    app.answer_consultation(complaint_id, "c1", api.AnswerConsultation(findings="ours"), legal)
    head = app.head()
    with pytest.raises(StateConflict) as caught:
        app.answer_consultation(complaint_id, "c1", api.AnswerConsultation(findings="again"),
                                legal)
    assert caught.value.state == "consultation answered"
    assert app.head() == head
    assert "answer_consultation" not in caught.value.allowed, str(caught.value)


def test_no_refusal_lists_conclude_as_allowed_while_a_consultation_is_open():
    app = InvestigationApplication(env=POPO, clock=FrozenClock(T0), roster=NOBODY_AVAILABLE)
    complaint_id = assigned_case(app, Upstream())
    app.request_consultation(complaint_id, api.RequestConsultation(
        department="legal", question="liable?"), SUPERVISOR)
    with pytest.raises(StateConflict) as conclude_refused:
        app.conclude(complaint_id, conclusion(0), INVESTIGATOR)
    assert "conclude" not in conclude_refused.value.allowed  # conclude's own refusal knows
    with pytest.raises(StateConflict) as take_refused:
        app.take_escalation(complaint_id, api.TakeEscalation(), SUPERVISOR)
    assert take_refused.value.state == "escalation none"
    assert take_refused.value.allowed == [  # what the rules allow, as conclude's refusal says
        "answer_consultation", "assign", "escalate", "record_finding", "request_consultation"
    ], str(take_refused.value)
