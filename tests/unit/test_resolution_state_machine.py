"""Generated lifecycles of one resolution, checked against a model of its states.

Hypothesis draws a type (complaint, suggestion, praise, inquiry) and then any sequence
of actions: respond with a small or a large amount (or without money), approve, reject,
accept, dispute, close, follow up satisfied or not, the investigation concluding, time
passing. In every state every action is tried by some sequence: an action the model
allows must succeed and change the state as the model says; any other must raise
StateConflict naming the state and exactly the model's allowed actions, and change
nothing. After every step the view, the published log and the follow-up list agree
with the model, and the first response is never overwritten."""

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from contracts import api
from contracts.envelope import Actor
from contracts.vocabulary import ComplaintType, ResolutionStatus
from servicekit.clock import FrozenClock
from servicekit.errors import Forbidden, StateConflict
from services.resolution.application import ResolutionApplication
from services.resolution.policy import ResolutionPolicy
from tests.unit.test_resolution import RESOLVER, SUPERVISOR, T0, Upstream

S = ResolutionStatus
POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
THRESHOLD = Decimal("1000.00")
POLICY = ResolutionPolicy(default_threshold=Decimal("100.00"),
                          thresholds={"CNY": THRESHOLD}, follow_up_days=3)
MODEL_ALLOWED = {
    S.awaiting_investigation: [],
    S.ready: ["respond"],
    S.awaiting_approval: ["approve", "reject"],
    S.responded: ["accept", "close", "dispute"],
    S.accepted: ["close"],
    S.disputed: [],
    S.closed: ["follow_up"],  # until this closure's follow-up is recorded
    S.reopened: [],
}
WAITING = (S.awaiting_investigation, S.disputed, S.reopened)

small = st.decimals(min_value=Decimal("0.01"), max_value=THRESHOLD, places=2)
large = st.decimals(min_value=THRESHOLD + Decimal("0.01"), max_value=Decimal("999999999.99"),
                    places=2)


def floats_in(value: Any) -> list[Any]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in floats_in(v)]
    if isinstance(value, list):
        return [f for v in value for f in floats_in(v)]
    return []


class ResolutionLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FrozenClock(T0 + timedelta(hours=1))
        self.app = ResolutionApplication(env=POPO, clock=self.clock, policy=POLICY)
        self.upstream = Upstream()
        self.conclusions = 0

    # --- the model --------------------------------------------------------

    def allowed(self) -> list[str]:
        if self.status == S.closed and self.followed_up:
            return []
        return MODEL_ALLOWED[self.status]

    def sent(self, amount: Decimal | None) -> None:
        self.amounts.append(amount)
        if self.first_response_at is None:
            self.first_response_at = self.clock.now()
        if self.type == ComplaintType.inquiry:
            self.closed()
        else:
            self.status = S.responded

    def closed(self) -> None:
        self.status = S.closed
        self.followed_up = False
        self.follow_up_due = self.clock.now() + timedelta(days=3)

    def attempt(self, action: str, call, on_success) -> None:
        allowed = self.allowed()
        before = self.app.get_resolution(self.cid)
        head = self.app.head()
        if action in allowed:
            view = call()
            on_success()
            assert view.status == self.status
        else:
            with pytest.raises(StateConflict) as caught:
                call()
            assert caught.value.action == action
            assert caught.value.state == self.status
            assert caught.value.allowed == sorted(allowed)
            assert f"'{self.status}'" in str(caught.value)
            assert self.app.head() == head
            assert self.app.get_resolution(self.cid) == before

    # --- the start ------------------------------------------------------------

    @initialize(type_=st.sampled_from(list(ComplaintType)))
    def receive(self, type_: ComplaintType) -> None:
        self.cid = uuid.uuid4()
        self.type = type_
        self.app.process(self.upstream.received(self.cid))
        self.app.process(self.upstream.classified(self.cid, type_.value))
        self.status = S.awaiting_investigation if type_ == ComplaintType.complaint else S.ready
        self.followed_up = False
        self.follow_up_due = None
        self.amounts: list[Decimal | None] = []
        self.first_response_at = None
        self.first_response = None
        self.reopen_count = 0
        self.proposed: Decimal | None = None

    # --- the actions ------------------------------------------------------------

    @rule(amount=small)
    def respond_small(self, amount: Decimal) -> None:
        self.attempt("respond", lambda: self.app.respond(self.cid, api.Respond(
            outcome="refund", message="small refund", amount=amount, currency="CNY"),
            RESOLVER), lambda: self.sent(amount))

    @rule(amount=large, outcome=st.sampled_from(["refund", "monetary_compensation"]))
    def respond_large(self, amount: Decimal, outcome: str) -> None:
        def proposed() -> None:
            self.status = S.awaiting_approval
            self.proposed = amount

        self.attempt("respond", lambda: self.app.respond(self.cid, api.Respond(
            outcome=outcome, message="large remedy", amount=amount, currency="CNY"),
            RESOLVER), proposed)

    @rule(outcome=st.sampled_from(["explanation", "apology", "repair", "replacement",
                                   "non_monetary_relief", "no_action"]))
    def respond_without_money(self, outcome: str) -> None:
        self.attempt("respond", lambda: self.app.respond(self.cid, api.Respond(
            outcome=outcome, message="no money"), RESOLVER), lambda: self.sent(None))

    @rule()
    def approve(self) -> None:
        self.attempt("approve", lambda: self.app.approve(self.cid, api.ApproveRemedy(),
                                                         SUPERVISOR),
                     lambda: self.sent(self.proposed))

    @rule(role=st.sampled_from(["agent", "investigator", "resolver", "quality_manager"]))
    def approve_without_being_a_supervisor(self, role: str) -> None:
        head = self.app.head()
        with pytest.raises(Forbidden):
            self.app.approve(self.cid, api.ApproveRemedy(), Actor(id="x", role=role))
        assert self.app.head() == head

    @rule()
    def reject(self) -> None:
        def rejected() -> None:
            self.status = S.ready

        self.attempt("reject", lambda: self.app.reject(
            self.cid, api.RejectRemedy(reason="too much"), SUPERVISOR), rejected)

    @rule()
    def accept(self) -> None:
        def accepted() -> None:
            self.status = S.accepted

        self.attempt("accept", lambda: self.app.accept(self.cid, api.Accept(), RESOLVER),
                     accepted)

    @rule()
    def dispute(self) -> None:
        def disputed() -> None:
            self.status = S.disputed if self.type == ComplaintType.complaint else S.ready

        self.attempt("dispute", lambda: self.app.dispute(
            self.cid, api.Dispute(reason="not enough"), RESOLVER), disputed)

    @rule()
    def close(self) -> None:
        self.attempt("close", lambda: self.app.close_case(self.cid, api.Close(), RESOLVER),
                     self.closed)

    @rule(satisfaction=st.integers(min_value=3, max_value=5))
    def follow_up_satisfied(self, satisfaction: int) -> None:
        def done() -> None:
            self.followed_up = True

        self.attempt("follow_up", lambda: self.app.follow_up(self.cid, api.FollowUp(
            satisfaction=satisfaction, solved=True), RESOLVER), done)

    @rule(satisfaction=st.integers(min_value=1, max_value=5), solved=st.booleans())
    def follow_up_dissatisfied(self, satisfaction: int, solved: bool) -> None:
        if satisfaction > 2 and solved:
            satisfaction = 2

        def reopened() -> None:
            self.reopen_count += 1
            self.follow_up_due = None
            self.status = S.reopened if self.type == ComplaintType.complaint else S.ready

        self.attempt("follow_up", lambda: self.app.follow_up(self.cid, api.FollowUp(
            satisfaction=satisfaction, solved=solved), RESOLVER), reopened)

    @rule()
    def investigation_concludes(self) -> None:
        self.conclusions += 1
        self.app.process(self.upstream.concluded(self.cid, number=self.conclusions))
        if self.status in WAITING:
            self.status = S.ready

    @rule(data=st.data())
    def progress(self, data: st.DataObject) -> None:
        """One allowed step forward (any of the rules above may also be tried in any
        state): keeps deep states such as disputed, closed and reopened well visited."""
        if self.status in WAITING:
            self.investigation_concludes()
            return
        allowed = self.allowed()
        if not allowed:
            return
        action = data.draw(st.sampled_from(allowed), label="action")
        if action == "respond":
            choice = data.draw(st.sampled_from(["small", "large", "none"]), label="respond")
            if choice == "small":
                self.respond_small(data.draw(small, label="amount"))
            elif choice == "large":
                self.respond_large(data.draw(large, label="amount"), "refund")
            else:
                self.respond_without_money("apology")
        elif action == "follow_up":
            satisfaction = data.draw(st.integers(1, 5), label="satisfaction")
            solved = data.draw(st.booleans(), label="solved")
            if satisfaction <= 2 or not solved:
                self.follow_up_dissatisfied(satisfaction, solved)
            else:
                self.follow_up_satisfied(satisfaction)
        else:
            getattr(self, action)()

    @rule()
    def every_forbidden_action_is_refused(self) -> None:
        tries = {"respond": lambda: self.respond_small(Decimal("10.00")),
                 "approve": self.approve, "reject": self.reject, "accept": self.accept,
                 "dispute": self.dispute, "close": self.close,
                 "follow_up": lambda: self.follow_up_satisfied(4)}
        for action, attempt in tries.items():
            if action not in self.allowed():
                attempt()

    @rule(hours=st.integers(min_value=1, max_value=200))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(hours=hours)

    # --- what always holds ----------------------------------------------------------

    @invariant()
    def the_view_matches_the_model(self) -> None:
        view = self.app.get_resolution(self.cid)
        assert view.status == self.status
        assert [r.amount for r in view.responses] == self.amounts
        assert [r.number for r in view.responses] == list(range(1, len(self.amounts) + 1))
        assert view.first_response_at == self.first_response_at
        if view.responses:
            self.first_response = self.first_response or view.responses[0]
            assert view.responses[0] == self.first_response  # never overwritten
        assert view.reopen_count == self.reopen_count
        if self.status == S.closed:
            assert view.follow_up_due == self.follow_up_due
        else:
            assert view.follow_up_due is None and view.closed_at is None
        resolution = self.app._resolution(self.cid)
        assert sorted(resolution.allowed_actions()) == self.allowed()

    @invariant()
    def the_follow_up_list_matches_the_model(self) -> None:
        listed = [f for f in self.app.list_follow_ups().follow_ups if f.complaint_id == self.cid]
        pending = self.status == S.closed and not self.followed_up
        assert len(listed) == int(pending)
        if listed:
            assert listed[0].overdue == (self.follow_up_due < self.clock.now())

    @invariant()
    def every_event_is_published_and_money_is_never_float(self) -> None:
        envelopes = self.app.notifications(1, 10_000)  # each maps to a contract
        assert len(envelopes) == self.app.head()
        for envelope in envelopes:
            assert floats_in(envelope.model_dump(mode="json")) == []
            if "amount" in envelope.payload and envelope.payload["amount"] is not None:
                assert isinstance(envelope.parsed().amount, Decimal)

    def teardown(self) -> None:
        self.app.close()


ResolutionLifecycle.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_resolution_lifecycle = ResolutionLifecycle.TestCase


def test_every_state_and_action_pair_is_reachable_by_the_machine():
    """The rules cover every action the domain knows, and the model every status."""
    assert set(MODEL_ALLOWED) == set(ResolutionStatus)
    from services.resolution.domain import ALLOWED

    assert {s: sorted(a) for s, a in ALLOWED.items()} == MODEL_ALLOWED
    assert set().union(*ALLOWED.values()) == {"respond", "approve", "reject", "accept",
                                              "dispute", "close", "follow_up"}
