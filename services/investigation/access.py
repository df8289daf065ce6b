"""Whose case is it: the row-level rule of investigation, on top of the permission table
(which already said the caller's role may take the action at all).

- An investigator sees and acts on the cases assigned to them and on the unassigned
  cases in their team's queue; a member of a consulted department sees the case and
  answers the consultations addressed to it.
- A supervisor sees and acts on their team's cases.
- Every other role the table allows (quality manager, resolver, admin, ...) is not
  restricted by row. A token with several roles is restricted only if every role that
  allows the action is.

The team is the token's `team` claim when it has one, else the roster's (investigator
of a team, or its supervisor). A case the caller may not see answers 403."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from servicekit.auth import Denied, Principal, permissions
from services.investigation.routing import Roster

INVESTIGATOR = "investigator"
SUPERVISOR = "supervisor"
ROW_RESTRICTED = {INVESTIGATOR, SUPERVISOR}
CONSULTED_MAY = {"get_case", "answer_consultation"}


@dataclass(frozen=True)
class Scope:
    sub: str
    roles: frozenset[str]  # the restricted roles that allow the action; empty: unrestricted
    teams: frozenset[str]

    @classmethod
    def of(cls, principal: Principal, action: str, roster: Roster) -> Scope:
        allowing = {r for r in principal.roles if permissions().allows(r, action)}
        if allowing - ROW_RESTRICTED:
            return cls(principal.sub, frozenset(), frozenset())
        if principal.team:
            teams = {principal.team}
        else:
            teams = {t for t, members in roster.investigators.items() if principal.sub in members}
            teams |= {t for t, sups in roster.supervisors.items() if principal.sub in sups}
        return cls(principal.sub, frozenset(allowing), frozenset(teams))

    @property
    def unrestricted(self) -> bool:
        return not self.roles

    def may(self, case: Any, handler: str = "get_case", consultation: str | None = None
            ) -> bool:
        """`case` is a CaseView (team, investigator, consultations)."""
        if self.unrestricted:
            return True
        if SUPERVISOR in self.roles and case.team in self.teams:
            return True
        if INVESTIGATOR in self.roles:
            if case.investigator == self.sub:
                return True
            if case.investigator is None and case.team in self.teams:
                return True
            if handler in CONSULTED_MAY and any(
                    c.department in self.teams
                    and (consultation is None or handler == "get_case"
                         or c.consultation_id == consultation)
                    for c in case.consultations):
                return True
        return False

    def check(self, case: Any, handler: str, consultation: str | None = None) -> None:
        if not self.may(case, handler, consultation):
            raise Denied(handler, sorted(self.roles), why=(
                f"{self.sub} may not see or act on this case: it is neither assigned to "
                "them nor in their team's queue" if self.roles == {INVESTIGATOR} else
                f"{self.sub} may not see or act on this case: it belongs to another team"))

    def visible(self, cases: Iterable[Any]) -> list[Any]:
        return [c for c in cases if self.may(c)]
