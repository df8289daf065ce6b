"""Issue 5 end to end: a serious complaint is escalated and taken by a supervisor,
investigated with a consultation, its large remedy approved, disputed once, reopened by
a dissatisfied follow-up, and finally closed — every step in the audit trail."""

from servicekit.client import auth_headers
from tests.e2e.conftest import AGENT, RESOLVER

SUPERVISOR = auth_headers("sup-safe", "supervisor")
SUPERVISOR_2 = auth_headers("sup-2", "supervisor")
LEGAL = auth_headers("legal-1", "investigator", team="legal")  # the consulted department
INVESTIGATOR = auth_headers("inv-9", "investigator")  # the safety team's, assigned the case


def ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def conclude(system, cid, summary):
    return ok(system.post("investigation", f"/cases/{cid}/conclude", {
        "root_cause": "equipment", "five_whys": ["the step was loose", "no inspection"],
        "responsible_department": "Facilities",
        "corrective_actions": [{"action": "weekly step inspection", "owner": "fac-lead",
                                "due_date": "2026-12-31"}],
        "summary": summary}, INVESTIGATOR))


def resolution(system, cid):
    return system.get("resolution", f"/resolutions/{cid}").json()


def test_an_escalated_complaint_disputed_and_reopened_by_follow_up_ends_closed(system):
    received = system.post("intake", "/complaints", {
        "channel": "walk_in", "customer": {"name": "Li Lei"},
        "text": "I slipped on a broken step in your store and was injured; my lawyer will call",
        "location": "Store 12"}, AGENT)
    assert received.status_code == 201, received.text
    cid = received.json()["complaint_id"]
    assert received.json()["classification"]["severity"] == "critical"

    # Escalated at once; the safety supervisor takes it from the queue.
    queue = system.eventually(lambda: system.get("investigation", "/supervisor/queue").json()
                              ["cases"], "the escalation to reach the supervisor queue")
    assert [c["complaint_id"] for c in queue] == [cid]
    case = ok(system.post("investigation", f"/cases/{cid}/take", {"note": "mine"}, SUPERVISOR))
    assert (case["team"], case["investigator"], case["escalation_taken_by"]) == (
        "safety", "inv-9", "sup-safe")
    assert system.get("investigation", "/supervisor/queue").json()["cases"] == []

    # A consultation with legal must be answered before the case can conclude.
    ok(system.post("investigation", f"/cases/{cid}/consultations",
                   {"department": "legal", "question": "Liability?"}, SUPERVISOR))
    blocked = system.post("investigation", f"/cases/{cid}/conclude", {
        "root_cause": "equipment", "five_whys": ["x"], "responsible_department": "F",
        "summary": "s"}, INVESTIGATOR)
    assert blocked.status_code == 409 and "legal" in blocked.json()["message"]
    ok(system.post("investigation", f"/cases/{cid}/consultations/c1/answer",
                   {"findings": "We are liable for the step"}, LEGAL))
    ok(system.post("investigation", f"/cases/{cid}/findings", {
        "kind": "evidence", "text": "CCTV shows the loose step",
        "attachments": [{"filename": "cctv.mp4", "content_type": "video/mp4",
                         "size": 1048576, "checksum": "b" * 64}]}, INVESTIGATOR))
    conclude(system, cid, "Loose step, no inspection")

    # A large remedy waits for a supervisor's approval.
    system.eventually(lambda: resolution(system, cid)["status"] == "ready", "ready")
    proposed = ok(system.post("resolution", f"/resolutions/{cid}/respond", {
        "outcome": "monetary_compensation", "message": "We will cover your medical costs",
        "amount": "5000.00", "currency": "CNY"}, RESOLVER))
    assert (proposed["status"], proposed["responses"]) == ("awaiting_approval", [])
    forbidden = system.post("resolution", f"/resolutions/{cid}/approve", {}, RESOLVER)
    assert forbidden.status_code == 403
    approved = ok(system.post("resolution", f"/resolutions/{cid}/approve",
                              {"note": "justified"}, SUPERVISOR_2))
    assert approved["status"] == "responded"
    first_response_at = approved["first_response_at"]

    # The customer disputes: the case reopens and concludes again.
    ok(system.post("resolution", f"/resolutions/{cid}/dispute",
                   {"reason": "Lost wages too"}, RESOLVER))
    system.eventually(lambda: system.get("investigation", f"/cases/{cid}").json()
                      ["reopen_count"] == 1, "the dispute to reopen the case")
    conclude(system, cid, "Add lost wages")
    system.eventually(lambda: resolution(system, cid)["status"] == "ready", "ready again")
    ok(system.post("resolution", f"/resolutions/{cid}/respond", {
        "outcome": "monetary_compensation", "message": "Costs and wages",
        "amount": "800.00", "currency": "CNY"}, RESOLVER))
    ok(system.post("resolution", f"/resolutions/{cid}/accept", {}, RESOLVER))
    closed = ok(system.post("resolution", f"/resolutions/{cid}/close", {}, RESOLVER))
    assert closed["follow_up_due"] is not None
    assert [f["complaint_id"] for f in system.get("resolution", "/follow-ups").json()
            ["follow_ups"]] == [cid]

    # A dissatisfied follow-up reopens it: the second reopen escalates again.
    reopened = ok(system.post("resolution", f"/resolutions/{cid}/follow-up",
                              {"satisfaction": 2, "solved": False, "comment": "Step still loose"},
                              RESOLVER))
    assert reopened["status"] == "reopened"
    case = system.eventually(
        lambda: (c := system.get("investigation", f"/cases/{cid}").json())["reopen_count"] == 2
        and c, "the follow-up to reopen the case")
    assert case["escalation_status"] == "pending"
    assert case["escalation_reasons"][-1] == "reopened 2 times"
    conclude(system, cid, "Step replaced")
    system.eventually(lambda: resolution(system, cid)["status"] == "ready", "ready a third time")
    ok(system.post("resolution", f"/resolutions/{cid}/respond",
                   {"outcome": "repair", "message": "The step is replaced"}, RESOLVER))
    ok(system.post("resolution", f"/resolutions/{cid}/accept", {}, RESOLVER))
    ok(system.post("resolution", f"/resolutions/{cid}/close", {}, RESOLVER))
    final = ok(system.post("resolution", f"/resolutions/{cid}/follow-up",
                           {"satisfaction": 5, "solved": True}, RESOLVER))
    assert final["status"] == "closed" and final["first_response_at"] == first_response_at
    assert len(final["responses"]) == 3

    # Every step is in the audit trail, in causal order.
    def trail():
        response = system.get("reporting", f"/complaints/{cid}/audit")
        events = response.json()["events"] if response.status_code == 200 else []
        return events if events and events[-1]["event_type"] == "resolution.followed_up" \
            and sum(e["event_type"] == "resolution.followed_up" for e in events) == 2 else None

    types = [e["event_type"] for e in system.eventually(trail, "the whole trail")]
    for step in ("case.escalated", "case.escalation_taken", "case.consultation_requested",
                 "case.consultation_answered", "case.finding_recorded",
                 "resolution.remedy_proposed", "resolution.remedy_approved",
                 "resolution.disputed", "resolution.reopened", "case.reopened"):
        assert step in types, step
    assert types.count("case.reopened") == 2 and types.count("case.concluded") == 3
    assert types.count("case.escalated") == 2 and types.count("resolution.closed") == 2
    assert types.index("resolution.remedy_proposed") < types.index("resolution.remedy_approved")
    assert types.index("resolution.reopened") < len(types) - 1 - types[::-1].index(
        "case.reopened")
    report = system.eventually(lambda: (r := system.get("reporting", "/reports/summary").json())
                               ["closed"] == 1 and r, "the report")
    assert (report["disputed"], report["reopened"], report["escalated"]) == (1, 1, 1)
