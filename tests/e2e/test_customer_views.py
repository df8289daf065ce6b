"""The customer on downstream views, through the four real processes: investigation,
resolution and reporting carry only the complaint id and ask intake, per request, for
the customer the reader's role may see. The assigned investigator and resolver see
plain values, everyone else masked; the privacy officer's audit trail is plain, the
quality manager's masked; after erasure every view shows "[erased]"; the reports hold
none of it; intake gone, the views still answer, the customer `unavailable`."""

import json

from servicekit.client import auth_headers
from servicekit.pii import ERASED
from tests.e2e.test_personal_data import hits, planted

AGENT = auth_headers("agent-cv", "agent")
ADMIN = auth_headers("admin-1", "admin")
QUALITY = auth_headers("qm-1", "quality_manager")
PRIVACY = auth_headers("dpo-1", "privacy_officer")
SUPERVISOR = auth_headers("sup-cs", "supervisor")  # the customer-service team's
RESOLVER_1 = auth_headers("res-1", "resolver")
RESOLVER_2 = auth_headers("res-2", "resolver")


def ok(response, status=200):
    assert response.status_code == status, (response.request.url, response.text)
    return response.json()


def plain_of(customer: dict[str, str]) -> dict[str, str]:
    """What intake keeps: the phone in E.164."""
    return {**customer, "phone": "+" + "".join(ch for ch in customer["phone"] if ch.isdigit())}


def assert_masked(view: dict, customer: dict[str, str], where: str) -> None:
    assert view["customer_view"] == "masked", (where, view["customer_view"])
    assert set(view["customer"]) == set(customer), where
    assert view["customer"]["email"] == "m***@example.com", where
    assert view["customer"]["phone"].endswith(customer["phone"][-4:]), where
    assert hits(json.dumps(view, ensure_ascii=False).encode(), customer, where) == []


def assert_erased(view: dict, where: str) -> None:
    assert view["customer_view"] == "erased", (where, view["customer_view"])
    assert set(view["customer"].values()) == {ERASED}, (where, view["customer"])


def test_each_reader_sees_the_customer_their_role_allows_everywhere(system):
    customer = planted()
    cid = ok(system.post("intake", "/complaints", {
        "channel": "phone", "customer": customer,
        "text": "The waiter was rude to me and shouted at my children",
        "product": "dinner", "location": "Shanghai branch"}, AGENT), 201)["complaint_id"]

    # --- investigation: the assigned investigator plain, other readers masked ------
    case = system.eventually(lambda: (r := system.get("investigation", f"/cases/{cid}"))
                             .status_code == 200 and r.json()["investigator"] and r.json(),
                             "the case to be assigned")
    assert case["team"] == "customer-service"
    assignee_id = case["investigator"]
    assignee = auth_headers(assignee_id, "investigator")
    mine = ok(system.get("investigation", f"/cases/{cid}", headers=assignee))
    assert (mine["customer_view"], mine["customer"]) == ("plain", plain_of(customer))
    for reader, who in ((SUPERVISOR, "the team's supervisor"), (QUALITY, "a quality manager"),
                        (RESOLVER_1, "a resolver")):
        assert_masked(ok(system.get("investigation", f"/cases/{cid}", headers=reader)),
                      customer, f"the case as {who}")
    colleague = next(i for i in ("inv-1", "inv-2", "inv-3") if i != assignee_id)
    assert system.get("investigation", f"/cases/{cid}", headers=auth_headers(
        colleague, "investigator")).status_code == 403  # not theirs: no case at all
    listed = ok(system.get("investigation", "/cases", headers=assignee))["cases"]
    assert [c["complaint_id"] for c in listed] == [cid] and "customer" not in listed[0]

    ok(system.post("investigation", f"/cases/{cid}/conclude", {
        "root_cause": "people", "five_whys": ["the waiter was untrained"],
        "responsible_department": "Restaurant operations", "summary": "Rude waiter"},
        assignee))

    # --- resolution: open to every resolver until one responds, then theirs --------
    system.eventually(lambda: (r := system.get("resolution", f"/resolutions/{cid}"))
                      .status_code == 200 and r.json()["status"] == "ready",
                      "the resolution to be ready")
    for reader in (RESOLVER_1, RESOLVER_2):
        unclaimed = ok(system.get("resolution", f"/resolutions/{cid}", headers=reader))
        assert unclaimed["customer_view"] == "plain"
    ok(system.post("resolution", f"/resolutions/{cid}/respond",
                   {"outcome": "apology", "message": "We apologise."}, RESOLVER_1))
    taken = ok(system.get("resolution", f"/resolutions/{cid}", headers=RESOLVER_1))
    assert (taken["customer_view"], taken["customer"]) == ("plain", plain_of(customer))
    for reader, who in ((RESOLVER_2, "another resolver"), (SUPERVISOR, "a supervisor"),
                        (QUALITY, "a quality manager"), (assignee, "the investigator")):
        assert_masked(ok(system.get("resolution", f"/resolutions/{cid}", headers=reader)),
                      customer, f"the resolution as {who}")
    assert "customer" not in ok(system.get("resolution", "/follow-ups", headers=RESOLVER_1))

    # --- reporting: the audit trail and the evidence pack, by the reader's role -----
    system.eventually(lambda: any(e["event_type"] == "resolution.responded" for e in ok(
        system.get("reporting", f"/complaints/{cid}/audit", headers=QUALITY))["events"]),
        "the response in the audit trail")
    audit = ok(system.get("reporting", f"/complaints/{cid}/audit", headers=QUALITY))
    assert_masked(audit, customer, "the quality manager's audit trail")
    private = ok(system.get("reporting", f"/complaints/{cid}/audit", headers=PRIVACY))
    assert (private["customer_view"], private["customer"]) == ("plain", plain_of(customer))
    assert private["events"] == audit["events"]  # the trail itself is the same for both
    assert_masked(ok(system.get("reporting", f"/complaints/{cid}/evidence", headers=QUALITY)),
                  customer, "the quality manager's evidence pack")
    page = system.get("reporting", f"/complaints/{cid}/evidence.html", headers=QUALITY)
    assert page.status_code == 200 and "as your role may see it: masked" in page.text
    assert "m***@example.com" in page.text
    assert hits(page.content, customer, "the evidence page") == []
    admin_pack = ok(system.get("reporting", f"/complaints/{cid}/evidence", headers=ADMIN))
    assert admin_pack["customer"] == plain_of(customer)

    reports = [system.get("reporting", path, headers=QUALITY) for path in (
        "/reports/summary", "/reports/improvement", "/reports/improvement.csv",
        "/reports/improvement.html")]
    for report in reports:
        assert report.status_code == 200, report.text
        assert hits(report.content, customer, report.url) == []
        assert b"customer_view" not in report.content and b"m***@" not in report.content

    # Intake logs who saw the customer in clear (ids only, never a value).
    logs = system.logs()
    assert (f"customer of complaint {cid} shown plain to {assignee_id} "
            "(investigator, assigned)") in logs
    assert f"customer of complaint {cid} shown plain to res-1 (resolver, assigned)" in logs
    assert hits(logs.encode(), customer, "the logs") == []

    # --- erasure: every view shows "[erased]" ----------------------------------------
    ok(system.post("intake", "/customers/erase", {"complaint_id": cid}, PRIVACY))
    assert_erased(ok(system.get("investigation", f"/cases/{cid}", headers=assignee)),
                  "the assignee's case")
    assert_erased(ok(system.get("investigation", f"/cases/{cid}", headers=QUALITY)),
                  "the quality manager's case")
    assert_erased(ok(system.get("resolution", f"/resolutions/{cid}", headers=RESOLVER_1)),
                  "the resolver's resolution")
    for reader in (QUALITY, PRIVACY):
        assert_erased(ok(system.get("reporting", f"/complaints/{cid}/audit", headers=reader)),
                      "the audit trail")
    assert_erased(ok(system.get("reporting", f"/complaints/{cid}/evidence", headers=QUALITY)),
                  "the evidence pack")
    # a trail as of a moment before the erasure shows it too: it cannot be undone
    early = ok(system.get("reporting", f"/complaints/{cid}/audit", headers=QUALITY,
                          params={"as_of": audit["events"][0]["recorded_at"]}))
    assert len(early["events"]) < len(audit["events"])
    assert_erased(early, "an earlier audit trail")

    # --- intake gone: the views still answer, the customer unavailable ---------------
    system.stop("intake")
    for service, path, reader in (("investigation", f"/cases/{cid}", assignee),
                                  ("resolution", f"/resolutions/{cid}", RESOLVER_1),
                                  ("reporting", f"/complaints/{cid}/audit", QUALITY),
                                  ("reporting", f"/complaints/{cid}/evidence", QUALITY)):
        view = ok(system.get(service, path, headers=reader))
        assert (view["customer"], view["customer_view"]) == ({}, "unavailable"), path
    page = system.get("reporting", f"/complaints/{cid}/evidence.html", headers=QUALITY)
    assert page.status_code == 200 and "intake did not answer" in page.text
