"""The audit hash chain on real SQLite files and a real PostgreSQL database: the four
applications record a whole lifecycle, `python -m servicekit.verify` (a subprocess,
configured from the environment as the services are) exits 0; one row edited, deleted
or a tail truncated with plain SQL -> exit 1 naming exactly that service, aggregate,
version and notification. Two application instances (and two processes) racing saves
on one aggregate in one PostgreSQL database still leave a chain that verifies."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import RecordConflictError, StoredEvent

from contracts import api
from contracts.envelope import Actor
from servicekit import verify
from servicekit.chain import unwrap
from services.intake.application import IntakeApplication
from tests.integration.test_applications_on_every_store import System, run_lifecycle

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KEY = "integration-chain-key-5f1d"
AGENT = Actor(id="agent-7", role="agent")
STORE_VARIABLES = ("PERSISTENCE_MODULE", "SQLITE_DBNAME", "POSTGRES_DBNAME", "DATA_DIR",
                   "AUDIT_CHAIN_KEY")


class Store:
    """One store kind: how the applications are configured, how `verify` is configured
    (through the services' own variables), and plain SQL on the stored rows."""

    def __init__(self, kind: str, tmp_path: Path, postgres_database: Any):
        self.kind = kind
        self.tmp_path = tmp_path
        if kind == "sqlite":
            self.app_env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                            "SQLITE_DBNAME": str(tmp_path / "store.sqlite")}
            # The services' default: $DATA_DIR/<service>.sqlite, nothing else set.
            self.verify_env = {"DATA_DIR": str(tmp_path)}
        else:
            self.app_env = postgres_database("chain")
            self.verify_env = {k: v for k, v in self.app_env.items()
                               if k.startswith("POSTGRES_") and k != "POSTGRES_DBNAME"}
            for service in verify.SERVICES:  # the prefixed form, as in the README
                self.verify_env[f"{service.upper()}_PERSISTENCE_MODULE"] = \
                    "eventsourcing.postgres"
                self.verify_env[f"{service.upper()}_POSTGRES_DBNAME"] = \
                    self.app_env["POSTGRES_DBNAME"]
        self.app_env = {**self.app_env, "AUDIT_CHAIN_KEY": KEY}

    def verify(self, *args: str, key: str | None = KEY) -> tuple[int, str]:
        env = {k: v for k, v in os.environ.items()
               if not any(k.endswith(name) for name in STORE_VARIABLES)}
        env.update(self.verify_env)
        if key is not None:
            env["AUDIT_CHAIN_KEY"] = key
        done = subprocess.run([sys.executable, "-m", "servicekit.verify", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
        print(done.stdout, done.stderr)
        return done.returncode, done.stdout

    # --- plain SQL -------------------------------------------------------------

    def _sql(self, service: str, statement: str, params: tuple) -> list[tuple]:
        if self.kind == "sqlite":
            with sqlite3.connect(self.tmp_path / f"{service}.sqlite") as conn:
                rows = conn.execute(statement.format(table="stored_events", nid="rowid"),
                                    params).fetchall()
            conn.close()
            return rows
        db = {k.lower().removeprefix("postgres_"): v for k, v in self.app_env.items()
              if k in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER",
                       "POSTGRES_PASSWORD", "POSTGRES_DBNAME")}
        db["dbname"] = db.pop("dbname")
        with psycopg.connect(**db, autocommit=True) as conn:
            cur = conn.execute(statement.replace("?", "%s").format(
                table=f"{service}_events", nid="notification_id"), params)
            return cur.fetchall() if cur.description else []

    def _id(self, aggregate: uuid.UUID) -> Any:
        return aggregate.hex if self.kind == "sqlite" else aggregate

    def row(self, service: str, aggregate: uuid.UUID, version: int) -> tuple[int, bytes]:
        [(nid, state)] = self._sql(
            service, "SELECT {nid}, state FROM {table} WHERE originator_id=? "
                     "AND originator_version=?", (self._id(aggregate), version))
        return nid, bytes(state)

    def set_state(self, service: str, aggregate: uuid.UUID, version: int, state: bytes):
        self._sql(service, "UPDATE {table} SET state=? WHERE originator_id=? "
                           "AND originator_version=?", (state, self._id(aggregate), version))

    def delete(self, service: str, aggregate: uuid.UUID, version: int) -> None:
        self._sql(service, "DELETE FROM {table} WHERE originator_id=? "
                           "AND originator_version=?", (self._id(aggregate), version))

    def newest(self, service: str) -> tuple[int, uuid.UUID, int]:
        [(nid, agg, version)] = self._sql(
            service, "SELECT {nid}, originator_id, originator_version FROM {table} "
                     "ORDER BY {nid} DESC LIMIT 1", ())
        return nid, uuid.UUID(str(agg)), version


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> Store:
    postgres = request.getfixturevalue("postgres_database") \
        if request.param == "postgres" else None
    return Store(request.param, tmp_path, postgres)


@pytest.fixture
def lifecycle(store: Store):
    """The whole lifecycle through the four real applications on this store."""
    from servicekit.clock import FrozenClock
    from tests.integration.test_applications_on_every_store import T0

    system = System(store.app_env, FrozenClock(T0))
    ids = run_lifecycle(system)
    yield system, ids
    system.release()


def edit_a_digit(state: bytes) -> bytes:
    """Change the first digit of the event's own JSON (a time, an amount...)."""
    parts = unwrap(state)
    assert parts is not None, "the stored row carries the chain header"
    header = len(state) - len(parts[2])
    at = next(i for i in range(header, len(state)) if chr(state[i]).isdigit())
    return state[:at] + str((int(chr(state[at])) + 1) % 10).encode() + state[at + 1:]


def test_every_service_verifies_then_an_edited_row_is_named(store, lifecycle):
    system, ids = lifecycle
    status, out = store.verify()
    assert status == 0, out
    for service in verify.SERVICES:
        assert f"{service}: " in out and "every chain holds" in out
    assert "BROKEN" not in out

    complaint = ids["complaint"]
    nid, state = store.row("intake", complaint, 2)
    store.set_state("intake", complaint, 2, edit_a_digit(state))

    status, out = store.verify("--json")
    assert status == 1, out
    report = json.loads(out)
    assert report["status"] == "broken"
    by_service = {s["service"]: s for s in report["services"]}
    assert by_service["intake"]["first_broken"] == {
        "kind": "edited", "aggregate_id": str(complaint), "version": 2,
        "notification_id": nid, "detail": by_service["intake"]["first_broken"]["detail"]}
    assert by_service["intake"]["problems"] == 1
    assert {s: by_service[s]["status"] for s in verify.SERVICES} == {
        "intake": "broken", "investigation": "ok", "resolution": "ok", "reporting": "ok"}

    status, out = store.verify("--service", "intake")
    assert status == 1
    assert (f"FIRST BROKEN LINK: service intake, aggregate {complaint}, version 2, "
            f"notification {nid}: edited") in out


def test_a_deleted_row_a_truncated_tail_and_a_wrong_key_are_named(store, lifecycle):
    system, ids = lifecycle
    complaint = ids["complaint"]

    # The newest rows of a log, once the outbox has published them.
    system.resolution.record_outbox_position(system.resolution.head())
    nid, agg, version = store.newest("resolution")
    store.delete("resolution", agg, version)
    status, out = store.verify("--service", "resolution", "--json")
    first = json.loads(out)["services"][0]["first_broken"]
    assert status == 1 and first["kind"] == "truncated", out
    assert f"published up to notification {nid}" in first["detail"]

    # A row in the middle of an aggregate.
    deleted_nid, _ = store.row("intake", complaint, 2)
    nid3, _ = store.row("intake", complaint, 3)
    store.delete("intake", complaint, 2)
    status, out = store.verify("--service", "intake")
    assert status == 1
    assert (f"FIRST BROKEN LINK: service intake, aggregate {complaint}, version 3, "
            f"notification {nid3}: missing previous (version 2 of this aggregate not found "
            "before it)") in out
    assert deleted_nid < nid3

    # An untouched store, verified with another key: the first record fails.
    status, out = store.verify("--service", "investigation", "--json", key="another key")
    first = json.loads(out)["services"][0]["first_broken"]
    assert status == 1 and (first["kind"], first["version"]) == ("edited", 1)
    # ... and with no key at all, the output says it used the development key.
    status, out = store.verify("--service", "investigation", key=None)
    assert status == 1 and "AUDIT_CHAIN_KEY is not set for investigation" in out
    assert "every record fails: most likely AUDIT_CHAIN_KEY is not the key" in out


def test_verify_reads_read_only_and_says_when_a_store_is_missing(store, lifecycle,
                                                                   monkeypatch):
    monkeypatch.setenv("PGOPTIONS", "-c default_transaction_read_only=on")
    environ = {k: v for k, v in os.environ.items()
               if not any(k.endswith(name) for name in STORE_VARIABLES)}
    recorder, described = verify.open_recorder("intake", {**environ, **store.verify_env})
    assert described.startswith(store.kind)
    assert recorder.max_notification_id() == lifecycle[0].intake.head()
    with pytest.raises(Exception, match="read-only|readonly"):
        recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "x:Y", b"{}")])

    if store.kind == "sqlite":
        (store.tmp_path / "reporting.sqlite").unlink()
        status, out = store.verify()
        assert status == 2, out
        assert f"reporting: NOT VERIFIED: no SQLite store at {store.tmp_path}" in out


# --- concurrency on one PostgreSQL database --------------------------------------

RACER = textwrap.dedent("""
    import logging, sys, time, uuid
    import servicekit
    from contracts import api
    from contracts.envelope import Actor
    from servicekit.errors import StateConflict
    from services.intake.application import IntakeApplication

    complaint, start_at, rounds = uuid.UUID(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    app = IntakeApplication()
    actor = Actor(id="racer", role="agent")
    pauses = resumes = 0
    clashes = []  # version clashes retried by retry_on_conflict (logged at INFO)
    handler = logging.Handler()
    handler.emit = lambda record: clashes.append(record)
    logging.getLogger("servicekit.application").addHandler(handler)
    logging.getLogger("servicekit.application").setLevel(logging.INFO)
    while time.time() < start_at:
        time.sleep(0.005)
    for _ in range(rounds):
        try:
            app.pause_clock(complaint, api.PauseClock(reason="waiting for the customer"), actor)
            pauses += 1
        except StateConflict:
            try:
                app.resume_clock(complaint, api.ResumeClock(reason="the customer answered"),
                                 actor)
                resumes += 1
            except StateConflict:
                pass
    print(pauses, resumes, sum("version clash" in r.getMessage() for r in clashes))
""")


@pytest.fixture
def one_database(postgres_database, tmp_path):
    return Store("postgres", tmp_path, postgres_database)


def test_two_instances_racing_on_one_aggregate_keep_the_chain(one_database):
    store = one_database
    first = IntakeApplication(env=store.app_env)
    second = IntakeApplication(env=store.app_env)
    complaint = first.receive_complaint(api.ReceiveComplaint(
        channel="email", customer={"name": "Racer"}, text="The staff were rude"),
        AGENT).complaint_id

    # Deterministic clash: both read the same version; the second save loses and
    # stores nothing; its retried command chains onto the winner.
    mine, theirs = first.repository.get(complaint), second.repository.get(complaint)
    mine.pause_clock(first.meta(complaint, AGENT), "waiting for the customer")
    first.save(mine)
    theirs.pause_clock(second.meta(complaint, AGENT), "waiting for a third party")
    with pytest.raises(RecordConflictError):
        second.save(theirs)
    second.resume_clock(complaint, api.ResumeClock(reason="the customer answered"), AGENT)
    assert first.repository.get(complaint).paused_since is None

    # Free-running: two processes hammer the same aggregate at the same moment.
    before = first.repository.get(complaint).version
    env = {k: v for k, v in os.environ.items()
           if not any(k.endswith(name) for name in STORE_VARIABLES)}
    # CREATE_TABLE=n: the tables exist; two processes constructing an application at
    # the same instant can otherwise fail in eventsourcing's create_table (concurrent
    # CREATE OR REPLACE FUNCTION: "tuple concurrently updated"), unrelated to the chain.
    env.update({**store.app_env, "PYTHONPATH": str(ROOT), "CREATE_TABLE": "n"})
    start_at = str(time.time() + 4)
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(complaint), start_at, "25"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
              for _ in range(2)]
    counts = [tuple(map(int, r.communicate(timeout=240)[0].split())) for r in racers]
    assert all(r.returncode == 0 for r in racers)
    pauses = sum(c[0] for c in counts)
    resumes = sum(c[1] for c in counts)
    print(f"racers: {counts} (pauses, resumes, version clashes retried) per process")
    # Every successful command is in the log, once: a pause is one event, a resume two.
    assert first.repository.get(complaint).version == before + pauses + 2 * resumes
    first.close()
    second.close()

    status, out = store.verify("--service", "intake")
    assert status == 0, out
    assert "intake: " in out and "every chain holds" in out
