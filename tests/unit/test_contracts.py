"""The contracts between services: event payloads, the envelope, upcasting, HTTP models."""

import json
import subprocess
import sys
import unicodedata
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from contracts import api
from contracts import envelope as envelope_module
from contracts.envelope import (
    Actor,
    Envelope,
    event_id_for,
    make_envelope,
    parse_payload,
    payload,
    payload_model,
    registered_event_types,
    upcaster,
)
from services.intake import sla
from services.intake.application import IntakeApplication
from services.investigation.application import InvestigationApplication
from services.resolution.application import ResolutionApplication

ROOT = Path(__file__).parents[2]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DEADLINES = sla.deadlines(T0, "email", "normal")
PERSONAL_DATA = {"name", "phone", "email", "customer_id", "customer"}

SAMPLES = {
    "complaint.received": {
        "channel": "email", "language": "zh", "text": "服务员态度很差", "product": "会员卡",
        "location": "Store 12", "customer_request": "道歉", "happened_at": T0 - timedelta(days=1),
        "received_at": T0},
    "complaint.classified": {
        "channel": "email", "type": "complaint", "category": "service_attitude",
        "severity": "normal", "matched_rules": ["cat.attitude.zh"], "ruleset_version": "r1",
        "deadlines": DEADLINES},
    "complaint.acknowledged": {"language": "en", "message": "We have received it",
                               "deadlines": DEADLINES},
    "complaint.reclassified": {
        "type": "complaint", "category": "safety", "severity": "critical",
        "previous_type": "complaint", "previous_category": "service_attitude",
        "previous_severity": "normal", "reason": "customer was hurt", "deadlines": DEADLINES},
    "case.opened": {"team": "safety", "category": "safety", "severity": "critical"},
    "case.escalated": {"reason": "severity critical"},
    "case.assigned": {"investigator": "li.na", "previous_investigator": None, "reason": None},
    "case.reclassified": {"category": "billing", "severity": "high", "team": "finance"},
    "case.finding_recorded": {"kind": "evidence", "text": "CCTV footage"},
    "case.concluded": {
        "root_cause": "people", "five_whys": ["rude", "tired", "understaffed"],
        "responsible_department": "Store 12",
        "corrective_actions": [{"action": "training", "owner": "hr",
                                "due_date": date(2026, 12, 1)}],
        "summary": "staff training needed", "conclusion_number": 1},
    "case.reopened": {"reason": "disputed", "reopen_count": 1},
    "resolution.opened": {},
    "resolution.registered": {"type": "complaint", "channel": "email",
                              "requires_investigation": True},
    "resolution.ready": {"reason": "the investigation concluded"},
    "resolution.responded": {"outcome": "monetary_compensation", "message": "sorry",
                             "amount": Decimal("88.80"), "currency": "CNY", "channel": "email",
                             "response_number": 1},
    "resolution.accepted": {"comment": None},
    "resolution.disputed": {"reason": "too little", "dispute_count": 1},
    "resolution.closed": {"outcome": "monetary_compensation", "note": None},
    "resolution.followed_up": {"satisfaction": 5, "solved": True, "comment": "thanks"},
    "complaint.deadlines_set": {"policy_version": "2026.11-1", "reason": "classified",
                                "targets": {"first_reply": {"deadline": T0, "warn_at": T0,
                                                            "clock": "calendar"}}},
    "complaint.clock_paused": {"reason": "waiting for the customer"},
    "customer.erased": {"customer_ref": "9f2c" * 16, "complaints_affected": 2},
    "complaint.classification_confirmed": {"reason": "the agent agrees"},
    "complaint.possible_duplicate": {"earlier_complaint_id": str(uuid.UUID(int=3)),
                                     "similarity": 0.82},
    "complaint.merged": {"into_complaint_id": str(uuid.UUID(int=3)), "reason": "same parcel"},
    "complaint.duplicate_absorbed": {"duplicate_complaint_id": str(uuid.UUID(int=4))},
    "complaint.duplicate_dismissed": {"reason": "a second visit"},
    "complaint.clock_resumed": {"reason": "photos received",
                                "paused_seconds": {"calendar": 60.0, "working": 0.0}},
    "complaint.deadline_warned": {"target": "resolve", "deadline": T0, "warned_at": T0},
    "complaint.target_met": {"target": "first_reply", "deadline": T0, "met_at": T0,
                             "on_time": True, "step": "a response was sent"},
    "complaint.deadline_breached": {"target": "first_reply", "deadline": T0,
                                    "breached_at": T0 + timedelta(minutes=1)},
    "case.escalation_taken": {"supervisor": "sup-1", "note": None},
    "case.consultation_requested": {"consultation_id": "c1", "department": "legal",
                                    "question": "Is the contract clause valid?"},
    "case.consultation_answered": {"consultation_id": "c1", "department": "legal",
                                   "findings": "It is not"},
    "corrective_action.opened": {"action_id": str(uuid.UUID(int=7)), "root_cause": "process",
                                 "responsible_department": "ops", "action": "new rota",
                                 "owner": "ops-lead", "due_date": date(2026, 12, 1)},
    "corrective_action.done": {"action_id": str(uuid.UUID(int=7)), "evidence": "rota live"},
    "corrective_action.verified": {"action_id": str(uuid.UUID(int=7)), "effective": True,
                                   "note": None},
    "resolution.remedy_proposed": {"outcome": "refund", "message": "m", "amount": "2000.00",
                                   "currency": "CNY", "threshold": "1000"},
    "resolution.remedy_approved": {"note": None},
    "resolution.remedy_rejected": {"reason": "too much"},
    "resolution.reopened": {"reason": "not solved", "reopen_count": 1},
    "backlog.item_added": {"text": "Add a kids menu", "category": "other", "product": None},
    "backlog.status_changed": {"status": "planned", "note": "Q1"},
    "praise.recorded": {"staff_member": "wang.fang", "text": "Very kind"},
}


def envelope_for(event: BaseModel, position: int = 1) -> Envelope:
    complaint_id = uuid.UUID("0b6f7d2e-6f5c-4b43-9d3b-6a1e2f9c0d11")
    return make_envelope(
        event=event, complaint_id=complaint_id, origin_service="intake",
        origin_position=position, aggregate_id=complaint_id, aggregate_version=position,
        occurred_at=T0, recorded_at=T0 + timedelta(seconds=1),
        actor=Actor(id="agent-7", role="agent"), correlation_id="corr-1")


def property_names(schema) -> set[str]:
    """Every property name anywhere in a JSON schema (nested models and $defs too)."""
    names: set[str] = set()
    if isinstance(schema, dict):
        names |= set(schema.get("properties", {}))
        for value in schema.values():
            names |= property_names(value)
    elif isinstance(schema, list):
        for value in schema:
            names |= property_names(value)
    return names


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made in a test vanish after it."""
    monkeypatch.setattr(envelope_module, "_PAYLOADS", dict(envelope_module._PAYLOADS))
    monkeypatch.setattr(envelope_module, "_UPCASTERS", dict(envelope_module._UPCASTERS))


# --- the registry -------------------------------------------------------------------


def test_every_registered_event_type_has_a_payload_model():
    registered = registered_event_types()
    assert set(registered) == set(SAMPLES)
    for event_type, (version, model) in registered.items():
        assert version >= 1
        assert issubclass(model, BaseModel)
        assert payload_model(event_type) is model
        assert model.event_type == event_type
        assert model.schema_version == version




def test_every_event_a_service_publishes_is_registered_and_every_registered_one_published():
    published = {model.event_type for app in (IntakeApplication, InvestigationApplication,
                                              ResolutionApplication)
                 for model in app.public_events.values()}
    assert published == set(registered_event_types())


def test_an_event_type_cannot_be_registered_twice(scratch_registry):
    with pytest.raises(ValueError, match="registered twice"):
        @payload("complaint.received")
        class Again(BaseModel):
            pass


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_every_envelope_round_trips_through_json(event_type):
    event = payload_model(event_type)(**SAMPLES[event_type])
    sent = envelope_for(event)
    wire = sent.model_dump_json()
    received = Envelope.model_validate_json(wire)
    assert received == sent
    assert received.parsed() == event
    assert Envelope.model_validate(json.loads(json.dumps(sent.model_dump(mode="json")))) == sent
    assert received.routing_key == f"intake.{event_type}"


def test_money_crosses_the_wire_as_an_exact_string():
    event = payload_model("resolution.responded")(**SAMPLES["resolution.responded"])
    wire = json.loads(envelope_for(event).model_dump_json())
    assert wire["payload"]["amount"] == "88.80"
    assert Envelope.model_validate(wire).parsed().amount == Decimal("88.80")


def test_republishing_the_same_stored_event_gives_the_same_event_id():
    aggregate = uuid.uuid4()
    assert event_id_for("intake", aggregate, 3) == event_id_for("intake", aggregate, 3)
    assert event_id_for("intake", aggregate, 3) != event_id_for("intake", aggregate, 4)
    assert event_id_for("intake", aggregate, 3) != event_id_for("resolution", aggregate, 3)


def test_an_envelope_rejects_unknown_fields_naive_times_and_position_zero():
    good = envelope_for(payload_model("case.escalated")(reason="x")).model_dump(mode="json")
    Envelope.model_validate(good)
    for bad in ({**good, "extra": 1}, {**good, "origin_position": 0},
                {**good, "occurred_at": "2026-11-02T09:00:00"}, {**good, "schema_version": 0}):
        with pytest.raises(ValidationError):
            Envelope.model_validate(bad)


def test_a_payload_that_breaks_its_contract_is_refused_when_read():
    env = envelope_for(payload_model("resolution.followed_up")(satisfaction=3, solved=True,
                                                               comment=None))
    broken = env.model_copy(update={"payload": {**env.payload, "satisfaction": 9}})
    with pytest.raises(ValidationError):
        broken.parsed()


# --- versions -----------------------------------------------------------------------


def test_an_upcaster_turns_a_v1_payload_into_v2(scratch_registry):
    @payload("test.upcast", version=2)
    class UpcastV2(BaseModel):
        full_text: str
        language: str

    @upcaster("test.upcast", from_version=1)
    def v1_to_v2(data):
        return {"full_text": data.pop("text"), "language": "en"}

    old = Envelope(
        event_id=uuid.uuid4(), event_type="test.upcast", schema_version=1,
        complaint_id=uuid.uuid4(), origin_service="intake", origin_position=1,
        occurred_at=T0, recorded_at=T0, actor=Actor(id="a", role="agent"),
        correlation_id="c", payload={"text": "old shape"})
    parsed = old.parsed()
    assert isinstance(parsed, UpcastV2)
    assert parsed == UpcastV2(full_text="old shape", language="en")
    assert old.payload == {"text": "old shape"}  # the stored payload is untouched
    current = parse_payload("test.upcast", 2, {"full_text": "new", "language": "zh"})
    assert current == UpcastV2(full_text="new", language="zh")


def test_upcasters_chain_from_any_old_version_to_the_current_one(scratch_registry):
    @payload("test.upcast", version=3)
    class UpcastV3(BaseModel):
        text: str
        words: int

    upcaster("test.upcast", 1)(lambda d: {"text": d["t"]})
    upcaster("test.upcast", 2)(lambda d: {**d, "words": len(d["text"].split())})
    assert parse_payload("test.upcast", 1, {"t": "a b c"}) == UpcastV3(text="a b c", words=3)
    assert parse_payload("test.upcast", 2, {"text": "a b"}) == UpcastV3(text="a b", words=2)


def test_a_payload_newer_than_the_reader_or_of_an_unknown_type_is_refused():
    with pytest.raises(ValueError, match="newer than this reader"):
        parse_payload("case.escalated", 2, {"reason": "x"})
    with pytest.raises(ValueError, match="unknown event type"):
        parse_payload("test.never-registered", 1, {})


# --- personal data --------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_no_event_payload_carries_personal_data(event_type):
    schema = payload_model(event_type).model_json_schema()
    assert property_names(schema) & PERSONAL_DATA == set()


def test_the_envelope_carries_no_personal_data():
    assert property_names(Envelope.model_json_schema()) & PERSONAL_DATA == set()


def test_the_personal_data_check_would_notice_a_customer_field():
    assert {"name", "phone", "email", "customer_id"} <= property_names(
        api.ReceiveComplaint.model_json_schema())


# --- HTTP request models ----------------------------------------------------------------


def receive(**changes):
    body = {"channel": "phone", "customer": {"name": "Zhang Wei"}, "text": "rude staff"}
    body.update(changes)
    return api.ReceiveComplaint.model_validate(body)


def test_a_well_formed_complaint_is_accepted_and_trimmed():
    request = receive(text="  rude staff  ", customer={
        "name": "Zhang Wei", "phone": "+86 138 0013 8000", "email": "zhang.wei@example.com",
        "customer_id": "C-1"})
    assert request.text == "rude staff"
    assert request.customer.phone == "+8613800138000"
    assert request.customer.email == "zhang.wei@example.com"


@pytest.mark.parametrize("body", [
    {"priority": "high"},
    {"customer": {"name": "Zhang Wei", "vip": True}},
])
def test_requests_reject_unknown_fields(body):
    with pytest.raises(ValidationError, match="(?i)extra"):
        receive(**body)


def test_other_requests_reject_unknown_fields_too():
    with pytest.raises(ValidationError):
        api.Assign.model_validate({"investigator": "li.na", "team": "finance"})
    with pytest.raises(ValidationError):
        api.Respond.model_validate({"outcome": "apology", "message": "sorry", "urgent": True})
    with pytest.raises(ValidationError):
        api.FollowUp.model_validate({"satisfaction": 4, "solved": True, "nps": 9})


def test_text_is_bounded():
    receive(text="x" * 5000)
    with pytest.raises(ValidationError):
        receive(text="x" * 5001)
    with pytest.raises(ValidationError):
        receive(text="   ")
    with pytest.raises(ValidationError):
        receive(product="p" * 201)
    with pytest.raises(ValidationError):
        receive(customer={"name": "n" * 201})
    with pytest.raises(ValidationError):
        api.RecordFinding(text="f" * 5001)


_VISIBLE = st.characters(blacklist_categories=("Z", "C"))


@given(st.text(max_size=50), _VISIBLE, st.integers(5001, 8000))
def test_no_oversized_complaint_text_gets_through(prefix, fill, length):
    with pytest.raises(ValidationError):
        receive(text=prefix + fill * length)


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=300)
       .filter(lambda t: t.strip() and not api.REFUSED_CHARACTER.search(t)))
def test_any_text_within_the_bound_is_accepted_as_written(text):
    # as written, in Unicode normal form C (contracts.api.clean_text)
    assert receive(text=text).text == unicodedata.normalize("NFC", text).strip()


@pytest.mark.parametrize("phone", ["+86 138 0013 8000", "+8613800138000", "+1 202 555 0100",
                                   "+44 20 7946 0958"])
def test_international_phone_numbers_are_accepted_in_e164(phone):
    number = receive(customer={"name": "A", "phone": phone}).customer.phone
    assert number.startswith("+") and " " not in number


@pytest.mark.parametrize("phone", ["138 0013 8000", "+86 123", "call me", "+999 1234 5678",
                                   "+86 138 0013 8000 ext 99999999999999999999999999999999"])
def test_phone_numbers_must_be_international_and_valid(phone):
    with pytest.raises(ValidationError, match="phone"):
        receive(customer={"name": "A", "phone": phone})


@pytest.mark.parametrize("email", ["not-an-email", "zhang@", "@example.com",
                                   "zhang@@example.com", "zhang wei@example.com"])
def test_bad_email_addresses_are_refused(email):
    with pytest.raises(ValidationError):
        receive(customer={"name": "A", "email": email})


def respond(**body):
    return api.Respond.model_validate({"message": "resolved", **body})


@pytest.mark.parametrize("currency", ["CNY", "USD", "EUR", "JPY"])
def test_iso_currencies_are_accepted(currency):
    assert respond(outcome="refund", amount="10.00", currency=currency).currency == currency


@pytest.mark.parametrize("currency", ["usd", "RMB", "ABC", "US$", "EURO", ""])
def test_bad_currencies_are_refused(currency):
    with pytest.raises(ValidationError):
        respond(outcome="refund", amount="10.00", currency=currency)


def test_monetary_compensation_needs_an_amount_and_a_currency():
    with pytest.raises(ValidationError, match="needs an amount"):
        respond(outcome="monetary_compensation")
    with pytest.raises(ValidationError, match="go together"):
        respond(outcome="monetary_compensation", amount="100.00")
    with pytest.raises(ValidationError, match="go together"):
        respond(outcome="refund", currency="CNY")
    ok = respond(outcome="monetary_compensation", amount="100.50", currency="CNY")
    assert ok.amount == Decimal("100.50")
    assert isinstance(ok.amount, Decimal)


@pytest.mark.parametrize("outcome", ["apology", "explanation", "repair", "replacement",
                                     "non_monetary_relief", "no_action"])
def test_an_amount_is_refused_for_an_outcome_that_is_not_about_money(outcome):
    respond(outcome=outcome)
    with pytest.raises(ValidationError, match="only for"):
        respond(outcome=outcome, amount="20.00", currency="CNY")


@pytest.mark.parametrize("amount", ["0", "-5.00", "1.005", "123456789012345.00"])
def test_amounts_are_positive_with_at_most_two_decimals(amount):
    with pytest.raises(ValidationError):
        respond(outcome="refund", amount=amount, currency="CNY")


def test_other_request_rules():
    with pytest.raises(ValidationError):
        api.FollowUp(satisfaction=0, solved=True)
    with pytest.raises(ValidationError):
        api.FollowUp(satisfaction=6, solved=True)
    conclusion = {"root_cause": "people", "responsible_department": "Store", "summary": "s"}
    with pytest.raises(ValidationError):
        api.Conclude(five_whys=[], **conclusion)
    with pytest.raises(ValidationError):
        api.Conclude(five_whys=["why"] * 6, **conclusion)
    with pytest.raises(ValidationError):
        api.Conclude(five_whys=["why"], root_cause="weather", **{
            k: v for k, v in conclusion.items() if k != "root_cause"})
    with pytest.raises(ValidationError, match="after"):
        api.SummaryQuery.model_validate({"from": "2026-12-01", "to": "2026-11-01"})
    assert api.SummaryQuery.model_validate({"from": "2026-11-01"}).from_ == date(2026, 11, 1)


# --- the published schemas ---------------------------------------------------------------


def test_python_m_contracts_prints_every_schema_as_json():
    done = subprocess.run([sys.executable, "-m", "contracts"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    schemas = json.loads(done.stdout)
    for event_type, (version, _) in registered_event_types().items():
        assert schemas[f"event:{event_type}:v{version}"]["type"] == "object"
    assert len([k for k in schemas if k.startswith("event:")]) == len(SAMPLES)
    assert "payload" in schemas["envelope"]["properties"]
    for model in ("ReceiveComplaint", "Respond", "Conclude", "ComplaintView", "SummaryReport"):
        assert f"http:{model}" in schemas


@pytest.mark.parametrize("code", ["XXX", "XAU", "XTS"])
def test_codes_that_are_not_money_are_refused_as_a_currency(code):
    with pytest.raises(ValidationError, match="currency"):
        api.Respond(outcome="refund", message="m", amount="1.00", currency=code)


def test_a_real_currency_is_accepted():
    assert api.Respond(outcome="refund", message="m", amount="1.00", currency="XOF").currency \
        == "XOF"
