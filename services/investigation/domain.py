"""Investigation's aggregate: the Case opened for a complaint, worked and concluded."""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.envelope import derived_id
from contracts.vocabulary import CaseStatus, Category, Severity
from servicekit.errors import check_allowed

ALLOWED: dict[str, set[str]] = {
    CaseStatus.open: {"assign"},
    CaseStatus.investigating: {"assign", "record_finding", "conclude"},
    CaseStatus.concluded: set(),
}

# Which team investigates which category (the first routing table).
ROUTING = {
    Category.service_attitude: "customer-service",
    Category.response_delay: "customer-service",
    Category.information: "customer-service",
    Category.product_quality: "product",
    Category.after_sales: "product",
    Category.billing: "finance",
    Category.facilities: "facilities",
    Category.safety: "safety",
    Category.privacy: "privacy",
    Category.other: "customer-service",
}


def team_for(category: str) -> str:
    return ROUTING[Category(category)]


def case_id(complaint_id: uuid.UUID) -> uuid.UUID:
    return derived_id(complaint_id, "case")


class Case(Aggregate):
    @staticmethod
    def create_id(meta: dict[str, Any], **_: Any) -> uuid.UUID:
        return case_id(uuid.UUID(meta["complaint_id"]))

    @event("Opened")
    def __init__(self, meta: dict[str, Any], team: str, category: str, severity: str):
        self.complaint_id = uuid.UUID(meta["complaint_id"])
        self.opened_at = meta["at"]
        self.status = CaseStatus.open
        self.team = team
        self.category = category
        self.severity = severity
        self.investigator: str | None = None
        self.escalation_reasons: list[str] = []
        self.findings: list[dict[str, Any]] = []
        self.conclusion: dict[str, Any] | None = None
        self.conclusions = 0
        self.reopen_reasons: list[str] = []

    def allowed_actions(self) -> set[str]:
        return ALLOWED[self.status]

    @event("Escalated")
    def escalate(self, meta: dict[str, Any], reason: str) -> None:
        self.escalation_reasons.append(reason)

    def assign(self, meta: dict[str, Any], investigator: str, reason: str | None) -> None:
        check_allowed("assign", self.status, ALLOWED)
        self._assigned(meta, investigator, self.investigator, reason)

    @event("Assigned")
    def _assigned(self, meta: dict[str, Any], investigator: str,
                  previous_investigator: str | None, reason: str | None) -> None:
        self.investigator = investigator
        self.status = CaseStatus.investigating

    @event("Reclassified")
    def reclassify(self, meta: dict[str, Any], category: str, severity: str, team: str) -> None:
        self.category = category
        self.severity = severity
        self.team = team

    def record_finding(self, meta: dict[str, Any], kind: str, text: str) -> None:
        check_allowed("record_finding", self.status, ALLOWED)
        self._finding_recorded(meta, kind, text)

    @event("FindingRecorded")
    def _finding_recorded(self, meta: dict[str, Any], kind: str, text: str) -> None:
        self.findings.append({"kind": kind, "text": text, "author": meta["actor"]["id"],
                              "at": meta["at"]})

    def conclude(self, meta: dict[str, Any], root_cause: str, five_whys: list[str],
                 responsible_department: str, corrective_actions: list[dict[str, Any]],
                 summary: str) -> None:
        check_allowed("conclude", self.status, ALLOWED)
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

    def reopen(self, meta: dict[str, Any], reason: str) -> None:
        """A disputed response reopens a concluded case (never called by HTTP)."""
        if self.status == CaseStatus.concluded:
            self._reopened(meta, reason, len(self.reopen_reasons) + 1)

    @event("Reopened")
    def _reopened(self, meta: dict[str, Any], reason: str, reopen_count: int) -> None:
        self.reopen_reasons.append(reason)
        self.status = CaseStatus.investigating if self.investigator else CaseStatus.open


def escalation_reason(category: str, severity: str) -> str | None:
    """Serious cases (safety, injury, legal threat, media exposure, repeat complaints:
    the rules rate those high or critical) go to a supervisor at once."""
    reasons = []
    if Severity(severity) in (Severity.high, Severity.critical):
        reasons.append(f"severity {severity}")
    if Category(category) == Category.safety:
        reasons.append("safety complaint")
    return "; ".join(reasons) or None
