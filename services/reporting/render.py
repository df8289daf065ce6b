"""The improvement report (a `metrics.improvement_report` dict) as one CSV file and as
one self-contained HTML page with charts. Pure and deterministic: the same report
gives the same bytes.

CSV: one file, UTF-8, a `table` column naming the table each row belongs to (summary,
volumes, over_time, sla, sla_breaches, times, resolution_histogram, rates, satisfaction,
root_causes, recurring, corrective_actions, staff) and the union of the tables' columns
after it; a row fills only its table's columns. Text cells that a spreadsheet would
take for a formula (starting with = + - @, tab or carriage return) get a leading '.

HTML: the charts are SVG drawn by matplotlib (Agg backend, fixed svg.hashsalt, no date
in the metadata), embedded as data: URIs; no script, no external resource (a
Content-Security-Policy says so to the browser); every text is escaped.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Iterator
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

CHARTS = ("volume_over_time", "channel_mix", "category_mix", "sla_compliance",
          "resolution_time", "root_cause_pareto", "satisfaction")
SVG_SETTINGS = {"svg.hashsalt": "improvement-report", "svg.fonttype": "path",
                "svg.id": None, "font.family": "DejaVu Sans", "font.size": 9}
BAR = "#3b6ea5"
LINE = "#c0392b"


# --- CSV --------------------------------------------------------------------------


def tables(report: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every table of the report as (table name, row) pairs."""
    period = report["period"]
    satisfaction = report["satisfaction"]
    actions = report["corrective_actions"]
    facts = {
        "period_from": period["from"], "period_to": period["to"],
        "granularity": period["granularity"], "as_of": report["as_of"],
        "complaints": report["complaints"],
        "over_time_bucket": report["volumes"]["over_time_bucket"],
        "satisfaction_responses": satisfaction["responses"],
        "satisfaction_average": satisfaction["average"],
        "follow_up_coverage": satisfaction["follow_up_coverage"],
        "closed": satisfaction["closed"],
        "coverage_target": satisfaction["coverage_target"],
        "coverage_meets_target": satisfaction["meets_target"],
        **{f"actions_{k}": actions[k] for k in ("open", "overdue", "done", "verified_effective",
                                                 "verified_ineffective", "total",
                                                 "rate_weeks")},
    }
    for metric, value in facts.items():
        yield "summary", {"metric": metric, "value": value}
    for dimension, counts in report["volumes"].items():
        if isinstance(counts, dict):
            for value, count in counts.items():
                yield "volumes", {"dimension": dimension, "value": value, "count": count}
    for bucket in report["volumes"]["over_time"]:
        yield "over_time", bucket
    for target, figures in report["sla"].items():
        yield "sla", {"target": target, **{k: v for k, v in figures.items() if k != "breaches"}}
    for figures in report["sla"].values():
        for breach in figures["breaches"]:
            yield "sla_breaches", breach
    for measure in ("first_response", "resolution"):
        yield "times", {"measure": measure, **report["times"][measure]}
    for row in report["times"]["resolution_histogram"]:
        yield "resolution_histogram", row
    for measure, rate in report["rates"].items():
        yield "rates", {"measure": measure, **rate}
    for score, count in satisfaction["distribution"].items():
        yield "satisfaction", {"score": score, "count": count}
    for row in report["root_causes"]:
        yield "root_causes", row
    for by, rows in report["recurring"].items():
        for row in rows:
            yield "recurring", {"by": by, **row,
                                "complaint_ids": " ".join(row["complaint_ids"])}
    for row in actions["actions"]:
        yield "corrective_actions", row
    for row in report["staff"]:
        yield "staff", row


TABLE_COLUMNS: dict[str, list[str]] = {
    "summary": ["metric", "value"],
    "volumes": ["dimension", "value", "count"],
    "over_time": ["period_start", "count"],
    "sla": ["target", "decided", "on_time", "late", "open_breached", "compliance"],
    "sla_breaches": ["complaint_id", "target", "deadline", "at", "kind", "met_at"],
    "times": ["measure", "count", "median_hours", "p90_hours", "max_hours"],
    "resolution_histogram": ["from_hours", "to_hours", "count"],
    "rates": ["measure", "count", "of", "rate"],
    "satisfaction": ["score", "count"],
    "root_causes": ["cause", "count", "share", "cumulative_share"],
    "recurring": ["by", "value", "count", "complaint_ids"],
    "corrective_actions": ["action_id", "complaint_id", "root_cause", "status", "due_date",
                           "done_at", "overdue", "rate_before", "rate_after"],
    "staff": ["staff", "cases", "sla_decided", "sla_on_time", "satisfaction_average"],
}
CSV_COLUMNS = list(dict.fromkeys(["table", *(c for cs in TABLE_COLUMNS.values() for c in cs)]))


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(report: dict[str, Any]) -> bytes:
    """One CSV: the `table` column, then the union of every table's columns (fixed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for table, row in tables(report):
        writer.writerow([table if c == "table" else _cell(row.get(c)) for c in CSV_COLUMNS])
    return out.getvalue().encode("utf-8")


# --- charts -------------------------------------------------------------------------


def _svg(fig: Figure) -> str:
    buffer = io.BytesIO()
    with matplotlib.rc_context(SVG_SETTINGS):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(title: str, wide: bool = False) -> tuple[Figure, Any]:
    with matplotlib.rc_context(SVG_SETTINGS):
        fig = Figure(figsize=(7.5 if wide else 5.0, 3.2), layout="constrained")
        ax = fig.subplots()
        ax.set_title(title)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _no_data(ax: Any) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes,
            color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def _bars(title: str, counts: dict[str, int], horizontal: bool = True) -> str:
    with matplotlib.rc_context(SVG_SETTINGS):
        fig, ax = _figure(title)
        if not any(counts.values()):
            _no_data(ax)
        elif horizontal:
            labels = list(counts)[::-1]
            ax.barh(labels, [counts[k] for k in labels], color=BAR)
            ax.set_xlabel("complaints")
            ax.xaxis.get_major_locator().set_params(integer=True)
        else:
            ax.bar(list(counts), list(counts.values()), color=BAR)
            ax.set_ylabel("complaints")
            ax.yaxis.get_major_locator().set_params(integer=True)
        return _svg(fig)


def _volume_chart(report: dict[str, Any]) -> str:
    series = report["volumes"]["over_time"]
    with matplotlib.rc_context(SVG_SETTINGS):
        fig, ax = _figure(f"Complaints received per {report['volumes']['over_time_bucket']}",
                          wide=True)
        positions = list(range(len(series)))
        ax.bar(positions, [b["count"] for b in series], color=BAR)
        step = max(1, len(series) // 12)
        ax.set_xticks(positions[::step], [b["period_start"] for b in series][::step],
                      rotation=45, ha="right")
        ax.set_ylabel("complaints")
        ax.yaxis.get_major_locator().set_params(integer=True)
        if not any(b["count"] for b in series):
            ax.text(0.5, 0.5, "no complaints", ha="center", va="center",
                    transform=ax.transAxes, color="grey")
        return _svg(fig)


def _sla_chart(report: dict[str, Any]) -> str:
    with matplotlib.rc_context(SVG_SETTINGS):
        fig, ax = _figure("SLA compliance per target")
        targets = list(report["sla"])
        values = [report["sla"][t]["compliance"] for t in targets]
        ax.bar(targets, [100 * (v or 0) for v in values], color=BAR)
        for i, (t, v) in enumerate(zip(targets, values, strict=True)):
            known = report["sla"][t]["decided"] + report["sla"][t]["open_breached"]
            label = "n/a" if v is None else f"{100 * v:.0f}% of {known}"
            ax.text(i, 100 * (v or 0) + 2, label, ha="center", va="bottom", fontsize=8)
        ax.set_ylim(0, 115)
        ax.set_ylabel("% on time")
        return _svg(fig)


def _resolution_chart(report: dict[str, Any]) -> str:
    bins = report["times"]["resolution_histogram"]
    with matplotlib.rc_context(SVG_SETTINGS):
        fig, ax = _figure("Time to resolution (hours)")
        labels = [f"{b['from_hours']:g}–{b['to_hours']:g}" if b["to_hours"] is not None
                  else f"≥{b['from_hours']:g}" for b in bins]
        if not any(b["count"] for b in bins):
            _no_data(ax)
        else:
            ax.bar(labels, [b["count"] for b in bins], color=BAR)
            ax.set_ylabel("complaints")
            ax.yaxis.get_major_locator().set_params(integer=True)
            ax.tick_params(axis="x", labelrotation=30)
        return _svg(fig)


def _pareto_chart(report: dict[str, Any]) -> str:
    rows = report["root_causes"]
    with matplotlib.rc_context(SVG_SETTINGS):
        fig, ax = _figure("Root causes (Pareto)")
        if not rows:
            _no_data(ax)
            return _svg(fig)
        causes = [r["cause"] for r in rows]
        ax.bar(causes, [r["count"] for r in rows], color=BAR)
        ax.set_ylabel("complaints")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(axis="x", labelrotation=30)
        line = ax.twinx()
        line.plot(causes, [100 * r["cumulative_share"] for r in rows], color=LINE,
                  marker="o")
        line.axhline(80, color=LINE, linestyle=":", linewidth=0.8)
        line.set_ylim(0, 105)
        line.set_ylabel("cumulative %")
        line.spines[["top"]].set_visible(False)
        return _svg(fig)


def _satisfaction_chart(report: dict[str, Any]) -> str:
    return _bars("Satisfaction (1–5)", report["satisfaction"]["distribution"],
                 horizontal=False)


def charts(report: dict[str, Any]) -> dict[str, str]:
    """The seven charts, base64 SVG, by name."""
    return {
        "volume_over_time": _volume_chart(report),
        "channel_mix": _bars("Channel mix", report["volumes"]["channel"]),
        "category_mix": _bars("Category mix", report["volumes"]["category"]),
        "sla_compliance": _sla_chart(report),
        "resolution_time": _resolution_chart(report),
        "root_cause_pareto": _pareto_chart(report),
        "satisfaction": _satisfaction_chart(report),
    }


# --- HTML ---------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return html.escape(str(value), quote=True)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _table(columns: list[str], rows: list[dict[str, Any]], caption: str) -> str:
    head = "".join(f"<th>{_text(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_text(row.get(c))}</td>" for c in columns)
                   + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(columns)}">none</td></tr>'
    return (f"<table><caption>{_text(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _figure_html(name: str, data: str, caption: str) -> str:
    return (f'<figure data-chart="{name}"><img alt="{_text(caption)}" '
            f'src="data:image/svg+xml;base64,{data}"><figcaption>{_text(caption)}'
            "</figcaption></figure>")


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
caption{text-align:left;font-weight:bold;padding:.3em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}figure{display:inline-block;margin:.5em}
img{max-width:100%}.facts td:first-child{font-weight:bold}
"""


def to_html(report: dict[str, Any]) -> str:
    period, sat = report["period"], report["satisfaction"]
    actions, rates, times = report["corrective_actions"], report["rates"], report["times"]
    drawn = charts(report)
    title = f"Improvement report {period['from']} – {period['to']}"
    facts = [
        ("Period", f"{period['from']} to {period['to']} ({period['granularity']})"),
        ("As of", report["as_of"] or "latest recorded events"),
        ("Complaints received", report["complaints"]),
        ("Reopen rate", _percent(rates["reopened"]["rate"])),
        ("Dispute rate", _percent(rates["disputed"]["rate"])),
        ("First-contact resolution", _percent(rates["first_contact_resolution"]["rate"])),
        ("Satisfaction average", sat["average"]),
        ("Follow-up coverage", f"{_percent(sat['follow_up_coverage'])} (target "
                               f"{_percent(sat['coverage_target'])}: "
                               f"{'met' if sat['meets_target'] else 'not met'})"),
    ]
    breaches = [b for figures in report["sla"].values() for b in figures["breaches"]]
    volumes = [{"dimension": d, "value": v, "count": n}
               for d, counts in report["volumes"].items() if isinstance(counts, dict)
               for v, n in counts.items()]
    recurring = [{"by": by, **row, "complaint_ids": " ".join(row["complaint_ids"])}
                 for by, rows in report["recurring"].items() for row in rows]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'img-src data:; style-src \'unsafe-inline\'">',
        f"<title>{_text(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_text(title)}</h1>",
        '<table class="facts"><tbody>' + "".join(
            f"<tr><td>{_text(k)}</td><td>{_text(v)}</td></tr>" for k, v in facts)
        + "</tbody></table>",
        "<h2>Volume</h2>",
        _figure_html("volume_over_time", drawn["volume_over_time"], "Volume over time"),
        _figure_html("channel_mix", drawn["channel_mix"], "Channel mix"),
        _figure_html("category_mix", drawn["category_mix"], "Category mix"),
        _table(["dimension", "value", "count"], volumes, "Volume by dimension"),
        "<h2>Process: SLA compliance</h2>",
        _figure_html("sla_compliance", drawn["sla_compliance"], "SLA compliance per target"),
        _table(["target", "decided", "on_time", "late", "open_breached", "compliance"],
               [{"target": t, **f} for t, f in report["sla"].items()], "Targets"),
        _table(["complaint_id", "target", "deadline", "at", "kind", "met_at"], breaches,
               "Every breach"),
        "<h2>Times</h2>",
        _figure_html("resolution_time", drawn["resolution_time"],
                     "Time to resolution distribution"),
        _table(["measure", "count", "median_hours", "p90_hours", "max_hours"],
               [{"measure": m, **times[m]} for m in ("first_response", "resolution")],
               "Time to first response and to resolution (hours)"),
        "<h2>Result: outcomes, reopens, disputes</h2>",
        _table(["measure", "count", "of", "rate"],
               [{"measure": m, **r} for m, r in rates.items()], "Rates"),
        "<h2>Satisfaction</h2>",
        _figure_html("satisfaction", drawn["satisfaction"], "Satisfaction distribution"),
        "<h2>Root causes and recurring complaints</h2>",
        _figure_html("root_cause_pareto", drawn["root_cause_pareto"],
                     "Root-cause Pareto with cumulative share"),
        _table(["cause", "count", "share", "cumulative_share"], report["root_causes"],
               "Root causes"),
        _table(["by", "value", "count", "complaint_ids"], recurring, "Recurring complaints"),
        "<h2>Corrective actions</h2>",
        _table(["open", "overdue", "done", "verified_effective", "verified_ineffective"],
               [actions], f"Status (rates: complaints per week with the cause, "
               f"{actions['rate_weeks']} weeks before and after the action was done)"),
        _table(["action_id", "complaint_id", "root_cause", "status", "due_date", "done_at",
                "overdue", "rate_before", "rate_after"], actions["actions"], "Actions"),
        "<h2>Staff</h2>",
        _table(["staff", "cases", "sla_decided", "sla_on_time", "satisfaction_average"],
               report["staff"], "Per investigator"),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
