"""The improvement report over real HTTP: the four services in real nameko containers
on the test's own RabbitMQ vhost (each with its own SQLite store); a complaint worked
through investigation and resolution and an inquiry answered at once; the report as
JSON, CSV and HTML, as of a past moment, and 422 for bad query parameters (nothing
stored, nothing published)."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from servicekit.client import auth_headers
from services.intake.service import IntakeService
from services.investigation.service import InvestigationService
from services.reporting import render
from services.reporting.service import ReportingService
from services.resolution.service import ResolutionService
from tests.integration import test_http_api as harness
from tests.integration.test_http_api import (
    CONCLUSION,
    RESOLVER,
    Unchanged,
    complaint,
    eventually,
    invalid,
    receive,
    rejected,
)

pytestmark = pytest.mark.integration
start = harness.start  # the fixtures: real containers on the test's own vhost
published = harness.published

QUALITY = auth_headers("qm-1", "quality_manager")
REPORT = "/reports/improvement"


@pytest.fixture
def services(start):
    return (start(IntakeService), start(InvestigationService), start(ResolutionService),
            start(ReportingService))


def status_of(resolution, complaint_id: str) -> str | None:
    response = resolution.get(f"/resolutions/{complaint_id}")
    return response.json()["status"] if response.status_code == 200 else None


def test_the_improvement_report_as_json_csv_and_html_and_as_of_a_past_moment(services,
                                                                              published):
    intake, investigation, resolution, reporting = services
    today = datetime.now(UTC).date()
    window = {"period": "custom", "from": (today - timedelta(days=1)).isoformat(),
              "to": (today + timedelta(days=1)).isoformat()}
    before_anything = datetime.now(UTC)

    # a complaint: investigated (root cause, a corrective action), answered, closed,
    # followed up
    first = receive(intake, complaint("The staff at the counter were rude to me.",
                                      product="membership card", location="Store 12"))
    case = eventually(lambda: (r := investigation.get(f"/cases/{first}")).status_code == 200
                      and r.json()["investigator"] and r.json(), "the case to be assigned")
    investigator = case["investigator"]
    concluded = investigation.post(f"/cases/{first}/conclude", {
        **CONCLUSION, "corrective_actions": [
            {"action": "coach the counter staff", "owner": "hr", "due_date": "2099-01-01"}]},
        headers=auth_headers(investigator, "investigator"))
    assert concluded.status_code == 200, concluded.text
    eventually(lambda: status_of(resolution, first) == "ready", "the resolution to be ready")
    path = f"/resolutions/{first}"
    for step, body in (("respond", {"outcome": "apology", "message": "We are sorry."}),
                       ("accept", {}), ("close", {}),
                       ("follow-up", {"satisfaction": 4, "solved": True, "comment": "ok"})):
        answered = resolution.post(f"{path}/{step}", body, headers=RESOLVER)
        assert answered.status_code == 200, (step, answered.text)

    def report(**params):
        response = reporting.get(REPORT, params={**window, **params}, headers=QUALITY)
        assert response.status_code == 200, response.text
        return response.json()

    eventually(lambda: report()["satisfaction"]["responses"] == 1,
               "reporting to record the follow-up")
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)

    # an inquiry, closed when answered
    second = receive(intake, complaint("请问你们几点开门？"))
    eventually(lambda: status_of(resolution, second) == "ready", "the inquiry to be ready")
    answered = resolution.post(f"/resolutions/{second}/respond",
                               {"outcome": "explanation", "message": "我们早上九点开门。"},
                               headers=RESOLVER)
    assert answered.status_code == 200 and answered.json()["status"] == "closed"
    live = eventually(lambda: (r := report())["rates"]["first_contact_resolution"]["of"] == 2
                      and r, "reporting to record the inquiry's closure")

    assert live["period"] == {"from": window["from"], "to": window["to"],
                              "granularity": "custom"}
    assert live["as_of"] is None
    assert live["complaints"] == 2
    assert live["volumes"]["channel"] == {"web": 2}
    assert live["volumes"]["type"] == {"complaint": 1, "inquiry": 1}
    assert live["volumes"]["product"] == {"membership card": 1}
    assert live["volumes"]["department"] == {CONCLUSION["responsible_department"]: 1}
    assert live["volumes"]["outcome"] == {"apology": 1, "explanation": 1}
    assert sum(b["count"] for b in live["volumes"]["over_time"]) == 2
    assert live["times"]["first_response"]["count"] == 2
    assert live["times"]["resolution"]["count"] == 2
    assert live["rates"]["reopened"] == {"count": 0, "of": 2, "rate": 0.0}
    assert live["satisfaction"]["distribution"]["4"] == 1
    assert live["satisfaction"]["follow_up_coverage"] == 0.5
    assert live["root_causes"] == [{"cause": CONCLUSION["root_cause"], "count": 1,
                                    "share": 1.0, "cumulative_share": 1.0}]
    actions = live["corrective_actions"]
    assert (actions["open"], actions["overdue"], actions["total"]) == (1, 0, 1)
    assert actions["actions"][0]["complaint_id"] == first
    assert [(s["staff"], s["cases"], s["satisfaction_average"]) for s in live["staff"]] == [
        (investigator, 1, 4.0)]
    assert live["sla"]["acknowledge"]["compliance"] == 1.0

    # as of a past moment: only what had been recorded by then
    then = report(as_of=between.isoformat())
    assert then["as_of"] == between.isoformat()
    assert then["complaints"] == 1 and then["volumes"]["type"] == {"complaint": 1}
    assert report(as_of=before_anything.isoformat())["complaints"] == 0
    # the week containing today, by date
    week = reporting.get(REPORT, params={"period": "week", "date": today.isoformat()},
                         headers=QUALITY).json()
    assert week["period"]["granularity"] == "week" and week["complaints"] == 2

    # CSV: one file, every table, the same figures
    fixed = {**window, "as_of": datetime.now(UTC).isoformat()}
    as_csv = reporting.get(f"{REPORT}.csv", params=fixed, headers=QUALITY)
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8"))))
    assert {r["table"] for r in rows} >= {"summary", "volumes", "sla", "times", "rates",
                                          "satisfaction", "root_causes",
                                          "corrective_actions", "staff"}
    assert [r["value"] for r in rows if r["metric"] == "complaints"] == ["2"]

    # HTML: self-contained, seven charts, the same bytes for the same as-of report
    as_html = reporting.get(f"{REPORT}.html", params=fixed, headers=QUALITY)
    assert as_html.status_code == 200, as_html.text
    assert as_html.headers["Content-Type"].startswith("text/html")
    page = as_html.text
    charts = re.findall(r'<figure data-chart="([a-z_]+)"><img alt="[^"]*" '
                        r'src="data:image/svg\+xml;base64,', page)
    assert sorted(charts) == sorted(render.CHARTS)
    outside = re.sub(r"data:image/svg\+xml;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"https?:|//|<script|<link", outside, re.IGNORECASE)
    again = reporting.get(f"{REPORT}.html", params=fixed, headers=QUALITY)
    assert again.content == as_html.content
    assert reporting.get(f"{REPORT}.csv", params=fixed, headers=QUALITY).content == \
        as_csv.content

    # the OpenAPI document describes the three
    doc = reporting.get("/openapi.json").json()
    assert doc["paths"][REPORT]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/ImprovementReport"}
    assert "text/csv" in doc["paths"][f"{REPORT}.csv"]["get"]["responses"]["200"]["content"]
    assert "text/html" in doc["paths"][f"{REPORT}.html"]["get"]["responses"]["200"][
        "content"]
    names = {p["name"] for p in doc["paths"][REPORT]["get"]["parameters"] if p["in"] == "query"}
    assert names == {"period", "date", "from", "to", "as_of"}


def test_bad_report_queries_are_422_naming_the_field_and_change_nothing(start, published):
    reporting = start(ReportingService)
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with Unchanged(published, reporting):
        for suffix in ("", ".csv", ".html"):
            path = REPORT + suffix
            invalid(reporting.get(path, params={"period": "year"}, headers=QUALITY),
                    "query.period")
            invalid(reporting.get(path, params={"period": "custom", "from": "2026-11-01"},
                                  headers=QUALITY), "query.to")
            invalid(reporting.get(path, params={"period": "custom", "from": "2026-11-30",
                                                "to": "2026-11-01"}, headers=QUALITY),
                    "query.from")
            invalid(reporting.get(path, params={"period": "week", "date": "2026-02-30"},
                                  headers=QUALITY), "query.date")
            invalid(reporting.get(path, params={"as_of": "2026-11-01T00:00:00"},
                                  headers=QUALITY), "query.as_of")
            invalid(reporting.get(path, params={"as_of": future}, headers=QUALITY),
                    "query.as_of")
            invalid(reporting.get(path, params={"colour": "red"}, headers=QUALITY),
                    "query.colour")
            rejected(reporting.get(path, headers=None), 401)
            rejected(reporting.get(path, headers=auth_headers("agent-7", "agent")), 403)
    assert reporting.get(REPORT, headers=QUALITY).json()["complaints"] == 0
