"""The fixed vocabularies of DOMAIN.md. Ids never change; labels may be localised."""

from enum import StrEnum


class Channel(StrEnum):
    phone = "phone"
    email = "email"
    web = "web"
    chat = "chat"
    walk_in = "walk_in"
    letter = "letter"
    social_media = "social_media"
    referral = "referral"
    fax = "fax"


class ComplaintType(StrEnum):
    complaint = "complaint"
    suggestion = "suggestion"
    praise = "praise"
    inquiry = "inquiry"


class Category(StrEnum):
    service_attitude = "service_attitude"
    response_delay = "response_delay"
    product_quality = "product_quality"
    billing = "billing"
    after_sales = "after_sales"
    facilities = "facilities"
    safety = "safety"
    information = "information"
    privacy = "privacy"
    other = "other"


class Severity(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    critical = "critical"


class RootCause(StrEnum):
    people = "people"
    process = "process"
    product = "product"
    equipment = "equipment"
    environment = "environment"
    communication = "communication"
    supplier = "supplier"
    # An imported record whose source names no root cause (e.g. the CFPB database): only
    # an imported case may conclude with it, and it needs no five whys.
    not_determined = "not_determined"


class Outcome(StrEnum):
    explanation = "explanation"
    apology = "apology"
    repair = "repair"
    replacement = "replacement"
    refund = "refund"
    monetary_compensation = "monetary_compensation"
    non_monetary_relief = "non_monetary_relief"
    no_action = "no_action"
    # The source's own verdicts, recorded only by an import of historical records:
    # money paid or returned with the amount not recorded ("Closed with monetary relief"),
    # and no response given in time ("Untimely response").
    monetary_relief = "monetary_relief"
    no_response = "no_response"


class Role(StrEnum):
    agent = "agent"
    investigator = "investigator"
    resolver = "resolver"
    supervisor = "supervisor"
    quality_manager = "quality_manager"
    privacy_officer = "privacy_officer"
    admin = "admin"
    system = "system"


class Language(StrEnum):
    zh = "zh"
    en = "en"


class FindingKind(StrEnum):
    note = "note"
    interview = "interview"
    evidence = "evidence"


class CaseStatus(StrEnum):
    open = "open"
    investigating = "investigating"
    concluded = "concluded"


class ResolutionStatus(StrEnum):
    awaiting_investigation = "awaiting_investigation"
    ready = "ready"
    awaiting_approval = "awaiting_approval"
    responded = "responded"
    accepted = "accepted"
    disputed = "disputed"
    closed = "closed"
    reopened = "reopened"


class EscalationStatus(StrEnum):
    none = "none"
    pending = "pending"
    taken = "taken"


class ActionStatus(StrEnum):
    open = "open"
    done = "done"
    verified_effective = "verified_effective"
    verified_ineffective = "verified_ineffective"


class BacklogStatus(StrEnum):
    new = "new"
    planned = "planned"
    done = "done"
    declined = "declined"


MONETARY_OUTCOMES = frozenset({Outcome.refund, Outcome.monetary_compensation,
                               Outcome.monetary_relief})
# Outcomes only an imported complaint may have (see Outcome).
IMPORTED_ONLY_OUTCOMES = frozenset({Outcome.monetary_relief, Outcome.no_response})
