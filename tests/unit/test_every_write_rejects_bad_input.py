"""Every write endpoint of every service, found from the endpoint metadata (so a new
route is covered without editing this file): an invalid body (unknown field, not an
object, malformed, nested too deep) answers 422 naming a field, a missing or bad token
401 naming the reason — and nothing is stored."""

import json
import uuid

import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder

from servicekit import auth
from servicekit.client import auth_headers
from servicekit.http import vars_all
from servicekit.runtime import Runtime
from services.intake.application import IntakeApplication
from services.intake.service import IntakeService
from services.investigation.application import InvestigationApplication
from services.investigation.service import InvestigationService
from services.resolution.application import ResolutionApplication
from services.resolution.service import ResolutionService

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
# every role a person can hold: the permission table allows each write to one of them
ACTOR = auth_headers("sup-1", [r for r in auth.ROLES if r != auth.SERVICE_ROLE])
SERVICES = [(IntakeService, IntakeApplication), (InvestigationService, InvestigationApplication),
            (ResolutionService, ResolutionApplication)]
WRITES = [(service, app, handler.__name__) for service, app in SERVICES
          for handler in vars_all(service) if handler.endpoint_spec["method"] == "POST"]


def call(service, name, body, headers, **path):
    request = EnvironBuilder(method="POST", path="/", data=body, headers=headers,
                             content_type="application/json").get_request()
    response = getattr(service, name)(request, **path)
    return response.status_code, json.loads(response.get_data())


def path_params(service_cls, name):
    spec = getattr(service_cls, name).endpoint_spec
    params = {}
    if "<complaint_id>" in spec["path"]:
        params["complaint_id"] = str(uuid.uuid4())
    if "<action_id>" in spec["path"]:
        params["action_id"] = str(uuid.uuid4())
    if "<consultation>" in spec["path"]:
        params["consultation"] = "c1"
    return params


def a_service(service_cls, app_cls):
    app = app_cls(env=POPO)
    return worker_factory(service_cls, runtime=Runtime(app, None, {})), app


def test_the_writes_are_found():
    assert len(WRITES) >= 25


@pytest.mark.parametrize(("service_cls", "app_cls", "name"), WRITES,
                         ids=[f"{s.name}.{n}" for s, _, n in WRITES])
def test_an_invalid_body_is_422_naming_the_field_and_stores_nothing(service_cls, app_cls,
                                                                     name):
    service, app = a_service(service_cls, app_cls)
    for body in ('{"unexpected_field": 1}', "[1, 2]", "{not json", '{"a": ' * 40 + "1" +
                 "}" * 40):
        status, answer = call(service, name, body, ACTOR, **path_params(service_cls, name))
        assert status == 422, (name, body[:30], answer)
        assert answer["fields"] and all(f["field"] and f["problem"] for f in answer["fields"])
    assert app.head() == 0


@pytest.mark.parametrize(("service_cls", "app_cls", "name"), WRITES,
                         ids=[f"{s.name}.{n}" for s, _, n in WRITES])
def test_a_write_without_a_valid_token_is_401_naming_the_reason_and_stores_nothing(
        service_cls, app_cls, name):
    from tests.unit.test_auth import bad_tokens

    service, app = a_service(service_cls, app_cls)
    for reason, headers in bad_tokens():
        status, answer = call(service, name, "{}", headers, **path_params(service_cls, name))
        assert (status, answer["reason"]) == (401, reason), (name, reason, answer)
        assert set(answer) == {"error", "message", "reason"}
    assert app.head() == 0
