"""Reporting: records every upstream integration event on its complaint's Timeline
(with the tracking record, exactly once), and answers reports and audits from them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from eventlet.semaphore import Semaphore
from eventsourcing.domain import Aggregate

from contracts import api
from contracts.envelope import Envelope
from servicekit.application import ServiceApplication
from servicekit.errors import InvalidCommand, NotFound
from services.reporting import metrics
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
        self._report_facts: dict[str, tuple[int, dict[str, Any]]] = {}  # improvement report

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

    def evidence_html(self, complaint_id: uuid.UUID, as_of: datetime | None = None,
                      customer: Callable[[], dict[str, Any]] | None = None) -> str:
        """The printable pack; `customer` (asked only once the complaint is known) gives
        the customer block the reader may see, shown on the page and never stored."""
        entries = self._timeline_entries(complaint_id, as_of)
        pack = evidence_pack(str(complaint_id), entries, as_of)
        if customer is not None:
            pack.update(customer())
        return evidence_html(pack)

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

    # --- the improvement report ---------------------------------------------

    def improvement_report(self, query: api.ImprovementQuery) -> dict[str, Any]:
        """The improvement report (services/reporting/metrics.py has its definitions),
        from reporting's own timelines; as_of replays what was recorded by then."""
        now = self.clock.now()
        as_of = query.as_of
        if as_of is not None and as_of > now:
            raise InvalidCommand("query.as_of", "is in the future")
        if query.period == "custom":
            assert query.from_ is not None and query.to is not None  # the query checked
            period = metrics.Period.custom(query.from_, query.to)
        else:
            period = metrics.Period.containing(query.period,
                                               query.date_ or (as_of or now).date())
        return metrics.improvement_report(self._facts_as_of(as_of), period, as_of,
                                          as_of or now)

    def _facts_as_of(self, as_of: datetime | None) -> list[dict[str, Any]]:
        """Every complaint's report facts, folded again only for a complaint with new
        events; for an as-of, from its events recorded by then (the cached facts when
        all of them were)."""
        self._current_records()  # reads new notifications into self._entries
        with self._lock:
            facts = []
            for cid, entries in self._entries.items():
                cached = self._report_facts.get(cid)
                if cached is None or cached[0] != len(entries):
                    cached = (len(entries), metrics.complaint_facts(entries))
                    self._report_facts[cid] = cached
                current = cached[1]
                if as_of is None or datetime.fromisoformat(current["last_recorded"]) <= as_of:
                    facts.append(current)
                elif chosen := events_as_of(entries, as_of):
                    facts.append(metrics.complaint_facts(chosen))
            return facts
