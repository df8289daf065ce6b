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
from contracts.envelope import Actor, Envelope, imported_complaint_id
from contracts.vocabulary import Role
from servicekit import pii
from servicekit.application import ServiceApplication, occurred_at, retry_on_conflict
from servicekit.errors import InvalidCommand, NotFound, StateConflict, require_role
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
# In-process callers (tools, tests) read the customer in clear; HTTP and RPC callers pass
# who asks, and see what their role may (servicekit.pii.shown).
INTERNAL = Actor(id="intake", role="admin")


def customer_keys(customer: dict[str, Any]) -> list[tuple[str, str]]:
    """What identifies a customer: phone, email (case-insensitive) or customer id."""
    keys = [("phone", customer.get("phone")), ("email", (customer.get("email") or "").lower()),
            ("customer_id", customer.get("customer_id"))]
    return [(kind, value) for kind, value in keys if value]


def most_similar(text: str, earlier: list[tuple[uuid.UUID, str]]
                 ) -> tuple[uuid.UUID, float] | None:
    """The most similar earlier text at or above SIMILAR (character-level, so Chinese
    needs no word splitting)."""
    matcher = SequenceMatcher(None)
    matcher.set_seq2(text.lower())  # the text compared against each earlier one
    best: tuple[uuid.UUID, float] | None = None
    for cid, other in earlier:
        matcher.set_seq1(other.lower())
        # The cheap upper bounds first: most earlier texts cannot reach the threshold
        # (or beat the best so far), and ratio() is quadratic in the text length.
        floor = max(SIMILAR, best[1] if best else 0.0)
        if matcher.real_quick_ratio() < floor or matcher.quick_ratio() < floor:
            continue
        ratio = matcher.ratio()
        if ratio >= floor and (best is None or ratio > best[1]):
            best = (cid, ratio)
            if ratio == 1.0:
                break  # nothing later can beat it; the earliest best is kept, as max() did
    return (best[0], round(best[1], 3)) if best else None


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
        Complaint.CustomerErased: events.CustomerErased,
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
        self._imported: set[uuid.UUID] = set()  # history: no triage, no SLA timer
        # Personal data is sealed with per-customer data keys (servicekit.pii; refuses to
        # start without PII_MASTER_KEY); the folds hold only blind indexes and key ids.
        self.vault = pii.vault_for_app(self)
        self._key_of: dict[uuid.UUID, str] = {}  # complaint -> its data key id
        self._by_key: dict[str, set[uuid.UUID]] = {}  # data key id -> complaints
        self._by_index: dict[str, set[uuid.UUID]] = {}  # blind index -> complaints
        self._index_of: dict[uuid.UUID, list[str]] = {}  # complaint -> its blind indexes

    # --- commands -----------------------------------------------------------

    def receive_complaint(self, request: api.ReceiveComplaint, actor: Actor,
                          correlation_id: str | None = None) -> api.ComplaintView:
        if request.source is not None or request.external_ref is not None:
            return self.import_complaint(request, actor, correlation_id)
        if request.customer is None:
            raise InvalidCommand("body.customer",
                                 "required (only an imported record may be anonymous)")
        return self._receive(uuid.uuid4(), request, actor, correlation_id)

    @retry_on_conflict
    def import_complaint(self, request: api.ReceiveComplaint, actor: Actor,
                         correlation_id: str | None = None) -> api.ComplaintView:
        """A historical record (admin only): its id derives from (source, external_ref),
        so posting the same record again returns the complaint and stores nothing; the
        same reference with different content is a conflict."""
        require_role(actor.model_dump(), "import a record (source, external_ref)",
                     Role.admin.value)
        if request.source is None or request.external_ref is None:
            missing = "body.source" if request.source is None else "body.external_ref"
            raise InvalidCommand(missing, "source and external_ref go together")
        complaint_id = imported_complaint_id(request.source, request.external_ref)
        existing = self.get_or_none(complaint_id)
        if existing is None:
            return self._receive(complaint_id, request, actor, correlation_id)
        if self._same_record(existing, request):
            return self.view(existing)
        raise StateConflict(f"import {request.source} record {request.external_ref} again "
                            "with different content", "imported", [])

    def _same_record(self, complaint: Complaint, request: api.ReceiveComplaint) -> bool:
        at = occurred_at()
        return (complaint.channel == request.channel.value and complaint.text == request.text
                and complaint.product == request.product
                and complaint.location == request.location
                and complaint.customer_request == request.customer_request
                and complaint.tags == list(request.tags)
                and self._plain_customer(complaint) == pii.present(
                    request.customer.model_dump(mode="json") if request.customer else {})
                and (at is None or complaint.received_at == at))

    def _receive(self, complaint_id: uuid.UUID, request: api.ReceiveComplaint, actor: Actor,
                 correlation_id: str | None) -> api.ComplaintView:
        customer = request.customer.model_dump(mode="json") if request.customer else {}
        meta = self.meta(complaint_id, actor, correlation_id)
        received_at = meta["at"]
        if request.happened_at is not None and request.happened_at > received_at:
            raise InvalidCommand("body.happened_at", "is in the future")
        language = request.language or detect_language(request.text)
        complaint = Complaint(
            meta=meta, channel=request.channel.value, language=language.value,
            customer=self.vault.seal(customer, complaint_id) or {}, text=request.text,
            product=request.product, location=request.location,
            customer_request=request.customer_request, happened_at=request.happened_at,
            received_at=received_at, staff_member=request.staff_member,
            source=request.source, external_ref=request.external_ref, tags=list(request.tags),
            customer_ref=self.vault.customer_ref(customer),
            customer_index=self.vault.blind_indexes(customer),
        )
        earlier = self._earlier_from_customer(customer, received_at)
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
        return self.view(complaint, actor)

    def _earlier_from_customer(self, customer: dict[str, Any], now: datetime
                               ) -> list[tuple[uuid.UUID, datetime, str]]:
        self._refresh_index()
        found: dict[uuid.UUID, tuple[uuid.UUID, datetime, str]] = {}
        for key in self.vault.blind_indexes(customer):
            for item in self._customers.get(("blind", key), ()):
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
        return self.view(complaint, actor)

    def _on_complaint(self, complaint_id: uuid.UUID, actor: Actor, correlation_id: str | None,
                      act: Callable[[Complaint, dict[str, Any]], None]) -> api.ComplaintView:
        complaint = self._complaint(complaint_id)
        act(complaint, self.meta(complaint_id, actor, correlation_id))
        self.save(complaint)
        return self.view(complaint, actor)

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
        return self.view(duplicate, actor)

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
            # An imported record's own verdict (timely) decides its first reply.
            complaint.mark_met(meta, "first_reply", "a response was sent",
                               on_time=envelope.payload.get("timely"))
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
            self._fold_personal(cid, event)
        elif isinstance(event, Complaint.CustomerErased):
            self._forget_customer(cid)
        if isinstance(event, Complaint.Received) and getattr(event, "source", None):
            self._imported.add(cid)
        if cid in self._imported:
            return  # history: never in triage, never swept by the SLA timer
        if isinstance(event, Complaint.Received):
            for index in self._index_of.get(cid, ()):
                self._customers.setdefault(("blind", index), []).append(
                    (cid, event.received_at, event.text))
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

    # --- personal data --------------------------------------------------------

    def _fold_personal(self, cid: uuid.UUID, event: Any) -> None:
        """Key id and blind indexes of a received complaint (an event recorded before
        encryption holds the plain customer: its indexes are computed here)."""
        customer = event.customer or {}
        if "ct" in customer:
            self._key_of[cid] = customer["key"]
            self._by_key.setdefault(customer["key"], set()).add(cid)
        index = list(getattr(event, "customer_index", None) or
                     self.vault.blind_indexes(customer))
        self._index_of[cid] = index
        for value in index:
            self._by_index.setdefault(value, set()).add(cid)

    def _forget_customer(self, cid: uuid.UUID) -> None:
        """An erased customer's complaints no longer count as repeats or duplicates: a
        new complaint from them starts afresh (the erasure index keeps finding them)."""
        for value in self._index_of.get(cid, ()):
            key = ("blind", value)
            self._customers[key] = [i for i in self._customers.get(key, ()) if i[0] != cid]

    def _plain_customer(self, c: Complaint) -> dict[str, Any] | pii.Erased:
        if c.customer_erased:
            # Also for a customer recorded before encryption: no key to destroy, but an
            # erased customer is never shown again.
            return pii.ERASED_DATA
        if not c.customer or "ct" not in c.customer:
            return pii.present(c.customer or {})  # recorded before encryption
        return self.vault.open(c.customer, c.id)

    def customer_block(self, c: Complaint, role: str | None, assigned: bool = False
                       ) -> tuple[dict[str, Any], str]:
        """The customer as `role` may see it, and how: plain, masked, erased or none."""
        data = self._plain_customer(c)
        if isinstance(data, pii.Erased):
            return pii.erased(), "erased"
        if not data:
            return {}, "none"
        shown = pii.shown(data, role, assigned)
        return shown, "plain" if pii.needs_plain(role, assigned) else "masked"

    def customer(self, complaint_id: uuid.UUID, role: str | None, assigned: bool = False
                 ) -> api.CustomerBlock:
        """For downstream services (over RPC): they decide whether the person asking is
        the one assigned; intake decides what that role sees."""
        customer, view = self.customer_block(self._complaint(complaint_id), role, assigned)
        return api.CustomerBlock(complaint_id=complaint_id, customer=customer, view=view)

    @retry_on_conflict
    def erase_customer(self, request: api.EraseCustomer, actor: Actor,
                       correlation_id: str | None = None) -> api.Erasure:
        """A privacy officer's erasure: every data key of the customer is destroyed (so
        every complaint sealed with one reads "[erased]" for ever), then each affected
        complaint records who erased it and when. Repeating it destroys nothing more and
        records nothing more; a retry after a crash between the two steps completes it."""
        require_role(actor.model_dump(), "erase a customer's personal data",
                     Role.privacy_officer.value)
        given = [f for f in ("complaint_id", "customer_id", "email", "phone")
                 if getattr(request, f) is not None]
        if len(given) != 1:
            raise InvalidCommand("body", "give exactly one of complaint_id, customer_id, "
                                 "email or phone")
        self._refresh_index()
        with self._index_lock:
            if request.complaint_id is not None:
                found = {self._complaint(request.complaint_id).id}
            else:
                index = self.vault.blind_indexes({given[0]: getattr(request, given[0])})
                found = set(self._by_index.get(index[0], ()))
            if not found:
                raise NotFound("customer", f"given as {given[0]}")  # never echo the value
            affected, keys = self._same_customer(found)
        destroyed = self.vault.erase(keys)
        # A complaint received meanwhile (another greenthread or process) may have been
        # sealed with a key just destroyed: it is this customer's too, so it is recorded.
        self._refresh_index()
        with self._index_lock:
            affected |= set().union(*(self._by_key.get(k, set()) for k in keys))
        complaints = [self._complaint(c) for c in sorted(affected)]
        ref = next((c.customer_ref for c in complaints if c.customer_ref), None)
        meta = self.meta(complaints[0].id, actor, correlation_id)
        pending = [c for c in complaints if not c.customer_erased]
        for c in pending:
            c.erase_customer({**meta, "complaint_id": str(c.id)}, c.customer_ref,
                             len(complaints), self._key_of.get(c.id))
        if pending:
            self.save(*pending)
        log.info("erasure by %s: %d data key(s) destroyed, %d complaint(s)", actor.id,
                 destroyed, len(complaints))
        return api.Erasure(customer_ref=ref, complaints=[c.id for c in complaints],
                           keys_destroyed=destroyed, erased_by=actor.id,
                           erased_at=meta["at"])

    def _same_customer(self, found: set[uuid.UUID]
                       ) -> tuple[set[uuid.UUID], set[str]]:
        """The complaints found, every complaint sealed with one of their data keys, and
        those keys. Deliberately not closed over other shared identifiers: a phone is
        often a household's, and erasing another person's data cannot be undone; the
        privacy officer erases by each identifier the person gave. Called under the
        index lock."""
        keys = {self._key_of[c] for c in found if c in self._key_of}
        return set(found).union(*(self._by_key.get(k, set()) for k in keys)), keys

    # --- queries ------------------------------------------------------------

    def get_complaint(self, complaint_id: uuid.UUID, reader: Actor | None = INTERNAL
                      ) -> api.ComplaintView:
        """The complaint with its customer as `reader` may see it (masked for None, an
        unidentified reader; plain for in-process callers, the default)."""
        return self.view(self._complaint(complaint_id), reader)

    def _complaint(self, complaint_id: uuid.UUID) -> Complaint:
        complaint = self.get_or_none(complaint_id)
        if complaint is None:
            raise NotFound("complaint", complaint_id)
        return complaint

    def view(self, c: Complaint, reader: Actor | None = INTERNAL) -> api.ComplaintView:
        return api.ComplaintView(
            complaint_id=c.id, channel=c.channel, language=c.language,
            customer=self.customer_block(c, reader.role.value if reader else None)[0],
            source=c.source, external_ref=c.external_ref, tags=c.tags,
            customer_ref=c.customer_ref,
            text=c.text, product=c.product, location=c.location,
            customer_request=c.customer_request, happened_at=c.happened_at,
            received_at=c.received_at, classification=c.classification,
            deadlines=c.deadlines, acknowledgement=c.acknowledgement,
            staff_member=c.staff_member, sla_policy_version=c.sla_policy_version,
            targets=c.targets, clock_paused=c.paused_since is not None,
            possible_duplicate_of=c.possible_duplicate_of, duplicate_status=c.duplicate_status,
            merged_duplicates=c.merged_duplicates, version=c.version,
        )
