"""Report figures folded from integration events: order-independent, replayable."""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from contracts import events
from contracts.envelope import Actor, make_envelope
from services.intake import sla
from services.reporting.projections import complaint_record, durations, summary

T0 = datetime(2026, 11, 2, 9, 0, 0, 120000, tzinfo=UTC)
AGENT = Actor(id="agent-7", role="agent")


class Log:
    """Integration events of one complaint, as reporting stores them (JSON dicts)."""

    def __init__(self, received_at=T0, complaint_id=None):
        self.complaint_id = complaint_id or uuid.uuid4()
        self.received_at = received_at
        self.positions: dict[str, int] = {}
        self.entries: list[dict] = []

    def add(self, service: str, event: BaseModel, after: timedelta, recorded_after=None):
        self.positions[service] = self.positions.get(service, 0) + 1
        at = self.received_at + after
        self.entries.append(make_envelope(
            event=event, complaint_id=self.complaint_id, origin_service=service,
            origin_position=self.positions[service], aggregate_id=self.complaint_id,
            aggregate_version=self.positions[service], occurred_at=at,
            recorded_at=at + (recorded_after or timedelta(milliseconds=5)),
            actor=AGENT, correlation_id="c").model_dump(mode="json"))
        return self

    # intake
    def received(self, channel="email", product="Membership card"):
        return self.add("intake", events.ComplaintReceived(
            channel=channel, language="en", text="charged twice", product=product,
            location="Store 12", customer_request="refund", happened_at=None,
            received_at=self.received_at), timedelta(0))

    def classified(self, type_="complaint", category="billing", severity="normal",
                   channel="email"):
        return self.add("intake", events.ComplaintClassified(
            channel=channel, type=type_, category=category, severity=severity,
            matched_rules=[], ruleset_version="test",
            deadlines=sla.deadlines(self.received_at, channel, severity)),
            timedelta(0), timedelta(milliseconds=6))

    def reclassified(self, after, category="after_sales", severity="high"):
        return self.add("intake", events.ComplaintReclassified(
            type="complaint", category=category, severity=severity,
            previous_type="complaint", previous_category="billing",
            previous_severity="normal", reason="override",
            deadlines=sla.deadlines(self.received_at, "email", severity)), after)

    # investigation
    def opened(self, escalate=False):
        self.add("investigation", events.CaseOpened(
            team="finance", category="billing", severity="normal"), timedelta(0),
            timedelta(milliseconds=20))
        if escalate:
            self.add("investigation", events.CaseEscalated(reason="severity critical"),
                     timedelta(0), timedelta(milliseconds=21))
        return self

    def assigned(self, after):
        return self.add("investigation", events.CaseAssigned(
            investigator="li.na", previous_investigator=None, reason=None), after)

    def concluded(self, after, number=1, root_cause="process"):
        return self.add("investigation", events.CaseConcluded(
            root_cause=root_cause, five_whys=["why"], responsible_department="Store",
            corrective_actions=[], summary="s", conclusion_number=number), after)

    def reopened(self, after, count=1):
        return self.add("investigation", events.CaseReopened(
            reason="disputed", reopen_count=count), after, timedelta(milliseconds=30))

    # resolution
    def ready(self, after):
        return self.add("resolution", events.ResolutionReady(reason="r"), after,
                        timedelta(milliseconds=25))

    def responded(self, after, outcome="refund", number=1):
        money = {"amount": Decimal("50.00"), "currency": "CNY"} if outcome == "refund" \
            else {"amount": None, "currency": None}
        return self.add("resolution", events.ResolutionResponded(
            outcome=outcome, message="m", channel="email", response_number=number, **money),
            after)

    def accepted(self, after):
        return self.add("resolution", events.ResolutionAccepted(comment=None), after)

    def disputed(self, after, count=1):
        return self.add("resolution", events.ResolutionDisputed(reason="no", dispute_count=count),
                        after)

    def closed(self, after, outcome="refund"):
        return self.add("resolution", events.ResolutionClosed(outcome=outcome, note=None), after)

    def followed_up(self, after, satisfaction):
        return self.add("resolution", events.ResolutionFollowedUp(
            satisfaction=satisfaction, solved=satisfaction >= 3, comment=None), after)

    def record(self):
        return complaint_record(self.entries)


def h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def disputed_and_closed_log() -> Log:
    """Received, escalated, concluded, answered, disputed, reopened, concluded again,
    answered again, accepted, closed, followed up."""
    return (Log().received().classified(severity="critical").opened(escalate=True)
            .assigned(h(1)).concluded(h(5)).ready(h(5)).responded(h(6))
            .disputed(h(8)).reopened(h(8)).concluded(h(20), number=2).ready(h(20))
            .responded(h(22), number=2).accepted(h(23)).closed(h(24)).followed_up(h(48), 4))


# --- one complaint's record ---------------------------------------------------


def test_a_complaint_record_holds_the_reportable_facts():
    log = disputed_and_closed_log()
    record = log.record()
    assert record == {
        "status": "closed", "channel": "email", "type": "complaint", "category": "billing",
        "severity": "critical", "product": "Membership card",
        "received_at": log.entries[0]["payload"]["received_at"],
        "first_response_at": log.entries[7]["occurred_at"],
        "closed_at": log.entries[-2]["occurred_at"], "root_cause": "process",
        "outcome": "refund", "disputes": 1, "reopens": 1, "escalated": True,
        "satisfaction": 4,
    }


REFERENCE = disputed_and_closed_log()


@settings(max_examples=150, deadline=None)
@given(st.permutations(disputed_and_closed_log().entries))
def test_the_same_events_in_any_order_give_the_same_record(shuffled):
    assert complaint_record(shuffled) == complaint_record(REFERENCE.entries)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_an_override_wins_over_the_automatic_classification_whatever_the_arrival_order(data):
    log = Log().received().classified().reclassified(h(2), category="after_sales",
                                                      severity="high").opened()
    shuffled = data.draw(st.permutations(log.entries))
    record = complaint_record(shuffled)
    assert (record["category"], record["severity"]) == ("after_sales", "high")


@pytest.mark.parametrize(("build", "status"), [
    (lambda: Log().received(), "received"),
    (lambda: Log().received().classified().opened(), "investigating"),
    (lambda: Log().received().classified().opened().concluded(h(3)), "awaiting_response"),
    (lambda: Log().received().classified(type_="inquiry").ready(h(0)), "awaiting_response"),
    (lambda: Log().received().classified().opened().concluded(h(3)).responded(h(4)),
     "responded"),
    (lambda: Log().received().classified().opened().concluded(h(3)).responded(h(4))
     .accepted(h(5)), "accepted"),
    (lambda: Log().received().classified().opened().concluded(h(3)).responded(h(4))
     .disputed(h(5)), "disputed"),
    (lambda: Log().received().classified().opened().concluded(h(3)).responded(h(4))
     .disputed(h(5)).reopened(h(5)), "investigating"),
    (lambda: Log().received().classified().opened().concluded(h(3)).responded(h(4))
     .closed(h(5)).followed_up(h(30), 5), "closed"),
])
def test_the_status_follows_the_latest_event(build, status):
    assert build().record()["status"] == status


def test_the_first_response_time_is_kept_when_a_second_response_follows():
    log = disputed_and_closed_log()
    assert log.record()["first_response_at"] == (T0 + h(6)).isoformat().replace("+00:00", "Z")


def test_downstream_events_seen_before_the_receipt_leave_the_receipt_unknown():
    log = Log().received().classified().opened()
    record = complaint_record(log.entries[2:])
    assert record["received_at"] is None
    assert record["status"] == "investigating"


def test_events_are_ordered_by_their_time_not_by_how_the_time_is_written():
    # A response at a whole second is serialised without a fraction
    # ("...T10:00:00Z"); the acceptance half a second later as "...T10:00:00.500000Z".
    log = Log(received_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC)).received().classified()
    log.responded(h(1))
    log.accepted(h(1) + timedelta(milliseconds=500))
    assert log.entries[2]["occurred_at"] == "2026-11-02T10:00:00Z"
    assert log.record()["status"] == "accepted"


# --- durations ------------------------------------------------------------------


def test_durations_of_nothing_are_unknown():
    assert durations([]) == {"count": 0, "median_hours": None, "p90_hours": None,
                             "max_hours": None}


def test_durations_give_median_p90_and_max():
    assert durations([float(v) for v in range(10, 0, -1)]) == {
        "count": 10, "median_hours": 5.5, "p90_hours": 9.0, "max_hours": 10.0}
    assert durations([3.0, 1.0, 2.0]) == {"count": 3, "median_hours": 2.0, "p90_hours": 3.0,
                                          "max_hours": 3.0}
    assert durations([0.5]) == {"count": 1, "median_hours": 0.5, "p90_hours": 0.5,
                                "max_hours": 0.5}


def test_a_single_slow_case_shows_in_p90_and_max_not_in_the_median():
    figures = durations([1.0] * 9 + [100.0])
    assert figures["median_hours"] == 1.0
    assert figures["p90_hours"] == 1.0
    assert figures["max_hours"] == 100.0
    figures = durations([1.0] * 8 + [50.0, 100.0])
    assert figures["p90_hours"] == 50.0


@given(st.lists(st.floats(min_value=0, max_value=10_000, allow_nan=False), min_size=1,
                max_size=50))
def test_durations_are_ordered_and_taken_from_the_values(values):
    figures = durations(values)
    assert figures["count"] == len(values)
    assert min(values) - 1e-4 <= figures["median_hours"] <= figures["p90_hours"] + 1e-4
    assert figures["p90_hours"] <= figures["max_hours"]
    assert figures["max_hours"] == round(max(values), 4)
    assert figures["p90_hours"] in {round(v, 4) for v in values}
    at_or_below = sum(1 for v in values if round(v, 4) <= figures["p90_hours"])
    assert at_or_below >= 0.9 * len(values)
    assert durations(list(reversed(values))) == figures


# --- summary ----------------------------------------------------------------------


def closed_log(received_at, response_after, close_after, satisfaction=None, channel="email",
               outcome="refund", category="billing"):
    log = (Log(received_at=received_at).received(channel=channel)
           .classified(channel=channel, category=category).opened()
           .concluded(h(response_after - 0.5)).responded(h(response_after), outcome=outcome)
           .closed(h(close_after), outcome=outcome))
    if satisfaction is not None:
        log.followed_up(h(close_after + 24), satisfaction)
    return log


def test_the_summary_counts_volumes_and_times():
    day = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    records = [
        closed_log(day, 1, 10, satisfaction=5).record(),
        closed_log(day + h(1), 3, 20, satisfaction=2, channel="phone",
                   outcome="apology", category="service_attitude").record(),
        closed_log(day + h(2), 2, 30).record(),
        Log(received_at=day + h(3)).received(channel="web").classified(channel="web")
        .opened().record(),
        disputed_and_closed_log().record(),
    ]
    report = summary(records)
    assert report["total"] == 5
    assert report["by_channel"] == {"email": 3, "phone": 1, "web": 1}
    assert report["by_category"] == {"billing": 4, "service_attitude": 1}
    assert report["by_status"] == {"closed": 4, "investigating": 1}
    assert report["by_outcome"] == {"apology": 1, "refund": 3}
    assert report["by_severity"] == {"critical": 1, "normal": 4}
    assert report["by_root_cause"] == {"process": 4}
    assert (report["closed"], report["disputed"], report["reopened"], report["escalated"]) == (
        4, 1, 1, 1)
    assert report["time_to_first_response"] == {
        "count": 4, "median_hours": 2.5, "p90_hours": 6.0, "max_hours": 6.0}
    assert report["time_to_resolution"] == {
        "count": 4, "median_hours": 22.0, "p90_hours": 30.0, "max_hours": 30.0}
    assert report["satisfaction_average"] == pytest.approx(11 / 3, abs=1e-4)
    assert report["satisfaction_distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}


def test_follow_up_coverage_is_the_share_of_closed_complaints_followed_up():
    day = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    records = [closed_log(day, 1, 2, satisfaction=4).record(),
               closed_log(day, 1, 2, satisfaction=1).record(),
               closed_log(day, 1, 2).record(),
               Log(received_at=day).received().classified().opened().record()]
    report = summary(records)
    assert report["follow_up_coverage"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["satisfaction_average"] == 2.5
    assert summary(records[3:])["follow_up_coverage"] is None
    assert summary(records[:2])["follow_up_coverage"] == 1.0


def test_the_period_filter_counts_complaints_by_their_day_of_receipt():
    records = [closed_log(datetime(2026, 10, 31, 23, 59, tzinfo=UTC), 1, 2).record(),
               closed_log(datetime(2026, 11, 1, 0, 0, tzinfo=UTC), 1, 2).record(),
               closed_log(datetime(2026, 11, 15, 12, 0, tzinfo=UTC), 1, 2).record(),
               closed_log(datetime(2026, 11, 30, 23, 59, tzinfo=UTC), 1, 2).record(),
               closed_log(datetime(2026, 12, 1, 0, 0, tzinfo=UTC), 1, 2).record()]
    november = summary(records, date(2026, 11, 1), date(2026, 11, 30))
    assert november["total"] == 3
    assert (november["period_from"], november["period_to"]) == ("2026-11-01", "2026-11-30")
    assert summary(records, period_from=date(2026, 11, 15))["total"] == 3
    assert summary(records, period_to=date(2026, 10, 31))["total"] == 1
    assert summary(records, date(2026, 11, 15), date(2026, 11, 15))["total"] == 1
    assert summary(records)["total"] == 5
    assert summary(records, date(2027, 1, 1))["time_to_resolution"]["count"] == 0


def test_a_complaint_known_only_from_downstream_events_is_not_counted_yet():
    log = Log().received().classified().opened()
    report = summary([complaint_record(log.entries[2:]), log.record()])
    assert report["total"] == 1


def test_an_empty_summary_has_no_averages():
    report = summary([])
    assert report["total"] == 0
    assert report["satisfaction_average"] is None
    assert report["follow_up_coverage"] is None
    assert report["time_to_first_response"]["median_hours"] is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.floats(0.25, 30), st.floats(0, 200),
                          st.one_of(st.none(), st.integers(1, 5))), min_size=1, max_size=8),
       st.randoms(use_true_random=False))
def test_the_summary_does_not_depend_on_the_order_of_complaints_or_events(specs, rnd):
    logs = [closed_log(T0 + timedelta(days=d), r, r + c, satisfaction=s)
            for d, r, c, s in specs]
    ordered = summary([log.record() for log in logs])
    shuffled_logs = list(logs)
    rnd.shuffle(shuffled_logs)
    records = []
    for log in shuffled_logs:
        entries = list(log.entries)
        rnd.shuffle(entries)
        records.append(complaint_record(entries))
    assert summary(records) == ordered
    assert ordered["closed"] == len(specs)
