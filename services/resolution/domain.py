"""Resolution's aggregate: the response to the customer, their decision, closure and
follow-up. Every response is kept: the first is never overwritten by a later one."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.envelope import derived_id
from contracts.vocabulary import ComplaintType, ResolutionStatus
from servicekit.errors import check_allowed

S = ResolutionStatus
ALLOWED = {
    S.awaiting_investigation: set(),
    S.ready: {"respond"},
    S.responded: {"accept", "dispute", "close"},
    S.accepted: {"close"},
    S.disputed: set(),
    S.closed: {"follow_up"},
}


def resolution_id(complaint_id: uuid.UUID) -> uuid.UUID:
    return derived_id(complaint_id, "resolution")


class Resolution(Aggregate):
    @staticmethod
    def create_id(meta: dict[str, Any], **_: Any) -> uuid.UUID:
        return resolution_id(uuid.UUID(meta["complaint_id"]))

    @event("Opened")
    def __init__(self, meta: dict[str, Any]):
        self.complaint_id = uuid.UUID(meta["complaint_id"])
        self.status = S.awaiting_investigation
        self.type: str | None = None
        self.channel: str | None = None
        self.requires_investigation: bool | None = None
        self.responses: list[dict[str, Any]] = []
        self.disputes: list[str] = []
        self.decisions: list[dict[str, Any]] = []
        self.outcome: str | None = None
        self.closed_at = None
        self.follow_up: dict[str, Any] | None = None
        self.conclusions = 0

    def allowed_actions(self) -> set[str]:
        if self.status == S.closed and self.follow_up is not None:
            return set()
        return ALLOWED[self.status]

    def _check(self, action: str) -> None:
        check_allowed(action, self.status, {self.status: self.allowed_actions()})

    # --- reactions to upstream events -------------------------------------

    def register(self, meta: dict[str, Any], type: str, channel: str) -> None:
        requires = type == ComplaintType.complaint
        if (type, channel, requires) != (self.type, self.channel, self.requires_investigation):
            self._registered(meta, type, channel, requires)
        if not requires and self.status == S.awaiting_investigation:
            self._ready(meta, f"a {type} needs no investigation")

    @event("Registered")
    def _registered(self, meta: dict[str, Any], type: str, channel: str,
                    requires_investigation: bool) -> None:
        self.type = type
        self.channel = channel
        self.requires_investigation = requires_investigation
        if requires_investigation and self.status == S.ready and not self.conclusions:
            self.status = S.awaiting_investigation  # now a complaint: investigate first

    def investigation_concluded(self, meta: dict[str, Any]) -> None:
        if self.status in (S.awaiting_investigation, S.disputed):
            self._ready(meta, "the investigation concluded", after_investigation=True)

    @event("Ready")
    def _ready(self, meta: dict[str, Any], reason: str, after_investigation: bool = False
               ) -> None:
        self.status = S.ready
        self.conclusions += after_investigation

    # --- commands -----------------------------------------------------------

    def respond(self, meta: dict[str, Any], outcome: str, message: str,
                amount: Decimal | None, currency: str | None) -> None:
        self._check("respond")
        self._responded(meta, outcome, message, amount, currency, self.channel,
                        len(self.responses) + 1)

    @event("Responded")
    def _responded(self, meta: dict[str, Any], outcome: str, message: str,
                   amount: Decimal | None, currency: str | None, channel: str | None,
                   response_number: int) -> None:
        self.responses.append({"number": response_number, "outcome": outcome,
                               "message": message, "amount": amount, "currency": currency,
                               "at": meta["at"], "by": meta["actor"]["id"]})
        self.status = S.responded

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

    def close(self, meta: dict[str, Any], note: str | None) -> None:
        self._check("close")
        self._closed(meta, self.responses[-1]["outcome"], note)

    @event("Closed")
    def _closed(self, meta: dict[str, Any], outcome: str, note: str | None) -> None:
        self.outcome = outcome
        self.closed_at = meta["at"]
        self.status = S.closed

    def record_follow_up(self, meta: dict[str, Any], satisfaction: int, solved: bool,
                         comment: str | None) -> None:
        self._check("follow_up")
        self._followed_up(meta, satisfaction, solved, comment)

    @event("FollowedUp")
    def _followed_up(self, meta: dict[str, Any], satisfaction: int, solved: bool,
                     comment: str | None) -> None:
        self.follow_up = {"satisfaction": satisfaction, "solved": solved, "comment": comment,
                          "at": meta["at"], "by": meta["actor"]["id"]}
