"""Intake's use cases: receive (classify and acknowledge at once), reclassify, read."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml

from contracts import api, events
from contracts.envelope import Actor
from contracts.vocabulary import Channel, Severity
from servicekit.application import ServiceApplication, retry_on_conflict
from servicekit.errors import InvalidCommand, NotFound
from services.intake import sla
from services.intake.classification import classify, detect_language
from services.intake.domain import Complaint, acknowledgement

RULES_FILE = Path(__file__).with_name("rules.yaml")


class IntakeApplication(ServiceApplication):
    name = "intake"
    public_events = {
        Complaint.Received: events.ComplaintReceived,
        Complaint.Classified: events.ComplaintClassified,
        Complaint.Acknowledged: events.ComplaintAcknowledged,
        Complaint.Reclassified: events.ComplaintReclassified,
    }

    def __init__(self, env=None, clock=None, rules: dict[str, Any] | None = None):
        super().__init__(env=env, clock=clock)
        self.rules = rules or yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))

    def receive_complaint(self, request: api.ReceiveComplaint, actor: Actor,
                          correlation_id: str | None = None) -> api.ComplaintView:
        complaint_id = uuid.uuid4()
        meta = self.meta(complaint_id, actor, correlation_id)
        received_at = meta["at"]
        if request.happened_at is not None and request.happened_at > received_at:
            raise InvalidCommand("body.happened_at", "is in the future")
        language = request.language or detect_language(request.text)
        complaint = Complaint(
            meta=meta, channel=request.channel.value, language=language.value,
            customer=request.customer.model_dump(mode="json"), text=request.text,
            product=request.product, location=request.location,
            customer_request=request.customer_request, happened_at=request.happened_at,
            received_at=received_at, staff_member=request.staff_member,
        )
        decision = classify(request.text, self.rules)
        deadlines = sla.deadlines(received_at, request.channel, decision.severity)
        complaint.classify(meta, decision, deadlines)
        complaint.acknowledge(meta, language.value,
                              acknowledgement(language, complaint_id, decision.type, deadlines),
                              deadlines)
        self.save(complaint)
        return self.view(complaint)

    @retry_on_conflict
    def reclassify(self, complaint_id: uuid.UUID, request: api.Reclassify, actor: Actor,
                   correlation_id: str | None = None) -> api.ComplaintView:
        complaint = self._complaint(complaint_id)

        def deadlines_for(severity: Severity) -> dict[str, Any]:
            return sla.deadlines(complaint.received_at, Channel(complaint.channel), severity)

        complaint.reclassify(self.meta(complaint_id, actor, correlation_id), request.reason,
                             deadlines_for, type=request.type, category=request.category,
                             severity=request.severity)
        self.save(complaint)
        return self.view(complaint)

    def get_complaint(self, complaint_id: uuid.UUID) -> api.ComplaintView:
        return self.view(self._complaint(complaint_id))

    def _complaint(self, complaint_id: uuid.UUID) -> Complaint:
        complaint = self.get_or_none(complaint_id)
        if complaint is None:
            raise NotFound("complaint", complaint_id)
        return complaint

    @staticmethod
    def view(c: Complaint) -> api.ComplaintView:
        return api.ComplaintView(
            complaint_id=c.id, channel=c.channel, language=c.language, customer=c.customer,
            text=c.text, product=c.product, location=c.location,
            customer_request=c.customer_request, happened_at=c.happened_at,
            received_at=c.received_at, classification=c.classification,
            deadlines=c.deadlines, acknowledgement=c.acknowledgement,
            staff_member=c.staff_member, version=c.version,
        )
