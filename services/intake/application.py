"""Intake's use cases: receive (classify, promise deadlines, acknowledge at once),
reclassify, pause and resume the SLA clock, record contact with the customer, and the
SLA timer's warnings and breaches. Resolution's events mark the targets met."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from difflib import SequenceMatcher
from typing import Any

from eventlet.semaphore import Semaphore
from eventsourcing.domain import Aggregate

from contracts import api, events
from contracts.envelope import Actor, Envelope
from servicekit.application import ServiceApplication, retry_on_conflict
from servicekit.errors import InvalidCommand, NotFound
from services.intake import sla
from services.intake.classification import (
    DEFAULT_RULES_FILE,
    classify,
    detect_language,
    load_rules,
    validate_rules,
)
from services.intake.domain import DONE, Complaint, acknowledgement
from services.intake.sla_policy import SlaPolicy, load_policy

log = logging.getLogger(__name__)

REPEAT_WINDOW = timedelta(days=90)  # an earlier complaint this recent makes it a repeat
DUPLICATE_WINDOW = timedelta(days=14)  # ... and with similar text, a possible duplicate
SIMILAR = 0.6


def customer_keys(customer: dict[str, Any]) -> list[tuple[str, str]]:
    """What identifies a customer: phone, email (case-insensitive) or customer id."""
    keys = [("phone", customer.get("phone")), ("email", (customer.get("email") or "").lower()),
            ("customer_id", customer.get("customer_id"))]
    return [(kind, value) for kind, value in keys if value]


def most_similar(text: str, earlier: list[tuple[uuid.UUID, str]]
                 ) -> tuple[uuid.UUID, float] | None:
    """The most similar earlier text at or above SIMILAR (character-level, so Chinese
    needs no word splitting)."""
    best = max(((cid, SequenceMatcher(None, text.lower(), other.lower()).ratio())
                for cid, other in earlier), key=lambda item: item[1], default=None)
    return (best[0], round(best[1], 3)) if best and best[1] >= SIMILAR else None


class IntakeApplication(ServiceApplication):
    name = "intake"
    public_events = {
        Complaint.Received: events.ComplaintReceived,
        Complaint.Classified: events.ComplaintClassified,
        Complaint.Acknowledged: events.ComplaintAcknowledged,
        Complaint.Reclassified: events.ComplaintReclassified,
        Complaint.DeadlinesSet: events.ComplaintDeadlinesSet,
        Complaint.ClockPaused: events.ComplaintClockPaused,
        Complaint.ClockResumed: events.ComplaintClockResumed,
        Complaint.DeadlineWarned: events.ComplaintDeadlineWarned,
        Complaint.DeadlineBreached: events.ComplaintDeadlineBreached,
        Complaint.TargetMet: events.ComplaintTargetMet,
        Complaint.ClassificationConfirmed: events.ComplaintClassificationConfirmed,
        Complaint.PossibleDuplicateFlagged: events.ComplaintPossibleDuplicate,
        Complaint.Merged: events.ComplaintMerged,
        Complaint.DuplicateAbsorbed: events.ComplaintDuplicateAbsorbed,
        Complaint.DuplicateDismissed: events.ComplaintDuplicateDismissed,
    }

    def __init__(self, env=None, clock=None, rules: dict[str, Any] | None = None,
                 sla_policy: SlaPolicy | None = None):
        super().__init__(env=env, clock=clock)
        self.rules = validate_rules(rules) if rules else load_rules(
            os.environ.get("CLASSIFICATION_RULES_FILE") or DEFAULT_RULES_FILE)
        self.sla_policy = sla_policy or load_policy()
        self._index_lock = Semaphore()
        self._index_read_up_to = 0
        self._open: dict[uuid.UUID, dict[str, Any]] = {}  # complaint -> its SLA clock state
        self._customers: dict[tuple[str, str], list[tuple[uuid.UUID, datetime, str]]] = {}
        self._triage: dict[uuid.UUID, Any] = {}  # complaint -> its Classified event

    # --- commands -----------------------------------------------------------

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
        earlier = self._earlier_from_customer(request.customer.model_dump(mode="json"),
                                              received_at)
        repeat = any(received_at - at <= REPEAT_WINDOW for _, at, _ in earlier)
        decision = classify(request.text, self.rules, repeat=repeat)
        targets = self._schedule(complaint, decision.type.value, decision.severity.value)
        promised = sla.promise(self.sla_policy.version, targets)
        complaint.classify(meta, decision, promised)
        complaint.acknowledge(meta, language.value,
                              acknowledgement(language, complaint_id, decision.type, promised),
                              promised)
        complaint.set_deadlines(meta, self.sla_policy.version, targets, "classified")
        complaint.mark_met(meta, "acknowledge", "acknowledgement sent")
        duplicate = most_similar(request.text, [(cid, text) for cid, at, text in earlier
                                                if received_at - at <= DUPLICATE_WINDOW])
        if duplicate is not None:
            complaint.flag_possible_duplicate(meta, str(duplicate[0]), duplicate[1])
        self.save(complaint)
        return self.view(complaint)

    def _earlier_from_customer(self, customer: dict[str, Any], now: datetime
                               ) -> list[tuple[uuid.UUID, datetime, str]]:
        self._refresh_index()
        found: dict[uuid.UUID, tuple[uuid.UUID, datetime, str]] = {}
        for key in customer_keys(customer):
            for item in self._customers.get(key, ()):
                if item[1] <= now:
                    found[item[0]] = item
        return sorted(found.values(), key=lambda item: item[1])

    def _schedule(self, complaint: Complaint, type: str, severity: str
                  ) -> dict[str, dict[str, Any]]:
        return sla.schedule(self.sla_policy, complaint.received_at, type, severity,
                            complaint.channel, complaint.paused)

    @retry_on_conflict
    def reclassify(self, complaint_id: uuid.UUID, request: api.Reclassify, actor: Actor,
                   correlation_id: str | None = None) -> api.ComplaintView:
        complaint = self._complaint(complaint_id)
        meta = self.meta(complaint_id, actor, correlation_id)
        scheduled: dict[str, dict[str, Any]] = {}

        def deadlines_for(severity: Any) -> dict[str, Any]:
            type_ = (request.type or complaint.classification["type"])
            scheduled.update(self._schedule(complaint, str(getattr(type_, "value", type_)),
                                            str(severity.value)))
            return sla.promise(self.sla_policy.version, scheduled)

        complaint.reclassify(meta, request.reason, deadlines_for, type=request.type,
                             category=request.category, severity=request.severity)
        complaint.set_deadlines(meta, self.sla_policy.version, scheduled, "reclassified")
        self.save(complaint)
        return self.view(complaint)

    def _on_complaint(self, complaint_id: uuid.UUID, actor: Actor, correlation_id: str | None,
                      act: Callable[[Complaint, dict[str, Any]], None]) -> api.ComplaintView:
        complaint = self._complaint(complaint_id)
        act(complaint, self.meta(complaint_id, actor, correlation_id))
        self.save(complaint)
        return self.view(complaint)

    @retry_on_conflict
    def pause_clock(self, complaint_id: uuid.UUID, request: api.PauseClock, actor: Actor,
                    correlation_id: str | None = None) -> api.ComplaintView:
        return self._on_complaint(complaint_id, actor, correlation_id,
                                  lambda c, m: c.pause_clock(m, request.reason))

    @retry_on_conflict
    def resume_clock(self, complaint_id: uuid.UUID, request: api.ResumeClock, actor: Actor,
                     correlation_id: str | None = None) -> api.ComplaintView:
        def counted(clock: str, start: datetime, end: datetime) -> timedelta:
            return self.sla_policy.clock(clock).counted(start, end)

        def act(complaint: Complaint, meta: dict[str, Any]) -> None:
            complaint.resume_clock(meta, request.reason, counted, lambda paused: sla.schedule(
                self.sla_policy, complaint.received_at, complaint.classification["type"],
                complaint.classification["severity"], complaint.channel, paused))

        return self._on_complaint(complaint_id, actor, correlation_id, act)

    @retry_on_conflict
    def record_contact(self, complaint_id: uuid.UUID, request: api.RecordContact, actor: Actor,
                       correlation_id: str | None = None) -> api.ComplaintView:
        def act(complaint: Complaint, meta: dict[str, Any]) -> None:
            complaint.mark_met(meta, "first_contact", "the customer was contacted")
            if request.expected_resolution is not None:
                complaint.mark_met(meta, "progress_update",
                                   f"progress update; expected resolution "
                                   f"{request.expected_resolution.isoformat()}")

        return self._on_complaint(complaint_id, actor, correlation_id, act)

    @retry_on_conflict
    def confirm_classification(self, complaint_id: uuid.UUID, request: api.Decide,
                               actor: Actor, correlation_id: str | None = None
                               ) -> api.ComplaintView:
        return self._on_complaint(complaint_id, actor, correlation_id,
                                  lambda c, m: c.confirm_classification(m, request.reason))

    @retry_on_conflict
    def merge_duplicate(self, complaint_id: uuid.UUID, request: api.Decide, actor: Actor,
                        correlation_id: str | None = None) -> api.ComplaintView:
        duplicate = self._complaint(complaint_id)
        duplicate._check_flagged("merge")
        earlier = self._complaint(duplicate.possible_duplicate_of)
        duplicate.merge_into(self.meta(complaint_id, actor, correlation_id), earlier,
                             request.reason)
        self.save(duplicate, earlier)
        return self.view(duplicate)

    @retry_on_conflict
    def dismiss_duplicate(self, complaint_id: uuid.UUID, request: api.Decide, actor: Actor,
                          correlation_id: str | None = None) -> api.ComplaintView:
        return self._on_complaint(complaint_id, actor, correlation_id,
                                  lambda c, m: c.dismiss_duplicate(m, request.reason))

    def triage_queue(self) -> api.TriageQueue:
        """Low-confidence classifications an agent has not yet overridden or confirmed."""
        self._refresh_index()
        with self._index_lock:
            waiting = sorted(self._triage.items(), key=lambda item: item[1].meta["at"])
        return api.TriageQueue(complaints=[api.TriageItem(
            complaint_id=cid, received_at=event.meta["at"], type=event.type,
            category=event.category, confidence=event.confidence, scores=event.scores)
            for cid, event in waiting])

    # --- policy: resolution's steps meet the targets --------------------------

    def policy(self, envelope: Envelope) -> Iterable[Aggregate]:
        if envelope.event_type not in ("resolution.responded", "resolution.closed"):
            return ()
        complaint = self.get_or_none(envelope.complaint_id)
        if complaint is None:
            return ()
        meta = self.system_meta(envelope)
        if envelope.event_type == "resolution.responded":
            complaint.mark_met(meta, "first_contact", "a response was sent")
            complaint.mark_met(meta, "first_reply", "a response was sent")
        else:
            complaint.mark_met(meta, "resolve", "resolved and closed")
            for name in list(complaint.targets):  # moot once resolved
                complaint.mark_met(meta, name, "resolved before it fell due")
        return (complaint,)

    # --- the SLA timer -----------------------------------------------------------

    def check_deadlines(self) -> int:
        """Record every warning and breach due now; returns how many complaints changed.
        Safe with several instances and across restarts: each complaint's own events
        say what was already recorded, and a concurrent save is re-read and retried."""
        now = self.clock.now()
        changed = 0
        for complaint_id in self._due(now):
            if self._tick(complaint_id, now):
                changed += 1
        return changed

    @retry_on_conflict
    def _tick(self, complaint_id: uuid.UUID, now: datetime) -> bool:
        complaint = self._complaint(complaint_id)
        if not complaint.due(now):
            return False
        meta = self.meta(complaint_id, Actor(id="sla-clock", role="system"), at=now)
        complaint.tick(meta)
        self.save(complaint)
        return True

    def _refresh_index(self) -> None:
        """Fold this service's log into the indexes (SLA clocks, customers, triage), so a
        tick or a receipt does not load every complaint."""
        with self._index_lock:
            while True:
                page = self.recorder.select_notifications(
                    start=self._index_read_up_to + 1, limit=1000)
                for notification in page:
                    self._fold(self.mapper.to_domain_event(notification))
                    self._index_read_up_to = notification.id
                if len(page) < 1000:
                    return

    def _due(self, now: datetime) -> list[uuid.UUID]:
        """Complaints with a warning or breach due."""
        self._refresh_index()
        with self._index_lock:
            return [cid for cid, state in self._open.items() if not state["paused"] and any(
                (t["status"] == "pending" and now >= t["warn_at"]) or
                (t["status"] in ("pending", "warned") and now >= t["deadline"])
                for t in state["targets"].values())]

    def _fold(self, event: Any) -> None:
        cid = event.originator_id
        if isinstance(event, Complaint.Received):
            for key in customer_keys(event.customer):
                self._customers.setdefault(key, []).append((cid, event.received_at, event.text))
        elif isinstance(event, Complaint.Classified) and getattr(event, "needs_triage", False):
            self._triage[cid] = event
        elif isinstance(event, Complaint.Reclassified | Complaint.ClassificationConfirmed):
            self._triage.pop(cid, None)
        state = self._open.setdefault(cid, {"paused": False, "targets": {}})
        if isinstance(event, Complaint.DeadlinesSet):
            state["targets"] = {n: {**t, "status": state["targets"].get(n, {}).get(
                "status", "pending")} for n, t in event.targets.items()}
        elif isinstance(event, Complaint.ClockPaused):
            state["paused"] = True
        elif isinstance(event, Complaint.ClockResumed):
            state["paused"] = False
        elif isinstance(event, Complaint.DeadlineWarned | Complaint.DeadlineBreached |
                        Complaint.TargetMet) and event.target in state["targets"]:
            state["targets"][event.target]["status"] = (
                "warned" if isinstance(event, Complaint.DeadlineWarned) else "done")
        if state["targets"] and all(t["status"] in (*DONE, "done")
                                    for t in state["targets"].values()):
            del self._open[cid]

    # --- queries ------------------------------------------------------------

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
            staff_member=c.staff_member, sla_policy_version=c.sla_policy_version,
            targets=c.targets, clock_paused=c.paused_since is not None,
            possible_duplicate_of=c.possible_duplicate_of, duplicate_status=c.duplicate_status,
            merged_duplicates=c.merged_duplicates, version=c.version,
        )
