"""Hostile input is harmless: every request text is cleaned in one place (the contract's
text types: CR LF -> LF, Unicode NFC, control characters / lone surrogates /
bidirectional overrides refused) before its length is counted; bodies are bounded UTF-8
JSON objects validated strictly; query strings name each parameter once. Every rejection
answers 422 naming the field and the problem — and stores nothing. Through the real
HTTP entrypoints (nameko's worker_factory on real in-memory applications)."""

from __future__ import annotations

import json
import os
import re
import typing
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nameko.testing.services import worker_factory
from pydantic import BaseModel, StringConstraints, ValidationError
from werkzeug.test import EnvironBuilder

from contracts import api
from servicekit.client import auth_headers
from servicekit.http import MAX_BODY_BYTES, MAX_JSON_DEPTH
from servicekit.runtime import Runtime
from services.intake.application import IntakeApplication
from services.intake.service import IntakeService
from services.investigation.application import InvestigationApplication
from services.investigation.service import InvestigationService
from services.resolution.application import ResolutionApplication
from services.resolution.service import ResolutionService

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
TEST_SECRET = "a-test-only-signing-key-of-more-than-32-bytes"


@pytest.fixture(autouse=True)
def _signing_key(monkeypatch):
    # tokens (when auth_headers issues them) and the services verify with the same key
    monkeypatch.setenv("AUTH_SECRET", os.environ.get("AUTH_SECRET") or TEST_SECRET)


def worker(service_cls, app_cls):
    return worker_factory(service_cls, runtime=Runtime(app_cls(env=POPO), None, {}))


def call(service, name, *, body: bytes | str | dict | None = None, role="agent",
         query: str = "", headers: dict | None = None, **path):
    data = json.dumps(body, ensure_ascii=False) if isinstance(body, dict) else body
    spec = getattr(type(service), name).endpoint_spec
    request = EnvironBuilder(method=spec["method"], path="/", query_string=query,
                             data=data, content_type="application/json",
                             headers={**auth_headers(f"{role}-1", role), **(headers or {})}
                             ).get_request()
    response = getattr(service, name)(request, **path)
    return response.status_code, json.loads(response.get_data())


def complaint(**changes):
    return {"channel": "web", "customer": {"name": "Test Person"},
            "text": "The staff at the counter were rude to me.", **changes}


@pytest.fixture
def intake():
    return worker(IntakeService, IntakeApplication)


def refused(intake, body, field: str, *, problem: str = "") -> dict:
    """POST /complaints answers 422 naming `field` (and `problem`), and stores nothing."""
    status, answer = call(intake, "receive_complaint", body=body)
    assert status == 422, answer
    named = {f["field"]: f["problem"] for f in answer["fields"]}
    assert field in named, (field, answer)
    assert problem in named[field], (problem, named[field])
    assert intake.runtime.app.head() == 0, "a rejected request stored events"
    return named


# --- normalisation: stored as NFC, lengths counted after it ------------------------------


def test_a_decomposed_accent_is_stored_composed(intake):
    status, answer = call(intake, "receive_complaint", body=complaint(
        customer={"name": "Rene\u0301e Zoe\u0301"},
        text="Le cafe\u0301 e\u0301tait froid.\r\nThe coffee was cold.\tAgain."))
    assert status == 201, answer
    stored = intake.runtime.app.get_complaint(uuid.UUID(answer["complaint_id"]))
    assert stored.customer["name"] == "Ren\u00e9e Zo\u00e9"
    assert stored.text == "Le caf\u00e9 \u00e9tait froid.\nThe coffee was cold.\tAgain."
    assert "\u0301" not in json.dumps(answer, ensure_ascii=False)


def test_length_is_counted_after_normalisation(intake):
    # 5000 characters once composed (10000 code points as sent): accepted
    status, answer = call(intake, "receive_complaint", body=complaint(text="e\u0301" * 5000))
    assert status == 201, answer
    assert len(intake.runtime.app.get_complaint(uuid.UUID(answer["complaint_id"])).text) == 5000


def test_a_text_one_character_too_long_is_422_and_stores_nothing(intake):
    refused(intake, complaint(text="x" * 5001), "body.text", problem="at most 5000")
    refused(intake, complaint(text="e\u0301" * 5001), "body.text", problem="at most 5000")
    refused(intake, complaint(customer={"name": "n" * 201}), "body.customer.name")


def test_a_blank_text_is_422(intake):
    refused(intake, complaint(text=" \n\t\u3000 "), "body.text")


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\u202e", "\u2066"])
def test_control_characters_are_422_naming_the_code_point_and_store_nothing(intake, char):
    named = refused(intake, complaint(text=f"rude staff{char}here"), "body.text",
                    problem=f"U+{ord(char):04X}")
    assert "newline and tab" in named["body.text"]
    refused(intake, complaint(customer={"name": f"A{char}B"}), "body.customer.name")


def test_a_control_character_in_a_list_item_names_its_index():
    conclude = {"root_cause": "people", "five_whys": ["fine", "bell\x07"],
                "responsible_department": "Retail", "summary": "s"}
    with pytest.raises(ValidationError) as caught:
        api.Conclude.model_validate(conclude)
    assert [e["loc"] for e in caught.value.errors()] == [("five_whys", 1)]


def test_a_lone_surrogate_is_422_naming_the_field(intake):
    raw = json.dumps(complaint(text="broken \ud800 text"))  # ascii: "\\ud800" escape
    assert "\\ud800" in raw
    refused(intake, raw, "body.text", problem="lone surrogate")
    raw = json.dumps(complaint(customer={"name": "A\udfffB"}))
    refused(intake, raw, "body.customer.name", problem="U+DFFF")
    # a well-formed pair is one character (an emoji), accepted
    status, _ = call(intake, "receive_complaint", body=json.dumps(complaint(
        text="rude staff \ud83d\ude20")))
    assert status == 201


def test_invalid_utf8_is_422(intake):
    refused(intake, b'{"channel": "web", "text": "\xff\xfe"}', "body", problem="not UTF-8")
    refused(intake, "\ufeff" + json.dumps(complaint()), "body", problem="malformed JSON")


# --- structure: unknown fields, strict types and enums, JSON limits ------------------------


def test_an_unknown_field_is_422_naming_it(intake):
    refused(intake, complaint(priority="urgent"), "body.priority", problem="not permitted")
    refused(intake, complaint(customer={"name": "A", "vip": True}), "body.customer.vip")


@pytest.mark.parametrize(("changes", "field"), [
    ({"channel": "WEB"}, "body.channel"),
    ({"channel": " web"}, "body.channel"),
    ({"channel": 1}, "body.channel"),
    ({"language": "english"}, "body.language"),
    ({"text": 42}, "body.text"),
    ({"text": ["a list"]}, "body.text"),
    ({"happened_at": 1700000000}, "body.happened_at"),
])
def test_enums_and_types_are_strict(intake, changes, field):
    refused(intake, complaint(**changes), field)


def test_numbers_and_booleans_are_not_coerced_from_text():
    service = worker(ResolutionService, ResolutionApplication)
    some_id = str(uuid.uuid4())
    for body, field in [({"satisfaction": "4", "solved": True}, "body.satisfaction"),
                        ({"satisfaction": 4.5, "solved": True}, "body.satisfaction"),
                        ({"satisfaction": 4, "solved": "yes"}, "body.solved"),
                        ({"satisfaction": 4, "solved": 1}, "body.solved")]:
        status, answer = call(service, "follow_up", body=body, role="resolver",
                              complaint_id=some_id)
        assert status == 422, (body, answer)
        assert field in [f["field"] for f in answer["fields"]], (body, answer)
    assert service.runtime.app.head() == 0


@pytest.mark.parametrize(("raw", "problem"), [
    ('{"channel": "web", "channel": "email"}', '"channel" appears more than once'),
    ('{"customer": {"name": "A", "name": "B"}}', '"name" appears more than once'),
    ('{"amount": NaN}', "NaN is not a JSON number"),
    ('{"amount": -Infinity}', "-Infinity is not a JSON number"),
    ('["a", "list"]', "must be a JSON object"),
    ('"text"', "must be a JSON object"),
    ("null", "must be a JSON object"),
    ('{"channel": "web"', "malformed JSON"),
    ('{"n": 1' + "0" * 5000 + "}", "malformed JSON"),
])
def test_malformed_or_ambiguous_json_is_422(intake, raw, problem):
    refused(intake, raw, "body", problem=problem)


def test_json_nesting_is_limited(intake):
    def nested(depth):  # an object `depth` levels deep, as an unknown field
        value: typing.Any = 1
        for _ in range(depth - 1):
            value = {"x": value}
        return value

    refused(intake, complaint(extra=nested(MAX_JSON_DEPTH - 1)), "body.extra",
            problem="not permitted")  # within the limit: the model names the field
    refused(intake, complaint(extra=nested(MAX_JSON_DEPTH)), "body", problem="nested deeper")
    refused(intake, "[" * 100_000 + "]" * 100_000, "body")


def test_a_body_over_the_limit_is_422_and_a_large_declared_length_is_refused_unread(intake):
    refused(intake, complaint(text="y" * MAX_BODY_BYTES), "body",
            problem=f"larger than {MAX_BODY_BYTES} bytes")

    class Unreadable:
        def read(self, *_):
            raise AssertionError("the body was read")

        readline = readlines = read

    spec = IntakeService.receive_complaint.endpoint_spec
    request = EnvironBuilder(method=spec["method"], path="/", headers=auth_headers(
        "agent-1", "agent"), content_type="application/json",
        environ_overrides={"wsgi.input": Unreadable(), "CONTENT_LENGTH": str(10**9)}
    ).get_request()
    response = intake.receive_complaint(request)
    assert response.status_code == 422
    assert json.loads(response.get_data())["fields"][0]["field"] == "body"
    assert intake.runtime.app.head() == 0


# --- query strings ------------------------------------------------------------------------


@pytest.fixture
def investigation():
    return worker(InvestigationService, InvestigationApplication)


@pytest.mark.parametrize(("query", "field", "problem"), [
    ("status=open&status=concluded", "query.status", "more than once"),
    ("colour=red", "query.colour", "not permitted"),
    ("status=OPEN", "query.status", "Input should be"),
    ("assignee=inv%00one", "query.assignee", "U+0000"),
    ("assignee=" + "a" * 101, "query.assignee", "at most 100"),
    ("assignee=%20%20", "query.assignee", "at least 1"),
])
def test_query_parameters_are_validated_like_bodies(investigation, query, field, problem):
    status, answer = call(investigation, "list_cases", role="supervisor", query=query)
    assert status == 422, (query, answer)
    named = {f["field"]: f["problem"] for f in answer["fields"]}
    assert problem in named.get(field, ""), (query, answer)
    assert investigation.runtime.app.head() == 0


def test_a_query_text_is_normalised(investigation):
    status, answer = call(investigation, "list_cases", role="supervisor",
                          query="assignee=Rene%CC%81e")
    assert status == 200, answer  # (nobody by that name: an empty list)


def test_an_endpoint_without_query_parameters_refuses_them(intake):
    status, answer = call(intake, "get_complaint", query="debug=1",
                          complaint_id=str(uuid.uuid4()))
    assert status == 422, answer
    assert answer["fields"] == [{"field": "query.debug",
                                 "problem": "this endpoint takes no query parameters"}]


# --- the one place: every text of every request model is cleaned --------------------------


def _request_models() -> list[type[BaseModel]]:
    found, todo = [], [api.Request]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [m for m in found if m.__module__ == api.__name__ and m is not api.Request]


def _uncleaned_strings(annotation: typing.Any) -> list[str]:
    """The `str`s inside an annotation that are neither cleaned text (CleanText) nor
    constrained by a pattern."""
    if annotation is str:
        return ["str"]
    if typing.get_origin(annotation) is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        if base is str:
            cleaned = any(m is api.CleanText for m in metadata)
            patterned = any(isinstance(m, StringConstraints) and m.pattern for m in metadata)
            return [] if cleaned or patterned else [repr(annotation)]
        return _uncleaned_strings(base)
    return [s for arg in typing.get_args(annotation) for s in _uncleaned_strings(arg)]


def test_every_text_field_of_every_request_model_goes_through_clean_text():
    models = _request_models()
    assert len(models) >= 30
    bare = {f"{m.__name__}.{name}": problems for m in models
            for name, field in m.model_fields.items()
            if (problems := _uncleaned_strings(
                typing.Annotated[(field.annotation, *field.metadata)]
                if field.metadata else field.annotation))}
    assert bare == {}, "use a Text*/Reason type (contracts.api) for these: " + str(bare)


def test_every_request_model_forbids_unknown_fields():
    assert all(m.model_config.get("extra") == "forbid" for m in _request_models())


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=40) | st.text(st.sampled_from(" \t\r\n\x00\x1f\x85\u3000\u202ee\u0301a"),
                                      max_size=6))
def test_the_documented_text_pattern_says_exactly_which_texts_are_accepted(text):
    documented = re.fullmatch(api.TEXT_PATTERN, text) is not None
    try:
        api.Customer.model_validate({"name": text})
        accepted = True
    except ValidationError:
        accepted = False
    assert documented == accepted, repr(text)


def test_a_chunked_body_is_refused_rather_than_read_as_empty(intake):
    spec = IntakeService.receive_complaint.endpoint_spec
    request = EnvironBuilder(method=spec["method"], path="/", content_type="application/json",
                             headers={**auth_headers("agent-1", "agent"),
                                      "Transfer-Encoding": "chunked"}).get_request()
    response = intake.receive_complaint(request)
    assert response.status_code == 422
    assert "not chunked" in json.loads(response.get_data())["fields"][0]["problem"]
    assert intake.runtime.app.head() == 0


# --- the OpenAPI documents say exactly this ----------------------------------------------


def _documents():
    from servicekit.http import openapi_document
    from services.reporting.service import ReportingService
    return [openapi_document(cls, cls.name) for cls in
            (IntakeService, InvestigationService, ResolutionService, ReportingService)]


def test_error_bodies_are_documented_per_status():
    for document in _documents():
        for path, item in document["paths"].items():
            for method, operation in item.items():
                responses = operation["responses"]
                assert "422" in responses, (method, path)  # any unexpected query parameter
                invalid = responses["422"]["content"]["application/json"]["schema"]
                assert invalid["allOf"][1]["required"] == ["fields"], (method, path)
                if method == "post":
                    conflict = responses["409"]["content"]["application/json"]["schema"]
                    assert conflict["allOf"][1]["required"] == ["state", "allowed_actions"]
                    assert "404" in responses, (method, path)
                else:
                    assert "409" not in responses, (method, path)
                if "{" in path:
                    assert "404" in responses, (method, path)


def test_optional_query_parameters_are_documented_without_null():
    for document in _documents():
        for item in document["paths"].values():
            for operation in item.values():
                for parameter in operation["parameters"]:
                    if parameter["in"] == "query":
                        text = json.dumps(parameter["schema"])
                        assert '"null"' not in text and "default" not in text, parameter


@pytest.mark.parametrize("value", ["x" * 101, "a b", "id;drop", "caf\u00e9"])
def test_a_malformed_correlation_id_is_422_and_stores_nothing(intake, value):
    status, answer = call(intake, "receive_complaint", body=complaint(),
                          headers={"X-Correlation-Id": value.encode().decode("latin-1")})
    assert status == 422, answer
    assert answer["fields"][0]["field"] == "header.X-Correlation-Id"
    assert intake.runtime.app.head() == 0


def test_a_well_formed_correlation_id_is_kept(intake):
    status, answer = call(intake, "receive_complaint", body=complaint(),
                          headers={"X-Correlation-Id": "import-2026/11:run=3"})
    assert status == 201, answer
    assert {e.correlation_id for e in intake.runtime.app.notifications(1, 10)} == {
        "import-2026/11:run=3"}


def test_an_integral_number_is_an_integer_as_json_schema_says():
    # found by the fuzzer: 4.0 is a JSON Schema integer, and strict validation refused it
    follow_up = api.FollowUp.model_validate_json('{"satisfaction": 4.0, "solved": true}',
                                                 strict=True)
    assert follow_up.satisfaction == 4 and type(follow_up.satisfaction) is int
    for bad in ('"4"', "4.5", "true"):
        with pytest.raises(ValidationError):
            api.FollowUp.model_validate_json(f'{{"satisfaction": {bad}, "solved": true}}',
                                             strict=True)


def test_query_parameters_are_documented_required_exactly_when_the_model_requires_them():
    from servicekit.http import vars_all
    from services.reporting.service import ReportingService
    for cls, document in zip((IntakeService, InvestigationService, ResolutionService,
                              ReportingService), _documents(), strict=True):
        for member in vars_all(cls):
            spec = member.endpoint_spec
            if spec["query"] is None:
                continue
            path = re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", spec["path"])
            documented = {p["name"]: p["required"] for p in
                          document["paths"][path][spec["method"].lower()]["parameters"]
                          if p["in"] == "query"}
            fields = spec["query"].model_fields
            assert documented == {f.alias or n: f.is_required() for n, f in fields.items()}


def test_the_documented_currencies_are_exactly_the_accepted_ones():
    documented = api.Respond.model_json_schema()["properties"]["currency"]["anyOf"][0]["enum"]
    assert "CNY" in documented and "XAU" not in documented
    for code in documented:
        api.Respond(outcome="refund", message="m", amount="1.00", currency=code)
