"""Automatic classification: pure functions over a rule set the quality team edits
(services/intake/rules.yaml; its format is described at the top of that file).

Every rule names the value it votes for and carries terms in three forms:
- keywords: literal words or expressions. Chinese (and any non-Latin script) matches
  anywhere, without spaces; a Latin-script keyword matches only as a whole word
  ("sue" never fires inside "issue"); a trailing `*` allows any ending ("refund*").
- phrases: like keywords, but `...` between two parts lets up to `matching.phrase_gap`
  characters of the same clause stand between them ("态度...差" fires on 态度很差 and
  态度非常差; "charged...twice" on "charged me twice").
- patterns: regular expressions (Python syntax) for what the other two cannot say.
A rule fires when any of its terms matches and none of its `unless` terms does. The
text is normalised first: NFKC (full-width letters and punctuation become ASCII),
case-folded, and spaces between two Chinese characters removed, so the same rule
fires on 态度很差, 态度 很 差 and ＲＵＤＥ alike.

Type and category: each fired rule adds its weight to its value's score; the highest
score wins, ties go to the value listed first in the file, no score at all gives the
file's default. Severity: the highest severity any fired rule names (a `low` rule only
lowers the default, never a higher severity), then the floors (e.g. every safety
complaint, every repeat complaint from the same customer is at least high).

Confidence is the winning category's margin over the runner-up, divided by the larger
of the winning score and `triage.full_margin`: 0 when no category rule fired or two
categories tie, 1 for a clear, well-evidenced winner. A decision whose confidence is
below `triage.min_confidence` (for the types listed in `triage.types`) needs triage.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from contracts.vocabulary import Category, ComplaintType, Language, Severity

SEVERITY_ORDER = [Severity.low, Severity.normal, Severity.high, Severity.critical]
DEFAULT_RULES_FILE = Path(__file__).with_name("rules.yaml")
DEFAULT_PHRASE_GAP = 12
GAP = "..."

# Chinese characters (the unified ideographs, extension A and the compatibility block).
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SPACES_BETWEEN_HAN = re.compile(rf"(?<=[{_HAN}])\s+(?=[{_HAN}])")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
# What a phrase gap may not cross: the end of a clause.
_GAP_CHARS = r"[^.!?;,\n\u3002\u3001]"
_LATIN = re.compile(r"[a-z0-9]")


@dataclass(frozen=True)
class Decision:
    type: ComplaintType
    category: Category
    severity: Severity
    matched_rules: tuple[str, ...]
    ruleset_version: str
    scores: dict[str, float] = field(default_factory=dict)  # category -> score (> 0 only)
    confidence: float = 0.0
    needs_triage: bool = False


class RulesError(ValueError):
    """A rule file the classifier cannot use; says where (rule id and field) and why."""

    def __init__(self, problem: str, *, source: str = "rules", rule_id: str | None = None,
                 field: str | None = None):
        self.source, self.rule_id, self.field, self.problem = source, rule_id, field, problem
        where = [source]
        if rule_id is not None:
            where.append(f"rule {rule_id!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {problem}")


def detect_language(text: str) -> Language:
    return Language.zh if any("\u4e00" <= ch <= "\u9fff" for ch in text) else Language.en


def normalise(text: str) -> str:
    """What rules match against: NFKC, case-folded, curly quotes straightened, no
    spaces between Chinese characters."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    return _SPACES_BETWEEN_HAN.sub("", text)


# --- compiling terms ------------------------------------------------------------


def _literal(part: str) -> str:
    """A keyword (or one part of a phrase) as a regular expression. Latin-script ends
    are word boundaries; other scripts match anywhere."""
    stem = part.endswith("*")
    part = part.rstrip("*").strip()
    body = r"\s+".join(re.escape(word) for word in part.split())
    if _LATIN.fullmatch(part[0]):
        body = rf"(?<![a-z0-9]){body}"
    if _LATIN.fullmatch(part[-1]) and not stem:
        body += r"(?![a-z0-9])"
    return body


def _phrase(phrase: str, gap: int) -> str:
    parts = normalise(phrase).split(GAP)
    return f"{_GAP_CHARS}{{0,{gap}}}?".join(_literal(p) for p in parts)


@functools.lru_cache(maxsize=4096)
def _compiled(keywords: tuple[str, ...], phrases: tuple[str, ...],
              patterns: tuple[str, ...], gap: int) -> re.Pattern[str] | None:
    alternatives = [_phrase(term, gap) for term in keywords + phrases]
    alternatives += [f"(?:{pattern})" for pattern in patterns]
    if not alternatives:
        return None
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _terms(rule: dict[str, Any], name: str) -> tuple[str, ...]:
    return tuple(rule.get(name) or ())


def _fires(rule: dict[str, Any], text: str, gap: int) -> bool:
    found = _compiled(_terms(rule, "keywords"), _terms(rule, "phrases"),
                      _terms(rule, "patterns"), gap)
    if found is None or not found.search(text):
        return False
    unless = _compiled(_terms(rule, "unless"), (), (), gap)
    return unless is None or not unless.search(text)


# --- deciding --------------------------------------------------------------------


def _scores(rules: list[dict[str, Any]], field_: str, text: str, gap: int
            ) -> tuple[dict[str, float], list[str]]:
    scores: dict[str, float] = {}
    fired: list[str] = []
    for rule in rules:
        if _fires(rule, text, gap):
            value = rule[field_]
            scores[value] = scores.get(value, 0.0) + float(rule.get("weight", 1))
            fired.append(rule["id"])
    return scores, fired


def _winner(scores: dict[str, float], rules: list[dict[str, Any]], field_: str,
            default: str) -> str:
    if not scores:
        return default
    # Highest score wins; ties go to the value listed first in the rule file.
    order = {rule[field_]: i for i, rule in reversed(list(enumerate(rules)))}
    return max(scores, key=lambda v: (scores[v], -order[v]))


def _confidence(scores: dict[str, float], full_margin: float) -> float:
    ranked = sorted(scores.values(), reverse=True)
    if not ranked or ranked[0] <= 0:
        return 0.0
    runner_up = ranked[1] if len(ranked) > 1 else 0.0
    return round(min(1.0, (ranked[0] - runner_up) / max(ranked[0], full_margin)), 3)


def _higher(a: Severity, b: Severity) -> bool:
    return SEVERITY_ORDER.index(a) > SEVERITY_ORDER.index(b)


def classify(text: str, rules: dict[str, Any], repeat: bool = False) -> Decision:
    """Classify a complaint's text. `repeat`: the same customer complained before
    (the caller knows; the floors in the rule file say what that does to severity)."""
    normalised = normalise(text)
    default = rules["default"]
    gap = int(rules.get("matching", {}).get("phrase_gap", DEFAULT_PHRASE_GAP))

    type_scores, type_rules = _scores(rules["type"], "type", normalised, gap)
    type_ = ComplaintType(_winner(type_scores, rules["type"], "type", default["type"]))
    cat_scores, cat_rules = _scores(rules["category"], "category", normalised, gap)
    category = Category(_winner(cat_scores, rules["category"], "category",
                                default["category"]))

    baseline = Severity(default["severity"])
    severity = baseline
    sev_rules: list[str] = []
    for rule in rules["severity"]:
        if "types" in rule and type_ not in rule["types"]:
            continue
        if not _fires(rule, normalised, gap):
            continue
        sev_rules.append(rule["id"])
        candidate = Severity(rule["severity"])
        if candidate == Severity.low:
            if severity == baseline:
                severity = Severity.low
        elif _higher(candidate, severity):
            severity = candidate
    for floor in rules.get("floors", ()):
        applies = (floor.get("category") == category if "category" in floor
                   else bool(floor.get("repeat")) and repeat)
        if applies and _higher(Severity(floor["severity"]), severity):
            severity = Severity(floor["severity"])
            sev_rules.append(floor["id"])

    triage = rules.get("triage", {})
    confidence = _confidence(cat_scores, float(triage.get("full_margin", 1)))
    needs_triage = (confidence < float(triage.get("min_confidence", 0))
                    and type_ in triage.get("types", list(ComplaintType)))
    return Decision(
        type=type_,
        category=category,
        severity=severity,
        matched_rules=tuple(type_rules + cat_rules + sev_rules),
        ruleset_version=str(rules["version"]),
        scores={c: round(s, 3) for c, s in cat_scores.items()},
        confidence=confidence,
        needs_triage=needs_triage,
    )


# --- loading and validating a rule file ---------------------------------------------

_SECTIONS = {"type": ComplaintType, "category": Category, "severity": Severity}
_TERM_FIELDS = ("keywords", "phrases", "patterns")
_RULE_KEYS = {
    "type": {"id", "type", "weight", "unless", *_TERM_FIELDS},
    "category": {"id", "category", "weight", "unless", *_TERM_FIELDS},
    "severity": {"id", "severity", "types", "unless", *_TERM_FIELDS},
}
Fail = Callable[..., NoReturn]
_TOP_KEYS = {"version", "description", "default", "matching", "triage", "type", "category",
             "severity", "floors"}


class _StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (plain YAML keeps the last,
    silently dropping e.g. a rule's first keywords list)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice in one mapping",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_rules(path: str | Path) -> dict[str, Any]:
    """Read and validate a rule file; a RulesError names the rule id and field at fault."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506
    except OSError as e:
        raise RulesError(f"cannot read the file: {e.strerror or e}", source=str(path)) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise RulesError(f"not valid YAML{where}: {problem}", source=str(path)) from e
    return validate_rules(raw, source=str(path))


def validate_rules(rules: Any, source: str = "rules") -> dict[str, Any]:
    """Check a rule set (as read from YAML); returns it with `version` as text."""

    def fail(problem: str, rule_id: str | None = None, field_: str | None = None) -> NoReturn:
        raise RulesError(problem, source=source, rule_id=rule_id, field=field_)

    if not isinstance(rules, dict):
        fail("the file must be a mapping with version, default, type, category, severity")
    unknown = set(rules) - _TOP_KEYS
    if unknown:
        fail(f"unknown top-level key(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    version = rules.get("version")
    if version is None or isinstance(version, bool) or not str(version).strip():
        fail("a non-empty version is required", field_="version")

    default = rules.get("default")
    if not isinstance(default, dict):
        fail("a mapping with type, category and severity is required", field_="default")
    for name, vocabulary in _SECTIONS.items():
        _check_value(default.get(name), vocabulary, fail, None, f"default.{name}")

    matching = rules.get("matching", {})
    if not isinstance(matching, dict) or set(matching) - {"phrase_gap"}:
        fail("only phrase_gap may be set", field_="matching")
    gap = matching.get("phrase_gap", DEFAULT_PHRASE_GAP)
    if not _is_number(gap) or int(gap) != gap or not 0 <= gap <= 100:
        fail("must be a whole number of characters from 0 to 100",
             field_="matching.phrase_gap")

    _check_triage(rules.get("triage", {}), fail)

    seen: set[str] = set()
    for section, vocabulary in _SECTIONS.items():
        entries = rules.get(section)
        if not isinstance(entries, list):
            fail("a list of rules is required (it may be empty: [])", field_=section)
        for n, rule in enumerate(entries):
            _check_rule(rule, section, vocabulary, n, seen, int(gap), fail)

    floors = rules.get("floors", [])
    if not isinstance(floors, list):
        fail("a list is required", field_="floors")
    for n, floor in enumerate(floors):
        rule_id = floor.get("id") if isinstance(floor, dict) else None
        if not isinstance(floor, dict) or not isinstance(rule_id, str) or not rule_id:
            fail("each floor is a mapping with an id", field_=f"floors[{n}]")
        _unique(rule_id, seen, fail)
        extra = set(floor) - {"id", "severity", "category", "repeat"}
        if extra:
            fail(f"unknown key(s) {sorted(extra)}", rule_id, sorted(extra)[0])
        _check_value(floor.get("severity"), Severity, fail, rule_id, "severity")
        if ("category" in floor) == ("repeat" in floor):
            fail("give exactly one condition: category or repeat", rule_id, "category")
        if "category" in floor:
            _check_value(floor["category"], Category, fail, rule_id, "category")
        elif floor["repeat"] is not True:
            fail("must be true", rule_id, "repeat")

    return {**rules, "version": str(version)}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


def _check_value(value: Any, vocabulary: Any, fail: Fail, rule_id: str | None,
                 field_: str) -> None:
    if value is None:
        fail(f"is missing; one of {[v.value for v in vocabulary]}", rule_id, field_)
    if value not in {v.value for v in vocabulary}:
        fail(f"{value!r} is not one of {[v.value for v in vocabulary]}", rule_id, field_)


def _unique(rule_id: str, seen: set[str], fail: Fail) -> None:
    if rule_id in seen:
        fail("the same rule id is used twice", rule_id, "id")
    seen.add(rule_id)


def _check_triage(triage: Any, fail: Fail) -> None:
    if not isinstance(triage, dict):
        fail("a mapping is required", field_="triage")
    extra = set(triage) - {"min_confidence", "full_margin", "types"}
    if extra:
        fail(f"unknown key(s) {sorted(extra)}", field_="triage")
    threshold = triage.get("min_confidence", 0)
    if not _is_number(threshold) or not 0 <= threshold <= 1:
        fail("must be a number from 0 to 1", field_="triage.min_confidence")
    margin = triage.get("full_margin", 1)
    if not _is_number(margin) or margin <= 0:
        fail("must be a number above 0", field_="triage.full_margin")
    types = triage.get("types", [t.value for t in ComplaintType])
    if not isinstance(types, list):
        fail("must be a list of types", field_="triage.types")
    for n, type_ in enumerate(types):
        _check_value(type_, ComplaintType, fail, None, f"triage.types[{n}]")


def _check_rule(rule: Any, section: str, vocabulary: Any, n: int, seen: set[str], gap: int,
                fail: Fail) -> None:
    if not isinstance(rule, dict):
        fail("each rule is a mapping", field_=f"{section}[{n}]")
    rule_id = rule.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip():
        fail("every rule needs an id (text)", field_=f"{section}[{n}].id")
    _unique(rule_id, seen, fail)
    extra = set(rule) - _RULE_KEYS[section]
    if extra:
        fail(f"unknown key(s) {sorted(extra)}; a {section} rule may have "
             f"{sorted(_RULE_KEYS[section])}", rule_id, sorted(extra)[0])
    _check_value(rule.get(section), vocabulary, fail, rule_id, section)
    if "weight" in rule and (not _is_number(rule["weight"]) or rule["weight"] <= 0):
        fail("must be a number above 0", rule_id, "weight")
    if "types" in rule:
        if not isinstance(rule["types"], list) or not rule["types"]:
            fail("must be a non-empty list of types", rule_id, "types")
        for i, type_ in enumerate(rule["types"]):
            _check_value(type_, ComplaintType, fail, rule_id, f"types[{i}]")
    total = 0
    for name in (*_TERM_FIELDS, "unless"):
        terms = rule.get(name, [])
        if not isinstance(terms, list):
            fail("must be a list", rule_id, name)
        for i, term in enumerate(terms):
            where = f"{name}[{i}]"
            if not isinstance(term, str):
                fail(f"{term!r} is not text; quote it (YAML reads yes, no, on, off as "
                     "true/false and digits as numbers)", rule_id, where)
            if not normalise(term).replace(GAP, "").strip(" *"):
                fail("is empty", rule_id, where)
            if name == "patterns":
                _check_pattern(term, fail, rule_id, where)
            elif name == "keywords" and GAP in term:
                fail(f"a keyword cannot contain {GAP!r}; put it under phrases", rule_id,
                     where)
            elif any(not p.strip(" *") for p in normalise(term).split(GAP)):
                fail(f"{GAP!r} must stand between two words", rule_id, where)
        if name != "unless":
            total += len(terms)
    if total == 0:
        fail("a rule needs at least one keyword, phrase or pattern", rule_id, "keywords")
    found = _compiled(_terms(rule, "keywords"), _terms(rule, "phrases"),
                      _terms(rule, "patterns"), gap)
    if found is not None and found.search(""):
        fail("matches an empty text, so it would fire on every complaint", rule_id,
             "patterns")


def _check_pattern(pattern: str, fail: Fail, rule_id: str, where: str) -> None:
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as e:
        fail(f"not a valid regular expression: {e}", rule_id, where)
    if compiled.search(""):
        fail("matches an empty text, so it would fire on every complaint", rule_id, where)
