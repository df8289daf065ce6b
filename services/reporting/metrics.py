"""The improvement report (DOMAIN.md "What the reports must answer"), as pure functions
of the integration events reporting has recorded, one list per complaint. No IO: the
same events, period and as-of time always give the same report.

Definitions (the README repeats them):

- Period membership: a complaint belongs to the report when the date (UTC) of its
  `complaint.received` `received_at` lies in [from, to], both days included. A complaint
  whose receipt reporting has not seen yet is not counted. Granularity day / week / month
  is the calendar day, ISO week (Monday to Sunday) or calendar month containing the given
  date; custom is from..to.
- As-of: only the events whose envelope `recorded_at` (when the upstream service recorded
  them) is at or before T (`events_as_of`); "now" (overdue actions, the after-window of
  a corrective action) is T itself. The report is exactly the one producible at T.
- Volumes: each complaint counts once per dimension, with its latest value: type,
  category and severity of the latest (re)classification, department = the responsible
  department of the latest `case.concluded`, outcome = the latest resolution outcome
  (`resolution.responded` or `resolution.closed`). A complaint without a value for a
  dimension is not counted in that dimension.
- SLA per target (acknowledge, first_contact, first_reply, resolve): decided = a
  `complaint.target_met` was recorded (on_time true: on time; false: late);
  open_breached = a `complaint.deadline_breached` with no target_met yet. compliance =
  on_time / (decided + open_breached), null when nothing is known. Every breach is
  listed, one row per complaint and target: kind `deadline_breached` (at = breached_at;
  `met_at` says whether and when the step happened later) or `met_late` (a late
  target_met without a breach event; at = met_at). Timely responses = first_reply.
- Time to first response: received_at -> the FIRST `resolution.responded`; a reopen and
  later responses never rewrite it. Time to resolution: received_at -> the latest
  `resolution.closed`, counted only while the complaint stays closed (a reopen after the
  closure takes it out until it closes again). Median, p90 (nearest rank: the
  ceil(0.9 n)-th smallest) and max, in hours.
- Rates, each over the complaints with at least one response (`of`): reopened = a
  `case.reopened` or `resolution.reopened` was recorded (once per complaint however
  often it reopened); disputed = at least one `resolution.disputed`.
- First-contact resolution: a complaint that is closed now, answered with exactly one
  response, never disputed, never reopened and never escalated (`case.escalated`);
  the rate is over the complaints that are closed now.
- Satisfaction: the latest follow-up per complaint (a reopened complaint's new follow-up
  replaces the old one); follow_up_coverage = complaints followed up / complaints closed
  at least once; meets_target when coverage >= 0.9 (false when nothing was closed).
- Root-cause Pareto: the latest conclusion's root cause per complaint, by count
  (ties by name), share of the complaints with a root cause and the cumulative share.
- Recurring: 2+ complaints of the report with the same customer_ref (a pseudonym),
  product or location (compared trimmed and case-folded).
- Corrective actions: those committed by the conclusions of the report's complaints.
  Status is the latest (open, done, verified_effective, verified_ineffective); overdue =
  still open after its due date. rate_before / rate_after = complaints per week with the
  action's root cause (over ALL complaints, not only the period's) received in the
  RATE_WEEKS weeks before the action was done, and in the RATE_WEEKS weeks after (or the
  part of them that has passed; null until one week has passed, or while not done).
- Staff: the investigator of each complaint's latest `case.assigned`: their cases, the
  targets decided and met on time on those complaints, the average latest satisfaction.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.reporting.domain import audit_order
from services.reporting.projections import durations, events_as_of

__all__ = ["COVERAGE_TARGET", "GRANULARITIES", "RATE_WEEKS", "SLA_TARGETS", "Period",
           "complaint_facts", "events_as_of", "improvement_report", "report_from_timelines"]

SLA_TARGETS = ("acknowledge", "first_contact", "first_reply", "resolve")
GRANULARITIES = ("day", "week", "month", "custom")
COVERAGE_TARGET = 0.9
RATE_WEEKS = 4
DIMENSIONS = ("channel", "type", "category", "severity", "product", "department", "outcome")
RECURRING = ("customer", "product", "location")
# Edges (hours) of the time-to-resolution histogram: the SLA-relevant steps, up to 2 weeks.
RESOLUTION_BINS = (0, 4, 8, 24, 48, 72, 168, 336)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# --- the period -----------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # included
    granularity: str

    @classmethod
    def containing(cls, granularity: str, day: date) -> Period:
        if granularity == "day":
            return cls(day, day, granularity)
        if granularity == "week":
            monday = day - timedelta(days=day.weekday())
            return cls(monday, monday + timedelta(days=6), granularity)
        if granularity == "month":
            last = calendar.monthrange(day.year, day.month)[1]
            return cls(day.replace(day=1), day.replace(day=last), granularity)
        raise ValueError(f"granularity {granularity!r} is not day, week or month")

    @classmethod
    def custom(cls, start: date, end: date) -> Period:
        if start > end:
            raise ValueError("the period starts after it ends")
        return cls(start, end, "custom")

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end

    def buckets(self) -> tuple[str, list[date]]:
        """The over-time series: days for up to 62 days, then 7-day steps from the
        first day for up to 731 days, then calendar months (the first from `start`)."""
        days = (self.end - self.start).days + 1
        if days <= 62:
            return "day", [self.start + timedelta(days=i) for i in range(days)]
        if days <= 731:
            return "week", [self.start + timedelta(days=i) for i in range(0, days, 7)]
        starts, current = [self.start], self.start.replace(day=1)
        while True:
            current = (current + timedelta(days=32)).replace(day=1)
            if current > self.end:
                return "month", starts
            starts.append(current)


# --- one complaint's facts -----------------------------------------------------------


def complaint_facts(entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Fold one complaint's events (any arrival order) into what the report needs."""
    ordered = sorted(entries, key=audit_order)
    f: dict[str, Any] = {
        "complaint_id": ordered[0]["complaint_id"] if ordered else None,
        "received_at": None, "channel": None, "product": None, "location": None,
        "customer_ref": None, "type": None, "category": None, "severity": None,
        "department": None, "root_cause": None, "outcome": None,
        "first_response_at": None, "responses": 0, "closed_at": None, "closed_ever": False,
        "disputed": False, "reopened": False, "escalated": False, "satisfaction": None,
        "investigator": None, "targets": {}, "actions": {},
        "last_recorded": max((e["recorded_at"] for e in ordered), key=_time, default=None),
    }
    targets: dict[str, dict[str, Any]] = f["targets"]
    actions: dict[str, dict[str, Any]] = f["actions"]
    for entry in ordered:
        kind, p = entry["event_type"], entry["payload"]
        if kind == "complaint.received":
            f.update(received_at=p["received_at"], channel=p["channel"],
                     product=p.get("product"), location=p.get("location"),
                     customer_ref=p.get("customer_ref"))
        elif kind in ("complaint.classified", "complaint.reclassified"):
            f.update(type=p["type"], category=p["category"], severity=p["severity"])
        elif kind == "complaint.target_met":
            target = targets.setdefault(p["target"], {})
            if "met_at" not in target:
                target.update(met_at=p["met_at"], on_time=p["on_time"],
                              deadline=p["deadline"])
        elif kind == "complaint.deadline_breached":
            target = targets.setdefault(p["target"], {})
            if "breached_at" not in target:
                target.update(breached_at=p["breached_at"], breach_deadline=p["deadline"])
        elif kind == "case.assigned":
            f["investigator"] = p["investigator"]
        elif kind == "case.escalated":
            f["escalated"] = True
        elif kind == "case.concluded":
            f.update(root_cause=p["root_cause"], department=p["responsible_department"])
        elif kind in ("case.reopened", "resolution.reopened"):
            f.update(reopened=True, closed_at=None)
        elif kind == "resolution.responded":
            f["responses"] += 1
            f["first_response_at"] = f["first_response_at"] or entry["occurred_at"]
            f["outcome"] = p["outcome"]
        elif kind == "resolution.disputed":
            f["disputed"] = True
        elif kind == "resolution.closed":
            f.update(closed_at=entry["occurred_at"], closed_ever=True, outcome=p["outcome"])
        elif kind == "resolution.followed_up":
            f["satisfaction"] = p["satisfaction"]
        elif kind == "corrective_action.opened":
            actions[p["action_id"]] = {
                "action_id": p["action_id"], "root_cause": p["root_cause"], "status": "open",
                "due_date": p["due_date"], "done_at": None}
        elif kind == "corrective_action.done" and p["action_id"] in actions:
            actions[p["action_id"]].update(status="done", done_at=entry["occurred_at"])
        elif kind == "corrective_action.verified" and p["action_id"] in actions:
            actions[p["action_id"]]["status"] = ("verified_effective" if p["effective"]
                                                 else "verified_ineffective")
    # parsed once here, so that a report over cached facts parses nothing
    received = _time(f["received_at"]) if f["received_at"] else None
    f["_received"] = received
    f["_day"] = received.date() if received else None
    f["_first_response_hours"] = _hours(f["received_at"], f["first_response_at"])
    f["_resolution_hours"] = _hours(f["received_at"], f["closed_at"])
    return f


# --- the report ---------------------------------------------------------------------


def _hours(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (_time(end) - _time(start)).total_seconds() / 3600


def _histogram(hours: list[float]) -> list[dict[str, Any]]:
    edges = [*RESOLUTION_BINS, None]
    return [{"from_hours": low, "to_hours": high,
             "count": sum(1 for h in hours if h >= low and (high is None or h < high))}
            for low, high in zip(edges, edges[1:], strict=False)]


def _rate(count: int, of: int) -> dict[str, Any]:
    return {"count": count, "of": of, "rate": _round(count / of) if of else None}


def _volumes(chosen: list[dict[str, Any]], period: Period) -> dict[str, Any]:
    volumes: dict[str, Any] = {
        dim: dict(sorted(Counter(c[dim] for c in chosen if c[dim] is not None).items()))
        for dim in DIMENSIONS}
    bucket, starts = period.buckets()
    counts = [0] * len(starts)
    ends = starts[1:] + [period.end + timedelta(days=1)]
    for c in chosen:
        day = c["_day"]
        # the buckets are few and ordered: find the one holding the day
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= day:
                lo = mid
            else:
                hi = mid - 1
        if starts[lo] <= day < ends[lo]:
            counts[lo] += 1
    volumes["over_time"] = [{"period_start": s.isoformat(), "count": n}
                            for s, n in zip(starts, counts, strict=True)]
    volumes["over_time_bucket"] = bucket
    return volumes


def _sla(chosen: list[dict[str, Any]]) -> dict[str, Any]:
    sla: dict[str, Any] = {}
    for name in SLA_TARGETS:
        decided = on_time = open_breached = 0
        breaches = []
        for c in chosen:
            t = c["targets"].get(name)
            if not t:
                continue
            if "met_at" in t:
                decided += 1
                on_time += bool(t["on_time"])
            elif "breached_at" in t:
                open_breached += 1
            if "breached_at" in t:
                breaches.append({"complaint_id": c["complaint_id"], "target": name,
                                 "deadline": t["breach_deadline"], "at": t["breached_at"],
                                 "kind": "deadline_breached", "met_at": t.get("met_at")})
            elif "met_at" in t and not t["on_time"]:
                breaches.append({"complaint_id": c["complaint_id"], "target": name,
                                 "deadline": t["deadline"], "at": t["met_at"],
                                 "kind": "met_late", "met_at": t["met_at"]})
        breaches.sort(key=lambda b: (_time(b["at"]), b["complaint_id"]))
        known = decided + open_breached
        sla[name] = {"decided": decided, "on_time": on_time, "late": decided - on_time,
                     "open_breached": open_breached,
                     "compliance": _round(on_time / known) if known else None,
                     "breaches": breaches}
    return sla


def _recurring(chosen: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    result: dict[str, list[dict[str, Any]]] = {}
    for name, field in zip(RECURRING, ("customer_ref", "product", "location"), strict=True):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for c in chosen:
            value = c[field]
            if isinstance(value, str) and value.strip():
                groups[value.strip().casefold()].append(c)
        rows = [{"value": min(c[field].strip() for c in members), "count": len(members),
                 "complaint_ids": sorted(c["complaint_id"] for c in members)}
                for members in groups.values() if len(members) >= 2]
        rows.sort(key=lambda r: (-r["count"], r["value"]))
        result[name] = rows
    return result


def _root_causes(chosen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts = Counter(c["root_cause"] for c in chosen if c["root_cause"] is not None)
    total = sum(counts.values())
    rows, cumulative = [], 0
    for cause, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        cumulative += count
        rows.append({"cause": cause, "count": count, "share": _round(count / total),
                     "cumulative_share": _round(cumulative / total)})
    return rows


def _corrective_actions(chosen: list[dict[str, Any]], everyone: list[dict[str, Any]],
                        now: datetime) -> dict[str, Any]:
    today = now.date()
    window = timedelta(weeks=RATE_WEEKS)
    received_by_cause: dict[str, list[datetime]] = defaultdict(list)
    for c in everyone:
        if c["root_cause"] is not None:
            received_by_cause[c["root_cause"]].append(c["_received"])
    for times in received_by_cause.values():
        times.sort()
    rows = []
    for c in chosen:
        for a in c["actions"].values():
            before = after = None
            if a["done_at"] is not None:
                done = _time(a["done_at"])
                times = received_by_cause.get(a["root_cause"], [])
                before = (bisect_left(times, done) - bisect_left(times, done - window)) \
                    / RATE_WEEKS
                end = min(done + window, now)
                weeks = (end - done) / timedelta(weeks=1)
                if weeks >= 1:
                    after = (bisect_left(times, end) - bisect_left(times, done)) / weeks
            overdue = a["status"] == "open" and date.fromisoformat(a["due_date"]) < today
            rows.append({**a, "complaint_id": c["complaint_id"], "overdue": overdue,
                         "rate_before": _round(before), "rate_after": _round(after)})
    rows.sort(key=lambda r: (r["due_date"], r["action_id"]))
    status = Counter(r["status"] for r in rows)
    return {"open": status["open"], "overdue": sum(1 for r in rows if r["overdue"]),
            "done": status["done"], "verified_effective": status["verified_effective"],
            "verified_ineffective": status["verified_ineffective"], "total": len(rows),
            "rate_weeks": RATE_WEEKS, "actions": rows}


def _staff(chosen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in chosen:
        if c["investigator"] is not None:
            per[c["investigator"]].append(c)
    rows = []
    for staff in sorted(per):
        cases = per[staff]
        decided = [t for c in cases for t in c["targets"].values() if "met_at" in t]
        scores = [c["satisfaction"] for c in cases if c["satisfaction"] is not None]
        rows.append({"staff": staff, "cases": len(cases), "sla_decided": len(decided),
                     "sla_on_time": sum(1 for t in decided if t["on_time"]),
                     "satisfaction_average": _round(sum(scores) / len(scores))
                     if scores else None})
    return rows


def improvement_report(facts: Iterable[dict[str, Any]], period: Period,
                       as_of: datetime | None, now: datetime) -> dict[str, Any]:
    """The report over the complaints received in `period`, from every complaint's
    facts (`complaint_facts`; complaints outside the period still count for the
    corrective actions' before/after rates). `now` is the as-of time when there is one."""
    # a complaint seen downstream before intake's receipt is not yet countable
    everyone = [c for c in facts if c["_received"] is not None]
    chosen = sorted((c for c in everyone if c["_day"] in period),
                    key=lambda c: (c["_received"], c["complaint_id"]))

    responded = [c for c in chosen if c["first_response_at"] is not None]
    resolved = [c for c in chosen if c["closed_at"] is not None]
    followed = [c["satisfaction"] for c in chosen if c["satisfaction"] is not None]
    closed_ever = sum(1 for c in chosen if c["closed_ever"])
    coverage = _round(len(followed) / closed_ever) if closed_ever else None
    resolution_hours = [c["_resolution_hours"] for c in resolved]
    fcr = sum(1 for c in resolved if c["responses"] == 1 and not c["disputed"]
              and not c["reopened"] and not c["escalated"])
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat(),
                   "granularity": period.granularity},
        "as_of": as_of.isoformat() if as_of is not None else None,
        "complaints": len(chosen),
        "volumes": _volumes(chosen, period),
        "sla": _sla(chosen),
        "times": {
            "first_response": durations([c["_first_response_hours"] for c in responded]),
            "resolution": durations(resolution_hours),
            "resolution_histogram": _histogram(resolution_hours),
        },
        "rates": {
            "reopened": _rate(sum(1 for c in responded if c["reopened"]), len(responded)),
            "disputed": _rate(sum(1 for c in responded if c["disputed"]), len(responded)),
            "first_contact_resolution": _rate(fcr, len(resolved)),
        },
        "satisfaction": {
            "responses": len(followed),
            "average": _round(sum(followed) / len(followed)) if followed else None,
            "distribution": {str(k): followed.count(k) for k in range(1, 6)},
            "follow_up_coverage": coverage, "closed": closed_ever,
            "coverage_target": COVERAGE_TARGET,
            "meets_target": coverage is not None and coverage >= COVERAGE_TARGET,
        },
        "root_causes": _root_causes(chosen),
        "recurring": _recurring(chosen),
        "corrective_actions": _corrective_actions(chosen, everyone, now),
        "staff": _staff(chosen),
    }


def report_from_timelines(timelines: Iterable[Iterable[dict[str, Any]]], period: Period,
                          as_of: datetime | None, now: datetime) -> dict[str, Any]:
    """The report straight from per-complaint event lists (no caching): the definition
    the service's cached path must agree with."""
    facts = (complaint_facts(chosen) for entries in timelines
             if (chosen := list(entries) if as_of is None else events_as_of(list(entries), as_of)))
    return improvement_report(facts, period, as_of, now if as_of is None else as_of)
