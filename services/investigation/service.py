"""Investigation's nameko service: HTTP entrypoints and the upstream subscriptions."""

from __future__ import annotations

import uuid

from nameko.timer import timer

from contracts import api
from servicekit.http import endpoint
from servicekit.messaging import upstream_events
from servicekit.runtime import CATCH_UP_SECONDS, ServiceBase, ServiceRuntime
from services.investigation.application import InvestigationApplication


class InvestigationService(ServiceBase):
    name = "investigation"
    title = "Investigation: cases, findings, root cause"
    runtime = ServiceRuntime(InvestigationApplication, upstreams=("intake", "resolution"))

    @upstream_events("intake")
    def on_intake_event(self, body):
        self.runtime.deliver("intake", body)

    @upstream_events("resolution")
    def on_resolution_event(self, body):
        self.runtime.deliver("resolution", body)

    @timer(interval=CATCH_UP_SECONDS, eager=True)
    def catch_up(self):
        self.runtime.catch_up()

    @endpoint("GET", "/cases", query=api.CaseQuery, response=api.CaseList, summary="list_cases")
    def list_cases(self, call):
        return self.runtime.app.list_cases(call.query.assignee, call.query.status)

    @endpoint("GET", "/cases/<complaint_id>", response=api.CaseView, summary="get_case")
    def get_case(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.get_case(complaint_id)

    @endpoint("POST", "/cases/<complaint_id>/assign", body=api.Assign, response=api.CaseView,
              summary="assign")
    def assign(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.assign(complaint_id, call.body, call.actor, call.correlation_id)

    @endpoint("POST", "/cases/<complaint_id>/findings", body=api.RecordFinding,
              response=api.CaseView, summary="record_finding")
    def record_finding(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.record_finding(complaint_id, call.body, call.actor,
                                               call.correlation_id)

    @endpoint("POST", "/cases/<complaint_id>/conclude", body=api.Conclude,
              response=api.CaseView, summary="conclude")
    def conclude(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.conclude(complaint_id, call.body, call.actor,
                                         call.correlation_id)
