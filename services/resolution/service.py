"""Resolution's nameko service: HTTP entrypoints and the upstream subscriptions."""

from __future__ import annotations

import uuid

from contracts import api
from servicekit.customers import CustomerViews
from servicekit.http import endpoint
from servicekit.runtime import ServiceBase, ServiceRuntime, subscriptions
from services.resolution.application import ResolutionApplication

RESOLVER = "resolver"


def assigned_resolver(resolution: api.ResolutionView) -> str | None:
    """Resolution has no assignment of its own: its resolver is whoever first took it on,
    as its events record — the author of the first response (for a remedy that needed
    approval, the resolver who proposed it), or before any response, the proposer of the
    remedy waiting for (or refused) approval. None while nobody has: the resolution is in
    the resolvers' shared queue and whichever resolver picks it up must reach the
    customer, so every resolver counts as assigned until then."""
    if resolution.responses:
        return resolution.responses[0].by
    if resolution.proposal:
        by: str | None = resolution.proposal.get("proposed_by")
        return by
    return None


class ResolutionService(ServiceBase, subscriptions("intake", "investigation")):
    name = "resolution"
    title = ("Resolution: response and its approval, customer decision, closure, follow-up, "
             "improvement backlog, praise")
    runtime = ServiceRuntime(ResolutionApplication, upstreams=("intake", "investigation"))
    customers = CustomerViews()

    @endpoint("GET", "/resolutions/<complaint_id>", response=api.ResolutionDetail,
              summary="get_resolution")
    def get_resolution(self, call, complaint_id: uuid.UUID):
        """The resolution with its customer, asked of intake: plain for its assigned
        resolver (see `assigned_resolver`), masked for every other reader."""
        resolution = self.runtime.app.get_resolution(complaint_id)
        owner = assigned_resolver(resolution)
        assigned = call.actor.role == RESOLVER and owner in (None, call.actor.id)
        return api.ResolutionDetail(**dict(resolution), **self.customers(
            complaint_id, call.actor, assigned))

    @endpoint("POST", "/resolutions/<complaint_id>/respond", body=api.Respond,
              response=api.ResolutionView, summary="respond")
    def respond(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.respond(complaint_id, call.body, call.actor, call.correlation_id)

    @endpoint("POST", "/resolutions/<complaint_id>/accept", body=api.Accept,
              response=api.ResolutionView, summary="accept")
    def accept(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.accept(complaint_id, call.body, call.actor, call.correlation_id)

    @endpoint("POST", "/resolutions/<complaint_id>/dispute", body=api.Dispute,
              response=api.ResolutionView, summary="dispute")
    def dispute(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.dispute(complaint_id, call.body, call.actor, call.correlation_id)

    @endpoint("POST", "/resolutions/<complaint_id>/close", body=api.Close,
              response=api.ResolutionView, summary="close")
    def close(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.close_case(complaint_id, call.body, call.actor, call.correlation_id)

    @endpoint("POST", "/resolutions/<complaint_id>/follow-up", body=api.FollowUp,
              response=api.ResolutionView, summary="follow_up")
    def follow_up(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.follow_up(complaint_id, call.body, call.actor,
                                          call.correlation_id)

    @endpoint("POST", "/resolutions/<complaint_id>/approve", body=api.ApproveRemedy,
              response=api.ResolutionView, summary="approve_remedy")
    def approve(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.approve(complaint_id, call.body, call.actor, call.correlation_id)

    @endpoint("POST", "/resolutions/<complaint_id>/reject", body=api.RejectRemedy,
              response=api.ResolutionView, summary="reject_remedy")
    def reject(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.reject(complaint_id, call.body, call.actor, call.correlation_id)

    @endpoint("GET", "/follow-ups", query=api.FollowUpQuery, response=api.FollowUpDueList,
              summary="list_follow_ups")
    def list_follow_ups(self, call):
        return self.runtime.app.list_follow_ups(call.query.overdue)

    @endpoint("GET", "/backlog", query=api.BacklogQuery, response=api.BacklogList,
              summary="list_backlog")
    def list_backlog(self, call):
        return self.runtime.app.list_backlog(call.query.status)

    @endpoint("GET", "/backlog/<complaint_id>", response=api.BacklogItemView,
              summary="get_backlog_item")
    def get_backlog_item(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.get_backlog_item(complaint_id)

    @endpoint("POST", "/backlog/<complaint_id>/status", body=api.UpdateBacklogItem,
              response=api.BacklogItemView, summary="update_backlog_item")
    def update_backlog_item(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.update_backlog_item(complaint_id, call.body, call.actor,
                                                    call.correlation_id)

    @endpoint("GET", "/praise", query=api.PraiseQuery, response=api.PraiseList,
              summary="list_praise")
    def list_praise(self, call):
        return self.runtime.app.list_praise(call.query.staff_member)
