"""The customer of a complaint as the caller may see it, asked of intake.

Personal data lives only in intake (servicekit.pii): integration events carry the
complaint id and never the customer. A downstream view that shows the customer (a case,
a resolution, an audit trail) asks intake per request over RPC — intake's `customer`
entrypoint, with the calling service's token — saying the reader's role, who they are,
and whether they are the one assigned to the complaint in this service; intake decides
what that role sees (servicekit.pii.shown: the one place for the rule). Nothing is
cached or stored downstream.

Intake that does not answer within CUSTOMER_LOOKUP_SECONDS (2 by default), is not
running, or fails, never fails the request: the view shows the customer as
`unavailable` (an empty block) and the worker is free again after at most that long.
Calls go through a small pool of standalone proxies (messaging.StandaloneRpc, each on
its own connection, so a reply never waits behind the worker pool that is waiting for
it), one caller per proxy at a time.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

import eventlet
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider

from contracts.envelope import Actor
from servicekit.messaging import StandaloneRpc

log = logging.getLogger(__name__)

TIMEOUT_ENV = "CUSTOMER_LOOKUP_SECONDS"
DEFAULT_TIMEOUT = 2.0
POOL_SIZE = 4
UNAVAILABLE = "unavailable"
INTAKE = "intake"


def lookup_timeout(config: dict[str, Any] | None = None) -> float:
    value = (config or {}).get(TIMEOUT_ENV) or os.environ.get(TIMEOUT_ENV)
    return float(value) if value else DEFAULT_TIMEOUT


class CustomerLookup:
    """`lookup(complaint_id, actor, assigned)` -> {"customer": {...}, "customer_view":
    "plain" | "masked" | "erased" | "none" | "unavailable"}, ready to merge into a view."""

    def __init__(self, config: dict[str, Any], caller: str, timeout: float | None = None,
                 size: int = POOL_SIZE, service: str = INTAKE):
        self.config = config
        self.caller = caller
        self.service = service
        self.timeout = lookup_timeout(config) if timeout is None else timeout
        self._slots = Semaphore(size)
        self._idle: list[StandaloneRpc] = []
        self._closed = False

    def __call__(self, complaint_id: uuid.UUID | str, actor: Actor | None,
                 assigned: bool = False) -> dict[str, Any]:
        role = actor.role.value if actor is not None else None
        sub = actor.id if actor is not None else None
        try:
            with eventlet.Timeout(self.timeout), self._slots:
                block = self._call(str(complaint_id), role, sub, bool(assigned))
        except eventlet.Timeout:
            log.warning("customer of complaint %s: %s did not answer within %.1fs",
                        complaint_id, self.service, self.timeout)
            return unavailable()
        except Exception as exc:  # not running, refused, failed: the view goes on without
            log.warning("customer of complaint %s: %s unavailable (%s)", complaint_id,
                        self.service, type(exc).__name__)
            return unavailable()
        return {"customer": block["customer"], "customer_view": block["view"]}

    def _call(self, complaint_id: str, role: str | None, sub: str | None,
              assigned: bool) -> dict[str, Any]:
        rpc = self._idle.pop() if self._idle else StandaloneRpc(
            self.service, self.config, timeout=self.timeout, caller=self.caller)
        # StandaloneRpc closes its proxy itself when a call fails or is interrupted
        result: dict[str, Any] = rpc.call("customer", complaint_id, role,
                                          assigned=assigned, sub=sub)
        if self._closed:
            rpc.close()
        else:
            self._idle.append(rpc)
        return result

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for rpc in idle:
            rpc.close()


def unavailable() -> dict[str, Any]:
    return {"customer": {}, "customer_view": UNAVAILABLE}


class CustomerViews(DependencyProvider):
    """A service's CustomerLookup (one pool per container), made lazily: no connection
    until the first lookup."""

    def setup(self) -> None:
        self.lookup = CustomerLookup(self.container.config, self.container.service_name)

    def stop(self) -> None:
        self.lookup.close()

    def kill(self) -> None:
        self.lookup.close()

    def get_dependency(self, worker_ctx: Any) -> CustomerLookup:
        return self.lookup
