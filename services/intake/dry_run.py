"""Replay the complaints recorded in intake's event store through a new rule file and
show what would change, before the rule file goes live. Nothing is changed: the store
is opened read-only and no event is written.

    python -m services.intake.dry_run --rules NEW.yaml [--store SQLITE_PATH] [--all]

For each complaint it compares the classification now in force (the latest automatic
decision, or the agent's override when there is one) with what the new rules decide,
prints old -> new type/category/severity for every complaint that would change, and
the totals. The store defaults to $DATA_DIR/intake.sqlite (DATA_DIR defaults to data).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from eventsourcing.persistence import PersistenceError

from services.intake.classification import Decision, classify, load_rules

FIELDS = ("type", "category", "severity")
PAGE = 500
_RECEIVED, _CLASSIFIED, _RECLASSIFIED = (
    "Complaint.Received", "Complaint.Classified", "Complaint.Reclassified")


@dataclass
class Recorded:
    """A complaint as the store has it: its text and the classification in force."""

    complaint_id: uuid.UUID
    text: str | None = None
    current: dict[str, str] | None = None
    method: str = "automatic"  # or "override": an agent reclassified it
    ruleset_version: str | None = None
    repeat: bool = False


@dataclass
class Change:
    recorded: Recorded
    decision: Decision

    @property
    def new(self) -> dict[str, str]:
        return {f: getattr(self.decision, f).value for f in FIELDS}

    @property
    def changed(self) -> list[str]:
        old = self.recorded.current or {}
        return [f for f in FIELDS if old.get(f) != self.new[f]]


@dataclass
class DryRun:
    store: str
    ruleset_version: str
    results: list[Change] = field(default_factory=list)
    skipped: int = 0  # complaints without a readable text or a classification

    @property
    def changes(self) -> list[Change]:
        return [r for r in self.results if r.changed]


def default_store() -> Path:
    return Path(os.environ.get("DATA_DIR", "data")) / "intake.sqlite"


def open_read_only(store: str | Path):
    """Intake's application on the SQLite store at `store`, opened read-only."""
    with warnings.catch_warnings():  # eventlet announces its deprecation on import
        warnings.simplefilter("ignore")
        from services.intake.application import IntakeApplication

    path = Path(store).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no event store at {path}")
    uri = f"file:{quote(str(path))}?mode=ro"
    env = {}
    # eventsourcing prefers INTAKE_-prefixed variables: set both, so neither an
    # INTAKE_SQLITE_DBNAME nor a PERSISTENCE_MODULE in the environment redirects us.
    for prefix in ("", "INTAKE_"):
        env.update({f"{prefix}PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    f"{prefix}SQLITE_DBNAME": uri, f"{prefix}CREATE_TABLE": "n"})
    return IntakeApplication(env=env)


def recorded_complaints(app: Any, page: int = PAGE) -> list[Recorded]:
    """Page through the notification log; only the receipt and (re)classification
    events are decoded, so events this command does not know are simply passed by."""
    complaints: dict[uuid.UUID, Recorded] = {}
    start = 1
    while True:
        notifications = app.recorder.select_notifications(start=start, limit=page)
        for notification in notifications:
            kind = notification.topic.rsplit(":", 1)[-1]
            if kind not in (_RECEIVED, _CLASSIFIED, _RECLASSIFIED):
                continue
            event = app.mapper.to_domain_event(notification)
            complaint = complaints.setdefault(
                event.originator_id, Recorded(complaint_id=event.originator_id))
            if kind == _RECEIVED:
                complaint.text = getattr(event, "text", None)
            else:
                complaint.current = {f: str(getattr(event, f)) for f in FIELDS}
                complaint.method = "automatic" if kind == _CLASSIFIED else "override"
                if kind == _CLASSIFIED:
                    complaint.ruleset_version = getattr(event, "ruleset_version", None)
                    complaint.repeat = bool(getattr(event, "repeat", False))
        if len(notifications) < page:
            return list(complaints.values())
        start = notifications[-1].id + 1


def dry_run(rules: dict[str, Any], store: str | Path) -> DryRun:
    app = open_read_only(store)
    try:
        complaints = recorded_complaints(app)
    finally:
        app.close()
    result = DryRun(store=str(store), ruleset_version=str(rules["version"]))
    for complaint in complaints:
        if not isinstance(complaint.text, str) or complaint.current is None:
            result.skipped += 1
            continue
        decision = classify(complaint.text, rules, repeat=complaint.repeat)
        result.results.append(Change(complaint, decision))
    return result


def _triple(values: dict[str, str]) -> str:
    return "/".join(values[f] for f in FIELDS)


def _excerpt(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def format_dry_run(result: DryRun, show_all: bool = False) -> str:
    lines = [f"dry run of rules {result.ruleset_version} against {result.store} "
             "(nothing is changed)", ""]
    shown = result.results if show_all else result.changes
    for change in shown:
        recorded = change.recorded
        was = ("agent override" if recorded.method == "override"
               else f"rules {recorded.ruleset_version}")
        verdict = ("changes " + ", ".join(change.changed)) if change.changed else "unchanged"
        triage = ", needs triage" if change.decision.needs_triage else ""
        lines.append(f"{recorded.complaint_id}  {_triple(recorded.current or {})} -> "
                     f"{_triple(change.new)}  [{verdict}{triage}; was {was}]  "
                     f"{_excerpt(recorded.text or '')}")
    if not shown:
        lines.append("no complaint would change")
    changes = result.changes
    by_field = {f: sum(f in c.changed for c in changes) for f in FIELDS}
    overrides = [r for r in result.results if r.recorded.method == "override"]
    lines += [
        "",
        f"complaints replayed: {len(result.results)}"
        + (f" (skipped {result.skipped} without text or classification)"
           if result.skipped else ""),
        f"would change: {len(changes)} (type {by_field['type']}, category "
        f"{by_field['category']}, severity {by_field['severity']}); unchanged: "
        f"{len(result.results) - len(changes)}",
        f"would need triage: {sum(r.decision.needs_triage for r in result.results)}",
        f"agent overrides: {len(overrides)}; the new rules agree with "
        f"{sum(not r.changed for r in overrides)} of them",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.intake.dry_run",
        description="Replay the complaints in intake's event store through a new rule "
                    "file and print what would change. Changes nothing.")
    parser.add_argument("--rules", required=True, help="the new rule file")
    parser.add_argument("--store", default=None,
                        help="intake's SQLite event store (default: $DATA_DIR/intake.sqlite)")
    parser.add_argument("--all", action="store_true",
                        help="list unchanged complaints too, not only the changes")
    args = parser.parse_args(argv)
    store = Path(args.store) if args.store else default_store()
    try:
        rules = load_rules(args.rules)
        result = dry_run(rules, store)
    except (OSError, ValueError, sqlite3.Error, PersistenceError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_dry_run(result, show_all=args.all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
