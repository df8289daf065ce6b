"""The replay command against the four running services: rebuild reporting from zero
into a fresh store from the upstream logs over RabbitMQ, and compare the rebuilt
reports with the live ones byte for byte. Also the audit views over HTTP: the evidence
pack (JSON and HTML) and the complaint as of a moment."""

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from servicekit.client import auth_headers

ROOT = Path(__file__).resolve().parents[2]
AGENT = auth_headers("agent-7", "agent")
INVESTIGATOR = auth_headers("inv-1", "investigator")
RESOLVER = auth_headers("res-1", "resolver")
AUDITOR = auth_headers("qm-1", "quality_manager")
UPSTREAMS = ("intake", "investigation", "resolution")


def get(system, service, path, **kwargs):
    return system.get(service, path, headers=AUDITOR, **kwargs)


def ok(response):
    assert response.status_code in (200, 201), response.text
    return response.json()


def receive(system, text, channel="phone", name="Customer"):
    return ok(system.post("intake", "/complaints", {
        "channel": channel, "customer": {"name": name}, "text": text,
        "product": "dinner", "location": "Shanghai branch"}, AGENT))["complaint_id"]


def status(system, service, path):
    response = get(system, service, path)
    return response.json()["status"] if response.status_code == 200 else None


def conclude(system, cid, summary):
    ok(system.post("investigation", f"/cases/{cid}/conclude", {
        "root_cause": "people", "five_whys": ["the shift was short-staffed"],
        "responsible_department": "Restaurant operations",
        "corrective_actions": [{"action": "on-call rota", "owner": "ops-lead",
                                "due_date": "2026-12-15"}],
        "summary": summary}, INVESTIGATOR))


def dispute_reopen_close(system, cid):
    system.eventually(lambda: status(system, "investigation", f"/cases/{cid}")
                      == "investigating", "the case to open and be routed")
    conclude(system, cid, "Understaffed shift")
    system.eventually(lambda: status(system, "resolution", f"/resolutions/{cid}") == "ready",
                      "resolution ready")
    ok(system.post("resolution", f"/resolutions/{cid}/respond",
                   {"outcome": "apology", "message": "We apologise."}, RESOLVER))
    ok(system.post("resolution", f"/resolutions/{cid}/dispute",
                   {"reason": "<b>An apology</b> is not enough & I want money"}, RESOLVER))
    system.eventually(lambda: get(system, "investigation", f"/cases/{cid}").json()
                      ["reopen_count"] == 1, "the dispute to reopen the case")
    conclude(system, cid, "Confirmed; compensate")
    system.eventually(lambda: status(system, "resolution", f"/resolutions/{cid}") == "ready",
                      "ready again")
    ok(system.post("resolution", f"/resolutions/{cid}/respond", {
        "outcome": "monetary_compensation", "message": "A voucher", "amount": "50.00",
        "currency": "CNY"}, RESOLVER))
    ok(system.post("resolution", f"/resolutions/{cid}/accept", {}, RESOLVER))
    ok(system.post("resolution", f"/resolutions/{cid}/close", {}, RESOLVER))
    ok(system.post("resolution", f"/resolutions/{cid}/follow-up",
                   {"satisfaction": 4, "solved": True, "comment": "ok now"}, RESOLVER))


def answer_and_close(system, cid):
    system.eventually(lambda: status(system, "resolution", f"/resolutions/{cid}") == "ready",
                      "an inquiry ready to answer")
    ok(system.post("resolution", f"/resolutions/{cid}/respond",
                   {"outcome": "explanation", "message": "We open at nine."}, RESOLVER))


def heads(system):
    return {u: system.get(u, "/health").json()["position"] for u in UPSTREAMS}


def recorded_by_reporting(system, ids):
    return sum(len(get(system, "reporting", f"/complaints/{cid}/audit").json()["events"])
               for cid in ids if get(system, "reporting", f"/complaints/{cid}/audit")
               .status_code == 200)


def run_replay(system, *args, env=None):
    result = subprocess.run(
        [sys.executable, "-m", "services.reporting.replay", "--no-progress", *args],
        cwd=ROOT, env={**system.env, **(env or {})}, capture_output=True, text=True,
        timeout=300)
    print(result.stdout, result.stderr)
    return result


@pytest.fixture
def lived(system):
    """Four complaints through their lifecycles (one disputed, reopened, closed and
    followed up; an inquiry answered and closed; praise; one still open), all of their
    events recorded by reporting."""
    ids = [receive(system, "The waiter was rude to me and I waited an hour", name="A"),
           receive(system, "请问你们几点开门？", name="B"),
           receive(system, "Thank you, the staff were excellent", name="C"),
           receive(system, "I was charged twice on my bill", channel="email", name="D")]
    dispute_reopen_close(system, ids[0])
    answer_and_close(system, ids[1])
    system.eventually(lambda: status(system, "resolution", f"/resolutions/{ids[1]}")
                      == "closed", "the inquiry to close")
    system.eventually(lambda: recorded_by_reporting(system, ids) == sum(heads(system).values()),
                      "reporting to record every upstream event", seconds=60)
    return ids


def test_the_replayed_reports_equal_the_live_ones_byte_for_byte(system, lived, tmp_path,
                                                                postgres_database):
    before = heads(system)
    total = sum(before.values())
    live = get(system, "reporting", "/reports/summary")
    assert live.status_code == 200 and json.loads(live.content)["total"] == 4
    assert json.loads(live.content)["reopened"] == 1

    # The improvement report as of now (without as_of it depends on when it is made).
    as_of = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    improvement = {"period": "month", "as_of": as_of}
    live_improvement = {
        suffix: get(system, "reporting", f"/reports/improvement{suffix}", params=improvement)
        for suffix in ("", ".csv", ".html")}
    for suffix, response in live_improvement.items():
        assert response.status_code == 200, (suffix, response.text)
    assert json.loads(live_improvement[""].content)["as_of"] is not None

    target = tmp_path / "rebuilt.sqlite"
    done = run_replay(system, "--sqlite", str(target), "--out", str(tmp_path / "out"),
                      "--improvement", f"period=month&as_of={as_of}")
    assert done.returncode == 0, done.stderr
    counts = ", ".join(f"{u} {before[u]}" for u in UPSTREAMS)
    assert re.search(rf"replayed {total} events \({counts}\) in [0-9.]+ s: [0-9,]+ events/s",
                     done.stdout), done.stdout
    assert heads(system) == before, "nothing happened upstream during the replay"
    assert (tmp_path / "out" / "summary.json").read_bytes() == live.content
    for suffix, response in live_improvement.items():
        name = "improvement" + (suffix or ".json")
        assert (tmp_path / "out" / name).read_bytes() == response.content, name

    # A non-empty target is refused, and nothing in it changes.
    stored = target.read_bytes()
    refused = run_replay(system, "--sqlite", str(target))
    assert refused.returncode == 2 and "is not empty" in refused.stderr
    assert target.read_bytes() == stored
    # --resume carries on from the tracking positions: nothing is processed twice.
    resumed = run_replay(system, "--sqlite", str(target), "--resume",
                         "--out", str(tmp_path / "resumed"))
    assert resumed.returncode == 0 and "replayed 0 events" in resumed.stdout
    assert (tmp_path / "resumed" / "summary.json").read_bytes() == live.content
    # --force wipes it and rebuilds from zero.
    forced = run_replay(system, "--sqlite", str(target), "--force",
                        "--out", str(tmp_path / "forced"))
    assert forced.returncode == 0 and f"replayed {total} events" in forced.stdout
    assert (tmp_path / "forced" / "summary.json").read_bytes() == live.content

    # The same into PostgreSQL, twice (the second time --force drops the tables).
    database = postgres_database("replay")
    postgres = {k: v for k, v in database.items() if k.startswith("POSTGRES_")}
    for attempt in ("first", "forced"):
        extra = ["--force"] if attempt == "forced" else []
        into_pg = run_replay(system, "--postgres", database["POSTGRES_DBNAME"], *extra,
                             "--out", str(tmp_path / attempt), env=postgres)
        assert into_pg.returncode == 0, into_pg.stderr
        assert f"replayed {total} events" in into_pg.stdout
        assert (tmp_path / attempt / "summary.json").read_bytes() == live.content


def test_the_replay_reports_an_upstream_that_does_not_answer(system, tmp_path):
    system.stop("investigation")
    failed = run_replay(system, "--sqlite", str(tmp_path / "r.sqlite"), "--timeout", "3")
    assert failed.returncode == 1
    assert re.search(r"replay failed: investigation: (UnknownService|RpcTimeout)",
                     failed.stderr), failed.stderr


def test_the_evidence_pack_and_the_complaint_as_of_a_moment_over_http(system, lived):
    cid = lived[0]
    trail = ok(get(system, "reporting", f"/complaints/{cid}/audit"))["events"]
    assert all(e["change"] and e["actor"]["id"] and e["actor"]["role"] and e["service"]
               for e in trail)
    dispute = next(e for e in trail if e["event_type"] == "resolution.disputed")
    assert dispute["change"].startswith("status responded → disputed; the customer disputed")

    pack = ok(get(system, "reporting", f"/complaints/{cid}/evidence"))
    sections = {s["section"]: [e["event_type"] for e in s["events"]] for s in pack["sections"]}
    assert list(sections) == ["receipt", "acknowledgement", "assessment", "investigation",
                              "decision", "communication", "closure", "follow_up"]
    assert sections["receipt"] == ["complaint.received"]
    assert "case.reopened" in sections["investigation"]
    assert sections["communication"].count("resolution.responded") == 2
    assert sections["follow_up"] == ["resolution.followed_up"]
    assert pack["event_count"] == len(trail) and pack["state"]["status"] == "closed"
    assert sum(len(s["events"]) for s in pack["sections"]) == len(trail)

    page = get(system, "reporting", f"/complaints/{cid}/evidence.html")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "&lt;b&gt;An apology&lt;/b&gt; is not enough &amp; I want money" in page.text
    assert "<b>" not in page.text and "http" not in page.text

    # As of the moment resolution recorded the dispute: investigation had not yet
    # recorded the reopen, nor anything after it.
    at = dispute["recorded_at"]
    as_of = ok(get(system, "reporting", f"/complaints/{cid}/as-of", params={"at": at}))
    assert as_of["state"]["status"] == "disputed" and as_of["state"]["reopens"] == 0
    assert as_of["events"][-1]["event_type"] == "resolution.disputed"
    assert all(datetime.fromisoformat(e["recorded_at"]) <= datetime.fromisoformat(at)
               for e in as_of["events"])
    assert "case.reopened" not in [e["event_type"] for e in as_of["events"]]
    assert as_of["events"] == ok(get(system, "reporting", f"/complaints/{cid}/audit",
                                     params={"as_of": at}))["events"]
    earlier = ok(get(system, "reporting", f"/complaints/{cid}/evidence",
                     params={"as_of": at}))
    assert earlier["event_count"] == len(as_of["events"]) and earlier["as_of"] is not None
    # An unencoded '+' of the offset arrives as a space; it is read as '+'.
    plus = get(system, "reporting", f"/complaints/{cid}/as-of?at="
               + at.replace("Z", "+00:00"))
    assert plus.status_code == 200 and plus.json()["state"] == as_of["state"]

    before_it_existed = get(system, "reporting", f"/complaints/{cid}/as-of",
                            params={"at": "2000-01-01T00:00:00Z"})
    assert before_it_existed.status_code == 404


BAD_MOMENTS = [  # (query, what the problem says)
    ({"at": "yesterday"}, "valid datetime"),
    ({"at": "2026-11-02T09:30:00"}, "timezone"),
    ({}, "required"),
    ({"at": "2026-11-02T09:30:00Z", "when": "now"}, "not permitted"),
]


def test_a_bad_moment_is_a_422_naming_the_field(system):
    cid = receive(system, "The waiter was rude to me")
    system.eventually(lambda: get(system, "reporting", f"/complaints/{cid}/audit")
                      .status_code == 200, "reporting to see the complaint")
    for query, problem in BAD_MOMENTS:
        response = get(system, "reporting", f"/complaints/{cid}/as-of", params=query)
        assert response.status_code == 422, response.text
        fields = response.json()["fields"]
        assert any(f["field"].startswith("query.") and problem in f["problem"]
                   for f in fields), (query, fields)
    for path in ("audit", "evidence", "evidence.html"):
        response = get(system, "reporting", f"/complaints/{cid}/{path}",
                       params={"as_of": "soon"})
        assert response.status_code == 422, (path, response.text)
        assert response.json()["fields"][0]["field"] == "query.as_of"
