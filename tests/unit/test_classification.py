"""Automatic classification with the quality team's rule file (services/intake/rules.yaml)."""

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from contracts.vocabulary import Category, ComplaintType, Language, Severity
from services.intake.classification import SEVERITY_ORDER, classify, detect_language

RULES = yaml.safe_load(
    (Path(__file__).parents[2] / "services" / "intake" / "rules.yaml").read_text("utf-8"))
RULE_IDS = {rule["id"] for field in ("type", "category", "severity", "floors")
            for rule in RULES.get(field, [])}


def at_least(severity: Severity, floor: Severity) -> bool:
    return SEVERITY_ORDER.index(severity) >= SEVERITY_ORDER.index(floor)


# --- language -----------------------------------------------------------------


@pytest.mark.parametrize("text", ["服务员态度很差", "我在 Store 12 等了两个小时",
                                  "退款 refund 还没到"])
def test_text_with_chinese_characters_is_chinese(text):
    assert detect_language(text) == Language.zh


@pytest.mark.parametrize("text", ["The staff was rude", "Order #123 arrived broken!", ""])
def test_text_without_chinese_characters_is_english(text):
    assert detect_language(text) == Language.en


@given(st.text(alphabet=st.characters(max_codepoint=0x2FFF)),
       st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
       st.text(alphabet=st.characters(max_codepoint=0x2FFF)))
def test_a_single_chinese_character_anywhere_makes_the_text_chinese(before, hanzi, after):
    assert detect_language(before + after) == Language.en
    assert detect_language(before + hanzi + after) == Language.zh


# --- type, category, severity ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "type_", "category", "severity", "rules"),
    [
        ("The staff at the counter was rude and shouted at me.",
         "complaint", "service_attitude", "normal", {"type.complaint.en", "cat.attitude.en"}),
        ("服务员态度很差，我要投诉", "complaint", "service_attitude", "normal",
         {"type.complaint.zh", "cat.attitude.zh"}),
        ("I was overcharged on my invoice", "complaint", "billing", "normal",
         {"cat.billing.en"}),
        ("账单多收了五十元", "complaint", "billing", "normal", {"cat.billing.zh"}),
        ("The kettle I bought is defective", "complaint", "product_quality", "normal",
         {"cat.quality.en"}),
        ("我在门店排队等了两个小时", "complaint", "response_delay", "normal", {"cat.delay.zh"}),
        ("Thank you, excellent service from Li Wei", "praise", "other", "normal",
         {"type.praise.en"}),
        ("非常感谢王经理的耐心帮助", "praise", "other", "normal", {"type.praise.zh"}),
        # Opening hours are explicit evidence for `other` since rules v2.
        ("建议增加周末营业时间", "suggestion", "other", "normal",
         {"type.suggestion.zh", "cat.other.zh"}),
        ("I suggest you open on Sundays", "suggestion", "other", "normal",
         {"type.suggestion.en", "cat.other.en"}),
        ("请问怎么办理退货", "inquiry", "after_sales", "normal",
         {"type.inquiry.zh", "cat.aftersales.zh"}),
        ("My personal data was leaked to spam callers", "complaint", "privacy", "normal",
         {"cat.privacy.en"}),
    ],
)
def test_texts_land_in_the_expected_classification(text, type_, category, severity, rules):
    decision = classify(text, RULES)
    assert (decision.type, decision.category, decision.severity) == (type_, category, severity)
    assert set(decision.matched_rules) == rules


def test_a_text_no_rule_matches_gets_the_rule_file_defaults_and_no_rule_ids():
    decision = classify("随便说说", RULES)
    assert (decision.type, decision.category, decision.severity) == (
        ComplaintType.complaint, Category.other, Severity.normal)
    assert decision.matched_rules == ()


def test_matching_ignores_letter_case():
    assert classify("THE STAFF WAS RUDE", RULES) == classify("the staff was rude", RULES)


def test_the_decision_names_the_rule_file_version():
    assert classify("rude staff", RULES).ruleset_version == RULES["version"]


def test_an_injury_is_critical_and_reports_every_rule_that_fired():
    decision = classify("My child was injured by a broken chair and went to hospital", RULES)
    assert decision.category == Category.safety
    assert decision.severity == Severity.critical
    assert set(decision.matched_rules) == {
        "type.complaint.en", "cat.quality.en", "cat.safety.en", "sev.critical.en"}


@pytest.mark.parametrize("text", ["我要起诉你们，已经找了律师", "I will call my lawyer",
                                  "孩子食物中毒住院了"])
def test_legal_threats_and_injuries_are_critical_in_both_languages(text):
    assert classify(text, RULES).severity == Severity.critical


@pytest.mark.parametrize("text", ["I will tell the newspaper about this",
                                  "这已经是第三次了，我要找媒体曝光"])
def test_media_exposure_and_repeated_complaints_are_high(text):
    assert classify(text, RULES).severity == Severity.high


@pytest.mark.parametrize("text", ["I slipped on a wet floor, it is unsafe",
                                  "商场地面湿滑，有安全隐患"])
def test_a_safety_category_lifts_an_ordinary_severity_to_high(text):
    decision = classify(text, RULES)
    assert decision.category == Category.safety
    assert decision.severity == Severity.high
    assert not any(r.startswith("sev.") for r in decision.matched_rules)


def test_a_minor_safety_issue_is_still_lifted_to_high():
    decision = classify("minor hazard near the door", RULES)
    assert decision.category == Category.safety
    assert decision.severity == Severity.high


def test_a_minor_remark_is_low():
    decision = classify("顺便说一下，门口的灯坏了，小问题", RULES)
    assert decision.severity == Severity.low
    assert "sev.low.zh" in decision.matched_rules


def test_a_low_keyword_never_lowers_a_critical_complaint():
    assert classify("Minor thing, but my son was injured", RULES).severity == Severity.critical


def test_the_heaviest_category_wins_when_several_match():
    # Safety (weight 5) outweighs product quality (weight 3).
    assert classify("The broken heater caught fire", RULES).category == Category.safety


def test_an_english_remark_about_a_small_issue_is_low_not_critical():
    # "issue" contains the critical keyword "sue": substring matching of English
    # words makes an explicitly minor remark critical (30-minute contact promise).
    decision = classify("Just letting you know about a small issue with the parking sign",
                        RULES)
    assert decision.severity == Severity.low
    assert "sev.critical.en" not in decision.matched_rules


def test_asking_for_an_immediate_call_is_not_media_exposure():
    # "immediately" contains the high-severity keyword "media".
    decision = classify("Please call me back immediately about my bill", RULES)
    assert decision.severity == Severity.normal
    assert "sev.high.en" not in decision.matched_rules


_KEYWORD_TEXTS = st.lists(
    st.sampled_from([kw for field in ("type", "category", "severity")
                     for rule in RULES[field] for kw in rule.get("keywords", [])]),
    max_size=6,
).map(" / ".join)


@given(_KEYWORD_TEXTS)
def test_every_decision_uses_known_vocabulary_and_reports_only_known_rules(text):
    decision = classify(text, RULES)
    assert decision.type in ComplaintType
    assert decision.category in Category
    assert decision.severity in Severity
    assert set(decision.matched_rules) <= RULE_IDS
    assert len(decision.matched_rules) == len(set(decision.matched_rules))
    if decision.category == Category.safety:
        assert at_least(decision.severity, Severity.high)


@given(_KEYWORD_TEXTS)
def test_adding_a_critical_keyword_always_makes_the_complaint_critical(text):
    decision = classify(text + " 住院", RULES)
    assert decision.severity == Severity.critical
    assert "sev.critical.zh" in decision.matched_rules


def test_the_quality_team_can_change_the_rules_without_code():
    rules = {
        "version": "test-1",
        "default": {"type": "inquiry", "category": "other", "severity": "low"},
        "type": [{"id": "t.c", "type": "complaint", "keywords": ["grr"]}],
        "category": [{"id": "c.b", "category": "billing", "keywords": ["€"]}],
        "severity": [{"id": "s.h", "severity": "high", "keywords": ["!!!"]}],
    }
    assert classify("hello", rules).type == ComplaintType.inquiry
    decision = classify("GRR 5€ !!!", rules)
    assert (decision.type, decision.category, decision.severity) == ("complaint", "billing",
                                                                     "high")
    assert decision.matched_rules == ("t.c", "c.b", "s.h")
    assert decision.ruleset_version == "test-1"
