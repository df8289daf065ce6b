"""The integration-event envelope: what crosses a service boundary.

Every event on the broker (and every entry returned by a service's `notifications`
RPC) is an Envelope. The payload model is chosen by (event_type, schema_version);
older versions are upcast on read, so consumers only ever see the latest shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.vocabulary import Role

# Namespace for every id derived from another (event ids, downstream aggregate ids).
NAMESPACE = uuid.UUID("6f1c2a4e-8d0b-4c3e-9a57-1b2d3e4f5a60")

SERVICES = ("intake", "investigation", "resolution", "reporting")


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100)
    role: Role


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID
    event_type: str = Field(description="e.g. 'complaint.received'")
    schema_version: int = Field(ge=1)
    complaint_id: uuid.UUID
    origin_service: str
    origin_position: int = Field(ge=1, description="position in the origin's notification log")
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    actor: Actor
    correlation_id: str
    payload: dict[str, Any]

    def parsed(self) -> BaseModel:
        """The payload as its (latest-version) contract model."""
        return parse_payload(self.event_type, self.schema_version, self.payload)

    @property
    def routing_key(self) -> str:
        return f"{self.origin_service}.{self.event_type}"


def event_id_for(origin_service: str, aggregate_id: uuid.UUID, version: int) -> uuid.UUID:
    """Deterministic: republishing the same stored event gives the same event id."""
    return uuid.uuid5(NAMESPACE, f"{origin_service}:{aggregate_id}:{version}")


def derived_id(complaint_id: uuid.UUID, kind: str) -> uuid.UUID:
    """Downstream aggregate ids derive from the complaint id, so re-processing never
    creates a second case or resolution."""
    return uuid.uuid5(NAMESPACE, f"{kind}:{complaint_id}")


def imported_complaint_id(source: str, external_ref: str) -> uuid.UUID:
    """The complaint id of a record imported from `source` (e.g. "cfpb") under its own
    reference: the same record always gets the same id, so an import can be re-run."""
    return uuid.uuid5(NAMESPACE, f"imported:{source}:{external_ref}")


# ---------------------------------------------------------------------------
# Registry of payload models and upcasters.

_PAYLOADS: dict[str, tuple[int, type[BaseModel]]] = {}
_UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def payload(event_type: str, version: int = 1) -> Callable[[type[BaseModel]], type[BaseModel]]:
    """Class decorator: registers a payload model as the current version of event_type."""

    def register(model: type[BaseModel]) -> type[BaseModel]:
        if event_type in _PAYLOADS:
            raise ValueError(f"{event_type} registered twice")
        _PAYLOADS[event_type] = (version, model)
        model.event_type = event_type  # type: ignore[attr-defined]
        model.schema_version = version  # type: ignore[attr-defined]
        return model

    return register


def upcaster(event_type: str, from_version: int):
    """Registers a function turning version N's payload into version N+1's."""

    def register(fn: Callable[[dict[str, Any]], dict[str, Any]]):
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def payload_model(event_type: str) -> type[BaseModel]:
    return _PAYLOADS[event_type][1]


def registered_event_types() -> dict[str, tuple[int, type[BaseModel]]]:
    return dict(_PAYLOADS)


def parse_payload(event_type: str, schema_version: int, data: dict[str, Any]) -> BaseModel:
    try:
        current, model = _PAYLOADS[event_type]
    except KeyError:
        raise ValueError(f"unknown event type {event_type!r}") from None
    if schema_version > current:
        raise ValueError(f"{event_type} v{schema_version} is newer than this reader (v{current})")
    for version in range(schema_version, current):
        data = _UPCASTERS[(event_type, version)](dict(data))
    return model.model_validate(data)


def make_envelope(
    *,
    event: BaseModel,
    complaint_id: uuid.UUID,
    origin_service: str,
    origin_position: int,
    aggregate_id: uuid.UUID,
    aggregate_version: int,
    occurred_at: datetime,
    recorded_at: datetime,
    actor: Actor,
    correlation_id: str,
) -> Envelope:
    return Envelope(
        event_id=event_id_for(origin_service, aggregate_id, aggregate_version),
        event_type=event.event_type,  # type: ignore[attr-defined]
        schema_version=event.schema_version,  # type: ignore[attr-defined]
        complaint_id=complaint_id,
        origin_service=origin_service,
        origin_position=origin_position,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        actor=actor,
        correlation_id=correlation_id,
        payload=event.model_dump(mode="json"),
    )
