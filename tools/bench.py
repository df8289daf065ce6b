"""`python tools/bench.py`: prints throughput figures (no assertions; figures only).

- intake commands per second on each event store (in process, one thread);
- outbox relay publish rate to the local RabbitMQ with publisher confirms;
- reporting's summary over N complaints' events (fold time).
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
            print(f"intake receive_complaint on {label:<11} {N / elapsed:8.0f} complaints/s "
                  f"({3 * N / elapsed:.0f} events/s, {1000 * elapsed / N:.2f} ms each)")
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
        print(f"reporting catch-up (fetch+record)    {3 * N / elapsed:8.0f} events/s")
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


if __name__ == "__main__":
    main()
