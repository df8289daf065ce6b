"""Resolution's editable policy (policy.yaml): the approval threshold per currency and
the follow-up delay. Read once when the application is built; money stays Decimal from
the file's text on (a YAML float is never turned into a Python float)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from contracts.api import Currency

POLICY_FILE = Path(__file__).with_name("policy.yaml")
POLICY_FILE_ENV = "RESOLUTION_POLICY_FILE"
DEFAULT_FOLLOW_UP_DAYS = 3
MAX_FOLLOW_UP_DAYS = 365

_CURRENCY = TypeAdapter(Currency)


@dataclass(frozen=True)
class ResolutionPolicy:
    default_threshold: Decimal
    thresholds: Mapping[str, Decimal] = field(default_factory=dict)
    follow_up_days: int = DEFAULT_FOLLOW_UP_DAYS

    def threshold_for(self, currency: str) -> Decimal:
        """The largest amount in this currency that is sent without approval."""
        return self.thresholds.get(currency, self.default_threshold)


class PolicyError(ValueError):
    """The policy file is unusable; the message names the file and the key."""


class _DecimalLoader(yaml.SafeLoader):
    """Safe YAML where a float literal becomes a Decimal of exactly its text."""


def _decimal_scalar(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = loader.construct_scalar(node)
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return Decimal("NaN")  # refused below, with the key that holds it


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal_scalar)


def _amount(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise PolicyError(f"{where}: an amount, e.g. 1000.00")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise PolicyError(f"{where}: {value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise PolicyError(f"{where}: must be a finite amount of zero or more")
    return amount


def _only(data: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PolicyError(f"{where}: must be a mapping")
    unknown = set(map(str, data)) - keys
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                          f"expected {', '.join(sorted(keys))}")
    return data


def parse_policy(data: Any, source: str = "policy") -> ResolutionPolicy:
    top = _only(data, {"approval", "follow_up_days"}, source)
    approval = _only(top.get("approval"), {"thresholds", "default"}, f"{source}: approval")
    if "default" not in approval:
        raise PolicyError(f"{source}: approval.default: missing (the threshold of any "
                          "currency not listed)")
    default = _amount(approval["default"], f"{source}: approval.default")
    thresholds: dict[str, Decimal] = {}
    for code, value in (approval.get("thresholds") or {}).items():
        where = f"{source}: approval.thresholds.{code}"
        try:
            currency = _CURRENCY.validate_python(code)
        except ValidationError:
            raise PolicyError(f"{where}: not an ISO 4217 currency code of money") from None
        thresholds[currency] = _amount(value, where)
    days = top.get("follow_up_days", DEFAULT_FOLLOW_UP_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) \
            or not 0 <= days <= MAX_FOLLOW_UP_DAYS:
        raise PolicyError(f"{source}: follow_up_days: a whole number of days from 0 to "
                          f"{MAX_FOLLOW_UP_DAYS}")
    return ResolutionPolicy(default_threshold=default, thresholds=thresholds,
                            follow_up_days=days)


def load_policy(path: str | Path | None = None,
                environ: Mapping[str, str] | None = None) -> ResolutionPolicy:
    """From `path`, else $RESOLUTION_POLICY_FILE, else the policy.yaml beside this module."""
    environ = os.environ if environ is None else environ
    chosen = Path(path or environ.get(POLICY_FILE_ENV) or POLICY_FILE)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{chosen}: cannot read the resolution policy ({exc.strerror})"
                          ) from None
    try:
        data = yaml.load(text, Loader=_DecimalLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PolicyError(f"{chosen}: not valid YAML: {exc}") from None
    return parse_policy(data, str(chosen))
