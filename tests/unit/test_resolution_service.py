"""Resolution's HTTP entrypoints with nameko.testing's worker_factory on the real
application (in-memory store): statuses, bodies and the OpenAPI document of the
approval, follow-up, backlog and praise endpoints."""

import json
import uuid
from datetime import timedelta

import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder

from servicekit.client import auth_headers
from servicekit.clock import FrozenClock
from servicekit.http import openapi_document
from servicekit.runtime import Runtime
from services.resolution.application import ResolutionApplication
from services.resolution.service import ResolutionService
from tests.unit.test_resolution import T0, Upstream, new_complaint

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
RESOLVER = auth_headers("res-5", "resolver")
SUPERVISOR = auth_headers("sup-1", "supervisor")
QUALITY = auth_headers("qm-1", "quality_manager")


def request(method, path, body=None, headers=None, query=None):
    """A GET without headers reads as the resolver; a POST without them has no token."""
    if headers is None and method == "GET":
        headers = RESOLVER
    data = json.dumps(body) if isinstance(body, dict) else body
    return EnvironBuilder(method=method, path=path, data=data, headers=headers or {},
                          query_string=query, content_type="application/json").get_request()


def answer(response):
    return response.status_code, json.loads(response.get_data())


@pytest.fixture
def clock():
    return FrozenClock(T0 + timedelta(hours=1))


@pytest.fixture
def app(clock):
    return ResolutionApplication(env=POPO, clock=clock)


@pytest.fixture
def service(app):
    return worker_factory(ResolutionService, runtime=Runtime(app, None, {}))


@pytest.fixture
def upstream():
    return Upstream()


LARGE = {"outcome": "refund", "message": "We refund the sofa.", "amount": "4999.00",
         "currency": "CNY"}


def test_a_large_remedy_waits_for_a_supervisor_who_approves_it(service, app, upstream):
    cid = new_complaint(app, upstream)
    status, body = answer(service.respond(request("POST", "/", LARGE, RESOLVER),
                                          complaint_id=str(cid)))
    assert (status, body["status"], body["responses"]) == (200, "awaiting_approval", [])
    assert body["proposal"]["amount"] == "4999.00"  # a string, never a float

    head = app.head()
    status, body = answer(service.approve(request("POST", "/", {}, RESOLVER),
                                          complaint_id=str(cid)))
    assert status == 403
    assert body == {"error": "forbidden",
                    "message": "the resolver role may not resolution.approve "
                               "(allowed: supervisor)"}
    assert app.head() == head

    status, body = answer(service.approve(request("POST", "/", {"note": "ok"}, SUPERVISOR),
                                          complaint_id=str(cid)))
    assert (status, body["status"]) == (200, "responded")
    assert body["responses"][0]["amount"] == "4999.00"

    status, body = answer(service.approve(request("POST", "/", {}, SUPERVISOR),
                                          complaint_id=str(cid)))
    assert (status, body["state"], body["allowed_actions"]) == (
        409, "responded", ["accept", "close", "dispute"])


def test_a_rejection_needs_a_reason(service, app, upstream):
    cid = new_complaint(app, upstream)
    service.respond(request("POST", "/", LARGE, RESOLVER), complaint_id=str(cid))
    status, body = answer(service.reject(request("POST", "/", {}, SUPERVISOR),
                                         complaint_id=str(cid)))
    assert (status, [f["field"] for f in body["fields"]]) == (422, ["body.reason"])
    status, body = answer(service.reject(request("POST", "/", {"reason": "too much"},
                                                 SUPERVISOR), complaint_id=str(cid)))
    assert (status, body["status"], body["proposal"]["status"]) == (200, "ready", "rejected")
    status, _ = answer(service.reject(request("POST", "/", {"reason": "x" * 5}, SUPERVISOR),
                                      complaint_id=str(uuid.uuid4())))
    assert status == 404


def test_follow_ups_are_listed_and_filtered_by_overdue(service, app, upstream, clock):
    cid = new_complaint(app, upstream, type_="inquiry")
    service.respond(request("POST", "/", {"outcome": "explanation", "message": "9 to 5"},
                            RESOLVER), complaint_id=str(cid))
    status, body = answer(service.list_follow_ups(request("GET", "/follow-ups")))
    assert status == 200
    assert [(f["complaint_id"], f["overdue"]) for f in body["follow_ups"]] == [(str(cid), False)]
    clock.advance(days=4)
    _, body = answer(service.list_follow_ups(request("GET", "/", query={"overdue": "true"})))
    assert [f["complaint_id"] for f in body["follow_ups"]] == [str(cid)]
    _, body = answer(service.list_follow_ups(request("GET", "/", query={"overdue": "false"})))
    assert body["follow_ups"] == []
    status, body = answer(service.list_follow_ups(request("GET", "/",
                                                          query={"overdue": "maybe"})))
    assert (status, [f["field"] for f in body["fields"]]) == (422, ["query.overdue"])
    status, _ = answer(service.list_follow_ups(request("GET", "/", query={"late": "1"})))
    assert status == 422


def test_the_backlog_is_listed_and_its_status_changed(service, app, upstream):
    cid = new_complaint(app, upstream, type_="suggestion", text="Add a kids' menu")
    status, body = answer(service.list_backlog(request("GET", "/", query={"status": "new"})))
    assert status == 200
    assert [(i["complaint_id"], i["text"], i["status"]) for i in body["items"]] == [
        (str(cid), "Add a kids' menu", "new")]
    status, body = answer(service.update_backlog_item(
        request("POST", "/", {"status": "planned", "note": "spring"}, SUPERVISOR),
        complaint_id=str(cid)))
    assert (status, body["status"], body["history"][-1]["by"]) == (200, "planned", "sup-1")
    status, body = answer(service.get_backlog_item(request("GET", "/"),
                                                   complaint_id=str(cid)))
    assert (status, body["status"]) == (200, "planned")
    status, body = answer(service.update_backlog_item(
        request("POST", "/", {"status": "new"}, SUPERVISOR), complaint_id=str(cid)))
    assert (status, body["state"], body["allowed_actions"]) == (
        409, "planned", ["mark_declined", "mark_done"])
    status, body = answer(service.update_backlog_item(
        request("POST", "/", {"status": "someday"}, SUPERVISOR), complaint_id=str(cid)))
    assert (status, [f["field"] for f in body["fields"]]) == (422, ["body.status"])
    status, _ = answer(service.list_backlog(request("GET", "/", query={"status": "x"})))
    assert status == 422
    status, _ = answer(service.update_backlog_item(
        request("POST", "/", {"status": "done"}, SUPERVISOR), complaint_id=str(uuid.uuid4())))
    assert status == 404
    status, _ = answer(service.update_backlog_item(
        request("POST", "/", {"status": "done"}), complaint_id=str(cid)))
    assert status == 401
    status, body = answer(service.update_backlog_item(  # quality managers only read it
        request("POST", "/", {"status": "done"}, QUALITY), complaint_id=str(cid)))
    assert (status, body["error"]) == (403, "forbidden")


def test_praise_is_listed_with_counts_per_staff_member(service, app, upstream):
    cid = new_complaint(app, upstream, type_="praise", staff_member="Wang Fang")
    status, body = answer(service.list_praise(request("GET", "/praise")))
    assert status == 200
    assert [p["complaint_id"] for p in body["praise"]] == [str(cid)]
    assert body["by_staff_member"] == {"Wang Fang": 1}
    _, body = answer(service.list_praise(request("GET", "/", query={"staff_member": "Li"})))
    assert body == {"praise": [], "by_staff_member": {}}
    status, _ = answer(service.list_praise(request("GET", "/",
                                                   query={"staff_member": "x" * 101})))
    assert status == 422


def test_the_openapi_document_names_every_resolution_operation_once():
    doc = openapi_document(ResolutionService, "resolution")
    operations = {(method, path): op["operationId"] for path, item in doc["paths"].items()
                  for method, op in item.items()}
    assert {
        ("post", "/resolutions/{complaint_id}/approve"): "approve_remedy",
        ("post", "/resolutions/{complaint_id}/reject"): "reject_remedy",
        ("get", "/follow-ups"): "list_follow_ups",
        ("get", "/backlog"): "list_backlog",
        ("get", "/backlog/{complaint_id}"): "get_backlog_item",
        ("post", "/backlog/{complaint_id}/status"): "update_backlog_item",
        ("get", "/praise"): "list_praise",
    }.items() <= operations.items()
    assert len(set(operations.values())) == len(operations)
    follow_ups = doc["paths"]["/follow-ups"]["get"]
    assert [p["name"] for p in follow_ups["parameters"] if p["in"] == "query"] == ["overdue"]
    assert "ApproveRemedy" in doc["components"]["schemas"]
