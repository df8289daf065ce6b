"""HTTP request and response models of the four services (the OpenAPI documents are
generated from these). Requests forbid unknown fields and bound every text."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

import phonenumbers
import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from contracts.events import CorrectiveAction, Deadlines
from contracts.vocabulary import (
    MONETARY_OUTCOMES,
    ActionStatus,
    BacklogStatus,
    CaseStatus,
    Category,
    Channel,
    ComplaintType,
    EscalationStatus,
    FindingKind,
    Language,
    Outcome,
    ResolutionStatus,
    RootCause,
    Severity,
)

# --- text: the one place every request text is cleaned ---------------------------
#
# Before any length is counted, a text's line breaks become "\n" (CR LF and CR) and it is
# put in Unicode normal form C (NFC: "e" + combining acute becomes "é"; canonical
# equivalence only, so full-width punctuation such as "，" stays as the customer typed it,
# which NFKC would rewrite). Refused, naming the code point: control characters other
# than newline and tab (C0, DEL, C1), lone surrogates (not Unicode text; the stores
# could not encode them) and the bidirectional embedding/override/isolate controls
# (they make a text display differently from what it holds).
TEXT_NORMAL_FORM: Literal["NFC"] = "NFC"
REFUSED_CHARACTER = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def clean_text(value: Any) -> Any:
    """Normalise a request text (non-strings pass through for the type check)."""
    if not isinstance(value, str):
        return value
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    refused = REFUSED_CHARACTER.search(value)
    if refused is not None:
        raise PydanticCustomError(
            "refused_character",
            "contains the character U+{code}; control characters (other than newline and "
            "tab), lone surrogates and bidirectional overrides are not allowed",
            {"code": f"{ord(refused.group()):04X}"})
    return unicodedata.normalize(TEXT_NORMAL_FORM, value)


CleanText = BeforeValidator(clean_text)

# What the OpenAPI documents say of a text (JSON Schema `pattern`): no refused character
# and at least one character that is not white space (white space as str.strip sees it).
_REFUSED_CLASS = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069"
_SPACE_CLASS = ("\\t\\n\\r\\x0b\\x0c\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029"
                "\\u202f\\u205f\\u3000")
TEXT_PATTERN = f"^[^{_REFUSED_CLASS}]*[^{_REFUSED_CLASS}{_SPACE_CLASS}][^{_REFUSED_CLASS}]*$"
PHONE_PATTERN = r"^\+[0-9 ().-]{4,39}$"


class Documented:
    """Annotated metadata adding JSON Schema keywords (a `pattern`, an `enum`) to the
    documents: validation is the validators' job; this tells clients and the fuzzer."""

    def __init__(self, **keywords: Any):
        self.keywords = keywords

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(schema), **self.keywords}


def _whole_number(value: Any) -> Any:
    # JSON Schema's integer includes 4.0; strict validation would refuse it
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer in a request body: a JSON integer or an integral number (4.0), never "4".
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


def _bounded(max_length: int, min_length: int = 1) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


# Bounded, cleaned, stripped, non-empty texts (the number is the most characters allowed,
# counted after normalisation). CleanText comes last so that it runs first.
_TEXT = Documented(pattern=TEXT_PATTERN)
Text100 = Annotated[str, _bounded(100), CleanText, _TEXT]
Text200 = Annotated[str, _bounded(200), CleanText, _TEXT]
Text500 = Annotated[str, _bounded(500), CleanText, _TEXT]
Text1000 = Annotated[str, _bounded(1000), CleanText, _TEXT]
Text2000 = Annotated[str, _bounded(2000), CleanText, _TEXT]
Text5000 = Annotated[str, _bounded(5000), CleanText, _TEXT]
Reason = Annotated[str, _bounded(1000, min_length=3), CleanText, _TEXT]


def _phone(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError(
            "not a phone number; use international format, e.g. +86 138 0013 8000"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number for its country code")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# ISO 4217 codes that are not money a customer can be paid in: precious metals, bond-market
# units, SDRs, the testing code and "no currency".
NOT_MONEY = frozenset({"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU",
                       "XTS", "XUA", "XXX"})


def _currency(value: str) -> str:
    if pycountry.currencies.get(alpha_3=value) is None or value in NOT_MONEY:
        raise ValueError("not an ISO 4217 currency code of money, e.g. CNY, USD, EUR")
    return value


Phone = Annotated[str, StringConstraints(max_length=40), AfterValidator(_phone), CleanText,
                  Documented(pattern=PHONE_PATTERN)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency),
                     Documented(enum=sorted(c.alpha_3 for c in pycountry.currencies
                                            if c.alpha_3 not in NOT_MONEY))]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- intake ---------------------------------------------------------------


class Customer(Request):
    name: Text200
    phone: Phone | None = None
    email: EmailStr | None = Field(default=None, max_length=254)
    customer_id: Text100 | None = None
    address: Text500 | None = None


class EraseCustomer(Request):
    """Whose personal data a privacy officer erases: the customer of a complaint, or the
    customer with this customer id, email or phone (exactly one of the four)."""

    complaint_id: uuid.UUID | None = None
    customer_id: Text100 | None = None
    email: EmailStr | None = Field(default=None, max_length=254)
    phone: Phone | None = None


class Erasure(BaseModel):
    """What an erasure did. The personal fields of these complaints read "[erased]" from
    now on; their events, and every report figure, stay."""

    customer_ref: str | None = Field(description="the customer's pseudonym, if any")
    complaints: list[uuid.UUID]
    keys_destroyed: int = Field(description="data keys deleted now (0: erased before)")
    erased_by: str
    erased_at: AwareDatetime


class CustomerBlock(BaseModel):
    """A complaint's customer as the asking role may see it (plain, masked or erased)."""

    complaint_id: uuid.UUID
    customer: dict[str, str | None]
    view: str = Field(description="plain, masked, erased or none")


Source = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,29}$")]


class ReceiveComplaint(Request):
    channel: Channel
    customer: Customer | None = Field(
        default=None, description="required, except for an imported anonymous record")
    text: Text5000 = Field(description="what happened, in the customer's words (any language)")
    product: Text200 | None = None
    location: Text200 | None = Field(default=None, description="store, branch or department")
    happened_at: AwareDatetime | None = None
    customer_request: Text2000 | None = Field(
        default=None, description="what the customer asks for"
    )
    language: Language | None = Field(
        default=None, description="detected from the text when omitted"
    )
    staff_member: Text100 | None = Field(
        default=None, description="the staff member the feedback is about (e.g. praise)")
    # An import of historical records (admin only): the record's source and its id there
    # make the complaint id, so posting the same record again changes nothing.
    source: Source | None = Field(default=None, description="e.g. cfpb (admin only)")
    external_ref: Text100 | None = Field(default=None,
                                         description="the record's id in its source")
    tags: list[Text200] = Field(default_factory=list, max_length=20,
                                description="labels kept from the source")


class TriageItem(BaseModel):
    complaint_id: uuid.UUID
    received_at: AwareDatetime
    type: ComplaintType
    category: Category
    confidence: float | None
    scores: dict[str, float]


class TriageQueue(BaseModel):
    complaints: list[TriageItem]


class Reclassify(Request):
    model_config = ConfigDict(json_schema_extra={"anyOf": [  # at least one, not null
        {"required": [name], "properties": {name: {"type": "string"}}}
        for name in ("type", "category", "severity")]})

    type: ComplaintType | None = None
    category: Category | None = None
    severity: Severity | None = None
    reason: Reason

    @model_validator(mode="after")
    def _changes_something(self) -> Reclassify:
        if self.type is None and self.category is None and self.severity is None:
            raise ValueError("give at least one of type, category, severity")
        return self


class Decide(Request):
    reason: Reason


class PauseClock(Request):
    reason: Reason


class ResumeClock(Request):
    reason: Reason


class RecordContact(Request):
    note: Text2000
    expected_resolution: date | None = Field(
        default=None, description="given to the customer: this contact is a progress update")


class TargetStatus(BaseModel):
    deadline: AwareDatetime
    warn_at: AwareDatetime
    clock: str
    status: str = Field(description="pending, warned, breached, met, or missed (met late)")
    met_at: AwareDatetime | None = None


class Classification(BaseModel):
    type: ComplaintType
    category: Category
    severity: Severity
    method: str = Field(description="automatic or override")
    matched_rules: list[str]
    reason: str | None = None
    ruleset_version: str | None = None
    scores: dict[str, float] = {}
    confidence: float | None = None
    needs_triage: bool = False


class ComplaintView(BaseModel):
    complaint_id: uuid.UUID
    channel: Channel
    language: Language
    customer: dict[str, str | None]
    text: str
    product: str | None
    location: str | None
    customer_request: str | None
    happened_at: AwareDatetime | None
    received_at: AwareDatetime
    classification: Classification
    deadlines: Deadlines
    acknowledgement: str
    staff_member: str | None = None
    sla_policy_version: str | None = None
    targets: dict[str, TargetStatus] = {}
    possible_duplicate_of: uuid.UUID | None = None
    duplicate_status: str | None = Field(default=None,
                                         description="flagged, merged or dismissed")
    merged_duplicates: list[uuid.UUID] = []
    clock_paused: bool = False
    source: str | None = None
    external_ref: str | None = None
    tags: list[str] = []
    customer_ref: str | None = None
    version: int


# --- investigation --------------------------------------------------------


class Assign(Request):
    investigator: Text100
    reason: Text1000 | None = None


class AttachmentIn(Request):
    filename: Text200
    content_type: Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+$",
                                                   max_length=100)]
    size: WholeNumber = Field(ge=0, le=1_000_000_000)
    checksum: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] = Field(
        description="SHA-256 of the file, lowercase hex")


class RecordFinding(Request):
    kind: FindingKind = FindingKind.note
    text: Text5000
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)


class Escalate(Request):
    reason: Reason


class TakeEscalation(Request):
    note: Text1000 | None = None


class RequestConsultation(Request):
    department: Text200
    question: Text2000


class AnswerConsultation(Request):
    findings: Text5000


class CompleteAction(Request):
    evidence: Text2000


class VerifyAction(Request):
    effective: bool
    note: Text2000 | None = None


class CorrectiveActionQuery(Request):
    status: ActionStatus | None = None
    owner: Text100 | None = None
    overdue: bool | None = None


class CorrectiveActionView(BaseModel):
    action_id: uuid.UUID
    complaint_id: uuid.UUID
    root_cause: RootCause
    responsible_department: str
    action: str
    owner: str
    due_date: date
    status: ActionStatus
    overdue: bool
    evidence: str | None
    verified_by: str | None
    verification_note: str | None
    version: int


class CorrectiveActionList(BaseModel):
    actions: list[CorrectiveActionView]


class CorrectiveActionIn(Request):
    action: Text1000
    owner: Text100
    due_date: date


class Conclude(Request):
    root_cause: RootCause
    five_whys: list[Text500] = Field(max_length=5, description=(
        "at least one why, except with root cause not_determined"))
    responsible_department: Text200
    corrective_actions: list[CorrectiveActionIn] = Field(default_factory=list, max_length=20)
    summary: Text5000

    @field_validator("five_whys")
    @classmethod
    def _a_why_unless_not_determined(cls, whys: list[str], info: ValidationInfo):
        if not whys and info.data.get("root_cause") != RootCause.not_determined:
            raise ValueError("at least one why (only root cause not_determined has none)")
        return whys


class Finding(BaseModel):
    kind: FindingKind
    text: str
    author: str
    at: AwareDatetime
    attachments: list[dict[str, Any]] = []


class Consultation(BaseModel):
    consultation_id: str
    department: str
    question: str
    requested_by: str
    findings: str | None
    answered_by: str | None


class CaseView(BaseModel):
    complaint_id: uuid.UUID
    status: CaseStatus
    team: str
    category: Category
    severity: Severity
    investigator: str | None
    escalated: bool
    escalation_reasons: list[str]
    escalation_status: EscalationStatus
    escalation_taken_by: str | None
    consultations: list[Consultation]
    findings: list[Finding]
    root_cause: RootCause | None
    five_whys: list[str]
    responsible_department: str | None
    corrective_actions: list[CorrectiveAction]
    summary: str | None
    reopen_count: int
    reopen_reasons: list[str]
    opened_at: AwareDatetime
    version: int


class CaseQuery(Request):
    assignee: Text100 | None = None
    status: CaseStatus | None = None


class TeamQuery(Request):
    team: Text100 | None = None


class CaseList(BaseModel):
    cases: list[CaseView]


# --- resolution -----------------------------------------------------------


class Respond(Request):
    outcome: Outcome
    message: Text5000
    amount: Decimal | None = Field(default=None, gt=0, max_digits=14, decimal_places=2,
                                   validate_default=True)
    currency: Currency | None = Field(default=None, validate_default=True)
    timely: bool | None = Field(default=None, description=(
        "admin only, for an imported record: the source's verdict on whether this response "
        "met its deadline"))

    @field_validator("amount")
    @classmethod
    def _amount_fits_the_outcome(cls, amount: Decimal | None, info: ValidationInfo):
        outcome = info.data.get("outcome")
        if outcome == Outcome.monetary_compensation and amount is None:
            raise ValueError("monetary_compensation needs an amount (with a currency)")
        if amount is not None and outcome is not None and outcome not in MONETARY_OUTCOMES:
            raise ValueError("an amount is only for " + " or ".join(sorted(MONETARY_OUTCOMES)))
        return amount

    @field_validator("currency")
    @classmethod
    def _currency_goes_with_amount(cls, currency: str | None, info: ValidationInfo):
        if "amount" in info.data and (info.data["amount"] is None) != (currency is None):
            raise ValueError("an amount and a currency go together")
        return currency


class ApproveRemedy(Request):
    note: Text1000 | None = None


class RejectRemedy(Request):
    reason: Reason


class Accept(Request):
    comment: Text2000 | None = None


class Dispute(Request):
    reason: Text2000


class Close(Request):
    note: Text2000 | None = None


class FollowUp(Request):
    satisfaction: WholeNumber = Field(ge=1, le=5)
    solved: bool
    comment: Text2000 | None = None


class Response(BaseModel):
    number: int
    outcome: Outcome
    message: str
    amount: Decimal | None
    currency: str | None
    at: AwareDatetime
    by: str


class ResolutionView(BaseModel):
    complaint_id: uuid.UUID
    status: ResolutionStatus
    type: ComplaintType | None
    requires_investigation: bool | None
    responses: list[Response]
    first_response_at: AwareDatetime | None
    disputes: list[str]
    outcome: Outcome | None
    closed_at: AwareDatetime | None
    follow_up: dict[str, Any] | None
    proposal: dict[str, Any] | None = None
    follow_up_due: AwareDatetime | None = None
    reopen_count: int = 0
    version: int


class FollowUpDue(BaseModel):
    complaint_id: uuid.UUID
    closed_at: AwareDatetime
    due: AwareDatetime
    overdue: bool


class FollowUpQuery(Request):
    overdue: bool | None = None


class FollowUpDueList(BaseModel):
    follow_ups: list[FollowUpDue]


class BacklogQuery(Request):
    status: BacklogStatus | None = None


class UpdateBacklogItem(Request):
    status: BacklogStatus
    note: Text2000 | None = None


class BacklogItemView(BaseModel):
    complaint_id: uuid.UUID
    text: str
    category: Category | None
    product: str | None
    status: BacklogStatus
    history: list[dict[str, Any]]
    version: int


class BacklogList(BaseModel):
    items: list[BacklogItemView]


class PraiseQuery(Request):
    staff_member: Text100 | None = None


class PraiseEntry(BaseModel):
    complaint_id: uuid.UUID
    staff_member: str
    text: str
    at: AwareDatetime


class PraiseList(BaseModel):
    praise: list[PraiseEntry]
    by_staff_member: dict[str, int]


# --- reporting ------------------------------------------------------------


class Durations(BaseModel):
    count: int
    median_hours: float | None
    p90_hours: float | None
    max_hours: float | None


class SummaryQuery(Request):
    # `to` comes first so that `from` can be checked against it and named in the error.
    to: date | None = Field(default=None, description="last day, YYYY-MM-DD")
    from_: date | None = Field(default=None, alias="from", description="first day, YYYY-MM-DD")

    @field_validator("from_")
    @classmethod
    def _not_after_to(cls, from_: date | None, info: ValidationInfo):
        to = info.data.get("to")
        if from_ and to and from_ > to:
            raise ValueError("'from' is after 'to'")
        return from_


class SummaryReport(BaseModel):
    period_from: str | None
    period_to: str | None
    total: int
    by_channel: dict[str, int]
    by_type: dict[str, int]
    by_category: dict[str, int]
    by_severity: dict[str, int]
    by_status: dict[str, int]
    by_root_cause: dict[str, int]
    by_outcome: dict[str, int]
    disputed: int
    reopened: int
    closed: int
    escalated: int
    time_to_first_response: Durations
    time_to_resolution: Durations
    satisfaction_average: float | None
    satisfaction_distribution: dict[str, int]
    follow_up_coverage: float | None


class AuditEntry(BaseModel):
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    service: str
    position: int
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    actor: dict[str, str]
    correlation_id: str
    payload: dict[str, Any]
    change: str = Field(default="", description="what changed: the status before → after "
                        "when it moved, then the event's key fields")


class AuditTrail(BaseModel):
    complaint_id: uuid.UUID
    events: list[AuditEntry]


# --- common ---------------------------------------------------------------


class FieldError(BaseModel):
    field: str
    problem: str


class Error(BaseModel):
    error: str
    message: str
    reason: str | None = Field(default=None, description=(
        "401 only: missing, malformed, expired, bad_signature or unknown_role"))
    fields: list[FieldError] | None = None
    state: str | None = None
    allowed_actions: list[str] | None = None


class Health(BaseModel):
    status: str
    service: str
    position: int


class Accepted(BaseModel):
    complaint_id: uuid.UUID
    status: str


# --- reporting: as-of views and the evidence pack (appended) -----------------


def _plus_in_query(value: Any) -> Any:
    """An unencoded '+' of a UTC offset arrives as a space in a query string."""
    if isinstance(value, str) and len(value) > 6 and value[-6] == " " and value[-3] == ":":
        return value[:-6] + "+" + value[-5:]
    return value


class AsOfQuery(Request):
    as_of: AwareDatetime | None = Field(
        default=None, description="only events recorded by this moment (ISO 8601 with "
        "offset, e.g. 2026-11-02T09:30:00Z)")

    _as_of_plus = field_validator("as_of", mode="before")(_plus_in_query)


class AtQuery(Request):
    at: AwareDatetime = Field(description="the moment (ISO 8601 with offset, e.g. "
                              "2026-11-02T09:30:00Z)")

    _at_plus = field_validator("at", mode="before")(_plus_in_query)


class ComplaintAsOf(BaseModel):
    complaint_id: uuid.UUID
    as_of: AwareDatetime
    state: dict[str, Any] = Field(description="the complaint's reportable facts, folded "
                                  "from the events recorded by as_of")
    events: list[AuditEntry]


class EvidenceActor(BaseModel):
    id: str
    role: str


class EvidenceItem(BaseModel):
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    actor: EvidenceActor
    service: str
    event_type: str
    event_id: uuid.UUID
    change: str
    payload: dict[str, Any]


class EvidenceSection(BaseModel):
    section: str = Field(description="receipt, acknowledgement, assessment, investigation, "
                         "decision, communication, closure or follow_up")
    title: str
    events: list[EvidenceItem]


class EvidencePack(BaseModel):
    complaint_id: uuid.UUID
    as_of: AwareDatetime | None
    state: dict[str, Any]
    event_count: int
    sections: list[EvidenceSection]


# --- reporting: the improvement report (appended) ----------------------------


_REQUIRED_FOR_CUSTOM = "required with period=custom"
REPORT_YEARS = (1900, 2999)  # the days a report may name (keeps date arithmetic in range)


class ImprovementQuery(Request):
    """period=day|week|month with `date` (the period containing it; default today, or
    the as-of day), or period=custom with `from` and `to`; `as_of` replays the report as
    it stood at that moment."""

    period: Literal["day", "week", "month", "custom"] = Field(
        default="month", description="day, week (Monday to Sunday), month, or custom")
    date_: date | None = Field(default=None, alias="date",
                               description="a day inside the period, YYYY-MM-DD")
    to: date | None = Field(default=None, description="last day of a custom period, "
                            "YYYY-MM-DD")
    from_: date | None = Field(default=None, alias="from",
                               description="first day of a custom period, YYYY-MM-DD")
    as_of: AwareDatetime | None = Field(
        default=None, description="only events recorded by this moment (ISO 8601 with "
        "offset, e.g. 2026-11-02T09:30:00Z)")

    _improvement_as_of_plus = field_validator("as_of", mode="before")(_plus_in_query)

    @model_validator(mode="before")
    @classmethod
    def _custom_needs_both_bounds(cls, data: Any) -> Any:
        # A missing bound is marked so that its error names the field as sent.
        if isinstance(data, dict) and data.get("period") == "custom":
            data = {"from": _REQUIRED_FOR_CUSTOM, "to": _REQUIRED_FOR_CUSTOM, **data}
        return data

    @field_validator("to", "from_", mode="before")
    @classmethod
    def _present(cls, value: Any) -> Any:
        if value is _REQUIRED_FOR_CUSTOM:
            raise ValueError(_REQUIRED_FOR_CUSTOM)
        return value

    @field_validator("date_", "to", "from_", "as_of")
    @classmethod
    def _in_reporting_range(cls, value: Any) -> Any:
        if value is not None and not REPORT_YEARS[0] <= value.year <= REPORT_YEARS[1]:
            raise ValueError(f"outside the years {REPORT_YEARS[0]} to {REPORT_YEARS[1]}")
        return value

    @field_validator("date_")
    @classmethod
    def _date_only_with_a_named_period(cls, value: date | None, info: ValidationInfo):
        if value is not None and info.data.get("period") == "custom":
            raise ValueError("only with period day, week or month; a custom period takes "
                             "'from' and 'to'")
        return value

    @field_validator("to", "from_")
    @classmethod
    def _bounds_only_with_custom(cls, value: date | None, info: ValidationInfo):
        period = info.data.get("period")
        if value is not None and period is not None and period != "custom":
            raise ValueError(f"only with period=custom; period={period} takes 'date'")
        to = info.data.get("to")
        if info.field_name == "from_" and value is not None and to is not None:
            if value > to:
                raise ValueError("'from' is after 'to'")
            if (to - value).days > 3660:
                raise ValueError("a custom period spans at most 3661 days")
        return value


class ImprovementPeriod(BaseModel):
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)

    from_: str = Field(alias="from")
    to: str
    granularity: Literal["day", "week", "month", "custom"]


class VolumeBucket(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period_start: str
    count: int


class Volumes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: dict[str, int]
    type: dict[str, int]
    category: dict[str, int]
    severity: dict[str, int]
    product: dict[str, int]
    department: dict[str, int]
    outcome: dict[str, int]
    over_time: list[VolumeBucket]
    over_time_bucket: Literal["day", "week", "month"]


class SlaBreach(BaseModel):
    model_config = ConfigDict(extra="forbid")

    complaint_id: str
    target: str
    deadline: str
    at: str = Field(description="breached_at, or met_at for a late step without a breach")
    kind: Literal["deadline_breached", "met_late"]
    met_at: str | None


class SlaTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decided: int
    on_time: int
    late: int
    open_breached: int
    compliance: float | None = Field(description="on_time / (decided + open_breached)")
    breaches: list[SlaBreach]


class ReportRate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int
    of: int
    rate: float | None


class ReportRates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reopened: ReportRate
    disputed: ReportRate
    first_contact_resolution: ReportRate


class HistogramBin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_hours: float
    to_hours: float | None = Field(description="exclusive; null: no upper bound")
    count: int


class ReportTimes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_response: Durations
    resolution: Durations
    resolution_histogram: list[HistogramBin]


class Satisfaction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    responses: int
    average: float | None
    distribution: dict[str, int]
    follow_up_coverage: float | None
    closed: int
    coverage_target: float
    meets_target: bool


class RootCauseShare(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cause: str
    count: int
    share: float
    cumulative_share: float


class Recurrence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str
    count: int
    complaint_ids: list[str]


class RecurringComplaints(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: list[Recurrence]
    product: list[Recurrence]
    location: list[Recurrence]


class ActionEffect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action_id: str
    complaint_id: str
    root_cause: str
    status: str
    due_date: str
    done_at: str | None
    overdue: bool
    rate_before: float | None = Field(description="complaints/week with the cause, before")
    rate_after: float | None = Field(description="complaints/week with the cause, after")


class CorrectiveActionsSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    open: int
    overdue: int
    done: int
    verified_effective: int
    verified_ineffective: int
    total: int
    rate_weeks: int
    actions: list[ActionEffect]


class StaffFigures(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff: str
    cases: int
    sla_decided: int
    sla_on_time: int
    satisfaction_average: float | None


class ImprovementReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: ImprovementPeriod
    as_of: str | None
    complaints: int
    volumes: Volumes
    sla: dict[str, SlaTarget]
    times: ReportTimes
    rates: ReportRates
    satisfaction: Satisfaction
    root_causes: list[RootCauseShare]
    recurring: RecurringComplaints
    corrective_actions: CorrectiveActionsSummary
    staff: list[StaffFigures]


# --- the customer on a downstream view, as the reader's role may see it (appended) ---

CustomerViewKind = Literal["plain", "masked", "erased", "none", "unavailable"]


class WithCustomer(BaseModel):
    """Asked of intake for this request (servicekit.customers), never stored downstream."""

    customer: dict[str, str | None] = Field(default_factory=dict, description=(
        "the complaint's customer: plain for a reader who needs it, masked otherwise, "
        "\"[erased]\" after an erasure; empty when none was recorded or intake did not "
        "answer"))
    customer_view: CustomerViewKind = Field(default="unavailable", description=(
        "plain, masked, erased, none (no customer recorded) or unavailable (intake did "
        "not answer in time)"))


class CaseDetail(WithCustomer, CaseView):
    """GET /cases/{id}: the case with its customer."""


class ResolutionDetail(WithCustomer, ResolutionView):
    """GET /resolutions/{id}: the resolution with its customer."""


class AuditTrailView(WithCustomer, AuditTrail):
    """GET /complaints/{id}/audit: the trail with the customer as the reader may see it
    now (an erasure shows even on a trail as of an earlier moment)."""


class EvidencePackView(WithCustomer, EvidencePack):
    """GET /complaints/{id}/evidence: the pack with the customer as the reader may see it."""
