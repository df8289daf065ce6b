"""The dry run: complaints recorded in a real SQLite event store, replayed through a new
rule file; it shows what would change and changes nothing."""

import hashlib
import sqlite3
import uuid

import pytest
import yaml

from contracts import api
from contracts.envelope import Actor
from services.intake.application import IntakeApplication
from services.intake.classification import DEFAULT_RULES_FILE, load_rules
from services.intake.dry_run import dry_run, format_dry_run, main

AGENT = Actor(id="agent-7", role="agent")
SUPERVISOR = Actor(id="sup-1", role="supervisor")
TEXTS = {
    "rude": "The staff at the counter was rude and shouted at me.",
    "bill": "I was overcharged on my invoice",
    "thanks": "非常感谢王经理的耐心帮助",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """An intake store with three complaints; the bill complaint overridden by an agent."""
    path = tmp_path_factory.mktemp("intake") / "intake.sqlite"
    app = IntakeApplication(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                 "SQLITE_DBNAME": str(path)})
    ids = {}
    for key, text in TEXTS.items():
        ids[key] = app.receive_complaint(api.ReceiveComplaint(
            channel="web", customer={"name": "Li Lei"}, text=text), AGENT).complaint_id
    app.reclassify(ids["bill"], api.Reclassify(category="after_sales",
                                               reason="the refund is for a returned item"),
                   SUPERVISOR)
    app.close()
    return path, ids


@pytest.fixture
def new_rules(tmp_path):
    """The shipped rules, but without the English service-attitude rule."""
    rules = yaml.safe_load(DEFAULT_RULES_FILE.read_text("utf-8"))
    rules["version"] = "dry-run-test"
    rules["category"] = [r for r in rules["category"] if r["id"] != "cat.attitude.en"]
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return path


def fingerprint(path):
    files = [path, path.with_name(path.name + "-wal")]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files if f.exists())).hexdigest()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
    return digest, rows


def test_the_dry_run_shows_old_and_new_classification_and_totals(store, new_rules, capsys):
    path, ids = store
    before = fingerprint(path)
    assert main(["--rules", str(new_rules), "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert fingerprint(path) == before, "the dry run changed the store"

    lines = {line.split()[0]: line for line in out.splitlines() if line[:8] in
             {str(i)[:8] for i in ids.values()}}
    rude = lines[str(ids["rude"])]
    assert "complaint/service_attitude/normal -> complaint/other/normal" in rude
    assert "changes category" in rude
    assert f"was rules {load_rules(DEFAULT_RULES_FILE)['version']}" in rude
    bill = lines[str(ids["bill"])]
    assert "complaint/after_sales/normal -> complaint/billing/normal" in bill
    assert "was agent override" in bill
    assert str(ids["thanks"]) not in lines, "unchanged complaints are not listed"
    assert "dry run of rules dry-run-test" in out
    assert "complaints replayed: 3" in out
    assert "would change: 2 (type 0, category 2, severity 0); unchanged: 1" in out
    assert "agent overrides: 1; the new rules agree with 0 of them" in out


def test_all_lists_the_unchanged_complaints_too(store, new_rules, capsys):
    path, ids = store
    assert main(["--rules", str(new_rules), "--store", str(path), "--all"]) == 0
    out = capsys.readouterr().out
    thanks = next(line for line in out.splitlines() if line.startswith(str(ids["thanks"])))
    assert "praise/other/normal -> praise/other/normal  [unchanged" in thanks


def test_the_same_rules_change_nothing_but_still_disagree_with_the_override(store):
    path, ids = store
    result = dry_run(yaml.safe_load(DEFAULT_RULES_FILE.read_text("utf-8")), path)
    assert len(result.results) == 3
    assert [c.recorded.complaint_id for c in result.changes] == [ids["bill"]]
    assert "would change: 1" in format_dry_run(result)


def test_the_store_defaults_to_data_dir(store, new_rules, monkeypatch, capsys):
    path, _ = store
    monkeypatch.setenv("DATA_DIR", str(path.parent))
    assert main(["--rules", str(new_rules)]) == 0
    assert f"against {path.parent / 'intake.sqlite'}" in capsys.readouterr().out


def test_a_missing_store_is_an_error_and_is_not_created(tmp_path, new_rules, capsys):
    missing = tmp_path / "nowhere" / "intake.sqlite"
    assert main(["--rules", str(new_rules), "--store", str(missing)]) == 2
    assert "no event store" in capsys.readouterr().err
    assert not missing.exists() and not missing.parent.exists()


def test_an_invalid_rule_file_is_refused_before_reading_the_store(store, tmp_path, capsys):
    path, _ = store
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_RULES_FILE.read_text("utf-8").replace(
        "id: cat.billing.en", f"id: cat.billing.en\n    note: {uuid.uuid4()}"), "utf-8")
    assert main(["--rules", str(bad), "--store", str(path)]) == 2
    err = capsys.readouterr().err
    assert "rule 'cat.billing.en'" in err and "field 'note'" in err
