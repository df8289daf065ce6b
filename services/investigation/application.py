"""Investigation's use cases, and its policy for upstream events:
a classified complaint opens a case; a dispute reopens it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from eventsourcing.domain import Aggregate

from contracts import api, events
from contracts.envelope import Actor, Envelope
from contracts.vocabulary import ComplaintType
from servicekit.application import ServiceApplication, retry_on_conflict
from servicekit.errors import NotFound
from services.investigation.domain import Case, case_id, escalation_reason, team_for


class InvestigationApplication(ServiceApplication):
    name = "investigation"
    public_events = {
        Case.Opened: events.CaseOpened,
        Case.Escalated: events.CaseEscalated,
        Case.Assigned: events.CaseAssigned,
        Case.Reclassified: events.CaseReclassified,
        Case.FindingRecorded: events.CaseFindingRecorded,
        Case.Concluded: events.CaseConcluded,
        Case.Reopened: events.CaseReopened,
    }

    # --- policy -------------------------------------------------------------

    def policy(self, envelope: Envelope) -> Iterable[Aggregate]:
        handler = {
            "complaint.classified": self._on_classified,
            "complaint.reclassified": self._on_reclassified,
            "resolution.disputed": self._on_disputed,
        }.get(envelope.event_type)
        if handler is None:
            return ()
        case = self.get_or_none(case_id(envelope.complaint_id))
        case = handler(envelope, envelope.parsed(), case)
        return () if case is None else (case,)

    def _open(self, meta: dict[str, Any], category: str, severity: str) -> Case:
        case = Case(meta=meta, team=team_for(category), category=category, severity=severity)
        reason = escalation_reason(category, severity)
        if reason:
            case.escalate(meta, reason)
        return case

    def _on_classified(self, envelope: Envelope, event: events.ComplaintClassified,
                       case: Case | None) -> Case | None:
        if case is not None or event.type != ComplaintType.complaint:
            return None
        return self._open(self.system_meta(envelope), event.category.value, event.severity.value)

    def _on_reclassified(self, envelope: Envelope, event: events.ComplaintReclassified,
                         case: Case | None) -> Case | None:
        meta = self.system_meta(envelope)
        if case is None:
            if event.type != ComplaintType.complaint:
                return None
            return self._open(meta, event.category.value, event.severity.value)
        case.reclassify(meta, event.category.value, event.severity.value,
                        team_for(event.category.value))
        reason = escalation_reason(event.category.value, event.severity.value)
        if reason and not case.escalation_reasons:
            case.escalate(meta, f"reclassified to {reason}")
        return case

    def _on_disputed(self, envelope: Envelope, event: events.ResolutionDisputed,
                     case: Case | None) -> Case | None:
        if case is None:
            return None
        case.reopen(self.system_meta(envelope), f"disputed by the customer: {event.reason}")
        return case

    # --- commands -----------------------------------------------------------

    @retry_on_conflict
    def assign(self, complaint_id: uuid.UUID, request: api.Assign, actor: Actor,
               correlation_id: str | None = None) -> api.CaseView:
        case = self._case(complaint_id)
        case.assign(self.meta(complaint_id, actor, correlation_id), request.investigator,
                    request.reason)
        self.save(case)
        return self.view(case)

    @retry_on_conflict
    def record_finding(self, complaint_id: uuid.UUID, request: api.RecordFinding, actor: Actor,
                       correlation_id: str | None = None) -> api.CaseView:
        case = self._case(complaint_id)
        case.record_finding(self.meta(complaint_id, actor, correlation_id), request.kind.value,
                            request.text)
        self.save(case)
        return self.view(case)

    @retry_on_conflict
    def conclude(self, complaint_id: uuid.UUID, request: api.Conclude, actor: Actor,
                 correlation_id: str | None = None) -> api.CaseView:
        case = self._case(complaint_id)
        case.conclude(
            self.meta(complaint_id, actor, correlation_id), request.root_cause.value,
            list(request.five_whys), request.responsible_department,
            [a.model_dump(mode="json") for a in request.corrective_actions], request.summary,
        )
        self.save(case)
        return self.view(case)

    # --- queries ------------------------------------------------------------

    def get_case(self, complaint_id: uuid.UUID) -> api.CaseView:
        return self.view(self._case(complaint_id))

    def list_cases(self, investigator: str | None = None,
                   status: str | None = None) -> api.CaseList:
        cases: dict[uuid.UUID, Case] = {}
        for notification in self._all_notifications():
            if notification.originator_id not in cases:
                case = self.repository.get(notification.originator_id)
                cases[case.id] = case
        selected = [c for c in cases.values()
                    if (investigator is None or c.investigator == investigator)
                    and (status is None or c.status == status)]
        selected.sort(key=lambda c: c.opened_at)
        return api.CaseList(cases=[self.view(c) for c in selected])

    def _all_notifications(self):
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=500)
            yield from page
            if len(page) < 500:
                return
            start = page[-1].id + 1

    def _case(self, complaint_id: uuid.UUID) -> Case:
        case = self.get_or_none(case_id(complaint_id))
        if case is None:
            raise NotFound("case for complaint", complaint_id)
        return case

    @staticmethod
    def view(case: Case) -> api.CaseView:
        conclusion = case.conclusion or {}
        return api.CaseView(
            complaint_id=case.complaint_id, status=case.status, team=case.team,
            category=case.category, severity=case.severity, investigator=case.investigator,
            escalated=bool(case.escalation_reasons),
            escalation_reasons=case.escalation_reasons, findings=case.findings,
            root_cause=conclusion.get("root_cause"),
            five_whys=conclusion.get("five_whys", []),
            responsible_department=conclusion.get("responsible_department"),
            corrective_actions=conclusion.get("corrective_actions", []),
            summary=conclusion.get("summary"), reopen_count=len(case.reopen_reasons),
            reopen_reasons=case.reopen_reasons, opened_at=case.opened_at, version=case.version,
        )
