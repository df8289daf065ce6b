"""How well a rule file classifies the labelled complaints: per-category precision,
recall and F1, macro F1, type and severity accuracy, triage, and the confusion matrix.

    python -m services.intake.classification_report [--split train|heldout|all]
        [--rules PATH] [--data PATH] [--errors] [--fail-under 0.85]

The labelled set (tests/data/labelled_complaints.yaml) is split by the number in each
item's id: odd numbers are the training half, on which rules are tuned; even numbers
are the held-out half, on which the figures are reported.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contracts.vocabulary import Category, ComplaintType, Language, Severity
from services.intake.classification import DEFAULT_RULES_FILE, classify, load_rules

DEFAULT_DATA_FILE = Path(__file__).resolve().parents[2] / "tests" / "data" / \
    "labelled_complaints.yaml"
SPLITS = ("train", "heldout", "all")
CATEGORIES = [c.value for c in Category]
_VOCABULARIES = {"language": Language, "type": ComplaintType, "category": Category,
                 "severity": Severity}


def load_labelled(path: str | Path = DEFAULT_DATA_FILE) -> list[dict[str, Any]]:
    """The labelled items, checked: unique ids ending in a number, known vocabulary."""
    items = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of labelled complaints")
    seen: set[str] = set()
    for n, item in enumerate(items):
        where = f"{path}: item {n} ({item.get('id') if isinstance(item, dict) else item!r})"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: not a mapping")
        missing = {"id", "language", "text", *_VOCABULARIES} - set(item)
        if missing:
            raise ValueError(f"{where}: missing {sorted(missing)}")
        if item["id"] in seen or not str(item["id"]).split("-")[-1].isdigit():
            raise ValueError(f"{where}: ids must be unique and end in a number")
        seen.add(item["id"])
        for name, vocabulary in _VOCABULARIES.items():
            if item[name] not in {v.value for v in vocabulary}:
                raise ValueError(f"{where}: {name} {item[name]!r} is not in the vocabulary")
        if not isinstance(item["text"], str) or not item["text"].strip():
            raise ValueError(f"{where}: empty text")
    return items


def split_of(item: dict[str, Any]) -> str:
    return "train" if int(str(item["id"]).split("-")[-1]) % 2 else "heldout"


def select(items: list[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    return [i for i in items if split == "all" or split_of(i) == split]


@dataclass
class CategoryFigures:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Report:
    split: str
    ruleset_version: str
    count: int
    per_category: dict[str, CategoryFigures]
    macro_f1: float
    category_accuracy: float
    type_accuracy: float
    severity_accuracy: float
    confusion: dict[str, Counter[str]]  # actual category -> predicted category -> count
    triaged: int
    triaged_wrong: int  # triaged items whose category or type was wrong
    untriaged_wrong: int
    errors: list[dict[str, Any]] = field(default_factory=list)


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def evaluate(items: list[dict[str, Any]], rules: dict[str, Any], split: str = "all") -> Report:
    confusion: dict[str, Counter[str]] = {c: Counter() for c in CATEGORIES}
    right: Counter[str] = Counter()
    triaged = triaged_wrong = untriaged_wrong = 0
    errors = []
    for item in items:
        decision = classify(item["text"], rules)
        predicted = {"type": decision.type.value, "category": decision.category.value,
                     "severity": decision.severity.value}
        confusion[item["category"]][predicted["category"]] += 1
        for name in predicted:
            right[name] += predicted[name] == item[name]
        wrong = any(predicted[n] != item[n] for n in ("type", "category"))
        if decision.needs_triage:
            triaged += 1
            triaged_wrong += wrong
        else:
            untriaged_wrong += wrong
        if wrong or predicted["severity"] != item["severity"]:
            errors.append({"item": item, "predicted": predicted, "decision": decision})

    per_category = {}
    for category in CATEGORIES:
        true_positive = confusion[category][category]
        predicted_as = sum(confusion[actual][category] for actual in CATEGORIES)
        support = sum(confusion[category].values())
        if not support and not predicted_as:
            continue
        precision = _ratio(true_positive, predicted_as)
        recall = _ratio(true_positive, support)
        f1 = _ratio(2 * true_positive, predicted_as + support)
        per_category[category] = CategoryFigures(precision, recall, f1, support)
    macro = sum(f.f1 for f in per_category.values()) / len(per_category) if per_category \
        else 0.0
    n = len(items)
    return Report(
        split=split, ruleset_version=str(rules["version"]), count=n,
        per_category=per_category, macro_f1=macro,
        category_accuracy=_ratio(right["category"], n), type_accuracy=_ratio(right["type"], n),
        severity_accuracy=_ratio(right["severity"], n), confusion=confusion,
        triaged=triaged, triaged_wrong=triaged_wrong, untriaged_wrong=untriaged_wrong,
        errors=errors,
    )


SHORT = {"service_attitude": "attitude", "response_delay": "delay",
         "product_quality": "quality", "billing": "billing", "after_sales": "aftersal",
         "facilities": "facility", "safety": "safety", "information": "info",
         "privacy": "privacy", "other": "other"}


def format_report(report: Report, show_errors: bool = False) -> str:
    lines = [
        f"rules {report.ruleset_version}, split {report.split}: {report.count} complaints",
        "",
        f"{'category':<18}{'precision':>10}{'recall':>8}{'f1':>7}{'support':>9}",
    ]
    for category, f in report.per_category.items():
        lines.append(f"{category:<18}{f.precision:>10.3f}{f.recall:>8.3f}{f.f1:>7.3f}"
                     f"{f.support:>9}")
    untriaged = report.count - report.triaged
    lines += [
        "",
        f"macro F1            {report.macro_f1:.3f}",
        f"category accuracy   {report.category_accuracy:.3f}",
        f"type accuracy       {report.type_accuracy:.3f}",
        f"severity accuracy   {report.severity_accuracy:.3f}",
        f"needs triage        {report.triaged} of {report.count}; type or category wrong: "
        f"{report.triaged_wrong} of {report.triaged} triaged, {report.untriaged_wrong} of "
        f"{untriaged} not triaged",
        "",
        "confusion matrix (rows: labelled category, columns: classified as)",
    ]
    columns = [c for c in CATEGORIES if c in report.per_category]
    lines.append(f"{'':<18}" + "".join(f"{SHORT[c]:>9}" for c in columns))
    for actual in columns:
        lines.append(f"{actual:<18}" + "".join(
            f"{report.confusion[actual][predicted] or '.':>9}" for predicted in columns))
    if show_errors:
        lines += ["", f"misclassified ({len(report.errors)}): labelled -> classified"]
        for error in report.errors:
            item, predicted = error["item"], error["predicted"]
            changes = ", ".join(f"{n} {item[n]}->{predicted[n]}" for n in predicted
                                if item[n] != predicted[n])
            lines.append(f"{item['id']}: {changes}  | {item['text']}")
            lines.append(f"    rules {list(error['decision'].matched_rules)} "
                         f"scores {error['decision'].scores}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.intake.classification_report",
        description="Classify the labelled complaints with a rule file and print the "
                    "per-category precision, recall and F1, macro F1, type accuracy and "
                    "the confusion matrix.")
    parser.add_argument("--split", choices=SPLITS, default="heldout",
                        help="train (odd ids), heldout (even ids, the default) or all")
    parser.add_argument("--rules", default=str(DEFAULT_RULES_FILE),
                        help="the rule file (default: intake's rules.yaml)")
    parser.add_argument("--data", default=str(DEFAULT_DATA_FILE),
                        help="the labelled complaints (default: %(default)s)")
    parser.add_argument("--errors", action="store_true",
                        help="also list every misclassified complaint with its rules")
    parser.add_argument("--fail-under", type=float, default=None, metavar="MACRO_F1",
                        help="exit with status 1 when macro F1 is below this")
    args = parser.parse_args(argv)
    try:
        rules = load_rules(args.rules)
        items = select(load_labelled(args.data), args.split)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report = evaluate(items, rules, args.split)
    print(format_report(report, show_errors=args.errors))
    if args.fail_under is not None and report.macro_f1 < args.fail_under:
        print(f"macro F1 {report.macro_f1:.3f} is below {args.fail_under}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
