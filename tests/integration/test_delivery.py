"""No lost event, no event processed twice, in order: against real RabbitMQ and
PostgreSQL, with the real relay, subscriber and entrypoint."""

import json
import random
import time
from dataclasses import replace

import eventlet
import kombu
import pytest
from nameko.amqp.publish import Publisher

from contracts import api
from contracts.envelope import Actor
from servicekit.messaging import OutboxRelay, Subscriber, events_exchange, upstream_events
from services.intake.application import IntakeApplication
from services.investigation.application import InvestigationApplication, load_roster
from services.reporting.application import ReportingApplication
from services.resolution.application import ResolutionApplication

AGENT = Actor(id="agent-1", role="agent")
INVESTIGATOR = Actor(id="inv-1", role="investigator")
RESOLVER = Actor(id="res-1", role="resolver")
POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def nobody_available():
    """The shipped routing table and roster with every investigator away: cases stay in
    their team's queue until someone assigns them (routing has its own tests)."""
    roster = load_roster()
    return replace(roster, away=frozenset(i for team in roster.investigators.values()
                                          for i in team))


def log_of(app):
    """An upstream's notification log as the RPC returns it (JSON dicts)."""
    return lambda start, limit: [e.model_dump(mode="json") for e in app.notifications(start, limit)]


def feed(downstream, *upstreams):
    for upstream in upstreams:
        Subscriber(downstream, upstream.name, log_of(upstream)).catch_up()


def lifecycle():
    """Three complaints through the three upstream services, wired in process."""
    intake, res = IntakeApplication(env=POPO), ResolutionApplication(env=POPO)
    inv = InvestigationApplication(env=POPO, roster=nobody_available())
    texts = ["The waiter was rude", "I was charged twice", "请问营业时间？"]
    ids = [intake.receive_complaint(api.ReceiveComplaint(
        channel="web", customer={"name": "N"}, text=t), AGENT).complaint_id for t in texts]
    feed(inv, intake)
    feed(res, intake, inv)
    for cid in ids[:2]:
        inv.assign(cid, api.Assign(investigator="inv-1"), INVESTIGATOR)
        inv.conclude(cid, api.Conclude(root_cause="people", five_whys=["why"],
                                       responsible_department="ops", summary="s"), INVESTIGATOR)
    feed(res, intake, inv)
    res.respond(ids[0], api.Respond(outcome="apology", message="sorry"), RESOLVER)
    res.dispute(ids[0], api.Dispute(reason="not enough"), RESOLVER)
    feed(inv, intake, res)
    inv.conclude(ids[0], api.Conclude(root_cause="process", five_whys=["why"],
                                      responsible_department="ops", summary="s2"), INVESTIGATOR)
    feed(res, intake, inv)
    for cid in ids:
        res.respond(cid, api.Respond(outcome="explanation", message="here is why"), RESOLVER)
        if res.get_resolution(cid).status != "closed":  # an answered inquiry closes itself
            res.close_case(cid, api.Close(), RESOLVER)
        res.follow_up(cid, api.FollowUp(satisfaction=5, solved=True), RESOLVER)
    feed(inv, intake, res)
    return intake, inv, res, ids


def everything(*apps):
    return [e.model_dump(mode="json") for app in apps for e in app.notifications(1, 10_000)]


def reports(app, ids):
    return (app.summary().model_dump_json(),
            [app.audit_trail(cid).model_dump_json() for cid in ids])


@pytest.mark.parametrize("seed", range(5))
def test_every_event_delivered_twice_and_out_of_order_leaves_the_read_models_unchanged(seed):
    intake, inv, res, ids = lifecycle()
    reference = ReportingApplication(env=POPO)
    feed(reference, intake, inv, res)

    shuffled = ReportingApplication(env=POPO)
    subscribers = {app.name: Subscriber(shuffled, app.name, log_of(app))
                   for app in (intake, inv, res)}
    messages = everything(intake, inv, res) * 2
    random.Random(seed).shuffle(messages)
    outcomes = [subscribers[m["origin_service"]].deliver(m) for m in messages]

    assert reports(shuffled, ids) == reports(reference, ids)
    assert outcomes.count("duplicate") >= len(messages) // 2
    # The live upstream consumers too: redelivering everything changes nothing.
    heads = (inv.head(), res.head())
    again = everything(intake, res) * 2
    random.Random(seed).shuffle(again)
    for message in again:
        Subscriber(inv, message["origin_service"], log_of(intake if message["origin_service"]
                                                          == "intake" else res)).deliver(message)
    assert (inv.head(), res.head()) == heads


def test_two_consumer_instances_on_one_database_process_each_event_once_in_order(
        postgres_database):
    intake, inv, res, ids = lifecycle()
    env = postgres_database("reporting")
    first, second = ReportingApplication(env=env), ReportingApplication(env=env)
    messages = everything(intake, inv, res)

    def consume(app, seed):
        subscribers = {u.name: Subscriber(app, u.name, log_of(u)) for u in (intake, inv, res)}
        mine = list(messages)
        random.Random(seed).shuffle(mine)
        for message in mine:
            subscribers[message["origin_service"]].deliver(message)

    workers = [eventlet.spawn(consume, first, 1), eventlet.spawn(consume, second, 2)]
    for worker in workers:
        worker.wait()

    reference = ReportingApplication(env=POPO)
    feed(reference, intake, inv, res)
    assert reports(first, ids) == reports(second, ids) == reports(reference, ids)
    for cid in ids:
        entries = first.audit_trail(cid).events
        assert len({e.event_id for e in entries}) == len(entries), "no event twice"
    first.close()
    second.close()


def test_the_relay_keeps_events_until_the_broker_confirms_them(amqp_uri):
    app = IntakeApplication(env=POPO)
    for text in ("rude staff", "late delivery"):
        app.receive_complaint(api.ReceiveComplaint(channel="web", customer={"name": "N"},
                                                   text=text), AGENT)
    exchange = events_exchange({})
    unreachable = Publisher("amqp://guest:guest@127.0.0.1:1/", retry=False)
    with pytest.raises(kombu.exceptions.OperationalError):
        OutboxRelay(app, unreachable, exchange).publish_pending()
    assert app.outbox_position() == 0, "nothing counts as published without a confirm"

    with kombu.Connection(amqp_uri) as conn:
        queue = kombu.Queue("watch", exchange=exchange, routing_key="intake.#", channel=conn)
        queue.declare()
        relay = OutboxRelay(app, Publisher(amqp_uri, declare=[exchange]), exchange)
        assert relay.publish_pending() == app.head() == 10  # 5 events per complaint
        assert app.outbox_position() == 10
        assert relay.publish_pending() == 0, "nothing is published twice"
        messages = []
        while (message := queue.get(no_ack=True)) is not None:
            messages.append(message)
        bodies = [json.loads(m.body) for m in messages]
        assert [b["origin_position"] for b in bodies] == list(range(1, 11))
        assert bodies[0]["event_type"] == "complaint.received"
        assert all(m.properties["delivery_mode"] == 2 for m in messages), "persistent"


class Flaky:
    name = "flaky"
    calls: list = []
    failures = 0

    @upstream_events("intake")
    def handle(self, body):
        Flaky.calls.append(body["n"])
        if len(Flaky.calls) <= Flaky.failures:
            raise RuntimeError("simulated failure")


def publish(amqp_uri, body):
    exchange = events_exchange({})
    Publisher(amqp_uri, declare=[exchange]).publish(body, exchange=exchange,
                                                    routing_key="intake.test")


def wait_until(probe, what, seconds=20.0):
    deadline = time.monotonic() + seconds
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        eventlet.sleep(0.1)


def dead_letters(amqp_uri):
    with kombu.Connection(amqp_uri) as conn:
        queue = kombu.Queue("flaky.from.intake.dead", channel=conn, durable=True)
        found = []
        while (message := queue.get(no_ack=True)) is not None:
            found.append((json.loads(message.body), message.headers))
        return found


def start_flaky(container_factory, amqp_uri, failures):
    Flaky.calls, Flaky.failures = [], failures
    container = container_factory(Flaky, {"AMQP_URI": amqp_uri, "DELIVERY_ATTEMPTS": 3,
                                          "RETRY_BASE_SECONDS": 0.2})
    container.start()
    return container


def test_a_failed_handler_is_retried_with_back_off_and_then_succeeds(container_factory,
                                                                     amqp_uri):
    start_flaky(container_factory, amqp_uri, failures=2)
    publish(amqp_uri, {"n": 1})
    wait_until(lambda: len(Flaky.calls) == 3, "the third attempt")
    eventlet.sleep(1.0)
    assert Flaky.calls == [1, 1, 1]
    assert dead_letters(amqp_uri) == []


def test_a_handler_that_keeps_failing_parks_the_message_on_the_dead_letter_queue(
        container_factory, amqp_uri):
    start_flaky(container_factory, amqp_uri, failures=99)
    publish(amqp_uri, {"n": 7})
    wait_until(lambda: len(Flaky.calls) == 3, "three attempts")
    parked: list = []
    wait_until(lambda: bool(parked.extend(dead_letters(amqp_uri)) or parked),
               "a parked message")
    body, headers = parked[0]
    assert body == {"n": 7}
    assert headers["x-attempts"] == 3 and headers["x-error"] == "RuntimeError"
    eventlet.sleep(1.0)
    assert len(Flaky.calls) == 3, "a parked message is not retried again"


def test_a_parked_message_can_be_re_driven_once_the_cause_is_fixed(container_factory,
                                                                   amqp_uri):
    from servicekit.redrive import parked, redrive

    container = start_flaky(container_factory, amqp_uri, failures=3)
    publish(amqp_uri, {"n": 9})
    wait_until(lambda: len(Flaky.calls) == 3, "three attempts")
    wait_until(lambda: len(parked(amqp_uri, "flaky.from.intake")) == 1, "a parked message")
    assert parked(amqp_uri, "flaky.from.intake") == [{"attempts": 3, "error": "RuntimeError"}]

    assert redrive(amqp_uri, "flaky.from.intake") == 1  # the handler works from call 4 on
    wait_until(lambda: len(Flaky.calls) == 4, "the re-driven delivery")
    assert Flaky.calls == [9, 9, 9, 9]
    assert parked(amqp_uri, "flaky.from.intake") == []
    container.stop()


def test_a_service_refuses_the_postgres_setting_that_drops_tracking_records(
        postgres_database):
    env = {**postgres_database("refuse"), "POSTGRES_ENABLE_DB_FUNCTIONS": "y"}
    with pytest.raises(ValueError, match="POSTGRES_ENABLE_DB_FUNCTIONS"):
        ReportingApplication(env=env)
