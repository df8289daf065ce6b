"""The CFPB import: row parsing and mapping, the error file, and the services' rules for
imported records (in memory: intake -> investigation -> resolution -> intake, by the
integration events each publishes)."""

import csv
import os
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from werkzeug.test import EnvironBuilder

from contracts import api
from contracts.envelope import Actor, imported_complaint_id
from contracts.vocabulary import Channel
from servicekit.application import occurring_at
from servicekit.clock import FrozenClock
from servicekit.errors import Forbidden, InvalidCommand, StateConflict
from servicekit.http import _occurred_at
from services.intake.application import IntakeApplication
from services.investigation.application import InvestigationApplication
from services.resolution.application import ResolutionApplication

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import import_cfpb  # noqa: E402

SAMPLE = Path(os.environ.get("CFPB_SAMPLE")
              or ROOT.parent / "shared/data/cfpb/complaints-2013-sample.csv")

HEADER = ("date_received,product,sub_product,issue,sub_issue,consumer_complaint_narrative,"
          "company_public_response,company,state,zipcode,tags,consumer_consent_provided,"
          "submitted_via,date_sent_to_company,company_response_to_consumer,timely_response,"
          "consumer_disputed?,complaint_id")
GOOD = ('8/30/2013,Mortgage,Other mortgage,"Loan modification,collection,foreclosure",,,,'
        'U.S. Bancorp,CA,95993,"Older American, Servicemember",,Referral,9/3/2013,'
        'Closed with monetary relief,No,Yes,511074')
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor(id="cfpb-import", role="admin")
AGENT = Actor(id="agent-7", role="agent")
SUPERVISOR = Actor(id="sup-1", role="supervisor")
RECEIVED = datetime(2013, 8, 30, tzinfo=UTC)
SENT = datetime(2013, 9, 3, tzinfo=UTC)


def rows_of(tmp_path, *lines):
    path = tmp_path / "in.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return import_cfpb.parse_file(path)


# --- parsing and mapping -----------------------------------------------------------


def test_a_row_maps_every_column(tmp_path):
    (row,), errors = rows_of(tmp_path, GOOD)
    assert errors == []
    assert row.line == 2 and row.ref == "511074"
    assert row.complaint_id == imported_complaint_id("cfpb", "511074")
    assert (row.received, row.sent) == (date(2013, 8, 30), date(2013, 9, 3))
    assert row.channel == "referral"
    assert row.product == "Mortgage / Other mortgage"
    assert row.location == "CA 95993"
    assert row.tags == ["issue:Loan modification,collection,foreclosure",
                        "flag:Older American", "flag:Servicemember"]
    assert row.text == ("Issue: Loan modification,collection,foreclosure. "
                        "Product: Mortgage / Other mortgage.")
    assert row.company == "U.S. Bancorp"
    assert (row.outcome, row.timely, row.disputed) == ("monetary_relief", False, True)
    body = import_cfpb.receive_body(row)
    assert "customer" not in body and body["source"] == "cfpb"
    assert body["external_ref"] == "511074"
    conclusion = import_cfpb.conclude_body(row)
    assert conclusion["root_cause"] == "not_determined" and conclusion["five_whys"] == []
    assert conclusion["responsible_department"] == "U.S. Bancorp"


def test_every_submitted_via_has_its_own_channel():
    assert set(import_cfpb.CHANNELS) == {"Web", "Postal mail", "Referral", "Phone", "Fax",
                                         "Email"}
    channels = [Channel(c) for c in import_cfpb.CHANNELS.values()]
    assert len(set(channels)) == len(channels)


def test_the_outcome_mapping_is_injective_and_in_the_vocabulary():
    from contracts.vocabulary import Outcome

    assert len(set(import_cfpb.OUTCOMES.values())) == len(import_cfpb.OUTCOMES)
    assert all(Outcome(v) for v in import_cfpb.OUTCOMES.values())


def test_a_sent_date_one_day_before_receipt_is_dated_at_receipt(tmp_path):
    (row,), errors = rows_of(tmp_path, GOOD.replace("9/3/2013", "8/29/2013"))
    assert errors == []
    assert row.sent == row.received == date(2013, 8, 30) and row.sent_adjusted


def test_malformed_rows_are_named_by_line_and_column_and_the_rest_parse(tmp_path):
    lines = [
        GOOD,
        GOOD.replace("8/30/2013", "2013-08-30").replace("511074", "1"),       # line 3
        GOOD.replace("Referral", "Carrier pigeon").replace("511074", "2"),    # line 4
        GOOD.replace(",511074", ","),                                          # line 5
        GOOD.replace("9/3/2013", "8/1/2013").replace("511074", "3"),          # line 6
        GOOD.replace("Closed with monetary relief", "In progress").replace("511074", "4"),
        GOOD.replace(",No,Yes,", ",Maybe,Yes,").replace("511074", "5"),       # line 8
        GOOD,                                                                  # line 9
        GOOD.replace("U.S. Bancorp", "").replace("511074", "6"),              # line 10
        GOOD.replace("511074", "7") + ",extra",                                # line 11
        GOOD.replace("511074", "8"),                                           # line 12
    ]
    rows, errors = rows_of(tmp_path, *lines)
    assert [r.ref for r in rows] == ["511074", "8"]
    found = {(line, column) for line, _, column, _ in errors}
    assert found == {(3, "date_received"), (4, "submitted_via"), (5, "complaint_id"),
                     (6, "date_sent_to_company"), (7, "company_response_to_consumer"),
                     (8, "timely_response"), (9, "complaint_id"), (10, "company"),
                     (11, "(row)")}
    problems = {line: problem for line, _, _, problem in errors}
    assert "M/D/YYYY" in problems[3] and "Carrier pigeon" in problems[4]
    assert problems[5] == "missing" and "before date_received" in problems[6]
    assert "first on line 2" in problems[9]
    out = tmp_path / "errors.csv"
    import_cfpb.write_errors(out, errors)
    written = list(csv.DictReader(out.open(newline="")))
    assert [int(r["line"]) for r in written] == sorted(line for line, *_ in errors)
    assert set(written[0]) == {"line", "complaint_id", "column", "problem"}


def test_a_record_spanning_lines_is_numbered_where_it_starts(tmp_path):
    multi = GOOD.replace('"Loan modification,collection,foreclosure"',
                         '"Loan modification,\ncollection"')
    rows, errors = rows_of(tmp_path, multi, GOOD.replace("8/30/2013", "bad").replace(
        "511074", "9"))
    assert rows[0].line == 2 and errors[0][0] == 4


def test_a_file_without_the_columns_is_refused(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(import_cfpb.Fatal, match="missing columns"):
        import_cfpb.parse_file(path)


def test_the_sample_parses_without_errors():
    rows, errors = import_cfpb.parse_file(SAMPLE)
    assert (len(rows), errors) == (1000, [])
    assert sum(r.sent_adjusted for r in rows) == 23


# --- X-Occurred-At ------------------------------------------------------------------


def request_with(value):
    return EnvironBuilder(method="POST", headers={"X-Occurred-At": value}).get_request()


def test_only_an_admin_may_set_the_time_of_events():
    assert _occurred_at(request_with("2013-08-30T00:00:00+00:00"), ADMIN) == RECEIVED
    with pytest.raises(Forbidden):
        _occurred_at(request_with("2013-08-30T00:00:00+00:00"), AGENT)
    for bad, problem in (("30/8/2013", "ISO 8601"), ("2013-08-30T00:00:00", "offset"),
                         ((datetime.now(UTC) + timedelta(days=1)).isoformat(), "future"),
                         ("0001-01-01T00:00:00+01:00", "before 1900")):  # no overflow
        with pytest.raises(InvalidCommand, match=problem) as error:
            _occurred_at(request_with(bad), ADMIN)
        assert error.value.field == "header.X-Occurred-At"
    no_header = EnvironBuilder(method="POST").get_request()
    assert _occurred_at(no_header, AGENT) is None


# --- the services' rules for imported records (in memory) ----------------------------


class Pipeline:
    """The three applications, events passed on as the subscribers would."""

    def __init__(self):
        popo = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        self.clock = FrozenClock(NOW)
        self.intake = IntakeApplication(env=popo, clock=self.clock)
        self.investigation = InvestigationApplication(env=popo, clock=self.clock)
        self.resolution = ResolutionApplication(env=popo, clock=self.clock)
        self.read = {"intake": 0, "investigation": 0, "resolution": 0}

    def flow(self):
        routes = {"intake": (self.investigation, self.resolution),
                  "investigation": (self.resolution,),
                  "resolution": (self.intake, self.investigation)}
        moved = True
        while moved:
            moved = False
            for name, app in (("intake", self.intake), ("investigation", self.investigation),
                              ("resolution", self.resolution)):
                for envelope in app.notifications(self.read[name] + 1, 100):
                    for consumer in routes[name]:
                        consumer.process(envelope)
                    self.read[name] = envelope.origin_position
                    moved = True


def imported(ref="511074", **fields):
    return api.ReceiveComplaint(**{"channel": "referral", "text": "Issue: Late fee. Product: "
                                   "Credit card.", "source": "cfpb", "external_ref": ref,
                                   "product": "Credit card", "tags": ["flag:Servicemember"],
                                   **fields})


@pytest.fixture
def pipeline():
    return Pipeline()


def test_an_import_is_idempotent_and_dated_as_the_source_says(pipeline):
    with occurring_at(RECEIVED):
        first = pipeline.intake.receive_complaint(imported(), ADMIN)
        head = pipeline.intake.head()
        again = pipeline.intake.receive_complaint(imported(), ADMIN)
    assert first.complaint_id == again.complaint_id == imported_complaint_id("cfpb", "511074")
    assert pipeline.intake.head() == head  # nothing stored the second time
    assert first.received_at == RECEIVED and first.customer == {}
    assert (first.source, first.external_ref, first.tags) == ("cfpb", "511074",
                                                              ["flag:Servicemember"])
    assert first.customer_ref is None
    received = pipeline.intake.notifications(1, 1)[0]
    assert received.occurred_at == RECEIVED and received.payload["source"] == "cfpb"
    with occurring_at(RECEIVED), pytest.raises(StateConflict):
        pipeline.intake.receive_complaint(imported(product="Mortgage"), ADMIN)
    assert pipeline.intake.head() == head


def test_only_an_admin_imports_and_only_an_import_is_anonymous(pipeline):
    with pytest.raises(Forbidden):
        pipeline.intake.receive_complaint(imported(), AGENT)
    with pytest.raises(InvalidCommand) as error:
        pipeline.intake.receive_complaint(api.ReceiveComplaint(
            channel="web", text="The fee is wrong"), AGENT)
    assert error.value.field == "body.customer"
    with pytest.raises(InvalidCommand) as error:
        pipeline.intake.receive_complaint(imported(external_ref=None), ADMIN)
    assert error.value.field == "body.external_ref"
    assert pipeline.intake.head() == 0


def test_a_customer_ref_is_a_pseudonym_never_the_data(pipeline):
    customer = {"name": "Zhang Wei", "email": "Zhang.Wei@example.com"}
    one = pipeline.intake.receive_complaint(api.ReceiveComplaint(
        channel="web", text="The fee is wrong", customer=customer), AGENT)
    two = pipeline.intake.receive_complaint(api.ReceiveComplaint(
        channel="phone", text="Still wrong", customer={**customer,
                                                       "email": "zhang.wei@EXAMPLE.com"}),
        AGENT)
    assert one.customer_ref and one.customer_ref == two.customer_ref
    assert len(one.customer_ref) == 64 and "zhang" not in one.customer_ref.lower()
    payloads = [e.payload for e in pipeline.intake.notifications(1, 100)
                if e.event_type == "complaint.received"]
    assert [p["customer_ref"] for p in payloads] == [one.customer_ref] * 2
    assert "example.com" not in str(payloads)


def lifecycle(pipeline, *, disputed, outcome="monetary_relief", timely=False, **fields):
    with occurring_at(RECEIVED):
        view = pipeline.intake.receive_complaint(imported(**fields), ADMIN)
    cid = view.complaint_id
    pipeline.flow()
    with occurring_at(SENT):
        case = pipeline.investigation.get_case(cid)
        if case.escalation_status == "pending":
            pipeline.investigation.take_escalation(cid, api.TakeEscalation(), ADMIN)
        pipeline.investigation.assign(cid, api.Assign(investigator="U.S. Bancorp"), ADMIN)
        pipeline.investigation.conclude(cid, api.Conclude(
            root_cause="not_determined", five_whys=[], responsible_department="U.S. Bancorp",
            summary="imported"), ADMIN)
        pipeline.flow()
        pipeline.resolution.respond(cid, api.Respond(outcome=outcome, message="as filed",
                                                     timely=timely), ADMIN)
        if disputed:
            pipeline.resolution.dispute(cid, api.Dispute(reason="disputed"), ADMIN)
        else:
            pipeline.resolution.accept(cid, api.Accept(), ADMIN)
            pipeline.resolution.close_case(cid, api.Close(), ADMIN)
        pipeline.flow()
    return cid


def test_an_imported_case_is_not_routed_and_its_escalation_is_taken_by_the_import(pipeline):
    with occurring_at(RECEIVED):
        cid = pipeline.intake.receive_complaint(imported(
            text="Issue: Taking/threatening an illegal action; Threatened to sue on too old "
                 "debt."), ADMIN).complaint_id
    pipeline.flow()
    case = pipeline.investigation.get_case(cid)
    assert case.investigator is None and case.status == "open"
    assert case.escalation_status == "pending" and case.opened_at == RECEIVED
    with occurring_at(SENT):
        taken = pipeline.investigation.take_escalation(cid, api.TakeEscalation(), ADMIN)
    assert taken.escalation_status == "taken" and taken.escalation_taken_by == "cfpb-import"


def test_the_import_rules_stay_closed_to_live_complaints(pipeline):
    cid = pipeline.intake.receive_complaint(api.ReceiveComplaint(
        channel="web", text="I was threatened with a lawsuit over the fee",
        customer={"name": "Li Lei"}), AGENT).complaint_id
    pipeline.flow()
    case = pipeline.investigation.get_case(cid)
    assert case.investigator is not None  # routed by open load
    with pytest.raises(Forbidden):
        pipeline.investigation.take_escalation(cid, api.TakeEscalation(), ADMIN)
    with pytest.raises(InvalidCommand) as error:
        pipeline.investigation.conclude(cid, api.Conclude(
            root_cause="not_determined", five_whys=[], responsible_department="Billing",
            summary="s"), SUPERVISOR)
    assert error.value.field == "body.root_cause"
    pipeline.investigation.conclude(cid, api.Conclude(
        root_cause="process", five_whys=["the fee table was wrong"],
        responsible_department="Billing", summary="s"), SUPERVISOR)
    pipeline.flow()
    for outcome in ("monetary_relief", "no_response"):
        with pytest.raises(InvalidCommand) as error:
            pipeline.resolution.respond(cid, api.Respond(outcome=outcome, message="m"),
                                        SUPERVISOR)
        assert error.value.field == "body.outcome"
    with pytest.raises(Forbidden):
        pipeline.resolution.respond(cid, api.Respond(outcome="explanation", message="m",
                                                     timely=True), SUPERVISOR)
    with pytest.raises(InvalidCommand) as error:
        pipeline.resolution.respond(cid, api.Respond(outcome="explanation", message="m",
                                                     timely=True), ADMIN)
    assert error.value.field == "body.timely"


def test_five_whys_may_be_empty_only_when_the_root_cause_is_not_determined():
    with pytest.raises(ValueError, match="at least one why"):
        api.Conclude(root_cause="process", five_whys=[], responsible_department="d",
                     summary="s")
    assert api.Conclude(root_cause="not_determined", five_whys=[],
                        responsible_department="d", summary="s").five_whys == []


def test_an_accepted_import_closes_without_a_follow_up_and_its_verdict_decides_first_reply(
        pipeline):
    cid = lifecycle(pipeline, disputed=False, timely=False)
    resolution = pipeline.resolution.get_resolution(cid)
    assert resolution.status == "closed" and resolution.outcome == "monetary_relief"
    assert resolution.closed_at == SENT and resolution.follow_up_due is None
    assert pipeline.resolution.list_follow_ups().follow_ups == []
    complaint = pipeline.intake.get_complaint(cid)
    # Replied within the 24 h deadline by our clock, but the source says: not timely.
    assert complaint.targets["first_reply"].status == "missed"
    assert complaint.targets["first_reply"].met_at == SENT
    met = [e.payload for e in pipeline.intake.notifications(1, 100)
           if e.event_type == "complaint.target_met" and e.payload["target"] == "first_reply"]
    assert [m["on_time"] for m in met] == [False]


def test_a_disputed_import_reopens_the_case_and_waits_there(pipeline):
    cid = lifecycle(pipeline, disputed=True, outcome="no_response", timely=True)
    assert pipeline.resolution.get_resolution(cid).status == "disputed"
    case = pipeline.investigation.get_case(cid)
    assert case.status == "investigating" and case.reopen_count == 1
    assert case.responsible_department == "U.S. Bancorp"
    assert pipeline.intake.get_complaint(cid).targets["first_reply"].status == "met"


def test_the_sla_timer_never_sweeps_an_imported_complaint(pipeline):
    with occurring_at(RECEIVED):
        cid = pipeline.intake.receive_complaint(imported(), ADMIN).complaint_id
    head = pipeline.intake.head()
    assert pipeline.intake.check_deadlines() == 0  # 2013 deadlines, 2026 clock
    assert pipeline.intake.head() == head
    assert pipeline.intake.get_complaint(cid).targets["first_reply"].status == "pending"
    assert pipeline.intake.triage_queue().complaints == []


def test_an_import_is_anonymous_yet_an_ordinary_complaint_needs_its_customer():
    assert api.ReceiveComplaint(channel="web", text="t").customer is None
    assert uuid.UUID(str(imported_complaint_id("cfpb", "1"))) == imported_complaint_id("cfpb",
                                                                                       "1")


def test_the_importer_acts_with_a_given_admin_token_else_mints_one():
    given = import_cfpb.Client({}, token="the-admin-token")
    assert given.identity() == {"Authorization": "Bearer the-admin-token"}
    minted = import_cfpb.Client({}).identity()["Authorization"]
    from servicekit import auth

    principal = auth.verify(minted.removeprefix("Bearer "))
    assert (principal.sub, principal.roles) == ("cfpb-import", ("admin",))
