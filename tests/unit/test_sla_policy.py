"""The SLA policy file: DOMAIN.md's targets by type, severity and channel; deadlines,
warnings and pauses; clear errors for a broken file."""

import copy
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from contracts.vocabulary import Channel, ComplaintType, Severity
from services.intake.business_time import CalendarTime, WorkingTime
from services.intake.sla_policy import (
    DEFAULT_FILE,
    TARGET_NAMES,
    PolicyError,
    SlaPolicy,
    Target,
    load_policy,
    parse_duration,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = load_policy()
DOCUMENT = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
WORKING_DAY = 9 * HOUR
ORDINARY = [Severity.low, Severity.normal]
COMPLEX = [Severity.high, Severity.critical]


def shanghai(*parts: int) -> datetime:
    return datetime(*parts).replace(tzinfo=SHANGHAI)  # type: ignore[arg-type]


def target(type, severity, channel, name) -> tuple[timedelta, str] | None:
    found = POLICY.targets_for(type, severity, channel).get(name)
    return None if found is None else (found.duration, found.clock)


# -- the DOMAIN.md targets ------------------------------------------------------------------


def test_the_version_in_force_is_reported():
    assert POLICY.version == DOCUMENT["version"]
    assert isinstance(POLICY.version, str) and POLICY.version


@pytest.mark.parametrize("channel", list(Channel))
def test_a_critical_complaint_is_contacted_within_30_calendar_minutes(channel):
    assert target("complaint", "critical", channel, "first_contact") == (30 * MINUTE,
                                                                          "calendar")


@pytest.mark.parametrize("severity", ORDINARY + [Severity.high])
def test_only_critical_complaints_have_a_first_contact_target(severity):
    assert target("complaint", severity, "phone", "first_contact") is None


@pytest.mark.parametrize("severity", ORDINARY + [Severity.high])
def test_an_email_complaint_is_looked_at_in_2_hours_and_answered_in_4(severity):
    assert target("complaint", severity, "email", "acknowledge") == (2 * HOUR, "calendar")
    assert target("complaint", severity, "email", "first_reply") == (4 * HOUR, "calendar")


@pytest.mark.parametrize("severity, channel", itertools.product(Severity, Channel))
def test_any_complaint_gets_a_reply_within_24_calendar_hours(severity, channel):
    duration, clock = target("complaint", severity, channel, "first_reply")
    assert clock == "calendar" and duration <= 24 * HOUR
    if channel != Channel.email:
        assert duration == 24 * HOUR


@pytest.mark.parametrize("severity", ORDINARY)
def test_an_ordinary_problem_is_resolved_within_24_hours_without_progress_updates(severity):
    targets = POLICY.targets_for("complaint", severity, "web")
    assert (targets["resolve"].duration, targets["resolve"].clock) == (24 * HOUR, "calendar")
    assert "progress_update" not in targets


@pytest.mark.parametrize("severity, channel", itertools.product(COMPLEX, Channel))
def test_a_complex_problem_gets_an_update_in_3_working_days_and_resolution_in_10(severity,
                                                                                 channel):
    assert target("complaint", severity, channel, "progress_update") == (3 * WORKING_DAY,
                                                                          "working")
    assert target("complaint", severity, channel, "resolve") == (10 * WORKING_DAY, "working")


@pytest.mark.parametrize("type, names", [
    ("suggestion", ["acknowledge", "first_reply"]),
    ("praise", ["acknowledge", "first_reply"]),
    ("inquiry", ["acknowledge", "first_reply", "resolve"]),
])
@pytest.mark.parametrize("severity", list(Severity))
def test_suggestions_praise_and_inquiries_are_acknowledged_and_answered(type, names, severity):
    for channel in Channel:
        assert list(POLICY.targets_for(type, severity, channel)) == names


def test_targets_come_in_a_fixed_order_with_their_names():
    targets = POLICY.targets_for(ComplaintType.complaint, Severity.critical, Channel.email)
    assert list(targets) == list(TARGET_NAMES)  # enum values work as well as text
    assert all(isinstance(t, Target) and t.name == name for name, t in targets.items())


@pytest.mark.parametrize("args", [("grumble", "low", "phone"), ("complaint", "urgent", "phone"),
                                  ("complaint", "low", "pigeon")])
def test_an_unknown_type_severity_or_channel_is_refused(args):
    with pytest.raises(ValueError, match="unknown"):
        POLICY.targets_for(*args)


def test_the_clocks():
    assert isinstance(POLICY.clock("calendar"), CalendarTime)
    working = POLICY.clock("working")
    assert isinstance(working, WorkingTime) and working is POLICY.working_time
    assert working.timezone == "Asia/Shanghai" and working.day_length == WORKING_DAY
    with pytest.raises(ValueError, match="unknown clock"):
        POLICY.clock("lunar")


# -- deadlines, warnings and pauses ---------------------------------------------------------


def test_deadlines_of_an_ordinary_email_complaint_on_a_friday_evening():
    received = shanghai(2026, 3, 13, 17, 30)
    assert POLICY.deadlines(received, "complaint", "normal", "email") == {
        "acknowledge": shanghai(2026, 3, 13, 19, 30),
        "first_reply": shanghai(2026, 3, 13, 21, 30),
        "resolve": shanghai(2026, 3, 14, 17, 30),  # calendar: Saturday is not skipped
    }


def test_deadlines_of_a_critical_complaint_before_national_day():
    received = shanghai(2026, 9, 30, 17, 0)  # Wednesday; 1-7 October off, 10th worked
    deadlines = POLICY.deadlines(received, "complaint", "critical", "phone")
    assert deadlines["first_contact"] == shanghai(2026, 9, 30, 17, 30)
    # 1 h on the 30th, 9 h on Thursday 8th, 9 h Friday 9th, 8 h Saturday 10th
    assert deadlines["progress_update"] == shanghai(2026, 10, 10, 17, 0)
    assert all(d.tzinfo is UTC for d in deadlines.values())


def test_warnings_come_at_80_percent_of_each_targets_counted_time():
    received = shanghai(2026, 3, 13, 17, 30)
    warnings = POLICY.warn_at(received, "complaint", "high", "email")
    deadlines = POLICY.deadlines(received, "complaint", "high", "email")
    assert warnings.keys() == deadlines.keys()
    assert warnings["first_reply"] == shanghai(2026, 3, 13, 20, 42)  # 3 h 12 min
    # 80% of 27 working hours = 21 h 36 min: 0.5 h Fri, 9 h Mon, 9 h Tue, 3 h 06 min Wed
    assert warnings["progress_update"] == shanghai(2026, 3, 18, 12, 6)
    assert POLICY.warn_at(received, "complaint", "high", "email", fraction=1.0) == deadlines


@given(st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2026, 12, 31),
                    timezones=st.just(SHANGHAI)),
       st.sampled_from(list(ComplaintType)), st.sampled_from(list(Severity)),
       st.sampled_from(list(Channel)),
       st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5)),
       st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5)))
def test_pauses_move_each_deadline_and_warning_by_exactly_the_paused_counted_time(
        received, type, severity, channel, calendar_pause, working_pause):
    paused = {"calendar": calendar_pause, "working": working_pause}
    targets = POLICY.targets_for(type, severity, channel)
    plain = POLICY.deadlines(received, type, severity, channel)
    moved = POLICY.deadlines(received, type, severity, channel, paused=paused)
    warn = POLICY.warn_at(received, type, severity, channel)
    moved_warn = POLICY.warn_at(received, type, severity, channel, paused=paused)
    for name, t in targets.items():
        clock = POLICY.clock(t.clock)
        assert clock.counted(received, plain[name]) == t.duration
        assert clock.counted(plain[name], moved[name]) == paused[t.clock]
        assert clock.counted(received, warn[name]) == t.duration * 0.8
        assert clock.counted(warn[name], moved_warn[name]) == paused[t.clock]
        assert warn[name] <= plain[name]


def test_paused_time_is_measured_per_clock_and_overlaps_count_once():
    # Friday 17:00 to Monday 10:00, given twice and overlapping
    paused = POLICY.paused_time([
        (shanghai(2026, 3, 13, 17, 0), shanghai(2026, 3, 16, 10, 0)),
        (shanghai(2026, 3, 14, 12, 0), shanghai(2026, 3, 15, 12, 0)),
    ])
    assert paused == {"calendar": 65 * HOUR, "working": 2 * HOUR}
    assert POLICY.paused_time([]) == {"calendar": timedelta(0), "working": timedelta(0)}


@pytest.mark.parametrize("paused, message", [
    ({"lunar": HOUR}, "unknown clock"),
    ({"working": -HOUR}, "non-negative"),
    ({"working": 3600}, "non-negative timedelta"),
])
def test_bad_paused_time_is_refused(paused, message):
    with pytest.raises(ValueError, match=message):
        POLICY.deadlines(shanghai(2026, 3, 13, 17), "complaint", "low", "web", paused=paused)


@pytest.mark.parametrize("fraction", [-0.1, 1.5, "0.8", True])
def test_a_bad_warning_fraction_is_refused(fraction):
    with pytest.raises(ValueError, match="fraction"):
        POLICY.warn_at(shanghai(2026, 3, 13, 17), "complaint", "low", "web", fraction=fraction)


def test_a_naive_received_at_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        POLICY.deadlines(datetime(2026, 3, 13, 17), "complaint", "low", "web")


# -- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, clock, expected", [
    ("30m", "calendar", 30 * MINUTE), ("2h", "working", 2 * HOUR), ("1d", "calendar", 24 * HOUR),
    ("3wd", "working", 27 * HOUR), ("1h30m", "calendar", 90 * MINUTE),
    ("2wd 4h", "working", 22 * HOUR),
])
def test_durations(text, clock, expected):
    assert parse_duration(text, clock, WORKING_DAY) == expected


@pytest.mark.parametrize("text, clock, message", [
    ("3wd", "calendar", "need clock: working"), ("1d", "working", "write working days as wd"),
    ("2 hours", "calendar", "not a duration"), ("0h", "calendar", "more than no time"),
    ("", "calendar", "a duration such as"), (2, "calendar", "a duration such as"),
    ("-2h", "calendar", "not a duration"),
])
def test_bad_durations(text, clock, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(text, clock, WORKING_DAY)


# -- the file ----------------------------------------------------------------------------------


def write(tmp_path: Path, document) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def test_the_file_is_found_through_the_environment(tmp_path, monkeypatch):
    document = copy.deepcopy(DOCUMENT)
    document["version"] = "test-7"
    monkeypatch.setenv("SLA_POLICY_FILE", str(write(tmp_path, document)))
    assert load_policy().version == "test-7"
    assert load_policy(DEFAULT_FILE).version == DOCUMENT["version"]  # an explicit path wins
    assert isinstance(load_policy(str(DEFAULT_FILE)), SlaPolicy)


def test_holidays_are_read_from_the_file(tmp_path):
    document = copy.deepcopy(DOCUMENT)
    document["working_calendar"]["holidays"] = ["2026-03-16"]  # text or date both work
    policy = load_policy(write(tmp_path, document))
    friday = shanghai(2026, 3, 13, 17, 30)
    assert policy.clock("working").add(friday, HOUR) == shanghai(2026, 3, 17, 9, 30)
    assert POLICY.clock("working").add(friday, HOUR) == shanghai(2026, 3, 16, 9, 30)


def edit(change):
    def apply(document):
        change(document)
        return document
    return apply


def rule(document, rule_id):
    return next(r for r in document["rules"] if r["id"] == rule_id)


BROKEN = {
    "version missing": (edit(lambda d: d.pop("version")), "the file: missing version"),
    "version a number": (edit(lambda d: d.update(version=2026.1)), "version: must be"),
    "unknown top key": (edit(lambda d: d.update(targest=[])), "unknown key\\(s\\) targest"),
    "unknown time zone": (
        edit(lambda d: d["working_calendar"].update(timezone="Mars/Olympus")),
        "working_calendar: unknown time zone 'Mars/Olympus'"),
    "unknown weekday": (
        edit(lambda d: d["working_calendar"].update(working_days=["mon", "fryday"])),
        "unknown day 'fryday'"),
    "hours reversed": (
        edit(lambda d: d["working_calendar"]["hours"].update(start="18:00", end="09:00")),
        "start before they end"),
    "bad holiday": (
        edit(lambda d: d["working_calendar"]["holidays"].append("2026-02-30")),
        "holidays\\[33\\]: not a date"),
    "holiday and working": (
        edit(lambda d: d["working_calendar"]["holidays"].append(
            d["working_calendar"]["extra_working_days"][0])),
        "both a holiday and an extra working day: 2026-01-04"),
    "no rules": (edit(lambda d: d.update(rules=[])), "rules: must be a non-empty list"),
    "bad duration": (
        edit(lambda d: rule(d, "complaint")["targets"]["acknowledge"].update(within="2 hours")),
        "rules\\[complaint\\].targets.acknowledge.within: '2 hours' is not a duration"),
    "working days on the calendar clock": (
        edit(lambda d: rule(d, "complaint-complex")["targets"]["resolve"].update(
            clock="calendar")),
        "rules\\[complaint-complex\\].targets.resolve.within: '10wd': working days"),
    "unknown clock": (
        edit(lambda d: rule(d, "complaint")["targets"]["resolve"].update(clock="wall")),
        "resolve.clock: must be calendar or working, got 'wall'"),
    "unknown target": (
        edit(lambda d: rule(d, "complaint")["targets"].update(
            resolution={"within": "1h", "clock": "calendar"})),
        "rules\\[complaint\\].targets: unknown key\\(s\\) resolution"),
    "misspelt severity": (
        edit(lambda d: rule(d, "complaint-critical")["when"].update(severity="critcal")),
        "rules\\[complaint-critical\\].when.severity: unknown severity 'critcal'"),
    "duplicate id": (
        edit(lambda d: d["rules"].append(copy.deepcopy(rule(d, "praise")))),
        "the id 'praise' is used twice"),
    "two rules tie": (
        edit(lambda d: d["rules"].append({
            "id": "phone", "when": {"type": "complaint", "channel": "phone"},
            "targets": {"acknowledge": {"within": "1h", "clock": "calendar"}}})),
        "rules 'complaint-critical' and 'phone' have the same number of conditions and both "
        "set acknowledge for type=complaint severity=critical channel=phone"),
    "a type without targets": (
        edit(lambda d: d["rules"].remove(rule(d, "praise"))),
        "no rule gives a target to type=praise"),
    "not a mapping": (lambda d: ["version", "rules"], "the file: must be a mapping"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_file_gives_a_clear_error(tmp_path, name):
    change, message = BROKEN[name]
    path = write(tmp_path, change(copy.deepcopy(DOCUMENT)))
    with pytest.raises(PolicyError, match=message) as error:
        load_policy(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("text, message", [
    ("version: '1'\nrules: [\n", "not valid YAML"),
    (DEFAULT_FILE.read_text(encoding="utf-8").replace('end: "18:00"', "end: 18:00"),
     "hours.end: write the time in quotes"),
])
def test_a_file_that_does_not_parse_gives_a_clear_error(tmp_path, text, message):
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def test_a_missing_file_gives_a_clear_error(tmp_path):
    with pytest.raises(PolicyError, match="SLA policy file not found: .*nowhere.yaml"):
        load_policy(tmp_path / "nowhere.yaml")


def test_rule_order_does_not_matter(tmp_path):
    document = copy.deepcopy(DOCUMENT)
    document["rules"].reverse()
    reversed_policy = load_policy(write(tmp_path, document))
    for case in itertools.product(ComplaintType, Severity, Channel):
        assert reversed_policy.targets_for(*case) == POLICY.targets_for(*case)
