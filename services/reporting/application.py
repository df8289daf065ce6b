"""Reporting: records every upstream integration event on its complaint's Timeline
(with the tracking record, exactly once), and answers reports and audits from them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from eventlet.semaphore import Semaphore
from eventsourcing.domain import Aggregate

from contracts import api
from contracts.envelope import Envelope
from servicekit.application import ServiceApplication
from servicekit.errors import NotFound
from services.reporting.domain import Timeline, timeline_id
from services.reporting.evidence import changes, evidence_html, evidence_pack
from services.reporting.projections import complaint_record, events_as_of, summary


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

    def audit_trail(self, complaint_id: uuid.UUID,
                    as_of: datetime | None = None) -> api.AuditTrail:
        entries = self._timeline_entries(complaint_id, as_of)
        return api.AuditTrail(complaint_id=complaint_id, events=self._audit_entries(entries))

    def complaint_as_of(self, complaint_id: uuid.UUID, at: datetime) -> api.ComplaintAsOf:
        """The complaint as it stood at `at`: only the events recorded by then."""
        entries = self._timeline_entries(complaint_id, at)
        return api.ComplaintAsOf(complaint_id=complaint_id, as_of=at,
                                 state=complaint_record(entries),
                                 events=self._audit_entries(entries))

    def evidence_pack(self, complaint_id: uuid.UUID,
                      as_of: datetime | None = None) -> api.EvidencePack:
        entries = self._timeline_entries(complaint_id, as_of)
        return api.EvidencePack.model_validate(evidence_pack(str(complaint_id), entries, as_of))

    def evidence_html(self, complaint_id: uuid.UUID, as_of: datetime | None = None) -> str:
        entries = self._timeline_entries(complaint_id, as_of)
        return evidence_html(evidence_pack(str(complaint_id), entries, as_of))

    def _timeline_entries(self, complaint_id: uuid.UUID,
                          as_of: datetime | None = None) -> list[dict[str, Any]]:
        """The complaint's entries in audit order (those recorded by `as_of`); a
        complaint nothing was recorded about by then is unknown."""
        timeline = self.get_or_none(timeline_id(complaint_id))
        entries = timeline.ordered() if timeline is not None else []
        if as_of is not None:
            entries = events_as_of(entries, as_of)
            if not entries:
                raise NotFound(f"complaint recorded by {as_of.isoformat()}", complaint_id)
        if not entries:
            raise NotFound("complaint", complaint_id)
        return entries

    @staticmethod
    def _audit_entries(entries: list[dict[str, Any]]) -> list[api.AuditEntry]:
        return [
            api.AuditEntry(
                event_id=e["event_id"], event_type=e["event_type"],
                schema_version=e["schema_version"], service=e["origin_service"],
                position=e["origin_position"], occurred_at=e["occurred_at"],
                recorded_at=e["recorded_at"], actor=e["actor"],
                correlation_id=e["correlation_id"], payload=e["payload"], change=change)
            for e, change in changes(entries)
        ]

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
