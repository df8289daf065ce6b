"""Intake's aggregate: the Complaint as received, classified and acknowledged."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.vocabulary import Category, ComplaintType, Language, Severity
from servicekit.errors import InvalidCommand, StateConflict
from services.intake.classification import Decision

ACK_OPENING = {
    Language.en: "We have received your {type} (reference {ref}).",
    Language.zh: "我们已收到您的{type}（编号 {ref}）。",
}
ACK_PROMISES = {  # in the order told to the customer; a target that does not apply is skipped
    Language.en: [("first_contact_by", " We will contact you by {} (UTC)."),
                  ("first_reply_by", " You will have our reply by {} (UTC)."),
                  ("resolve_by", " We aim to resolve it by {} (UTC).")],
    Language.zh: [("first_contact_by", "我们将在 {}（UTC）前与您联系。"),
                  ("first_reply_by", "我们将在 {}（UTC）前答复您。"),
                  ("resolve_by", "我们争取在 {}（UTC）前解决。")],
}
TYPE_LABELS = {
    Language.en: {"complaint": "complaint", "suggestion": "suggestion", "praise": "feedback",
                  "inquiry": "inquiry"},
    Language.zh: {"complaint": "投诉", "suggestion": "建议", "praise": "表扬", "inquiry": "咨询"},
}


def acknowledgement(language: Language, complaint_id: uuid.UUID, type_: ComplaintType,
                    deadlines: dict[str, Any]) -> str:
    """The acknowledgement in the customer's language, stating the promised deadlines."""
    text = ACK_OPENING[language].format(type=TYPE_LABELS[language][type_.value],
                                        ref=str(complaint_id)[:8])
    for key, sentence in ACK_PROMISES[language]:
        if deadlines.get(key) is not None:
            text += sentence.format(deadlines[key].strftime("%Y-%m-%d %H:%M"))
    return text


DONE = ("met", "missed", "breached")


class Complaint(Aggregate):
    @staticmethod
    def create_id(meta: dict[str, Any], **_: Any) -> uuid.UUID:
        return uuid.UUID(meta["complaint_id"])

    @event("Received")
    def __init__(self, meta: dict[str, Any], channel: str, language: str,
                 customer: dict[str, Any], text: str, product: str | None,
                 location: str | None, customer_request: str | None,
                 happened_at: datetime | None, received_at: datetime,
                 staff_member: str | None = None, source: str | None = None,
                 external_ref: str | None = None, tags: list[str] | None = None,
                 customer_ref: str | None = None,
                 customer_index: list[str] | None = None):
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
        # An imported record (source, external_ref): history, so the SLA timer never
        # sweeps it; its targets are decided when each step happens, at its historical time.
        self.source = source
        self.external_ref = external_ref
        self.tags = list(tags or [])
        self.customer_ref = customer_ref
        # `customer` is a sealed blob (servicekit.pii), never the personal data itself;
        # customer_index holds blind indexes of its phone, email and customer id.
        self.customer_index = list(customer_index or [])
        self.customer_erased = False
        self.classification: dict[str, Any] = {}
        self.deadlines: dict[str, Any] = {}
        self.acknowledgement = ""
        self.sla_policy_version: str | None = None
        self.targets: dict[str, dict[str, Any]] = {}
        self.paused_since: datetime | None = None
        self.paused: dict[str, float] = {}  # counted paused seconds per clock
        self.possible_duplicate_of: uuid.UUID | None = None
        self.duplicate_status: str | None = None
        self.merged_duplicates: list[uuid.UUID] = []

    def classify(self, meta: dict[str, Any], decision: Decision,
                 deadlines: dict[str, Any]) -> None:
        self._classified(meta, self.channel, decision.type.value, decision.category.value,
                         decision.severity.value, list(decision.matched_rules),
                         decision.ruleset_version, deadlines,
                         {k: round(v, 4) for k, v in decision.scores.items()},
                         round(decision.confidence, 4), decision.needs_triage, self.source)

    @event("Classified")
    def _classified(self, meta: dict[str, Any], channel: str, type: str, category: str,
                    severity: str, matched_rules: list[str], ruleset_version: str,
                    deadlines: dict[str, Any], scores: dict[str, float] | None = None,
                    confidence: float = 1.0, needs_triage: bool = False,
                    source: str | None = None) -> None:
        self.classification = {"type": type, "category": category, "severity": severity,
                               "method": "automatic", "matched_rules": matched_rules,
                               "reason": None, "ruleset_version": ruleset_version,
                               "scores": scores or {}, "confidence": confidence,
                               "needs_triage": needs_triage}
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
        self.classification = {**self.classification, "type": type, "category": category,
                               "severity": severity, "method": "override", "reason": reason,
                               "needs_triage": False}  # an agent has decided
        self.deadlines = deadlines

    # --- triage ------------------------------------------------------------------

    def confirm_classification(self, meta: dict[str, Any], reason: str) -> None:
        if not self.classification.get("needs_triage"):
            raise StateConflict("confirm the classification", "not in triage",
                                ["reclassify"])
        self._classification_confirmed(meta, reason)

    @event("ClassificationConfirmed")
    def _classification_confirmed(self, meta: dict[str, Any], reason: str) -> None:
        self.classification = {**self.classification, "needs_triage": False,
                               "method": "confirmed", "reason": reason}

    # --- duplicates --------------------------------------------------------------

    @event("PossibleDuplicateFlagged")
    def flag_possible_duplicate(self, meta: dict[str, Any], earlier_complaint_id: str,
                                similarity: float) -> None:
        self.possible_duplicate_of = uuid.UUID(earlier_complaint_id)
        self.duplicate_status = "flagged"

    def _check_flagged(self, action: str) -> None:
        if self.duplicate_status != "flagged":
            raise StateConflict(action, f"duplicate {self.duplicate_status or 'not flagged'}",
                                [])

    def merge_into(self, meta: dict[str, Any], earlier: Complaint, reason: str) -> None:
        """An event on both: this one is merged, the earlier one absorbs it."""
        self._check_flagged("merge")
        self._merged(meta, str(earlier.id), reason)
        earlier._duplicate_absorbed({**meta, "complaint_id": str(earlier.id)}, str(self.id))

    @event("Merged")
    def _merged(self, meta: dict[str, Any], into_complaint_id: str, reason: str) -> None:
        self.duplicate_status = "merged"

    @event("DuplicateAbsorbed")
    def _duplicate_absorbed(self, meta: dict[str, Any], duplicate_complaint_id: str) -> None:
        self.merged_duplicates.append(uuid.UUID(duplicate_complaint_id))

    def dismiss_duplicate(self, meta: dict[str, Any], reason: str) -> None:
        self._check_flagged("dismiss the duplicate flag")
        self._duplicate_dismissed(meta, reason)

    @event("DuplicateDismissed")
    def _duplicate_dismissed(self, meta: dict[str, Any], reason: str) -> None:
        self.duplicate_status = "dismissed"

    # --- personal data -------------------------------------------------------

    @event("CustomerErased")
    def erase_customer(self, meta: dict[str, Any], customer_ref: str | None,
                       complaints_affected: int, key_id: str | None) -> None:
        """A privacy officer (meta: who and when) destroyed the data key `key_id` of this
        complaint's customer: its sealed personal data can never be read again."""
        self.customer_erased = True

    # --- the SLA clock -------------------------------------------------------

    @event("DeadlinesSet")
    def set_deadlines(self, meta: dict[str, Any], policy_version: str,
                      targets: dict[str, dict[str, Any]], reason: str) -> None:
        """A new schedule keeps what already happened to each target that remains."""
        self.sla_policy_version = policy_version
        self.targets = {
            name: {**target, "status": self.targets.get(name, {}).get("status", "pending"),
                   "met_at": self.targets.get(name, {}).get("met_at")}
            for name, target in targets.items()}

    def _open_targets(self) -> list[str]:
        return [n for n, t in self.targets.items() if t["status"] not in DONE]

    def pause_clock(self, meta: dict[str, Any], reason: str) -> None:
        if self.paused_since is not None:
            raise StateConflict("pause the clock", "clock paused", ["resume_clock"])
        if not self._open_targets():
            raise StateConflict("pause the clock", "every target met or breached", [])
        self._clock_paused(meta, reason)

    @event("ClockPaused")
    def _clock_paused(self, meta: dict[str, Any], reason: str) -> None:
        self.paused_since = meta["at"]

    def resume_clock(self, meta: dict[str, Any], reason: str, counted, reschedule) -> None:
        """counted(clock, start, end) -> timedelta; reschedule(paused) -> targets."""
        if self.paused_since is None or self.sla_policy_version is None:
            raise StateConflict("resume the clock", "clock running", ["pause_clock"])
        paused_seconds = {clock: counted(clock, self.paused_since, meta["at"]).total_seconds()
                          for clock in ("calendar", "working")}
        self._clock_resumed(meta, reason, paused_seconds)
        self.set_deadlines(meta, self.sla_policy_version, reschedule(self.paused),
                           "the clock resumed")

    @event("ClockResumed")
    def _clock_resumed(self, meta: dict[str, Any], reason: str,
                       paused_seconds: dict[str, float]) -> None:
        self.paused_since = None
        for clock, seconds in paused_seconds.items():
            self.paused[clock] = self.paused.get(clock, 0.0) + seconds

    def due(self, now: datetime) -> bool:
        """Whether tick() at `now` would record anything (never for an imported record)."""
        if self.paused_since is not None or self.source is not None:
            return False
        return any((t["status"] == "pending" and now >= t["warn_at"]) or
                   (t["status"] in ("pending", "warned") and now >= t["deadline"])
                   for t in self.targets.values())

    def tick(self, meta: dict[str, Any]) -> None:
        """Warn at 80% and breach at 100% of each open target, each exactly once: the
        aggregate's own state says what was already recorded."""
        now = meta["at"]
        if self.paused_since is not None or self.source is not None:
            return
        for name in sorted(self.targets):
            target = self.targets[name]
            if target["status"] == "pending" and now >= target["warn_at"]:
                self._deadline_warned(meta, name, target["deadline"], now)
            if target["status"] in ("pending", "warned") and now >= target["deadline"]:
                self._deadline_breached(meta, name, target["deadline"], now)

    @event("DeadlineWarned")
    def _deadline_warned(self, meta: dict[str, Any], target: str, deadline: datetime,
                         warned_at: datetime) -> None:
        self.targets[target]["status"] = "warned"

    @event("DeadlineBreached")
    def _deadline_breached(self, meta: dict[str, Any], target: str, deadline: datetime,
                           breached_at: datetime) -> None:
        self.targets[target]["status"] = "breached"

    def mark_met(self, meta: dict[str, Any], target: str, step: str,
                 on_time: bool | None = None) -> None:
        """The step a target waits for happened: met on time, or missed (late). A target
        that does not apply, or already has its outcome, records nothing. `on_time`: an
        imported record's own verdict, which wins over the deadline."""
        current = self.targets.get(target)
        if current is None or current["status"] in ("met", "missed") or \
                current.get("met_at") is not None:
            return
        if on_time is None:
            on_time = meta["at"] <= current["deadline"]
        self._target_met(meta, target, current["deadline"], meta["at"], on_time, step)

    @event("TargetMet")
    def _target_met(self, meta: dict[str, Any], target: str, deadline: datetime,
                    met_at: datetime, on_time: bool, step: str) -> None:
        status = self.targets[target]["status"]
        # A breached target keeps its breach; it is also marked when the step happens.
        self.targets[target]["status"] = "breached" if status == "breached" else (
            "met" if on_time else "missed")
        self.targets[target]["met_at"] = met_at
