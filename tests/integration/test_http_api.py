"""The four services' HTTP interfaces, in real nameko containers on a real RabbitMQ
vhost, each with its own SQLite event store, over real HTTP.

Every rejected request is checked to have stored nothing (the head of the service's
notification log, /health's `position`, does not move) and published nothing (a queue
of our own, bound to every routing key of the events exchange, stays empty)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kombu import Connection, Exchange, Queue

from servicekit.client import auth_headers
from services.intake.service import IntakeService
from services.investigation.service import InvestigationService
from services.reporting.service import ReportingService
from services.resolution.service import ResolutionService

pytestmark = pytest.mark.integration

EVENTS_EXCHANGE = "complaints.events"
AGENT = auth_headers("agent-7", "agent")
INVESTIGATOR = auth_headers("inv-3", "investigator")
RESOLVER = auth_headers("res-5", "resolver")
READER = auth_headers("admin-1", "admin")  # reads that are not themselves under test
SETTLE_SECONDS = 1.2  # longer than the outbox relay's idle poll (1 s)
WAIT_SECONDS = 20.0

NAME = "Wang Xiaoming Testperson"
PHONE = "+86 138 0013 8000"
PHONE_E164 = "+8613800138000"
EMAIL = "wang.xiaoming.testperson@example.com"

ROOT = Path(__file__).resolve().parents[2]


def complaint(text: str = "The staff at the counter were rude to me.", **extra: Any) -> dict:
    return {"channel": "web", "customer": {"name": NAME, "phone": PHONE, "email": EMAIL},
            "text": text, **extra}


PRAISE = "Thank you, excellent service at the Xuhui branch."
CONCLUSION = {"root_cause": "people", "five_whys": ["no training"],
              "responsible_department": "Retail", "summary": "coached the clerk"}

ROUTES = {
    IntakeService: {
        ("post", "/complaints"),
        ("get", "/complaints/{complaint_id}"),
        ("post", "/complaints/{complaint_id}/reclassify"),
    },
    InvestigationService: {
        ("get", "/cases"),
        ("get", "/cases/{complaint_id}"),
        ("post", "/cases/{complaint_id}/assign"),
        ("post", "/cases/{complaint_id}/findings"),
        ("post", "/cases/{complaint_id}/conclude"),
    },
    ResolutionService: {
        ("get", "/resolutions/{complaint_id}"),
        ("post", "/resolutions/{complaint_id}/respond"),
        ("post", "/resolutions/{complaint_id}/accept"),
        ("post", "/resolutions/{complaint_id}/dispute"),
        ("post", "/resolutions/{complaint_id}/close"),
        ("post", "/resolutions/{complaint_id}/follow-up"),
    },
    ReportingService: {
        ("get", "/reports/summary"),
        ("get", "/complaints/{complaint_id}/audit"),
    },
}


# --- harness -------------------------------------------------------------------


class Service:
    def __init__(self, url: str):
        self.url = url

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None, params: dict | None = None
             ) -> requests.Response:
        kwargs: dict[str, Any] = {"headers": dict(headers or {}), "params": params,
                                  "timeout": 10}
        if raw is not None:
            kwargs["data"] = raw
            kwargs["headers"].setdefault("Content-Type", "application/json")
        elif body is not None:
            kwargs["json"] = body
        response = requests.request(method, self.url + path, **kwargs)
        assert response.status_code < 500, (method, path, response.status_code, response.text)
        return response

    def get(self, path: str, headers: dict[str, str] | None = READER, **kwargs: Any
            ) -> requests.Response:
        return self.call("GET", path, headers=headers, **kwargs)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = AGENT,
             **kwargs: Any) -> requests.Response:
        return self.call("POST", path, body, headers=headers, **kwargs)

    def position(self) -> int:
        health = self.get("/health")
        assert health.status_code == 200, health.text
        return health.json()["position"]


class Published:
    """An exclusive queue of the test's own, bound to every integration event."""

    def __init__(self, amqp_uri: str):
        self.connection = Connection(amqp_uri)
        self.channel = self.connection.channel()
        self.queue = Queue(f"test-watch-{uuid.uuid4().hex}",
                           exchange=Exchange(EVENTS_EXCHANGE, type="topic", durable=True),
                           routing_key="#", exclusive=True, auto_delete=True,
                           channel=self.channel)
        self.queue.declare()
        self.seen: list[Any] = []

    def drain(self) -> list[Any]:
        got = []
        while (message := self.queue.get(no_ack=True)) is not None:
            got.append(message)
        self.seen += got
        return got

    def routing_keys(self) -> list[str]:
        return [m.delivery_info["routing_key"] for m in self.seen]

    def wait_for(self, routing_key: str, count: int = 1) -> None:
        try:
            eventually(lambda: self.drain() is not None
                       and self.routing_keys().count(routing_key) >= count,
                       f"{count} x {routing_key} published")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; saw {self.routing_keys()}") from None

    def quiesce(self, quiet_seconds: float = 0.4) -> None:
        """Wait until nothing more arrives, then forget what was seen."""
        deadline = time.monotonic() + WAIT_SECONDS
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet_seconds:
            if self.drain():
                quiet_since = time.monotonic()
            assert time.monotonic() < deadline, "the events exchange never went quiet"
            time.sleep(0.1)
        self.seen = []

    def close(self) -> None:
        self.connection.release()


def eventually(probe: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def start(amqp_uri, container_factory, free_port, tmp_path, monkeypatch):
    """Starts a service class in a nameko container on the test's vhost, its event
    store a fresh SQLite file under tmp_path; returns its HTTP address."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for name in ("", "INTAKE_", "INVESTIGATION_", "RESOLUTION_", "REPORTING_"):
        monkeypatch.delenv(f"{name}PERSISTENCE_MODULE", raising=False)
        monkeypatch.delenv(f"{name}SQLITE_DBNAME", raising=False)

    def start_service(service_cls: type) -> Service:
        port = free_port()
        container = container_factory(service_cls, {
            "AMQP_URI": amqp_uri, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"})
        container.start()
        service = Service(f"http://127.0.0.1:{port}")
        eventually(lambda: service.get("/health").status_code == 200, "/health")
        return service

    return start_service


@pytest.fixture
def published(amqp_uri):
    watcher = Published(amqp_uri)
    yield watcher
    watcher.close()


class Unchanged:
    """Asserts the rejected requests made inside it stored and published nothing."""

    def __init__(self, published: Published, *services: Service):
        self.published = published
        self.services = services

    def __enter__(self) -> Unchanged:
        self.published.quiesce()
        self.before = [s.position() for s in self.services]
        return self

    def __exit__(self, exc_type, *_: Any) -> None:
        if exc_type is not None:
            return
        time.sleep(SETTLE_SECONDS)
        assert [s.position() for s in self.services] == self.before, "a rejection stored"
        assert self.published.drain() == [], (
            f"a rejection published {self.published.routing_keys()}")


def rejected(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, (response.request.method, response.request.url,
                                            response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    return response.json()


def invalid(response: requests.Response, field: str) -> dict:
    body = rejected(response, 422)
    fields = [f["field"] for f in body.get("fields") or []]
    assert field in fields, (response.request.url, field, body)
    return body


def conflict(response: requests.Response, state: str, allowed: list[str]) -> dict:
    body = rejected(response, 409)
    assert body["state"] == state, body
    assert body["allowed_actions"] == allowed, body
    return body


def receive(intake: Service, body: dict | None = None) -> str:
    response = intake.post("/complaints", body or complaint())
    assert response.status_code == 201, response.text
    return response.json()["complaint_id"]


# --- /health and /openapi.json ---------------------------------------------------


def assert_valid_openapi_3_1(doc: dict) -> None:
    assert doc["openapi"].startswith("3.1."), doc["openapi"]
    assert isinstance(doc["info"]["title"], str) and doc["info"]["title"]
    assert isinstance(doc["info"]["version"], str)
    schemas = doc.get("components", {}).get("schemas", {})
    assert all(isinstance(s, dict) for s in schemas.values())

    def refs(node: Any):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/"), f"$ref {ref} points outside components"
        assert ref.removeprefix("#/components/schemas/") in schemas, f"dangling {ref}"

    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/"), path
        templated = set(path.replace("}", "{").split("{")[1::2])
        for method, operation in item.items():
            assert method in {"get", "put", "post", "delete", "patch", "head", "options",
                              "trace"}, method
            operation_ids.append(operation["operationId"])
            assert operation["responses"], (method, path)
            assert all(code.isdigit() and len(code) == 3 for code in operation["responses"])
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == templated, (method, path, declared)
            for parameter in operation.get("parameters", []):
                assert parameter["in"] in {"path", "query", "header", "cookie"}
                assert "schema" in parameter
                if parameter["in"] == "path":
                    assert parameter["required"] is True
            if "requestBody" in operation:
                assert "application/json" in operation["requestBody"]["content"]
                assert "422" in operation["responses"], (method, path)
    assert len(operation_ids) == len(set(operation_ids)), operation_ids


def check_health_and_openapi(service: Service, service_cls: type) -> None:
    health = service.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "service": service_cls.name, "position": 0}

    response = service.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert_valid_openapi_3_1(doc)
    routes = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert ROUTES[service_cls] | {("get", "/health"), ("get", "/openapi.json")} <= routes
    for method, path in ROUTES[service_cls]:
        operation = doc["paths"][path][method]
        if "{complaint_id}" in path:
            assert "404" in operation["responses"], (method, path)
        if method == "post":
            assert {"401", "409", "422"} <= set(operation["responses"]), (method, path)
            assert "requestBody" in operation, (method, path)
        assert operation["security"] == [{"bearerAuth": []}], (method, path)
        assert {"401", "403"} <= set(operation["responses"]), (method, path)
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path in ("/health", "/openapi.json"):
        assert doc["paths"][path]["get"]["security"] == [], path


def test_every_service_serves_health_and_a_valid_openapi_3_1_document_of_its_routes(start):
    problems = {}
    for service_cls in ROUTES:
        service = start(service_cls)
        try:
            check_health_and_openapi(service, service_cls)
        except AssertionError as exc:
            problems[service_cls.name] = str(exc)
    assert not problems, problems


# --- intake ------------------------------------------------------------------------


def test_a_received_complaint_is_stored_and_published_without_personal_data(
        start, published):
    intake = start(IntakeService)
    reporting = start(ReportingService)

    created = intake.post("/complaints", complaint())
    assert created.status_code == 201, created.text
    complaint_id = created.json()["complaint_id"]
    assert intake.position() == 5  # received, classified, acknowledged, SLA schedule, met
    view = intake.get(f"/complaints/{complaint_id}").json()
    assert view["customer"]["email"] == EMAIL  # intake itself keeps it

    for key in ("intake.complaint.received", "intake.complaint.classified",
                "intake.complaint.acknowledged"):
        published.wait_for(key)
    for message in published.seen:
        body = message.body.decode() if isinstance(message.body, bytes) else message.body
        assert json.loads(body)["complaint_id"] == complaint_id
        for personal in (NAME, "Xiaoming", PHONE, PHONE_E164, "13800138000", EMAIL):
            assert personal not in body, (personal, message.delivery_info["routing_key"])

    trail = eventually(lambda: (r := reporting.get(f"/complaints/{complaint_id}/audit"))
                       .status_code == 200 and len(r.json()["events"]) == 5 and r,
                       "reporting's audit trail of the complaint")
    assert [e["event_type"] for e in trail.json()["events"]] == [
        "complaint.received", "complaint.classified", "complaint.acknowledged",
        "complaint.deadlines_set", "complaint.target_met"]
    stored = json.dumps(trail.json()["events"], ensure_ascii=False)  # reporting's own
    for personal in (NAME, PHONE_E164, "13800138000", EMAIL):
        assert personal not in stored
    # the customer block is asked of intake for the reader (an admin: plain), not stored
    assert trail.json()["customer_view"] == "plain"


def test_intake_rejects_invalid_complaints_with_the_field_named(start, published):
    intake = start(IntakeService)
    customer = {"name": NAME}
    with Unchanged(published, intake):
        missing_text = {"channel": "web", "customer": customer}
        invalid(intake.post("/complaints", missing_text), "body.text")
        invalid(intake.post("/complaints", complaint(text="x" * 5001)), "body.text")
        invalid(intake.post("/complaints", complaint(text="   ")), "body.text")
        invalid(intake.post("/complaints", {**complaint(), "customer": {
            "name": NAME, "email": "not-an-email"}}), "body.customer.email")
        invalid(intake.post("/complaints", {**complaint(), "customer": {
            "name": NAME, "phone": "13800138000"}}), "body.customer.phone")
        invalid(intake.post("/complaints", {**complaint(), "customer": {
            "name": NAME, "phone": "+86 12"}}), "body.customer.phone")
        invalid(intake.post("/complaints", {**complaint(), "customer": {}}),
                "body.customer.name")
        invalid(intake.post("/complaints", {**complaint(), "channel": "carrier_pigeon"}),
                "body.channel")
        invalid(intake.post("/complaints", {**complaint(), "priority": "urgent"}),
                "body.priority")
        invalid(intake.post("/complaints", {**complaint(), "customer": {
            **customer, "vip": True}}), "body.customer.vip")
        invalid(intake.post("/complaints", complaint(happened_at="2026-01-01T10:00:00")),
                "body.happened_at")
        invalid(intake.post("/complaints", complaint(language="fr")), "body.language")
        invalid(intake.post("/complaints", {**complaint(), "text": 42}), "body.text")
        invalid(intake.post("/complaints", {**complaint(), "customer": NAME}), "body.customer")
        invalid(intake.post("/complaints", raw=b'{"channel": "web", "text": '), "body")
        invalid(intake.post("/complaints", raw=b"\xff\xfe\x00garbage"), "body")
        invalid(intake.post("/complaints", raw=json.dumps([complaint()]).encode()), "body")
        invalid(intake.post("/complaints", raw=b'"just a string"'), "body")
        invalid(intake.post("/complaints", raw=b"null"), "body")
        invalid(intake.post("/complaints", raw=b"{}"), "body.text")
        invalid(intake.post("/complaints", complaint(text="y" * 70_000)), "body")


def test_deeply_nested_json_is_rejected_as_invalid_not_a_server_error(start, published):
    intake = start(IntakeService)
    with Unchanged(published, intake):
        invalid(intake.post("/complaints", raw=b"[" * 20_000), "body")
        invalid(intake.post("/complaints", raw=b'{"text": ' + b"[" * 20_000), "body")


def test_requests_without_a_usable_token_are_unauthenticated_and_change_nothing(
        start, published):
    """Missing, malformed, expired, wrongly signed, an unknown role, an overlong subject,
    the old actor headers: each 401 naming only the reason, on writes and reads alike."""
    import jwt

    from tests.conftest import TEST_AUTH_SECRET
    from tests.unit.test_auth import bad_tokens

    intake = start(IntakeService)
    complaint_id = receive(intake)
    reclassify = {"severity": "high", "reason": "the customer called the press"}
    overlong = jwt.encode({"sub": "a" * 101, "roles": ["agent"], "exp": time.time() + 60},
                          TEST_AUTH_SECRET, algorithm="HS256")
    cases = [*bad_tokens(), ("malformed", {"Authorization": f"Bearer {overlong}"}),
             ("missing", {"X-Actor-Id": "agent-7", "X-Actor-Role": "agent"})]
    with Unchanged(published, intake):
        for reason, headers in cases:
            for response in (intake.post("/complaints", complaint(), headers=headers),
                             intake.post(f"/complaints/{complaint_id}/reclassify",
                                         reclassify, headers=headers),
                             intake.get(f"/complaints/{complaint_id}", headers=headers)):
                body = rejected(response, 401)
                assert (body["error"], body["reason"]) == ("unauthenticated", reason), body
                assert set(body) == {"error", "reason", "message"}
                assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert intake.get(f"/complaints/{complaint_id}").json()["classification"][
        "severity"] == "normal"


def test_intake_answers_404_for_unknown_or_malformed_complaint_ids(start, published):
    intake = start(IntakeService)
    receive(intake)
    reclassify = {"severity": "high", "reason": "the customer called the press"}
    with Unchanged(published, intake):
        for bad_id in (uuid.uuid4(), "not-a-uuid", "123", "0" * 40):
            rejected(intake.get(f"/complaints/{bad_id}"), 404)
            rejected(intake.post(f"/complaints/{bad_id}/reclassify", reclassify), 404)


def test_reclassify_rejects_invalid_or_unchanged_classifications(start, published):
    intake = start(IntakeService)
    complaint_id = receive(intake)
    path = f"/complaints/{complaint_id}/reclassify"
    with Unchanged(published, intake):
        invalid(intake.post(path, {"reason": "no change given"}), "body")
        invalid(intake.post(path, {"severity": "apocalyptic", "reason": "because"}),
                "body.severity")
        invalid(intake.post(path, {"severity": "high"}), "body.reason")
        invalid(intake.post(path, {"severity": "high", "reason": "ok"}), "body.reason")
        invalid(intake.post(path, {"severity": "high", "reason": "because", "x": 1}),
                "body.x")
        invalid(intake.post(path, {"severity": "normal", "type": "complaint",
                                   "reason": "the same again"}), "body")
    changed = intake.post(path, {"severity": "high", "reason": "the customer called the press"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["classification"]["severity"] == "high"


# --- investigation -----------------------------------------------------------------


@pytest.fixture
def opened_case(start, published, tmp_path, monkeypatch):
    """Intake and investigation running, and a case opened for a new complaint, waiting
    in its team's queue (every investigator on the roster is away)."""
    roster = yaml.safe_load((ROOT / "services/investigation/roster.yaml").read_text())
    for team in roster["teams"].values():
        for investigator in team["investigators"]:
            investigator["away"] = True
    (tmp_path / "roster.yaml").write_text(yaml.safe_dump(roster))
    monkeypatch.setenv("ROSTER_FILE", str(tmp_path / "roster.yaml"))
    intake = start(IntakeService)
    investigation = start(InvestigationService)
    complaint_id = receive(intake)
    eventually(lambda: investigation.get(f"/cases/{complaint_id}").status_code == 200,
               "investigation to open the case")
    published.wait_for("investigation.case.opened")
    return intake, investigation, complaint_id


def test_a_case_forbids_findings_and_conclusion_before_assignment(opened_case, published):
    intake, investigation, complaint_id = opened_case
    case = f"/cases/{complaint_id}"
    with Unchanged(published, intake, investigation):
        allowed = ["assign", "escalate", "request_consultation"]
        conflict(investigation.post(f"{case}/findings", {"text": "cctv shows it"},
                                    headers=INVESTIGATOR), "open", allowed)
        conflict(investigation.post(f"{case}/conclude", CONCLUSION, headers=INVESTIGATOR),
                 "open", allowed)
    assert investigation.get(case).json()["status"] == "open"


def test_investigation_rejects_invalid_case_commands_and_queries(opened_case, published):
    intake, investigation, complaint_id = opened_case
    case = f"/cases/{complaint_id}"
    with Unchanged(published, intake, investigation):
        invalid(investigation.post(f"{case}/assign", {}, headers=INVESTIGATOR),
                "body.investigator")
        invalid(investigation.post(f"{case}/assign", {"investigator": "i" * 101},
                                   headers=INVESTIGATOR), "body.investigator")
        invalid(investigation.post(f"{case}/findings", {"kind": "gossip", "text": "t"},
                                   headers=INVESTIGATOR), "body.kind")
        invalid(investigation.post(f"{case}/findings", {"text": "t" * 5001},
                                   headers=INVESTIGATOR), "body.text")
        invalid(investigation.post(f"{case}/conclude", {**CONCLUSION, "root_cause": "fate"},
                                   headers=INVESTIGATOR), "body.root_cause")
        invalid(investigation.post(f"{case}/conclude", {**CONCLUSION, "five_whys": []},
                                   headers=INVESTIGATOR), "body.five_whys")
        invalid(investigation.post(f"{case}/conclude",
                                   {**CONCLUSION, "five_whys": ["why"] * 6},
                                   headers=INVESTIGATOR), "body.five_whys")
        invalid(investigation.post(f"{case}/conclude", {**CONCLUSION, "corrective_actions": [
            {"action": "retrain", "owner": "hr", "due_date": "next week"}]},
            headers=INVESTIGATOR), "body.corrective_actions.0.due_date")
        invalid(investigation.post(f"{case}/assign", raw=b"[1, 2]", headers=INVESTIGATOR),
                "body")
        invalid(investigation.get("/cases", params={"status": "lost"}), "query.status")
        invalid(investigation.get("/cases", params={"owner": "x"}), "query.owner")
        rejected(investigation.post(f"{case}/assign", {"investigator": "inv-3"},
                                    headers=None), 401)
        for bad_id in (uuid.uuid4(), "not-a-uuid"):
            rejected(investigation.get(f"/cases/{bad_id}"), 404)
            rejected(investigation.post(f"/cases/{bad_id}/assign", {"investigator": "inv-3"},
                                        headers=INVESTIGATOR), 404)
    listed = investigation.get("/cases", params={"status": "open"}).json()["cases"]
    assert [c["complaint_id"] for c in listed] == [complaint_id]


# --- resolution --------------------------------------------------------------------


@pytest.fixture
def ready_resolution(start, published):
    """Intake and resolution running; praise needs no investigation, so its
    resolution is ready for a response."""
    intake = start(IntakeService)
    resolution = start(ResolutionService)
    complaint_id = receive(intake, complaint(text=PRAISE))
    eventually(lambda: (r := resolution.get(f"/resolutions/{complaint_id}")).status_code == 200
               and r.json()["status"] == "ready", "resolution to be ready")
    published.wait_for("resolution.resolution.ready")
    return intake, resolution, complaint_id


def test_a_resolution_forbids_decisions_before_any_response(ready_resolution, published):
    intake, resolution, complaint_id = ready_resolution
    path = f"/resolutions/{complaint_id}"
    with Unchanged(published, intake, resolution):
        conflict(resolution.post(f"{path}/accept", {}, headers=RESOLVER), "ready", ["respond"])
        conflict(resolution.post(f"{path}/dispute", {"reason": "too slow"}, headers=RESOLVER),
                 "ready", ["respond"])
        conflict(resolution.post(f"{path}/close", {}, headers=RESOLVER), "ready", ["respond"])
        conflict(resolution.post(f"{path}/follow-up", {"satisfaction": 4, "solved": True},
                                 headers=RESOLVER), "ready", ["respond"])
    assert resolution.get(path).json()["status"] == "ready"


def test_a_complaint_cannot_be_answered_before_its_investigation_concludes(
        start, published):
    intake = start(IntakeService)
    resolution = start(ResolutionService)
    complaint_id = receive(intake)
    path = f"/resolutions/{complaint_id}"
    eventually(lambda: resolution.get(path).status_code == 200, "resolution to open")
    published.wait_for("resolution.resolution.registered")
    with Unchanged(published, intake, resolution):
        conflict(resolution.post(f"{path}/respond", {"outcome": "apology", "message": "sorry"},
                                 headers=RESOLVER), "awaiting_investigation", [])
    assert resolution.get(path).json()["status"] == "awaiting_investigation"


def test_resolution_rejects_invalid_responses_and_follow_ups(ready_resolution, published):
    intake, resolution, complaint_id = ready_resolution
    path = f"/resolutions/{complaint_id}"
    refund = {"outcome": "refund", "message": "refunded", "amount": "12.50", "currency": "CNY"}
    with Unchanged(published, intake, resolution):
        for currency in ("ZZZ", "usd", "US", "DOLLARS"):
            invalid(resolution.post(f"{path}/respond", {**refund, "currency": currency},
                                    headers=RESOLVER), "body.currency")
        for amount in ("-1", "0", "NaN", "Infinity", "1.234", "1e20", "lots"):
            invalid(resolution.post(f"{path}/respond", {**refund, "amount": amount},
                                    headers=RESOLVER), "body.amount")
        invalid(resolution.post(f"{path}/respond", {**refund, "outcome": "bribe"},
                                headers=RESOLVER), "body.outcome")
        invalid(resolution.post(f"{path}/respond", {"outcome": "apology"}, headers=RESOLVER),
                "body.message")
        for no_money in ({"outcome": "monetary_compensation", "message": "m"},
                         {**refund, "currency": None},
                         {"outcome": "apology", "message": "m", "amount": "5",
                          "currency": "CNY"}):
            assert rejected(resolution.post(f"{path}/respond", no_money, headers=RESOLVER),
                            422)["fields"]
        for satisfaction in (6, 0, -1, "very", 10**30):
            invalid(resolution.post(f"{path}/follow-up",
                                    {"satisfaction": satisfaction, "solved": True},
                                    headers=RESOLVER), "body.satisfaction")
        invalid(resolution.post(f"{path}/follow-up", {"satisfaction": 5}, headers=RESOLVER),
                "body.solved")
        invalid(resolution.post(f"{path}/dispute", {}, headers=RESOLVER), "body.reason")
        invalid(resolution.post(f"{path}/accept", {"comment": "c" * 2001}, headers=RESOLVER),
                "body.comment")
        invalid(resolution.post(f"{path}/close", {"reason": "x"}, headers=RESOLVER),
                "body.reason")
        rejected(resolution.post(f"{path}/respond", refund, headers=None), 401)
        for bad_id in (uuid.uuid4(), "not-a-uuid"):
            rejected(resolution.get(f"/resolutions/{bad_id}"), 404)
            rejected(resolution.post(f"/resolutions/{bad_id}/respond", refund,
                                     headers=RESOLVER), 404)
    responded = resolution.post(f"{path}/respond", refund, headers=RESOLVER)
    assert responded.status_code == 200, responded.text
    assert responded.json()["status"] == "responded"


def test_respond_with_monetary_compensation_and_no_amount_names_the_amount_field(
        ready_resolution, published):
    intake, resolution, complaint_id = ready_resolution
    with Unchanged(published, intake, resolution):
        response = resolution.post(f"/resolutions/{complaint_id}/respond",
                                   {"outcome": "monetary_compensation", "message": "m"},
                                   headers=RESOLVER)
        invalid(response, "body.amount")


# --- reporting ---------------------------------------------------------------------


def test_reporting_rejects_bad_summary_periods_and_unknown_complaints(start, published):
    reporting = start(ReportingService)
    with Unchanged(published, reporting):
        for bad in ({"from": "2026-13-01"}, {"from": "yesterday"}, {"from": ""},
                    {"from": "2026-02-30"}):
            invalid(reporting.get("/reports/summary", params=bad), "query.from")
        invalid(reporting.get("/reports/summary", params={"to": "2026/01/31"}), "query.to")
        invalid(reporting.get("/reports/summary", params={"since": "2026-01-01"}),
                "query.since")
        assert rejected(reporting.get("/reports/summary", params={
            "from": "2026-02-01", "to": "2026-01-01"}), 422)["fields"]
        for bad_id in (uuid.uuid4(), "not-a-uuid"):
            rejected(reporting.get(f"/complaints/{bad_id}/audit"), 404)
    for period in ({}, {"from": "2026-01-01", "to": "2026-01-01"},
                   {"from": "0001-01-01", "to": "9999-12-31"}):
        report = reporting.get("/reports/summary", params=period)
        assert report.status_code == 200, report.text
        assert report.json()["total"] == 0


def test_a_summary_period_with_from_after_to_names_a_period_field(start, published):
    reporting = start(ReportingService)
    with Unchanged(published, reporting):
        body = rejected(reporting.get("/reports/summary", params={
            "from": "2026-02-01", "to": "2026-01-01"}), 422)
        fields = {f["field"] for f in body["fields"]}
        assert fields & {"query.from", "query.to"}, body
