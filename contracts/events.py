"""Integration-event payloads (version 1). Personal data never appears here:
downstream services carry the complaint id, not the customer's name, phone or email."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.envelope import payload, upcaster
from contracts.vocabulary import (
    BacklogStatus,
    Category,
    Channel,
    ComplaintType,
    FindingKind,
    Language,
    Outcome,
    RootCause,
    Severity,
)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deadlines(_Payload):
    """The promise told to the customer. v2: a target that does not apply to the
    complaint's type (e.g. no first contact for praise) is null."""

    policy_version: str
    acknowledge_by: AwareDatetime | None = None
    first_contact_by: AwareDatetime | None = None
    first_reply_by: AwareDatetime | None = None
    resolve_by: AwareDatetime | None = None


class TargetDeadline(_Payload):
    deadline: AwareDatetime
    warn_at: AwareDatetime = Field(description="80% of the target's counted time")
    clock: str = Field(description="calendar or working")


class CorrectiveAction(_Payload):
    action: str = Field(min_length=1, max_length=1000)
    owner: str = Field(min_length=1, max_length=100)
    due_date: date


class Attachment(_Payload):
    """A reference to a stored file (the file store itself is out of scope)."""

    filename: str = Field(min_length=1, max_length=200)
    content_type: str = Field(pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=100)
    size: int = Field(ge=0, le=1_000_000_000)
    checksum: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, hex")


# --- intake ---------------------------------------------------------------


@payload("complaint.received")
class ComplaintReceived(_Payload):
    channel: Channel
    language: Language
    text: str
    product: str | None
    location: str | None
    customer_request: str | None
    happened_at: AwareDatetime | None
    received_at: AwareDatetime
    staff_member: str | None = None
    # An imported record: where it comes from (e.g. "cfpb") and its id there.
    source: str | None = None
    external_ref: str | None = None
    tags: list[str] = Field(default_factory=list,
                            description="labels kept from the source (issue, customer flags)")
    customer_ref: str | None = Field(
        default=None, description="a keyed pseudonym of the customer (HMAC-SHA256), never "
        "their data; the same customer gets the same ref; null for an anonymous complaint")


@payload("complaint.classified", version=2)
class ComplaintClassified(_Payload):
    channel: Channel
    type: ComplaintType
    category: Category
    severity: Severity
    matched_rules: list[str]
    ruleset_version: str
    deadlines: Deadlines
    scores: dict[str, float] = Field(default_factory=dict, description="per category")
    confidence: float = Field(default=1.0, ge=0, le=1)
    needs_triage: bool = Field(default=False, description="low confidence: an agent decides")
    source: str | None = Field(default=None, description="set for an imported record")


@payload("complaint.acknowledged", version=2)
class ComplaintAcknowledged(_Payload):
    language: Language
    message: str
    deadlines: Deadlines


@payload("complaint.reclassified", version=2)
class ComplaintReclassified(_Payload):
    type: ComplaintType
    category: Category
    severity: Severity
    previous_type: ComplaintType
    previous_category: Category
    previous_severity: Severity
    reason: str
    deadlines: Deadlines


# v1 -> v2: the deadlines became optional; every v1 payload is a valid v2 payload.
for _type in ("complaint.classified", "complaint.acknowledged", "complaint.reclassified"):
    upcaster(_type, 1)(lambda data: data)


@payload("complaint.classification_confirmed")
class ComplaintClassificationConfirmed(_Payload):
    reason: str


@payload("complaint.possible_duplicate")
class ComplaintPossibleDuplicate(_Payload):
    earlier_complaint_id: str
    similarity: float = Field(ge=0, le=1)


@payload("complaint.merged")
class ComplaintMerged(_Payload):
    into_complaint_id: str
    reason: str


@payload("complaint.duplicate_absorbed")
class ComplaintDuplicateAbsorbed(_Payload):
    duplicate_complaint_id: str


@payload("complaint.duplicate_dismissed")
class ComplaintDuplicateDismissed(_Payload):
    reason: str


@payload("complaint.deadlines_set")
class ComplaintDeadlinesSet(_Payload):
    policy_version: str
    targets: dict[str, TargetDeadline]
    reason: str


@payload("complaint.clock_paused")
class ComplaintClockPaused(_Payload):
    reason: str


@payload("complaint.clock_resumed")
class ComplaintClockResumed(_Payload):
    reason: str
    paused_seconds: dict[str, float] = Field(description="counted pause per clock")


@payload("complaint.deadline_warned")
class ComplaintDeadlineWarned(_Payload):
    target: str
    deadline: AwareDatetime
    warned_at: AwareDatetime


@payload("complaint.target_met")
class ComplaintTargetMet(_Payload):
    target: str
    deadline: AwareDatetime
    met_at: AwareDatetime
    on_time: bool
    step: str


@payload("complaint.deadline_breached")
class ComplaintDeadlineBreached(_Payload):
    target: str = Field(description="acknowledge, first_contact, first_reply or resolve")
    deadline: AwareDatetime
    breached_at: AwareDatetime


@payload("customer.erased")
class CustomerErased(_Payload):
    """A privacy officer erased the customer of this complaint: their data key is
    destroyed, so their personal data in intake can never be read again. Who and when
    are the envelope's actor and occurred_at; nothing here identifies the customer."""

    customer_ref: str | None = Field(
        default=None, description="the customer's pseudonym, as on complaint.received")
    complaints_affected: int = Field(ge=0, description="complaints of this erasure")


# --- investigation --------------------------------------------------------


@payload("case.opened")
class CaseOpened(_Payload):
    team: str
    category: Category
    severity: Severity


@payload("case.escalated")
class CaseEscalated(_Payload):
    reason: str
    trigger: str = Field(default="automatic",
                         description="severity, sla_breach, reopen or investigator")


@payload("case.escalation_taken")
class CaseEscalationTaken(_Payload):
    supervisor: str
    note: str | None


@payload("case.consultation_requested")
class CaseConsultationRequested(_Payload):
    consultation_id: str
    department: str
    question: str


@payload("case.consultation_answered")
class CaseConsultationAnswered(_Payload):
    consultation_id: str
    department: str
    findings: str


@payload("case.assigned")
class CaseAssigned(_Payload):
    investigator: str
    previous_investigator: str | None
    reason: str | None


@payload("case.reclassified")
class CaseReclassified(_Payload):
    category: Category
    severity: Severity
    team: str


@payload("case.finding_recorded")
class CaseFindingRecorded(_Payload):
    kind: FindingKind
    text: str
    attachments: list[Attachment] = []


@payload("case.concluded")
class CaseConcluded(_Payload):
    root_cause: RootCause
    five_whys: list[str]
    responsible_department: str
    corrective_actions: list[CorrectiveAction]
    summary: str
    conclusion_number: int


@payload("case.reopened")
class CaseReopened(_Payload):
    reason: str
    reopen_count: int


@payload("corrective_action.opened")
class CorrectiveActionOpened(_Payload):
    action_id: str
    root_cause: RootCause
    responsible_department: str
    action: str
    owner: str
    due_date: date


@payload("corrective_action.done")
class CorrectiveActionDone(_Payload):
    action_id: str
    evidence: str


@payload("corrective_action.verified")
class CorrectiveActionVerified(_Payload):
    action_id: str
    effective: bool
    note: str | None


# --- resolution -----------------------------------------------------------


@payload("resolution.opened")
class ResolutionOpened(_Payload):
    pass


@payload("resolution.registered")
class ResolutionRegistered(_Payload):
    type: ComplaintType
    channel: Channel
    requires_investigation: bool
    source: str | None = Field(default=None, description="set for an imported record")


@payload("resolution.ready")
class ResolutionReady(_Payload):
    reason: str
    after_investigation: bool = False


@payload("resolution.responded")
class ResolutionResponded(_Payload):
    outcome: Outcome
    message: str
    amount: Decimal | None
    currency: str | None
    channel: Channel | None
    response_number: int
    timely: bool | None = Field(
        default=None, description="an imported record's own verdict on whether the response "
        "met its deadline (intake uses it for the first_reply target)")


@payload("resolution.remedy_proposed")
class ResolutionRemedyProposed(_Payload):
    outcome: Outcome
    message: str
    amount: Decimal
    currency: str
    threshold: Decimal


@payload("resolution.remedy_approved")
class ResolutionRemedyApproved(_Payload):
    note: str | None


@payload("resolution.remedy_rejected")
class ResolutionRemedyRejected(_Payload):
    reason: str


@payload("resolution.accepted")
class ResolutionAccepted(_Payload):
    comment: str | None


@payload("resolution.disputed")
class ResolutionDisputed(_Payload):
    reason: str
    dispute_count: int


@payload("resolution.closed")
class ResolutionClosed(_Payload):
    outcome: Outcome
    note: str | None
    follow_up_due: AwareDatetime | None = None


@payload("resolution.followed_up")
class ResolutionFollowedUp(_Payload):
    satisfaction: int = Field(ge=1, le=5)
    solved: bool
    comment: str | None


@payload("resolution.reopened")
class ResolutionReopened(_Payload):
    reason: str
    reopen_count: int


# --- improvement backlog and praise (kept by resolution) -------------------


@payload("backlog.item_added")
class BacklogItemAdded(_Payload):
    text: str
    category: Category | None
    product: str | None


@payload("backlog.status_changed")
class BacklogStatusChanged(_Payload):
    status: BacklogStatus
    note: str | None


@payload("praise.recorded")
class PraiseRecorded(_Payload):
    staff_member: str
    text: str
