"""The versioned SLA policy: which targets a complaint gets and when they fall due.

The policy lives in ``sla_policy.yaml`` (or the file named by ``SLA_POLICY_FILE``); the
file's comments are the editor's manual, including the precedence of its rules. This
module is pure apart from ``load_policy`` reading that file.

Moments of a target, all in the target's own counted time (``business_time``):

* deadline            = clock.add(received_at, duration + paused[clock])
* warning (80 %)      = clock.add(received_at, 0.8 * duration + paused[clock])
* any fraction f      = clock.add(received_at, f * duration + paused[clock])  -> ``moment``

``paused`` is the counted time the clock was stopped, per clock name ("calendar",
"working"); ``paused_time`` measures it from pause intervals. The warning is at 80 % of the
*allowed* time (the target's duration), not of the deadline's distance, so a pause moves
warning and deadline by the same counted time.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml

from contracts.vocabulary import Channel, ComplaintType, Severity
from services.intake.business_time import ZERO, CalendarTime, Clock, WorkingTime

DEFAULT_FILE = Path(__file__).with_name("sla_policy.yaml")
ENV_VAR = "SLA_POLICY_FILE"
CLOCKS = ("calendar", "working")
TARGET_NAMES = ("acknowledge", "first_contact", "first_reply", "progress_update", "resolve")
WARN_FRACTION = 0.8
_CONDITIONS = {"type": ComplaintType, "severity": Severity, "channel": Channel}
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_CALENDAR = CalendarTime()


class PolicyError(ValueError):
    """The policy file is missing, unreadable or invalid; the message says where."""


@dataclass(frozen=True)
class Target:
    name: str
    duration: timedelta
    clock: str  # "calendar" or "working"


@dataclass(frozen=True)
class Rule:
    id: str
    when: tuple[tuple[str, frozenset[str]], ...]  # (condition, allowed values), sorted
    targets: tuple[Target, ...]

    @property
    def specificity(self) -> int:
        return len(self.when)

    def matches(self, values: Mapping[str, str]) -> bool:
        return all(values[key] in allowed for key, allowed in self.when)


@dataclass(frozen=True)
class SlaPolicy:
    version: str
    working_time: WorkingTime
    rules: tuple[Rule, ...]

    # -- which targets -------------------------------------------------------------------

    def targets_for(self, type: str, severity: str, channel: str) -> dict[str, Target]:
        """The targets of a complaint, in the order of ``TARGET_NAMES``. For each name the
        applying rule with the most conditions wins (ties are rejected at load time)."""
        values = _values(type, severity, channel)
        chosen: dict[str, tuple[int, Target]] = {}
        for rule in self.rules:
            if not rule.matches(values):
                continue
            for target in rule.targets:
                best = chosen.get(target.name)
                if best is None or rule.specificity > best[0]:
                    chosen[target.name] = (rule.specificity, target)
        return {name: chosen[name][1] for name in TARGET_NAMES if name in chosen}

    def clock(self, name: str) -> Clock:
        if name == "calendar":
            return _CALENDAR
        if name == "working":
            return self.working_time
        raise ValueError(f"unknown clock {name!r}; expected one of {', '.join(CLOCKS)}")

    # -- when -----------------------------------------------------------------------------

    def moment(self, received_at: datetime, target: Target, fraction: float = 1.0,
               paused: Mapping[str, timedelta] | None = None) -> datetime:
        """When ``fraction`` of the target's allowed time is used up: the deadline at 1.0,
        the warning at 0.8. Paused time on the target's clock is added on top."""
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) \
                or not 0 <= fraction <= 1:
            raise ValueError(f"fraction must be a number from 0 to 1, got {fraction!r}")
        used = target.duration if fraction == 1 else target.duration * fraction
        stopped = _paused(paused).get(target.clock, ZERO)
        return self.clock(target.clock).add(received_at, used + stopped)

    def deadlines(self, received_at: datetime, type: str, severity: str, channel: str,
                  paused: Mapping[str, timedelta] | None = None) -> dict[str, datetime]:
        """Deadline per target name (aware UTC)."""
        return {name: self.moment(received_at, target, 1.0, paused)
                for name, target in self.targets_for(type, severity, channel).items()}

    def warn_at(self, received_at: datetime, type: str, severity: str, channel: str,
                paused: Mapping[str, timedelta] | None = None,
                fraction: float = WARN_FRACTION) -> dict[str, datetime]:
        """Warning moment per target name: ``fraction`` (default 80 %) of each target's
        allowed counted time, plus the paused time on its clock. Same keys as
        ``deadlines``."""
        return {name: self.moment(received_at, target, fraction, paused)
                for name, target in self.targets_for(type, severity, channel).items()}

    def paused_time(self, intervals: Iterable[tuple[datetime, datetime]]
                    ) -> dict[str, timedelta]:
        """Counted paused time per clock from (paused_at, resumed_at) intervals.
        Overlapping intervals count once; for a pause still running pass (paused_at, now)."""
        merged: list[tuple[datetime, datetime]] = []
        for start, end in sorted(intervals, key=lambda pair: pair[0]):
            if end <= start:
                continue
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return {name: sum((self.clock(name).counted(start, end) for start, end in merged),
                          ZERO)
                for name in CLOCKS}


def _values(type: str, severity: str, channel: str) -> dict[str, str]:
    values = {}
    for key, value in (("type", type), ("severity", severity), ("channel", channel)):
        if value not in {member.value for member in _CONDITIONS[key]}:
            raise ValueError(f"unknown {key} {value!r}")
        values[key] = str(value)
    return values


def _paused(paused: Mapping[str, timedelta] | None) -> Mapping[str, timedelta]:
    if not paused:
        return {}
    for name, amount in paused.items():
        if name not in CLOCKS:
            raise ValueError(f"paused: unknown clock {name!r}; expected one of "
                             f"{', '.join(CLOCKS)}")
        if not isinstance(amount, timedelta) or amount < ZERO:
            raise ValueError(f"paused[{name!r}] must be a non-negative timedelta, "
                             f"got {amount!r}")
    return paused


# -- loading --------------------------------------------------------------------------------


def load_policy(path: str | Path | None = None) -> SlaPolicy:
    """Read and validate a policy file: ``path``, else ``$SLA_POLICY_FILE``, else the
    ``sla_policy.yaml`` beside this module. Raises ``PolicyError`` naming the file and the
    place of the first problem."""
    chosen = Path(path or os.environ.get(ENV_VAR) or DEFAULT_FILE)
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"SLA policy file not found: {chosen}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError(f"SLA policy file {chosen} cannot be read: {error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError(f"{chosen}: not valid YAML: {error}") from None
    try:
        return parse_policy(document)
    except PolicyError as error:
        raise PolicyError(f"{chosen}: {error}") from None


def parse_policy(document: Any) -> SlaPolicy:
    """Build a policy from the parsed YAML document (see ``load_policy``)."""
    top = _mapping(document, "the file", required={"version", "working_calendar", "rules"})
    version = top["version"]
    if not isinstance(version, str) or not version.strip():
        raise PolicyError(f"version: must be a non-empty text in quotes, got {version!r}")
    working = _working_calendar(top["working_calendar"])
    rules_doc = top["rules"]
    if not isinstance(rules_doc, list) or not rules_doc:
        raise PolicyError("rules: must be a non-empty list of rules")
    rules = tuple(_rule(item, f"rules[{index}]", working)
                  for index, item in enumerate(rules_doc))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise PolicyError(f"rules: the id {rule.id!r} is used twice")
        seen.add(rule.id)
    _check_no_ties(rules)
    policy = SlaPolicy(version=version.strip(), working_time=working, rules=rules)
    for type, severity, channel in itertools.product(ComplaintType, Severity, Channel):
        if not policy.targets_for(type.value, severity.value, channel.value):
            raise PolicyError(f"rules: no rule gives a target to type={type.value} "
                              f"severity={severity.value} channel={channel.value}")
    return policy


def _mapping(value: Any, where: str, required: AbstractSet[str] = frozenset(),
             optional: AbstractSet[str] = frozenset()) -> dict:
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: must be a mapping of keys to values, got {value!r}")
    missing = required - value.keys()
    if missing:
        raise PolicyError(f"{where}: missing {', '.join(sorted(missing))}")
    unknown = value.keys() - required - optional
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                          f"expected {', '.join(sorted(required | optional))}")
    return value


def _time(value: Any, where: str) -> time:
    if not isinstance(value, str):
        raise PolicyError(f"{where}: write the time in quotes as \"HH:MM\", got {value!r} "
                          "(YAML reads an unquoted 18:00 as a number)")
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise PolicyError(f"{where}: not a time of day: {value!r}; expected \"HH:MM\"") from None


def _dates(value: Any, where: str) -> set[date]:
    if value is None:
        return set()
    if not isinstance(value, list):
        raise PolicyError(f"{where}: must be a list of dates YYYY-MM-DD")
    days: set[date] = set()
    for index, item in enumerate(value):
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(item)
            continue
        try:
            days.add(date.fromisoformat(str(item)))
        except ValueError:
            raise PolicyError(f"{where}[{index}]: not a date YYYY-MM-DD: {item!r}") from None
    return days


def _working_calendar(value: Any) -> WorkingTime:
    where = "working_calendar"
    doc = _mapping(value, where, required={"timezone", "working_days", "hours"},
                   optional={"holidays", "extra_working_days"})
    days_doc = doc["working_days"]
    if not isinstance(days_doc, list) or not days_doc:
        raise PolicyError(f"{where}.working_days: must be a non-empty list such as "
                          "[mon, tue, wed, thu, fri]")
    days = set()
    for item in days_doc:
        if str(item).lower() not in _DAYS:
            raise PolicyError(f"{where}.working_days: unknown day {item!r}; expected "
                              f"{', '.join(_DAYS)}")
        days.add(_DAYS[str(item).lower()])
    hours = _mapping(doc["hours"], f"{where}.hours", required={"start", "end"})
    start = _time(hours["start"], f"{where}.hours.start")
    end = _time(hours["end"], f"{where}.hours.end")
    timezone = doc["timezone"]
    if not isinstance(timezone, str):
        raise PolicyError(f"{where}.timezone: must be a time zone name such as Asia/Shanghai")
    try:
        return WorkingTime(timezone, days, start, end,
                           _dates(doc.get("holidays"), f"{where}.holidays"),
                           extra_working_days=_dates(doc.get("extra_working_days"),
                                                     f"{where}.extra_working_days"))
    except ValueError as error:
        raise PolicyError(f"{where}: {error}") from None


_PART = re.compile(r"\s*(\d+)\s*(wd|d|h|m|s)\s*")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1),
          "s": timedelta(seconds=1)}


def parse_duration(text: Any, clock: str, day_length: timedelta) -> timedelta:
    """``30m``, ``2h``, ``1d`` (24 h, calendar only), ``3wd`` (working days, working only),
    ``45s``, combinable (``1h30m``). Raises ``ValueError`` with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a duration such as 30m, 2h, 1d or 3wd, got {text!r}")
    total, position = ZERO, 0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        amount, unit = int(match.group(1)), match.group(2)
        if unit == "wd":
            if clock != "working":
                raise ValueError(f"{text!r}: working days (wd) need clock: working")
            total += amount * day_length
        else:
            if unit == "d" and clock != "calendar":
                raise ValueError(f"{text!r}: d means 24 calendar hours; on the working "
                                 "clock write working days as wd")
            total += amount * _UNITS[unit]
        position = match.end()
    if position != len(text) or position == 0:
        raise ValueError(f"{text!r} is not a duration; write e.g. 30m, 2h, 1h30m, 1d or 3wd")
    if total <= ZERO:
        raise ValueError(f"{text!r}: a target must allow more than no time")
    return total


def _rule(value: Any, where: str, working: WorkingTime) -> Rule:
    doc = _mapping(value, where, required={"id", "targets"}, optional={"when"})
    rule_id = doc["id"]
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise PolicyError(f"{where}.id: must be a non-empty text")
    where = f"rules[{rule_id}]"
    when_doc = doc.get("when") or {}
    when_doc = _mapping(when_doc, f"{where}.when", optional=set(_CONDITIONS))
    when = []
    for key, raw in sorted(when_doc.items()):
        items = raw if isinstance(raw, list) else [raw]
        known = {member.value for member in _CONDITIONS[key]}
        if not items:
            raise PolicyError(f"{where}.when.{key}: an empty list matches nothing")
        for item in items:
            if not isinstance(item, str) or item not in known:
                raise PolicyError(f"{where}.when.{key}: unknown {key} {item!r}; expected "
                                  f"one of {', '.join(sorted(known))}")
        when.append((key, frozenset(items)))
    targets_doc = _mapping(doc["targets"], f"{where}.targets", optional=set(TARGET_NAMES))
    if not targets_doc:
        raise PolicyError(f"{where}.targets: names no target")
    targets = []
    for name in TARGET_NAMES:
        if name not in targets_doc:
            continue
        spot = f"{where}.targets.{name}"
        target_doc = _mapping(targets_doc[name], spot, required={"within", "clock"})
        clock = target_doc["clock"]
        if clock not in CLOCKS:
            raise PolicyError(f"{spot}.clock: must be calendar or working, got {clock!r}")
        try:
            duration = parse_duration(target_doc["within"], clock, working.day_length)
        except ValueError as error:
            raise PolicyError(f"{spot}.within: {error}") from None
        targets.append(Target(name=name, duration=duration, clock=clock))
    return Rule(id=rule_id, when=tuple(when), targets=tuple(targets))


def _check_no_ties(rules: tuple[Rule, ...]) -> None:
    for first, second in itertools.combinations(rules, 2):
        if first.specificity != second.specificity:
            continue
        shared = {t.name for t in first.targets} & {t.name for t in second.targets}
        if not shared:
            continue
        example = _common_case(first, second)
        if example is not None:
            raise PolicyError(
                f"rules {first.id!r} and {second.id!r} have the same number of conditions "
                f"and both set {', '.join(sorted(shared))} for "
                + " ".join(f"{key}={value}" for key, value in example.items())
                + "; add a more specific rule for that case or narrow one of them")


def _common_case(first: Rule, second: Rule) -> dict[str, str] | None:
    """A complaint both rules match, or None when they cannot both apply."""
    allowed_first, allowed_second = dict(first.when), dict(second.when)
    case = {}
    for key, vocabulary in _CONDITIONS.items():
        every = {member.value for member in vocabulary}
        both = allowed_first.get(key, every) & allowed_second.get(key, every)
        if not both:
            return None
        case[key] = sorted(both)[0]
    return case
