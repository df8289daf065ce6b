"""Every route of every service, read from the /openapi.json each running container
serves, called over real HTTP by every role: the permission table's answer holds
(allowed -> neither 401 nor 403; forbidden -> 403). And the RPC entrypoint, called over
a real RabbitMQ, refuses a caller without a service token."""

from __future__ import annotations

import uuid

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy

from servicekit import auth
from servicekit.client import auth_headers
from services.intake.service import IntakeService
from services.investigation.service import InvestigationService
from services.reporting.service import ReportingService
from services.resolution.service import ResolutionService
from tests.integration import test_http_api as harness

pytestmark = pytest.mark.integration
start = harness.start
SERVICES = [IntakeService, InvestigationService, ResolutionService, ReportingService]


def fill(path: str) -> str:
    """A concrete URL for a templated path: unknown ids (nothing is found or changed)."""
    for name in ("complaint_id", "action_id"):
        path = path.replace("{" + name + "}", str(uuid.uuid4()))
    return path.replace("{consultation}", "c1")


def test_every_route_answers_every_role_as_the_permission_table_says(start):
    table = auth.permissions()
    checked, problems = 0, []
    for service_cls in SERVICES:
        service = start(service_cls)
        doc = service.get("/openapi.json", headers=None).json()
        for path, item in doc["paths"].items():
            for method, operation in item.items():
                action = operation["x-action"]
                if not operation["security"]:
                    assert path in ("/health", "/openapi.json"), (path, "is public")
                    continue
                assert table.roles_for(action), f"{action} ({method} {path}) has no role"
                for role in auth.ROLES:
                    headers = auth_headers(f"{role}-1", role)
                    response = service.call(method.upper(), fill(path), body={}
                                            if method == "post" else None, headers=headers)
                    allowed = table.allows(role, action)
                    ok = (response.status_code not in (401, 403) if allowed
                          else response.status_code == 403)
                    if not ok:
                        problems.append((role, method, path, response.status_code,
                                         response.text[:120]))
                    checked += 1
                unauthenticated = service.call(method.upper(), fill(path), headers={})
                if unauthenticated.status_code != 401:
                    problems.append(("no token", method, path, unauthenticated.status_code))
    assert not problems, problems
    print(f"checked {checked} route x role pairs")
    assert checked >= 40 * len(auth.ROLES)


def test_the_notification_log_rpc_needs_a_service_token(start, amqp_uri):
    intake = start(IntakeService)
    harness.receive(intake)
    config = {"AMQP_URI": amqp_uri}

    def call(context: dict | None):
        with ServiceRpcProxy("intake", config, context_data=context, timeout=10) as proxy:
            return proxy.notifications(1, 10)

    with pytest.raises(RemoteError, match="Unauthenticated"):
        call(None)
    with pytest.raises(RemoteError, match="Unauthenticated"):
        call({auth.RPC_TOKEN_KEY: "Bearer forged.token.here"})
    with pytest.raises(RemoteError, match="Denied"):
        call({auth.RPC_TOKEN_KEY: auth_headers("admin-1", "admin")["Authorization"]})
    served = call({auth.RPC_TOKEN_KEY: "Bearer " + auth.service_token("reporting")})
    assert [e["event_type"] for e in served][:2] == ["complaint.received",
                                                     "complaint.classified"]
