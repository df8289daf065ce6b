"""Resolution's aggregates.

- Resolution: the response to the customer (a large remedy waits for a supervisor's
  approval first), their decision, closure with a scheduled follow-up, the follow-up
  itself, and a reopen when the follow-up says the problem is not solved. Every
  response is kept: the first is never overwritten by a later one.
- BacklogItem: a suggestion on the improvement backlog, with its status.
- Praise: praise recorded for a named staff member.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.envelope import derived_id
from contracts.vocabulary import (
    IMPORTED_ONLY_OUTCOMES,
    MONETARY_OUTCOMES,
    BacklogStatus,
    ComplaintType,
    ResolutionStatus,
)
from servicekit.errors import DomainError, Forbidden, InvalidCommand, check_allowed
from services.resolution.policy import ResolutionPolicy

S = ResolutionStatus
ALLOWED: dict[str, set[str]] = {
    S.awaiting_investigation: set(),
    S.ready: {"respond"},
    S.awaiting_approval: {"approve", "reject"},
    S.responded: {"accept", "dispute", "close"},
    S.accepted: {"close"},
    S.disputed: set(),
    S.closed: {"follow_up"},  # once per closure
    S.reopened: set(),
}
# A complaint in these states waits for the investigation's (next) conclusion.
WAITING_FOR_INVESTIGATION = frozenset({S.awaiting_investigation, S.disputed, S.reopened})
# A follow-up at or below this satisfaction (1-5) reopens the resolution.
DISSATISFIED = 2
INQUIRY_CLOSED_NOTE = "an inquiry is closed once it is answered"


class OwnProposal(Forbidden):
    """403: the supervisor approving a remedy is the one who proposed it."""

    def __init__(self) -> None:
        self.action = "approve_remedy"
        self.allowed_roles = ["supervisor"]
        DomainError.__init__(self, "nobody approves their own proposal: another supervisor "
                             "approves this remedy")


def resolution_id(complaint_id: uuid.UUID) -> uuid.UUID:
    return derived_id(complaint_id, "resolution")


def backlog_id(complaint_id: uuid.UUID) -> uuid.UUID:
    return derived_id(complaint_id, "backlog")


def praise_id(complaint_id: uuid.UUID) -> uuid.UUID:
    return derived_id(complaint_id, "praise")


def needs_approval(outcome: str, amount: Decimal | None, currency: str | None,
                   policy: ResolutionPolicy) -> Decimal | None:
    """The threshold a remedy exceeds (so it needs a supervisor's approval), else None.
    Money is compared in Decimal; a float is refused rather than rounded."""
    if isinstance(amount, float) or not isinstance(amount, Decimal | None):
        raise TypeError(f"money is a Decimal, never {type(amount).__name__}")
    if amount is None or currency is None or outcome not in MONETARY_OUTCOMES:
        return None
    threshold = policy.threshold_for(currency)
    return threshold if amount > threshold else None


class Resolution(Aggregate):
    @staticmethod
    def create_id(meta: dict[str, Any], **_: Any) -> uuid.UUID:
        return resolution_id(uuid.UUID(meta["complaint_id"]))

    @event("Opened")
    def __init__(self, meta: dict[str, Any], text: str | None = None,
                 product: str | None = None, staff_member: str | None = None):
        # text, product and staff_member come from complaint.received (kept for the
        # backlog and praise; resolution.opened does not publish them).
        self.complaint_id = uuid.UUID(meta["complaint_id"])
        self.status = S.awaiting_investigation
        self.type: str | None = None
        self.channel: str | None = None
        self.requires_investigation: bool | None = None
        self.text = text
        self.product = product
        self.staff_member = staff_member
        self.responses: list[dict[str, Any]] = []
        self.proposal: dict[str, Any] | None = None
        self.disputes: list[str] = []
        self.decisions: list[dict[str, Any]] = []
        self.outcome: str | None = None
        self.closed_at: datetime | None = None
        self.follow_up_due: datetime | None = None
        self.follow_up: dict[str, Any] | None = None
        self.reopen_reasons: list[str] = []
        self.conclusions = 0
        # An imported record (its source): its closure schedules no follow-up call, and
        # only it may have the source's own outcomes (IMPORTED_ONLY_OUTCOMES).
        self.source: str | None = None

    @property
    def reopen_count(self) -> int:
        return len(self.reopen_reasons)

    @property
    def follow_up_pending(self) -> bool:
        return self.status == S.closed and self.follow_up is None

    def allowed_actions(self) -> set[str]:
        if self.status == S.closed and self.follow_up is not None:
            return set()
        return ALLOWED[self.status]

    def _check(self, action: str) -> None:
        check_allowed(action, self.status, {self.status: self.allowed_actions()})

    # --- reactions to upstream events -------------------------------------

    def register(self, meta: dict[str, Any], type: str, channel: str | None,
                 source: str | None = None) -> None:
        requires = type == ComplaintType.complaint
        source = source or self.source
        if (type, channel, requires, source) != (self.type, self.channel,
                                                 self.requires_investigation, self.source):
            self._registered(meta, type, channel, requires, source)
        if not requires and self.status in WAITING_FOR_INVESTIGATION:
            self._ready(meta, f"a {type} needs no investigation")

    @event("Registered")
    def _registered(self, meta: dict[str, Any], type: str, channel: str | None,
                    requires_investigation: bool, source: str | None = None) -> None:
        self.source = source
        self.type = type
        self.channel = channel
        self.requires_investigation = requires_investigation
        if requires_investigation and self.status == S.ready and not self.conclusions:
            self.status = S.awaiting_investigation  # now a complaint: investigate first

    def investigation_concluded(self, meta: dict[str, Any]) -> None:
        if self.status in WAITING_FOR_INVESTIGATION:
            self._ready(meta, "the investigation concluded", after_investigation=True)

    @event("Ready")
    def _ready(self, meta: dict[str, Any], reason: str, after_investigation: bool = False
               ) -> None:
        self.status = S.ready
        self.conclusions += after_investigation

    # --- the response, and its approval -----------------------------------

    def respond(self, meta: dict[str, Any], outcome: str, message: str,
                amount: Decimal | None, currency: str | None,
                policy: ResolutionPolicy, timely: bool | None = None) -> None:
        self._check("respond")
        if outcome in IMPORTED_ONLY_OUTCOMES and not self.source:
            raise InvalidCommand("body.outcome", f"{outcome} is only for an imported record "
                                 "(the source's own verdict)")
        if timely is not None and not self.source:
            raise InvalidCommand("body.timely", "only for an imported record (the source's "
                                 "verdict on its response)")
        threshold = needs_approval(outcome, amount, currency, policy)
        if threshold is not None and amount is not None and currency is not None:
            self._remedy_proposed(meta, outcome, message, amount, currency, threshold)
        else:
            self._send(meta, outcome, message, amount, currency, policy, meta["actor"]["id"],
                       timely)

    def _send(self, meta: dict[str, Any], outcome: str, message: str,
              amount: Decimal | None, currency: str | None, policy: ResolutionPolicy,
              by: str, timely: bool | None = None) -> None:
        self._responded(meta, outcome, message, amount, currency, self.channel,
                        len(self.responses) + 1, by, timely)
        if self.type == ComplaintType.inquiry:  # answered and closed, no investigation
            self._closed(meta, outcome, INQUIRY_CLOSED_NOTE, self._due(meta, policy))

    @event("Responded")
    def _responded(self, meta: dict[str, Any], outcome: str, message: str,
                   amount: Decimal | None, currency: str | None, channel: str | None,
                   response_number: int, by: str | None = None,
                   timely: bool | None = None) -> None:
        self.responses.append({"number": response_number, "outcome": outcome,
                               "message": message, "amount": amount, "currency": currency,
                               "at": meta["at"], "by": by or meta["actor"]["id"]})
        self.status = S.responded

    @event("RemedyProposed")
    def _remedy_proposed(self, meta: dict[str, Any], outcome: str, message: str,
                         amount: Decimal, currency: str, threshold: Decimal) -> None:
        self.proposal = {"outcome": outcome, "message": message, "amount": amount,
                         "currency": currency, "threshold": threshold, "status": "pending",
                         "proposed_by": meta["actor"]["id"], "proposed_at": meta["at"],
                         "decided_by": None, "decided_at": None, "note": None}
        self.status = S.awaiting_approval

    def approve(self, meta: dict[str, Any], note: str | None,
                policy: ResolutionPolicy) -> None:
        self._check("approve")
        assert self.proposal is not None
        if meta["actor"]["id"] == self.proposal["proposed_by"]:
            raise OwnProposal()
        proposal = self.proposal
        self._remedy_approved(meta, note)
        self._send(meta, proposal["outcome"], proposal["message"], proposal["amount"],
                   proposal["currency"], policy, proposal["proposed_by"])

    @event("RemedyApproved")
    def _remedy_approved(self, meta: dict[str, Any], note: str | None) -> None:
        self._decide(meta, "approved", note)

    def reject(self, meta: dict[str, Any], reason: str) -> None:
        self._check("reject")
        self._remedy_rejected(meta, reason)

    @event("RemedyRejected")
    def _remedy_rejected(self, meta: dict[str, Any], reason: str) -> None:
        self._decide(meta, "rejected", reason)
        self.status = S.ready

    def _decide(self, meta: dict[str, Any], decision: str, note: str | None) -> None:
        assert self.proposal is not None
        self.proposal = {**self.proposal, "status": decision, "note": note,
                         "decided_by": meta["actor"]["id"], "decided_at": meta["at"]}

    # --- the customer's decision ------------------------------------------

    def accept(self, meta: dict[str, Any], comment: str | None) -> None:
        self._check("accept")
        self._accepted(meta, comment)

    @event("Accepted")
    def _accepted(self, meta: dict[str, Any], comment: str | None) -> None:
        self.decisions.append({"decision": "accepted", "comment": comment, "at": meta["at"]})
        self.status = S.accepted

    def dispute(self, meta: dict[str, Any], reason: str) -> None:
        self._check("dispute")
        self._disputed(meta, reason, len(self.disputes) + 1)

    @event("Disputed")
    def _disputed(self, meta: dict[str, Any], reason: str, dispute_count: int) -> None:
        self.disputes.append(reason)
        self.decisions.append({"decision": "disputed", "comment": reason, "at": meta["at"]})
        # A complaint goes back to investigation; anything else is answered again.
        self.status = S.ready if self.requires_investigation is False else S.disputed

    # --- closure, follow-up, reopen -----------------------------------------

    def _due(self, meta: dict[str, Any], policy: ResolutionPolicy) -> datetime | None:
        if self.source:
            return None  # history: nobody calls a customer of an imported record
        at: datetime = meta["at"]
        return at + timedelta(days=policy.follow_up_days)

    def close(self, meta: dict[str, Any], note: str | None, policy: ResolutionPolicy) -> None:
        self._check("close")
        self._closed(meta, self.responses[-1]["outcome"], note, self._due(meta, policy))

    @event("Closed")
    def _closed(self, meta: dict[str, Any], outcome: str, note: str | None,
                follow_up_due: datetime | None = None) -> None:
        self.outcome = outcome
        self.closed_at = meta["at"]
        self.follow_up_due = follow_up_due
        self.follow_up = None  # each closure has its own follow-up
        self.status = S.closed

    def record_follow_up(self, meta: dict[str, Any], satisfaction: int, solved: bool,
                         comment: str | None) -> None:
        self._check("follow_up")
        self._followed_up(meta, satisfaction, solved, comment)
        if satisfaction <= DISSATISFIED or not solved:
            why = [f"satisfaction {satisfaction}/5"] if satisfaction <= DISSATISFIED else []
            why += [] if solved else ["the problem is not solved"]
            reason = "follow-up: " + ", ".join(why) + (f": {comment}" if comment else "")
            self._reopened(meta, reason, self.reopen_count + 1)

    @event("FollowedUp")
    def _followed_up(self, meta: dict[str, Any], satisfaction: int, solved: bool,
                     comment: str | None) -> None:
        self.follow_up = {"satisfaction": satisfaction, "solved": solved, "comment": comment,
                          "at": meta["at"], "by": meta["actor"]["id"]}

    @event("Reopened")
    def _reopened(self, meta: dict[str, Any], reason: str, reopen_count: int) -> None:
        self.reopen_reasons.append(reason)
        # A complaint goes back to investigation (its next conclusion makes it ready);
        # anything else is answered again at once.
        self.status = S.ready if self.requires_investigation is False else S.reopened
        self.outcome = None
        self.closed_at = None
        self.follow_up_due = None


# --- the improvement backlog -------------------------------------------------

B = BacklogStatus
BACKLOG_MOVES: dict[str, set[str]] = {
    B.new: {B.planned, B.done, B.declined},
    B.planned: {B.done, B.declined},
    B.done: set(),
    B.declined: {B.new},  # reconsidered
}


def backlog_action(status: str) -> str:
    return f"mark_{status}"


class BacklogItem(Aggregate):
    @staticmethod
    def create_id(meta: dict[str, Any], **_: Any) -> uuid.UUID:
        return backlog_id(uuid.UUID(meta["complaint_id"]))

    @event("Added")
    def __init__(self, meta: dict[str, Any], text: str, category: str | None,
                 product: str | None):
        self.complaint_id = uuid.UUID(meta["complaint_id"])
        self.text = text
        self.category = category
        self.product = product
        self.status = B.new
        self.added_at: datetime = meta["at"]
        self.history: list[dict[str, Any]] = [
            {"status": B.new.value, "note": None, "at": meta["at"],
             "by": meta["actor"]["id"]}]

    def allowed_actions(self) -> set[str]:
        return {backlog_action(s) for s in BACKLOG_MOVES[self.status]}

    def change_status(self, meta: dict[str, Any], status: str, note: str | None) -> None:
        check_allowed(backlog_action(status), self.status,
                      {self.status: self.allowed_actions()})
        self._status_changed(meta, status, note)

    @event("StatusChanged")
    def _status_changed(self, meta: dict[str, Any], status: str, note: str | None) -> None:
        self.status = B(status)
        self.history.append({"status": status, "note": note, "at": meta["at"],
                             "by": meta["actor"]["id"]})


# --- praise --------------------------------------------------------------------


class Praise(Aggregate):
    @staticmethod
    def create_id(meta: dict[str, Any], **_: Any) -> uuid.UUID:
        return praise_id(uuid.UUID(meta["complaint_id"]))

    @event("Recorded")
    def __init__(self, meta: dict[str, Any], staff_member: str, text: str):
        self.complaint_id = uuid.UUID(meta["complaint_id"])
        self.staff_member = staff_member
        self.text = text
        self.at: datetime = meta["at"]
