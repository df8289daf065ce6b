"""Intake's nameko service: HTTP entrypoints only; each validates, calls, returns."""

from __future__ import annotations

import uuid

from contracts import api
from servicekit.http import endpoint
from servicekit.runtime import ServiceBase, ServiceRuntime
from services.intake.application import IntakeApplication


class IntakeService(ServiceBase):
    name = "intake"
    title = "Intake: complaints received, classified and acknowledged"
    runtime = ServiceRuntime(IntakeApplication)

    @endpoint("POST", "/complaints", body=api.ReceiveComplaint, response=api.ComplaintView,
              status=201, summary="receive_complaint")
    def receive_complaint(self, call):
        return self.runtime.app.receive_complaint(call.body, call.actor, call.correlation_id)

    @endpoint("GET", "/complaints/<complaint_id>", response=api.ComplaintView,
              summary="get_complaint")
    def get_complaint(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.get_complaint(complaint_id)

    @endpoint("POST", "/complaints/<complaint_id>/reclassify", body=api.Reclassify,
              response=api.ComplaintView, summary="reclassify")
    def reclassify(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.reclassify(complaint_id, call.body, call.actor,
                                           call.correlation_id)
