"""Who may call what: bearer tokens (HS256 JWTs signed with $AUTH_SECRET) say who the
caller is; one permission table (servicekit/permissions.yaml) says which roles may take
which action; everything not in the table is denied.

An action is `<service>.<entrypoint name>` (e.g. `investigation.conclude`), derived here
and nowhere else. servicekit.http enforces it at every HTTP entrypoint, secured_rpc in
servicekit.runtime at every RPC entrypoint, and the service runtime refuses to start
when one of its entrypoints has no line in the table."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import yaml

from contracts.envelope import Actor
from contracts.vocabulary import Role
from servicekit.errors import DomainError, Forbidden

SECRET_ENV = "AUTH_SECRET"
PERMISSIONS_ENV = "PERMISSIONS_FILE"
PERMISSIONS_FILE = Path(__file__).with_name("permissions.yaml")
ALGORITHM = "HS256"  # pinned: no `none`, no algorithm picked by the token
MIN_SECRET_BYTES = 32
MAX_SUB_LENGTH = 100
ROLES = tuple(r.value for r in Role)
SERVICE_ROLE = Role.system.value
SERVICE_TOKEN_TTL = 600  # seconds; services mint a fresh one well before it runs out
RPC_TOKEN_KEY = "authorization"  # nameko context data key the RPC callers fill


class AuthConfigError(RuntimeError):
    """The key is missing or too short: a service must not start."""


class Unauthenticated(Exception):
    """401: no usable token. `reason` is one of missing, malformed, expired,
    bad_signature, unknown_role; the message says nothing beyond it."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


class Denied(Forbidden):
    """403: no role of the caller may take the action (the permission table)."""

    def __init__(self, action: str, roles: Sequence[str], why: str | None = None,
                 allowed: Sequence[str] = ()):
        self.action = action
        self.allowed_roles = list(allowed)
        DomainError.__init__(self, why or (
            f"the {' and '.join(roles)} role{'s' if len(roles) > 1 else ''} "
            f"may not {action}" + (f" (allowed: {', '.join(allowed)})" if allowed else "")))


# --- keys and tokens ---------------------------------------------------------


def secret(environ: dict[str, str] | None = None) -> bytes:
    value = (os.environ if environ is None else environ).get(SECRET_ENV, "")
    if not value:
        raise AuthConfigError(f"{SECRET_ENV} is not set: every service verifies tokens with "
                              f"it (at least {MIN_SECRET_BYTES} bytes; `make run` makes one "
                              "for development)")
    key = value.encode("utf-8")
    if len(key) < MIN_SECRET_BYTES:
        raise AuthConfigError(f"{SECRET_ENV} is {len(key)} bytes; HS256 needs at least "
                              f"{MIN_SECRET_BYTES}")
    return key


def issue(sub: str, roles: str | Sequence[str], ttl_seconds: float = 8 * 3600,
          team: str | None = None, key: bytes | None = None, now: float | None = None) -> str:
    """A signed token for `sub` acting in `roles`, valid for `ttl_seconds`."""
    roles = [roles] if isinstance(roles, str) else list(roles)
    if not sub or len(sub) > MAX_SUB_LENGTH:
        raise ValueError(f"sub must be 1 to {MAX_SUB_LENGTH} characters")
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise ValueError(f"unknown role(s) {unknown or roles}; known: {', '.join(ROLES)}")
    if ttl_seconds <= 0:
        raise ValueError("ttl must be positive")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": sub, "roles": roles, "iat": issued,
                              "exp": issued + int(ttl_seconds)}
    if team:
        claims["team"] = team
    return jwt.encode(claims, key or secret(), algorithm=ALGORITHM)


@dataclass(frozen=True)
class Principal:
    """The verified caller: staff (or service) id, roles, optional team."""

    sub: str
    roles: tuple[str, ...]
    team: str | None = None

    def actor(self, role: str) -> Actor:
        return Actor(id=self.sub, role=role)


def verify(token: str, key: bytes | None = None) -> Principal:
    try:
        claims = jwt.decode(token, key or secret(), algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub", "roles"]})
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("expired", "the token has expired") from None
    except jwt.InvalidSignatureError:
        raise Unauthenticated("bad_signature", "the token's signature does not verify") from None
    except jwt.InvalidAlgorithmError:
        raise Unauthenticated("bad_signature", f"the token is not signed with {ALGORITHM}"
                              ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthenticated("malformed", f"the token has no '{exc.claim}' claim") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("malformed", "the token is not a well-formed signed token"
                              ) from None
    sub, roles, team = claims["sub"], claims["roles"], claims.get("team")
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUB_LENGTH:
        raise Unauthenticated("malformed", f"the token's 'sub' must be 1 to {MAX_SUB_LENGTH} "
                              "characters")
    if not sub.isprintable() or sub != sub.strip():
        # It becomes the actor id in every event: no control characters, no padding.
        raise Unauthenticated("malformed", "the token's 'sub' must be printable text")
    if team is not None and isinstance(team, str) and not team.isprintable():
        raise Unauthenticated("malformed", "the token's 'team' must be printable text")
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
        raise Unauthenticated("malformed", "the token's 'roles' must be a list of role names")
    if team is not None and not isinstance(team, str):
        raise Unauthenticated("malformed", "the token's 'team' must be text")
    if any(r not in ROLES for r in roles):
        raise Unauthenticated("unknown_role", "the token names a role that does not exist")
    return Principal(sub=sub, roles=tuple(roles), team=team or None)


def authenticate(authorization: str | None, key: bytes | None = None) -> Principal:
    """The caller named by an `Authorization: Bearer <token>` value."""
    if not isinstance(authorization, str) or not authorization.strip():
        raise Unauthenticated("missing", "send a token: Authorization: Bearer <token>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("malformed", "the Authorization header must be 'Bearer <token>'")
    return verify(token.strip(), key)


def service_token(service: str) -> str:
    """What a service sends when it calls another service's RPC."""
    return issue(service, [SERVICE_ROLE], SERVICE_TOKEN_TTL)


# --- the permission table --------------------------------------------------------

_ACTION = re.compile(r"^[a-z_]+\.[a-z_][a-z0-9_]*$")


def action_of(service_name: str, entrypoint_name: str) -> str:
    return f"{service_name}.{entrypoint_name}"


class Permissions:
    """role -> the actions it may take. Anything absent is denied."""

    def __init__(self, table: dict[str, Iterable[str]], source: str = "the table"):
        self.source = source
        self.by_role: dict[str, frozenset[str]] = {}
        for role, actions in table.items():
            if role not in ROLES:
                raise ValueError(f"{source}: unknown role '{role}' (known: {', '.join(ROLES)})")
            actions = list(actions or ())
            bad = [a for a in actions if not isinstance(a, str) or not _ACTION.match(a)]
            if bad:
                raise ValueError(f"{source}: role '{role}': {bad} are not "
                                 "<service>.<entrypoint> names")
            repeated = sorted({a for a in actions if actions.count(a) > 1})
            if repeated:
                raise ValueError(f"{source}: role '{role}' lists {repeated} more than once")
            self.by_role[role] = frozenset(actions)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Permissions:
        path = Path(path or os.environ.get(PERMISSIONS_ENV) or PERMISSIONS_FILE)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data.get("roles"), dict):
            raise ValueError(f"{path}: needs a 'roles' mapping of role -> actions")
        return cls(data["roles"], str(path))

    def actions(self) -> frozenset[str]:
        return frozenset().union(*self.by_role.values())

    def allows(self, role: str, action: str) -> bool:
        return action in self.by_role.get(role, frozenset())

    def roles_for(self, action: str) -> list[str]:
        return [r for r in ROLES if self.allows(r, action)]

    def authorize(self, principal: Principal, action: str) -> Actor:
        """The actor recorded for this call: the token's subject in its first role that
        may take the action. A multi-role token is allowed if any role allows."""
        for role in principal.roles:
            if self.allows(role, action):
                return principal.actor(role)
        raise Denied(action, principal.roles, allowed=self.roles_for(action))

    def missing(self, actions: Iterable[str]) -> list[str]:
        known = self.actions()
        return sorted(a for a in actions if a not in known)


_loaded: Permissions | None = None


def permissions() -> Permissions:
    global _loaded
    if _loaded is None:
        _loaded = Permissions.load()
    return _loaded


def entrypoint_actions(service_cls: type) -> list[str]:
    """Every action a service class exposes: its non-public HTTP endpoints and its RPC
    methods (both carry their metadata)."""
    found = []
    for klass in reversed(service_cls.__mro__):
        for name, member in vars(klass).items():
            spec = getattr(member, "endpoint_spec", None)
            if (spec is not None and not spec.get("public")) or getattr(
                    member, "rpc_action", False):
                found.append(action_of(service_cls.name, name))  # type: ignore[attr-defined]
    return sorted(set(found))


def check_service(service_cls: type, table: Permissions | None = None) -> None:
    """At start: the key is there and every entrypoint has a line in the table."""
    secret()
    table = table or permissions()
    missing = table.missing(entrypoint_actions(service_cls))
    if missing:
        raise AuthConfigError(f"{table.source} gives no role these actions of "
                              f"{service_cls.name}: {', '.join(missing)}; "  # type: ignore[attr-defined]
                              "add each (deny by default)")
