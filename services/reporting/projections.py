"""Pure projections from integration events (as JSON dicts) to report figures.
The same events give the same figures, whatever order they arrived in."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime
from typing import Any

from services.reporting.domain import audit_order

STATUS_AFTER = {
    "complaint.received": "received",
    "case.opened": "investigating",
    "case.assigned": "investigating",
    "case.reopened": "investigating",
    "case.concluded": "awaiting_response",
    "resolution.ready": "awaiting_response",
    "resolution.remedy_proposed": "awaiting_approval",
    "resolution.remedy_rejected": "awaiting_response",
    "resolution.responded": "responded",
    "resolution.accepted": "accepted",
    "resolution.disputed": "disputed",
    "resolution.closed": "closed",
    "resolution.reopened": "reopened",
}


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def complaint_record(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold one complaint's events (any arrival order) into its reportable facts."""
    record: dict[str, Any] = {
        "status": "received", "channel": None, "type": None, "category": None,
        "severity": None, "product": None, "received_at": None, "first_response_at": None,
        "closed_at": None, "root_cause": None, "outcome": None, "disputes": 0, "reopens": 0,
        "escalated": False, "satisfaction": None,
    }
    for entry in sorted(entries, key=audit_order):
        kind, p = entry["event_type"], entry["payload"]
        record["status"] = STATUS_AFTER.get(kind, record["status"])
        if kind == "complaint.received":
            record.update(channel=p["channel"], product=p["product"],
                          received_at=p["received_at"])
        elif kind in ("complaint.classified", "complaint.reclassified"):
            record.update(type=p["type"], category=p["category"], severity=p["severity"])
        elif kind == "case.escalated":
            record["escalated"] = True
        elif kind == "case.concluded":
            record["root_cause"] = p["root_cause"]
        elif kind == "case.reopened":
            record["reopens"] += 1
        elif kind == "resolution.responded":
            record["first_response_at"] = record["first_response_at"] or entry["occurred_at"]
            record["outcome"] = p["outcome"]
        elif kind == "resolution.disputed":
            record["disputes"] += 1
        elif kind == "resolution.closed":
            record.update(closed_at=entry["occurred_at"], outcome=p["outcome"])
        elif kind == "resolution.followed_up":
            record["satisfaction"] = p["satisfaction"]
    return record


def events_as_of(entries: list[dict[str, Any]], as_of: datetime) -> list[dict[str, Any]]:
    """The entries their origin service had recorded at or before `as_of` (aware), in
    their given order: what the system knew at that moment."""
    return [e for e in entries if _time(e["recorded_at"]) <= as_of]


def _hours(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (_time(end) - _time(start)).total_seconds() / 3600


def durations(values: list[float]) -> dict[str, Any]:
    """Median, p90 (nearest rank) and max, in hours."""
    if not values:
        return {"count": 0, "median_hours": None, "p90_hours": None, "max_hours": None}
    ordered = sorted(values)
    n = len(ordered)
    median = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    return {"count": n, "median_hours": round(median, 4),
            "p90_hours": round(ordered[math.ceil(0.9 * n) - 1], 4),
            "max_hours": round(ordered[-1], 4)}


def _count(records: list[dict[str, Any]], field: str) -> dict[str, int]:
    return dict(sorted(Counter(r[field] for r in records if r[field] is not None).items()))


def summary(records: list[dict[str, Any]], period_from: date | None = None,
            period_to: date | None = None) -> dict[str, Any]:
    def in_period(r: dict[str, Any]) -> bool:
        if r["received_at"] is None:
            return False  # seen downstream before intake's receipt: not yet countable
        day = _time(r["received_at"]).date()
        return (period_from is None or day >= period_from) and \
               (period_to is None or day <= period_to)

    chosen = [r for r in records if in_period(r)]
    satisfaction = [r["satisfaction"] for r in chosen if r["satisfaction"] is not None]
    closed = [r for r in chosen if r["status"] == "closed"]
    return {
        "period_from": period_from.isoformat() if period_from else None,
        "period_to": period_to.isoformat() if period_to else None,
        "total": len(chosen),
        "by_channel": _count(chosen, "channel"),
        "by_type": _count(chosen, "type"),
        "by_category": _count(chosen, "category"),
        "by_severity": _count(chosen, "severity"),
        "by_status": _count(chosen, "status"),
        "by_root_cause": _count(chosen, "root_cause"),
        "by_outcome": _count(closed, "outcome"),
        "disputed": sum(1 for r in chosen if r["disputes"]),
        "reopened": sum(1 for r in chosen if r["reopens"]),
        "closed": len(closed),
        "escalated": sum(1 for r in chosen if r["escalated"]),
        "time_to_first_response": durations(
            [h for r in chosen if (h := _hours(r["received_at"], r["first_response_at"]))
             is not None]),
        "time_to_resolution": durations(
            [h for r in closed if (h := _hours(r["received_at"], r["closed_at"])) is not None]),
        "satisfaction_average": round(sum(satisfaction) / len(satisfaction), 4)
        if satisfaction else None,
        "satisfaction_distribution": {str(k): sum(1 for s in satisfaction if s == k)
                                      for k in range(1, 6)},
        "follow_up_coverage": round(len(satisfaction) / len(closed), 4) if closed else None,
    }
