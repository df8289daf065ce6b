"""The CFPB sample (1,000 real complaints) imported through the four real services: the
importer is killed mid-run and run again, then run a third time; the improvement report
must reproduce the file's own figures, and every count by product, channel, outcome and
company must equal the CSV's, computed here with csv.DictReader (not the importer's
code). One import serves every test of this module (it is the slowest e2e test)."""

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from contracts.envelope import imported_complaint_id
from servicekit.client import auth_headers
from tests.conftest import free_tcp_port
from tests.e2e.conftest import System, running_system

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(os.environ.get("CFPB_SAMPLE")
              or ROOT.parent / "shared/data/cfpb/complaints-2013-sample.csv")
PERIOD = {"period": "custom", "from": "2013-08-01", "to": "2013-10-31"}
QM = auth_headers("qm-1", "quality_manager")
# The file's labels -> our vocabularies, as the README of the import documents them.
CHANNEL = {"Web": "web", "Postal mail": "letter", "Referral": "referral", "Phone": "phone",
           "Fax": "fax", "Email": "email"}
OUTCOME = {"Closed with explanation": "explanation",
           "Closed with non-monetary relief": "non_monetary_relief",
           "Closed with monetary relief": "monetary_relief", "Closed": "no_action",
           "Untimely response": "no_response"}

# The module's one import (three runs of 1,000 rows) is set up inside the first test.
pytestmark = pytest.mark.timeout(1800)

if not SAMPLE.exists():  # pragma: no cover - the sample lives beside the repository
    pytest.skip(f"the CFPB sample is not at {SAMPLE} (set CFPB_SAMPLE)",
                allow_module_level=True)


def the_csv() -> list[dict[str, str]]:
    with SAMPLE.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def importer(system: System, path: Path, errors: Path, *more: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tools/import_cfpb.py"), str(path), "--no-progress",
         "--intake", system.urls["intake"], "--investigation", system.urls["investigation"],
         "--resolution", system.urls["resolution"], "--errors", str(errors), *more],
        cwd=ROOT, env=system.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def positions(system: System, *names: str) -> dict[str, int]:
    # A generous timeout: under the import's load a service may answer slowly.
    return {name: requests.get(system.urls[name] + "/health", timeout=120).json()["position"]
            for name in names or ("intake", "investigation", "resolution", "reporting")}


def settled(system: System) -> dict[str, int]:
    """Wait until no service's log grows for two seconds (every reaction is recorded)."""
    last: dict[str, int] = {}
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        now = positions(system)
        if now == last:
            return now
        last = now
        time.sleep(2)
    raise AssertionError(f"the services never settled: {last}")


@pytest.fixture(scope="module")
def imported(broker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cfpb-import")
    with broker.fresh_vhost() as amqp_uri, running_system(amqp_uri, tmp, free_tcp_port) as system:
        yield import_three_times(system, tmp)


def import_three_times(system: System, tmp: Path) -> dict:
    runs = []
    # 1. Killed mid-run (SIGKILL: no clean-up of any kind) once ~150 complaints exist.
    first = importer(system, SAMPLE, tmp / "errors-1.csv", "--workers", "4")
    system.eventually(lambda: positions(system, "intake")["intake"] >= 750
                      or first.poll() is not None,
                      "the first run importing about 150 complaints", seconds=120)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = settled(system)
    # 2. Run again: finishes the rest. 3. Once more: nothing left to do.
    for n in (2, 3):
        started = time.monotonic()
        run = importer(system, SAMPLE, tmp / f"errors-{n}.csv", "--workers", "4")
        out, err = run.communicate(timeout=900)
        runs.append({"status": run.returncode, "out": out, "err": err,
                     "seconds": time.monotonic() - started,
                     "errors": (tmp / f"errors-{n}.csv").read_text(),
                     "before": settled(system) if n == 3 else None})
        print(out)
    after = settled(system)
    return {"system": system, "runs": runs, "killed_at": killed_at, "after": after,
            "tmp": tmp}


def report(system: System) -> dict:
    response = system.get("reporting", "/reports/improvement", params=PERIOD, headers=QM)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_interrupted_import_finishes_and_a_rerun_changes_nothing(imported):
    second, third = imported["runs"]
    assert second["status"] == 0, second["out"] + second["err"]
    assert 0 < imported["killed_at"]["intake"] < imported["after"]["intake"]
    assert "1000 rows imported" in second["out"] and "resumed" in second["out"]
    assert third["status"] == 0 and "1000 already complete" in third["out"], third["out"]
    assert second["errors"].splitlines() == third["errors"].splitlines() == [
        "line,complaint_id,column,problem"]
    # The third run stored nothing anywhere.
    assert third["before"] == imported["after"]


def test_the_report_reproduces_the_files_own_figures(imported):
    figures = report(imported["system"])
    assert figures["complaints"] == 1000
    assert figures["volumes"]["channel"] == {"web": 691, "letter": 107, "referral": 92,
                                             "phone": 90, "fax": 19, "email": 1}
    assert figures["rates"]["disputed"]["count"] == 211
    assert figures["sla"]["first_reply"]["on_time"] == 984


def test_every_count_equals_the_csv_computed_independently(imported):
    rows = the_csv()
    figures = report(imported["system"])["volumes"]
    products = Counter(r["product"] + (f" / {r['sub_product']}" if r["sub_product"] else "")
                       for r in rows)
    assert figures["product"] == dict(products)
    assert figures["channel"] == dict(Counter(CHANNEL[r["submitted_via"]] for r in rows))
    assert figures["outcome"] == dict(Counter(OUTCOME[r["company_response_to_consumer"]]
                                              for r in rows))
    assert figures["department"] == dict(Counter(r["company"] for r in rows))
    assert len(figures["department"]) == 202


def test_each_row_is_one_complaint_with_each_step_once(imported):
    system = imported["system"]
    rows = the_csv()
    once = ("complaint.received", "case.opened", "case.assigned", "case.concluded",
            "resolution.responded")
    for row in rows:
        cid = imported_complaint_id("cfpb", row["complaint_id"])
        trail = system.get("reporting", f"/complaints/{cid}/audit", headers=QM).json()
        kinds = Counter(e["event_type"] for e in trail["events"])
        assert all(kinds[k] == 1 for k in once), (row["complaint_id"], kinds)
        assert len({e["event_id"] for e in trail["events"]}) == len(trail["events"])
        disputed = row["consumer_disputed?"] == "Yes"
        assert kinds["resolution.disputed"] == kinds["case.reopened"] == int(disputed)
        assert kinds["resolution.closed"] == int(not disputed)
        received = next(e for e in trail["events"] if e["event_type"] == "complaint.received")
        month, day, year = (int(p) for p in row["date_received"].split("/"))
        assert received["occurred_at"].startswith(f"{year:04d}-{month:02d}-{day:02d}T00:00")


def test_malformed_rows_are_listed_by_line_and_the_rest_imported(imported, tmp_path):
    system = imported["system"]
    header, *sample = SAMPLE.read_text(encoding="utf-8").splitlines()
    good = [line.replace("/2013,", "/2012,") for line in sample[:2]]  # outside the period
    good = [g.rsplit(",", 1)[0] + f",T-{n}" for n, g in enumerate(good)]
    broken = [good[0].replace("/2012,", "/20xx,", 1).rsplit(",", 1)[0] + ",T-bad-date",
              good[1].replace(",Web,", ",Pigeon,").replace(",Referral,", ",Pigeon,")
              .replace(",Postal mail,", ",Pigeon,").replace(",Phone,", ",Pigeon,")
              .replace(",Fax,", ",Pigeon,").replace(",Email,", ",Pigeon,")
              .rsplit(",", 1)[0] + ",T-channel",
              good[0].rsplit(",", 1)[0] + ","]
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join([header, good[0], *broken, good[1]]) + "\n", encoding="utf-8")
    errors = tmp_path / "errors.csv"
    run = importer(system, path, errors)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 1, out + err
    assert "2 rows imported" in out and "3 in" in out
    listed = list(csv.DictReader(errors.open(newline="")))
    assert [(int(r["line"]), r["column"]) for r in listed] == [
        (3, "date_received"), (4, "submitted_via"), (5, "complaint_id")]
    for n in (0, 1):
        cid = imported_complaint_id("cfpb", f"T-{n}")
        assert system.get("intake", f"/complaints/{cid}", headers=QM).status_code == 200
    for ref in ("T-bad-date", "T-channel"):
        cid = imported_complaint_id("cfpb", ref)
        assert system.get("intake", f"/complaints/{cid}", headers=QM).status_code == 404


def test_the_import_speed_is_printed(imported):
    second = imported["runs"][0]
    print(f"\nresumed import: {second['seconds']:.1f} s; importer said: {second['out']}")
    assert "rows/s" in second["out"]
