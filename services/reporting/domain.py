"""Reporting's aggregate: the Timeline of every integration event seen for one
complaint, from every service. It is the audit trail and the source of every report."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.envelope import derived_id


def timeline_id(complaint_id: uuid.UUID) -> uuid.UUID:
    return derived_id(complaint_id, "timeline")


def audit_order(entry: dict[str, Any]) -> tuple:
    """Business time first; a reaction shares its cause's time and is recorded after it;
    then the origin's own log order. Intrinsic to the events, so replay gives the same."""
    return (datetime.fromisoformat(entry["occurred_at"]),
            datetime.fromisoformat(entry["recorded_at"]),
            entry["origin_service"], entry["origin_position"])


class Timeline(Aggregate):
    @staticmethod
    def create_id(meta: dict[str, Any], **_: Any) -> uuid.UUID:
        return timeline_id(uuid.UUID(meta["complaint_id"]))

    @event("Started")
    def __init__(self, meta: dict[str, Any]):
        self.complaint_id = uuid.UUID(meta["complaint_id"])
        self.entries: list[dict[str, Any]] = []

    @event("Observed")
    def observe(self, meta: dict[str, Any], envelope: dict[str, Any]) -> None:
        self.entries.append(envelope)

    def ordered(self) -> list[dict[str, Any]]:
        return sorted(self.entries, key=audit_order)
