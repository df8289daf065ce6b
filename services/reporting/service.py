"""Reporting's nameko service: subscribes to the three upstreams, serves reports and
audit trails."""

from __future__ import annotations

import uuid

from contracts import api
from servicekit.http import endpoint
from servicekit.runtime import ServiceBase, ServiceRuntime, subscriptions
from services.reporting.application import ReportingApplication


class ReportingService(ServiceBase, subscriptions("intake", "investigation", "resolution")):
    name = "reporting"
    title = "Reporting: summary reports and audit trails, rebuilt from events"
    runtime = ServiceRuntime(ReportingApplication,
                             upstreams=("intake", "investigation", "resolution"), relay=False)

    @endpoint("GET", "/reports/summary", query=api.SummaryQuery, response=api.SummaryReport,
              summary="summary_report")
    def summary_report(self, call):
        return self.runtime.app.summary(call.query.from_, call.query.to)

    @endpoint("GET", "/complaints/<complaint_id>/audit", response=api.AuditTrail,
              summary="audit_trail")
    def audit_trail(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.audit_trail(complaint_id)
