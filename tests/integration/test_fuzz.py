"""Fuzzing every operation of every service's own /openapi.json with schemathesis.

The four services run in real nameko containers on a fresh RabbitMQ vhost, each on its
own SQLite store, so events flow between them as in production. A few complaints are
seeded first (a case under investigation with a consultation, a concluded case with
corrective actions, a suggestion, a praise) and their real ids are offered to the
generator next to random UUIDs, so deeper code runs, not just 404s.

Each operation gets EXAMPLES generated requests, positive (fitting the schema) and
negative (breaking it) mixed, from a derandomized Hypothesis run (repeatable in CI).
The caller's identity rotates: every other request as one of the roles the permission
table allows the action, the others round-robin over all seven HTTP roles. Every
response must pass schemathesis' checks: no 5xx, a documented status, the documented
content type and schema, and negative data rejected. Every failing example is collected
(not shrunk) and reported together; the figures are printed."""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from servicekit.client import auth_headers
from services.intake.service import IntakeService
from services.investigation.service import InvestigationService
from services.reporting.service import ReportingService
from services.resolution.service import ResolutionService

pytestmark = pytest.mark.integration

EXAMPLES = 200  # per operation
ROLES = ["agent", "investigator", "resolver", "supervisor", "quality_manager",
         "privacy_officer", "admin"]
# Who acts in each role: ids the roster knows, so row-level rules let real work through.
SUBJECTS = {"agent": "agent-7", "investigator": "inv-1", "resolver": "res-5",
            "supervisor": "sup-cs", "quality_manager": "qm-1", "privacy_officer": "dpo-1",
            "admin": "admin-1"}
SERVICES = [IntakeService, InvestigationService, ResolutionService, ReportingService]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]
TEST_SECRET = "a-test-only-signing-key-of-more-than-32-bytes"
WAIT_SECONDS = 30.0


def eventually(probe, what: str, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


class Api:
    def __init__(self, url: str, session: requests.Session):
        self.url, self.session = url, session

    def call(self, method: str, path: str, role: str = "admin", body: Any = None,
             **params: Any) -> requests.Response:
        return self.session.request(method, self.url + path, json=body, params=params,
                                    headers=auth_headers(SUBJECTS[role], role), timeout=10)


@pytest.fixture
def start(amqp_uri, container_factory, free_port, tmp_path, monkeypatch):
    """Starts services in nameko containers on the test's vhost, each on its own SQLite
    store; returns {service name: Api}."""
    monkeypatch.setenv("AUTH_SECRET", os.environ.get("AUTH_SECRET") or TEST_SECRET)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for prefix in ("", "INTAKE_", "INVESTIGATION_", "RESOLUTION_", "REPORTING_"):
        monkeypatch.delenv(f"{prefix}PERSISTENCE_MODULE", raising=False)
        monkeypatch.delenv(f"{prefix}SQLITE_DBNAME", raising=False)
    session = requests.Session()

    def start_services(*service_classes: type) -> dict[str, Api]:
        apis = {}
        for service_cls in service_classes:
            port = free_port()
            container_factory(service_cls, {"AMQP_URI": amqp_uri,
                                             "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"}).start()
            api = Api(f"http://127.0.0.1:{port}", session)
            eventually(lambda api=api: api.session.get(api.url + "/health").ok,
                       f"{service_cls.name} /health")
            apis[service_cls.name] = api
        return apis

    yield start_services
    session.close()


def seed(apis: dict[str, Api]) -> dict[str, list[str]]:
    """Real ids for the path parameters: complaints in several states, corrective
    actions, a consultation."""
    intake, investigation = apis["intake"], apis["investigation"]

    def receive(text: str, **extra: Any) -> str:
        response = intake.call("POST", "/complaints", "agent", {
            "channel": "web", "customer": {"name": "Fuzz Seed"}, "text": text, **extra})
        assert response.status_code == 201, response.text
        return response.json()["complaint_id"]

    working = receive("The staff at the counter were rude to me.")
    concluded = receive("I was overcharged twice on my bill this month.")
    suggestion = receive("I suggest you open earlier on Sundays.")
    praise = receive("Thank you, excellent service from Li Na at the Xuhui branch.",
                     staff_member="Li Na")
    for complaint_id in (working, concluded):
        eventually(lambda c=complaint_id: investigation.call("GET", f"/cases/{c}").ok,
                   f"investigation opening the case of {complaint_id}")
    asked = investigation.call("POST", f"/cases/{working}/consultations", body={
        "department": "legal", "question": "Is this a reportable incident?"})
    assert asked.ok, asked.text
    done = investigation.call("POST", f"/cases/{concluded}/conclude", body={
        "root_cause": "process", "five_whys": ["the bill ran twice"],
        "responsible_department": "Billing", "summary": "double charge",
        "corrective_actions": [
            {"action": "deduplicate billing runs", "owner": "fin-lead",
             "due_date": "2030-01-31"},
            {"action": "alert on double charges", "owner": "fin-lead",
             "due_date": "2020-01-31"}]})
    assert done.ok, done.text
    actions = investigation.call("GET", "/corrective-actions").json()["actions"]
    eventually(lambda: apis["resolution"].call("GET", f"/resolutions/{concluded}").json()
               .get("status") == "ready", "resolution ready to respond")
    assigned = investigation.call("GET", f"/cases/{working}").json()["investigator"]
    if assigned:
        SUBJECTS["investigator"] = assigned
    return {"complaint_id": [working, concluded, suggestion, praise],
            "action_id": [a["action_id"] for a in actions],
            "consultation": ["c1"]}


def allowed_roles(operation) -> list[str]:
    """The roles the permission table gives the operation's action (all roles when the
    document or the table does not say)."""
    action = operation.definition.raw.get("x-action")
    try:
        from servicekit import auth
        roles = [r for r in auth.permissions().roles_for(action) if r in ROLES]
    except (ImportError, AttributeError, TypeError):
        roles = []
    return roles or ROLES


class Fuzzer:
    def __init__(self, session: requests.Session, ids: dict[str, list[str]]):
        self.session = session
        self.ids = ids
        self.seconds = Counter()
        self.examples: Counter[str] = Counter()
        self.statuses: dict[str, Counter[int]] = {}
        self.failures: dict[tuple[str, str], str] = {}

    def run(self, service: str, base_url: str, operation) -> None:
        label = f"{service}: {operation.label}"
        allowed = itertools.cycle(allowed_roles(operation))
        statuses = self.statuses.setdefault(label, Counter())
        anyone = itertools.cycle(ROLES)
        # The identity headers are fixed for the generator (so it neither drops nor mangles
        # them: authentication is not what is fuzzed here) and replaced per request below.
        fixed = auth_headers(SUBJECTS["admin"], "admin")
        strategy = st.one_of(*(operation.as_strategy(generation_mode=mode, headers=fixed)
                               for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)))

        # Suppressed health checks: requests over HTTP make every example "slow" by
        # Hypothesis' measure, and bounded texts (up to 5000 characters) are "large".
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], print_blob=False,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.filter_too_much])
        @given(case=strategy)
        def fuzz(case) -> None:
            self.examples[label] += 1
            n = self.examples[label]
            role = next(allowed) if n % 2 else next(anyone)
            headers = auth_headers(SUBJECTS[role], role)
            if case.meta is not None and case.meta.generation.mode.is_positive and n % 3:
                # two in three valid requests name a real complaint, action, consultation
                for name in list(case.path_parameters or {}):
                    if name in self.ids:
                        case.path_parameters[name] = self.ids[name][n % len(self.ids[name])]
            sent = time.perf_counter()
            response = case.call(base_url=base_url, session=self.session, headers=headers,
                                 timeout=15)
            answered = time.perf_counter()
            self.seconds["requests"] += answered - sent
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup
                failures = getattr(exc, "exceptions", (exc,))
                for failure in failures:
                    key = (label, f"{getattr(failure, 'title', type(failure).__name__)} "
                                  f"{response.status_code}")
                    self.failures.setdefault(key, (
                        f"{failure}\n    as {role}: {case.as_curl_command()}\n"
                        f"    answer: {response.status_code} {response.text[:300]}"))
            finally:
                self.seconds["checks"] += time.perf_counter() - answered

        fuzz()


def test_every_operation_of_every_service_survives_fuzzing(start):
    system = start(*SERVICES)
    started = time.monotonic()
    ids = seed(system)
    seeded = time.monotonic()
    fuzzer = Fuzzer(next(iter(system.values())).session, ids)
    operations = 0
    for name, api in system.items():
        schema = schemathesis.openapi.from_dict(api.session.get(api.url + "/openapi.json").json())
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            fuzzer.run(name, api.url, operation)
    finished = time.monotonic()

    print(f"\nfuzzed {operations} operations of {len(system)} services, "
          f"{sum(fuzzer.examples.values())} examples "
          f"(seeding {seeded - started:.1f} s, fuzzing {finished - seeded:.1f} s: "
          f"{fuzzer.seconds['requests']:.1f} s waiting for answers, "
          f"{fuzzer.seconds['checks']:.1f} s checking them)")
    total: Counter[int] = sum(fuzzer.statuses.values(), Counter())
    print("statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(total.items())))
    for label, count in sorted(fuzzer.examples.items()):
        fewer = " (its inputs allow no more distinct requests)" if count < EXAMPLES else ""
        print(f"  {label}: {count} examples{fewer}; " + ", ".join(
            f"{s}: {n}" for s, n in sorted(fuzzer.statuses[label].items())))
    assert operations == sum(len(_operations(s)) for s in SERVICES), "an operation was missed"
    assert not fuzzer.failures, f"{len(fuzzer.failures)} distinct failures:\n\n" + \
        "\n\n".join(f"{label} [{kind}]\n{text}"
                    for (label, kind), text in sorted(fuzzer.failures.items()))


def _operations(service_cls: type) -> list[Any]:
    from servicekit.http import vars_all
    return vars_all(service_cls)


# --- what the HTTP server refuses before any service code runs ---------------------------


def raw_exchange(url: str, request: bytes) -> bytes:
    """Sends raw bytes (with `Connection: close`), returns the whole answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_oversized_requests_are_refused_with_4xx_and_store_nothing(start):
    intake = start(IntakeService)["intake"]
    agent = auth_headers(SUBJECTS["agent"], "agent")
    body = {"channel": "web", "customer": {"name": "A"}, "text": "rude staff"}

    def position() -> int:
        return intake.session.get(intake.url + "/health").json()["position"]

    # a header line of 8 KiB or more: the server answers 400 (eventlet's limit)
    long_header = intake.session.post(intake.url + "/complaints", json=body,
                                      headers={**agent, "X-Padding": "p" * 9000})
    assert long_header.status_code == 400
    # a request line (URL) of 8 KiB or more: 414
    long_url = intake.session.get(intake.url + "/triage?" + "q" * 9000, headers=agent)
    assert long_url.status_code == 414
    # a declared body over 64 KiB: 422 before a byte of it is read
    head = "".join(f"{k}: {v}\r\n" for k, v in agent.items())
    answer = raw_exchange(intake.url, (
        f"POST /complaints HTTP/1.1\r\nHost: x\r\n{head}Content-Type: application/json\r\n"
        f"Content-Length: {10**9}\r\nConnection: close\r\n\r\n{{").encode())
    assert answer.startswith(b"HTTP/1.1 422") and b"larger than 65536" in answer, answer
    # a chunked body (no Content-Length): 422, not silently read as empty
    answer = raw_exchange(intake.url, (
        f"POST /complaints HTTP/1.1\r\nHost: x\r\n{head}Content-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
        ).encode())
    assert answer.startswith(b"HTTP/1.1 422") and b"not chunked" in answer, answer
    # an actual body over 64 KiB: 422 naming the body
    too_big = intake.session.post(intake.url + "/complaints", headers=agent,
                                  json={**body, "text": "y" * 70_000})
    assert too_big.status_code == 422
    assert too_big.json()["fields"][0]["field"] == "body"
    assert position() == 0
