"""Domain errors, mapped to HTTP statuses in one place (servicekit.http)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class DomainError(Exception):
    """Base for every error a command can raise on purpose."""


class NotFound(DomainError):
    def __init__(self, what: str, ident: object):
        super().__init__(f"no {what} with id {ident}")


class StateConflict(DomainError):
    """The current state forbids the action; names the state and what is allowed."""

    def __init__(self, action: str, state: str, allowed: Iterable[str]):
        self.action = action
        self.state = state
        self.allowed = sorted(allowed)
        allowed_text = ", ".join(self.allowed) if self.allowed else "none"
        super().__init__(
            f"cannot {action} while the state is '{state}'; allowed now: {allowed_text}"
        )


class Forbidden(DomainError):
    """The actor's role may not take this action (the domain's own rule, e.g. only a
    supervisor reassigns a case)."""

    def __init__(self, action: str, allowed_roles: Iterable[str]):
        self.action = action
        self.allowed_roles = sorted(allowed_roles)
        super().__init__(f"only the {' or '.join(self.allowed_roles)} role may {action}")


def require_role(actor: dict, action: str, *roles: str) -> None:
    if actor["role"] not in roles:
        raise Forbidden(action, roles)


class InvalidCommand(DomainError):
    """A well-formed request that the domain rejects for one field."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def check_allowed(action: str, state: str,
                  allowed_by_state: Mapping[str, Iterable[str]]) -> None:
    allowed = list(allowed_by_state.get(state, ()))
    if action not in allowed:
        raise StateConflict(action, state, allowed)
