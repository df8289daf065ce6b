"""One complaint through the whole lifecycle, across four processes over RabbitMQ."""

from pathlib import Path

from servicekit.client import auth_headers
from tests.e2e.conftest import AGENT, INVESTIGATOR, RESOLVER

QUALITY = auth_headers("qm-1", "quality_manager")

CUSTOMER = {"name": "Zhang Wei-E2E", "phone": "+86 138 0013 8000",
            "email": "zhang.e2e@example.com"}


def receive(system, text="服务员态度很差，我等了一个小时才上菜。", channel="phone",
            customer=None):
    response = system.post("intake", "/complaints",
                           {"channel": channel, "customer": customer or CUSTOMER, "text": text,
                            "product": "dinner", "location": "Shanghai branch"}, AGENT)
    assert response.status_code == 201, response.text
    return response.json()


def case_status(system, cid):
    response = system.get("investigation", f"/cases/{cid}")
    return response.json()["status"] if response.status_code == 200 else None


def resolution_status(system, cid):
    response = system.get("resolution", f"/resolutions/{cid}")
    return response.json()["status"] if response.status_code == 200 else None


def conclude(system, cid, summary):
    response = system.post("investigation", f"/cases/{cid}/conclude", {
        "root_cause": "people", "five_whys": ["the shift was short-staffed",
                                              "sick leave was not covered"],
        "responsible_department": "Restaurant operations",
        "corrective_actions": [{"action": "on-call rota", "owner": "ops-lead",
                                "due_date": "2026-12-15"}],
        "summary": summary}, INVESTIGATOR)
    assert response.status_code == 200, response.text


def work_through_dispute_to_closure(system, cid):
    system.eventually(lambda: case_status(system, cid) == "investigating",
                      "the case to open and be routed")
    assert system.get("investigation", f"/cases/{cid}").json()["investigator"] == "inv-1"
    assert system.post("investigation", f"/cases/{cid}/findings",
                       {"kind": "interview", "text": "Waiter confirms a long wait"},
                       INVESTIGATOR).status_code == 200
    conclude(system, cid, "Understaffed shift")
    system.eventually(lambda: resolution_status(system, cid) == "ready", "resolution ready")
    first = system.post("resolution", f"/resolutions/{cid}/respond", {
        "outcome": "apology", "message": "We apologise for the wait."}, RESOLVER)
    assert first.status_code == 200, first.text
    assert system.post("resolution", f"/resolutions/{cid}/dispute",
                       {"reason": "An apology is not enough"}, RESOLVER).status_code == 200
    system.eventually(lambda: system.get("investigation", f"/cases/{cid}").json()
                      ["reopen_count"] == 1, "the dispute to reopen the case")
    assert case_status(system, cid) == "investigating"
    conclude(system, cid, "Confirmed; compensate")
    system.eventually(lambda: resolution_status(system, cid) == "ready", "ready again")
    second = system.post("resolution", f"/resolutions/{cid}/respond", {
        "outcome": "monetary_compensation", "message": "A voucher for your next visit",
        "amount": "50.00", "currency": "CNY"}, RESOLVER)
    assert second.status_code == 200, second.text
    assert system.post("resolution", f"/resolutions/{cid}/accept", {},
                       RESOLVER).status_code == 200
    assert system.post("resolution", f"/resolutions/{cid}/close", {},
                       RESOLVER).status_code == 200
    assert system.post("resolution", f"/resolutions/{cid}/follow-up",
                       {"satisfaction": 4, "solved": True, "comment": "ok now"},
                       RESOLVER).status_code == 200
    return first.json(), second.json()


EXPECTED = [  # (service, event type, actor) of every event, each exactly once
    ("intake", "complaint.received", "agent-7"),
    ("intake", "complaint.classified", "agent-7"),
    ("intake", "complaint.acknowledged", "agent-7"),
    ("intake", "complaint.deadlines_set", "agent-7"),
    ("intake", "complaint.target_met", "agent-7"),  # acknowledged on time
    ("investigation", "case.opened", "investigation"),
    ("resolution", "resolution.opened", "resolution"),
    ("resolution", "resolution.registered", "resolution"),
    ("investigation", "case.assigned", "investigation"),
    ("investigation", "case.finding_recorded", "inv-1"),
    ("investigation", "case.concluded", "inv-1"),
    ("investigation", "corrective_action.opened", "inv-1"),
    ("resolution", "resolution.ready", "resolution"),
    ("resolution", "resolution.responded", "res-1"),
    ("intake", "complaint.target_met", "intake"),  # first reply
    ("resolution", "resolution.disputed", "res-1"),
    ("investigation", "case.reopened", "investigation"),
    ("investigation", "case.concluded", "inv-1"),
    ("investigation", "corrective_action.opened", "inv-1"),
    ("resolution", "resolution.ready", "resolution"),
    ("resolution", "resolution.responded", "res-1"),
    ("resolution", "resolution.accepted", "res-1"),
    ("resolution", "resolution.closed", "res-1"),
    ("intake", "complaint.target_met", "intake"),  # resolved
    ("resolution", "resolution.followed_up", "res-1"),
]
CAUSES = [  # (cause, effect): the effect must come after the cause in the trail
    ("complaint.received", "complaint.classified"),
    ("complaint.classified", "case.opened"),
    ("complaint.classified", "resolution.registered"),
    ("case.opened", "case.assigned"),
    ("case.concluded", "resolution.ready"),
    ("case.concluded", "corrective_action.opened"),
    ("resolution.disputed", "case.reopened"),
    ("resolution.closed", "resolution.followed_up"),
]


def test_a_disputed_complaint_is_reopened_resolved_and_fully_audited(system):
    complaint = receive(system)
    cid = complaint["complaint_id"]
    assert complaint["classification"]["category"] == "service_attitude"
    assert complaint["language"] == "zh" and "投诉" in complaint["acknowledgement"]

    first, _ = work_through_dispute_to_closure(system, cid)
    resolution = system.get("resolution", f"/resolutions/{cid}").json()
    assert resolution["status"] == "closed" and resolution["follow_up"]["satisfaction"] == 4
    assert [r["outcome"] for r in resolution["responses"]] == ["apology",
                                                               "monetary_compensation"]
    assert resolution["first_response_at"] == first["responses"][0]["at"]
    assert resolution["responses"][1]["amount"] == "50.00"

    trail = system.eventually(
        lambda: (r := system.get("reporting", f"/complaints/{cid}/audit")).status_code == 200
        and len(r.json()["events"]) >= len(EXPECTED) and r.json()["events"], "the audit trail")
    seen = sorted((e["service"], e["event_type"], e["actor"]["id"]) for e in trail)
    assert seen == sorted(EXPECTED)
    types = [e["event_type"] for e in trail]
    for cause, effect in CAUSES:
        assert types.index(cause) < types.index(effect), (cause, effect, types)
    assert types.index("resolution.disputed") < len(types) - 1 - types[::-1].index(
        "case.concluded"), "the second conclusion follows the dispute"
    for service in ("intake", "investigation", "resolution"):
        positions = [e["position"] for e in trail if e["service"] == service]
        assert positions == sorted(positions) == list(range(1, len(positions) + 1))
    times = [e["occurred_at"] for e in trail]
    assert times == sorted(times)
    money = next(e for e in trail if e["event_type"] == "resolution.responded"
                 and e["payload"]["outcome"] == "monetary_compensation")
    assert money["payload"]["amount"] == "50.00" and money["payload"]["currency"] == "CNY"

    report = system.get("reporting", "/reports/summary").json()
    assert report["total"] == 1 and report["closed"] == 1
    assert report["disputed"] == 1 and report["reopened"] == 1
    assert report["by_outcome"] == {"monetary_compensation": 1}
    assert report["satisfaction_average"] == 4.0 and report["follow_up_coverage"] == 1.0
    assert report["by_root_cause"] == {"people": 1}


def test_personal_data_stays_out_of_the_logs_and_downstream_services(system):
    cid = receive(system)["complaint_id"]
    system.eventually(lambda: case_status(system, cid) == "investigating", "the case to open")
    # Read as a quality manager: the customer block, asked of intake, is masked.
    trail = system.eventually(
        lambda: (r := system.get("reporting", f"/complaints/{cid}/audit", headers=QUALITY)
                 ).status_code == 200 and r.text, "the audit trail")
    case = system.get("investigation", f"/cases/{cid}", headers=QUALITY)
    assert case.json()["customer_view"] == "masked"
    downstream = trail + case.text
    for value in CUSTOMER.values():
        assert value not in system.logs()
        assert value not in downstream
    data = Path(system.env["DATA_DIR"])
    for service in ("investigation", "resolution", "reporting"):
        stored = (data / f"{service}.sqlite").read_bytes()
        for value in CUSTOMER.values():
            assert value.encode() not in stored, f"{value} stored by {service}"


def test_rebuilding_reporting_from_zero_gives_the_identical_report(system):
    ids = [receive(system, text, customer={"name": f"C{n}"})["complaint_id"]
           for n, text in enumerate((
        "The waiter was rude to me", "I was charged twice on my bill",
        "Thank you, excellent service", "请问你们几点开门？"))]
    first = ids[0]
    work_through_dispute_to_closure(system, first)
    system.eventually(lambda: system.get("reporting", "/reports/summary").json()["closed"] == 1,
                      "the closure to reach reporting")
    system.eventually(lambda: system.get("reporting", "/reports/summary").json()
                      ["satisfaction_average"] == 4.0, "the follow-up to reach reporting")
    before = system.get("reporting", "/reports/summary").text
    trails = {cid: system.get("reporting", f"/complaints/{cid}/audit").text for cid in ids}

    system.stop("reporting")
    Path(system.env["DATA_DIR"], "reporting.sqlite").unlink()
    system.start("reporting")

    system.eventually(lambda: system.get("reporting", "/reports/summary").text == before,
                      "the rebuilt summary to equal the live one")
    for cid in ids:
        assert system.get("reporting", f"/complaints/{cid}/audit").text == trails[cid]


def test_a_consumer_killed_mid_stream_catches_up_without_loss_or_duplicates(system):
    system.kill("investigation")
    ids = [receive(system, f"Complaint {n}: the staff were rude",
                   customer={"name": f"Customer {n}"})["complaint_id"] for n in range(5)]
    system.start("investigation")
    for cid in ids:
        system.eventually(lambda cid=cid: case_status(system, cid) == "investigating",
                          f"case {cid}")
    cases = system.get("investigation", "/cases").json()["cases"]
    assert sorted(c["complaint_id"] for c in cases) == sorted(ids)
    assert all(c["version"] == 2 for c in cases), "each case opened and routed exactly once"
    assert sorted(c["investigator"] for c in cases) == ["inv-1", "inv-1", "inv-2", "inv-2",
                                                        "inv-3"], "balanced by open load"


def test_a_lost_broker_queue_is_recovered_from_the_upstream_log(system, amqp_uri):
    """Messages published while reporting's queue did not exist are gone from the broker;
    reporting fetches them from the upstream logs over RPC."""
    import kombu

    system.stop("reporting")
    with kombu.Connection(amqp_uri) as conn:
        channel = conn.channel()
        for upstream in ("intake", "investigation", "resolution"):
            channel.queue_delete(f"reporting.from.{upstream}")
    cid = receive(system)["complaint_id"]
    system.eventually(lambda: case_status(system, cid) == "investigating", "the case to open")
    system.start("reporting")
    system.eventually(
        lambda: (r := system.get("reporting", f"/complaints/{cid}/audit")).status_code == 200
        and len(r.json()["events"]) >= 6, "reporting to recover the events")
