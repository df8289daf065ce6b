"""Reporting's nameko service: subscribes to the three upstreams, serves reports and
audit trails."""

from __future__ import annotations

import uuid

from werkzeug.wrappers import Response

from contracts import api
from servicekit.customers import CustomerViews
from servicekit.http import endpoint
from servicekit.runtime import ServiceBase, ServiceRuntime, subscriptions
from services.reporting import render
from services.reporting.application import ReportingApplication


class ReportingService(ServiceBase, subscriptions("intake", "investigation", "resolution")):
    name = "reporting"
    title = "Reporting: summary reports and audit trails, rebuilt from events"
    runtime = ServiceRuntime(ReportingApplication,
                             upstreams=("intake", "investigation", "resolution"), relay=False)
    customers = CustomerViews()

    @endpoint("GET", "/reports/summary", query=api.SummaryQuery, response=api.SummaryReport,
              summary="summary_report")
    def summary_report(self, call):
        return self.runtime.app.summary(call.query.from_, call.query.to)

    @endpoint("GET", "/complaints/<complaint_id>/audit", query=api.AsOfQuery,
              response=api.AuditTrailView, summary="audit_trail")
    def audit_trail(self, call, complaint_id: uuid.UUID):
        """Every event from every service, in order, with the customer as the reader's
        role may see it, asked of intake for this request (never stored here)."""
        trail = self.runtime.app.audit_trail(complaint_id, call.query.as_of)
        return api.AuditTrailView(**dict(trail), **self.customers(complaint_id, call.actor))

    @endpoint("GET", "/complaints/<complaint_id>/as-of", query=api.AtQuery,
              response=api.ComplaintAsOf, summary="complaint_as_of")
    def complaint_as_of(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.complaint_as_of(complaint_id, call.query.at)

    @endpoint("GET", "/complaints/<complaint_id>/evidence", query=api.AsOfQuery,
              response=api.EvidencePackView, summary="evidence_pack")
    def evidence_pack(self, call, complaint_id: uuid.UUID):
        pack = self.runtime.app.evidence_pack(complaint_id, call.query.as_of)
        return api.EvidencePackView(**dict(pack), **self.customers(complaint_id, call.actor))

    @endpoint("GET", "/complaints/<complaint_id>/evidence.html", query=api.AsOfQuery,
              media_type="text/html", summary="evidence_html")
    def evidence_html(self, call, complaint_id: uuid.UUID):
        return Response(self.runtime.app.evidence_html(
            complaint_id, call.query.as_of,
            customer=lambda: self.customers(complaint_id, call.actor)), mimetype="text/html")

    # --- the improvement report -----------------------------------------------------

    @endpoint("GET", "/reports/improvement", query=api.ImprovementQuery,
              response=api.ImprovementReport, summary="improvement_report")
    def improvement_report(self, call):
        return self.runtime.app.improvement_report(call.query)

    @endpoint("GET", "/reports/improvement.csv", query=api.ImprovementQuery,
              media_type="text/csv", summary="improvement_report_csv")
    def improvement_report_csv(self, call):
        report = self.runtime.app.improvement_report(call.query)
        name = f"improvement-{report['period']['from']}-{report['period']['to']}.csv"
        return Response(render.to_csv(report), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @endpoint("GET", "/reports/improvement.html", query=api.ImprovementQuery,
              media_type="text/html", summary="improvement_report_html")
    def improvement_report_html(self, call):
        report = self.runtime.app.improvement_report(call.query)
        return Response(render.to_html(report), mimetype="text/html")
