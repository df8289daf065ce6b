"""The four applications wired together by hand (each downstream application reads its
upstreams' notification logs as envelopes), on the in-memory, SQLite and PostgreSQL
stores: one lifecycle gives the same views everywhere, and a reopened application
reads back what the first one wrote."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from contracts import api
from contracts.envelope import Actor
from servicekit.clock import FrozenClock
from servicekit.errors import NotFound
from services.intake.application import IntakeApplication
from services.investigation.application import InvestigationApplication, load_roster
from services.reporting.application import ReportingApplication
from services.resolution.application import ResolutionApplication

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
AGENT = Actor(id="agent-7", role="agent")
SUPERVISOR = Actor(id="sup-1", role="supervisor")
LI = Actor(id="li.na", role="investigator")
RESOLVER = Actor(id="resolver-3", role="resolver")

def env_for(store_env: dict[str, str], service: str) -> dict[str, str]:
    """Each service has its own store, as in production; on SQLite that is its own file
    (SQLite's tables are not prefixed by the application's name)."""
    if store_env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        path = Path(store_env["SQLITE_DBNAME"])
        return {**store_env, "SQLITE_DBNAME": str(path.with_name(f"{service}.sqlite"))}
    return store_env


def nobody_available():
    """The shipped routing table and roster with every investigator away: cases stay in
    their team's queue until someone assigns them (routing has its own tests)."""
    roster = load_roster()
    return replace(roster, away=frozenset(i for team in roster.investigators.values()
                                          for i in team))


class System:
    def __init__(self, store_env: dict[str, str], clock: FrozenClock):
        self.clock = clock
        self.intake = IntakeApplication(env=env_for(store_env, "intake"), clock=clock)
        self.investigation = InvestigationApplication(
            env=env_for(store_env, "investigation"), clock=clock, roster=nobody_available())
        self.resolution = ResolutionApplication(env=env_for(store_env, "resolution"),
                                                clock=clock)
        self.reporting = ReportingApplication(env=env_for(store_env, "reporting"), clock=clock)
        self.apps = [self.intake, self.investigation, self.resolution, self.reporting]
        self.subscriptions = [
            (self.investigation, self.intake), (self.investigation, self.resolution),
            (self.resolution, self.intake), (self.resolution, self.investigation),
            (self.reporting, self.intake), (self.reporting, self.investigation),
            (self.reporting, self.resolution),
        ]

    def pump(self) -> int:
        """Deliver every upstream notification not yet processed; returns how many."""
        delivered = 0
        moved = True
        while moved:
            moved = False
            for downstream, upstream in self.subscriptions:
                start = downstream.position(upstream.name) + 1
                for envelope in upstream.notifications(start, 50):
                    downstream.process(envelope)
                    delivered += 1
                    moved = True
        return delivered

    def release(self) -> None:
        for app in self.apps:
            app.close()


@pytest.fixture
def systems():
    made: list[System] = []

    def make(store_env: dict[str, str], clock: FrozenClock | None = None) -> System:
        system = System(store_env, clock or FrozenClock(T0))
        made.append(system)
        return system

    yield make
    for system in made:
        system.release()


def run_lifecycle(system: System) -> dict[str, uuid.UUID]:
    """A billing complaint that is escalated, concluded, disputed, reopened, concluded
    again, answered again, accepted, closed and followed up; and an inquiry answered
    and closed without investigation."""
    clock = system.clock
    complaint = system.intake.receive_complaint(api.ReceiveComplaint(
        channel="email", customer={"name": "Zhang Wei", "phone": "+86 138 0013 8000"},
        text="I was overcharged on my invoice", product="Membership card",
        location="Store 12", customer_request="refund the difference"), AGENT).complaint_id
    clock.advance(minutes=5)
    inquiry = system.intake.receive_complaint(api.ReceiveComplaint(
        channel="phone", customer={"name": "Li Lei"}, text="请问怎么办理退货"),
        AGENT).complaint_id
    system.pump()

    clock.advance(minutes=10)
    system.intake.reclassify(complaint, api.Reclassify(
        severity="critical", reason="the customer threatens to sue"), SUPERVISOR)
    system.resolution.respond(inquiry, api.Respond(
        outcome="explanation", message="带上小票到服务台即可办理"), RESOLVER)
    system.pump()

    clock.advance(minutes=20)
    system.investigation.assign(complaint, api.Assign(investigator="li.na"), SUPERVISOR)
    assert system.resolution.get_resolution(inquiry).status == "closed", \
        "an answered inquiry closes at once"
    clock.advance(hours=2)
    system.investigation.record_finding(complaint, api.RecordFinding(
        kind="evidence", text="the till charged the membership fee twice"), LI)
    clock.advance(hours=1)
    system.investigation.conclude(complaint, api.Conclude(
        root_cause="equipment", five_whys=["charged twice", "till software bug"],
        responsible_department="IT", summary="till bug",
        corrective_actions=[{"action": "patch the till", "owner": "it.ops",
                             "due_date": "2026-11-20"}]), LI)
    system.pump()

    clock.advance(hours=1)
    system.resolution.respond(complaint, api.Respond(
        outcome="refund", message="We refund the double charge.", amount=Decimal("120.50"),
        currency="CNY"), RESOLVER)
    clock.advance(hours=3)
    system.resolution.dispute(complaint, api.Dispute(reason="I was also charged a late fee"),
                              RESOLVER)
    system.pump()

    clock.advance(hours=4)
    system.investigation.conclude(complaint, api.Conclude(
        root_cause="equipment", five_whys=["charged twice", "late fee from the same bug"],
        responsible_department="IT", summary="till bug and late fee"), LI)
    system.pump()

    clock.advance(hours=1)
    system.resolution.respond(complaint, api.Respond(
        outcome="monetary_compensation", message="We refund both and add compensation.",
        amount=Decimal("200.00"), currency="CNY"), RESOLVER)
    clock.advance(hours=1)
    system.resolution.accept(complaint, api.Accept(comment="thank you"), RESOLVER)
    system.resolution.close_case(complaint, api.Close(note="paid"), RESOLVER)
    clock.advance(days=2)
    system.resolution.follow_up(complaint, api.FollowUp(satisfaction=4, solved=True),
                                RESOLVER)
    system.pump()
    return {"complaint": complaint, "inquiry": inquiry}


def views(system: System, ids: dict[str, uuid.UUID]) -> dict[str, Any]:
    """Everything a user sees, with the (random) complaint ids replaced by their roles
    and the wall-clock recording times left out."""
    complaint, inquiry = ids["complaint"], ids["inquiry"]
    trail = system.reporting.audit_trail(complaint)
    seen = {
        "complaint": system.intake.get_complaint(complaint).model_dump(mode="json"),
        "inquiry": system.intake.get_complaint(inquiry).model_dump(mode="json"),
        "case": system.investigation.get_case(complaint).model_dump(mode="json"),
        "cases": [c.complaint_id for c in system.investigation.list_cases().cases],
        "resolution": system.resolution.get_resolution(complaint).model_dump(mode="json"),
        "inquiry_resolution": system.resolution.get_resolution(inquiry).model_dump(
            mode="json"),
        "summary": system.reporting.summary().model_dump(mode="json"),
        "audit": [(e.service, e.event_type, e.occurred_at.isoformat(), e.actor["id"],
                   e.correlation_id == trail.events[0].correlation_id, e.payload)
                  for e in trail.events],
        "heads": [app.head() for app in system.apps[:3]],
    }
    text = json.dumps(seen, default=str)
    for role, cid in ids.items():
        text = text.replace(str(cid), f"<{role}>").replace(str(cid)[:8], f"<{role}-ref>")
    # Corrective-action ids derive from the (random) complaint id too.
    for n, action in enumerate(system.investigation.corrective_actions().actions, start=1):
        text = text.replace(str(action.action_id), f"<action-{n}>")
    return json.loads(text)


_reference: dict[str, Any] = {}


def reference_views() -> dict[str, Any]:
    """The same lifecycle on a fresh in-memory store."""
    if not _reference:
        system = System({"PERSISTENCE_MODULE": "eventsourcing.popo"}, FrozenClock(T0))
        _reference.update(views(system, run_lifecycle(system)))
    return _reference


def test_one_lifecycle_gives_the_expected_views(store_env, systems):
    system = systems(store_env)
    ids = run_lifecycle(system)
    complaint, inquiry = ids["complaint"], ids["inquiry"]

    view = system.intake.get_complaint(complaint)
    assert view.classification.method == "override"
    assert view.classification.severity == "critical"
    assert view.deadlines.first_contact_by == T0 + timedelta(minutes=30)
    assert view.customer["phone"] == "+8613800138000"

    case = system.investigation.get_case(complaint)
    assert (case.status, case.team, case.severity) == ("concluded", "finance", "critical")
    assert case.escalation_reasons == ["reclassified to severity critical"]
    assert (case.reopen_count, case.investigator) == (1, "li.na")
    assert case.summary == "till bug and late fee"
    assert [c.complaint_id for c in system.investigation.list_cases(
        investigator="li.na", status="concluded").cases] == [complaint]

    resolution = system.resolution.get_resolution(complaint)
    assert resolution.status == "closed"
    assert resolution.outcome == "monetary_compensation"
    assert [(r.number, r.amount) for r in resolution.responses] == [
        (1, Decimal("120.50")), (2, Decimal("200.00"))]
    assert all(isinstance(r.amount, Decimal) for r in resolution.responses)
    assert resolution.first_response_at == T0 + timedelta(hours=4, minutes=35)
    assert resolution.disputes == ["I was also charged a late fee"]
    assert resolution.follow_up["satisfaction"] == 4

    answered = system.resolution.get_resolution(inquiry)
    assert (answered.status, answered.requires_investigation) == ("closed", False)
    with pytest.raises(NotFound):
        system.investigation.get_case(inquiry)

    report = system.reporting.summary()
    assert report.total == 2
    assert report.by_type == {"complaint": 1, "inquiry": 1}
    assert report.by_status == {"closed": 2}
    assert (report.closed, report.disputed, report.reopened, report.escalated) == (2, 1, 1, 1)
    assert report.follow_up_coverage == 0.5
    assert report.by_outcome == {"explanation": 1, "monetary_compensation": 1}

    trail = [(e.service, e.event_type) for e in system.reporting.audit_trail(complaint).events]
    assert trail[:3] == [("intake", "complaint.received"), ("intake", "complaint.classified"),
                         ("intake", "complaint.acknowledged")]
    assert ("investigation", "case.reopened") in trail
    assert trail[-1] == ("resolution", "resolution.followed_up")
    assert len(trail) == sum(1 for app in system.apps[:3]
                             for e in app.notifications(1, 1000) if e.complaint_id == complaint)


def test_every_store_gives_the_same_views(store_env, systems):
    system = systems(store_env)
    assert views(system, run_lifecycle(system)) == reference_views()


def test_nothing_is_delivered_twice(store_env, systems):
    system = systems(store_env)
    run_lifecycle(system)
    heads = [app.head() for app in system.apps]
    assert system.pump() == 0
    assert [app.head() for app in system.apps] == heads
    assert system.investigation.position("intake") == system.intake.head()
    assert system.reporting.position("resolution") == system.resolution.head()


@pytest.mark.parametrize("store_env", ["sqlite", "postgres"], indirect=True)
def test_a_reopened_application_reads_the_same_state_back(store_env, systems):
    first = systems(store_env)
    ids = run_lifecycle(first)
    before = views(first, ids)
    positions = {(down.name, up.name): down.position(up.name)
                 for down, up in first.subscriptions}

    again = systems(store_env, FrozenClock(first.clock.now()))
    assert views(again, ids) == before
    assert {(down.name, up.name): down.position(up.name)
            for down, up in again.subscriptions} == positions
    assert again.pump() == 0

    # The reopened applications carry on where the first ones stopped.
    again.clock.advance(days=1)
    again.resolution.follow_up(ids["inquiry"], api.FollowUp(satisfaction=5, solved=True),
                               RESOLVER)
    assert again.pump() == 2  # to investigation (which ignores it) and to reporting
    assert again.reporting.summary().follow_up_coverage == 1.0
    assert again.resolution.head() == before["heads"][2] + 1
    assert first.resolution.head() == again.resolution.head()  # one shared store
