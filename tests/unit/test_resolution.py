"""Resolution: when a response is due, respond, accept or dispute, close, follow up."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from eventsourcing.persistence import RecordConflictError
from pydantic import BaseModel

from contracts import api, events
from contracts.envelope import Actor, make_envelope
from contracts.vocabulary import ResolutionStatus
from servicekit.clock import FrozenClock
from servicekit.errors import NotFound, StateConflict
from services.intake import sla
from services.resolution.application import ResolutionApplication

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
AGENT = Actor(id="agent-7", role="agent")
LI = Actor(id="li.na", role="investigator")
RESOLVER = Actor(id="resolver-3", role="resolver")
SUPERVISOR = Actor(id="sup-1", role="supervisor")


class Upstream:
    def __init__(self):
        self.positions = {"intake": 0, "investigation": 0}

    def envelope(self, origin: str, event: BaseModel, complaint_id: uuid.UUID, actor: Actor,
                 at: datetime = T0):
        self.positions[origin] += 1
        return make_envelope(
            event=event, complaint_id=complaint_id, origin_service=origin,
            origin_position=self.positions[origin], aggregate_id=complaint_id,
            aggregate_version=self.positions[origin], occurred_at=at, recorded_at=at,
            actor=actor, correlation_id=f"corr-{complaint_id}")

    def received(self, complaint_id, text="I was charged twice for one order",
                 channel="email", product="Membership card", staff_member=None):
        return self.envelope("intake", events.ComplaintReceived(
            channel=channel, language="en", text=text, product=product, location="Store 12",
            customer_request=None, happened_at=None, received_at=T0,
            staff_member=staff_member), complaint_id, AGENT)

    def classified(self, complaint_id, type_="complaint", channel="email", category="billing"):
        return self.envelope("intake", events.ComplaintClassified(
            channel=channel, type=type_, category=category, severity="normal",
            matched_rules=[f"cat.{category}.en"], ruleset_version="test",
            deadlines=sla.deadlines(T0, channel, "normal")),
            complaint_id, AGENT)

    def reclassified(self, complaint_id, type_, previous_type, category="billing"):
        return self.envelope("intake", events.ComplaintReclassified(
            type=type_, category=category, severity="normal", previous_type=previous_type,
            previous_category="billing", previous_severity="normal", reason="override",
            deadlines=sla.deadlines(T0, "email", "normal")), complaint_id, AGENT)

    def concluded(self, complaint_id, number=1):
        return self.envelope("investigation", events.CaseConcluded(
            root_cause="process", five_whys=["charged twice"], responsible_department="Store",
            corrective_actions=[], summary="double charge", conclusion_number=number),
            complaint_id, LI)


@pytest.fixture
def clock():
    return FrozenClock(T0 + timedelta(hours=1))


@pytest.fixture
def app(clock):
    app = ResolutionApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)
    return app


@pytest.fixture
def upstream():
    return Upstream()


def new_complaint(app, upstream, type_="complaint", concluded=True, staff_member=None,
                  text="I was charged twice for one order"):
    complaint_id = uuid.uuid4()
    app.process(upstream.received(complaint_id, text=text, staff_member=staff_member))
    app.process(upstream.classified(complaint_id, type_))
    if concluded and type_ == "complaint":
        app.process(upstream.concluded(complaint_id))
    return complaint_id


def respond(app, cid, outcome="refund", amount=Decimal("199.99"), currency="CNY",
            message="We are refunding the double charge."):
    if outcome not in ("refund", "monetary_compensation"):
        amount = currency = None
    return app.respond(cid, api.Respond(outcome=outcome, message=message, amount=amount,
                                        currency=currency), RESOLVER)


def approve(app, cid, actor=None):
    return app.approve(cid, api.ApproveRemedy(note="within the goodwill budget"),
                       actor or SUPERVISOR)


def reject(app, cid, actor=None):
    return app.reject(cid, api.RejectRemedy(reason="too generous for a late delivery"),
                      actor or SUPERVISOR)


def accept(app, cid):
    return app.accept(cid, api.Accept(comment="ok, thanks"), RESOLVER)


def dispute(app, cid, reason="I was charged three times, not twice"):
    return app.dispute(cid, api.Dispute(reason=reason), RESOLVER)


def close(app, cid):
    return app.close_case(cid, api.Close(note="refund confirmed by finance"), RESOLVER)


def follow_up(app, cid, satisfaction=4, solved=True):
    return app.follow_up(cid, api.FollowUp(satisfaction=satisfaction, solved=solved,
                                           comment="quick refund"), RESOLVER)


def published(app):
    return [e.event_type for e in app.notifications(1, 100)]


# --- when a response is due --------------------------------------------------------


def test_a_complaint_is_ready_only_after_its_case_is_concluded(app, upstream):
    complaint_id = new_complaint(app, upstream, concluded=False)
    view = app.get_resolution(complaint_id)
    assert view.status == ResolutionStatus.awaiting_investigation
    assert (view.type, view.requires_investigation) == ("complaint", True)
    with pytest.raises(StateConflict) as caught:
        respond(app, complaint_id)
    assert (caught.value.state, caught.value.allowed) == ("awaiting_investigation", [])
    app.process(upstream.concluded(complaint_id))
    assert app.get_resolution(complaint_id).status == ResolutionStatus.ready
    assert published(app) == ["resolution.opened", "resolution.registered", "resolution.ready"]
    assert app.notifications(3, 1)[0].parsed().reason == "the investigation concluded"


@pytest.mark.parametrize("type_", ["inquiry", "praise", "suggestion"])
def test_feedback_that_is_not_a_complaint_is_ready_without_investigation(app, upstream, type_):
    complaint_id = new_complaint(app, upstream, type_=type_)
    view = app.get_resolution(complaint_id)
    assert view.status == ResolutionStatus.ready
    assert view.requires_investigation is False
    ready = [e for e in app.notifications(1, 100) if e.event_type == "resolution.ready"]
    assert [e.parsed().reason for e in ready] == [f"a {type_} needs no investigation"]
    answered = respond(app, complaint_id, outcome="explanation",
                       message="Thank you, we passed this on.")
    # An inquiry is answered and closed at once; other feedback waits for the customer.
    expected = ResolutionStatus.closed if type_ == "inquiry" else ResolutionStatus.responded
    assert answered.status == expected


def test_a_complaint_reclassified_as_an_inquiry_needs_no_investigation(app, upstream):
    complaint_id = new_complaint(app, upstream, concluded=False)
    app.process(upstream.reclassified(complaint_id, "inquiry", previous_type="complaint"))
    view = app.get_resolution(complaint_id)
    assert (view.status, view.type, view.requires_investigation) == (
        ResolutionStatus.ready, "inquiry", False)


def test_a_disputed_complaint_reclassified_as_a_suggestion_is_answered_at_once(app, upstream):
    complaint_id = new_complaint(app, upstream)
    respond(app, complaint_id)
    dispute(app, complaint_id)
    app.process(upstream.reclassified(complaint_id, "suggestion", previous_type="complaint"))
    view = app.get_resolution(complaint_id)
    assert (view.status, view.requires_investigation) == (ResolutionStatus.ready, False)


def test_an_inquiry_reclassified_as_a_complaint_waits_for_the_investigation(app, upstream):
    complaint_id = new_complaint(app, upstream, type_="inquiry")
    app.process(upstream.reclassified(complaint_id, "complaint", previous_type="inquiry"))
    view = app.get_resolution(complaint_id)
    assert view.requires_investigation is True
    assert view.status == ResolutionStatus.awaiting_investigation
    with pytest.raises(StateConflict):
        respond(app, complaint_id)


def test_a_concluded_case_seen_before_the_classification_still_makes_it_ready(app, upstream):
    complaint_id = uuid.uuid4()
    app.process(upstream.concluded(complaint_id))
    app.process(upstream.classified(complaint_id))
    view = app.get_resolution(complaint_id)
    assert (view.status, view.type) == (ResolutionStatus.ready, "complaint")


def test_each_upstream_position_is_applied_once(app, upstream):
    complaint_id = uuid.uuid4()
    app.process(upstream.classified(complaint_id))
    app.process(upstream.concluded(complaint_id))
    assert (app.position("intake"), app.position("investigation")) == (1, 1)
    head = app.head()
    with pytest.raises(RecordConflictError):
        app.process(upstream.envelope("intake", events.ComplaintClassified(
            channel="email", type="complaint", category="billing", severity="normal",
            matched_rules=[], ruleset_version="test",
            deadlines=sla.deadlines(T0, "email", "normal")),
            complaint_id, AGENT).model_copy(update={"origin_position": 1}))
    assert app.head() == head


# --- respond, accept, close, follow up ----------------------------------------------


def test_a_refund_keeps_its_amount_as_an_exact_decimal(app, upstream, clock):
    complaint_id = new_complaint(app, upstream)
    view = respond(app, complaint_id, amount=Decimal("987.65"), currency="CNY")
    response = view.responses[0]
    assert response.amount == Decimal("987.65")
    assert isinstance(response.amount, Decimal)
    assert (response.currency, response.outcome, response.number) == ("CNY", "refund", 1)
    assert (response.by, response.at) == ("resolver-3", clock.now())
    assert view.first_response_at == clock.now()
    assert app.get_resolution(complaint_id).responses[0].amount == Decimal("987.65")
    envelope = app.notifications(1, 100)[-1]
    assert envelope.event_type == "resolution.responded"
    assert envelope.payload["amount"] == "987.65"  # a string in JSON, never a float
    assert not isinstance(envelope.payload["amount"], float)
    assert envelope.parsed().amount == Decimal("987.65")
    assert envelope.parsed().channel == "email"  # sent on the customer's channel


def test_respond_accept_close_and_follow_up(app, upstream, clock):
    complaint_id = new_complaint(app, upstream)
    assert respond(app, complaint_id).status == ResolutionStatus.responded
    clock.advance(hours=1)
    assert accept(app, complaint_id).status == ResolutionStatus.accepted
    clock.advance(hours=1)
    closed = close(app, complaint_id)
    assert closed.status == ResolutionStatus.closed
    assert closed.outcome == "refund"
    assert closed.closed_at == T0 + timedelta(hours=3)
    clock.advance(days=2)
    done = follow_up(app, complaint_id, satisfaction=4)
    assert done.follow_up["satisfaction"] == 4
    assert done.follow_up["solved"] is True
    assert done.follow_up["by"] == "resolver-3"
    assert app.get_resolution(complaint_id) == done
    assert published(app)[-4:] == ["resolution.responded", "resolution.accepted",
                                   "resolution.closed", "resolution.followed_up"]


def test_a_response_can_be_closed_without_an_explicit_acceptance(app, upstream):
    complaint_id = new_complaint(app, upstream)
    respond(app, complaint_id, outcome="apology", message="We are sorry.")
    assert close(app, complaint_id).outcome == "apology"


def test_a_dispute_sends_a_complaint_back_until_the_next_conclusion(app, upstream, clock):
    complaint_id = new_complaint(app, upstream)
    first = respond(app, complaint_id, amount=Decimal("50.00"))
    clock.advance(hours=5)
    disputed = dispute(app, complaint_id, "I was charged three times")
    assert disputed.status == ResolutionStatus.disputed
    assert disputed.disputes == ["I was charged three times"]
    with pytest.raises(StateConflict) as caught:
        respond(app, complaint_id)
    assert (caught.value.state, caught.value.allowed) == ("disputed", [])
    assert app.notifications(1, 100)[-1].parsed().dispute_count == 1

    app.process(upstream.concluded(complaint_id, number=2))
    assert app.get_resolution(complaint_id).status == ResolutionStatus.ready
    second = respond(app, complaint_id, amount=Decimal("150.00"))
    assert [r.amount for r in second.responses] == [Decimal("50.00"), Decimal("150.00")]
    assert [r.number for r in second.responses] == [1, 2]
    assert second.responses[0] == first.responses[0]
    assert second.first_response_at == first.first_response_at
    assert close(app, complaint_id).outcome == "refund"


def test_a_disputed_suggestion_is_answered_again_without_investigation(app, upstream):
    complaint_id = new_complaint(app, upstream, type_="suggestion")
    respond(app, complaint_id, outcome="explanation", message="We will consider it.")
    assert dispute(app, complaint_id, "that is no answer").status == ResolutionStatus.ready
    again = respond(app, complaint_id, outcome="explanation", message="It is planned for May.")
    assert [r.message for r in again.responses] == ["We will consider it.",
                                                    "It is planned for May."]


def test_a_late_conclusion_does_not_reopen_a_response_in_progress(app, upstream):
    complaint_id = new_complaint(app, upstream)
    respond(app, complaint_id)
    head = app.head()
    app.process(upstream.concluded(complaint_id, number=2))
    assert app.get_resolution(complaint_id).status == ResolutionStatus.responded
    assert app.head() == head


def test_a_second_follow_up_is_refused(app, upstream):
    complaint_id = new_complaint(app, upstream)
    respond(app, complaint_id)
    close(app, complaint_id)
    follow_up(app, complaint_id, satisfaction=4)
    with pytest.raises(StateConflict) as caught:
        follow_up(app, complaint_id, satisfaction=5)
    assert (caught.value.state, caught.value.allowed) == ("closed", [])
    assert app.get_resolution(complaint_id).follow_up["satisfaction"] == 4


# --- every forbidden action -----------------------------------------------------------

ACTIONS = {
    "respond": respond,
    "approve": approve,
    "reject": reject,
    "accept": accept,
    "dispute": dispute,
    "close": close,
    "follow_up": follow_up,
}


def _awaiting(app, upstream):
    return new_complaint(app, upstream, concluded=False)


def _ready(app, upstream):
    return new_complaint(app, upstream)


def _responded(app, upstream):
    cid = _ready(app, upstream)
    respond(app, cid)
    return cid


def _awaiting_approval(app, upstream):
    cid = _ready(app, upstream)
    respond(app, cid, amount=Decimal("5000.00"))
    return cid


def _accepted(app, upstream):
    cid = _responded(app, upstream)
    accept(app, cid)
    return cid


def _disputed(app, upstream):
    cid = _responded(app, upstream)
    dispute(app, cid)
    return cid


def _closed(app, upstream):
    cid = _accepted(app, upstream)
    close(app, cid)
    return cid


def _followed_up(app, upstream):
    cid = _closed(app, upstream)
    follow_up(app, cid)
    return cid


def _reopened(app, upstream):
    cid = _closed(app, upstream)
    follow_up(app, cid, satisfaction=1)
    return cid


STATES = {
    # name: (how to get there, the state reported, the actions allowed there)
    "awaiting_investigation": (_awaiting, "awaiting_investigation", []),
    "ready": (_ready, "ready", ["respond"]),
    "awaiting_approval": (_awaiting_approval, "awaiting_approval", ["approve", "reject"]),
    "responded": (_responded, "responded", ["accept", "close", "dispute"]),
    "accepted": (_accepted, "accepted", ["close"]),
    "disputed": (_disputed, "disputed", []),
    "closed": (_closed, "closed", ["follow_up"]),
    "followed_up": (_followed_up, "closed", []),
    "reopened": (_reopened, "reopened", []),
}
FORBIDDEN = [(state, action) for state, (_, _, allowed) in STATES.items()
             for action in ACTIONS if action not in allowed]


@pytest.mark.parametrize(("state", "action"), FORBIDDEN,
                         ids=[f"{s}-{a}" for s, a in FORBIDDEN])
def test_every_forbidden_action_is_refused_with_the_allowed_actions(app, upstream, state,
                                                                     action):
    arrive, reported, allowed = STATES[state]
    complaint_id = arrive(app, upstream)
    before = app.get_resolution(complaint_id)
    with pytest.raises(StateConflict) as caught:
        ACTIONS[action](app, complaint_id)
    assert caught.value.action == action
    assert caught.value.state == reported
    assert caught.value.allowed == allowed
    assert f"'{reported}'" in str(caught.value)
    assert app.get_resolution(complaint_id) == before


@pytest.mark.parametrize("state", [s for s, (_, _, allowed) in STATES.items() if allowed])
def test_every_allowed_action_is_accepted(app, upstream, state):
    arrive, _, allowed = STATES[state]
    for action in allowed:
        complaint_id = arrive(app, upstream)
        ACTIONS[action](app, complaint_id)


def test_the_application_can_be_closed_when_its_service_stops(app):
    # servicekit.runtime stops a service with app.close(), eventsourcing's way of
    # releasing the event store; the resolution command must not shadow it.
    app.close()
    assert app.closing.is_set()


def test_commands_on_an_unknown_complaint_are_not_found(app):
    with pytest.raises(NotFound):
        respond(app, uuid.uuid4())
    with pytest.raises(NotFound):
        app.get_resolution(uuid.uuid4())
