"""The audit hash chain (servicekit/chain.py): stored events carry prev and link, reads
strip them, and verification names the first broken link for every kind of tampering."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import RecordConflictError, Tracking

from contracts import api
from contracts.envelope import Actor
from servicekit import verify
from servicekit.application import ServiceApplication
from servicekit.chain import (
    DEVELOPMENT_KEY,
    EDITED,
    MAGIC,
    MISSING_PREVIOUS,
    OUT_OF_ORDER,
    UNCHAINED,
    ZERO,
    ChainError,
    chain_key,
    compute_link,
    unwrap,
    verify_records,
    wrap,
)
from services.intake.application import IntakeApplication

KEY = "a test key"
POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo", "AUDIT_CHAIN_KEY": KEY}


class Ledger(Aggregate):
    @event("Opened")
    def __init__(self, owner: str):
        self.owner = owner
        self.lines: list[str] = []

    @event("Noted")
    def note(self, text: str) -> None:
        self.lines.append(text)


class LedgerApp(ServiceApplication):
    name = "ledger"


@pytest.fixture
def app():
    return LedgerApp(env=POPO)


def rows(app):
    return list(app.recorder.select_notifications(start=1, limit=1000))


def ledger_with(app, notes: int, per_save: int = 1) -> Ledger:
    ledger = Ledger("ops")
    app.save(ledger)
    for i in range(notes):
        ledger.note(f"line {i}")
        if (i + 1) % per_save == 0:
            app.save(ledger)
    app.save(ledger)
    return ledger


def check(records, key=KEY.encode()):
    return verify_records(records, key)


# --- the stored format ----------------------------------------------------------


def test_wrap_and_unwrap_round_trip_and_plain_rows_are_not_chained():
    prev, link = bytes(range(32)), bytes(range(32, 64))
    assert unwrap(wrap(prev, link, b'{"a":1}')) == (prev, link, b'{"a":1}')
    assert unwrap(b'{"a":1}') is None
    assert unwrap(MAGIC + b"short") is None


def test_the_key_comes_from_the_environment_else_the_development_key():
    assert chain_key({"AUDIT_CHAIN_KEY": "k"}) == (b"k", False)
    assert chain_key({}) == (DEVELOPMENT_KEY, True)
    assert chain_key({"AUDIT_CHAIN_KEY": ""}) == (DEVELOPMENT_KEY, True)


def test_the_link_commits_to_every_field_of_the_row():
    agg = uuid.uuid4()
    base = compute_link(b"k", ZERO, agg, 1, "t:T", b"{}")
    assert compute_link(b"k", ZERO, agg, 1, "t:T", b"{}") == base
    variants = [compute_link(b"other", ZERO, agg, 1, "t:T", b"{}"),
                compute_link(b"k", b"\x01" * 32, agg, 1, "t:T", b"{}"),
                compute_link(b"k", ZERO, uuid.uuid4(), 1, "t:T", b"{}"),
                compute_link(b"k", ZERO, agg, 2, "t:T", b"{}"),
                compute_link(b"k", ZERO, agg, 1, "t:U", b"{}"),
                compute_link(b"k", ZERO, agg, 1, "t:T", b"{ }"),
                # the topic/state boundary is length-prefixed
                compute_link(b"k", ZERO, agg, 1, "t:T{", b"}")]
    assert base not in variants and len(set(variants)) == len(variants)


def test_each_stored_event_commits_to_the_previous_one_across_and_within_saves(app):
    ledger = ledger_with(app, notes=5, per_save=2)  # saves of 1, 2, 2, 1 events
    stored = rows(app)
    assert [r.originator_version for r in stored] == [1, 2, 3, 4, 5, 6]
    prev_link = ZERO
    for r in stored:
        parts = unwrap(r.state)
        assert parts is not None and r.state.startswith(MAGIC)
        prev, link, body = parts
        assert prev == prev_link
        assert link == compute_link(KEY.encode(), prev, ledger.id, r.originator_version,
                                    r.topic, body)
        assert json.loads(body)  # the original JSON state follows the header
        prev_link = link


def test_reads_strip_the_header_so_the_domain_is_unaffected(app):
    ledger = ledger_with(app, notes=3)
    again = app.repository.get(ledger.id)
    assert (again.owner, again.lines, again.version) == ("ops", ["line 0", "line 1",
                                                                  "line 2"], 4)
    assert [type(app.mapper.to_domain_event(r)).__name__ for r in rows(app)] == [
        "Opened", "Noted", "Noted", "Noted"]


def test_the_outbox_view_reads_chained_rows():
    intake = IntakeApplication(env=POPO)
    view = intake.receive_complaint(api.ReceiveComplaint(
        channel="email", customer={"name": "Zhang Wei"}, text="The staff were rude"),
        Actor(id="agent-7", role="agent"))
    envelopes = intake.notifications(1, 50)
    assert envelopes and {e.complaint_id for e in envelopes} == {view.complaint_id}
    assert all(unwrap(r.state) for r in rows(intake))
    assert check(rows(intake)).holds


def test_processing_chains_several_aggregates_with_the_tracking_record(app):
    first, second = ledger_with(app, notes=1), ledger_with(app, notes=0)
    first.note("from upstream")
    second.note("from upstream too")
    processing = ProcessingEvent(Tracking("upstream", 7))
    processing.collect_events(first, second)
    app._record(processing)
    assert app.position("upstream") == 7
    report = check(rows(app))
    assert (report.holds, report.records, report.aggregates) == (True, 5, 2)


def test_a_version_clash_stores_nothing_and_the_retry_chains_from_the_winner(app):
    ledger = ledger_with(app, notes=1)
    mine, theirs = app.repository.get(ledger.id), app.repository.get(ledger.id)
    theirs.note("theirs")
    app.save(theirs)
    mine.note("mine")
    with pytest.raises(RecordConflictError):
        app.save(mine)
    again = app.repository.get(ledger.id)
    again.note("mine, retried")
    app.save(again)
    assert app.repository.get(ledger.id).lines == ["line 0", "theirs", "mine, retried"]
    assert check(rows(app)).holds


def test_a_save_whose_previous_version_is_gone_is_refused(app):
    ledger = ledger_with(app, notes=0)
    ledger.note("a")
    ledger.note("b")
    # Pretend version 2 was recorded by someone else and then lost: chaining version 3
    # alone must not invent a link.
    events = ledger.collect_events()
    with pytest.raises(ChainError, match="version 2 is not in the store"):
        app.events.put(events[1:])
    assert len(rows(app)) == 1


def test_snapshots_are_not_chained_and_do_not_disturb_the_chain():
    app = LedgerApp(env={**POPO, "IS_SNAPSHOTTING_ENABLED": "y"})
    ledger = ledger_with(app, notes=3)
    app.take_snapshot(ledger.id)
    ledger = app.repository.get(ledger.id)
    ledger.note("after the snapshot")
    app.save(ledger)
    again = app.repository.get(ledger.id)
    assert again.lines[-1] == "after the snapshot" and again.version == 5
    assert check(rows(app)).holds


# --- verification: every kind of tampering is detected and named ---------------


@pytest.fixture
def log(app):
    """Two aggregates, interleaved: A v1 (n1), B v1 (n2), A v2..v4 (n3..n5), B v2 (n6)."""
    a = Ledger("a")
    b = Ledger("b")
    app.save(a)
    app.save(b)
    for i in range(3):
        a.note(str(i))
        app.save(a)
    b.note("x")
    app.save(b)
    return a.id, b.id, rows(app)


def test_an_untouched_log_verifies(log):
    report = check(log[2])
    assert (report.holds, report.records, report.aggregates, report.first) == (
        True, 6, 2, None)


def test_a_changed_state_byte_is_named_as_edited(log):
    a, _, stored = log
    row = stored[3]  # A version 3, notification 4
    state = bytearray(row.state)
    state[-3] ^= 0x01
    stored[3] = replace(row, state=bytes(state))
    first = check(stored).first
    assert (first.kind, first.aggregate_id, first.version, first.notification_id) == (
        EDITED, str(a), 3, 4)
    assert len(check(stored).breaks) == 1  # the next record still chains to it


def test_an_edited_topic_or_version_is_named_as_edited(log):
    a, _, stored = log
    stored[2] = replace(stored[2], topic="tests.unit.test_chain:Ledger.Opened")
    first = check(stored).first
    assert (first.kind, first.aggregate_id, first.version) == (EDITED, str(a), 2)


def test_a_deleted_middle_row_is_named_as_missing_previous(log):
    a, _, stored = log
    del stored[3]  # A version 3
    first = check(stored).first
    assert (first.kind, first.aggregate_id, first.version, first.notification_id) == (
        MISSING_PREVIOUS, str(a), 4, 5)
    assert "version 3" in first.detail


def test_a_deleted_first_row_is_named(log):
    _, b, stored = log
    del stored[1]  # B version 1
    first = check(stored).first
    assert (first.kind, first.aggregate_id, first.version, first.notification_id) == (
        MISSING_PREVIOUS, str(b), 2, 6)


def test_swapped_rows_are_named_as_out_of_order(log):
    a, _, stored = log
    v2, v3 = stored[2], stored[3]  # notifications 3 and 4
    stored[2], stored[3] = replace(v3, id=3), replace(v2, id=4)
    first = check(stored).first
    assert (first.kind, first.aggregate_id, first.version, first.notification_id) == (
        OUT_OF_ORDER, str(a), 3, 3)
    assert "version 2" in first.detail


def test_swapped_contents_are_named(log):
    a, _, stored = log
    v2, v3 = stored[2], stored[3]
    stored[2] = replace(v2, state=v3.state)
    stored[3] = replace(v3, state=v2.state)
    first = check(stored).first
    assert (first.kind, first.aggregate_id, first.version, first.notification_id) == (
        EDITED, str(a), 2, 3)


def test_a_replaced_row_with_a_valid_link_breaks_the_next_prev(log):
    """Someone holding the key rewrites version 2 as a new chain start: its own link
    verifies, but version 3 no longer chains to it."""
    a, _, stored = log
    row = stored[2]
    _, _, body = unwrap(row.state)
    forged_link = compute_link(KEY.encode(), ZERO, a, 2, row.topic, body)
    stored[2] = replace(row, state=wrap(ZERO, forged_link, body))
    first = check(stored).first
    assert (first.kind, first.aggregate_id, first.version) == (MISSING_PREVIOUS, str(a), 2)


def test_the_wrong_key_fails_at_the_first_record(log):
    first = check(log[2], key=b"not the key").first
    assert (first.kind, first.version, first.notification_id) == (EDITED, 1, 1)
    assert "AUDIT_CHAIN_KEY" in first.detail


def test_an_unchained_row_is_refused(log):
    # As a row written before the chain existed: before its aggregate's first chained row.
    _, b, stored = log
    _, _, body = unwrap(stored[1].state)
    stored[1] = replace(stored[1], state=body)
    first = check(stored).first
    assert (first.kind, first.aggregate_id, first.version, first.notification_id) == (
        UNCHAINED, str(b), 1, 2)


def test_a_header_stripped_after_a_chained_row_is_named_as_edited(log):
    # Not a legacy row: someone rewrote it without the key (and without the header).
    _, b, stored = log
    _, _, body = unwrap(stored[5].state)
    stored[5] = replace(stored[5], state=body)
    first = check(stored).first
    assert (first.kind, first.aggregate_id, first.version, first.notification_id) == (
        EDITED, str(b), 2, 6)


def test_the_verify_command_cannot_read_an_in_memory_store(monkeypatch, capsys):
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.popo")
    monkeypatch.setenv("PGOPTIONS", "")  # main() makes this process's sessions read-only
    assert verify.main(["--service", "intake", "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "unreadable"
    assert "in-memory" in out["services"][0]["error"]
