"""Routing and assignment: pure functions over the routing table, the roster, and the
current workload (folded from the case events)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.vocabulary import Category


@dataclass(frozen=True)
class Roster:
    routes: dict[str, str]
    supervisors: dict[str, tuple[str, ...]]
    investigators: dict[str, tuple[str, ...]]  # team -> available investigator ids, in order
    away: frozenset[str]

    @classmethod
    def from_files(cls, routing: dict[str, Any], roster: dict[str, Any]) -> Roster:
        routes = {str(k): str(v) for k, v in routing["routes"].items()}
        missing = {c.value for c in Category} - set(routes)
        if missing:
            raise ValueError(f"routing table routes no team for {sorted(missing)}")
        teams = roster["teams"]
        unknown = set(routes.values()) - set(teams)
        if unknown:
            raise ValueError(f"routing table names teams missing from the roster: {unknown}")
        return cls(
            routes=routes,
            supervisors={t: tuple(v.get("supervisors", ())) for t, v in teams.items()},
            investigators={t: tuple(i["id"] for i in v.get("investigators", ()))
                           for t, v in teams.items()},
            away=frozenset(i["id"] for v in teams.values() for i in v.get("investigators", ())
                           if i.get("away")),
        )

    def team_for(self, category: str) -> str:
        return self.routes[Category(category).value]

    def team_of(self, investigator: str) -> str | None:
        for team, members in self.investigators.items():
            if investigator in members:
                return team
        return None


@dataclass
class Workload:
    """Open cases per investigator and when each was last given one (a fold of the
    Case events: Assigned, Concluded, Reopened)."""

    holder: dict[uuid.UUID, str] = field(default_factory=dict)  # case -> investigator
    is_open: dict[uuid.UUID, bool] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    last_assigned: dict[str, datetime] = field(default_factory=dict)

    def _count(self, investigator: str, delta: int) -> None:
        self.counts[investigator] = self.counts.get(investigator, 0) + delta

    def assigned(self, case_id: uuid.UUID, investigator: str, at: datetime) -> None:
        previous = self.holder.get(case_id)
        if previous is not None and self.is_open.get(case_id, True):
            self._count(previous, -1)
        self.holder[case_id] = investigator
        self.is_open[case_id] = True
        self._count(investigator, +1)
        last = self.last_assigned.get(investigator)
        self.last_assigned[investigator] = max(at, last) if last else at

    def concluded(self, case_id: uuid.UUID) -> None:
        if self.is_open.get(case_id, True) and case_id in self.holder:
            self._count(self.holder[case_id], -1)
        self.is_open[case_id] = False

    def reopened(self, case_id: uuid.UUID) -> None:
        if not self.is_open.get(case_id, True) and case_id in self.holder:
            self._count(self.holder[case_id], +1)
        self.is_open[case_id] = True

    def open_cases(self, investigator: str) -> int:
        return self.counts.get(investigator, 0)


def choose_investigator(team: str, roster: Roster, workload: Workload) -> str | None:
    """Fewest open cases; ties go to the longest idle (never assigned is the most idle),
    then to roster order. Nobody away. None when the team has nobody available."""
    candidates = [i for i in roster.investigators.get(team, ()) if i not in roster.away]
    if not candidates:
        return None

    def key(item: tuple[int, str]) -> tuple[int, float, int]:
        index, investigator = item
        last = workload.last_assigned.get(investigator)
        return (workload.open_cases(investigator),
                last.timestamp() if last else float("-inf"), index)

    return min(enumerate(candidates), key=key)[1]
