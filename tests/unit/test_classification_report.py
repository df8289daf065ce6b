"""The labelled complaints and the classification report: the suite fails when the
rules' macro F1 on the held-out half falls below 0.85."""

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from contracts.vocabulary import Category, ComplaintType
from services.intake.classification import DEFAULT_RULES_FILE, load_rules
from services.intake.classification_report import (
    evaluate,
    format_report,
    load_labelled,
    main,
    select,
    split_of,
)

ROOT = Path(__file__).resolve().parents[2]
MIN_MACRO_F1 = 0.85
ITEMS = load_labelled()
RULES = load_rules(DEFAULT_RULES_FILE)


def test_the_labelled_set_is_large_bilingual_and_covers_every_category_and_type():
    assert len(ITEMS) >= 300
    languages = Counter(i["language"] for i in ITEMS)
    assert abs(languages["zh"] - languages["en"]) <= 0.05 * len(ITEMS), languages
    categories = Counter(i["category"] for i in ITEMS)
    assert all(categories[c] >= 10 for c in Category), categories
    types = Counter(i["type"] for i in ITEMS)
    assert all(types[t] >= 10 for t in ComplaintType), types
    assert len({i["text"] for i in ITEMS}) == len(ITEMS), "no text twice"


def test_the_split_is_by_id_parity_and_both_halves_cover_every_category():
    train, heldout = select(ITEMS, "train"), select(ITEMS, "heldout")
    assert len(train) + len(heldout) == len(ITEMS) == len(select(ITEMS, "all"))
    assert all(int(i["id"].split("-")[1]) % 2 == 1 for i in train)
    assert [split_of(i) for i in heldout] == ["heldout"] * len(heldout)
    for half in (train, heldout):
        categories = Counter(i["category"] for i in half)
        assert all(categories[c] >= 5 for c in Category), categories
        assert {i["language"] for i in half} == {"zh", "en"}


def test_macro_f1_on_the_held_out_half_is_at_least_085():
    result = subprocess.run(
        [sys.executable, "-m", "services.intake.classification_report", "--split", "heldout",
         "--fail-under", str(MIN_MACRO_F1)],
        cwd=ROOT, capture_output=True, text=True)
    print(result.stdout)
    figure = next(line for line in result.stdout.splitlines() if line.startswith("macro F1"))
    print(f"held-out {figure}")
    assert result.returncode == 0, f"held-out {figure} (minimum {MIN_MACRO_F1})\n" \
                                   f"{result.stdout}{result.stderr}"
    assert "confusion matrix" in result.stdout and "type accuracy" in result.stdout


def test_the_report_counts_what_it_shows():
    items = [
        {"id": "x-1", "language": "en", "text": "I was overcharged on my invoice",
         "type": "complaint", "category": "billing", "severity": "normal"},
        {"id": "x-3", "language": "en", "text": "The staff were rude",
         "type": "complaint", "category": "billing", "severity": "normal"},
        {"id": "x-5", "language": "en", "text": "Thank you, excellent service",
         "type": "inquiry", "category": "other", "severity": "normal"},
    ]
    report = evaluate(items, RULES, "train")
    assert report.confusion["billing"] == {"billing": 1, "service_attitude": 1}
    billing = report.per_category["billing"]
    assert (billing.precision, billing.recall, billing.support) == (1.0, 0.5, 2)
    assert billing.f1 == pytest.approx(2 / 3)
    assert report.per_category["service_attitude"].f1 == 0.0
    assert report.macro_f1 == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert report.type_accuracy == pytest.approx(2 / 3)
    text = format_report(report, show_errors=True)
    assert "x-3: category billing->service_attitude" in text
    assert "x-5: type inquiry->praise" in text


def test_the_command_reports_on_a_split_and_rejects_a_bad_rule_file(tmp_path, capsys):
    assert main(["--split", "train"]) == 0
    out = capsys.readouterr().out
    assert f"split train: {len(select(ITEMS, 'train'))} complaints" in out
    for category in Category:
        assert category.value in out
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: x\ndefault: {type: complaint, category: other, severity: mild}\n"
                   "type: []\ncategory: []\nseverity: []\n")
    assert main(["--rules", str(bad)]) == 2
    assert "default.severity" in capsys.readouterr().err
    assert main(["--fail-under", "1.01"]) == 1
