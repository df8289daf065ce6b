"""Resolution's use cases, and its policy for upstream events: a classified complaint
registers its type and channel; a concluded case makes the response due."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from eventsourcing.domain import Aggregate

from contracts import api, events
from contracts.envelope import Actor, Envelope
from servicekit.application import ServiceApplication, retry_on_conflict
from servicekit.errors import NotFound
from services.resolution.domain import Resolution, resolution_id


class ResolutionApplication(ServiceApplication):
    name = "resolution"
    public_events = {
        Resolution.Opened: events.ResolutionOpened,
        Resolution.Registered: events.ResolutionRegistered,
        Resolution.Ready: events.ResolutionReady,
        Resolution.Responded: events.ResolutionResponded,
        Resolution.Accepted: events.ResolutionAccepted,
        Resolution.Disputed: events.ResolutionDisputed,
        Resolution.Closed: events.ResolutionClosed,
        Resolution.FollowedUp: events.ResolutionFollowedUp,
    }

    # --- policy -------------------------------------------------------------

    def policy(self, envelope: Envelope) -> Iterable[Aggregate]:
        if envelope.event_type not in ("complaint.classified", "complaint.reclassified",
                                       "case.concluded"):
            return ()
        meta = self.system_meta(envelope)
        resolution = self.get_or_none(resolution_id(envelope.complaint_id)) \
            or Resolution(meta=meta)
        event = envelope.parsed()
        if isinstance(event, events.ComplaintClassified):
            resolution.register(meta, event.type.value, event.channel.value)
        elif isinstance(event, events.ComplaintReclassified):
            resolution.register(meta, event.type.value, resolution.channel)
        else:
            resolution.investigation_concluded(meta)
        return (resolution,)

    # --- commands -----------------------------------------------------------

    def _command(self, complaint_id: uuid.UUID, actor: Actor, correlation_id: str | None,
                 act: Callable[[Resolution, dict[str, Any]], None]) -> api.ResolutionView:
        resolution = self._resolution(complaint_id)
        act(resolution, self.meta(complaint_id, actor, correlation_id))
        self.save(resolution)
        return self.view(resolution)

    @retry_on_conflict
    def respond(self, complaint_id: uuid.UUID, request: api.Respond, actor: Actor,
                correlation_id: str | None = None) -> api.ResolutionView:
        return self._command(complaint_id, actor, correlation_id, lambda r, m: r.respond(
            m, request.outcome.value, request.message, request.amount, request.currency))

    @retry_on_conflict
    def accept(self, complaint_id: uuid.UUID, request: api.Accept, actor: Actor,
               correlation_id: str | None = None) -> api.ResolutionView:
        return self._command(complaint_id, actor, correlation_id,
                             lambda r, m: r.accept(m, request.comment))

    @retry_on_conflict
    def dispute(self, complaint_id: uuid.UUID, request: api.Dispute, actor: Actor,
                correlation_id: str | None = None) -> api.ResolutionView:
        return self._command(complaint_id, actor, correlation_id,
                             lambda r, m: r.dispute(m, request.reason))

    @retry_on_conflict
    def close_case(self, complaint_id: uuid.UUID, request: api.Close, actor: Actor,
              correlation_id: str | None = None) -> api.ResolutionView:
        return self._command(complaint_id, actor, correlation_id,
                             lambda r, m: r.close(m, request.note))

    @retry_on_conflict
    def follow_up(self, complaint_id: uuid.UUID, request: api.FollowUp, actor: Actor,
                  correlation_id: str | None = None) -> api.ResolutionView:
        return self._command(complaint_id, actor, correlation_id, lambda r, m: r.record_follow_up(
            m, request.satisfaction, request.solved, request.comment))

    # --- queries ------------------------------------------------------------

    def get_resolution(self, complaint_id: uuid.UUID) -> api.ResolutionView:
        return self.view(self._resolution(complaint_id))

    def _resolution(self, complaint_id: uuid.UUID) -> Resolution:
        resolution = self.get_or_none(resolution_id(complaint_id))
        if resolution is None:
            raise NotFound("resolution for complaint", complaint_id)
        return resolution

    @staticmethod
    def view(r: Resolution) -> api.ResolutionView:
        return api.ResolutionView(
            complaint_id=r.complaint_id, status=r.status, type=r.type,
            requires_investigation=r.requires_investigation, responses=r.responses,
            first_response_at=r.responses[0]["at"] if r.responses else None,
            disputes=r.disputes, outcome=r.outcome, closed_at=r.closed_at,
            follow_up=r.follow_up, version=r.version,
        )
