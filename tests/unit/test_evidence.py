"""Audit views of one complaint: what each event changed, the complaint as of a moment,
and the evidence pack (sections, JSON, escaped self-contained HTML)."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import BaseModel

from contracts import api, events
from contracts.envelope import Actor, Envelope, make_envelope, registered_event_types
from servicekit.errors import NotFound
from services.intake import sla
from services.reporting.application import ReportingApplication
from services.reporting.evidence import (
    _DESCRIBE,
    SECTION_OF,
    SECTIONS,
    SLA_EVENTS,
    changes,
    describe,
    evidence_html,
    evidence_pack,
    section_of,
)
from services.reporting.projections import complaint_record, events_as_of

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
AGENT = Actor(id="agent-7", role="agent")
INVESTIGATOR = Actor(id="inv-1", role="investigator")
RESOLVER = Actor(id="res-1", role="resolver")
SUPERVISOR = Actor(id="sup-1", role="supervisor")
MANAGER = Actor(id="qm-1", role="quality_manager")


def h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def system(service: str) -> Actor:
    return Actor(id=service, role="system")


class Trail:
    """One complaint's integration events as reporting stores them (JSON dicts)."""

    def __init__(self):
        self.complaint_id = uuid.uuid4()
        self.positions: dict[str, int] = {}
        self.entries: list[dict] = []

    def add(self, service: str, event: BaseModel, after: timedelta, actor: Actor,
            recorded_after: timedelta = timedelta(milliseconds=5)) -> "Trail":
        self.positions[service] = self.positions.get(service, 0) + 1
        at = T0 + after
        self.entries.append(make_envelope(
            event=event, complaint_id=self.complaint_id, origin_service=service,
            origin_position=self.positions[service], aggregate_id=self.complaint_id,
            aggregate_version=self.positions[service], occurred_at=at,
            recorded_at=at + recorded_after, actor=actor,
            correlation_id="c").model_dump(mode="json"))
        return self

    def at(self, index: int) -> datetime:
        """When the index-th entry was recorded."""
        return datetime.fromisoformat(self.entries[index]["recorded_at"])


def lifecycle(dispute_reason: str = "An apology is not enough") -> Trail:
    """Received, classified, acknowledged, opened and assigned, concluded, responded,
    disputed, reopened, concluded again, responded again, accepted, closed, followed up."""
    deadlines = sla.deadlines(T0, "phone", "normal")
    t = Trail()
    t.add("intake", events.ComplaintReceived(
        channel="phone", language="zh", text="服务员态度很差", product="dinner",
        location="Shanghai branch", customer_request="refund", happened_at=None,
        received_at=T0), h(0), AGENT)                                                    # 0
    t.add("intake", events.ComplaintClassified(
        channel="phone", type="complaint", category="service_attitude", severity="normal",
        matched_rules=["attitude-zh"], ruleset_version="2", deadlines=deadlines,
        confidence=0.9), h(0), AGENT, timedelta(milliseconds=6))                          # 1
    t.add("intake", events.ComplaintAcknowledged(
        language="zh", message="已收到", deadlines=deadlines), h(0), AGENT,
        timedelta(milliseconds=7))                                                        # 2
    t.add("investigation", events.CaseOpened(
        team="service", category="service_attitude", severity="normal"), h(0),
        system("investigation"), timedelta(milliseconds=20))                              # 3
    t.add("investigation", events.CaseAssigned(
        investigator="inv-1", previous_investigator=None, reason=None), h(0),
        system("investigation"), timedelta(milliseconds=21))                              # 4
    t.add("investigation", events.CaseFindingRecorded(
        kind="interview", text="The waiter confirms"), h(1), INVESTIGATOR)                # 5
    t.add("investigation", events.CaseConcluded(
        root_cause="people", five_whys=["short-staffed", "sick leave"],
        responsible_department="Operations",
        corrective_actions=[events.CorrectiveAction(action="rota", owner="ops",
                                                    due_date="2026-12-15")],
        summary="Understaffed", conclusion_number=1), h(2), INVESTIGATOR)                 # 6
    t.add("resolution", events.ResolutionReady(reason="case concluded",
                                               after_investigation=True), h(2),
          system("resolution"), timedelta(milliseconds=30))                               # 7
    t.add("resolution", events.ResolutionResponded(
        outcome="apology", message="Sorry", amount=None, currency=None, channel="phone",
        response_number=1), h(3), RESOLVER)                                               # 8
    t.add("resolution", events.ResolutionDisputed(reason=dispute_reason, dispute_count=1),
          h(4), RESOLVER)                                                                 # 9
    t.add("investigation", events.CaseReopened(reason="disputed", reopen_count=1), h(4),
          system("investigation"), timedelta(minutes=1))                                  # 10
    t.add("investigation", events.CaseConcluded(
        root_cause="people", five_whys=["short-staffed"], responsible_department="Operations",
        corrective_actions=[], summary="Compensate", conclusion_number=2), h(6), INVESTIGATOR)
    t.add("resolution", events.ResolutionReady(reason="case concluded again"), h(6),
          system("resolution"), timedelta(milliseconds=30))                               # 12
    t.add("resolution", events.ResolutionResponded(
        outcome="monetary_compensation", message="A voucher", amount=Decimal("50.00"),
        currency="CNY", channel="phone", response_number=2), h(7), RESOLVER)              # 13
    t.add("resolution", events.ResolutionAccepted(comment=None), h(8), RESOLVER)          # 14
    t.add("resolution", events.ResolutionClosed(outcome="monetary_compensation", note=None),
          h(9), RESOLVER)                                                                 # 15
    t.add("intake", events.ComplaintTargetMet(
        target="resolve", deadline=T0 + h(24), met_at=T0 + h(9), on_time=True,
        step="closed"), h(9), system("intake"), timedelta(seconds=2))                      # 16
    t.add("resolution", events.ResolutionFollowedUp(satisfaction=4, solved=True,
                                                    comment=None), h(30), RESOLVER)       # 17
    return t


# --- what changed ---------------------------------------------------------------


def test_every_event_says_what_changed_with_the_status_before_and_after():
    described = dict((e["event_type"] + "#" + str(e["origin_position"]) + e["origin_service"],
                      text) for e, text in changes(lifecycle().entries))
    assert described["complaint.received#1intake"] == (
        "received by phone (zh); product dinner; location Shanghai branch")
    assert described["complaint.classified#2intake"] == (
        "classified complaint / service_attitude / normal (rules 2, confidence 0.9)")
    assert described["case.opened#1investigation"] == (
        "status received → investigating; case opened for team service "
        "(service_attitude, normal)")
    assert described["case.assigned#2investigation"] == "investigator none → inv-1"
    assert described["case.concluded#4investigation"] == (
        "status investigating → awaiting_response; conclusion 1: root cause people, "
        "2 why(s), department Operations, 1 corrective action(s)")
    assert described["resolution.responded#2resolution"] == (
        "status awaiting_response → responded; response 1: apology by phone")
    assert described["resolution.disputed#3resolution"] == (
        "status responded → disputed; the customer disputed (time 1): "
        "An apology is not enough")
    assert described["case.reopened#5investigation"] == (
        "status disputed → investigating; reopened (time 1): disputed")
    assert described["resolution.responded#5resolution"] == (
        "status awaiting_response → responded; response 2: monetary_compensation "
        "50.00 CNY by phone")
    assert described["resolution.closed#7resolution"] == (
        "status accepted → closed; closed with outcome monetary_compensation")
    assert described["complaint.target_met#4intake"] == "resolve met on time (closed)"
    assert described["resolution.followed_up#8resolution"] == (
        "follow-up: satisfaction 4/5, solved")


def test_a_reclassification_names_each_field_before_and_after():
    entry = Trail().add("intake", events.ComplaintReclassified(
        type="complaint", category="billing", severity="high", previous_type="complaint",
        previous_category="service_attitude", previous_severity="normal",
        reason="customer was charged twice", deadlines=sla.deadlines(T0, "phone", "high")),
        h(1), AGENT).entries[0]
    assert describe(entry) == ("category service_attitude → billing; severity normal → high: "
                               "customer was charged twice")


def test_every_registered_event_type_has_a_description_and_a_section():
    known = set(registered_event_types())
    assert set(_DESCRIBE) == known
    assert set(SECTION_OF) | set(SLA_EVENTS) == known
    assert set(SECTION_OF.values()) <= set(SECTIONS)


def test_an_event_of_an_unknown_shape_is_described_by_its_fields_not_an_error():
    entry = lifecycle().entries[0] | {"event_type": "complaint.received",
                                      "payload": {"something": "else"}}
    assert describe(entry) == "complaint.received: something"
    assert describe(entry | {"event_type": "complaint.teleported"}) == \
        "complaint.teleported: something"


def test_long_free_text_is_shortened_in_what_changed():
    entry = lifecycle(dispute_reason="x" * 500).entries[9]
    assert len(describe(entry)) < 200 and describe(entry).endswith("…")


# --- as of a moment ----------------------------------------------------------------


def test_events_recorded_after_the_moment_are_left_out():
    t = lifecycle()
    before_closure = t.at(14)  # the acceptance
    chosen = events_as_of(t.entries, before_closure)
    assert [e["event_type"] for e in chosen][-1] == "resolution.accepted"
    record = complaint_record(chosen)
    assert record["status"] == "accepted" and record["closed_at"] is None
    assert record["satisfaction"] is None and record["outcome"] == "monetary_compensation"


def test_an_event_recorded_exactly_at_the_moment_is_included():
    t = lifecycle()
    assert t.entries[9] in events_as_of(t.entries, t.at(9))
    assert t.entries[9] not in events_as_of(t.entries, t.at(9) - timedelta(microseconds=1))


def test_a_reopen_recorded_after_the_moment_is_not_visible():
    t = lifecycle()
    # the dispute is recorded; investigation records the reopen a minute later
    record = complaint_record(events_as_of(t.entries, t.at(9) + timedelta(seconds=30)))
    assert record["status"] == "disputed" and record["disputes"] == 1
    assert record["reopens"] == 0
    record = complaint_record(events_as_of(t.entries, t.at(10)))
    assert record["status"] == "investigating" and record["reopens"] == 1


def test_the_moment_counts_when_an_event_was_recorded_not_when_it_is_dated():
    t = lifecycle()
    late = t.entries[16]  # the SLA clock recorded "resolve met" two seconds after closure
    assert datetime.fromisoformat(late["occurred_at"]) < t.at(16)
    assert late not in events_as_of(t.entries, datetime.fromisoformat(late["occurred_at"]))


def test_the_moment_may_be_given_in_any_time_zone():
    t = lifecycle()
    shanghai = t.at(14).astimezone(datetime.fromisoformat("2026-01-01T00:00+08:00").tzinfo)
    assert events_as_of(t.entries, shanghai) == events_as_of(t.entries, t.at(14))


# --- the evidence pack ---------------------------------------------------------------


def types_by_section(pack: dict) -> dict[str, list[str]]:
    return {s["section"]: [e["event_type"] for e in s["events"]] for s in pack["sections"]}


def test_the_evidence_pack_puts_each_event_in_its_section_with_time_and_actor():
    t = lifecycle()
    pack = evidence_pack(str(t.complaint_id), t.entries)
    assert [s["section"] for s in pack["sections"]] == list(SECTIONS)
    assert types_by_section(pack) == {
        "receipt": ["complaint.received"],
        "acknowledgement": ["complaint.acknowledged"],
        "assessment": ["complaint.classified", "case.opened", "case.assigned"],
        "investigation": ["case.finding_recorded", "case.concluded", "case.reopened",
                          "case.concluded"],
        "decision": ["resolution.ready", "resolution.ready"],
        "communication": ["resolution.responded", "resolution.disputed",
                          "resolution.responded", "resolution.accepted"],
        "closure": ["resolution.closed", "complaint.target_met"],
        "follow_up": ["resolution.followed_up"],
    }
    assert pack["event_count"] == len(t.entries) and pack["as_of"] is None
    assert pack["state"] == complaint_record(t.entries)
    dispute = pack["sections"][5]["events"][1]
    assert dispute["actor"] == {"id": "res-1", "role": "resolver"}
    assert dispute["service"] == "resolution"
    assert dispute["occurred_at"] == t.entries[9]["occurred_at"]
    assert dispute["event_id"] == t.entries[9]["event_id"]
    assert dispute["change"].startswith("status responded → disputed")
    api.EvidencePack.model_validate(pack)  # the HTTP contract holds it


@pytest.mark.parametrize(("target", "section"), [
    ("acknowledge", "acknowledgement"), ("first_contact", "communication"),
    ("first_reply", "communication"), ("progress_update", "communication"),
    ("resolve", "closure")])
def test_sla_events_go_to_the_step_whose_target_they_measure(target, section):
    for event in (events.ComplaintTargetMet(target=target, deadline=T0, met_at=T0,
                                            on_time=True, step="s"),
                  events.ComplaintDeadlineBreached(target=target, deadline=T0, breached_at=T0),
                  events.ComplaintDeadlineWarned(target=target, deadline=T0, warned_at=T0)):
        assert section_of(Trail().add("intake", event, h(0), AGENT).entries[0]) == section


def test_the_evidence_pack_as_of_a_moment_holds_only_what_was_recorded_by_then():
    t = lifecycle()
    pack = evidence_pack(str(t.complaint_id), t.entries, t.at(8))
    assert pack["as_of"] == t.at(8).isoformat() and pack["event_count"] == 9
    sections = types_by_section(pack)
    assert sections["communication"] == ["resolution.responded"]
    assert sections["closure"] == [] and sections["follow_up"] == []
    assert pack["state"]["status"] == "responded"


# --- the HTML page -------------------------------------------------------------------


SCRIPT = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def test_the_html_page_escapes_every_value():
    t = lifecycle(dispute_reason=SCRIPT)
    page = evidence_html(evidence_pack(str(t.complaint_id), t.entries))
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x" in page


def test_the_html_page_is_self_contained_and_printable():
    t = lifecycle()
    page = evidence_html(evidence_pack(str(t.complaint_id), t.entries))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert '<meta charset="utf-8">' in page and "@media print" in page
    for external in ("http://", "https://", "src=", "href=", "@import", "url(", "<link",
                     "<script", "<iframe", "<img"):
        assert external not in page, external
    assert len(re.findall(r"<section id=", page)) == len(SECTIONS) + 1  # + the state
    assert page.count("<h2>") == len(SECTIONS) + 1
    assert "No events." not in page  # every section of a full lifecycle has events
    assert f"Evidence pack: complaint {t.complaint_id}" in page
    assert "status responded → disputed; the customer disputed (time 1)" in page
    assert "服务员" not in page, "the complaint's free text is not in the page's table"


def test_an_empty_section_says_so():
    t = lifecycle()
    page = evidence_html(evidence_pack(str(t.complaint_id), t.entries, t.at(2)))
    assert page.count("No events.") == 5  # assessment .. follow-up, except acknowledgement
    assert "as of " + t.at(2).isoformat() in page


def test_the_same_events_give_the_same_bytes():
    t = lifecycle()
    reordered = list(reversed(t.entries))
    assert evidence_html(evidence_pack(str(t.complaint_id), reordered)) == \
        evidence_html(evidence_pack(str(t.complaint_id), t.entries))


# --- the application, on an in-memory store ------------------------------------------


@pytest.fixture
def app():
    application = ReportingApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield application
    application.close()


def test_the_application_serves_the_trail_the_state_as_of_and_the_pack(app):
    t = lifecycle()
    for entry in sorted(t.entries, key=lambda e: (e["origin_service"], e["origin_position"])):
        app.process(Envelope.model_validate(entry))
    trail = app.audit_trail(t.complaint_id)
    assert len(trail.events) == len(t.entries)
    assert all(e.change for e in trail.events)
    assert trail.events[3].change.startswith("status received → investigating")

    as_of = app.complaint_as_of(t.complaint_id, t.at(9) + timedelta(seconds=30))
    assert as_of.state["status"] == "disputed" and as_of.state["reopens"] == 0
    assert [e.event_type for e in as_of.events][-1] == "resolution.disputed"
    assert app.audit_trail(t.complaint_id, t.at(9) + timedelta(seconds=30)).events == \
        as_of.events

    pack = app.evidence_pack(t.complaint_id)
    assert pack.event_count == len(t.entries)
    assert pack.model_dump(mode="json")["sections"] == \
        api.EvidencePack.model_validate(evidence_pack(
            str(t.complaint_id), t.entries)).model_dump(mode="json")["sections"]
    assert app.evidence_html(t.complaint_id).startswith("<!DOCTYPE html>")


def test_a_complaint_nothing_was_recorded_about_by_the_moment_is_unknown(app):
    t = lifecycle()
    app.process(Envelope.model_validate(t.entries[0]))
    with pytest.raises(NotFound, match="recorded by"):
        app.complaint_as_of(t.complaint_id, T0 - timedelta(seconds=1))
    with pytest.raises(NotFound, match="recorded by"):
        app.evidence_pack(t.complaint_id, T0 - timedelta(seconds=1))
    with pytest.raises(NotFound):
        app.audit_trail(uuid.uuid4())
    assert len(app.complaint_as_of(t.complaint_id, t.at(0)).events) == 1
