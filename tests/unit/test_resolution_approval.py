"""Resolution: a remedy above its currency's threshold waits for a supervisor's approval;
the policy file (thresholds, follow-up delay) and money in Decimal, never float."""

import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import api
from contracts.envelope import Actor
from contracts.vocabulary import MONETARY_OUTCOMES, Outcome, ResolutionStatus
from servicekit.clock import FrozenClock
from servicekit.errors import Forbidden, StateConflict
from services.resolution.application import ResolutionApplication
from services.resolution.domain import needs_approval
from services.resolution.policy import (
    POLICY_FILE,
    PolicyError,
    ResolutionPolicy,
    load_policy,
    parse_policy,
)
from tests.unit.test_resolution import (
    RESOLVER,
    SUPERVISOR,
    T0,
    Upstream,
    approve,
    new_complaint,
    published,
    reject,
    respond,
)

ROOT = Path(__file__).resolve().parents[2]
POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
POLICY = ResolutionPolicy(default_threshold=Decimal("100.00"),
                          thresholds={"CNY": Decimal("1000.00"), "USD": Decimal("150.00"),
                                      "JPY": Decimal("20000")})


@pytest.fixture
def clock():
    return FrozenClock(T0 + timedelta(hours=1))


@pytest.fixture
def app(clock):
    return ResolutionApplication(env=POPO, clock=clock, policy=POLICY)


@pytest.fixture
def upstream():
    return Upstream()


# --- the threshold --------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "currency", "status"), [
    ("1000.00", "CNY", ResolutionStatus.responded),          # equal: sent at once
    ("1000.01", "CNY", ResolutionStatus.awaiting_approval),  # one cent above
    ("999.99", "CNY", ResolutionStatus.responded),
    ("150.00", "USD", ResolutionStatus.responded),
    ("150.01", "USD", ResolutionStatus.awaiting_approval),
    ("20000", "JPY", ResolutionStatus.responded),
    ("20000.01", "JPY", ResolutionStatus.awaiting_approval),
    ("100.00", "CHF", ResolutionStatus.responded),           # not listed: the default
    ("100.01", "CHF", ResolutionStatus.awaiting_approval),
])
@pytest.mark.parametrize("outcome", ["refund", "monetary_compensation"])
def test_approval_is_needed_only_above_the_threshold_of_the_currency(
        app, upstream, amount, currency, status, outcome):
    complaint_id = new_complaint(app, upstream)
    view = respond(app, complaint_id, outcome=outcome, amount=Decimal(amount),
                   currency=currency)
    assert view.status == status
    if status == ResolutionStatus.awaiting_approval:
        assert view.responses == [] and view.first_response_at is None  # nothing sent
        assert view.proposal["amount"] == Decimal(amount)
        assert view.proposal["threshold"] == POLICY.threshold_for(currency)
        assert view.proposal["status"] == "pending"
        assert published(app)[-1] == "resolution.remedy_proposed"
    else:
        assert [r.amount for r in view.responses] == [Decimal(amount)]
        assert view.proposal is None


@given(cents=st.integers(min_value=1, max_value=10**12),
       currency=st.sampled_from(["CNY", "USD", "JPY", "EUR", "KRW"]),
       outcome=st.sampled_from(list(Outcome)))
def test_needs_approval_compares_exact_decimals(cents, currency, outcome):
    amount = Decimal(cents).scaleb(-2)
    threshold = needs_approval(outcome, amount, currency, POLICY)
    monetary = outcome in MONETARY_OUTCOMES  # with an amount given
    expected = monetary and amount > POLICY.threshold_for(currency)
    assert (threshold is not None) == expected
    if expected:
        assert isinstance(threshold, Decimal) and threshold == POLICY.threshold_for(currency)


def test_a_refund_without_an_amount_needs_no_approval(app, upstream):
    complaint_id = new_complaint(app, upstream)
    view = app.respond(complaint_id, api.Respond(outcome="refund", message="We refund it."),
                       RESOLVER)
    assert view.status == ResolutionStatus.responded


@pytest.mark.parametrize("amount", [1000.01, 1000.0, 5, "1000.01"])
def test_money_is_never_a_float_or_anything_but_a_decimal(amount):
    with pytest.raises(TypeError, match="Decimal"):
        needs_approval("refund", amount, "CNY", POLICY)


def test_a_float_amount_is_refused_by_the_aggregate_and_stores_nothing(app, upstream):
    complaint_id = new_complaint(app, upstream)
    head = app.head()
    resolution = app._resolution(complaint_id)
    with pytest.raises(TypeError):
        resolution.respond({"complaint_id": str(complaint_id), "at": T0,
                            "actor": RESOLVER.model_dump(mode="json"), "correlation_id": "c"},
                           "refund", "m", 1000.01, "CNY", POLICY)
    assert app.head() == head


def test_proposal_amounts_travel_as_exact_decimal_strings(app, upstream):
    complaint_id = new_complaint(app, upstream)
    respond(app, complaint_id, amount=Decimal("1000.10"), currency="CNY")
    envelope = app.notifications(1, 100)[-1]
    assert envelope.event_type == "resolution.remedy_proposed"
    assert (envelope.payload["amount"], envelope.payload["threshold"]) == ("1000.10", "1000.00")
    parsed = envelope.parsed()
    assert parsed.amount == Decimal("1000.10") and isinstance(parsed.amount, Decimal)
    assert parsed.threshold - parsed.amount == Decimal("-0.10")  # exact arithmetic


# --- approve and reject --------------------------------------------------------------


def test_an_approved_remedy_is_sent_with_the_proposed_content(app, upstream, clock):
    complaint_id = new_complaint(app, upstream)
    respond(app, complaint_id, outcome="monetary_compensation", amount=Decimal("2500.00"),
            message="Compensation for the damaged sofa.")
    clock.advance(hours=2)
    view = approve(app, complaint_id)
    assert view.status == ResolutionStatus.responded
    [response] = view.responses
    assert (response.outcome, response.message, response.amount, response.currency) == (
        "monetary_compensation", "Compensation for the damaged sofa.", Decimal("2500.00"),
        "CNY")
    assert response.by == RESOLVER.id  # who wrote it; the approval is the supervisor's
    assert response.at == view.first_response_at == clock.now()  # sent when approved
    assert view.proposal["status"] == "approved"
    assert (view.proposal["decided_by"], view.proposal["proposed_by"]) == ("sup-1",
                                                                          RESOLVER.id)
    assert published(app)[-3:] == ["resolution.remedy_proposed", "resolution.remedy_approved",
                                   "resolution.responded"]
    approved, responded = app.notifications(1, 100)[-2:]
    assert approved.actor.id == responded.actor.id == "sup-1"
    assert approved.parsed().note == "within the goodwill budget"
    assert responded.parsed().amount == Decimal("2500.00")


@pytest.mark.parametrize("role", ["agent", "investigator", "resolver", "quality_manager",
                                  "admin"])
@pytest.mark.parametrize("decide", [approve, reject])
def test_only_a_supervisor_decides_on_a_remedy(app, upstream, role, decide):
    complaint_id = new_complaint(app, upstream)
    respond(app, complaint_id, amount=Decimal("5000.00"))
    head = app.head()
    with pytest.raises(Forbidden) as caught:
        decide(app, complaint_id, Actor(id="someone", role=role))
    assert caught.value.allowed_roles == ["supervisor"]
    assert app.head() == head
    assert app.get_resolution(complaint_id).status == ResolutionStatus.awaiting_approval


def test_a_supervisor_does_not_approve_their_own_proposal(app, upstream):
    complaint_id = new_complaint(app, upstream)
    app.respond(complaint_id, api.Respond(outcome="refund", message="m",
                                          amount=Decimal("5000.00"), currency="CNY"),
                SUPERVISOR)
    head = app.head()
    with pytest.raises(Forbidden) as caught:
        approve(app, complaint_id, SUPERVISOR)
    assert str(caught.value).startswith("nobody approves their own proposal")
    assert "X-Actor" not in str(caught.value)
    assert app.head() == head
    assert app.get_resolution(complaint_id).status == ResolutionStatus.awaiting_approval
    assert approve(app, complaint_id, Actor(id="sup-2", role="supervisor")).status == \
        ResolutionStatus.responded


def test_a_rejected_remedy_is_not_sent_and_the_resolver_responds_again(app, upstream):
    complaint_id = new_complaint(app, upstream)
    respond(app, complaint_id, amount=Decimal("5000.00"))
    view = reject(app, complaint_id)
    assert view.status == ResolutionStatus.ready
    assert view.responses == []
    assert (view.proposal["status"], view.proposal["note"]) == (
        "rejected", "too generous for a late delivery")
    assert app.notifications(1, 100)[-1].parsed().reason == "too generous for a late delivery"
    with pytest.raises(StateConflict) as caught:
        approve(app, complaint_id)
    assert (caught.value.state, caught.value.allowed) == ("ready", ["respond"])
    again = respond(app, complaint_id, amount=Decimal("800.00"))
    assert [(r.number, r.amount) for r in again.responses] == [(1, Decimal("800.00"))]


def test_nothing_else_happens_while_a_remedy_awaits_approval(app, upstream):
    complaint_id = new_complaint(app, upstream)
    respond(app, complaint_id, amount=Decimal("5000.00"))
    for action in (lambda: respond(app, complaint_id),
                   lambda: app.accept(complaint_id, api.Accept(), RESOLVER),
                   lambda: app.close_case(complaint_id, api.Close(), RESOLVER)):
        with pytest.raises(StateConflict) as caught:
            action()
        assert (caught.value.state, caught.value.allowed) == ("awaiting_approval",
                                                              ["approve", "reject"])


def test_an_approved_inquiry_remedy_is_closed_with_its_response(app, upstream):
    complaint_id = new_complaint(app, upstream, type_="inquiry")
    respond(app, complaint_id, amount=Decimal("5000.00"))
    view = approve(app, complaint_id)
    assert (view.status, view.outcome) == (ResolutionStatus.closed, "refund")
    assert published(app)[-2:] == ["resolution.responded", "resolution.closed"]


# --- the policy file -----------------------------------------------------------------


def test_the_shipped_policy_has_decimal_thresholds_and_three_follow_up_days():
    policy = load_policy(environ={})
    assert policy.follow_up_days == 3
    assert policy.threshold_for("CNY") == Decimal("1000.00")
    assert all(isinstance(t, Decimal) for t in policy.thresholds.values())
    assert isinstance(policy.default_threshold, Decimal)
    assert str(policy.threshold_for("USD")) == "150.00"  # the text, not a float's digits


def test_unquoted_yaml_decimals_are_read_exactly(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("approval:\n  default: 0.10\n  thresholds:\n    CNY: 1000.10\n"
                    "    USD: '150.05'\n    JPY: 20000\nfollow_up_days: 7\n")
    policy = load_policy(path)
    assert policy.thresholds == {"CNY": Decimal("1000.10"), "USD": Decimal("150.05"),
                                 "JPY": Decimal("20000")}
    assert str(policy.thresholds["CNY"]) == "1000.10"
    assert policy.default_threshold == Decimal("0.10")
    assert policy.follow_up_days == 7


def test_the_policy_file_is_read_when_the_application_is_built(tmp_path, monkeypatch, clock):
    path = tmp_path / "policy.yaml"
    path.write_text("approval:\n  default: 10\nfollow_up_days: 5\n")
    monkeypatch.setenv("RESOLUTION_POLICY_FILE", str(path))
    app = ResolutionApplication(env=POPO, clock=clock)
    assert (app.rules.default_threshold, app.rules.follow_up_days) == (Decimal("10"), 5)
    path.write_text("approval:\n  default: 99999\nfollow_up_days: 1\n")
    assert app.rules.follow_up_days == 5  # read once
    upstream = Upstream()
    complaint_id = new_complaint(app, upstream)
    assert respond(app, complaint_id, amount=Decimal("10.01"), currency="CNY").status == \
        ResolutionStatus.awaiting_approval


def test_the_policy_file_can_be_named_in_the_application_env(tmp_path, clock):
    path = tmp_path / "other.yaml"
    path.write_text("approval:\n  default: 1\n")
    app = ResolutionApplication(env={**POPO, "RESOLUTION_POLICY_FILE": str(path)}, clock=clock)
    assert app.rules == ResolutionPolicy(default_threshold=Decimal("1"), thresholds={},
                                         follow_up_days=3)


def test_a_missing_policy_file_stops_the_build_not_the_import(tmp_path, monkeypatch, clock):
    missing = str(tmp_path / "nowhere.yaml")
    imported = subprocess.run(
        [sys.executable, "-c", "import services.resolution.service"], cwd=ROOT,
        env={**os.environ, "RESOLUTION_POLICY_FILE": missing}, capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr  # importing reads nothing
    monkeypatch.setenv("RESOLUTION_POLICY_FILE", missing)
    with pytest.raises(PolicyError, match="nowhere.yaml"):
        ResolutionApplication(env=POPO, clock=clock)


@pytest.mark.parametrize(("text", "problem"), [
    ("approval:\n  thresholds: {CNY: 1}\n", "approval.default: missing"),
    ("approval:\n  default: -1\n", "approval.default: must be a finite amount"),
    ("approval:\n  default: .nan\n", "approval.default: must be a finite amount"),
    ("approval:\n  default: .inf\n", "approval.default: must be a finite amount"),
    ("approval:\n  default: yes\n", "approval.default: an amount"),
    ("approval:\n  default: lots\n", "approval.default: 'lots' is not an amount"),
    ("approval:\n  default: 1\n  thresholds: {XAU: 1}\n", "approval.thresholds.XAU"),
    ("approval:\n  default: 1\n  thresholds: {usd: 1}\n", "approval.thresholds.usd"),
    ("approval:\n  default: 1\nfollow_up_days: 2.5\n", "follow_up_days"),
    ("approval:\n  default: 1\nfollow_up_days: -1\n", "follow_up_days"),
    ("approval:\n  default: 1\nfollowup_days: 3\n", "unknown key(s) followup_days"),
    ("approval:\n  default: 1\n  treshold: {}\n", "unknown key(s) treshold"),
    ("- a list\n", "must be a mapping"),
    ("approval: [\n", "not valid YAML"),
])
def test_a_broken_policy_is_refused_naming_the_key(tmp_path, text, problem):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert problem in str(caught.value)
    assert str(path) in str(caught.value)


def test_the_shipped_policy_file_sits_beside_the_module():
    assert POLICY_FILE == ROOT / "services/resolution/policy.yaml"
    assert parse_policy({"approval": {"default": "5"}}).threshold_for("CNY") == Decimal("5")
