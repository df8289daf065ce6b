"""Reporting: records every upstream integration event on its complaint's Timeline
(with the tracking record, exactly once), and answers reports and audits from them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from eventlet.semaphore import Semaphore
from eventsourcing.domain import Aggregate

from contracts import api
from contracts.envelope import Envelope
from servicekit.application import ServiceApplication
from servicekit.errors import NotFound
from services.reporting.domain import Timeline, timeline_id
from services.reporting.projections import complaint_record, summary


class ReportingApplication(ServiceApplication):
    name = "reporting"
    public_events = {}  # reporting publishes nothing

    def __init__(self, env=None, clock=None):
        super().__init__(env=env, clock=clock)
        self._lock = Semaphore()
        self._read_up_to = 0
        self._entries: dict[str, list[dict[str, Any]]] = {}
        self._records: dict[str, dict[str, Any]] = {}

    def policy(self, envelope: Envelope) -> Iterable[Aggregate]:
        timeline = self.get_or_none(timeline_id(envelope.complaint_id)) \
            or Timeline(meta=self.system_meta(envelope))
        timeline.observe(self.system_meta(envelope), envelope.model_dump(mode="json"))
        return (timeline,)

    def notifications(self, start: int, limit: int) -> list[Envelope]:
        return []

    # --- queries ------------------------------------------------------------

    def audit_trail(self, complaint_id: uuid.UUID) -> api.AuditTrail:
        timeline = self.get_or_none(timeline_id(complaint_id))
        if timeline is None:
            raise NotFound("complaint", complaint_id)
        return api.AuditTrail(complaint_id=complaint_id, events=[
            api.AuditEntry(
                event_id=e["event_id"], event_type=e["event_type"],
                schema_version=e["schema_version"], service=e["origin_service"],
                position=e["origin_position"], occurred_at=e["occurred_at"],
                recorded_at=e["recorded_at"], actor=e["actor"],
                correlation_id=e["correlation_id"], payload=e["payload"])
            for e in timeline.ordered()
        ])

    def summary(self, period_from: date | None = None,
                period_to: date | None = None) -> api.SummaryReport:
        return api.SummaryReport(**summary(self._current_records(), period_from, period_to))

    def _current_records(self) -> list[dict[str, Any]]:
        """Fold this service's own log incrementally into per-complaint records."""
        with self._lock:
            changed: set[str] = set()
            while True:
                page = self.recorder.select_notifications(start=self._read_up_to + 1, limit=1000)
                for notification in page:
                    event = self.mapper.to_domain_event(notification)
                    if isinstance(event, Timeline.Observed):
                        cid = event.envelope["complaint_id"]
                        self._entries.setdefault(cid, []).append(event.envelope)
                        changed.add(cid)
                    self._read_up_to = notification.id
                if len(page) < 1000:
                    break
            for cid in changed:
                self._records[cid] = complaint_record(self._entries[cid])
            return [self._records[cid] for cid in sorted(self._records)]
