"""How a client (a test, the importer, a script) says who it is: one place, so that
every caller follows the API's authentication scheme when it changes."""

from __future__ import annotations

from collections.abc import Sequence

from servicekit import auth


def auth_headers(sub: str, role: str | Sequence[str], *, team: str | None = None,
                 ttl_seconds: float = 3600) -> dict[str, str]:
    """The headers that identify `sub` acting in `role` (or several roles): a bearer
    token signed with $AUTH_SECRET, valid for `ttl_seconds`."""
    return {"Authorization": "Bearer " + auth.issue(sub, role, ttl_seconds, team=team)}
