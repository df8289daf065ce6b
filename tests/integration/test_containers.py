"""Services in real nameko containers on a real broker, driven with nameko.testing's
entrypoint_hook and entrypoint_waiter."""

import requests
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from servicekit import auth
from servicekit.client import auth_headers
from services.intake.service import IntakeService
from services.investigation.service import InvestigationService

AGENT = auth_headers("agent-7", "agent")
def service_call() -> dict[str, str]:
    """A service token made when the test runs (a collection-time one may have expired)."""
    return {auth.RPC_TOKEN_KEY: "Bearer " + auth.service_token("reporting")}


def test_a_published_complaint_is_consumed_by_investigation(container_factory, amqp_uri,
                                                            free_port, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    port = free_port()
    intake = container_factory(IntakeService, {"AMQP_URI": amqp_uri,
                                               "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"})
    investigation = container_factory(InvestigationService, {
        "AMQP_URI": amqp_uri, "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}"})
    investigation.start()
    intake.start()

    def case_opened(worker_ctx, result, exc_info):
        return exc_info is None and worker_ctx.args[0]["event_type"] == "complaint.classified"

    with entrypoint_waiter(investigation, "on_intake_event", callback=case_opened, timeout=20):
        response = requests.post(f"http://127.0.0.1:{port}/complaints", headers=AGENT, json={
            "channel": "web", "customer": {"name": "A"}, "text": "The staff were rude"})
        assert response.status_code == 201
    complaint_id = response.json()["complaint_id"]

    with entrypoint_hook(investigation, "notifications", service_call()) as notifications:
        opened = notifications(1, 10)
    assert [e["event_type"] for e in opened] == ["case.opened", "case.assigned"]
    assert opened[1]["payload"]["investigator"] == "inv-1"
    assert opened[0]["complaint_id"] == complaint_id
    with entrypoint_hook(intake, "notifications", service_call()) as notifications:
        assert [e["event_type"] for e in notifications(1, 10)][:3] == [
            "complaint.received", "complaint.classified", "complaint.acknowledged"]
