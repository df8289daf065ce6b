"""Investigation's nameko service: HTTP entrypoints and the upstream subscriptions."""

from __future__ import annotations

import uuid

from contracts import api
from servicekit.auth import action_of
from servicekit.customers import CustomerViews
from servicekit.http import endpoint
from servicekit.runtime import ServiceBase, ServiceRuntime, subscriptions
from services.investigation.access import INVESTIGATOR, Scope
from services.investigation.application import InvestigationApplication


class InvestigationService(ServiceBase, subscriptions("intake", "resolution")):
    name = "investigation"
    title = "Investigation: cases, findings, root cause"
    runtime = ServiceRuntime(InvestigationApplication, upstreams=("intake", "resolution"))
    customers = CustomerViews()

    def scope(self, principal, handler: str) -> Scope:
        return Scope.of(principal, action_of(self.name, handler), self.runtime.app.roster)

    def check_scope(self, principal, actor, handler: str, path: dict) -> None:
        """Row-level rule (services/investigation/access.py), called by servicekit.http
        for every endpoint once the permission table allowed it; lists filter instead."""
        scope = self.scope(principal, handler)
        if scope.unrestricted:
            return
        complaint_id = path.get("complaint_id")
        if "action_id" in path:
            complaint_id = self.runtime.app.get_action(path["action_id"]).complaint_id
        if complaint_id is not None:
            scope.check(self.runtime.app.get_case(complaint_id), handler,
                        path.get("consultation"))

    @endpoint("GET", "/cases", query=api.CaseQuery, response=api.CaseList, summary="list_cases")
    def list_cases(self, call):
        cases = self.runtime.app.list_cases(call.query.assignee, call.query.status)
        return api.CaseList(cases=self.scope(call.principal, "list_cases").visible(cases.cases))

    @endpoint("GET", "/cases/<complaint_id>", response=api.CaseDetail, summary="get_case")
    def get_case(self, call, complaint_id: uuid.UUID):
        """The case with its customer, asked of intake: plain for the investigator it is
        assigned to, masked for everyone else who may read it (servicekit.pii.shown)."""
        case = self.runtime.app.get_case(complaint_id)
        assigned = call.actor.role == INVESTIGATOR and case.investigator == call.actor.id
        return api.CaseDetail(**dict(case), **self.customers(complaint_id, call.actor,
                                                             assigned))

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

    @endpoint("POST", "/cases/<complaint_id>/escalate", body=api.Escalate,
              response=api.CaseView, summary="escalate")
    def escalate(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.escalate(complaint_id, call.body, call.actor,
                                         call.correlation_id)

    @endpoint("POST", "/cases/<complaint_id>/take", body=api.TakeEscalation,
              response=api.CaseView, summary="take_escalation")
    def take_escalation(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.take_escalation(complaint_id, call.body, call.actor,
                                                call.correlation_id)

    @endpoint("POST", "/cases/<complaint_id>/consultations", body=api.RequestConsultation,
              response=api.CaseView, summary="request_consultation")
    def request_consultation(self, call, complaint_id: uuid.UUID):
        return self.runtime.app.request_consultation(complaint_id, call.body, call.actor,
                                                     call.correlation_id)

    @endpoint("POST", "/cases/<complaint_id>/consultations/<consultation>/answer",
              body=api.AnswerConsultation, response=api.CaseView,
              summary="answer_consultation")
    def answer_consultation(self, call, complaint_id: uuid.UUID, consultation: str):
        return self.runtime.app.answer_consultation(complaint_id, consultation, call.body,
                                                    call.actor, call.correlation_id)

    @endpoint("GET", "/supervisor/queue", query=api.TeamQuery, response=api.CaseList,
              summary="supervisor_queue")
    def supervisor_queue(self, call):
        queue = self.runtime.app.supervisor_queue(call.query.team)
        return api.CaseList(cases=self.scope(call.principal, "supervisor_queue").visible(
            queue.cases))

    @endpoint("GET", "/corrective-actions", query=api.CorrectiveActionQuery,
              response=api.CorrectiveActionList, summary="list_corrective_actions")
    def list_corrective_actions(self, call):
        q = call.query
        actions = self.runtime.app.corrective_actions(q.status, q.owner, q.overdue)
        scope = self.scope(call.principal, "list_corrective_actions")
        if not scope.unrestricted:
            cases = {c.complaint_id for c in scope.visible(self.runtime.app.list_cases().cases)}
            actions = api.CorrectiveActionList(
                actions=[a for a in actions.actions if a.complaint_id in cases])
        return actions

    @endpoint("POST", "/corrective-actions/<action_id>/done", body=api.CompleteAction,
              response=api.CorrectiveActionView, summary="complete_corrective_action")
    def complete_corrective_action(self, call, action_id: uuid.UUID):
        return self.runtime.app.complete_action(action_id, call.body, call.actor,
                                                call.correlation_id)

    @endpoint("POST", "/corrective-actions/<action_id>/verify", body=api.VerifyAction,
              response=api.CorrectiveActionView, summary="verify_corrective_action")
    def verify_corrective_action(self, call, action_id: uuid.UUID):
        return self.runtime.app.verify_action(action_id, call.body, call.actor,
                                              call.correlation_id)
