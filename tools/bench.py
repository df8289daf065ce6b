"""`python tools/bench.py`: prints throughput figures (no assertions; figures only).

- intake commands per second on each event store (in process, one thread);
- outbox relay publish rate to the local RabbitMQ with publisher confirms;
- reporting's summary over N complaints' events (fold time).

`python tools/bench.py report`: the improvement report over 1,000 and 10,000 synthetic
complaints (fold, report, as-of, CSV, HTML; then through ReportingApplication).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import servicekit  # noqa: E402,F401  (PSYCOPG_WAIT_FUNC before psycopg)
from servicekit import pii  # noqa: E402

# Intake seals personal data; a throwaway master key unless one is set.
os.environ.setdefault(pii.MASTER_KEY_ENV, pii.generate_master_key())
from contracts import api  # noqa: E402
from contracts.envelope import Actor  # noqa: E402
from servicekit.messaging import Subscriber  # noqa: E402
from services.intake.application import IntakeApplication  # noqa: E402
from services.reporting.application import ReportingApplication  # noqa: E402

N = int(os.environ.get("BENCH_N", "500"))
AGENT = Actor(id="bench", role="agent")
REQUEST = api.ReceiveComplaint(channel="email", customer={"name": "Bench", "email": "b@x.org"},
                               text="The staff were rude and I waited two hours for a refund")


def stores(tmp: str) -> dict[str, dict[str, str]]:
    found = {"in-memory": {"PERSISTENCE_MODULE": "eventsourcing.popo"},
             "sqlite": {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                        "SQLITE_DBNAME": f"{tmp}/bench.sqlite"}}
    try:
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
                             user=os.environ.get("POSTGRES_USER", "postgres"),
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        found["postgresql"] = {"PERSISTENCE_MODULE": "eventsourcing.postgres",
                               "POSTGRES_DBNAME": name,
                               "POSTGRES_HOST": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
                               "POSTGRES_PORT": os.environ.get("POSTGRES_PORT", "5432"),
                               "POSTGRES_USER": os.environ.get("POSTGRES_USER", "postgres"),
                               "POSTGRES_PASSWORD": os.environ.get("POSTGRES_PASSWORD", "")}
    except Exception as exc:  # no server: say so, measure the rest
        print(f"postgresql: not measured ({type(exc).__name__})")
    return found


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for label, env in stores(tmp).items():
            app = IntakeApplication(env=env)
            start = time.perf_counter()
            for _ in range(N):
                app.receive_complaint(REQUEST, AGENT)
            elapsed = time.perf_counter() - start
            recorded = app.head()  # events per complaint: received, classified, ...
            print(f"intake receive_complaint on {label:<11} {N / elapsed:8.0f} complaints/s "
                  f"({recorded / elapsed:.0f} events/s, {recorded / N:.1f} events and "
                  f"{1000 * elapsed / N:.2f} ms each)")
            if label == "sqlite":
                sqlite_app = app

        from nameko.amqp.publish import Publisher

        from servicekit.messaging import OutboxRelay, events_exchange

        uri = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
        exchange = events_exchange({"EVENTS_EXCHANGE": f"bench.{uuid.uuid4().hex[:6]}"})
        relay = OutboxRelay(sqlite_app, Publisher(uri, declare=[exchange]), exchange)
        start = time.perf_counter()
        published = 0
        while batch := relay.publish_pending():
            published += batch
        elapsed = time.perf_counter() - start
        print(f"outbox relay, confirmed publishes    {published / elapsed:8.0f} events/s "
              f"({published} events)")

        reporting = ReportingApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})

        def log(s: int, n: int) -> list[dict]:
            return [e.model_dump(mode="json") for e in sqlite_app.notifications(s, n)]

        start = time.perf_counter()
        Subscriber(reporting, "intake", log).catch_up()
        elapsed = time.perf_counter() - start
        print(f"reporting catch-up (fetch+record)    {sqlite_app.head() / elapsed:8.0f} events/s")
        start = time.perf_counter()
        reporting.summary()
        print(f"summary report over {N} complaints    {1000 * (time.perf_counter() - start):8.1f}"
              " ms (first, folds the log)")
        start = time.perf_counter()
        reporting.summary()
        print(f"summary report again                 {1000 * (time.perf_counter() - start):8.1f}"
              " ms (incremental)")
        drop_benchmark_databases()


def drop_benchmark_databases() -> None:
    try:
        import psycopg

        with psycopg.connect(host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
                             user=os.environ.get("POSTGRES_USER", "postgres"),
                             dbname="postgres", autocommit=True) as conn:
            for (name,) in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'bench_%'").fetchall():
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    except Exception:  # nothing to drop
        pass


# --- the improvement report (`python tools/bench.py report`) -------------------------


def _z(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _synthetic_complaint(rnd, i: int, n: int, t0, positions: dict[str, int]) -> list[dict]:
    from datetime import timedelta

    cid = str(uuid.UUID(int=rnd.getrandbits(128)))
    entries: list[dict] = []

    def add(service: str, kind: str, hours: float, payload: dict) -> None:
        positions[service] += 1
        at = t0 + timedelta(hours=hours)
        entries.append({
            "event_id": str(uuid.UUID(int=rnd.getrandbits(128))), "event_type": kind,
            "schema_version": 1, "complaint_id": cid, "origin_service": service,
            "origin_position": positions[service], "occurred_at": _z(at),
            "recorded_at": _z(at + timedelta(milliseconds=5)),
            "actor": {"id": "bench", "role": "system"}, "correlation_id": cid,
            "payload": payload})

    def met(target: str, hours: float, limit: float) -> None:
        add("intake", "complaint.target_met", hours, {
            "target": target, "deadline": _z(t0 + timedelta(hours=limit)),
            "met_at": _z(t0 + timedelta(hours=hours)), "on_time": hours <= limit,
            "step": "s"})

    add("intake", "complaint.received", 0, {
        "channel": rnd.choice(["phone", "email", "web", "chat", "walk_in"]),
        "language": "en", "text": "t", "product": f"product-{rnd.randrange(40)}",
        "location": f"store-{rnd.randrange(25)}", "customer_request": None,
        "happened_at": None, "received_at": _z(t0), "customer_ref": f"c-{rnd.randrange(n)}"})
    add("intake", "complaint.classified", 0, {
        "channel": "email", "type": "complaint",
        "category": rnd.choice(["service_attitude", "response_delay", "billing",
                                "product_quality", "after_sales"]),
        "severity": rnd.choice(["low", "normal", "normal", "high"])})
    met("acknowledge", 0, 2)
    add("investigation", "case.assigned", 0.5, {"investigator": f"inv-{rnd.randrange(10)}"})
    add("investigation", "case.concluded", 4, {
        "root_cause": rnd.choice(["people", "people", "process", "product", "equipment",
                                  "communication", "supplier"]),
        "responsible_department": f"dept-{rnd.randrange(6)}"})
    if rnd.random() < 0.05:
        add("investigation", "corrective_action.opened", 4, {
            "action_id": f"a-{i}", "root_cause": "process",
            "due_date": (t0 + timedelta(days=14)).date().isoformat()})
        add("investigation", "corrective_action.done", 24 * 10, {"action_id": f"a-{i}"})
    reply = rnd.expovariate(1 / 10)
    if reply > 24:
        add("intake", "complaint.deadline_breached", 24, {
            "target": "first_reply", "deadline": _z(t0 + timedelta(hours=24)),
            "breached_at": _z(t0 + timedelta(hours=24))})
    add("resolution", "resolution.responded", reply, {"outcome": "apology"})
    met("first_reply", reply, 24)
    if rnd.random() < 0.05:
        add("resolution", "resolution.disputed", reply + 1, {})
        add("investigation", "case.reopened", reply + 1, {})
        add("resolution", "resolution.responded", reply + 20, {"outcome": "refund"})
    add("resolution", "resolution.closed", reply + 24, {"outcome": "apology"})
    if rnd.random() < 0.7:
        add("resolution", "resolution.followed_up", reply + 96,
            {"satisfaction": rnd.randint(1, 5)})
    return entries


def synthetic_timelines(n: int, seed: int = 7) -> list[list[dict]]:
    """n complaints over 60 days, ~12 integration events each (JSON dicts as reporting
    records them): receipt, classification, SLA outcomes (some breached or late), case
    assignment and conclusion (some with a corrective action), responses, disputes and
    reopens, closure, follow-ups."""
    import random
    from datetime import UTC, datetime, timedelta

    rnd = random.Random(seed)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    positions = {"intake": 0, "investigation": 0, "resolution": 0}
    return [_synthetic_complaint(rnd, i, n, start + timedelta(
        minutes=rnd.randrange(60 * 24 * 60)), positions) for i in range(n)]


def _timed(fn, runs: int = 1):
    start = time.perf_counter()
    for _ in range(runs):
        result = fn()
    return result, 1000 * (time.perf_counter() - start) / runs


def report_figures(n: int) -> None:
    from datetime import UTC, date, datetime

    from contracts.envelope import Actor as EnvelopeActor
    from servicekit.clock import FrozenClock
    from services.reporting import metrics, render
    from services.reporting.domain import Timeline

    now = datetime(2026, 12, 1, tzinfo=UTC)
    timelines = synthetic_timelines(n)
    events = sum(len(t) for t in timelines)
    period = metrics.Period.custom(date(2026, 9, 1), date(2026, 10, 31))
    facts, fold_ms = _timed(lambda: [metrics.complaint_facts(t) for t in timelines])
    report, report_ms = _timed(lambda: metrics.improvement_report(facts, period, None, now), 3)
    _, as_of_ms = _timed(lambda: metrics.report_from_timelines(
        timelines, period, datetime(2026, 10, 1, tzinfo=UTC), now))
    csv_bytes, csv_ms = _timed(lambda: render.to_csv(report))
    page, html_ms = _timed(lambda: render.to_html(report))
    print(f"improvement report, {n:,} complaints ({events:,} events), 2-month period:")
    print(f"  fold every timeline into facts                {fold_ms:8.0f} ms "
          f"({n / fold_ms * 1000:,.0f} complaints/s)")
    print(f"  report from folded facts                      {report_ms:8.0f} ms")
    print(f"  as-of report (cut + fold + report)            {as_of_ms:8.0f} ms")
    print(f"  CSV                                           {csv_ms:8.0f} ms "
          f"({len(csv_bytes):,} bytes)")
    print(f"  HTML with 7 SVG charts                        {html_ms:8.0f} ms "
          f"({len(page):,} bytes)")

    app = ReportingApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                               clock=FrozenClock(now))
    system = EnvelopeActor(id="reporting", role="system")
    for entries in timelines:
        meta = app.meta(uuid.UUID(entries[0]["complaint_id"]), system, "bench", now)
        timeline = Timeline(meta=meta)
        for entry in entries:
            timeline.observe(meta, entry)
        app.save(timeline)
    month = {"period": "month", "date": "2026-10-15"}
    query = api.ImprovementQuery.model_validate(month)
    as_of = api.ImprovementQuery.model_validate({**month, "as_of": "2026-10-20T00:00:00Z"})
    _, first_ms = _timed(lambda: app.improvement_report(query))
    _, again_ms = _timed(lambda: app.improvement_report(query), 3)
    _, app_as_of_ms = _timed(lambda: app.improvement_report(as_of))
    print(f"  service, one month: first (reads log, folds)  {first_ms:8.0f} ms")
    print(f"  service, one month: again (cached facts)      {again_ms:8.0f} ms")
    print(f"  service, one month: as of 20 Oct              {app_as_of_ms:8.0f} ms")


if __name__ == "__main__":
    if sys.argv[1:] == ["report"]:
        for size in (1_000, 10_000):
            report_figures(size)
    else:
        main()
