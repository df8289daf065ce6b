"""Intake's nameko service: HTTP entrypoints (each validates, calls, returns), the
resolution subscription that marks targets met, and the SLA timer."""

from __future__ import annotations

import logging
import os
import uuid

from nameko.timer import timer

from contracts import api
from servicekit.http import endpoint
from servicekit.runtime import ServiceBase, ServiceRuntime, secured_rpc, subscriptions
from services.intake.application import IntakeApplication

log = logging.getLogger(__name__)

# How often the SLA clock looks for due warnings and breaches (seconds).
SLA_TICK_SECONDS = float(os.environ.get("SLA_TICK_SECONDS", "15"))


class IntakeService(ServiceBase, subscriptions("resolution")):
    name = "intake"
    title = "Intake: complaints received, classified and acknowledged"
    runtime = ServiceRuntime(IntakeApplication, upstreams=("resolution",))

    @timer(interval=SLA_TICK_SECONDS, eager=True)
    def check_deadlines(self):
        if self.runtime.app.check_deadlines():
            self.runtime.wake()

    @endpoint("POST", "/complaints", body=api.ReceiveComplaint, response=api.ComplaintView,
              status=201, summary="receive_complaint")
    def receive_complaint(self, call):
        return self.runtime.app.receive_complaint(call.body, call.actor, call.correlation_id)

    @endpoint("GET", "/complaints/<complaint_id>", response=api.ComplaintView,
              summary="get_complaint")
    def get_complaint(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.get_complaint(complaint_id, call.actor)

    @endpoint("POST", "/customers/erase", body=api.EraseCustomer, response=api.Erasure,
              summary="erase_customer")
    def erase_customer(self, call):
        return self.runtime.app.erase_customer(call.body, call.actor, call.correlation_id)

    @secured_rpc
    def customer(self, complaint_id: str, role: str | None, assigned: bool = False,
                 sub: str | None = None) -> dict:
        """The complaint's customer as `role` may see it (servicekit.customers asks for
        downstream views); the calling service says whether the person asking, `sub`,
        is the one assigned there (intake does not know). Plain disclosures are logged
        by staff id and complaint id (never a value)."""
        block = self.runtime.app.customer(uuid.UUID(complaint_id), role, bool(assigned))
        if block.view == "plain":
            log.info("customer of complaint %s shown plain to %s (%s%s)", complaint_id,
                     sub, role, ", assigned" if assigned else "")
        return block.model_dump(mode="json")

    @endpoint("POST", "/complaints/<complaint_id>/reclassify", body=api.Reclassify,
              response=api.ComplaintView, summary="reclassify")
    def reclassify(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.reclassify(complaint_id, call.body, call.actor,
                                           call.correlation_id)

    @endpoint("POST", "/complaints/<complaint_id>/pause", body=api.PauseClock,
              response=api.ComplaintView, summary="pause_clock")
    def pause_clock(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.pause_clock(complaint_id, call.body, call.actor,
                                            call.correlation_id)

    @endpoint("POST", "/complaints/<complaint_id>/resume", body=api.ResumeClock,
              response=api.ComplaintView, summary="resume_clock")
    def resume_clock(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.resume_clock(complaint_id, call.body, call.actor,
                                             call.correlation_id)

    @endpoint("POST", "/complaints/<complaint_id>/contact", body=api.RecordContact,
              response=api.ComplaintView, summary="record_contact")
    def record_contact(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.record_contact(complaint_id, call.body, call.actor,
                                               call.correlation_id)

    @endpoint("GET", "/triage", response=api.TriageQueue, summary="triage_queue")
    def triage_queue(self, call):
        return self.runtime.app.triage_queue()

    @endpoint("POST", "/complaints/<complaint_id>/confirm-classification", body=api.Decide,
              response=api.ComplaintView, summary="confirm_classification")
    def confirm_classification(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.confirm_classification(complaint_id, call.body, call.actor,
                                                       call.correlation_id)

    @endpoint("POST", "/complaints/<complaint_id>/merge", body=api.Decide,
              response=api.ComplaintView, summary="merge_duplicate")
    def merge_duplicate(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.merge_duplicate(complaint_id, call.body, call.actor,
                                                call.correlation_id)

    @endpoint("POST", "/complaints/<complaint_id>/dismiss-duplicate", body=api.Decide,
              response=api.ComplaintView, summary="dismiss_duplicate")
    def dismiss_duplicate(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.dismiss_duplicate(complaint_id, call.body, call.actor,
                                                  call.correlation_id)
