"""Verify every service's audit chain: `python -m servicekit.verify [--service NAME] [--json]`.

Reads each service's event store, configured exactly as the service is (the same
environment: PERSISTENCE_MODULE, <SERVICE>_SQLITE_DBNAME, <SERVICE>_POSTGRES_DBNAME, ...,
SQLite in $DATA_DIR/<service>.sqlite by default), read-only: SQLite is opened with
mode=ro, PostgreSQL sessions are read-only, no table is created. No service or broker
is needed. Walks every record in notification order and checks per aggregate that the
versions are contiguous from 1, each record's prev is the previous record's link and
each link recomputes under AUDIT_CHAIN_KEY (see servicekit/chain.py). It also checks
that the log still reaches the position the outbox relay has published (newest rows
deleted after they were published).

Exit status: 0 every chain holds; 1 a broken link (the first one is named: service,
aggregate, version, notification id and what is wrong); 2 a store could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, Notification
from eventsourcing.utils import Environment

import servicekit  # noqa: F401  (PSYCOPG_WAIT_FUNC before psycopg is imported)
from servicekit.chain import EDITED, TRUNCATED, Break, ChainReport, chain_key, verify_records

SERVICES = ("intake", "investigation", "resolution", "reporting")
PAGE = 1000


class Unreadable(Exception):
    """The store cannot be read from this process (missing, in memory, refused)."""


@dataclass
class ServiceResult:
    service: str
    store: str
    development_key: bool = False
    report: ChainReport | None = None
    error: str | None = None
    extra: list[Break] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.error is not None:
            return "unreadable"
        return "ok" if self.report and self.report.holds else "broken"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"service": self.service, "store": self.store,
                               "status": self.status, "development_key": self.development_key}
        if self.error is not None:
            out["error"] = self.error
        if self.report is not None:
            first = self.report.first
            out.update(records=self.report.records, aggregates=self.report.aggregates,
                       problems=len(self.report.breaks),
                       first_broken=first.as_dict() if first else None)
        return out


def service_environment(service: str, environ: Mapping[str, str]) -> Environment:
    """The environment the service's application sees (servicekit.config.event_store_env
    without its side effect of creating DATA_DIR), plus CREATE_TABLE=n."""
    env = dict(environ)
    prefix = service.upper() + "_"
    if not (env.get(prefix + "PERSISTENCE_MODULE") or env.get("PERSISTENCE_MODULE")):
        env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
        env["SQLITE_DBNAME"] = str(Path(env.get("DATA_DIR", "data")) / f"{service}.sqlite")
    env["CREATE_TABLE"] = env[prefix + "CREATE_TABLE"] = "n"
    return Environment(service, env)


def open_recorder(service: str, environ: Mapping[str, str]) -> tuple[Any, str]:
    env = service_environment(service, environ)
    module = env.get("PERSISTENCE_MODULE") or ""
    if module.endswith("popo"):
        raise Unreadable("in-memory store (eventsourcing.popo): it lives inside the "
                         "service's process")
    if module.endswith("sqlite"):
        dbname = env.get("SQLITE_DBNAME") or ""
        if not dbname or ":memory:" in dbname or "mode=memory" in dbname:
            raise Unreadable(f"in-memory SQLite database {dbname!r}")
        if not dbname.startswith("file:"):
            path = Path(dbname)
            if not path.is_file():
                raise Unreadable(f"no SQLite store at {path}")
            described = f"sqlite {dbname}"
            dbname = path.resolve().as_uri() + "?mode=ro"
        else:
            described = f"sqlite {dbname}"
        env[env.create_keys("SQLITE_DBNAME")[0]] = dbname
    elif module.endswith("postgres"):
        described = (f"postgresql {env.get('POSTGRES_HOST') or ''}:"
                     f"{env.get('POSTGRES_PORT') or '5432'}/{env.get('POSTGRES_DBNAME')}")
    else:
        described = module
    try:
        factory = InfrastructureFactory.construct(env)
        recorder = factory.process_recorder()
        recorder.max_notification_id()  # fails here when the store is not there
    except Exception as exc:
        raise Unreadable(f"{described}: {type(exc).__name__}: {exc}".strip()) from exc
    return recorder, described


def notifications(recorder: Any) -> Iterator[Notification]:
    start = 1
    while True:
        page = recorder.select_notifications(start=start, limit=PAGE)
        yield from page
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def verify_service(service: str, environ: Mapping[str, str]) -> ServiceResult:
    key, development = chain_key(Environment(service, dict(environ)))
    try:
        recorder, described = open_recorder(service, environ)
    except Unreadable as exc:
        return ServiceResult(service, "", development, error=str(exc))
    result = ServiceResult(service, described, development)
    try:
        report = verify_records(notifications(recorder), key)
        published = recorder.max_tracking_id(f"{service}.outbox") or 0
        last = recorder.max_notification_id() or 0
    except Exception as exc:
        result.error = f"{described}: {type(exc).__name__}: {exc}"
        return result
    if published > last:
        # The relay published notifications that are no longer in the log.
        report.breaks.append(Break(
            TRUNCATED, f"the outbox published up to notification {published} but the log "
                       f"ends at {last}: its newest rows were deleted", None, None,
            last + 1))
    result.report = report
    return result


def render(results: list[ServiceResult]) -> str:
    lines = []
    development = [r.service for r in results if r.development_key]
    if development:
        lines.append(f"AUDIT_CHAIN_KEY is not set for {', '.join(development)}: verified with "
                     "the development key (anyone with the source can forge links)")
    first: tuple[str, Break] | None = None
    for r in results:
        if r.error is not None:
            lines.append(f"{r.service}: NOT VERIFIED: {r.error}")
            continue
        assert r.report is not None
        counted = (f"{r.service}: {r.report.records} records in {r.report.aggregates} "
                   f"aggregates verified ({r.store})")
        if r.report.holds:
            lines.append(f"{counted}: every chain holds")
            continue
        b = r.report.first
        assert b is not None
        lines.append(f"{counted}: BROKEN, {len(r.report.breaks)} problem(s)")
        lines.append(f"  first broken link: {b.describe()}")
        if r.report.records and all(x.kind == EDITED for x in r.report.breaks) \
                and len(r.report.breaks) == r.report.records:
            lines.append("  every record fails: most likely AUDIT_CHAIN_KEY is not the key "
                         "this service wrote with")
        first = first or (r.service, b)
    if first is not None:
        lines.append(f"FIRST BROKEN LINK: service {first[0]}, {first[1].describe()}")
    elif any(r.error for r in results):
        lines.append("NOT VERIFIED: a store could not be read")
    else:
        lines.append("every chain holds")
    return "\n".join(lines)


def exit_status(results: list[ServiceResult]) -> int:
    if any(r.status == "broken" for r in results):
        return 1
    return 2 if any(r.status == "unreadable" for r in results) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m servicekit.verify",
        description="Verify the audit hash chain of every service's event store "
                    "(exit 0 holds, 1 broken, 2 a store could not be read).")
    parser.add_argument("--service", action="append", choices=SERVICES,
                        help="only this service (repeatable); default all four")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    # Every PostgreSQL session of this process is read-only (libpq reads PGOPTIONS).
    os.environ["PGOPTIONS"] = (os.environ.get("PGOPTIONS", "")
                               + " -c default_transaction_read_only=on").strip()
    results = [verify_service(s, os.environ) for s in (args.service or SERVICES)]
    status = exit_status(results)
    if args.json:
        print(json.dumps({"status": {0: "ok", 1: "broken", 2: "unreadable"}[status],
                          "services": [r.as_dict() for r in results]}, indent=2))
    else:
        print(render(results))
    return status


if __name__ == "__main__":
    sys.exit(main())
