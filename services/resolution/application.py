"""Resolution's use cases, and its policy for upstream events: a received complaint
opens the resolution (keeping the text for the backlog and praise); a classification
registers its type and channel, puts a suggestion on the improvement backlog and
records praise for a named staff member; a concluded case makes the response due."""

from __future__ import annotations

import logging
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from eventsourcing.domain import Aggregate

from contracts import api, events
from contracts.envelope import Actor, Envelope
from contracts.vocabulary import BacklogStatus, ComplaintType, Role
from servicekit.application import ServiceApplication, retry_on_conflict
from servicekit.clock import Clock
from servicekit.errors import NotFound, require_role
from services.resolution.domain import (
    BacklogItem,
    Praise,
    Resolution,
    backlog_id,
    praise_id,
    resolution_id,
)
from services.resolution.policy import POLICY_FILE_ENV, ResolutionPolicy, load_policy

log = logging.getLogger(__name__)

# The backlog item's text when resolution never saw the complaint's receipt (possible
# only if the case's conclusion arrived first and opened the resolution).
TEXT_NOT_RECEIVED = "(the text did not reach resolution; read the complaint in intake)"


class ResolutionApplication(ServiceApplication):
    name = "resolution"
    public_events = {
        Resolution.Opened: events.ResolutionOpened,
        Resolution.Registered: events.ResolutionRegistered,
        Resolution.Ready: events.ResolutionReady,
        Resolution.RemedyProposed: events.ResolutionRemedyProposed,
        Resolution.RemedyApproved: events.ResolutionRemedyApproved,
        Resolution.RemedyRejected: events.ResolutionRemedyRejected,
        Resolution.Responded: events.ResolutionResponded,
        Resolution.Accepted: events.ResolutionAccepted,
        Resolution.Disputed: events.ResolutionDisputed,
        Resolution.Closed: events.ResolutionClosed,
        Resolution.FollowedUp: events.ResolutionFollowedUp,
        Resolution.Reopened: events.ResolutionReopened,
        BacklogItem.Added: events.BacklogItemAdded,
        BacklogItem.StatusChanged: events.BacklogStatusChanged,
        Praise.Recorded: events.PraiseRecorded,
    }

    def __init__(self, env: dict[str, str] | None = None, clock: Clock | None = None,
                 policy: ResolutionPolicy | None = None):
        # Read once, before the store opens: a broken policy file stops the start-up.
        self.rules = policy or load_policy((env or {}).get(POLICY_FILE_ENV)
                                           or os.environ.get(POLICY_FILE_ENV))
        super().__init__(env=env, clock=clock)

    # --- policy -------------------------------------------------------------

    def _handlers(self) -> dict[str, Callable[..., tuple[Aggregate, ...]]]:
        return {
            "complaint.received": self._on_received,
            "complaint.classified": self._on_classified,
            "complaint.reclassified": self._on_reclassified,
            "case.concluded": self._on_concluded,
        }

    def policy(self, envelope: Envelope) -> Iterable[Aggregate]:
        handler = self._handlers().get(envelope.event_type)
        if handler is None:
            return ()
        resolution = self.get_or_none(resolution_id(envelope.complaint_id))
        return handler(self.system_meta(envelope), envelope.parsed(), resolution)

    def _on_received(self, meta: dict[str, Any], event: events.ComplaintReceived,
                     resolution: Resolution | None) -> tuple[Aggregate, ...]:
        if resolution is not None:
            log.warning("complaint %s received after its resolution was opened: its text "
                        "is not kept", meta["complaint_id"])
            return ()
        return (Resolution(meta=meta, text=event.text, product=event.product,
                           staff_member=event.staff_member),)

    def _on_classified(self, meta: dict[str, Any], event: events.ComplaintClassified,
                       resolution: Resolution | None) -> tuple[Aggregate, ...]:
        resolution = resolution or Resolution(meta=meta)
        resolution.register(meta, event.type.value, event.channel.value, event.source)
        return (resolution, *self._feedback(meta, resolution, event, None))

    def _on_reclassified(self, meta: dict[str, Any], event: events.ComplaintReclassified,
                         resolution: Resolution | None) -> tuple[Aggregate, ...]:
        resolution = resolution or Resolution(meta=meta)
        resolution.register(meta, event.type.value, resolution.channel)
        return (resolution, *self._feedback(meta, resolution, event, event.previous_type))

    def _on_concluded(self, meta: dict[str, Any], event: events.CaseConcluded,
                      resolution: Resolution | None) -> tuple[Aggregate, ...]:
        resolution = resolution or Resolution(meta=meta)
        resolution.investigation_concluded(meta)
        return (resolution,)

    def _feedback(self, meta: dict[str, Any], resolution: Resolution,
                  event: events.ComplaintClassified | events.ComplaintReclassified,
                  previous_type: ComplaintType | None) -> list[Aggregate]:
        """A suggestion goes on the backlog (and leaves it when reclassified as something
        else); praise for a named staff member is recorded once."""
        changed: list[Aggregate] = []
        complaint_id = resolution.complaint_id
        item: BacklogItem | None = self.get_or_none(backlog_id(complaint_id))
        if event.type == ComplaintType.suggestion:
            if item is None:
                changed.append(BacklogItem(meta=meta, text=resolution.text or TEXT_NOT_RECEIVED,
                                           category=event.category.value,
                                           product=resolution.product))
            elif (previous_type != ComplaintType.suggestion
                  and item.status == BacklogStatus.declined):
                item.change_status(meta, BacklogStatus.new, "reclassified as a suggestion")
                changed.append(item)
        elif item is not None and item.status in (BacklogStatus.new, BacklogStatus.planned):
            item.change_status(meta, BacklogStatus.declined,
                               f"reclassified as {event.type.value}: not a suggestion")
            changed.append(item)
        if (event.type == ComplaintType.praise and resolution.staff_member
                and self.get_or_none(praise_id(complaint_id)) is None):
            changed.append(Praise(meta=meta, staff_member=resolution.staff_member,
                                  text=resolution.text or TEXT_NOT_RECEIVED))
        return changed

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
        if request.timely is not None:
            require_role(actor.model_dump(), "give a response's timeliness (timely)",
                         Role.admin.value)
        return self._command(complaint_id, actor, correlation_id, lambda r, m: r.respond(
            m, request.outcome.value, request.message, request.amount, request.currency,
            self.rules, request.timely))

    @retry_on_conflict
    def approve(self, complaint_id: uuid.UUID, request: api.ApproveRemedy, actor: Actor,
                correlation_id: str | None = None) -> api.ResolutionView:
        _supervisor(actor, "approve")
        return self._command(complaint_id, actor, correlation_id,
                             lambda r, m: r.approve(m, request.note, self.rules))

    @retry_on_conflict
    def reject(self, complaint_id: uuid.UUID, request: api.RejectRemedy, actor: Actor,
               correlation_id: str | None = None) -> api.ResolutionView:
        _supervisor(actor, "reject")
        return self._command(complaint_id, actor, correlation_id,
                             lambda r, m: r.reject(m, request.reason))

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
                             lambda r, m: r.close(m, request.note, self.rules))

    @retry_on_conflict
    def follow_up(self, complaint_id: uuid.UUID, request: api.FollowUp, actor: Actor,
                  correlation_id: str | None = None) -> api.ResolutionView:
        return self._command(complaint_id, actor, correlation_id, lambda r, m: r.record_follow_up(
            m, request.satisfaction, request.solved, request.comment))

    @retry_on_conflict
    def update_backlog_item(self, complaint_id: uuid.UUID, request: api.UpdateBacklogItem,
                            actor: Actor, correlation_id: str | None = None
                            ) -> api.BacklogItemView:
        item = self._backlog_item(complaint_id)
        item.change_status(self.meta(complaint_id, actor, correlation_id),
                           request.status.value, request.note)
        self.save(item)
        return self.backlog_view(item)

    # --- queries ------------------------------------------------------------

    def get_resolution(self, complaint_id: uuid.UUID) -> api.ResolutionView:
        return self.view(self._resolution(complaint_id))

    def list_follow_ups(self, overdue: bool | None = None) -> api.FollowUpDueList:
        """Closed resolutions whose follow-up is not recorded yet, soonest due first."""
        now = self.clock.now()
        due = [api.FollowUpDue(complaint_id=r.complaint_id, closed_at=r.closed_at,
                               due=r.follow_up_due, overdue=r.follow_up_due < now)
               for r in self.every(Resolution.Opened)
               if r.follow_up_pending and r.follow_up_due is not None]
        due = [d for d in due if overdue is None or d.overdue == overdue]
        due.sort(key=lambda d: d.due)  # stable: ties stay in log order
        return api.FollowUpDueList(follow_ups=due)

    def get_backlog_item(self, complaint_id: uuid.UUID) -> api.BacklogItemView:
        return self.backlog_view(self._backlog_item(complaint_id))

    def list_backlog(self, status: BacklogStatus | None = None) -> api.BacklogList:
        items = [i for i in self.every(BacklogItem.Added) if status is None or i.status == status]
        items.sort(key=lambda i: i.added_at)
        return api.BacklogList(items=[self.backlog_view(i) for i in items])

    def list_praise(self, staff_member: str | None = None) -> api.PraiseList:
        """Praise per staff member; praise whose complaint was later reclassified as
        something else is left out."""
        wanted = _name_key(staff_member) if staff_member else None
        entries = []
        for praise in self.every(Praise.Recorded):
            if wanted is not None and _name_key(praise.staff_member) != wanted:
                continue
            resolution = self.get_or_none(resolution_id(praise.complaint_id))
            if resolution is None or resolution.type != ComplaintType.praise:
                continue
            entries.append(api.PraiseEntry(complaint_id=praise.complaint_id,
                                           staff_member=praise.staff_member,
                                           text=praise.text, at=praise.at))
        entries.sort(key=lambda e: e.at)
        counts = Counter(e.staff_member for e in entries)
        return api.PraiseList(praise=entries, by_staff_member=dict(sorted(counts.items())))

    def _resolution(self, complaint_id: uuid.UUID) -> Resolution:
        resolution = self.get_or_none(resolution_id(complaint_id))
        if resolution is None:
            raise NotFound("resolution for complaint", complaint_id)
        return resolution

    def _backlog_item(self, complaint_id: uuid.UUID) -> BacklogItem:
        item = self.get_or_none(backlog_id(complaint_id))
        if item is None:
            raise NotFound("backlog item for complaint", complaint_id)
        return item

    @staticmethod
    def view(r: Resolution) -> api.ResolutionView:
        return api.ResolutionView(
            complaint_id=r.complaint_id, status=r.status, type=r.type,
            requires_investigation=r.requires_investigation, responses=r.responses,
            first_response_at=r.responses[0]["at"] if r.responses else None,
            disputes=r.disputes, outcome=r.outcome, closed_at=r.closed_at,
            follow_up=r.follow_up, proposal=r.proposal, follow_up_due=r.follow_up_due,
            reopen_count=r.reopen_count, version=r.version,
        )

    @staticmethod
    def backlog_view(item: BacklogItem) -> api.BacklogItemView:
        return api.BacklogItemView(
            complaint_id=item.complaint_id, text=item.text, category=item.category,
            product=item.product, status=item.status, history=item.history,
            version=item.version,
        )


def _supervisor(actor: Actor, action: str) -> None:
    require_role(actor.model_dump(), f"{action} a remedy", Role.supervisor.value)


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()

