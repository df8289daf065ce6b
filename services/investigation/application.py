"""Investigation's use cases, and its policy for upstream events: a classified complaint
opens a case routed to a team and assigned by open load; a dispute or a dissatisfied
follow-up reopens it (the second reopen escalates); a missed deadline escalates."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from eventlet.semaphore import Semaphore
from eventsourcing.domain import Aggregate

from contracts import api, events
from contracts.envelope import Actor, Envelope
from contracts.vocabulary import ComplaintType, EscalationStatus
from servicekit.application import ServiceApplication, retry_on_conflict
from servicekit.errors import NotFound
from services.investigation.domain import (
    Case,
    CorrectiveAction,
    case_id,
    escalation_reason,
)
from services.investigation.routing import Roster, Workload, choose_investigator

HERE = Path(__file__).parent


def load_roster() -> Roster:
    routing = Path(os.environ.get("ROUTING_FILE", HERE / "routing.yaml"))
    roster = Path(os.environ.get("ROSTER_FILE", HERE / "roster.yaml"))
    return Roster.from_files(yaml.safe_load(routing.read_text(encoding="utf-8")),
                             yaml.safe_load(roster.read_text(encoding="utf-8")))


class InvestigationApplication(ServiceApplication):
    name = "investigation"
    public_events = {
        Case.Opened: events.CaseOpened,
        Case.Escalated: events.CaseEscalated,
        Case.EscalationTaken: events.CaseEscalationTaken,
        Case.Assigned: events.CaseAssigned,
        Case.Reclassified: events.CaseReclassified,
        Case.ConsultationRequested: events.CaseConsultationRequested,
        Case.ConsultationAnswered: events.CaseConsultationAnswered,
        Case.FindingRecorded: events.CaseFindingRecorded,
        Case.Concluded: events.CaseConcluded,
        Case.Reopened: events.CaseReopened,
        CorrectiveAction.Opened: events.CorrectiveActionOpened,
        CorrectiveAction.Done: events.CorrectiveActionDone,
        CorrectiveAction.Verified: events.CorrectiveActionVerified,
    }

    def __init__(self, env=None, clock=None, roster: Roster | None = None):
        super().__init__(env=env, clock=clock)
        self.roster = roster or load_roster()
        self._workload = Workload()
        self._workload_read_up_to = 0
        self._lock = Semaphore()

    def payload_fields(self, event: Any, contract: type) -> dict[str, Any]:
        if isinstance(event, CorrectiveAction.Event):
            # The action's id travels in the payload (the envelope names the complaint).
            return super().payload_fields(event, contract) | {
                "action_id": str(event.originator_id)}
        return super().payload_fields(event, contract)

    # --- policy -------------------------------------------------------------

    def policy(self, envelope: Envelope) -> Iterable[Aggregate]:
        handler: Callable[..., Case | None] | None = {
            "complaint.classified": self._on_classified,
            "complaint.reclassified": self._on_reclassified,
            "complaint.deadline_breached": self._on_deadline_breached,
            "resolution.disputed": self._on_reopening,
            "resolution.reopened": self._on_reopening,
        }.get(envelope.event_type)
        if handler is None:
            return ()
        case = self.get_or_none(case_id(envelope.complaint_id))
        case = handler(envelope, envelope.parsed(), case)
        return () if case is None else (case,)

    def _open(self, meta: dict[str, Any], category: str, severity: str,
              source: str | None = None) -> Case:
        case = Case(meta=meta, team=self.roster.team_for(category), category=category,
                    severity=severity, source=source)
        reason = escalation_reason(category, severity)
        if reason:
            case.escalate(meta, reason, "severity")
        if source is None:  # an imported case is assigned by the importer
            self._route(case, meta)
        return case

    def _route(self, case: Case, meta: dict[str, Any]) -> None:
        investigator = choose_investigator(case.team, self.roster, self.workload())
        if investigator is not None and investigator != case.investigator:
            case.auto_assign(meta, investigator, f"routed to {case.team} by open load")

    def _on_classified(self, envelope: Envelope, event: events.ComplaintClassified,
                       case: Case | None) -> Case | None:
        if case is not None or event.type != ComplaintType.complaint:
            return None
        return self._open(self.system_meta(envelope), event.category.value, event.severity.value,
                          event.source)

    def _on_reclassified(self, envelope: Envelope, event: events.ComplaintReclassified,
                         case: Case | None) -> Case | None:
        meta = self.system_meta(envelope)
        if case is None:
            if event.type != ComplaintType.complaint:
                return None
            return self._open(meta, event.category.value, event.severity.value)
        team = self.roster.team_for(event.category.value)
        moved = team != case.team
        case.reclassify(meta, event.category.value, event.severity.value, team)
        reason = escalation_reason(event.category.value, event.severity.value)
        if reason and case.escalation_status == EscalationStatus.none:
            case.escalate(meta, f"reclassified to {reason}", "severity")
        if moved and case.status != "concluded" and not case.source:
            self._route(case, meta)
        return case

    def _on_deadline_breached(self, envelope: Envelope, event: events.ComplaintDeadlineBreached,
                              case: Case | None) -> Case | None:
        if case is None or case.status == "concluded":
            return None
        case.escalate(self.system_meta(envelope),
                      f"{event.target} deadline {event.deadline.isoformat()} missed",
                      "sla_breach")
        return case

    def _on_reopening(self, envelope: Envelope, event: Any, case: Case | None) -> Case | None:
        if case is None:
            return None
        meta = self.system_meta(envelope)
        why = ("disputed by the customer" if envelope.event_type == "resolution.disputed"
               else "dissatisfied at the follow-up")
        if not case.reopen(meta, f"{why}: {event.reason}"):
            return None
        if len(case.reopen_reasons) >= 2:
            case.escalate(meta, f"reopened {len(case.reopen_reasons)} times", "reopen")
        return case

    # --- workload: a fold of this service's own log ----------------------------

    def workload(self) -> Workload:
        with self._lock:
            while True:
                page = self.recorder.select_notifications(
                    start=self._workload_read_up_to + 1, limit=1000)
                for notification in page:
                    self._fold(self.mapper.to_domain_event(notification))
                    self._workload_read_up_to = notification.id
                if len(page) < 1000:
                    return self._workload

    def _fold(self, event: Any) -> None:
        if isinstance(event, Case.Assigned):
            self._workload.assigned(event.originator_id, event.investigator, event.meta["at"])
        elif isinstance(event, Case.Concluded):
            self._workload.concluded(event.originator_id)
        elif isinstance(event, Case.Reopened):
            self._workload.reopened(event.originator_id)

    # --- commands -----------------------------------------------------------

    def _on_case(self, complaint_id: uuid.UUID, actor: Actor, correlation_id: str | None,
                 act: Callable[[Case, dict[str, Any]], Iterable[Aggregate] | None]
                 ) -> api.CaseView:
        case = self._case(complaint_id)
        more = act(case, self.meta(complaint_id, actor, correlation_id)) or ()
        self.save(case, *more)
        return self.view(case)

    @retry_on_conflict
    def assign(self, complaint_id: uuid.UUID, request: api.Assign, actor: Actor,
               correlation_id: str | None = None) -> api.CaseView:
        return self._on_case(complaint_id, actor, correlation_id, lambda c, m: c.assign(
            m, request.investigator, request.reason))

    @retry_on_conflict
    def escalate(self, complaint_id: uuid.UUID, request: api.Escalate, actor: Actor,
                 correlation_id: str | None = None) -> api.CaseView:
        return self._on_case(complaint_id, actor, correlation_id, lambda c, m: c.escalate(
            m, request.reason, "investigator"))

    @retry_on_conflict
    def take_escalation(self, complaint_id: uuid.UUID, request: api.TakeEscalation,
                        actor: Actor, correlation_id: str | None = None) -> api.CaseView:
        return self._on_case(complaint_id, actor, correlation_id,
                             lambda c, m: c.take_escalation(m, request.note))

    @retry_on_conflict
    def request_consultation(self, complaint_id: uuid.UUID, request: api.RequestConsultation,
                             actor: Actor, correlation_id: str | None = None) -> api.CaseView:
        return self._on_case(complaint_id, actor, correlation_id, lambda c, m: (
            c.request_consultation(m, request.department, request.question) and None))

    @retry_on_conflict
    def answer_consultation(self, complaint_id: uuid.UUID, consultation_id: str,
                            request: api.AnswerConsultation, actor: Actor,
                            correlation_id: str | None = None) -> api.CaseView:
        return self._on_case(complaint_id, actor, correlation_id, lambda c, m: (
            c.answer_consultation(m, consultation_id, request.findings)))

    @retry_on_conflict
    def record_finding(self, complaint_id: uuid.UUID, request: api.RecordFinding, actor: Actor,
                       correlation_id: str | None = None) -> api.CaseView:
        return self._on_case(complaint_id, actor, correlation_id, lambda c, m: c.record_finding(
            m, request.kind.value, request.text,
            [a.model_dump(mode="json") for a in request.attachments]))

    @retry_on_conflict
    def conclude(self, complaint_id: uuid.UUID, request: api.Conclude, actor: Actor,
                 correlation_id: str | None = None) -> api.CaseView:
        def act(case: Case, meta: dict[str, Any]) -> list[CorrectiveAction]:
            actions = [a.model_dump(mode="json") for a in request.corrective_actions]
            case.conclude(meta, request.root_cause.value, list(request.five_whys),
                          request.responsible_department, actions, request.summary)
            return [CorrectiveAction(
                meta=meta, conclusion_number=case.conclusions, index=i,
                root_cause=request.root_cause.value,
                responsible_department=request.responsible_department, action=a.action,
                owner=a.owner, due_date=a.due_date)
                for i, a in enumerate(request.corrective_actions, start=1)]

        return self._on_case(complaint_id, actor, correlation_id, act)

    def _on_action(self, action_id: uuid.UUID, actor: Actor, correlation_id: str | None,
                   act: Callable[[CorrectiveAction, dict[str, Any]], None]
                   ) -> api.CorrectiveActionView:
        action = self.get_or_none(action_id)
        if not isinstance(action, CorrectiveAction):
            raise NotFound("corrective action", action_id)
        act(action, self.meta(action.complaint_id, actor, correlation_id))
        self.save(action)
        return self.action_view(action)

    @retry_on_conflict
    def complete_action(self, action_id: uuid.UUID, request: api.CompleteAction, actor: Actor,
                        correlation_id: str | None = None) -> api.CorrectiveActionView:
        return self._on_action(action_id, actor, correlation_id,
                               lambda a, m: a.complete(m, request.evidence))

    @retry_on_conflict
    def verify_action(self, action_id: uuid.UUID, request: api.VerifyAction, actor: Actor,
                      correlation_id: str | None = None) -> api.CorrectiveActionView:
        return self._on_action(action_id, actor, correlation_id,
                               lambda a, m: a.verify(m, request.effective, request.note))

    # --- queries ------------------------------------------------------------

    def get_case(self, complaint_id: uuid.UUID) -> api.CaseView:
        return self.view(self._case(complaint_id))

    def list_cases(self, investigator: str | None = None,
                   status: str | None = None) -> api.CaseList:
        selected = [c for c in self.every(Case.Opened)
                    if (investigator is None or c.investigator == investigator)
                    and (status is None or c.status == status)]
        selected.sort(key=lambda c: c.opened_at)
        return api.CaseList(cases=[self.view(c) for c in selected])

    def supervisor_queue(self, team: str | None = None) -> api.CaseList:
        pending = [c for c in self.every(Case.Opened)
                   if c.escalation_status == EscalationStatus.pending
                   and (team is None or c.team == team)]
        pending.sort(key=lambda c: c.opened_at)
        return api.CaseList(cases=[self.view(c) for c in pending])

    def corrective_actions(self, status: str | None = None, owner: str | None = None,
                           overdue: bool | None = None) -> api.CorrectiveActionList:
        today = self.clock.now().date()
        chosen = [a for a in self.every(CorrectiveAction.Opened)
                  if (status is None or a.status == status)
                  and (owner is None or a.owner == owner)
                  and (overdue is None or a.is_overdue(today) == overdue)]
        chosen.sort(key=lambda a: (a.due_date, str(a.id)))
        return api.CorrectiveActionList(actions=[self.action_view(a) for a in chosen])

    def get_action(self, action_id: uuid.UUID) -> api.CorrectiveActionView:
        action = self.get_or_none(action_id)
        if not isinstance(action, CorrectiveAction):
            raise NotFound("corrective action", action_id)
        return self.action_view(action)

    def _case(self, complaint_id: uuid.UUID) -> Case:
        case = self.get_or_none(case_id(complaint_id))
        if case is None:
            raise NotFound("case for complaint", complaint_id)
        return case

    def action_view(self, a: CorrectiveAction) -> api.CorrectiveActionView:
        return api.CorrectiveActionView(
            action_id=a.id, complaint_id=a.complaint_id, root_cause=a.root_cause,
            responsible_department=a.responsible_department, action=a.action, owner=a.owner,
            due_date=a.due_date, status=a.status, overdue=a.is_overdue(self.clock.now().date()),
            evidence=a.evidence, verified_by=a.verified_by,
            verification_note=a.verification_note, version=a.version)

    @staticmethod
    def view(case: Case) -> api.CaseView:
        conclusion = case.conclusion or {}
        return api.CaseView(
            complaint_id=case.complaint_id, status=case.status, team=case.team,
            category=case.category, severity=case.severity, investigator=case.investigator,
            escalated=bool(case.escalation_reasons),
            escalation_reasons=case.escalation_reasons,
            escalation_status=case.escalation_status,
            escalation_taken_by=case.escalation_taken_by,
            consultations=list(case.consultations.values()), findings=case.findings,
            root_cause=conclusion.get("root_cause"),
            five_whys=conclusion.get("five_whys", []),
            responsible_department=conclusion.get("responsible_department"),
            corrective_actions=conclusion.get("corrective_actions", []),
            summary=conclusion.get("summary"), reopen_count=len(case.reopen_reasons),
            reopen_reasons=case.reopen_reasons, opened_at=case.opened_at, version=case.version,
        )
