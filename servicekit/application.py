"""The base of every service's eventsourcing Application.

It adds what the architecture needs on top of eventsourcing:
- a process recorder, so tracking records (upstream, position) are written in the
  same transaction as the events that processing produced;
- the outbox view of the notification log as integration-event envelopes;
- bounded retry of a command on an optimistic-concurrency clash.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, ClassVar, TypeVar

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    JSONTranscoder,
    Notification,
    RecordConflictError,
    Tracking,
    Transcoding,
)
from eventsourcing.utils import get_topic
from pydantic import BaseModel

from contracts.envelope import Actor, Envelope, make_envelope
from servicekit.chain import ChainedEventStore, ChainMapper, chain_key
from servicekit.clock import Clock, SystemClock
from servicekit.config import event_store_env

log = logging.getLogger(__name__)

T = TypeVar("T")
COMMAND_ATTEMPTS = 5
TRUTHY = {"y", "yes", "t", "true", "on", "1"}
PAGE = 500  # notifications read per query when scanning the log


_historical = threading.local()  # per greenthread: eventlet patches threading


@contextlib.contextmanager
def occurring_at(at: Any):
    """Within this block, commands record `at` as their events' time (an import of
    historical records; servicekit.http sets it from an admin's X-Occurred-At header)."""
    previous = getattr(_historical, "at", None)
    _historical.at = at
    try:
        yield
    finally:
        _historical.at = previous


def occurred_at() -> Any:
    """The historical time set by occurring_at(), else None."""
    return getattr(_historical, "at", None)


def retry_on_conflict(method: Callable[..., T]) -> Callable[..., T]:
    """Re-run a command (re-reading the aggregate) when another writer saved first."""

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> T:
        for attempt in range(1, COMMAND_ATTEMPTS + 1):
            try:
                return method(*args, **kwargs)
            except RecordConflictError:
                if attempt == COMMAND_ATTEMPTS:
                    raise
                log.info("version clash in %s, attempt %d; retrying", method.__name__, attempt)
        raise AssertionError("unreachable")

    return run


class DateAsISO(Transcoding):
    """Calendar dates (due dates) in stored events, as YYYY-MM-DD."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ServiceApplication(Application[uuid.UUID]):
    """Subclasses set `name` (the service name) and `public_events`."""

    public_events: ClassVar[dict[type, type[BaseModel]]] = {}

    def __init__(self, env: dict[str, str] | None = None, clock: Clock | None = None):
        merged = event_store_env(self.name)
        merged.update(env or {})
        super().__init__(env=merged)
        self.clock: Clock = clock or SystemClock()
        if str(self.env.get("POSTGRES_ENABLE_DB_FUNCTIONS", "")).lower() in TRUTHY:
            self.close()
            raise ValueError(
                "POSTGRES_ENABLE_DB_FUNCTIONS is set: in eventsourcing 9.5 its insert function "
                "drops tracking records, which would break exactly-once processing; unset it")

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_recorder(self):  # type: ignore[override]
        return self.factory.process_recorder()

    def construct_mapper(self):  # type: ignore[override]
        """Reads strip the audit chain header (servicekit/chain.py)."""
        return self.factory.mapper(transcoder=self.construct_transcoder(),
                                   mapper_class=ChainMapper)

    def construct_event_store(self):  # type: ignore[override]
        """Every save (and every processing) chains its events per aggregate."""
        key, development = chain_key(self.env)
        if development:
            log.warning("%s: AUDIT_CHAIN_KEY is not set; the audit chain uses the "
                        "development key, which anyone with the source can forge", self.name)
        return ChainedEventStore(mapper=self.mapper, recorder=self.recorder, key=key)

    # --- commands ---------------------------------------------------------

    def meta(
        self,
        complaint_id: uuid.UUID,
        actor: Actor,
        correlation_id: str | None = None,
        at: Any = None,
    ) -> dict[str, Any]:
        """What every domain event records besides its own fields."""
        return {
            "complaint_id": str(complaint_id),
            "at": at or occurred_at() or self.clock.now(),
            "actor": actor.model_dump(mode="json"),
            "correlation_id": correlation_id or str(uuid.uuid4()),
        }

    def system_meta(self, cause: Envelope) -> dict[str, Any]:
        """Meta for events this service records in reaction to an upstream event."""
        return self.meta(
            cause.complaint_id,
            Actor(id=self.name, role="system"),
            correlation_id=cause.correlation_id,
            at=cause.occurred_at,
        )

    # --- outbox: the notification log as integration events --------------

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def notifications(self, start: int, limit: int) -> list[Envelope]:
        rows = self.recorder.select_notifications(start=max(start, 1), limit=limit)
        return [self.envelope(n) for n in rows]

    def envelope(self, notification: Notification) -> Envelope:
        event = self.mapper.to_domain_event(notification)
        contract = self.public_events[type(event)]
        meta = event.meta  # type: ignore[attr-defined]
        return make_envelope(
            event=contract.model_validate(self.payload_fields(event, contract)),
            complaint_id=uuid.UUID(meta["complaint_id"]),
            origin_service=self.name,
            origin_position=notification.id,
            aggregate_id=event.originator_id,
            aggregate_version=event.originator_version,
            occurred_at=meta["at"],
            recorded_at=event.timestamp,
            actor=Actor.model_validate(meta["actor"]),
            correlation_id=meta["correlation_id"],
        )

    def payload_fields(self, event: Any, contract: type[BaseModel]) -> dict[str, Any]:
        """The contract's fields, taken from the domain event's attributes of the same
        name (absent ones are left to the contract's defaults)."""
        return {name: getattr(event, name) for name in contract.model_fields
                if hasattr(event, name)}

    def outbox_position(self) -> int:
        return self.recorder.max_tracking_id(f"{self.name}.outbox") or 0

    def record_outbox_position(self, position: int) -> None:
        self.recorder.insert_tracking(Tracking(f"{self.name}.outbox", position))

    # --- subscription: process upstream events exactly once -------------

    def position(self, upstream: str) -> int:
        return self.recorder.max_tracking_id(upstream) or 0

    def process(self, envelope: Envelope) -> None:
        """Apply the policy and record its events together with the tracking record.
        Raises RecordConflictError if this position was recorded already (by a
        concurrent consumer): the caller re-reads its position and moves on."""
        processing = ProcessingEvent(Tracking(envelope.origin_service, envelope.origin_position))
        processing.collect_events(*self.policy(envelope))
        self._record(processing)

    def policy(self, envelope: Envelope) -> Iterable[Aggregate]:
        """Which aggregates change in reaction to an upstream event (default: none)."""
        return ()

    def every(self, created: type) -> list[Any]:
        """Every aggregate whose creation event is `created` (e.g. Case.Opened), found
        through the log filtered by that event's topic."""
        topics = [get_topic(created)]
        ids: list[uuid.UUID] = []
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=PAGE, topics=topics)
            ids.extend(n.originator_id for n in page)
            if len(page) < PAGE:
                return [self.repository.get(i) for i in ids]
            start = page[-1].id + 1

    def get_or_none(self, aggregate_id: uuid.UUID) -> Any:
        from eventsourcing.application import AggregateNotFoundError

        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
