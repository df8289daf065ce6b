"""Investigation's aggregates: the Case opened for a complaint (assigned, escalated,
consulted, concluded, reopened) and the CorrectiveAction each conclusion commits to."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.envelope import derived_id
from contracts.vocabulary import (
    ActionStatus,
    CaseStatus,
    Category,
    EscalationStatus,
    RootCause,
    Severity,
)
from servicekit.errors import InvalidCommand, StateConflict, check_allowed, require_role

ALLOWED: dict[str, set[str]] = {
    CaseStatus.open: {"assign", "escalate", "take_escalation", "request_consultation",
                      "answer_consultation"},
    CaseStatus.investigating: {"assign", "record_finding", "conclude", "escalate",
                               "take_escalation", "request_consultation",
                               "answer_consultation"},
    CaseStatus.concluded: set(),
}
SUPERVISOR = "supervisor"
ADMIN = "admin"  # the importer of historical records, on imported cases only


def case_id(complaint_id: uuid.UUID) -> uuid.UUID:
    return derived_id(complaint_id, "case")


def escalation_reason(category: str, severity: str) -> str | None:
    """Serious cases (safety, injury, legal threat, media exposure, repeat complaints:
    the rules rate those high or critical) go to a supervisor at once."""
    reasons = []
    if Severity(severity) in (Severity.high, Severity.critical):
        reasons.append(f"severity {severity}")
    if Category(category) == Category.safety:
        reasons.append("safety complaint")
    return "; ".join(reasons) or None


class Case(Aggregate):
    @staticmethod
    def create_id(meta: dict[str, Any], **_: Any) -> uuid.UUID:
        return case_id(uuid.UUID(meta["complaint_id"]))

    @event("Opened")
    def __init__(self, meta: dict[str, Any], team: str, category: str, severity: str,
                 source: str | None = None):
        self.complaint_id = uuid.UUID(meta["complaint_id"])
        # An imported record (its source, e.g. "cfpb"): not routed by open load (the
        # importer assigns it at the source's date), its escalation may be taken by the
        # importer (admin), and it may conclude with root cause not_determined.
        self.source = source
        self.opened_at = meta["at"]
        self.status = CaseStatus.open
        self.team = team
        self.category = category
        self.severity = severity
        self.investigator: str | None = None
        self.escalation_reasons: list[str] = []
        self.escalation_status = EscalationStatus.none
        self.escalation_taken_by: str | None = None
        self.consultations: dict[str, dict[str, Any]] = {}
        self.findings: list[dict[str, Any]] = []
        self.conclusion: dict[str, Any] | None = None
        self.conclusions = 0
        self.reopen_reasons: list[str] = []

    def allowed_actions(self) -> set[str]:
        return set(self._allowed_now())

    def _check(self, action: str) -> None:
        check_allowed(action, self.status, {self.status: self._allowed_now()})

    # --- assignment and escalation -----------------------------------------

    def assign(self, meta: dict[str, Any], investigator: str, reason: str | None) -> None:
        self._check("assign")
        if self.investigator is not None and investigator != self.investigator:
            require_role(meta["actor"], "reassign a case", SUPERVISOR)
            if not reason:
                raise InvalidCommand("body.reason", "a reassignment needs a reason")
        if investigator == self.investigator:
            raise InvalidCommand("body.investigator", f"the case is already with {investigator}")
        self._assigned(meta, investigator, self.investigator, reason)
        if self.escalation_status == EscalationStatus.pending \
                and meta["actor"]["role"] == SUPERVISOR:
            self._escalation_taken(meta, meta["actor"]["id"], f"reassigned to {investigator}")

    def auto_assign(self, meta: dict[str, Any], investigator: str, reason: str) -> None:
        """Routing's own assignment (no role rule: the system balances the load)."""
        self._assigned(meta, investigator, self.investigator, reason)

    @event("Assigned")
    def _assigned(self, meta: dict[str, Any], investigator: str,
                  previous_investigator: str | None, reason: str | None) -> None:
        self.investigator = investigator
        if self.status == CaseStatus.open:
            self.status = CaseStatus.investigating

    def escalate(self, meta: dict[str, Any], reason: str, trigger: str) -> None:
        if trigger == "investigator":
            self._check("escalate")
        self._escalated(meta, reason, trigger)

    @event("Escalated")
    def _escalated(self, meta: dict[str, Any], reason: str, trigger: str = "automatic") -> None:
        self.escalation_reasons.append(reason)
        self.escalation_status = EscalationStatus.pending
        self.escalation_taken_by = None

    def take_escalation(self, meta: dict[str, Any], note: str | None) -> None:
        require_role(meta["actor"], "take an escalation",
                     *((SUPERVISOR, ADMIN) if self.source else (SUPERVISOR,)))
        if self.escalation_status != EscalationStatus.pending:
            raise StateConflict("take_escalation", f"escalation {self.escalation_status}",
                                self._allowed_now())
        self._check("take_escalation")
        self._escalation_taken(meta, meta["actor"]["id"], note)

    @event("EscalationTaken")
    def _escalation_taken(self, meta: dict[str, Any], supervisor: str, note: str | None) -> None:
        self.escalation_status = EscalationStatus.taken
        self.escalation_taken_by = supervisor

    def _allowed_now(self) -> list[str]:
        allowed = set(ALLOWED[self.status])
        if self.escalation_status != EscalationStatus.pending:
            allowed.discard("take_escalation")
        if self.pending_consultations():
            allowed.discard("conclude")  # every consultation answers first
        else:
            allowed.discard("answer_consultation")
        return sorted(allowed)

    @event("Reclassified")
    def reclassify(self, meta: dict[str, Any], category: str, severity: str, team: str) -> None:
        self.category = category
        self.severity = severity
        self.team = team

    # --- consultation and findings ------------------------------------------

    def request_consultation(self, meta: dict[str, Any], department: str,
                             question: str) -> str:
        self._check("request_consultation")
        consultation_id = f"c{len(self.consultations) + 1}"
        self._consultation_requested(meta, consultation_id, department, question)
        return consultation_id

    @event("ConsultationRequested")
    def _consultation_requested(self, meta: dict[str, Any], consultation_id: str,
                                department: str, question: str) -> None:
        self.consultations[consultation_id] = {
            "consultation_id": consultation_id, "department": department,
            "question": question, "requested_by": meta["actor"]["id"],
            "findings": None, "answered_by": None}

    def pending_consultations(self) -> list[str]:
        return [c["department"] for c in self.consultations.values() if c["findings"] is None]

    def answer_consultation(self, meta: dict[str, Any], consultation_id: str,
                            findings: str) -> None:
        consultation = self.consultations.get(consultation_id)
        if consultation is None:
            raise InvalidCommand("path.consultation_id",
                                 f"no consultation {consultation_id} on this case; there are "
                                 f"{sorted(self.consultations) or 'none'}")
        if consultation["findings"] is not None:
            raise StateConflict("answer_consultation", "consultation answered",
                                [a for a in self._allowed_now() if a != "answer_consultation"])
        self._check("answer_consultation")
        self._consultation_answered(meta, consultation_id, consultation["department"], findings)

    @event("ConsultationAnswered")
    def _consultation_answered(self, meta: dict[str, Any], consultation_id: str,
                               department: str, findings: str) -> None:
        self.consultations[consultation_id].update(findings=findings,
                                                   answered_by=meta["actor"]["id"])

    def record_finding(self, meta: dict[str, Any], kind: str, text: str,
                       attachments: list[dict[str, Any]]) -> None:
        self._check("record_finding")
        self._finding_recorded(meta, kind, text, attachments)

    @event("FindingRecorded")
    def _finding_recorded(self, meta: dict[str, Any], kind: str, text: str,
                          attachments: list[dict[str, Any]] | None = None) -> None:
        self.findings.append({"kind": kind, "text": text, "author": meta["actor"]["id"],
                              "at": meta["at"], "attachments": attachments or []})

    # --- conclusion and reopening ---------------------------------------------

    def conclude(self, meta: dict[str, Any], root_cause: str, five_whys: list[str],
                 responsible_department: str, corrective_actions: list[dict[str, Any]],
                 summary: str) -> None:
        waiting = self.pending_consultations()
        if waiting and self.status == CaseStatus.investigating:
            raise StateConflict(
                f"conclude while waiting for the consultation of {', '.join(waiting)}",
                self.status, self._allowed_now())
        self._check("conclude")
        if root_cause == RootCause.not_determined and not self.source:
            raise InvalidCommand("body.root_cause", "not_determined is only for an imported "
                                 "record whose source names no root cause")
        self._concluded(meta, root_cause, five_whys, responsible_department,
                        corrective_actions, summary, self.conclusions + 1)

    @event("Concluded")
    def _concluded(self, meta: dict[str, Any], root_cause: str, five_whys: list[str],
                   responsible_department: str, corrective_actions: list[dict[str, Any]],
                   summary: str, conclusion_number: int) -> None:
        self.conclusion = {"root_cause": root_cause, "five_whys": five_whys,
                           "responsible_department": responsible_department,
                           "corrective_actions": corrective_actions, "summary": summary}
        self.conclusions = conclusion_number
        self.status = CaseStatus.concluded

    def reopen(self, meta: dict[str, Any], reason: str) -> bool:
        """A disputed response or a dissatisfied follow-up reopens a concluded case
        (never called by HTTP). Returns whether it reopened."""
        if self.status != CaseStatus.concluded:
            return False
        self._reopened(meta, reason, len(self.reopen_reasons) + 1)
        return True

    @event("Reopened")
    def _reopened(self, meta: dict[str, Any], reason: str, reopen_count: int) -> None:
        self.reopen_reasons.append(reason)
        self.status = CaseStatus.investigating if self.investigator else CaseStatus.open


# --- corrective actions --------------------------------------------------------

ACTION_ALLOWED: dict[str, set[str]] = {
    ActionStatus.open: {"complete"},
    ActionStatus.done: {"verify"},
    ActionStatus.verified_effective: set(),
    ActionStatus.verified_ineffective: set(),
}


def action_id(complaint_id: uuid.UUID, conclusion_number: int, index: int) -> uuid.UUID:
    return derived_id(complaint_id, f"action:{conclusion_number}:{index}")


class CorrectiveAction(Aggregate):
    """What a conclusion commits to: open -> done (with evidence) -> verified effective
    or not, by a quality manager."""

    @staticmethod
    def create_id(meta: dict[str, Any], conclusion_number: int, index: int,
                  **_: Any) -> uuid.UUID:
        return action_id(uuid.UUID(meta["complaint_id"]), conclusion_number, index)

    @event("Opened")
    def __init__(self, meta: dict[str, Any], conclusion_number: int, index: int,
                 root_cause: str, responsible_department: str, action: str, owner: str,
                 due_date: date):
        self.complaint_id = uuid.UUID(meta["complaint_id"])
        self.root_cause = root_cause
        self.responsible_department = responsible_department
        self.action = action
        self.owner = owner
        self.due_date = due_date
        self.status = ActionStatus.open
        self.evidence: str | None = None
        self.verified_by: str | None = None
        self.verification_note: str | None = None

    def is_overdue(self, today: date) -> bool:
        return self.status == ActionStatus.open and self.due_date < today

    def complete(self, meta: dict[str, Any], evidence: str) -> None:
        check_allowed("complete", self.status, ACTION_ALLOWED)
        self._done(meta, evidence)

    @event("Done")
    def _done(self, meta: dict[str, Any], evidence: str) -> None:
        self.evidence = evidence
        self.status = ActionStatus.done

    def verify(self, meta: dict[str, Any], effective: bool, note: str | None) -> None:
        check_allowed("verify", self.status, ACTION_ALLOWED)
        require_role(meta["actor"], "verify a corrective action", "quality_manager")
        self._verified(meta, effective, note)

    @event("Verified")
    def _verified(self, meta: dict[str, Any], effective: bool, note: str | None) -> None:
        self.status = (ActionStatus.verified_effective if effective
                       else ActionStatus.verified_ineffective)
        self.verified_by = meta["actor"]["id"]
        self.verification_note = note
