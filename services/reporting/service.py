"""Reporting's nameko service: subscribes to the three upstreams, serves reports and
audit trails."""

from __future__ import annotations

import uuid

from nameko.timer import timer

from contracts import api
from servicekit.http import endpoint
from servicekit.messaging import upstream_events
from servicekit.runtime import CATCH_UP_SECONDS, ServiceBase, ServiceRuntime
from services.reporting.application import ReportingApplication


class ReportingService(ServiceBase):
    name = "reporting"
    title = "Reporting: summary reports and audit trails, rebuilt from events"
    runtime = ServiceRuntime(ReportingApplication,
                             upstreams=("intake", "investigation", "resolution"), relay=False)

    @upstream_events("intake")
    def on_intake_event(self, body):
        self.runtime.deliver("intake", body)

    @upstream_events("investigation")
    def on_investigation_event(self, body):
        self.runtime.deliver("investigation", body)

    @upstream_events("resolution")
    def on_resolution_event(self, body):
        self.runtime.deliver("resolution", body)

    @timer(interval=CATCH_UP_SECONDS, eager=True)
    def catch_up(self):
        self.runtime.catch_up()

    @endpoint("GET", "/reports/summary", query=api.SummaryQuery, response=api.SummaryReport,
              summary="summary_report")
    def summary_report(self, call):
        return self.runtime.app.summary(call.query.from_, call.query.to)

    @endpoint("GET", "/complaints/<complaint_id>/audit", response=api.AuditTrail,
              summary="audit_trail")
    def audit_trail(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.audit_trail(complaint_id)
