"""Rebuild reporting's read model from zero: read the notification logs of intake,
investigation and resolution over their `notifications` RPC, from position 1, and feed
every envelope to a fresh ReportingApplication, exactly once and in each upstream's
order (the tracking record of each position is written with the Timeline it changed).

    python -m services.reporting.replay [--sqlite PATH | --postgres DBNAME]
        [--force | --resume] [--out DIR] [--from YYYY-MM-DD] [--to YYYY-MM-DD]
        [--improvement 'period=month&as_of=2026-11-30T18:00:00Z']

The target store is a new one: by default a new SQLite file under $DATA_DIR; a
non-empty target is refused unless --force (wipe it first) or --resume (carry on from
its tracking positions). The broker is $AMQP_URI; the upstreams are read with a service
token signed with $AUTH_SECRET (role system). A progress bar shows events done
against each upstream's head and the events/s rate; the totals and the rate are printed
at the end. With --out DIR the rebuilt reports are written there exactly as the live
service serves them (summary.json is the body of GET /reports/summary), so the two can
be compared byte for byte.

Exit status: 0 done, 2 bad options, no AUTH_SECRET or a non-empty target, 1 an upstream
failed."""

from __future__ import annotations

import argparse
import heapq
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from nameko.exceptions import RpcTimeout, UnknownService
from pydantic import ValidationError
from werkzeug.wrappers import Response

from contracts import api
from contracts.envelope import Envelope
from servicekit import auth
from servicekit.errors import InvalidCommand
from servicekit.http import json_response
from servicekit.messaging import UpstreamLog
from services.reporting.application import ReportingApplication

UPSTREAMS = ("intake", "investigation", "resolution")
PAGE = 500  # the upstreams' largest page (servicekit.runtime.MAX_PAGE)
Fetch = Callable[[int, int], list[dict[str, Any]]]


# --- the target store ---------------------------------------------------------


def store_env(sqlite: str | None, postgres: str | None) -> tuple[dict[str, str], str]:
    """The eventsourcing environment of the target store, and how to name it. The
    REPORTING_-prefixed keys win over any the live service has in the environment."""
    if postgres:
        return {"REPORTING_PERSISTENCE_MODULE": "eventsourcing.postgres",
                "REPORTING_POSTGRES_DBNAME": postgres}, f"PostgreSQL database {postgres}"
    if not sqlite:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        sqlite = str(Path(os.environ.get("DATA_DIR", "data")) / f"reporting-replay-{stamp}.sqlite")
    Path(sqlite).parent.mkdir(parents=True, exist_ok=True)
    return {"REPORTING_PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "REPORTING_SQLITE_DBNAME": sqlite}, f"SQLite file {sqlite}"


def is_empty(app: ReportingApplication) -> bool:
    return app.head() == 0 and not any(app.position(u) for u in UPSTREAMS)


def wipe(app: ReportingApplication, env: dict[str, str]) -> None:
    """Delete everything in the target (its events and tracking records)."""
    if env["REPORTING_PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        app.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(env["REPORTING_SQLITE_DBNAME"] + suffix).unlink(missing_ok=True)
        return
    recorder: Any = app.recorder
    with recorder.datastore.transaction(commit=True) as cursor:
        for table in (recorder.events_table_name, recorder.tracking_table_name):
            cursor.execute(f'DROP TABLE IF EXISTS "{table}"')  # names from our own config
    app.close()


def open_target(env: dict[str, str], force: bool, resume: bool, what: str
                ) -> ReportingApplication:
    app = ReportingApplication(env=env)
    if is_empty(app) or resume:
        return app
    if not force:
        app.close()
        print(f"replay: the {what} is not empty; give a new target, or --force to wipe it, "
              "or --resume to carry on from its positions", file=sys.stderr)
        raise SystemExit(2)
    wipe(app, env)
    return ReportingApplication(env=env)


# --- reading the upstream logs -------------------------------------------------


class UpstreamFailed(Exception):
    """An upstream's log could not be read (not running, too slow, connection lost)."""

    def __init__(self, upstream: str, exc: Exception):
        # The message only for errors that cannot quote an event (personal data).
        detail = f" {exc}" if isinstance(exc, OSError | UnknownService) else ""
        if isinstance(exc, RpcTimeout):
            detail = f" no answer within {exc} s"
        super().__init__(f"{upstream}: {type(exc).__name__}{detail}")


def guarded(upstream: str, fetch: Fetch) -> Fetch:
    def read(start: int, limit: int) -> list[dict[str, Any]]:
        try:
            return fetch(start, limit)
        except Exception as exc:
            raise UpstreamFailed(upstream, exc) from exc

    return read


def head_of(fetch: Fetch) -> int:
    """The last position of an upstream's log, found with the `notifications` RPC alone
    (a page from `start` holds the first position at or after it): doubling, then
    bisection, about 2 log2(head) one-row calls."""
    def first_at_or_after(position: int) -> int | None:
        page = fetch(position, 1)
        return page[0]["origin_position"] if page else None

    known = 0  # a position that exists (0: none yet)
    probe = 1
    while (found := first_at_or_after(probe)) is not None:
        known = found
        probe = max(probe * 2, found + 1)
    low, high = known, probe  # nothing at or after `high`; `low` exists (or is 0)
    while high - low > 1:
        middle = (low + high) // 2
        found = first_at_or_after(middle)
        if found is None or found >= high:
            high = middle
        else:
            low = found
    return low


def envelopes(fetch: Fetch, after: int, page: int = PAGE) -> Iterator[Envelope]:
    """The upstream's log after position `after`, in order, page by page, until its end
    (as it stands when the last page is read)."""
    last = after
    while True:
        batch = fetch(last + 1, page)
        for body in batch:
            envelope = Envelope.model_validate(body)
            if envelope.origin_position > last:
                last = envelope.origin_position
                yield envelope
        if len(batch) < page:
            return


def merged(streams: dict[str, Iterator[Envelope]]) -> Iterator[Envelope]:
    """The upstreams' events interleaved by the time they were recorded, as a live
    consumer sees them arrive; each upstream's own order is kept whatever its times."""
    return heapq.merge(*streams.values(),
                       key=lambda e: (e.recorded_at, UPSTREAMS.index(e.origin_service)))


# --- progress -------------------------------------------------------------------


class Progress:
    """A rich progress bar (events done / the heads, events/s) on stderr, one line per
    upstream and a total."""

    def __init__(self, heads: dict[str, int], done: dict[str, int], enabled: bool):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(
            TextColumn("{task.description:<13}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>9} events/s"), TimeElapsedColumn(),
            TimeRemainingColumn(), console=Console(stderr=True), disable=not enabled,
            refresh_per_second=5)
        self.started = time.monotonic()
        self.done = dict(done)
        self.tasks = {u: self.bar.add_task(u, total=max(heads[u], done[u]),
                                           completed=done[u], rate="") for u in UPSTREAMS}
        self.total = self.bar.add_task("all", total=sum(max(heads[u], done[u])
                                                        for u in UPSTREAMS),
                                       completed=sum(done.values()), rate="")
        self.counted = 0
        self._last_update = 0.0

    def __enter__(self) -> Progress:
        self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.update(force=True)
        self.bar.stop()

    def advance(self, upstream: str) -> None:
        self.done[upstream] += 1
        self.counted += 1
        self.update()

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.counted / elapsed if elapsed > 0 else 0.0

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_update < 0.1:
            return
        self._last_update = now
        rate = f"{self.rate():,.0f}"
        for upstream, task in self.tasks.items():
            total = self.bar.tasks[task].total or 0
            self.bar.update(task, completed=self.done[upstream],
                            total=max(total, self.done[upstream]), rate=rate)
        self.bar.update(self.total, completed=sum(self.done.values()),
                        total=sum(self.bar.tasks[t].total or 0 for t in self.tasks.values()),
                        rate=rate)


# --- the rebuilt reports ----------------------------------------------------------


def improvement_query(text: str) -> api.ImprovementQuery:
    """The improvement report's query, as in the URL: period=month&date=...&as_of=..."""
    return api.ImprovementQuery.model_validate(dict(parse_qsl(text, keep_blank_values=True)))


def write_reports(app: ReportingApplication, out: Path, period_from: date | None,
                  period_to: date | None, improvement: api.ImprovementQuery | None
                  ) -> list[Path]:
    """The rebuilt reports, byte for byte as the live endpoints serve them (the same
    functions make the bodies): summary.json is GET /reports/summary; with an
    improvement query, improvement.json, .csv and .html are GET /reports/improvement,
    .csv and .html with that query."""
    out.mkdir(parents=True, exist_ok=True)
    bodies = {"summary.json": json_response(app.summary(period_from, period_to)).get_data()}
    if improvement is not None:
        from services.reporting import render  # matplotlib: only when asked

        report = app.improvement_report(improvement)
        bodies["improvement.json"] = json_response(report).get_data()
        bodies["improvement.csv"] = Response(render.to_csv(report),
                                             mimetype="text/csv").get_data()
        bodies["improvement.html"] = Response(render.to_html(report),
                                              mimetype="text/html").get_data()
    for name, body in bodies.items():
        (out / name).write_bytes(body)
    return [out / name for name in bodies]


# --- the command ----------------------------------------------------------------------


def replay(app: ReportingApplication, logs: dict[str, Fetch], show_progress: bool,
           say: Callable[[str], None] = print) -> dict[str, Any]:
    """Feed every upstream event after the target's positions to `app`; returns the
    counts per upstream, the seconds taken and the rate."""
    logs = {u: guarded(u, logs[u]) for u in UPSTREAMS}
    done = {u: app.position(u) for u in UPSTREAMS}
    heads = {u: head_of(logs[u]) for u in UPSTREAMS}
    say("heads: " + ", ".join(f"{u} {heads[u]}" for u in UPSTREAMS)
        + ("" if not any(done.values()) else
           "; resuming after " + ", ".join(f"{u} {done[u]}" for u in UPSTREAMS)))
    started = time.monotonic()
    processed = dict.fromkeys(UPSTREAMS, 0)
    with Progress(heads, done, show_progress) as progress:
        streams = {u: envelopes(logs[u], done[u]) for u in UPSTREAMS}
        for envelope in merged(streams):
            app.process(envelope)
            processed[envelope.origin_service] += 1
            progress.advance(envelope.origin_service)
    seconds = time.monotonic() - started
    total = sum(processed.values())
    return {"events": processed, "total": total, "seconds": seconds,
            "rate": total / seconds if seconds > 0 else 0.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.reporting.replay",
        description="Rebuild reporting's read model from zero from the upstream logs.")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--sqlite",
                        help="target SQLite file (default: a new file under $DATA_DIR; "
                             "env REPLAY_SQLITE_DBNAME)")
    target.add_argument("--postgres",
                        help="target PostgreSQL database on POSTGRES_HOST/PORT/USER/PASSWORD "
                             "(env REPLAY_POSTGRES_DBNAME)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true", help="wipe a non-empty target first")
    mode.add_argument("--resume", action="store_true",
                      help="carry on into a non-empty target from its tracking positions")
    parser.add_argument("--amqp-uri", default=os.environ.get(
        "AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"), help="the broker (env AMQP_URI)")
    parser.add_argument("--out", type=Path,
                        help="write the rebuilt reports (summary.json, ...) to this folder")
    parser.add_argument("--from", dest="period_from", type=date.fromisoformat,
                        help="the reports' first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="period_to", type=date.fromisoformat,
                        help="the reports' last day, YYYY-MM-DD")
    parser.add_argument("--improvement", metavar="QUERY",
                        help="with --out, also the improvement report (JSON, CSV, HTML) for "
                             "this query, as in its URL, e.g. 'period=month&as_of="
                             "2026-11-30T18:00:00Z' (give as_of: without it the report "
                             "depends on the moment it is made)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for one page of an upstream's log")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.sqlite and not args.postgres:
        args.sqlite = os.environ.get("REPLAY_SQLITE_DBNAME")
        args.postgres = None if args.sqlite else os.environ.get("REPLAY_POSTGRES_DBNAME")
    if args.period_from and args.period_to and args.period_from > args.period_to:
        parser.error("--from is after --to")
    if args.improvement is not None:
        if args.out is None:
            parser.error("--improvement needs --out")
        try:
            args.improvement = improvement_query(args.improvement)
        except ValidationError as exc:
            parser.error("--improvement: " + "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'query'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        auth.secret()  # the upstreams answer a token signed with it
    except auth.AuthConfigError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    env, what = store_env(args.sqlite, args.postgres)
    app = open_target(env, args.force, args.resume, what)
    logs = {u: UpstreamLog(u, {"AMQP_URI": args.amqp_uri}, timeout=args.timeout,
                           caller="reporting-replay")  # a service token (role system)
            for u in UPSTREAMS}
    try:
        print(f"replaying into the {what}", flush=True)
        result = replay(app, logs, show_progress=not args.no_progress)
        counts = ", ".join(f"{u} {result['events'][u]}" for u in UPSTREAMS)
        print(f"replayed {result['total']} events ({counts}) in {result['seconds']:.2f} s: "
              f"{result['rate']:,.0f} events/s", flush=True)
        if args.out:
            for path in write_reports(app, args.out, args.period_from, args.period_to,
                                      args.improvement):
                print(f"wrote {path}", flush=True)
        return 0
    except UpstreamFailed as exc:
        print(f"replay failed: {exc}", file=sys.stderr)
        return 1
    except InvalidCommand as exc:  # e.g. an improvement as_of in the future
        print(f"replay: --improvement: {exc.field.removeprefix('query.')}: {exc.problem}",
              file=sys.stderr)
        return 2
    finally:
        for upstream_log in logs.values():
            upstream_log.close()
        app.close()


if __name__ == "__main__":
    sys.exit(main())
