"""Everything the four services share: vocabularies, integration events, HTTP models."""

from contracts import api, events, vocabulary  # noqa: F401  (registers payload models)
from contracts.envelope import Actor, Envelope, derived_id, parse_payload

__all__ = ["Actor", "Envelope", "derived_id", "parse_payload", "api", "events", "vocabulary"]
