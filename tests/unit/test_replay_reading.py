"""The replay command's reading of the upstream logs (head, pages, interleaving) and its
exactly-once feeding, on fake logs and an in-memory store. The command against real
services over RabbitMQ is tested in tests/e2e/test_replay.py."""

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.envelope import Envelope
from services.reporting.application import ReportingApplication
from services.reporting.replay import UPSTREAMS, envelopes, head_of, merged, replay
from tests.unit.test_evidence import lifecycle

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


class FakeLog:
    """An upstream's `notifications` RPC over a list of envelopes (JSON dicts)."""

    def __init__(self, bodies):
        self.bodies = sorted(bodies, key=lambda b: b["origin_position"])
        self.calls = 0

    def __call__(self, start, limit):
        self.calls += 1
        return [b for b in self.bodies if b["origin_position"] >= start][:limit]


def positions(*numbers):
    return [{"origin_position": n} for n in numbers]


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(min_value=1, max_value=5000), max_size=60))
def test_the_head_is_the_last_position_even_with_gaps(existing):
    log = FakeLog(positions(*existing))
    assert head_of(log) == max(existing, default=0)


def test_finding_the_head_takes_a_few_one_row_calls():
    log = FakeLog(positions(*range(1, 100_001)))
    assert head_of(log) == 100_000
    assert log.calls <= 2 * 17 + 2


def split(entries):
    return {u: FakeLog([e for e in entries if e["origin_service"] == u]) for u in UPSTREAMS}


def test_pages_are_read_in_order_after_a_position_to_the_end():
    t = lifecycle()
    logs = split(t.entries)
    read = [e.origin_position for e in envelopes(logs["resolution"], after=2, page=3)]
    assert read == list(range(3, 9))


def test_the_upstreams_interleave_by_recorded_time_keeping_each_ones_order():
    t = lifecycle()
    logs = split(t.entries)
    order = [(e.origin_service, e.origin_position)
             for e in merged({u: envelopes(logs[u], 0) for u in UPSTREAMS})]
    assert sorted(order) == sorted((e["origin_service"], e["origin_position"])
                                   for e in t.entries)
    for upstream in UPSTREAMS:
        mine = [p for s, p in order if s == upstream]
        assert mine == sorted(mine)
    assert order[:4] == [("intake", 1), ("intake", 2), ("intake", 3), ("investigation", 1)]


@pytest.fixture
def apps():
    made = []

    def make():
        made.append(ReportingApplication(env=POPO))
        return made[-1]

    yield make
    for app in made:
        app.close()


def many_complaints(n=6):
    entries = []
    for i in range(n):
        t = lifecycle()
        for entry in t.entries:  # complaint i happens i hours after the first
            shifted = dict(entry)
            for key in ("occurred_at", "recorded_at"):
                shifted[key] = (datetime.fromisoformat(entry[key])
                                + timedelta(hours=i)).isoformat()
            entries.append(shifted)
    counters = dict.fromkeys(UPSTREAMS, 0)
    for entry in sorted(entries, key=lambda e: e["recorded_at"]):
        counters[entry["origin_service"]] += 1
        entry["origin_position"] = counters[entry["origin_service"]]
    return entries


def test_a_replay_feeds_every_event_once_and_gives_the_live_report(apps):
    entries = many_complaints()
    live = apps()
    for upstream in ("resolution", "intake", "investigation"):  # another arrival order
        for body in split(entries)[upstream].bodies:
            live.process(Envelope.model_validate(body))
    rebuilt = apps()
    result = replay(rebuilt, split(entries), show_progress=False, say=lambda _: None)
    assert result["total"] == len(entries)
    assert result["events"] == {u: len(split(entries)[u].bodies) for u in UPSTREAMS}
    assert rebuilt.summary().model_dump_json() == live.summary().model_dump_json()
    assert rebuilt.summary().total == 6
    again = replay(rebuilt, split(entries), show_progress=False, say=lambda _: None)
    assert again["total"] == 0, "a second pass finds nothing new: exactly once"
    assert rebuilt.head() == live.head()


def test_a_resumed_replay_carries_on_after_the_recorded_positions(apps):
    entries = many_complaints(3)
    first_half = [e for e in entries if e["origin_position"] <= 5]
    app = apps()
    replay(app, split(first_half), show_progress=False, say=lambda _: None)
    said = []
    result = replay(app, split(entries), show_progress=False, say=said.append)
    assert result["total"] == len(entries) - len(first_half)
    assert "resuming after intake 5, investigation 5, resolution 5" in said[0]
    fresh = apps()
    replay(fresh, split(entries), show_progress=False, say=lambda _: None)
    assert app.summary() == fresh.summary()


def test_without_a_signing_key_the_replay_stops_before_touching_anything(
        monkeypatch, tmp_path, capsys):
    from services.reporting.replay import main

    monkeypatch.delenv("AUTH_SECRET", raising=False)
    target = tmp_path / "r.sqlite"
    assert main(["--sqlite", str(target), "--no-progress"]) == 2
    assert "AUTH_SECRET is not set" in capsys.readouterr().err
    assert not target.exists()


@pytest.mark.parametrize(("args", "problem"), [
    (["--improvement", "period=month"], "--improvement needs --out"),
    (["--out", "o", "--improvement", "period=fortnight"], "--improvement: period"),
    (["--from", "2026-02-01", "--to", "2026-01-01"], "--from is after --to"),
    (["--sqlite", "a", "--postgres", "b"], "not allowed with"),
    (["--force", "--resume"], "not allowed with"),
])
def test_bad_options_exit_2_naming_the_problem(args, problem, capsys):
    from services.reporting.replay import parse_args

    with pytest.raises(SystemExit) as stopped:
        parse_args(args)
    assert stopped.value.code == 2
    assert problem in capsys.readouterr().err
