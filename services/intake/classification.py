"""Automatic classification: pure functions over a rule set (rules.yaml)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from contracts.vocabulary import Category, ComplaintType, Language, Severity

SEVERITY_ORDER = [Severity.low, Severity.normal, Severity.high, Severity.critical]


@dataclass(frozen=True)
class Decision:
    type: ComplaintType
    category: Category
    severity: Severity
    matched_rules: tuple[str, ...]
    ruleset_version: str


def detect_language(text: str) -> Language:
    return Language.zh if any("\u4e00" <= ch <= "\u9fff" for ch in text) else Language.en


@functools.lru_cache(maxsize=4096)
def _pattern(keyword: str) -> re.Pattern[str]:
    """Latin-script keywords match whole words ("sue" must not fire inside "issue");
    Chinese has no spaces between words, so it matches anywhere."""
    escaped = re.escape(keyword.lower())
    if keyword.isascii():
        return re.compile(rf"(?<![a-z0-9]){escaped}(?![a-z0-9])")
    return re.compile(escaped)


def _matches(rule: dict[str, Any], text: str) -> bool:
    return any(_pattern(keyword).search(text) for keyword in rule["keywords"])


def _best(rules: list[dict[str, Any]], field: str, text: str, default: str):
    scores: dict[str, int] = {}
    fired: list[str] = []
    for rule in rules:
        if _matches(rule, text):
            scores[rule[field]] = scores.get(rule[field], 0) + rule.get("weight", 1)
            fired.append(rule["id"])
    if not scores:
        return default, fired
    # Highest score wins; ties go to the value listed first in the rule file.
    order = {rule[field]: i for i, rule in reversed(list(enumerate(rules)))}
    return max(scores, key=lambda v: (scores[v], -order[v])), fired


def classify(text: str, rules: dict[str, Any]) -> Decision:
    lowered = text.lower()
    default = rules["default"]
    type_, type_rules = _best(rules["type"], "type", lowered, default["type"])
    category, cat_rules = _best(rules["category"], "category", lowered, default["category"])
    severity = Severity(default["severity"])
    sev_rules = []
    for rule in rules["severity"]:
        if _matches(rule, lowered):
            sev_rules.append(rule["id"])
            candidate = Severity(rule["severity"])
            if candidate == Severity.low and severity == Severity(default["severity"]):
                severity = Severity.low
            elif SEVERITY_ORDER.index(candidate) > SEVERITY_ORDER.index(severity):
                severity = candidate
    if category == Category.safety and SEVERITY_ORDER.index(severity) < 2:
        severity = Severity.high
    return Decision(
        type=ComplaintType(type_),
        category=Category(category),
        severity=severity,
        matched_rules=tuple(type_rules + cat_rules + sev_rules),
        ruleset_version=str(rules["version"]),
    )
