"""Import complaints from a CSV in the CFPB Consumer Complaint Database format, each row
driven through the real services over HTTP, in the order of the lifecycle:

  intake         POST /complaints                 at date_received (anonymous; source
                                                  "cfpb", external_ref = complaint_id)
  investigation  take the escalation (if any), assign to the company, conclude
                 (root cause not_determined, responsible department = company)
                                                  at date_sent_to_company
  resolution     respond (the company's response, the timely verdict), then accept and
                 close, or dispute (which reopens the case; the import stops there: the
                 file does not say what followed)   at date_sent_to_company

    python tools/import_cfpb.py CSV [--intake URL --investigation URL --resolution URL]
                                    [--errors PATH] [--limit N] [--workers N]

Every step first reads the current state and does only what is missing, and the
complaint id derives from ("cfpb", complaint_id): running it again after an interruption
finishes the rest and duplicates nothing. Malformed rows go to the error file (CSV:
line, complaint_id, column, problem; the line as numbered in the input) and the rest are
imported. Exit status: 0 all imported, 1 some rows in the error file, 2 nothing could be
done (unreadable file, missing columns, a service not answering).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
from contracts.envelope import imported_complaint_id  # noqa: E402
from servicekit.client import auth_headers  # noqa: E402

SOURCE = "cfpb"
IMPORTER = "cfpb-import"  # the actor recorded on every imported step (role admin)
ROLE = "admin"
CHANNELS = {"Web": "web", "Postal mail": "letter", "Referral": "referral", "Phone": "phone",
            "Fax": "fax", "Email": "email"}
OUTCOMES = {  # injective: every count by outcome maps back to one label of the file
    "Closed with explanation": "explanation",
    "Closed with non-monetary relief": "non_monetary_relief",
    "Closed with monetary relief": "monetary_relief",
    "Closed": "no_action",
    "Untimely response": "no_response",
}
YES_NO = {"Yes": True, "No": False}
REQUIRED_COLUMNS = ("complaint_id", "date_received", "product", "sub_product", "issue",
                    "sub_issue", "company", "state", "zipcode", "tags", "submitted_via",
                    "date_sent_to_company", "company_response_to_consumer",
                    "timely_response", "consumer_disputed?")
WAIT_SECONDS = 60.0  # for another service to react (open the case, make the response due)


class RowError(Exception):
    """A row that cannot be imported: its column and the problem."""

    def __init__(self, column: str, problem: str):
        self.column = column
        self.problem = problem
        super().__init__(f"{column}: {problem}")


class Fatal(Exception):
    """Nothing can be imported (exit status 2)."""


# --- parsing: one CSV row -> what the services are told ---------------------------------


@dataclass(frozen=True)
class Row:
    line: int
    ref: str
    received: date
    sent: date  # when the company got it; never before `received` (see parse_row)
    sent_as_filed: date
    channel: str
    product: str
    location: str | None
    tags: list[str]
    text: str
    company: str
    response: str  # the file's company_response_to_consumer
    outcome: str
    timely: bool
    disputed: bool

    @property
    def complaint_id(self) -> uuid.UUID:
        return imported_complaint_id(SOURCE, self.ref)

    @property
    def sent_adjusted(self) -> bool:
        return self.sent != self.sent_as_filed


def _date(row: dict[str, str], column: str) -> date:
    value = (row.get(column) or "").strip()
    if not value:
        raise RowError(column, "missing")
    try:
        day = datetime.strptime(value, "%m/%d/%Y").date()
    except ValueError:
        raise RowError(column, f"not a date M/D/YYYY: {value!r}") from None
    if day > datetime.now(UTC).date():
        raise RowError(column, f"in the future: {value}")
    return day


def _one_of(row: dict[str, str], column: str, allowed: dict[str, Any]) -> Any:
    value = (row.get(column) or "").strip()
    if value not in allowed:
        raise RowError(column, f"unknown value {value!r}; known: {', '.join(allowed)}")
    return allowed[value]


def _text(row: dict[str, str], column: str, required: bool = True, limit: int = 200) -> str:
    value = " ".join((row.get(column) or "").split())
    if required and not value:
        raise RowError(column, "missing")
    if len(value) > limit:
        raise RowError(column, f"longer than {limit} characters")
    return value


def parse_row(line: int, row: dict[str, str]) -> Row:
    """The row as the import will tell it, or RowError naming the first bad column."""
    ref = _text(row, "complaint_id", limit=100)
    received = _date(row, "date_received")
    sent = _date(row, "date_sent_to_company")
    if sent < received - timedelta(days=1):
        raise RowError("date_sent_to_company",
                       f"{sent.isoformat()} is before date_received {received.isoformat()}")
    channel = _one_of(row, "submitted_via", CHANNELS)
    outcome = _one_of(row, "company_response_to_consumer", OUTCOMES)
    timely = _one_of(row, "timely_response", YES_NO)
    disputed = _one_of(row, "consumer_disputed?", YES_NO)
    product = _text(row, "product")
    sub_product = _text(row, "sub_product", required=False)
    issue = _text(row, "issue")
    sub_issue = _text(row, "sub_issue", required=False)
    company = _text(row, "company", limit=100)
    location = " ".join(p for p in (_text(row, "state", False), _text(row, "zipcode", False))
                        if p) or None
    full_product = f"{product} / {sub_product}" if sub_product else product
    if len(full_product) > 200:
        raise RowError("sub_product", "product / sub_product longer than 200 characters")
    flags = [t.strip() for t in (row.get("tags") or "").split(",") if t.strip()]
    tags = [f"issue:{issue}"] + ([f"sub_issue:{sub_issue}"] if sub_issue else []) + \
        [f"flag:{f}" for f in flags]
    text = (f"Issue: {issue}." + (f" Sub-issue: {sub_issue}." if sub_issue else "")
            + f" Product: {full_product}.")
    return Row(line=line, ref=ref, received=received, sent=max(sent, received),
               sent_as_filed=sent, channel=channel, product=full_product, location=location,
               tags=tags, text=text, company=company,
               response=(row.get("company_response_to_consumer") or "").strip(),
               outcome=outcome, timely=timely, disputed=disputed)


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line where the record starts, the record) for each data row of the CSV."""
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        try:
            header = next(reader)
        except StopIteration:
            raise Fatal(f"{path}: empty file") from None
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise Fatal(f"{path}: missing columns {', '.join(missing)}")
        start = reader.line_num + 1
        for values in reader:
            if values:
                yield start, dict(zip(header, values, strict=False)) | (
                    {"__extra__": "x"} if len(values) != len(header) else {})
            start = reader.line_num + 1


def parse_file(path: Path) -> tuple[list[Row], list[tuple[int, str, str, str]]]:
    """The good rows, and (line, complaint_id, column, problem) for each bad one. A
    complaint_id seen twice is an error on the second line."""
    rows: list[Row] = []
    errors: list[tuple[int, str, str, str]] = []
    seen: dict[str, int] = {}
    for line, raw in read_rows(path):
        ref = (raw.get("complaint_id") or "").strip()
        try:
            if "__extra__" in raw:
                raise RowError("(row)", "wrong number of fields for the header")
            row = parse_row(line, raw)
            if row.ref in seen:
                raise RowError("complaint_id", f"{row.ref} again (first on line {seen[row.ref]})")
            seen[row.ref] = line
            rows.append(row)
        except RowError as exc:
            errors.append((line, ref, exc.column, exc.problem))
    return rows, errors


def at(day: date) -> str:
    """The moment an event of that day is recorded at: the file has dates without times,
    so the start of the day, UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()


# --- the lifecycle over HTTP -----------------------------------------------------------


@dataclass
class Client:
    urls: dict[str, str]
    token: str | None = None  # an admin's bearer token; else one is minted from AUTH_SECRET
    local: threading.local = field(default_factory=threading.local)

    def identity(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return auth_headers(IMPORTER, ROLE)

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def get(self, service: str, path: str) -> requests.Response:
        return self._session().get(self.urls[service] + path, timeout=30,
                                   headers=self.identity())

    def post(self, service: str, path: str, body: dict[str, Any], when: date
             ) -> dict[str, Any]:
        headers = {**self.identity(), "X-Occurred-At": at(when),
                   "X-Correlation-Id": f"{SOURCE}-import"}
        response = self._session().post(self.urls[service] + path, json=body,
                                        headers=headers, timeout=30)
        if response.status_code >= 400:
            raise RowError(f"({service} {path.rsplit('/', 1)[-1]})",
                           f"{response.status_code} {_problem(response)}")
        return response.json()

    def wait(self, service: str, path: str, ready: Callable[[dict[str, Any]], bool],
             what: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_SECONDS
        pause = 0.02
        while True:
            response = self.get(service, path)
            if response.status_code == 200 and ready(response.json()):
                return response.json()
            if response.status_code not in (200, 404):
                raise RowError(f"({service})", f"{response.status_code} {_problem(response)}")
            if time.monotonic() > deadline:
                raise RowError(f"({service})", f"{what} did not happen within {WAIT_SECONDS:.0f}s")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.5)


def _problem(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    fields = "; ".join(f"{f['field']}: {f['problem']}" for f in body.get("fields") or [])
    return fields or body.get("message", "")


def import_row(client: Client, row: Row) -> str:
    """Drive one row through the services; every step checks the state first and does
    only what is missing. Returns what it did: new, resumed or done (nothing left)."""
    cid = row.complaint_id
    posts = 0

    def post(service: str, path: str, body: dict[str, Any], when: date) -> dict[str, Any]:
        nonlocal posts
        posts += 1
        return client.post(service, path, body, when)

    existing = client.get("intake", f"/complaints/{cid}")
    complaint = existing.json() if existing.status_code == 200 else post(
        "intake", "/complaints", receive_body(row), row.received)
    if complaint["classification"]["type"] != "complaint":
        post("intake", f"/complaints/{cid}/reclassify",
             {"type": "complaint", "reason": "every record of the CFPB Consumer Complaint "
                                             "Database is a complaint"}, row.received)

    case = client.wait("investigation", f"/cases/{cid}", lambda c: True,
                       "investigation opening the case")
    if case["escalation_status"] == "pending":
        case = post("investigation", f"/cases/{cid}/take",
                    {"note": "taken by the import of a CFPB record (sent to the company)"},
                    row.sent)
    if case["investigator"] is None:
        case = post("investigation", f"/cases/{cid}/assign",
                    {"investigator": row.company, "reason": "sent to the company by the CFPB"
                     + (" (dated at receipt: the file's sent date is the day before)"
                        if row.sent_adjusted else "")}, row.sent)
    if case["root_cause"] is None:
        case = post("investigation", f"/cases/{cid}/conclude", conclude_body(row), row.sent)

    resolution = client.wait("resolution", f"/resolutions/{cid}",
                             lambda r: r["status"] != "awaiting_investigation",
                             "resolution making the response due")
    if not resolution["responses"]:
        resolution = post("resolution", f"/resolutions/{cid}/respond",
                          {"outcome": row.outcome, "timely": row.timely,
                           "message": f"The company's response as the CFPB records it: "
                                      f"{row.response}."}, row.sent)
    if resolution["status"] == "responded":
        if row.disputed:
            resolution = post("resolution", f"/resolutions/{cid}/dispute",
                              {"reason": "the consumer disputed the company's response "
                                         "(CFPB consumer_disputed? = Yes)"}, row.sent)
        else:
            resolution = post("resolution", f"/resolutions/{cid}/accept",
                              {"comment": "the consumer did not dispute the company's "
                                          "response (CFPB consumer_disputed? = No)"}, row.sent)
    if resolution["status"] == "accepted":
        post("resolution", f"/resolutions/{cid}/close",
             {"note": f"closed as the CFPB records it: {row.response}"}, row.sent)
    if existing.status_code != 200:
        return "new"
    return "resumed" if posts else "done"


def receive_body(row: Row) -> dict[str, Any]:
    return {"channel": row.channel, "text": row.text, "language": "en",
            "product": row.product, "location": row.location, "tags": row.tags,
            "source": SOURCE, "external_ref": row.ref}


def conclude_body(row: Row) -> dict[str, Any]:
    return {"root_cause": "not_determined", "five_whys": [],
            "responsible_department": row.company,
            "summary": f"Imported from CFPB complaint {row.ref}: sent to {row.company}, whose "
                       f"response was '{row.response}'. The source records no root cause."}


# --- the command ---------------------------------------------------------------------------


def write_errors(path: Path, errors: list[tuple[int, str, str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["line", "complaint_id", "column", "problem"])
        writer.writerows(sorted(errors))


def default_urls() -> dict[str, str]:
    import run_all

    return run_all.urls()


def run(path: Path, urls: dict[str, str], errors_path: Path, limit: int | None,
        workers: int, show_progress: bool = True, token: str | None = None) -> int:
    rows, errors = parse_file(path)
    if limit is not None:
        rows = rows[:limit]
    client = Client(urls, token)
    for service in ("intake", "investigation", "resolution"):
        try:
            requests.get(urls[service] + "/health", timeout=5).raise_for_status()
        except requests.RequestException as exc:
            raise Fatal(f"{service} does not answer at {urls[service]}: "
                        f"{type(exc).__name__}") from None
    done: dict[str, int] = {"new": 0, "resumed": 0, "done": 0}
    started = time.monotonic()
    progress = _progress(show_progress)
    with progress, ThreadPoolExecutor(max_workers=workers) as pool:
        task = progress.add_task("importing", total=len(rows))
        futures = {pool.submit(import_row, client, row): row for row in rows}
        for future in as_completed(futures):
            row = futures[future]
            try:
                done[future.result()] += 1
            except RowError as exc:
                errors.append((row.line, row.ref, exc.column, exc.problem))
            except requests.RequestException as exc:
                errors.append((row.line, row.ref, "(http)", type(exc).__name__))
            progress.advance(task)
    seconds = time.monotonic() - started
    write_errors(errors_path, errors)
    handled = sum(done.values())
    adjusted = sum(1 for r in rows if r.sent_adjusted)
    print(f"{path.name}: {handled} rows imported ({done['new']} new, {done['resumed']} "
          f"resumed, {done['done']} already complete), {len(errors)} in {errors_path}; "
          f"{adjusted} sent the day before receipt, dated at receipt; {seconds:.1f} s, "
          f"{handled / seconds if seconds else 0:.1f} rows/s", flush=True)
    return 1 if errors else 0


class _Quiet:
    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def advance(self, task: int) -> None:
        return None


def _progress(show: bool) -> Any:
    if not show:
        return _Quiet()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class RowsPerSecond(ProgressColumn):
        def render(self, task: Any) -> Text:
            rate = task.completed / task.elapsed if task.elapsed else 0.0
            return Text(f"{rate:6.1f} rows/s")

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    RowsPerSecond(), TimeElapsedColumn())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", type=Path)
    urls = default_urls()
    for service in ("intake", "investigation", "resolution"):
        parser.add_argument(f"--{service}", default=urls[service], help=f"{service} URL")
    parser.add_argument("--errors", type=Path, default=None,
                        help="error file (default: <csv name>.errors.csv here)")
    parser.add_argument("--limit", type=int, default=None, help="import the first N rows")
    parser.add_argument("--workers", type=int, default=8, help="rows in flight at once")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--token", default=os.environ.get("ADMIN_TOKEN"),
                        help="an admin's bearer token (default $ADMIN_TOKEN, as `make run` "
                             "writes it to data/dev-tokens.env; without one, a token for "
                             "cfpb-import is signed with $AUTH_SECRET)")
    args = parser.parse_args(argv)
    errors = args.errors or Path(f"{args.csv.stem}.errors.csv")
    try:
        return run(args.csv, {s: getattr(args, s) for s in ("intake", "investigation",
                                                             "resolution")},
                   errors, args.limit, max(1, args.workers), not args.no_progress,
                   args.token)
    except (Fatal, OSError, UnicodeDecodeError) as exc:
        print(f"import_cfpb: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
