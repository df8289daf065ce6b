"""The improvement report: every metric on a small hand-computed fixture, the edge cases
(empty period, reopen, dispute, as-of cut, p90 nearest rank), the service's cached path
against the plain definition, and the CSV / HTML renderings (deterministic bytes,
self-contained HTML with its seven charts, escaped text)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import itertools
import json
import random
import re
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from contracts import api, events
from contracts.envelope import Actor, Envelope, make_envelope
from servicekit.clock import FrozenClock
from servicekit.errors import InvalidCommand
from services.reporting import metrics, render
from services.reporting.application import ReportingApplication
from services.reporting.metrics import Period, complaint_facts, report_from_timelines

ROOT = Path(__file__).resolve().parents[2]
ACTOR = Actor(id="tester", role="agent")
POSITIONS = {s: itertools.count(1) for s in ("intake", "investigation", "resolution")}
NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
WEEK = Period.containing("week", date(2026, 11, 4))  # Mon 2 Nov .. Sun 8 Nov 2026


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Log:
    """One complaint's integration events, as reporting records them (JSON dicts)."""

    def __init__(self, received_at: datetime):
        self.complaint_id = uuid.uuid4()
        self.cid = str(self.complaint_id)
        self.t0 = received_at
        self.entries: list[dict] = []

    def add(self, service: str, event: BaseModel, after: timedelta, lag=timedelta(0),
            occurred: datetime | None = None, **payload_extra) -> Log:
        position = next(POSITIONS[service])
        moment = occurred or self.t0 + after
        entry = make_envelope(
            event=event, complaint_id=self.complaint_id, origin_service=service,
            origin_position=position, aggregate_id=uuid.uuid4(), aggregate_version=1,
            occurred_at=moment, recorded_at=moment + timedelta(milliseconds=5) + lag,
            actor=ACTOR, correlation_id="c").model_dump(mode="json")
        entry["payload"].update(payload_extra)
        self.entries.append(entry)
        return self

    # intake
    def received(self, channel="email", product=None, location=None, customer_ref=None):
        return self.add("intake", events.ComplaintReceived(
            channel=channel, language="en", text="t", product=product, location=location,
            customer_request=None, happened_at=None, received_at=self.t0), h(0),
            customer_ref=customer_ref)

    def classified(self, type_="complaint", category="billing", severity="normal"):
        return self.add("intake", events.ComplaintClassified(
            channel="email", type=type_, category=category, severity=severity,
            matched_rules=[], ruleset_version="t",
            deadlines=events.Deadlines(policy_version="t")), h(0))

    def met(self, target, after, deadline_after, on_time=None):
        on_time = after <= deadline_after if on_time is None else on_time
        return self.add("intake", events.ComplaintTargetMet(
            target=target, deadline=self.t0 + h(deadline_after), met_at=self.t0 + h(after),
            on_time=on_time, step="s"), h(after))

    def breached(self, target, after, deadline_after):
        return self.add("intake", events.ComplaintDeadlineBreached(
            target=target, deadline=self.t0 + h(deadline_after),
            breached_at=self.t0 + h(after)), h(after))

    # investigation
    def assigned(self, investigator, after):
        return self.add("investigation", events.CaseAssigned(
            investigator=investigator, previous_investigator=None, reason=None), h(after))

    def escalated(self, after):
        return self.add("investigation", events.CaseEscalated(reason="r"), h(after))

    def concluded(self, after, root_cause="process", department="Billing", number=1):
        return self.add("investigation", events.CaseConcluded(
            root_cause=root_cause, five_whys=["w"], responsible_department=department,
            corrective_actions=[], summary="s", conclusion_number=number), h(after))

    def reopened(self, after, count=1):
        return self.add("investigation", events.CaseReopened(reason="r", reopen_count=count),
                        h(after))

    def action(self, after, action_id, root_cause, due):
        return self.add("investigation", events.CorrectiveActionOpened(
            action_id=action_id, root_cause=root_cause, responsible_department="d",
            action="a", owner="o", due_date=date.fromisoformat(due)), h(after))

    def action_done(self, moment, action_id):
        return self.add("investigation", events.CorrectiveActionDone(
            action_id=action_id, evidence="e"), h(0), occurred=moment)

    def action_verified(self, moment, action_id, effective):
        return self.add("investigation", events.CorrectiveActionVerified(
            action_id=action_id, effective=effective, note=None), h(0), occurred=moment)

    # resolution
    def responded(self, after, outcome="refund", number=1):
        return self.add("resolution", events.ResolutionResponded(
            outcome=outcome, message="m", amount=None, currency=None, channel=None,
            response_number=number), h(after))

    def disputed(self, after):
        return self.add("resolution", events.ResolutionDisputed(reason="no", dispute_count=1),
                        h(after))

    def accepted(self, after):
        return self.add("resolution", events.ResolutionAccepted(comment=None), h(after))

    def closed(self, after, outcome="refund"):
        return self.add("resolution", events.ResolutionClosed(outcome=outcome, note=None),
                        h(after))

    def followed_up(self, after, satisfaction):
        return self.add("resolution", events.ResolutionFollowedUp(
            satisfaction=satisfaction, solved=satisfaction > 2, comment=None), h(after))

    def resolution_reopened(self, after):
        return self.add("resolution", events.ResolutionReopened(reason="r", reopen_count=1),
                        h(after))


def fixture() -> dict[str, Log]:
    """Four complaints in the week of 2 Nov 2026 (A, B, C, G) and two outside it (E
    before, D after) that only count for the corrective action's before/after rates."""
    a = (Log(at("2026-11-02T09:00")).received("email", "Card", "Store 12", "c-1")
         .classified("complaint", "billing", "normal")
         .met("acknowledge", 0, 2).assigned("inv-1", 0.5)
         .concluded(2, "process", "Billing").action(2, "a-1", "process", "2026-11-20")
         .responded(3, "refund").met("first_reply", 3, 4)
         .closed(5, "refund").met("resolve", 5, 24).followed_up(30, 5)
         .action_done(at("2026-11-06T09:00"), "a-1"))
    b = (Log(at("2026-11-03T09:00")).received("phone", "card", "Store 7", "c-1")
         .classified("complaint", "service_attitude", "high").met("acknowledge", 0, 2)
         .escalated(0).assigned("inv-2", 0).assigned("inv-1", 1)
         .breached("first_reply", 4, 4).concluded(5, "people", "Retail")
         .action(5, "a-2", "people", "2026-11-03")
         .responded(6, "apology").met("first_reply", 6, 4)
         .disputed(8).reopened(8, 1).concluded(20, "process", "Billing", number=2)
         .responded(22, "refund", number=2).accepted(23).closed(24, "refund")
         .met("resolve", 24, 24).followed_up(48, 2).resolution_reopened(48).reopened(48, 2))
    c = (Log(at("2026-11-04T10:00")).received("web", None, "store 12")
         .classified("inquiry", "information", "low").breached("acknowledge", 2, 1)
         .responded(1, "explanation").closed(1, "explanation").met("resolve", 1, 0.5))
    g = (Log(at("2026-11-05T12:00")).received("chat", None, "Store 7")
         .classified("complaint", "service_attitude", "normal").assigned("inv-2", 1)
         .concluded(3, "people", "Retail"))
    e = (Log(at("2026-10-20T09:00")).received("email").classified()
         .concluded(2, "process").action(2, "e-1", "process", "2026-10-30"))
    d = Log(at("2026-11-16T09:00")).received("email").classified().concluded(2, "process")
    return {"A": a, "B": b, "C": c, "G": g, "E": e, "D": d}


def report(logs, period=WEEK, as_of=None, now=NOW):
    return report_from_timelines([log.entries for log in logs.values()], period, as_of, now)


# --- every metric on the fixture -----------------------------------------------------


def test_volumes_count_each_complaint_once_with_its_latest_values():
    r = report(fixture())
    assert r["period"] == {"from": "2026-11-02", "to": "2026-11-08", "granularity": "week"}
    assert r["as_of"] is None
    assert r["complaints"] == 4
    v = r["volumes"]
    assert v["channel"] == {"chat": 1, "email": 1, "phone": 1, "web": 1}
    assert v["type"] == {"complaint": 3, "inquiry": 1}
    assert v["category"] == {"billing": 1, "information": 1, "service_attitude": 2}
    assert v["severity"] == {"high": 1, "low": 1, "normal": 2}
    assert v["product"] == {"Card": 1, "card": 1}
    assert v["department"] == {"Billing": 2, "Retail": 1}  # B's latest conclusion: Billing
    assert v["outcome"] == {"explanation": 1, "refund": 2}
    assert v["over_time_bucket"] == "day"
    assert v["over_time"] == [{"period_start": f"2026-11-0{d}", "count": 1 if d <= 5 else 0}
                              for d in range(2, 9)]


def test_sla_per_target_lists_every_breach():
    logs = fixture()
    sla = report(logs)["sla"]
    assert list(sla) == ["acknowledge", "first_contact", "first_reply", "resolve"]
    b, c = logs["B"], logs["C"]
    assert sla["acknowledge"] == {
        "decided": 2, "on_time": 2, "late": 0, "open_breached": 1, "compliance": 0.6667,
        "breaches": [{"complaint_id": c.cid, "target": "acknowledge",
                      "deadline": z(c.t0 + h(1)), "at": z(c.t0 + h(2)),
                      "kind": "deadline_breached", "met_at": None}]}
    assert sla["first_contact"] == {"decided": 0, "on_time": 0, "late": 0, "open_breached": 0,
                                    "compliance": None, "breaches": []}
    assert sla["first_reply"] == {
        "decided": 2, "on_time": 1, "late": 1, "open_breached": 0, "compliance": 0.5,
        "breaches": [{"complaint_id": b.cid, "target": "first_reply",
                      "deadline": z(b.t0 + h(4)), "at": z(b.t0 + h(4)),
                      "kind": "deadline_breached", "met_at": z(b.t0 + h(6))}]}
    assert sla["resolve"] == {
        "decided": 3, "on_time": 2, "late": 1, "open_breached": 0, "compliance": 0.6667,
        "breaches": [{"complaint_id": c.cid, "target": "resolve",
                      "deadline": z(c.t0 + h(0.5)), "at": z(c.t0 + h(1)),
                      "kind": "met_late", "met_at": z(c.t0 + h(1))}]}


def test_times_keep_the_first_response_and_drop_a_resolution_that_reopened():
    times = report(fixture())["times"]
    # A 3 h, B 6 h (its second response at 22 h never rewrites it), C 1 h
    assert times["first_response"] == {"count": 3, "median_hours": 3.0, "p90_hours": 6.0,
                                       "max_hours": 6.0}
    # A 5 h, C 1 h; B closed at 24 h but reopened after its follow-up: not resolved
    assert times["resolution"] == {"count": 2, "median_hours": 3.0, "p90_hours": 5.0,
                                   "max_hours": 5.0}
    assert [b["count"] for b in times["resolution_histogram"]] == [1, 1, 0, 0, 0, 0, 0, 0]
    assert times["resolution_histogram"][0] == {"from_hours": 0, "to_hours": 4, "count": 1}
    assert times["resolution_histogram"][-1]["to_hours"] is None


def test_rates_count_a_twice_reopened_complaint_once():
    rates = report(fixture())["rates"]
    assert rates["reopened"] == {"count": 1, "of": 3, "rate": 0.3333}
    assert rates["disputed"] == {"count": 1, "of": 3, "rate": 0.3333}
    # closed now: A and C, each answered once, never disputed, reopened or escalated
    assert rates["first_contact_resolution"] == {"count": 2, "of": 2, "rate": 1.0}


def test_satisfaction_uses_the_latest_follow_up_and_coverage_of_closed_complaints():
    assert report(fixture())["satisfaction"] == {
        "responses": 2, "average": 3.5,
        "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1},
        "follow_up_coverage": 0.6667, "closed": 3, "coverage_target": 0.9,
        "meets_target": False}


def test_root_cause_pareto_and_recurring_complaints():
    logs = fixture()
    r = report(logs)
    assert r["root_causes"] == [
        {"cause": "process", "count": 2, "share": 0.6667, "cumulative_share": 0.6667},
        {"cause": "people", "count": 1, "share": 0.3333, "cumulative_share": 1.0}]
    ids = {k: log.cid for k, log in logs.items()}
    assert r["recurring"] == {
        "customer": [{"value": "c-1", "count": 2,
                      "complaint_ids": sorted([ids["A"], ids["B"]])}],
        "product": [{"value": "Card", "count": 2,
                     "complaint_ids": sorted([ids["A"], ids["B"]])}],
        "location": [
            {"value": "Store 12", "count": 2, "complaint_ids": sorted([ids["A"], ids["C"]])},
            {"value": "Store 7", "count": 2, "complaint_ids": sorted([ids["B"], ids["G"]])}]}


def test_corrective_actions_with_the_complaint_rate_before_and_after():
    logs = fixture()
    actions = report(logs)["corrective_actions"]
    assert {k: v for k, v in actions.items() if k != "actions"} == {
        "open": 1, "overdue": 1, "done": 1, "verified_effective": 0,
        "verified_ineffective": 0, "total": 2, "rate_weeks": 4}
    # a-1 done 6 Nov 09:00. Process complaints 9 Oct..6 Nov: E, A, B (B's latest cause)
    # = 3 in 4 weeks; 6 Nov..4 Dec: D = 1 in 4 weeks. E's own action is outside the week.
    assert actions["actions"] == [
        {"action_id": "a-2", "complaint_id": logs["B"].cid, "root_cause": "people",
         "status": "open", "due_date": "2026-11-03", "done_at": None, "overdue": True,
         "rate_before": None, "rate_after": None},
        {"action_id": "a-1", "complaint_id": logs["A"].cid, "root_cause": "process",
         "status": "done", "due_date": "2026-11-20", "done_at": "2026-11-06T09:00:00Z",
         "overdue": False, "rate_before": 0.75, "rate_after": 0.25}]


def test_a_verified_action_and_an_after_window_still_running():
    log = (Log(at("2026-11-02T09:00")).received().classified().concluded(1, "supplier")
           .action(1, "x", "supplier", "2026-11-10")
           .action_done(at("2026-11-09T00:00"), "x")
           .action_verified(at("2026-11-20T00:00"), "x", effective=True))
    later = Log(at("2026-11-12T00:00")).received().classified().concluded(1, "supplier")
    logs = {"x": log, "later": later}
    row = report(logs, now=at("2026-11-23T00:00"))["corrective_actions"]["actions"][0]
    # two weeks after: 1 complaint / 2 weeks; before: the action's own complaint / 4 weeks
    assert (row["status"], row["rate_before"], row["rate_after"]) == (
        "verified_effective", 0.25, 0.5)
    too_soon = report(logs, now=at("2026-11-15T00:00"))["corrective_actions"]["actions"][0]
    assert too_soon["rate_after"] is None  # less than a week has passed


def test_staff_figures_follow_the_latest_assignment():
    assert report(fixture())["staff"] == [
        {"staff": "inv-1", "cases": 2, "sla_decided": 6, "sla_on_time": 5,
         "satisfaction_average": 3.5},
        {"staff": "inv-2", "cases": 1, "sla_decided": 0, "sla_on_time": 0,
         "satisfaction_average": None}]


def test_the_report_matches_its_contract_model_exactly():
    r = report(fixture())
    assert api.ImprovementReport.model_validate(r).model_dump(mode="json") == r


# --- edge cases --------------------------------------------------------------------------


def test_an_empty_period():
    r = report(fixture(), Period.containing("day", date(2026, 11, 7)))
    assert r["complaints"] == 0
    assert r["volumes"]["over_time"] == [{"period_start": "2026-11-07", "count": 0}]
    assert all(r["volumes"][d] == {} for d in metrics.DIMENSIONS)
    assert r["times"]["first_response"] == {"count": 0, "median_hours": None,
                                            "p90_hours": None, "max_hours": None}
    assert r["rates"]["reopened"] == {"count": 0, "of": 0, "rate": None}
    assert (r["satisfaction"]["average"], r["satisfaction"]["follow_up_coverage"],
            r["satisfaction"]["meets_target"]) == (None, None, False)
    assert r["root_causes"] == [] and r["staff"] == []
    assert r["corrective_actions"]["total"] == 0
    assert all(t["compliance"] is None for t in r["sla"].values())


def test_period_membership_is_the_received_day_both_ends_included():
    logs = {str(d): Log(at(f"2026-11-{d:02d}T23:59")).received() for d in (1, 2, 8, 9)}
    r = report(logs)
    assert r["complaints"] == 2
    month = report(logs, Period.containing("month", date(2026, 11, 30)))
    assert month["period"]["from"] == "2026-11-01" and month["period"]["to"] == "2026-11-30"
    assert month["complaints"] == 4 and len(month["volumes"]["over_time"]) == 30


def test_custom_periods_bucket_by_day_week_or_month():
    assert Period.custom(date(2026, 1, 1), date(2026, 3, 3)).buckets()[0] == "day"
    kind, starts = Period.custom(date(2026, 1, 1), date(2026, 12, 31)).buckets()
    assert (kind, starts[:2], len(starts)) == ("week", [date(2026, 1, 1), date(2026, 1, 8)], 53)
    kind, starts = Period.custom(date(2025, 6, 15), date(2027, 7, 1)).buckets()
    assert (kind, starts[:3], starts[-1]) == (
        "month", [date(2025, 6, 15), date(2025, 7, 1), date(2025, 8, 1)], date(2027, 7, 1))
    assert Period.containing("week", date(2026, 11, 8)).start == date(2026, 11, 2)
    with pytest.raises(ValueError):
        Period.custom(date(2026, 2, 1), date(2026, 1, 1))


def test_p90_is_the_nearest_rank():
    logs = {str(i): Log(at("2026-11-03T00:00")).received().responded(i) for i in range(1, 12)}
    times = report(logs)["times"]["first_response"]
    # 11 values 1..11 h: ceil(0.9 * 11) = 10th smallest = 10 h; median the 6th
    assert times == {"count": 11, "median_hours": 6.0, "p90_hours": 10.0, "max_hours": 11.0}
    logs.pop("11")
    times = report(logs)["times"]["first_response"]
    # 10 values: ceil(9) = 9th smallest; median between the 5th and the 6th
    assert (times["p90_hours"], times["median_hours"]) == (9.0, 5.5)


@pytest.mark.parametrize("excluded", ["escalated", "disputed", "reopened", "two responses"])
def test_first_contact_resolution_excludes(excluded):
    log = Log(at("2026-11-03T00:00")).received().classified()
    if excluded == "escalated":
        log.escalated(0)
    log.responded(1)
    if excluded == "disputed":
        log.disputed(2)
    if excluded == "reopened":
        log.closed(2).followed_up(3, 1).resolution_reopened(3).reopened(3).closed(5)
    if excluded == "two responses":
        log.responded(2, number=2)
    log.closed(6)
    rates = report({"x": log})["rates"]["first_contact_resolution"]
    assert rates == {"count": 0, "of": 1, "rate": 0.0}


def test_a_reopened_and_closed_again_complaint_resolves_at_its_last_closure():
    log = (Log(at("2026-11-03T00:00")).received().responded(1).closed(2).followed_up(3, 1)
           .resolution_reopened(3).reopened(3).responded(10, number=2).closed(12))
    r = report({"x": log})
    assert r["times"]["first_response"]["max_hours"] == 1.0
    assert r["times"]["resolution"]["max_hours"] == 12.0
    assert (r["complaints"], r["rates"]["reopened"]["count"]) == (1, 1)


def test_the_same_events_in_any_order_give_the_same_report():
    logs = fixture()
    reference = report(logs)
    for seed in range(5):
        shuffled = {k: random.Random(seed).sample(log.entries, len(log.entries))
                    for k, log in logs.items()}
        assert report_from_timelines(shuffled.values(), WEEK, None, NOW) == reference
        assert complaint_facts(shuffled["B"]) == complaint_facts(logs["B"].entries)


# --- as-of ---------------------------------------------------------------------------------


def test_as_of_is_the_report_as_it_stood_then():
    logs = fixture()
    as_of = at("2026-11-03T12:00")
    r = report(logs, as_of=as_of)
    assert r["as_of"] == "2026-11-03T12:00:00+00:00"
    # recorded by then: A up to its closure (not its follow-up at 15:00 nor the action
    # done on 6 Nov); B up to its reassignment (not its 13:00 breach); not C or G
    assert r["complaints"] == 2
    assert r["satisfaction"]["responses"] == 0
    assert r["sla"]["first_reply"]["breaches"] == []
    assert r["corrective_actions"]["actions"] == [
        {"action_id": "a-1", "complaint_id": logs["A"].cid, "root_cause": "process",
         "status": "open", "due_date": "2026-11-20", "done_at": None, "overdue": False,
         "rate_before": None, "rate_after": None}]
    assert r["staff"][0]["staff"] == "inv-1" and r["staff"][0]["cases"] == 2
    # the same cut as a report from only the events recorded by then
    cut = {k: [e for e in log.entries if datetime.fromisoformat(e["recorded_at"]) <= as_of]
           for k, log in logs.items()}
    assert r == report_from_timelines(cut.values(), WEEK, as_of, NOW) | {
        "as_of": "2026-11-03T12:00:00+00:00"}


def test_as_of_uses_when_the_upstream_recorded_the_event_not_when_it_happened():
    log = Log(at("2026-11-03T09:00")).received().responded(1)
    log.add("resolution", events.ResolutionClosed(outcome="refund", note=None), h(2),
            lag=h(5))  # happened at 11:00, recorded at 16:00
    before = report({"x": log}, as_of=at("2026-11-03T15:00"))
    after = report({"x": log}, as_of=at("2026-11-03T16:00:01"))
    assert before["times"]["resolution"]["count"] == 0
    assert after["times"]["resolution"] == {"count": 1, "median_hours": 2.0,
                                            "p90_hours": 2.0, "max_hours": 2.0}
    assert report({"x": log}, as_of=at("2026-11-03T08:00"))["complaints"] == 0


# --- the query ------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "field"), [
    ({"period": "year"}, "period"),
    ({"period": "custom"}, "from"),
    ({"period": "custom", "from": "2026-11-01"}, "to"),
    ({"period": "custom", "from": "2026-12-01", "to": "2026-11-01"}, "from"),
    ({"period": "custom", "from": "2026-11-01", "to": "2026-11-02", "date": "2026-11-01"},
     "date"),
    ({"period": "week", "from": "2026-11-01"}, "from"),
    ({"period": "week", "date": "2026-13-01"}, "date"),
    ({"as_of": "2026-11-01T00:00:00"}, "as_of"),
    ({"period": "week", "date": "0001-01-01"}, "date"),
    ({"as_of": "9999-12-31T23:59:59Z"}, "as_of"),
    ({"colour": "red"}, "colour"),
])
def test_bad_query_params_name_the_field(params, field):
    with pytest.raises(ValidationError) as caught:
        api.ImprovementQuery.model_validate(params)
    assert field in [".".join(map(str, e["loc"])) for e in caught.value.errors()]


# --- the service's cached path --------------------------------------------------------------


def test_the_application_report_agrees_with_the_definition_live_and_as_of():
    logs = fixture()
    app = ReportingApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                               clock=FrozenClock(NOW))
    # each upstream's events in its log order (as the subscriber delivers them), in two
    # halves: the second report must refold the complaints that changed in between
    everything = sorted((e for log in logs.values() for e in log.entries),
                        key=lambda e: (e["origin_position"], e["origin_service"]))
    half = len(everything) // 2
    for entry in everything[:half]:
        app.process(Envelope.model_validate(entry))
    first = api.ImprovementQuery.model_validate({"period": "week", "date": "2026-11-04"})
    assert app.improvement_report(first) == report_from_timelines(
        [[e for e in log.entries if e in everything[:half]] for log in logs.values()],
        WEEK, None, NOW)
    for entry in everything[half:]:
        app.process(Envelope.model_validate(entry))
    query = api.ImprovementQuery.model_validate({"period": "week", "date": "2026-11-04"})
    assert app.improvement_report(query) == report(logs)
    as_of = "2026-11-04T10:30:00+00:00"
    query = api.ImprovementQuery.model_validate({"period": "week", "as_of": as_of})
    assert app.improvement_report(query) == report(logs, as_of=datetime.fromisoformat(as_of))
    month = api.ImprovementQuery.model_validate({"period": "custom", "from": "2026-10-01",
                                                 "to": "2026-11-30"})
    assert app.improvement_report(month)["complaints"] == 6
    with pytest.raises(InvalidCommand) as caught:
        app.improvement_report(api.ImprovementQuery.model_validate(
            {"as_of": "2026-12-11T00:00:00Z"}))
    assert caught.value.field == "query.as_of"
    default = app.improvement_report(api.ImprovementQuery())
    assert default["period"] == {"from": "2026-12-01", "to": "2026-12-31",
                                 "granularity": "month"}


# --- renderings -----------------------------------------------------------------------------


def hostile() -> dict[str, Log]:
    logs = fixture()
    extra = {f"h{i}": Log(at("2026-11-06T10:00") + h(i)).received(
        "letter", '=HYPERLINK("x")', '<script>alert("x")</script>&') for i in range(2)}
    return logs | extra


def test_csv_holds_every_table_in_one_file():
    r = report(hostile())
    data = render.to_csv(r)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert list(rows[0]) == render.CSV_COLUMNS
    tables = {row["table"] for row in rows}
    assert tables == set(render.TABLE_COLUMNS)
    for table, row in render.tables(r):  # no value falls outside its table's columns
        assert set(row) <= set(render.TABLE_COLUMNS[table]), (table, row)

    def where(table, **match):
        return [row for row in rows if row["table"] == table
                and all(row[k] == v for k, v in match.items())]

    assert where("summary", metric="complaints")[0]["value"] == "6"
    assert where("volumes", dimension="channel", value="letter")[0]["count"] == "2"
    assert where("sla", target="first_reply")[0]["compliance"] == "0.5"
    assert len(where("sla_breaches")) == 3
    assert where("root_causes", cause="people")[0]["cumulative_share"] == "1.0"
    assert where("corrective_actions", action_id="a-1")[0]["rate_before"] == "0.75"
    assert where("staff", staff="inv-2")[0]["satisfaction_average"] == ""
    # a text a spreadsheet would run as a formula is quoted
    assert where("volumes", dimension="product")[0]["value"] == "'=HYPERLINK(\"x\")"
    assert where("recurring", by="product", value="'=HYPERLINK(\"x\")")[0]["count"] == "2"


def test_csv_of_an_empty_report_has_the_same_header():
    empty = render.to_csv(report({}, Period.containing("day", date(2026, 11, 7))))
    assert empty.decode().splitlines()[0] == ",".join(render.CSV_COLUMNS)


def svgs(page: str) -> dict[str, bytes]:
    found = re.findall(r'<figure data-chart="([a-z_]+)"><img alt="[^"]*" '
                       r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)">', page)
    return {name: base64.b64decode(data) for name, data in found}


def test_html_is_self_contained_escaped_and_has_the_seven_charts():
    page = render.to_html(report(hostile()))
    charts = svgs(page)
    assert sorted(charts) == sorted(render.CHARTS) and len(render.CHARTS) == 7
    for name, svg in charts.items():
        assert svg.startswith(b"<?xml") and b"<svg" in svg, name
        assert b"<script" not in svg and b"<dc:date>" not in svg.lower(), name
    outside_data = re.sub(r"data:image/svg\+xml;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"https?:|//|url\(|@import|<script|<link|<iframe", outside_data,
                         re.IGNORECASE)
    assert re.findall(r'src="([^"]*)"', page) and all(
        s.startswith("data:image/svg+xml;base64,") for s in re.findall(r'src="([^"]*)"', page))
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    assert '<script>alert("x")' not in page


def test_html_of_an_empty_period_still_draws_every_chart():
    page = render.to_html(report({}, Period.containing("day", date(2026, 11, 7))))
    assert sorted(svgs(page)) == sorted(render.CHARTS)


def test_renderings_are_byte_for_byte_deterministic_even_in_another_process():
    r = report(fixture())
    html_bytes, csv_bytes = render.to_html(r).encode(), render.to_csv(r)
    assert render.to_html(r).encode() == html_bytes and render.to_csv(r) == csv_bytes
    script = ("import json, sys, hashlib\n"
              "from services.reporting import render\n"
              "r = json.load(sys.stdin)\n"
              "print(hashlib.sha256(render.to_html(r).encode()).hexdigest())\n")
    other = subprocess.run([sys.executable, "-c", script], input=json.dumps(r), text=True,
                           capture_output=True, cwd=ROOT, check=True)
    assert other.stdout.strip() == hashlib.sha256(html_bytes).hexdigest()
