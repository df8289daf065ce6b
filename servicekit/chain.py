"""A verifiable audit trail: every stored event commits to the one before it.

Each aggregate's events form a hash chain in version order. The `state` bytes of every
stored event are wrapped as

    MAGIC (4 bytes) | prev (32 bytes) | link (32 bytes) | the original state bytes

where `prev` is the previous version's link (32 zero bytes for version 1) and

    link = HMAC-SHA256(key, prev | len(id) | id | version (8 bytes, big endian)
                            | len(topic) | topic (UTF-8) | original state)

(lengths are big-endian: 2 bytes for the id, 4 for the topic, so no two different rows
hash the same bytes). The key is `AUDIT_CHAIN_KEY` (or `<SERVICE>_AUDIT_CHAIN_KEY`);
without it a fixed development key is used, which anyone with the source can use to
forge links, so production must set it.

Why per aggregate: eventsourcing's optimistic concurrency already makes
(originator id, version) unique, so two writers (greenthreads or processes) can never
both record a version: whoever loses the race gets RecordConflictError and re-runs the
command, computing its links afresh. The links of one save are computed inside that
save from the store and the save's own events only; nothing is cached between saves.

Reading strips the header (`ChainMapper`), so domain code never sees it. Rows without
the header (snapshots, which are derived and may be deleted; rows written before the
chain existed) are read as they are, and `verify` reports such event rows as unchained.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    EventStore,
    Mapper,
    Notification,
    Recording,
    StoredEvent,
)

MAGIC = b"\x00AC1"  # "audit chain", format 1; JSON state never starts with a NUL byte
LINK_SIZE = 32
ZERO = bytes(LINK_SIZE)
HEADER_SIZE = len(MAGIC) + 2 * LINK_SIZE
KEY_VARIABLE = "AUDIT_CHAIN_KEY"
DEVELOPMENT_KEY = b"complaint-workflow development audit chain key; not a secret"


class ChainError(Exception):
    """An event cannot be chained: its previous version is not in the store."""


def chain_key(env: Mapping[str, str] | Any | None) -> tuple[bytes, bool]:
    """(key, is_development_key) from an eventsourcing Environment (which also reads the
    application-prefixed name, e.g. INTAKE_AUDIT_CHAIN_KEY) or a plain mapping."""
    value = env.get(KEY_VARIABLE) if env is not None else None
    if value:
        return str(value).encode("utf-8"), False
    return DEVELOPMENT_KEY, True


def _id_bytes(originator_id: UUID | str) -> bytes:
    if isinstance(originator_id, UUID):
        return originator_id.bytes
    return str(originator_id).encode("utf-8")


def compute_link(key: bytes, prev: bytes, originator_id: UUID | str, version: int,
                 topic: str, state: bytes) -> bytes:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    ident = _id_bytes(originator_id)
    encoded_topic = topic.encode("utf-8")
    mac.update(prev)
    mac.update(len(ident).to_bytes(2, "big"))
    mac.update(ident)
    mac.update(version.to_bytes(8, "big", signed=True))
    mac.update(len(encoded_topic).to_bytes(4, "big"))
    mac.update(encoded_topic)
    mac.update(state)
    return mac.digest()


def wrap(prev: bytes, link: bytes, state: bytes) -> bytes:
    return MAGIC + prev + link + state


def unwrap(state: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(prev, link, original state), or None for a row without the chain header."""
    state = bytes(state)
    if len(state) < HEADER_SIZE or not state.startswith(MAGIC):
        return None
    start = len(MAGIC)
    return (state[start:start + LINK_SIZE], state[start + LINK_SIZE:HEADER_SIZE],
            state[HEADER_SIZE:])


class ChainMapper(Mapper[Any]):
    """Strips the chain header before the usual decryption/decompression/decoding."""

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        parts = unwrap(stored_event.state)
        if parts is not None:
            stored_event = StoredEvent(
                originator_id=stored_event.originator_id,
                originator_version=stored_event.originator_version,
                topic=stored_event.topic,
                state=parts[2],
            )
        return super().to_domain_event(stored_event)


class ChainedEventStore(EventStore[Any]):
    """The event store of a service: chains every event it puts."""

    def __init__(self, mapper: Mapper[Any], recorder: Any, key: bytes):
        super().__init__(mapper=mapper, recorder=recorder)
        self.key = key

    def put(self, domain_events: Sequence[Any], **kwargs: Any) -> list[Recording[Any]]:
        stored_events = self.chain([self.mapper.to_stored_event(e) for e in domain_events])
        recordings: list[Recording[Any]] = []
        notification_ids = self.recorder.insert_events(stored_events, **kwargs)
        if notification_ids:
            assert len(notification_ids) == len(stored_events)
            for d, s, n_id in zip(domain_events, stored_events, notification_ids,
                                  strict=True):
                recordings.append(Recording(d, Notification(
                    originator_id=s.originator_id, originator_version=s.originator_version,
                    topic=s.topic, state=s.state, id=n_id)))
        return recordings

    def chain(self, stored_events: Sequence[StoredEvent]) -> list[StoredEvent]:
        """The same events with their chain headers. Links of earlier events of the
        same aggregate in this save are chained in memory (local to this call);
        the first event of an aggregate chains to the stored row (id, version - 1)."""
        links: dict[tuple[UUID | str, int], bytes] = {}
        chained = []
        for s in stored_events:
            version = s.originator_version
            prev = links.get((s.originator_id, version - 1))
            if prev is None:
                prev = ZERO if version <= 1 else self.stored_link(s.originator_id, version - 1)
            link = compute_link(self.key, prev, s.originator_id, version, s.topic, s.state)
            links[(s.originator_id, version)] = link
            chained.append(StoredEvent(originator_id=s.originator_id,
                                       originator_version=version, topic=s.topic,
                                       state=wrap(prev, link, s.state)))
        return chained

    def stored_link(self, originator_id: UUID | str, version: int) -> bytes:
        rows = self.recorder.select_events(originator_id, gt=version - 1, lte=version)
        if not rows:
            raise ChainError(f"cannot chain version {version + 1} of aggregate "
                             f"{originator_id}: version {version} is not in the store")
        parts = unwrap(rows[0].state)
        # A row from before the chain existed: the chain starts afresh (verify reports
        # that row as unchained).
        return ZERO if parts is None else parts[1]


# --- verification -------------------------------------------------------------

EDITED = "edited"
MISSING_PREVIOUS = "missing previous"
OUT_OF_ORDER = "out of order"
UNCHAINED = "unchained"
TRUNCATED = "truncated"


@dataclass
class Break:
    """One broken link: where it is and what is wrong."""

    kind: str
    detail: str
    aggregate_id: str | None = None
    version: int | None = None
    notification_id: int | None = None
    missing: tuple[int, int] | None = None  # versions absent before this one (inclusive)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "aggregate_id": self.aggregate_id,
                "version": self.version, "notification_id": self.notification_id}

    def describe(self) -> str:
        where = []
        if self.aggregate_id is not None:
            where.append(f"aggregate {self.aggregate_id}")
        if self.version is not None:
            where.append(f"version {self.version}")
        if self.notification_id is not None:
            where.append(f"notification {self.notification_id}")
        return f"{', '.join(where)}: {self.kind} ({self.detail})" if where else \
            f"{self.kind} ({self.detail})"


@dataclass
class ChainReport:
    records: int = 0
    aggregates: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        located = [b for b in self.breaks if b.notification_id is not None]
        if located:
            return min(located, key=lambda b: b.notification_id or 0)
        return self.breaks[0] if self.breaks else None


def verify_records(notifications: Iterable[Notification], key: bytes) -> ChainReport:
    """Walk stored events in notification order and check, per aggregate: versions
    contiguous from 1 and in order, each prev equal to the previous record's link, each
    link recomputing under `key`. Memory grows with the number of aggregates, not rows."""
    report = ChainReport()
    # aggregate -> (next expected version, link of the last record or None if unknown)
    heads: dict[UUID | str, tuple[int, bytes | None]] = {}
    gaps: dict[UUID | str, list[Break]] = {}
    chained: set[UUID | str] = set()  # aggregates with a chained row seen so far
    for n in notifications:
        report.records += 1
        agg, version, nid = n.originator_id, n.originator_version, n.id
        expected, last = heads.get(agg, (1, ZERO))

        def broken(kind: str, detail: str, agg: Any = agg, version: int = version,
                   nid: int = nid) -> Break:
            b = Break(kind, detail, str(agg), version, nid)
            report.breaks.append(b)
            return b

        parts = unwrap(n.state)
        if parts is None:
            if agg in chained:
                # Rows written before the chain existed can only precede an aggregate's
                # first chained row: a header missing after one was stripped.
                broken(EDITED, "the row lost its chain header after the aggregate's "
                               "earlier rows were chained: it was rewritten")
            else:
                broken(UNCHAINED, "the row has no chain header")
            if version >= expected:
                heads[agg] = (version + 1, None)
            continue
        chained.add(agg)
        prev, link, body = parts
        if not hmac.compare_digest(
                compute_link(key, prev, agg, version, n.topic, body), link):
            broken(EDITED, "its link does not recompute: the row was changed after it "
                           "was written, or AUDIT_CHAIN_KEY is not the services' key")
        if version < expected:
            gap = next((g for g in gaps.get(agg, ())
                        if g.missing and g.missing[0] <= version <= g.missing[1]), None)
            if gap is not None:
                gap.kind = OUT_OF_ORDER
                gap.detail = (f"version {version} is recorded after it, at "
                              f"notification {nid}")
            else:
                broken(OUT_OF_ORDER, f"version {expected - 1} came before it")
            continue
        if version > expected:
            missing = (expected, version - 1)
            span = (f"version {expected}" if expected == version - 1
                    else f"versions {expected}-{version - 1}")
            gap = broken(MISSING_PREVIOUS, f"{span} of this aggregate not found before it")
            gap.missing = missing
            gaps.setdefault(agg, []).append(gap)
        else:
            expected_prev = ZERO if version == 1 else last
            if expected_prev is not None and prev != expected_prev:
                broken(MISSING_PREVIOUS,
                       f"its prev does not match the link of version {version - 1}: "
                       "the record it was chained to was replaced")
        heads[agg] = (version + 1, link)
    report.aggregates = len(heads)
    return report
