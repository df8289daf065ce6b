"""Audit views of one complaint, as pure functions of its Timeline entries (integration
events as JSON dicts): what each event changed, the evidence pack (the events grouped
into the stages an auditor checks, each with its time and actor) and its printable,
self-contained HTML page. The same events always give the same bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import Any

from services.reporting.domain import audit_order
from services.reporting.projections import STATUS_AFTER, complaint_record, events_as_of

# --- the evidence pack's sections ---------------------------------------------

SECTIONS: dict[str, str] = {  # id -> title, in the pack's order
    "receipt": "Receipt",
    "acknowledgement": "Acknowledgement",
    "assessment": "Assessment",
    "investigation": "Investigation",
    "decision": "Decision",
    "communication": "Communication",
    "closure": "Closure",
    "follow_up": "Follow-up",
}

SECTION_OF: dict[str, str] = {
    # receipt: what arrived, and whether it is a duplicate
    "complaint.received": "receipt",
    "complaint.possible_duplicate": "receipt",
    "complaint.merged": "receipt",
    "complaint.duplicate_absorbed": "receipt",
    "complaint.duplicate_dismissed": "receipt",
    "customer.erased": "receipt",  # the customer's personal data was erased
    # acknowledgement: the customer is told, with the promised deadlines
    "complaint.acknowledged": "acknowledgement",
    "complaint.deadlines_set": "acknowledgement",
    # assessment: type, category, severity, routing and escalation
    "complaint.classified": "assessment",
    "complaint.reclassified": "assessment",
    "complaint.classification_confirmed": "assessment",
    "case.opened": "assessment",
    "case.reclassified": "assessment",
    "case.assigned": "assessment",
    "case.escalated": "assessment",
    "case.escalation_taken": "assessment",
    "resolution.opened": "assessment",
    "resolution.registered": "assessment",
    # investigation: evidence, consultations, root cause, corrective actions, reopening
    "case.finding_recorded": "investigation",
    "case.consultation_requested": "investigation",
    "case.consultation_answered": "investigation",
    "case.concluded": "investigation",
    "case.reopened": "investigation",
    "corrective_action.opened": "investigation",
    "corrective_action.done": "investigation",
    "corrective_action.verified": "investigation",
    # decision: the remedy is decided (and approved when above the threshold)
    "resolution.ready": "decision",
    "resolution.remedy_proposed": "decision",
    "resolution.remedy_approved": "decision",
    "resolution.remedy_rejected": "decision",
    # communication: responses to the customer, the customer's answer, waiting on them
    "resolution.responded": "communication",
    "resolution.accepted": "communication",
    "resolution.disputed": "communication",
    "complaint.clock_paused": "communication",
    "complaint.clock_resumed": "communication",
    # closure: the case closes; suggestions and praise are filed
    "resolution.closed": "closure",
    "backlog.item_added": "closure",
    "backlog.status_changed": "closure",
    "praise.recorded": "closure",
    # follow-up: the call after closure, and a reopen it causes
    "resolution.followed_up": "follow_up",
    "resolution.reopened": "follow_up",
}

# SLA events belong to the step whose target they measure.
SLA_EVENTS = ("complaint.deadline_warned", "complaint.target_met", "complaint.deadline_breached")
SECTION_OF_TARGET: dict[str, str] = {
    "acknowledge": "acknowledgement",
    "first_contact": "communication",
    "first_reply": "communication",
    "progress_update": "communication",
    "resolve": "closure",
}
UNMAPPED_SECTION = "assessment"  # an event type this reader does not know yet


def section_of(entry: dict[str, Any]) -> str:
    kind = entry["event_type"]
    if kind in SLA_EVENTS:
        return SECTION_OF_TARGET.get(entry["payload"].get("target", ""), "communication")
    return SECTION_OF.get(kind, UNMAPPED_SECTION)


# --- what changed ----------------------------------------------------------------

MAX_TEXT = 120


def _short(text: Any) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def _money(p: dict[str, Any]) -> str:
    return f" {p['amount']} {p['currency']}" if p.get("amount") is not None else ""


def _reason(p: dict[str, Any], key: str = "reason") -> str:
    return f": {_short(p[key])}" if p.get(key) else ""


def _promise(deadlines: dict[str, Any]) -> str:
    due = [f"{key.removesuffix('_by')} by {value}" for key, value in deadlines.items()
           if key.endswith("_by") and value]
    return "; ".join(due) if due else "no deadline"


_DESCRIBE: dict[str, Callable[[dict[str, Any]], str]] = {
    "complaint.received": lambda p: (
        f"received by {p['channel']} ({p['language']})"
        + (f"; product {_short(p['product'])}" if p.get("product") else "")
        + (f"; location {_short(p['location'])}" if p.get("location") else "")),
    "complaint.classified": lambda p: (
        f"classified {p['type']} / {p['category']} / {p['severity']}"
        f" (rules {p['ruleset_version']}, confidence {p.get('confidence', 1.0)})"
        + ("; waits for triage" if p.get("needs_triage") else "")),
    "complaint.reclassified": lambda p: "; ".join(
        [f"{f} {p['previous_' + f]} → {p[f]}" for f in ("type", "category", "severity")
         if p["previous_" + f] != p[f]] or ["classification kept"]) + _reason(p),
    "complaint.classification_confirmed": lambda p: "classification confirmed" + _reason(p),
    "complaint.acknowledged": lambda p: (
        f"acknowledged in {p['language']}; promised {_promise(p['deadlines'])}"),
    "complaint.deadlines_set": lambda p: (
        f"deadlines (policy {p['policy_version']}): "
        + ("; ".join(f"{t} by {v['deadline']}" for t, v in sorted(p["targets"].items()))
           or "none") + _reason(p)),
    "complaint.clock_paused": lambda p: "SLA clock paused" + _reason(p),
    "complaint.clock_resumed": lambda p: "SLA clock resumed" + _reason(p),
    "complaint.deadline_warned": lambda p: f"{p['target']} due by {p['deadline']}: warning",
    "complaint.target_met": lambda p: (
        f"{p['target']} met {'on time' if p['on_time'] else 'late'} ({_short(p['step'])})"),
    "complaint.deadline_breached": lambda p: f"{p['target']} deadline {p['deadline']} breached",
    "complaint.possible_duplicate": lambda p: (
        f"possible duplicate of {p['earlier_complaint_id']} (similarity {p['similarity']})"),
    "complaint.merged": lambda p: f"merged into {p['into_complaint_id']}" + _reason(p),
    "complaint.duplicate_absorbed": lambda p: (
        f"duplicate {p['duplicate_complaint_id']} merged into this complaint"),
    "complaint.duplicate_dismissed": lambda p: "duplicate flag dismissed" + _reason(p),
    "customer.erased": lambda p: (
        f"the customer's personal data erased ({p['complaints_affected']} complaint(s))"),
    "case.opened": lambda p: (
        f"case opened for team {p['team']} ({p['category']}, {p['severity']})"),
    "case.escalated": lambda p: f"escalated ({p.get('trigger', 'automatic')})" + _reason(p),
    "case.escalation_taken": lambda p: (
        f"escalation taken by {p['supervisor']}" + _reason(p, "note")),
    "case.consultation_requested": lambda p: (
        f"consultation {p['consultation_id']} asked of {p['department']}"),
    "case.consultation_answered": lambda p: (
        f"consultation {p['consultation_id']} answered by {p['department']}"),
    "case.assigned": lambda p: (
        f"investigator {p.get('previous_investigator') or 'none'} → {p['investigator']}"
        + _reason(p)),
    "case.reclassified": lambda p: (
        f"case rerouted to team {p['team']} ({p['category']}, {p['severity']})"),
    "case.finding_recorded": lambda p: (
        f"{p['kind']} finding recorded"
        + (f" with {len(p['attachments'])} attachment(s)" if p.get("attachments") else "")),
    "case.concluded": lambda p: (
        f"conclusion {p['conclusion_number']}: root cause {p['root_cause']}, "
        f"{len(p['five_whys'])} why(s), department {_short(p['responsible_department'])}, "
        f"{len(p['corrective_actions'])} corrective action(s)"),
    "case.reopened": lambda p: f"reopened (time {p['reopen_count']})" + _reason(p),
    "corrective_action.opened": lambda p: (
        f"corrective action {p['action_id']} opened: owner {p['owner']}, due {p['due_date']}"),
    "corrective_action.done": lambda p: f"corrective action {p['action_id']} done",
    "corrective_action.verified": lambda p: (
        f"corrective action {p['action_id']} verified "
        f"{'effective' if p['effective'] else 'ineffective'}"),
    "resolution.opened": lambda p: "resolution opened",
    "resolution.registered": lambda p: (
        f"registered as {p['type']} from {p['channel']}; investigation "
        f"{'needed' if p['requires_investigation'] else 'not needed'}"),
    "resolution.ready": lambda p: "ready for a response" + _reason(p),
    "resolution.remedy_proposed": lambda p: (
        f"remedy proposed: {p['outcome']}{_money(p)}, above the threshold "
        f"{p['threshold']}: needs a supervisor's approval"),
    "resolution.remedy_approved": lambda p: "remedy approved" + _reason(p, "note"),
    "resolution.remedy_rejected": lambda p: "remedy rejected" + _reason(p),
    "resolution.responded": lambda p: (
        f"response {p['response_number']}: {p['outcome']}{_money(p)}"
        + (f" by {p['channel']}" if p.get("channel") else "")),
    "resolution.accepted": lambda p: "the customer accepted",
    "resolution.disputed": lambda p: (
        f"the customer disputed (time {p['dispute_count']})" + _reason(p)),
    "resolution.closed": lambda p: (
        f"closed with outcome {p['outcome']}"
        + (f"; follow-up due {p['follow_up_due']}" if p.get("follow_up_due") else "")),
    "resolution.followed_up": lambda p: (
        f"follow-up: satisfaction {p['satisfaction']}/5, "
        f"{'solved' if p['solved'] else 'not solved'}"),
    "resolution.reopened": lambda p: (
        f"reopened after the follow-up (time {p['reopen_count']})" + _reason(p)),
    "backlog.item_added": lambda p: (
        "added to the improvement backlog"
        + (f" ({p['category']})" if p.get("category") else "")),
    "backlog.status_changed": lambda p: f"backlog item → {p['status']}" + _reason(p, "note"),
    "praise.recorded": lambda p: f"praise recorded for {p['staff_member']}",
}


def describe(entry: dict[str, Any]) -> str:
    """The event's own change, in a few words (its key fields)."""
    describe_fn = _DESCRIBE.get(entry["event_type"])
    if describe_fn is None:
        return f"{entry['event_type']}: " + ", ".join(sorted(entry["payload"])) \
            if entry["payload"] else entry["event_type"]
    try:
        return describe_fn(entry["payload"])
    except (KeyError, TypeError):  # an older or newer shape: say what it carries
        return f"{entry['event_type']}: " + ", ".join(sorted(entry["payload"]))


def changes(entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """Each entry in audit order with what it changed: the complaint's status before →
    after when it moved, then the event's key fields."""
    status = "received"
    described = []
    for entry in sorted(entries, key=audit_order):
        after = STATUS_AFTER.get(entry["event_type"], status)
        text = describe(entry)
        if after != status:
            text = f"status {status} → {after}; {text}"
        status = after
        described.append((entry, text))
    return described


# --- the evidence pack -----------------------------------------------------------


def _item(entry: dict[str, Any], change: str) -> dict[str, Any]:
    return {
        "occurred_at": entry["occurred_at"],
        "recorded_at": entry["recorded_at"],
        "actor": {"id": entry["actor"]["id"], "role": entry["actor"]["role"]},
        "service": entry["origin_service"],
        "event_type": entry["event_type"],
        "event_id": entry["event_id"],
        "change": change,
        "payload": entry["payload"],
    }


def evidence_pack(complaint_id: str, entries: list[dict[str, Any]],
                  as_of: datetime | None = None) -> dict[str, Any]:
    """The complaint's events (those recorded by `as_of`, or all) grouped into the
    sections of SECTIONS, each in audit order, with the state they add up to."""
    chosen = entries if as_of is None else events_as_of(entries, as_of)
    grouped: dict[str, list[dict[str, Any]]] = {s: [] for s in SECTIONS}
    for entry, change in changes(chosen):
        grouped[section_of(entry)].append(_item(entry, change))
    return {
        "complaint_id": str(complaint_id),
        "as_of": as_of.isoformat() if as_of else None,
        "state": complaint_record(chosen),
        "event_count": len(chosen),
        "sections": [{"section": s, "title": title, "events": grouped[s]}
                     for s, title in SECTIONS.items()],
    }


# --- the HTML page -----------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; font-size: 11pt; margin: 2em; color: #111; }
h1 { font-size: 16pt; margin-bottom: 0.2em; }
h2 { font-size: 13pt; margin: 1.4em 0 0.4em; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.4em; text-align: left;
         vertical-align: top; }
th { background: #eee; }
td.time, td.id { white-space: nowrap; font-family: monospace; font-size: 9pt; }
p.none { color: #666; font-style: italic; }
.meta { color: #444; }
@media print {
  body { margin: 0; font-size: 9pt; }
  section { break-inside: avoid-page; }
  tr { break-inside: avoid; }
}
""".strip()


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return escape(str(value), quote=True)


CUSTOMER_NOTES = {
    "plain": "as your role may see it: in full",
    "masked": "as your role may see it: masked",
    "erased": "erased at the customer's request",
    "none": "no customer was recorded",
    "unavailable": "not available: intake did not answer; try again",
}


def _customer_section(customer: dict[str, Any], view: str) -> str:
    rows = "".join(f"<tr><th>{_text(k)}</th><td>{_text(v)}</td></tr>"
                   for k, v in customer.items())
    note = f'<p class="meta">{_text(CUSTOMER_NOTES.get(view, view))}</p>'
    return (f'<section id="customer"><h2>Customer</h2>{note}'
            + (f"<table>{rows}</table>" if rows else "") + "</section>")


def evidence_html(pack: dict[str, Any]) -> str:
    """A printable page with no external resources (no scripts, links, images, fonts);
    every value is escaped."""
    cid = _text(pack["complaint_id"])
    when = f"as of {_text(pack['as_of'])}" if pack["as_of"] else "all events recorded"
    rows = "".join(f"<tr><th>{_text(k)}</th><td>{_text(v)}</td></tr>"
                   for k, v in pack["state"].items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Evidence pack: complaint {cid}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Evidence pack: complaint {cid}</h1>",
        f'<p class="meta">{when}; {pack["event_count"]} event(s)</p>',
        f'<section id="state"><h2>State</h2><table>{rows}</table></section>',
    ]
    if "customer_view" in pack:  # asked of intake for this reader; absent: not shown
        parts.append(_customer_section(pack["customer"], pack["customer_view"]))
    for section in pack["sections"]:
        parts.append(f'<section id="{_text(section["section"])}">'
                     f'<h2>{_text(section["title"])}</h2>')
        if not section["events"]:
            parts.append('<p class="none">No events.</p></section>')
            continue
        parts.append("<table><thead><tr><th>Time</th><th>Actor</th><th>Role</th>"
                     "<th>Service</th><th>Event</th><th>What changed</th><th>Event id</th>"
                     "</tr></thead><tbody>")
        for item in section["events"]:
            parts.append(
                f'<tr><td class="time">{_text(item["occurred_at"])}</td>'
                f'<td>{_text(item["actor"]["id"])}</td><td>{_text(item["actor"]["role"])}</td>'
                f'<td>{_text(item["service"])}</td><td>{_text(item["event_type"])}</td>'
                f'<td>{_text(item["change"])}</td>'
                f'<td class="id">{_text(item["event_id"])}</td></tr>')
        parts.append("</tbody></table></section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
