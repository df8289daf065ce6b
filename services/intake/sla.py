"""A complaint's service-level schedule, from the SLA policy in force (sla_policy.yaml):
each target's deadline and its warning moment (80% of the target's counted time), both
moved by the time the clock was paused, counted the way that target counts time."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from services.intake.sla_policy import SlaPolicy, load_policy

WARN_FRACTION = 0.8
PROMISED = {"acknowledge_by": "acknowledge", "first_contact_by": "first_contact",
            "first_reply_by": "first_reply", "resolve_by": "resolve"}


def schedule(policy: SlaPolicy, received_at: datetime, type: str, severity: str,
             channel: str, paused: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
    """paused: counted paused seconds per clock (as the ClockResumed events record them)."""
    pauses = {clock: timedelta(seconds=seconds) for clock, seconds in (paused or {}).items()}
    return {name: {"deadline": policy.moment(received_at, target, 1.0, pauses),
                   "warn_at": policy.moment(received_at, target, WARN_FRACTION, pauses),
                   "clock": target.clock}
            for name, target in policy.targets_for(type, severity, channel).items()}


def promise(policy_version: str, targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The deadlines told to the customer (null where a target does not apply)."""
    return {"policy_version": policy_version,
            **{key: targets[name]["deadline"] if name in targets else None
               for key, name in PROMISED.items()}}


@functools.cache
def default_policy() -> SlaPolicy:
    return load_policy()


def deadlines(received_at: datetime, channel: str, severity: str,
              type: str = "complaint") -> dict[str, Any]:
    """The promise for a complaint under the default policy file."""
    policy = default_policy()
    return promise(policy.version, schedule(policy, received_at, type, severity, channel))
