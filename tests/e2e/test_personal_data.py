"""Personal data through the whole system: planted unique values never appear in clear in
any event store file (SQLite and PostgreSQL), on the broker or in any log; after a
privacy officer's erasure every API shows "[erased]", the report figures and a replay
are unchanged, intake restarts and rebuilds, and the data key is gone from the files."""

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from kombu import Connection, Exchange, Queue

from servicekit.client import auth_headers
from servicekit.pii import ERASED, TABLE
from tests.e2e.conftest import ROOT, System, run_all

AGENT = auth_headers("agent-pii", "agent")
INVESTIGATOR = auth_headers("inv-1", "investigator")
RESOLVER = auth_headers("res-1", "resolver")
QUALITY = auth_headers("qm-1", "quality_manager")
PRIVACY = auth_headers("dpo-1", "privacy_officer")
EXCHANGE = os.environ.get("EVENTS_EXCHANGE", "complaints.events")
DATABASES = ("intake", "investigation", "resolution", "reporting")


def planted() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    digits = str(int(tag, 16))[-8:].rjust(8, "7")
    return {"name": f"Plantname{tag} Surname{tag[::-1]}",
            "phone": f"+86 139 {digits[:4]} {digits[4:]}",
            "email": f"mail{tag}@example.com",
            "customer_id": f"CID-{tag}",
            "address": f"{tag} Plantedlane, Block {tag[:4]}"}


def needles(customer: dict[str, str]) -> dict[str, bytes]:
    """Every form a planted value could leak in: whole, the phone's digits alone (and
    its unique eight), the email's local part, each unique word."""
    digits = "".join(ch for ch in customer["phone"] if ch.isdigit())
    forms = {**customer, "phone digits": digits, "phone national": digits[2:],
             "phone unique digits": digits[-8:], "email local part": customer["email"].split(
                 "@")[0], "name first word": customer["name"].split()[0],
             "name last word": customer["name"].split()[1],
             "address first word": customer["address"].split()[0]}
    return {what: value.lower().encode() for what, value in forms.items()}


def hits(content: bytes, customer: dict[str, str], where: str) -> list[str]:
    lowered = content.lower()
    return [f"{what} in {where}" for what, needle in needles(customer).items()
            if needle in lowered]


class Capture:
    """A test queue bound to every event on the exchange, declared before the run."""

    def __init__(self, amqp_uri: str):
        self.connection = Connection(amqp_uri)
        exchange = Exchange(EXCHANGE, type="topic", durable=True)
        self.queue = Queue(f"pii-capture-{uuid.uuid4().hex[:8]}", exchange=exchange,
                           routing_key="#", durable=False, auto_delete=False)
        self.queue(self.connection.default_channel).declare()
        self.bodies: list[bytes] = []

    def drain(self) -> list[bytes]:
        simple = self.connection.SimpleQueue(self.queue)
        while True:
            try:
                message = simple.get(timeout=1)
            except simple.Empty:
                break
            self.bodies.append(message.body if isinstance(message.body, bytes)
                               else message.body.encode())
            message.ack()
        simple.close()
        return self.bodies

    def close(self) -> None:
        self.queue(self.connection.default_channel).delete()
        self.connection.release()


class Stack:
    """The four processes, the files to scan, and the key table to check."""

    def __init__(self, system: System, data_dir: Path, pg: dict[str, dict[str, str]] | None):
        self.system = system
        self.data_dir = data_dir
        self.pg = pg  # service -> its database env (PostgreSQL run)

    def _pg_connect(self, name: str):
        env = self.pg[name]
        return psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                               user=env["POSTGRES_USER"],
                               password=env["POSTGRES_PASSWORD"] or None,
                               dbname=env["POSTGRES_DBNAME"], autocommit=True)

    def store_files(self) -> dict[str, bytes]:
        """Each store's files: SQLite with -wal/-shm, or each PostgreSQL database's
        relation files after a CHECKPOINT."""
        if self.pg is None:
            return {p.name: p.read_bytes() for p in sorted(self.data_dir.iterdir())
                    if p.is_file()}
        files = {}
        for name in DATABASES:
            with self._pg_connect(name) as conn:
                conn.execute("CHECKPOINT")
                data_dir = Path(conn.execute("SHOW data_directory").fetchone()[0])
                oid = conn.execute("SELECT oid FROM pg_database WHERE datname = "
                                   "current_database()").fetchone()[0]
            folder = data_dir / "base" / str(oid)
            if not folder.exists():
                pytest.skip(f"PostgreSQL's data directory {data_dir} is not on this "
                            "machine (a container): its files cannot be scanned")
            files[f"{name} database"] = b"".join(
                p.read_bytes() for p in folder.iterdir() if p.is_file())
        return files

    def key_rows(self) -> list[tuple[str, bytes]]:
        if self.pg is None:
            with sqlite3.connect(self.data_dir / "intake.sqlite") as conn:
                return [(k, bytes(w)) for k, w in
                        conn.execute(f"SELECT key_id, wrapped FROM {TABLE}")]
        with self._pg_connect("intake") as conn:
            return [(k, bytes(w)) for k, w in
                    conn.execute(f"SELECT key_id, wrapped FROM {TABLE}")]


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request, amqp_uri, tmp_path, free_port):
    env = dict(os.environ)
    env.update({"AMQP_URI": amqp_uri, "DATA_DIR": str(tmp_path / "data"),
                "CATCH_UP_SECONDS": "1", "PYTHONUNBUFFERED": "1",
                "RETRY_BASE_SECONDS": "0.5", "LOG_LEVEL": "DEBUG"})
    env.pop("PERSISTENCE_MODULE", None)
    pg = None
    if request.param == "postgres":
        make = request.getfixturevalue("postgres_database")
        pg = {}
        for name in DATABASES:
            database = make(name)
            pg[name] = database
            prefix = name.upper() + "_"
            for key, value in database.items():
                env[prefix + key] = value
    for name in run_all.SERVICES:
        env[f"{name.upper()}_PORT"] = str(free_port())
        if pg is None:
            env.pop(f"{name.upper()}_PERSISTENCE_MODULE", None)
    (tmp_path / "logs").mkdir()
    (tmp_path / "data").mkdir()
    capture = Capture(amqp_uri)
    system = System(env, tmp_path / "logs")
    system.start()
    yield Stack(system, tmp_path / "data", pg), capture
    system.stop()
    capture.close()


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


def lifecycle(system: System, customer: dict[str, str]) -> str:
    complaint = ok(system.post("intake", "/complaints", {
        "channel": "phone", "customer": customer,
        "text": "The waiter was rude and I waited an hour for my dinner",
        "product": "dinner", "location": "Shanghai branch"}, AGENT), 201)
    cid = complaint["complaint_id"]
    assert complaint["customer"]["email"] == customer["email"]  # the agent sees it
    # A second complaint from the same customer: a repeat, a possible duplicate.
    second = ok(system.post("intake", "/complaints", {
        "channel": "web", "customer": {"name": customer["name"], "email": customer["email"]},
        "text": "The waiter was rude and I waited an hour for my dinner!"}, AGENT), 201)
    assert second["possible_duplicate_of"] == cid
    ok(system.post("intake", f"/complaints/{second['complaint_id']}/merge",
                   {"reason": "same dinner, same customer"}, AGENT))

    def case():
        response = system.get("investigation", f"/cases/{cid}", headers=INVESTIGATOR)
        return response.json() if response.status_code == 200 else None

    system.eventually(lambda: (case() or {}).get("status") == "investigating", "the case")
    ok(system.post("investigation", f"/cases/{cid}/findings",
                   {"kind": "interview", "text": "The waiter confirms the wait"}, INVESTIGATOR))
    ok(system.post("investigation", f"/cases/{cid}/conclude", {
        "root_cause": "people", "five_whys": ["short-staffed"],
        "responsible_department": "Restaurant operations", "summary": "Understaffed"},
        INVESTIGATOR))

    def resolution_status():
        response = system.get("resolution", f"/resolutions/{cid}", headers=RESOLVER)
        return response.json()["status"] if response.status_code == 200 else None

    system.eventually(lambda: resolution_status() == "ready", "the resolution ready")
    for step, body in (("respond", {"outcome": "apology", "message": "We apologise."}),
                       ("accept", {}), ("close", {}),
                       ("follow-up", {"satisfaction": 4, "solved": True, "comment": "ok"})):
        ok(system.post("resolution", f"/resolutions/{cid}/{step}", body, RESOLVER))
    system.eventually(lambda: any(e["event_type"] == "resolution.followed_up" for e in ok(
        system.get("reporting", f"/complaints/{cid}/audit", headers=QUALITY))["events"]),
        "the follow-up in the audit trail")
    return cid


def scan_everything(stack: Stack, capture: Capture, customer: dict[str, str],
                    control: str) -> list[str]:
    """Planted values found anywhere. `control` (the customer's pseudonym, stored and
    published on purpose) must be found in intake's store and on the broker: proof that
    the scan reads the bytes it claims to."""
    found = []
    files = stack.store_files()
    assert any(control.encode() in content for name, content in files.items()
               if name.startswith("intake")), "the scan does not see intake's store"
    for name, content in files.items():
        found += hits(content, customer, name)
    bodies = capture.drain()
    assert any(control.encode() in body for body in bodies), \
        "the capture queue did not see complaint.received: the scan would prove nothing"
    for n, body in enumerate(bodies):
        found += hits(body, customer, f"broker message {n}")
    logs = sorted(stack.system.log_dir.glob("*"))
    assert logs, "no log files to scan"
    for path in logs:
        found += hits(path.read_bytes(), customer, f"log {path.name}")
    return found


def test_personal_data_is_never_in_clear_and_erasure_leaves_nothing_readable(stack):
    stack, capture = stack
    system = stack.system
    customer = planted()
    cid = lifecycle(system, customer)
    control = ok(system.get("intake", f"/complaints/{cid}", headers=AGENT))["customer_ref"]
    assert control

    # Who sees what: the agent in clear, the quality manager masked.
    assert ok(system.get("intake", f"/complaints/{cid}", headers=AGENT))["customer"][
        "phone"] == "+86" + "".join(ch for ch in customer["phone"][4:] if ch.isdigit())
    masked = ok(system.get("intake", f"/complaints/{cid}", headers=QUALITY))["customer"]
    assert masked["email"] == f"m***@{customer['email'].split('@')[1]}"
    assert not hits(json.dumps(masked).encode(), customer, "the masked view")
    audit_before = ok(system.get("reporting", f"/complaints/{cid}/audit", headers=QUALITY))
    assert not hits(json.dumps(audit_before).encode(), customer, "the audit trail")
    summary_before = ok(system.get("reporting", "/reports/summary", headers=QUALITY))

    found = scan_everything(stack, capture, customer, control)
    assert found == [], found

    # --- erasure ------------------------------------------------------------------
    keys_before = dict(stack.key_rows())
    assert keys_before, "no data key in the key table: nothing was encrypted"
    erasure = ok(system.post("intake", "/customers/erase", {"email": customer["email"]},
                             PRIVACY))
    assert erasure["keys_destroyed"] >= 1 and len(erasure["complaints"]) == 2
    assert erasure["erased_by"] == "dpo-1"
    keys_after = dict(stack.key_rows())
    destroyed = {k: w for k, w in keys_before.items() if k not in keys_after}
    assert len(destroyed) == erasure["keys_destroyed"]

    for reader in (AGENT, QUALITY, PRIVACY):
        view = ok(system.get("intake", f"/complaints/{cid}", headers=reader))
        assert set(view["customer"].values()) == {ERASED}, view["customer"]
    system.eventually(lambda: any(e["event_type"] == "customer.erased" for e in ok(
        system.get("reporting", f"/complaints/{cid}/audit", headers=QUALITY))["events"]),
        "the erasure in the audit trail")
    erased_event = next(e for e in ok(system.get(
        "reporting", f"/complaints/{cid}/audit", headers=QUALITY))["events"]
        if e["event_type"] == "customer.erased")
    assert erased_event["actor"]["id"] == "dpo-1"
    assert erased_event["payload"]["complaints_affected"] == 2
    assert ok(system.get("reporting", "/reports/summary", headers=QUALITY)) == summary_before

    # Intake restarts and rebuilds its folds; the complaint still reads "[erased]", and
    # the same customer complaining again is a new customer (no link to erased ones).
    system.stop("intake")
    system.start("intake")
    view = ok(system.get("intake", f"/complaints/{cid}", headers=AGENT))
    assert set(view["customer"].values()) == {ERASED}
    again = ok(system.post("intake", "/complaints", {
        "channel": "web", "customer": customer,
        "text": "The waiter was rude and I waited an hour for my dinner"}, AGENT), 201)
    assert again["possible_duplicate_of"] is None
    assert again["customer"]["name"] == customer["name"]

    # A replay of reporting from the upstream logs gives the same summary.
    replay = subprocess.run(
        [sys.executable, "-m", "services.reporting.replay", "--sqlite",
         str(stack.data_dir.parent / "replayed.sqlite"), "--out",
         str(stack.data_dir.parent / "replayed")],
        cwd=ROOT, env=system.env, capture_output=True, text=True, timeout=300)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    replayed = json.loads((stack.data_dir.parent / "replayed" / "summary.json").read_text())
    live = ok(system.get("reporting", "/reports/summary", headers=QUALITY))
    assert replayed == live

    # Nothing decryptable is left: the destroyed keys' bytes are in no store file, and
    # the planted values are still nowhere in clear.
    files = stack.store_files()
    for key_id, wrapped in destroyed.items():
        for name, content in files.items():
            assert wrapped not in content, f"the destroyed key {key_id} is still in {name}"
    found = scan_everything(stack, capture, customer, control)
    assert found == [], found
