"""Issue 4 end to end: intake's SLA timer records a warning and a breach once each, and
the breach escalates the case to the supervisor queue in investigation."""

import yaml

from tests.e2e.conftest import AGENT, ROOT


def test_a_missed_deadline_is_noticed_and_escalated_by_itself(system, tmp_path):
    policy = yaml.safe_load((ROOT / "services/intake/sla_policy.yaml").read_text())
    policy["version"] = "test-fast"
    for rule in policy["rules"]:
        if rule["id"] == "complaint":
            rule["targets"]["first_reply"] = {"within": "4s", "clock": "calendar"}
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True))
    system.stop("intake")
    system.env.update({"SLA_POLICY_FILE": str(tmp_path / "policy.yaml"),
                       "SLA_TICK_SECONDS": "0.5"})
    system.start("intake")

    received = system.post("intake", "/complaints", {
        "channel": "web", "customer": {"name": "N"}, "text": "The staff were rude to me"}, AGENT)
    assert received.status_code == 201, received.text
    cid = received.json()["complaint_id"]
    assert received.json()["sla_policy_version"] == "test-fast"

    queue = system.eventually(lambda: system.get("investigation", "/supervisor/queue").json()
                              ["cases"], "the breach to escalate the case", seconds=30)
    assert [c["complaint_id"] for c in queue] == [cid]
    assert "first_reply deadline" in queue[0]["escalation_reasons"][0]
    view = system.get("intake", f"/complaints/{cid}").json()
    assert view["targets"]["first_reply"]["status"] == "breached"

    trail = system.eventually(
        lambda: (r := system.get("reporting", f"/complaints/{cid}/audit")).status_code == 200
        and any(e["event_type"] == "case.escalated" for e in r.json()["events"])
        and r.json()["events"], "the escalation in the audit trail")
    types = [e["event_type"] for e in trail]
    assert types.count("complaint.deadline_warned") == 1
    assert types.count("complaint.deadline_breached") == 1
    assert types.index("complaint.deadline_breached") < types.index("case.escalated")
