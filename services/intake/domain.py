"""Intake's aggregate: the Complaint as received, classified and acknowledged."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.vocabulary import Category, ComplaintType, Language, Severity
from servicekit.errors import InvalidCommand
from services.intake.classification import Decision

ACK_TEMPLATES = {
    Language.en: (
        "We have received your {type} (reference {ref}). We will contact you by "
        "{first_contact_by}, reply by {first_reply_by}, and aim to resolve it by "
        "{resolve_by} (UTC)."
    ),
    Language.zh: (
        "我们已收到您的{type}（编号 {ref}）。我们将在 {first_contact_by} 前与您联系，"
        "在 {first_reply_by} 前答复，并争取在 {resolve_by}（UTC）前解决。"
    ),
}
TYPE_LABELS = {
    Language.en: {"complaint": "complaint", "suggestion": "suggestion", "praise": "feedback",
                  "inquiry": "inquiry"},
    Language.zh: {"complaint": "投诉", "suggestion": "建议", "praise": "表扬", "inquiry": "咨询"},
}


def acknowledgement(language: Language, complaint_id: uuid.UUID, type_: ComplaintType,
                    deadlines: dict[str, Any]) -> str:
    def fmt(key: str) -> str:
        return deadlines[key].strftime("%Y-%m-%d %H:%M")

    return ACK_TEMPLATES[language].format(
        type=TYPE_LABELS[language][type_.value],
        ref=str(complaint_id)[:8],
        first_contact_by=fmt("first_contact_by"),
        first_reply_by=fmt("first_reply_by"),
        resolve_by=fmt("resolve_by"),
    )


class Complaint(Aggregate):
    @staticmethod
    def create_id(meta: dict[str, Any], **_: Any) -> uuid.UUID:
        return uuid.UUID(meta["complaint_id"])

    @event("Received")
    def __init__(self, meta: dict[str, Any], channel: str, language: str,
                 customer: dict[str, Any], text: str, product: str | None,
                 location: str | None, customer_request: str | None,
                 happened_at: datetime | None, received_at: datetime,
                 staff_member: str | None = None):
        self.channel = channel
        self.language = language
        self.customer = customer
        self.text = text
        self.product = product
        self.location = location
        self.customer_request = customer_request
        self.happened_at = happened_at
        self.received_at = received_at
        self.staff_member = staff_member
        self.classification: dict[str, Any] = {}
        self.deadlines: dict[str, Any] = {}
        self.acknowledgement = ""

    def classify(self, meta: dict[str, Any], decision: Decision,
                 deadlines: dict[str, Any]) -> None:
        self._classified(meta, self.channel, decision.type.value, decision.category.value,
                         decision.severity.value, list(decision.matched_rules),
                         decision.ruleset_version, deadlines)

    @event("Classified")
    def _classified(self, meta: dict[str, Any], channel: str, type: str, category: str,
                    severity: str, matched_rules: list[str], ruleset_version: str,
                    deadlines: dict[str, Any]) -> None:
        self.classification = {"type": type, "category": category, "severity": severity,
                               "method": "automatic", "matched_rules": matched_rules,
                               "reason": None}
        self.deadlines = deadlines

    @event("Acknowledged")
    def acknowledge(self, meta: dict[str, Any], language: str, message: str,
                    deadlines: dict[str, Any]) -> None:
        self.acknowledgement = message

    def reclassify(self, meta: dict[str, Any], reason: str, deadlines_for,
                   type: ComplaintType | None = None, category: Category | None = None,
                   severity: Severity | None = None) -> None:
        current = self.classification
        new = {
            "type": (type or ComplaintType(current["type"])).value,
            "category": (category or Category(current["category"])).value,
            "severity": (severity or Severity(current["severity"])).value,
        }
        if all(new[k] == current[k] for k in new):
            raise InvalidCommand("body", "the new classification equals the current one")
        self._reclassified(
            meta, new["type"], new["category"], new["severity"],
            current["type"], current["category"], current["severity"], reason,
            deadlines_for(Severity(new["severity"])),
        )

    @event("Reclassified")
    def _reclassified(self, meta: dict[str, Any], type: str, category: str, severity: str,
                      previous_type: str, previous_category: str, previous_severity: str,
                      reason: str, deadlines: dict[str, Any]) -> None:
        self.classification = {"type": type, "category": category, "severity": severity,
                               "method": "override", "matched_rules":
                               self.classification["matched_rules"], "reason": reason}
        self.deadlines = deadlines
