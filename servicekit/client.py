"""How a client (a test, the importer, a script) says who it is: one place, so that
every caller follows the API's authentication scheme when it changes."""

from __future__ import annotations


def auth_headers(sub: str, role: str) -> dict[str, str]:
    """The headers that identify `sub` acting in `role`."""
    return {"X-Actor-Id": sub, "X-Actor-Role": role}
