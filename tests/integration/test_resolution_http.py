"""Resolution's approval, backlog, praise, inquiry and follow-up endpoints in real nameko
containers (intake feeding resolution over a real RabbitMQ vhost), over real HTTP.
Rejected requests store and publish nothing."""

from __future__ import annotations

import pytest

from servicekit.client import auth_headers
from services.intake.service import IntakeService
from services.resolution.service import ResolutionService
from tests.integration import test_http_api as harness
from tests.integration.test_http_api import (
    RESOLVER,
    Unchanged,
    complaint,
    conflict,
    eventually,
    invalid,
    receive,
    rejected,
)

pytestmark = pytest.mark.integration
start = harness.start  # the fixtures: real containers on the test's own vhost
published = harness.published

SUPERVISOR = auth_headers("sup-2", "supervisor")
QUALITY = auth_headers("qm-1", "quality_manager")


@pytest.fixture
def services(start):
    return start(IntakeService), start(ResolutionService)


def ready(resolution, complaint_id: str) -> None:
    eventually(lambda: (r := resolution.get(f"/resolutions/{complaint_id}")).status_code == 200
               and r.json()["status"] == "ready", "the resolution to be ready")


def test_praise_is_recorded_and_a_large_remedy_waits_for_a_supervisor(services, published):
    intake, resolution = services
    cid = receive(intake, complaint("Thank you, excellent service from Wang Fang.",
                                    staff_member="Wang Fang"))
    ready(resolution, cid)
    praise = eventually(lambda: (r := resolution.get("/praise", params={
        "staff_member": "wang fang"}).json())["praise"] and r, "the praise to be recorded")
    assert [p["complaint_id"] for p in praise["praise"]] == [cid]
    assert praise["by_staff_member"] == {"Wang Fang": 1}

    path = f"/resolutions/{cid}"
    large = {"outcome": "monetary_compensation", "message": "A gift for your loyalty",
             "amount": "1000.01", "currency": "CNY"}
    proposed = resolution.post(f"{path}/respond", large, headers=RESOLVER)
    assert proposed.status_code == 200, proposed.text
    assert (proposed.json()["status"], proposed.json()["responses"]) == ("awaiting_approval",
                                                                         [])
    published.wait_for("resolution.resolution.remedy_proposed")
    with Unchanged(published, intake, resolution):
        body = rejected(resolution.post(f"{path}/approve", {}, headers=RESOLVER), 403)
        assert body["message"] == ("the resolver role may not resolution.approve "
                                   "(allowed: supervisor)")
        invalid(resolution.post(f"{path}/reject", {"reason": "no"}, headers=SUPERVISOR),
                "body.reason")
        conflict(resolution.post(f"{path}/accept", {}, headers=RESOLVER), "awaiting_approval",
                 ["approve", "reject"])
    approved = resolution.post(f"{path}/approve", {"note": "fine"}, headers=SUPERVISOR)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "responded"
    assert approved.json()["responses"][0]["amount"] == "1000.01"
    published.wait_for("resolution.resolution.responded")
    own = [key for key in published.routing_keys() if key.startswith("resolution.")]
    assert own[-2:] == ["resolution.resolution.remedy_approved",
                        "resolution.resolution.responded"]


def test_a_suggestion_is_on_the_backlog_and_changes_status(services, published):
    intake, resolution = services
    cid = receive(intake, complaint("I suggest you add a children's menu.", product="menu"))
    item = eventually(lambda: resolution.get("/backlog", params={"status": "new"}
                                             ).json()["items"], "the backlog item")
    assert [(i["complaint_id"], i["product"], i["status"]) for i in item] == [
        (cid, "menu", "new")]
    path = f"/backlog/{cid}/status"
    planned = resolution.post(path, {"status": "planned", "note": "spring menu"},
                              headers=SUPERVISOR)
    assert (planned.status_code, planned.json()["status"]) == (200, "planned")
    published.wait_for("resolution.backlog.status_changed")
    with Unchanged(published, intake, resolution):
        conflict(resolution.post(path, {"status": "new"}, headers=SUPERVISOR), "planned",
                 ["mark_declined", "mark_done"])
        invalid(resolution.post(path, {"status": "someday"}, headers=SUPERVISOR), "body.status")
        rejected(resolution.post(path, {"status": "done"}, headers=QUALITY), 403)  # reads only
        invalid(resolution.get("/backlog", params={"status": "someday"}), "query.status")
        rejected(resolution.post("/backlog/not-a-uuid/status", {"status": "done"},
                                 headers=SUPERVISOR), 404)
    assert resolution.get(f"/backlog/{cid}").json()["status"] == "planned"


def test_an_inquiry_is_closed_when_answered_and_a_bad_follow_up_reopens_it(services,
                                                                            published):
    intake, resolution = services
    cid = receive(intake, complaint("请问你们几点开门？"))
    ready(resolution, cid)
    path = f"/resolutions/{cid}"
    answered = resolution.post(f"{path}/respond", {"outcome": "explanation",
                                                   "message": "我们早上九点开门。"},
                               headers=RESOLVER)
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "closed"
    due = answered.json()["follow_up_due"]
    follow_ups = resolution.get("/follow-ups", params={"overdue": "false"}).json()["follow_ups"]
    assert [(f["complaint_id"], f["due"], f["overdue"]) for f in follow_ups] == [
        (cid, due, False)]
    assert resolution.get("/follow-ups", params={"overdue": "true"}).json()["follow_ups"] == []
    published.wait_for("resolution.resolution.closed")
    with Unchanged(published, intake, resolution):
        conflict(resolution.post(f"{path}/close", {}, headers=RESOLVER), "closed",
                 ["follow_up"])
        invalid(resolution.get("/follow-ups", params={"overdue": "maybe"}), "query.overdue")
    reopened = resolution.post(f"{path}/follow-up", {"satisfaction": 2, "solved": False,
                                                      "comment": "still unsure"},
                               headers=RESOLVER)
    assert reopened.status_code == 200, reopened.text
    assert (reopened.json()["status"], reopened.json()["reopen_count"]) == ("ready", 1)
    published.wait_for("resolution.resolution.reopened")
    assert resolution.get("/follow-ups").json()["follow_ups"] == []
