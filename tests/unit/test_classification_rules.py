"""Rule file v2: phrases, patterns, weights, floors, confidence and triage, matching
without spaces in Chinese, and validation with errors that name the rule and field."""

import re
import textwrap

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.vocabulary import Category, ComplaintType, Severity
from services.intake.classification import (
    DEFAULT_RULES_FILE,
    SEVERITY_ORDER,
    Decision,
    RulesError,
    _fires,
    classify,
    load_rules,
    normalise,
    validate_rules,
)
from services.intake.classification_report import load_labelled

RULES = load_rules(DEFAULT_RULES_FILE)
GAP = RULES["matching"]["phrase_gap"]
LABELLED = load_labelled()
CHINESE = [i["text"] for i in LABELLED if i["language"] == "zh"]
HAN = re.compile(r"[\u4e00-\u9fff]")


def ruleset(**sections):
    base = {"version": "t-1", "default": {"type": "complaint", "category": "other",
                                          "severity": "normal"},
            "type": [], "category": [], "severity": []}
    return validate_rules({**base, **sections})


# --- the shipped rule file ---------------------------------------------------------


def test_the_shipped_rule_file_is_valid_and_versioned():
    assert RULES["version"] == str(yaml.safe_load(DEFAULT_RULES_FILE.read_text("utf-8"))
                                   ["version"])
    ids = [r["id"] for s in ("type", "category", "severity", "floors") for r in RULES[s]]
    assert len(ids) == len(set(ids))
    assert {r["category"] for r in RULES["category"]} == {c.value for c in Category}
    assert {r["type"] for r in RULES["type"]} == {t.value for t in ComplaintType}


def _terms():
    for section in ("type", "category", "severity"):
        for rule in RULES[section]:
            for term in rule.get("keywords", []) + rule.get("phrases", []):
                yield rule, term


@pytest.mark.parametrize("section", ["type", "category", "severity"])
def test_every_keyword_and_phrase_fires_its_own_rule(section):
    for rule, term in _terms():
        if section in rule:
            text = term.replace("...", " ").rstrip("*")
            assert _fires(rule, normalise(text), GAP), (rule["id"], term)


def test_no_latin_keyword_fires_inside_a_longer_word():
    for rule, term in _terms():
        if term.isascii() and term[0].isalnum() and term[-1].isalnum():
            assert not _fires(rule, f"x{term}x", GAP), (rule["id"], term)


# --- texts the other suites and the callers rely on ------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("The staff at the counter was rude and shouted at me.",
     ("complaint", "service_attitude", "normal")),
    ("The staff at the counter were rude to me.", ("complaint", "service_attitude", "normal")),
    ("Complaint 3: the staff were rude", ("complaint", "service_attitude", "normal")),
    ("rude staff", ("complaint", "service_attitude", "normal")),
    ("The waiter was rude to me", ("complaint", "service_attitude", "normal")),
    ("I was overcharged on my invoice", ("complaint", "billing", "normal")),
    ("I was overcharged on my bill", ("complaint", "billing", "normal")),
    ("I was charged twice on my bill", ("complaint", "billing", "normal")),
    ("late delivery", ("complaint", "response_delay", "normal")),
    ("My son was injured by a falling shelf and is in hospital",
     ("complaint", "safety", "critical")),
    ("I slipped on a broken step in your store and was injured; my lawyer will call",
     ("complaint", "safety", "critical")),
    ("孩子在店里摔倒受伤住院了", ("complaint", "safety", "critical")),
    ("服务员态度很差，我等了一个小时才上菜。", ("complaint", "service_attitude", "normal")),
    ("Thank you, excellent service from Wang Fang.", ("praise", "other", "normal")),
    ("Thank you, excellent service at the Xuhui branch.", ("praise", "other", "normal")),
    ("非常感谢王经理的耐心帮助", ("praise", "other", "normal")),
    ("I suggest you add a children's menu.", ("suggestion", "other", "normal")),
    ("请问你们几点开门？", ("inquiry", "other", "normal")),
    ("请问营业时间？", ("inquiry", "other", "normal")),
    ("请问怎么办理退货", ("inquiry", "after_sales", "normal")),
])
def test_texts_used_across_the_suites_keep_their_classification(text, expected):
    decision = classify(text, RULES)
    assert (decision.type, decision.category, decision.severity) == expected


def test_the_rule_ids_intake_tests_expect_still_fire():
    assert classify("The staff at the counter was rude and shouted at me.",
                    RULES).matched_rules == ("type.complaint.en", "cat.attitude.en")
    assert classify("I was overcharged on my invoice", RULES).matched_rules == (
        "cat.billing.en",)


def test_a_decision_built_the_old_way_still_works():
    decision = Decision(type=ComplaintType.complaint, category=Category.billing,
                        severity=Severity.normal, matched_rules=(), ruleset_version="r1")
    assert (decision.scores, decision.confidence, decision.needs_triage) == ({}, 0.0, False)


# --- matching --------------------------------------------------------------------


def test_a_phrase_allows_a_few_characters_of_the_same_clause_between_its_parts():
    rules = ruleset(category=[{"id": "c", "category": "service_attitude",
                               "phrases": ["态度...差", "charged...twice"]}])
    for text in ("态度差", "态度很差", "态度非常差", "they charged me twice"):
        assert classify(text, rules).category == "service_attitude", text
    for text in ("态度很好，菜太差", "charged. I paid twice",
                 "charged for the delivery of the sofa and the chairs twice"):
        assert classify(text, rules).category == "other", text


def test_a_trailing_star_allows_any_ending_and_nothing_before():
    rules = ruleset(category=[{"id": "c", "category": "billing", "keywords": ["refund*"]}])
    assert classify("they refunded half", rules).category == "billing"
    assert classify("refunds!", rules).category == "billing"
    assert classify("a prerefund", rules).category == "other"


def test_patterns_are_regular_expressions_on_the_normalised_text():
    rules = ruleset(category=[{"id": "c", "category": "billing",
                               "patterns": [r"\b\d+ (a|per) month\b", r"吗\?"]}])
    assert classify("99 a month", rules).category == "billing"
    assert classify("能退吗？", rules).category == "billing"  # full-width ？ reads as ?
    assert classify("9999 monthly", rules).category == "other"


def test_unless_stops_a_rule():
    rules = ruleset(type=[{"id": "t", "type": "praise", "keywords": ["thanks"],
                           "unless": ["thanks for nothing"]}])
    assert classify("thanks!", rules).type == "praise"
    assert classify("Thanks for nothing.", rules).type == "complaint"
    assert classify("Thanks for nothing.", rules).matched_rules == ()


def test_full_width_letters_and_curly_quotes_match_like_ascii():
    assert classify("ＲＵＤＥ ｓｔａｆｆ", RULES) == classify("rude staff", RULES)
    rules = ruleset(category=[{"id": "c", "category": "other", "keywords": ["don't"]}])
    assert classify("I don\u2019t know", rules).category == "other"
    assert classify("I don\u2019t know", rules).matched_rules == ("c",)


def test_a_not_yet_expired_product_is_not_a_safety_issue():
    decision = classify("今天买的面包有股陈味，虽然没过期但口感很差。", RULES)
    assert decision.category == "product_quality"
    decision = classify("热水器装完师傅没试机就走了，现在根本打不着火。", RULES)
    assert decision.severity == "normal" and decision.category == "after_sales"


def test_a_food_court_is_not_a_court_case():
    assert classify("There's a strong smell of sewage near the food court.",
                    RULES).severity == "normal"
    assert classify("I will take you to court", RULES).severity == "critical"


# --- severity ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["The staff were rude", "谢谢你们", "请问几点开门？",
                                  "Just letting you know about a small issue"])
def test_a_repeat_complaint_from_the_same_customer_is_at_least_high(text):
    decision = classify(text, RULES, repeat=True)
    assert SEVERITY_ORDER.index(decision.severity) >= SEVERITY_ORDER.index(Severity.high)
    assert "floor.repeat_customer" in decision.matched_rules
    assert "floor.repeat_customer" not in classify(text, RULES).matched_rules


def test_repeat_never_lowers_a_critical_complaint():
    decision = classify("I will call my lawyer", RULES, repeat=True)
    assert decision.severity == "critical"
    assert "floor.repeat_customer" not in decision.matched_rules


@pytest.mark.parametrize("text", ["Thanks again, Wang Fang!", "再次感谢李师傅",
                                  "The zip came off the second time I wore it"])
def test_again_in_praise_or_description_is_not_a_repeat_complaint(text):
    assert classify(text, RULES).severity == "normal"


@pytest.mark.parametrize("text", ["This is the third time I have called about this",
                                  "I'm posting this on Weibo tonight",
                                  "我要向12315投诉", "再不处理我就发到抖音上"])
def test_repeat_and_exposure_wording_is_high(text):
    assert classify(text, RULES).severity == "high"


def test_a_severity_rule_can_be_limited_to_types():
    rules = ruleset(type=[{"id": "t", "type": "praise", "keywords": ["thanks"]}],
                    severity=[{"id": "s", "severity": "high", "types": ["complaint"],
                               "keywords": ["again"]}])
    assert classify("again", rules).severity == "high"
    assert classify("thanks again", rules).severity == "normal"


# --- scores, confidence, triage ----------------------------------------------------


def test_scores_confidence_and_triage_follow_the_rule_file():
    rules = ruleset(
        triage={"min_confidence": 0.5, "full_margin": 4, "types": ["complaint"]},
        category=[{"id": "b", "category": "billing", "weight": 3, "keywords": ["bill"]},
                  {"id": "d", "category": "response_delay", "weight": 1,
                   "keywords": ["late"]},
                  {"id": "b2", "category": "billing", "weight": 2, "keywords": ["fee"]}])
    clear = classify("bill fee", rules)
    assert clear.scores == {"billing": 5.0}
    assert (clear.confidence, clear.needs_triage) == (1.0, False)
    contested = classify("late bill", rules)
    assert contested.scores == {"billing": 3.0, "response_delay": 1.0}
    assert contested.confidence == pytest.approx(2 / 4)
    weak = classify("late", rules)
    assert (weak.category, weak.confidence, weak.needs_triage) == ("response_delay", 0.25,
                                                                   True)
    nothing = classify("hello", rules)
    assert (nothing.scores, nothing.confidence, nothing.needs_triage) == ({}, 0.0, True)
    tie = classify("late bill", {**rules, "category": rules["category"][:2] + [
        {"id": "d2", "category": "response_delay", "weight": 2, "keywords": ["bill"]}]})
    assert (tie.confidence, tie.needs_triage) == (0.0, True)


def test_only_the_listed_types_go_to_triage():
    rules = ruleset(triage={"min_confidence": 0.5, "types": ["complaint"]},
                    type=[{"id": "p", "type": "praise", "keywords": ["thanks"]}])
    assert classify("thanks", rules).needs_triage is False
    assert classify("hmm", rules).needs_triage is True


def test_the_shipped_rules_send_an_unrecognisable_complaint_to_triage_not_a_clear_one():
    assert classify("随便说说", RULES).needs_triage
    assert not classify("The staff at the counter was rude and shouted at me.",
                        RULES).needs_triage
    assert not classify("Thank you, excellent service from Li Wei", RULES).needs_triage


# --- properties ----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.text(), st.booleans())
def test_classify_never_raises_and_always_decides_within_the_vocabulary(text, repeat):
    decision = classify(text, RULES, repeat=repeat)
    assert decision.type in ComplaintType and decision.category in Category
    assert decision.severity in Severity
    assert 0.0 <= decision.confidence <= 1.0
    assert set(decision.scores) <= {c.value for c in Category}
    assert all(score > 0 for score in decision.scores.values())
    threshold = RULES["triage"]["min_confidence"]
    assert decision.needs_triage == (decision.confidence < threshold
                                     and decision.type in RULES["triage"]["types"])
    if repeat:
        assert SEVERITY_ORDER.index(decision.severity) >= SEVERITY_ORDER.index(Severity.high)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(CHINESE), st.data())
def test_whitespace_between_chinese_characters_never_changes_the_decision(text, data):
    spaced = []
    for i, ch in enumerate(text):
        spaced.append(ch)
        if i + 1 < len(text) and HAN.match(ch) and HAN.match(text[i + 1]):
            spaced.append(data.draw(st.sampled_from(["", "", " ", "  ", "\u3000", "\t"])))
    assert classify("".join(spaced), RULES) == classify(text, RULES)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([i["text"] for i in LABELLED if i["language"] == "en"]))
def test_letter_case_never_changes_the_decision(text):
    assert classify(text.upper(), RULES) == classify(text, RULES)


# --- validation --------------------------------------------------------------------


def write(tmp_path, text):
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


VALID = textwrap.dedent("""\
    version: "t-1"
    default: {type: complaint, category: other, severity: normal}
    type: []
    category:
      - {id: c.billing, category: billing, keywords: [bill]}
    severity: []
""")


def test_a_valid_file_loads_and_the_version_is_text(tmp_path):
    rules = load_rules(write(tmp_path, VALID.replace('"t-1"', "3")))
    assert rules["version"] == "3"
    assert classify("my bill", rules).category == "billing"


def test_the_old_format_still_validates():
    validate_rules({
        "version": "2026.11-1",
        "default": {"type": "complaint", "category": "other", "severity": "normal"},
        "type": [{"id": "type.c", "type": "complaint", "weight": 2, "keywords": ["grr"]}],
        "category": [{"id": "c.b", "category": "billing", "keywords": ["€"]}],
        "severity": [{"id": "s.h", "severity": "high", "keywords": ["!!!"]}],
    })


@pytest.mark.parametrize(("change", "rule_id", "field", "words"), [
    (("keywords: [bill]", "keywords: [bill], keyword: [fee]"), "c.billing", "keyword",
     "unknown key"),
    (("category: billing", "category: invoices"), "c.billing", "category", "not one of"),
    (("keywords: [bill]", "patterns: ['(unclosed']"), "c.billing", "patterns[0]",
     "regular expression"),
    (("keywords: [bill]", "patterns: ['x*']"), "c.billing", "patterns[0]", "empty text"),
    (("keywords: [bill]", "keywords: [bill, no]"), "c.billing", "keywords[1]", "quote it"),
    (("keywords: [bill]", "keywords: [bill, 12315]"), "c.billing", "keywords[1]",
     "quote it"),
    (("keywords: [bill]", "keywords: ['a...b']"), "c.billing", "keywords[0]", "phrases"),
    (("keywords: [bill]", "phrases: ['...b']"), "c.billing", "phrases[0]", "between"),
    (("keywords: [bill]", "keywords: []"), "c.billing", "keywords", "at least one"),
    (("keywords: [bill]", "keywords: [bill], weight: -1"), "c.billing", "weight", "above 0"),
    (("keywords: [bill]", "keywords: [bill], weight: high"), "c.billing", "weight",
     "above 0"),
])
def test_a_bad_rule_is_reported_with_its_id_and_field(tmp_path, change, rule_id, field,
                                                     words):
    text = VALID.replace(*change)
    with pytest.raises(RulesError) as error:
        load_rules(write(tmp_path, text))
    assert (error.value.rule_id, error.value.field) == (rule_id, field)
    assert words in error.value.problem
    assert f"rule {rule_id!r}" in str(error.value) and f"field {field!r}" in str(error.value)


@pytest.mark.parametrize(("change", "field", "words"), [
    (('version: "t-1"\n', ""), "version", "version"),
    (("type: []", "types: []"), None, "unknown top-level"),
    (("severity: normal}", "severity: urgent}"), "default.severity", "not one of"),
    (("type: []", "type: []\ntriage: {min_confidence: 2}"), "triage.min_confidence",
     "0 to 1"),
    (("type: []", "type: []\ntriage: {types: [rant]}"), "triage.types[0]", "not one of"),
    (("type: []", "type: []\nmatching: {phrase_gap: -1}"), "matching.phrase_gap", "0 to 100"),
    (("severity: []", "severity: {}"), "severity", "list"),
])
def test_a_bad_file_level_setting_is_reported_with_its_field(tmp_path, change, field, words):
    with pytest.raises(RulesError) as error:
        load_rules(write(tmp_path, VALID.replace(*change)))
    assert error.value.field == field
    assert words in str(error.value)


def test_a_rule_id_used_twice_is_reported(tmp_path):
    text = VALID + "floors:\n  - {id: c.billing, severity: high, repeat: true}\n"
    with pytest.raises(RulesError, match="used twice") as error:
        load_rules(write(tmp_path, text))
    assert error.value.rule_id == "c.billing"


@pytest.mark.parametrize(("floor", "field"), [
    ("{id: f, severity: high}", "category"),
    ("{id: f, severity: high, category: safety, repeat: true}", "category"),
    ("{id: f, severity: high, repeat: yes please}", "repeat"),
    ("{id: f, severity: huge, repeat: true}", "severity"),
])
def test_a_floor_needs_one_condition_and_a_severity(tmp_path, floor, field):
    with pytest.raises(RulesError) as error:
        load_rules(write(tmp_path, VALID + f"floors:\n  - {floor}\n"))
    assert (error.value.rule_id, error.value.field) == ("f", field)


def test_a_key_given_twice_is_refused_not_silently_dropped(tmp_path):
    text = VALID.replace("keywords: [bill]}", "keywords: [bill], keywords: [fee]}")
    with pytest.raises(RulesError, match="given twice"):
        load_rules(write(tmp_path, text))


def test_broken_yaml_and_a_missing_file_are_reported(tmp_path):
    with pytest.raises(RulesError, match="not valid YAML at line 3"):
        load_rules(write(tmp_path, "version: 1\ndefault: [oops\n"))
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
