"""The nameko services' entrypoints with nameko.testing's worker_factory: the real
application on the in-memory store stands in for the runtime (a fake, not a mock)."""

import json
import uuid

from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder

from servicekit import auth
from servicekit.client import auth_headers
from servicekit.messaging import Subscriber
from servicekit.runtime import Runtime
from services.intake.application import IntakeApplication
from services.intake.service import IntakeService
from services.investigation.application import InvestigationApplication
from services.investigation.service import InvestigationService

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
AGENT = auth_headers("agent-7", "agent")
def service_call() -> dict[str, str]:
    """A service token made when the test runs (not at collection: the suite may take
    longer than the token lives)."""
    return {auth.RPC_TOKEN_KEY: "Bearer " + auth.service_token("investigation")}


def request(method, path, body=None, headers=None):
    data = json.dumps(body) if isinstance(body, dict) else body
    return EnvironBuilder(method=method, path=path, data=data, headers=headers or {},
                          content_type="application/json").get_request()


def intake_worker():
    return worker_factory(IntakeService, runtime=Runtime(IntakeApplication(env=POPO), None, {}),
                          caller=service_call())


def test_receiving_a_complaint_answers_201_with_its_classification():
    service = intake_worker()
    response = service.receive_complaint(request("POST", "/complaints", {
        "channel": "email", "customer": {"name": "A"}, "text": "I was overcharged on my bill"},
        AGENT))
    assert response.status_code == 201
    body = json.loads(response.get_data())
    assert body["classification"]["category"] == "billing"
    assert service.runtime.app.head() == 5  # received, classified, acknowledged, SLA


def test_an_invalid_complaint_answers_422_and_stores_nothing():
    service = intake_worker()
    response = service.receive_complaint(request("POST", "/complaints", {
        "channel": "pigeon", "customer": {"name": "A"}, "text": "x"}, AGENT))
    assert response.status_code == 422
    assert [f["field"] for f in json.loads(response.get_data())["fields"]] == ["body.channel"]
    assert service.runtime.app.head() == 0


def test_an_unknown_complaint_answers_404():
    response = intake_worker().get_complaint(request("GET", "/", headers=AGENT),
                                             complaint_id=str(uuid.uuid4()))
    assert response.status_code == 404


def test_the_notifications_rpc_serves_the_log_as_envelopes():
    service = intake_worker()
    service.receive_complaint(request("POST", "/complaints", {
        "channel": "web", "customer": {"name": "A"}, "text": "rude staff"}, AGENT))
    page = service.notifications(2, 10)
    assert [e["origin_position"] for e in page] == [2, 3, 4, 5]
    assert page[0]["event_type"] == "complaint.classified"


def test_an_intake_event_delivered_to_investigation_opens_and_routes_a_case():
    intake = IntakeApplication(env=POPO)
    investigation = InvestigationApplication(env=POPO)

    def log(start, limit):
        return [e.model_dump(mode="json") for e in intake.notifications(start, limit)]

    service = worker_factory(InvestigationService, runtime=Runtime(
        investigation, None, {"intake": Subscriber(investigation, "intake", log)}))
    intake_service = worker_factory(IntakeService, runtime=Runtime(intake, None, {}))
    intake_service.receive_complaint(request("POST", "/complaints", {
        "channel": "web", "customer": {"name": "A"}, "text": "rude staff"}, AGENT))

    for body in log(1, 10):
        service.on_intake_event(body)
    service.on_intake_event(log(2, 1)[0])  # a redelivery changes nothing
    cases = investigation.list_cases().cases
    assert len(cases) == 1
    assert (cases[0].team, cases[0].investigator) == ("customer-service", "inv-1")
    assert cases[0].version == 2, "opened and assigned once each"
    assert investigation.position("intake") == intake.head() == 5


PHONE, EMAIL = "+8613800138000", "li@example.com"


class BrokenApplication(IntakeApplication):
    def get_complaint(self, complaint_id, reader=None):
        raise ValueError(f"internal failure quoting {PHONE} and {EMAIL}")  # runtime values


def test_an_internal_error_is_a_500_whose_log_holds_no_personal_data(caplog):
    service = worker_factory(IntakeService,
                             runtime=Runtime(BrokenApplication(env=POPO), None, {}))
    response = service.get_complaint(request("GET", "/", headers=AGENT),
                                     complaint_id=str(uuid.uuid4()))
    assert response.status_code == 500
    assert PHONE not in response.get_data(as_text=True)
    assert "unhandled ValueError in get_complaint" in caplog.text
    assert PHONE not in caplog.text and EMAIL not in caplog.text
