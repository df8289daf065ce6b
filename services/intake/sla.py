"""Service-level deadlines from DOMAIN.md, on calendar time (a first policy; the
policy version is recorded with the deadlines so later edits never re-judge the past)."""

from __future__ import annotations

from datetime import datetime, timedelta

from contracts.vocabulary import Channel, Severity

POLICY_VERSION = "2026.11-calendar-1"


def deadlines(received_at: datetime, channel: Channel, severity: Severity) -> dict[str, object]:
    urgent = severity == Severity.critical
    acknowledge = timedelta(minutes=30) if urgent else timedelta(hours=2)
    first_contact = timedelta(minutes=30) if urgent else timedelta(hours=24)
    first_reply = timedelta(hours=4) if channel == Channel.email else timedelta(hours=24)
    if urgent:
        first_reply = min(first_reply, timedelta(hours=4))
    resolve = timedelta(hours=24) if severity in (Severity.low, Severity.normal) \
        else timedelta(days=3)
    return {
        "policy_version": POLICY_VERSION,
        "acknowledge_by": received_at + acknowledge,
        "first_contact_by": received_at + first_contact,
        "first_reply_by": received_at + first_reply,
        "resolve_by": received_at + resolve,
    }
