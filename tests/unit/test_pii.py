"""Envelope encryption of personal data, pseudonyms, blind indexes and masking."""

import base64
import json
import uuid

import pytest

from servicekit import pii

MASTER = pii.parse_key(pii.generate_master_key())
CUSTOMER = {"name": "Zhang Wei", "phone": "+8613800138000", "email": "Zhang@Example.com",
            "customer_id": "C-10042", "address": "12 Nanjing Road"}


def vault(master=MASTER, store=None):
    return pii.Vault(master, store if store is not None else pii.MemoryKeyStore())


def test_round_trip_and_nothing_in_clear():
    v = vault()
    cid = uuid.uuid4()
    blob = v.seal(CUSTOMER, cid)
    assert set(blob) == {"key", "nonce", "ct"}
    text = json.dumps(blob)
    for value in CUSTOMER.values():
        assert value not in text and value.lower() not in text
    assert v.open(blob, cid) == CUSTOMER


def test_one_data_key_per_customer_and_none_for_nothing_personal():
    v = vault()
    first = v.seal(CUSTOMER, uuid.uuid4())
    again = v.seal({**CUSTOMER, "name": "Z. Wei", "email": "zhang@example.COM "}, uuid.uuid4())
    other = v.seal({"name": "Li Lei", "phone": "+8613900139000"}, uuid.uuid4())
    name_only = v.seal({"name": "Anonymous Lee"}, c := uuid.uuid4())
    assert first["key"] == again["key"] != other["key"]  # same customer id -> same key
    assert name_only["key"] not in (first["key"], other["key"])
    assert v.open(name_only, c) == {"name": "Anonymous Lee"}
    assert v.seal({"name": None, "phone": None}, uuid.uuid4()) is None
    assert v.open(None, uuid.uuid4()) == {}
    assert len(v.store.rows) == 3


def test_blob_is_bound_to_its_complaint():
    v = vault()
    blob = v.seal(CUSTOMER, uuid.uuid4())
    with pytest.raises(pii.PersonalDataError, match="does not open for this complaint"):
        v.open(blob, uuid.uuid4())


def test_wrong_master_key_fails_loudly_not_as_erased():
    store = pii.MemoryKeyStore()
    cid = uuid.uuid4()
    blob = vault(store=store).seal(CUSTOMER, cid)
    other = vault(pii.parse_key(pii.generate_master_key()), store)
    with pytest.raises(pii.PersonalDataError, match="wrong master key"):
        other.open(blob, cid)
    with pytest.raises(pii.PersonalDataError, match="wrong master key"):
        other.check()


def test_erasure_destroys_the_key_and_every_blob_of_that_customer():
    v = vault()
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    blob_a, blob_b = v.seal(CUSTOMER, a), v.seal(CUSTOMER, b)
    blob_c = v.seal({"name": "Li Lei", "email": "li@example.com"}, c)
    assert v.erase([blob_a["key"]]) == 1
    assert v.open(blob_a, a) is pii.ERASED_DATA and v.open(blob_b, b) is pii.ERASED_DATA
    assert v.open(blob_c, c)["name"] == "Li Lei"
    assert v.erase([blob_a["key"]]) == 0
    # The same customer complaining again gets a new key; the old blobs stay closed.
    again = v.seal(CUSTOMER, d := uuid.uuid4())
    assert again["key"] != blob_a["key"] and v.open(again, d) == CUSTOMER
    assert v.open(blob_a, a) is pii.ERASED_DATA


def test_pseudonym_and_blind_indexes_normalise_and_depend_on_the_key():
    key = b"k" * 32
    same = {"phone": "+86 138 0013 8000", "email": " ZHANG@example.com"}
    assert pii.blind_indexes(same, key) == pii.blind_indexes(
        {"phone": "+8613800138000", "email": "zhang@example.com"}, key)
    assert pii.blind_indexes(same, key) != pii.blind_indexes(same, b"j" * 32)
    assert pii.customer_ref({"customer_id": "C1", "email": "a@b.c"}, key) == \
        pii.customer_ref({"customer_id": " c1 "}, key)
    assert pii.customer_ref({"name": "only a name"}, key) is None
    assert "13800138000" not in "".join(pii.blind_indexes(same, key))


def test_master_key_must_be_32_bytes_of_base64():
    with pytest.raises(pii.PersonalDataError, match="PII_MASTER_KEY is not set"):
        pii.parse_key(None)
    with pytest.raises(pii.PersonalDataError, match="not valid base64"):
        pii.parse_key("not base64!")
    with pytest.raises(pii.PersonalDataError, match="32 bytes, not 16"):
        pii.parse_key(base64.b64encode(b"x" * 16).decode())


def test_masking():
    assert pii.mask_name("John Doe") == "J*** D**"
    assert pii.mask_name("张伟") == "张*"
    assert pii.mask_phone("+86 138 0013 1234") == "+86 *** **** 1234"
    assert pii.mask_phone("+8613800131234") == "+*********1234"
    assert pii.mask_email("john.doe@example.com") == "j***@example.com"
    assert pii.mask_id("C-100423") == "*****423"
    assert pii.masked({"address": "12 Nanjing Road", "phone": None}) == {
        "address": "***", "phone": None}


@pytest.mark.parametrize(("role", "assigned", "plain"), [
    ("agent", False, True), ("admin", False, True), ("privacy_officer", False, True),
    ("investigator", True, True), ("resolver", True, True),
    ("investigator", False, False), ("resolver", False, False),
    ("supervisor", True, False), ("quality_manager", False, False), (None, False, False),
])
def test_who_sees_what(role, assigned, plain):
    block = pii.shown(CUSTOMER, role, assigned)
    assert (block == CUSTOMER) is plain
    if not plain:
        assert not set(CUSTOMER.values()) & set(block.values())
    assert pii.shown(pii.ERASED_DATA, role, assigned) == pii.erased()


# --- intake: sealed in its events, shown by role, erasable -------------------------

from contracts import api  # noqa: E402
from contracts.envelope import Actor  # noqa: E402
from servicekit.errors import Forbidden, InvalidCommand, NotFound  # noqa: E402
from services.intake.application import IntakeApplication  # noqa: E402

AGENT = Actor(id="agent-7", role="agent")
QM = Actor(id="qm-1", role="quality_manager")
DPO = Actor(id="dpo-1", role="privacy_officer")
PERSON = {**CUSTOMER, "email": "zhang.wei@example.com"}
TEXT = "The waiter was rude and I waited an hour for my dinner"


@pytest.fixture
def intake():
    return IntakeApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def receive(app, customer=None, text=TEXT):
    return app.receive_complaint(api.ReceiveComplaint(
        channel="web", customer=customer or PERSON, text=text), AGENT)


def stored_bytes(app):
    return b"".join(n.state for n in app.recorder.select_notifications(start=1, limit=1000))


def test_intake_stores_only_the_sealed_blob_and_shows_the_customer_by_role(intake):
    view = receive(intake)
    assert view.customer == PERSON  # the agent who received it
    stored = stored_bytes(intake).lower()
    for value in PERSON.values():
        assert value.lower().encode() not in stored
    assert b'"ct"' in stored
    assert intake.get_complaint(view.complaint_id, QM).customer == pii.masked(PERSON)
    assert intake.get_complaint(view.complaint_id, None).customer == pii.masked(PERSON)
    block = intake.customer(view.complaint_id, "investigator", assigned=True)
    assert (block.customer, block.view) == (PERSON, "plain")
    assert intake.customer(view.complaint_id, "investigator").view == "masked"
    for envelope in intake.notifications(1, 100):
        text = envelope.model_dump_json().lower()
        assert not any(v.lower() in text for v in PERSON.values()), envelope.event_type


def test_duplicates_are_found_by_blind_index(intake):
    first = receive(intake)
    second = receive(intake, {"name": "Z W", "email": PERSON["email"].upper()}, TEXT + "!")
    assert second.possible_duplicate_of == first.complaint_id


def test_erasure_by_identifier_destroys_the_keys_records_who_and_stops_matching(intake):
    first = receive(intake)
    second = receive(intake, {"name": "Z W", "email": PERSON["email"]}, TEXT + "!")
    other = receive(intake, {"name": "Li Lei", "phone": "+8613900139000"}, "Rude staff")
    with pytest.raises(Forbidden):
        intake.erase_customer(api.EraseCustomer(email=PERSON["email"]), AGENT)
    with pytest.raises(InvalidCommand, match="exactly one"):
        intake.erase_customer(api.EraseCustomer(email=PERSON["email"],
                                                phone=PERSON["phone"]), DPO)
    with pytest.raises(NotFound) as missing:
        intake.erase_customer(api.EraseCustomer(email="nobody@example.com"), DPO)
    assert "nobody" not in str(missing.value)

    erasure = intake.erase_customer(api.EraseCustomer(email=PERSON["email"]), DPO)
    assert sorted(erasure.complaints) == sorted([first.complaint_id, second.complaint_id])
    assert erasure.keys_destroyed == 2 and erasure.erased_by == "dpo-1"
    for cid in erasure.complaints:
        assert intake.get_complaint(cid).customer == pii.erased()
        assert intake.customer(cid, "agent").view == "erased"
    assert intake.get_complaint(other.complaint_id).customer["name"] == "Li Lei"
    erased = [e for e in intake.notifications(1, 100) if e.event_type == "customer.erased"]
    assert len(erased) == 2 and {e.actor.id for e in erased} == {"dpo-1"}
    assert {e.complaint_id: e.payload["customer_ref"] for e in erased} == {
        first.complaint_id: first.customer_ref, second.complaint_id: second.customer_ref}
    assert {e.payload["complaints_affected"] for e in erased} == {2}

    again = intake.erase_customer(api.EraseCustomer(complaint_id=first.complaint_id), DPO)
    assert again.keys_destroyed == 0
    assert len([e for e in intake.notifications(1, 100)
                if e.event_type == "customer.erased"]) == 2  # nothing recorded twice
    fresh = receive(intake)
    assert fresh.possible_duplicate_of is None and fresh.customer == PERSON


def test_a_customer_recorded_before_encryption_is_never_shown_after_erasure(intake):
    # A store written before sealing existed holds the customer in clear: erasure has no
    # key to destroy there, but the customer must still read as erased everywhere.
    original = intake.vault.seal
    intake.vault.seal = lambda fields, complaint_id, *a, **k: dict(fields)
    try:
        old = receive(intake)
    finally:
        intake.vault.seal = original
    assert intake.customer(old.complaint_id, "agent").view == "plain"
    erasure = intake.erase_customer(api.EraseCustomer(complaint_id=old.complaint_id), DPO)
    assert erasure.keys_destroyed == 0 and erasure.complaints == [old.complaint_id]
    assert intake.get_complaint(old.complaint_id).customer == pii.erased()
    for role in ("agent", "quality_manager", "privacy_officer"):
        assert intake.customer(old.complaint_id, role).view == "erased"


def test_a_complaint_sealed_with_a_key_as_it_is_destroyed_is_recorded_as_erased(intake):
    first = receive(intake)
    destroy = intake.vault.erase

    def erase_while_another_arrives(keys):
        # Another greenthread receives a complaint from the same customer after the
        # erasure looked the keys up, before they are destroyed: same key, same person.
        late = receive(intake, PERSON, "Still waiting for an answer")
        erase_while_another_arrives.late = late.complaint_id
        return destroy(keys)

    intake.vault.erase = erase_while_another_arrives
    erasure = intake.erase_customer(api.EraseCustomer(complaint_id=first.complaint_id), DPO)
    late = erase_while_another_arrives.late
    assert sorted(erasure.complaints) == sorted([first.complaint_id, late])
    assert intake.customer(late, "agent").view == "erased"
    erased = {e.complaint_id for e in intake.notifications(1, 200)
              if e.event_type == "customer.erased"}
    assert erased == {first.complaint_id, late}
