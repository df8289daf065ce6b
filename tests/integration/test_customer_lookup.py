"""servicekit.customers: downstream services ask intake for the customer a reader may
see, over RPC on a real RabbitMQ vhost with real nameko containers. Intake decides by
role (servicekit.pii.shown); the caller says whether the reader is the assignee. Intake
that is slow, absent or failing never fails the view: the customer is `unavailable`."""

from __future__ import annotations

import logging
import uuid

import eventlet
import pytest
from nameko.rpc import rpc

from contracts.envelope import Actor
from servicekit.client import auth_headers
from servicekit.customers import CustomerLookup
from services.intake.service import IntakeService
from services.investigation.service import InvestigationService
from tests.integration import test_http_api as harness
from tests.integration.test_http_api import (
    EMAIL,
    NAME,
    PHONE_E164,
    READER,
    Service,
    complaint,
    eventually,
    receive,
)

pytestmark = pytest.mark.integration
start = harness.start  # real containers on the test's own vhost, each its own SQLite file

MASKED_EMAIL = "w***@example.com"


def actor(sub: str, role: str) -> Actor:
    return Actor(id=sub, role=role)


@pytest.fixture
def lookup(amqp_uri):
    made = CustomerLookup({"AMQP_URI": amqp_uri}, caller="investigation", timeout=5.0)
    yield made
    made.close()


def test_intake_shows_the_customer_by_role_and_assignment(start, lookup):
    intake = start(IntakeService)
    cid = receive(intake, complaint())

    plain = lookup(cid, actor("inv-3", "investigator"), assigned=True)
    assert plain == {"customer": {"name": NAME, "phone": PHONE_E164, "email": EMAIL},
                     "customer_view": "plain"}
    for reader, assigned in ((actor("inv-3", "investigator"), False),
                             (actor("sup-cs", "supervisor"), True),  # the rule ignores it
                             (actor("qm-1", "quality_manager"), False),
                             (actor("res-5", "resolver"), False)):
        shown = lookup(cid, reader, assigned=assigned)
        assert shown["customer_view"] == "masked", (reader, shown)
        assert shown["customer"]["email"] == MASKED_EMAIL
        assert NAME.split()[0] not in shown["customer"]["name"]
    assert lookup(cid, actor("res-5", "resolver"), assigned=True)["customer_view"] == "plain"
    assert lookup(cid, actor("dpo-1", "privacy_officer"))["customer_view"] == "plain"
    assert lookup(cid, None)["customer_view"] == "masked"  # an unidentified reader

    # Intake answers an unknown complaint with an error: the view goes on without it.
    assert lookup(uuid.uuid4(), actor("qm-1", "quality_manager")) == {
        "customer": {}, "customer_view": "unavailable"}

    # More readers at once than proxies in the pool: each proxy serves one at a time.
    pile = eventlet.GreenPile(16)
    for n in range(16):
        pile.spawn(lookup, cid, actor(f"inv-{n}", "investigator"), n % 2 == 0)
    views = [shown["customer_view"] for shown in pile]
    assert views == ["plain", "masked"] * 8


def test_the_reply_is_not_logged_even_at_debug(start, lookup, caplog):
    intake = start(IntakeService)
    cid = receive(intake, complaint())
    caplog.set_level(logging.DEBUG)
    assert lookup(cid, actor("inv-3", "investigator"), assigned=True)["customer"]["name"] \
        == NAME
    assert "RPC reply event complete" in caplog.text  # nameko did log the reply...
    assert "(reply body not logged)" in caplog.text  # ...without its body
    for value in (NAME, EMAIL, PHONE_E164):
        assert value not in caplog.text


def test_no_intake_running_shows_the_customer_as_unavailable(amqp_uri, lookup):
    assert lookup(uuid.uuid4(), actor("qm-1", "quality_manager")) == {
        "customer": {}, "customer_view": "unavailable"}


class SlowIntake:
    """Stands in for intake: answers `customer` only once the test releases it."""

    name = "intake"
    release = eventlet.event.Event()
    calls: list[str] = []
    answered: list[str] = []

    @rpc
    def customer(self, complaint_id, role, assigned=False, sub=None):
        SlowIntake.calls.append(complaint_id)
        SlowIntake.release.wait()
        SlowIntake.answered.append(complaint_id)
        return {"complaint_id": complaint_id, "customer": {"name": "Z*"}, "view": "masked"}


def test_a_slow_intake_is_given_up_on_and_the_next_lookup_works(container_factory,
                                                                 amqp_uri):
    SlowIntake.release = eventlet.event.Event()
    SlowIntake.calls, SlowIntake.answered = [], []
    container = container_factory(SlowIntake, {"AMQP_URI": amqp_uri})
    container.start()
    lookup = CustomerLookup({"AMQP_URI": amqp_uri}, caller="reporting", timeout=0.5,
                            size=1)
    try:
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        shown = lookup(first, actor("qm-1", "quality_manager"))
        # Given up on while intake was still working on it: the reply was not awaited.
        assert shown == {"customer": {}, "customer_view": "unavailable"}
        assert SlowIntake.calls == [first] and SlowIntake.answered == []

        # The interrupted proxy was dropped; once intake answers again, the pool serves
        # the next reader from a fresh one.
        SlowIntake.release.send()
        eventually(lambda: SlowIntake.answered == [first], "the slow call to finish")
        assert lookup(second, actor("qm-1", "quality_manager")) == {
            "customer": {"name": "Z*"}, "customer_view": "masked"}
        assert SlowIntake.answered == [first, second]
    finally:
        lookup.close()


def test_the_slots_are_bounded_by_the_timeout_too(container_factory, amqp_uri):
    """With the only proxy stuck on a slow call, a second reader does not queue behind
    it for longer than its own timeout: both come back `unavailable`."""
    SlowIntake.release = eventlet.event.Event()
    SlowIntake.calls, SlowIntake.answered = [], []
    container = container_factory(SlowIntake, {"AMQP_URI": amqp_uri})
    container.start()
    lookup = CustomerLookup({"AMQP_URI": amqp_uri}, caller="reporting", timeout=0.5,
                            size=1)
    try:
        readers = [eventlet.spawn(lookup, str(uuid.uuid4()), actor("qm-1", "quality_manager"))
                   for _ in range(2)]
        assert [r.wait() for r in readers] == [
            {"customer": {}, "customer_view": "unavailable"}] * 2
        assert len(SlowIntake.calls) == 1 and SlowIntake.answered == []  # never reached
    finally:
        SlowIntake.release.send()
        lookup.close()


def test_the_case_view_shows_the_customer_and_survives_intake_going_away(
        container_factory, amqp_uri, free_port, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for prefix in ("", "INTAKE_", "INVESTIGATION_"):
        monkeypatch.delenv(f"{prefix}PERSISTENCE_MODULE", raising=False)
        monkeypatch.delenv(f"{prefix}SQLITE_DBNAME", raising=False)

    def launch(service_cls):
        port = free_port()
        container = container_factory(service_cls, {
            "AMQP_URI": amqp_uri, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"})
        container.start()
        service = Service(f"http://127.0.0.1:{port}")
        eventually(lambda: service.get("/health").status_code == 200, "/health")
        return container, service

    intake_container, intake = launch(IntakeService)
    _, investigation = launch(InvestigationService)
    cid = receive(intake, complaint())
    case = eventually(lambda: (r := investigation.get(f"/cases/{cid}")).status_code == 200
                      and r.json()["investigator"] and r.json(), "the case to be assigned")
    assignee = auth_headers(case["investigator"], "investigator")
    mine = investigation.get(f"/cases/{cid}", headers=assignee).json()
    assert (mine["customer_view"], mine["customer"]["email"]) == ("plain", EMAIL)
    admin = investigation.get(f"/cases/{cid}", headers=READER).json()
    assert (admin["customer_view"], admin["customer"]["email"]) == ("plain", EMAIL)
    quality = investigation.get(f"/cases/{cid}", headers=auth_headers(
        "qm-1", "quality_manager")).json()
    assert (quality["customer_view"], quality["customer"]["email"]) == ("masked",
                                                                        MASKED_EMAIL)
    listed = investigation.get("/cases", headers=READER).json()["cases"]
    assert [c["complaint_id"] for c in listed] == [cid]
    assert "customer" not in listed[0]  # lists carry no customer (no RPC per row)

    intake_container.stop()
    gone = investigation.get(f"/cases/{cid}", headers=assignee)
    assert gone.status_code == 200, gone.text
    assert (gone.json()["customer"], gone.json()["customer_view"]) == ({}, "unavailable")
    assert gone.json()["investigator"] == case["investigator"]
