"""The composition root of a service container: builds the application once per
container (never at import time), runs its outbox relay, and owns its subscribers."""

from __future__ import annotations

import functools
import logging
import os
import traceback
from collections.abc import Callable
from typing import Any

from nameko.amqp.publish import Publisher
from nameko.constants import AMQP_URI_CONFIG_KEY, PERSISTENT
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.timer import timer
from werkzeug.wrappers import Request

from contracts.api import Health
from servicekit import auth
from servicekit.application import ServiceApplication
from servicekit.http import endpoint, json_response, openapi_document
from servicekit.messaging import (
    OutboxRelay,
    Subscriber,
    UpstreamLog,
    events_exchange,
    upstream_events,
)

log = logging.getLogger(__name__)

# How often each consumer asks its upstreams for anything it missed (seconds).
CATCH_UP_SECONDS = float(os.environ.get("CATCH_UP_SECONDS", "5"))
# How long one read of an upstream's log may take before it counts as failed (the event
# is retried; the next catch-up tries again). It also bounds how long a stopping service
# waits for a read already under way.
UPSTREAM_RPC_SECONDS = float(os.environ.get("UPSTREAM_RPC_SECONDS", "5"))
MAX_PAGE = 500


class Runtime:
    def __init__(self, app: ServiceApplication, relay: OutboxRelay | None,
                 subscribers: dict[str, Subscriber]):
        self.app = app
        self.relay = relay
        self.subscribers = subscribers
        self.stopping = False  # set when the container begins to stop
        self.ready: Callable[[], bool] = lambda: True  # set by ServiceRuntime

    def wake(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    def deliver(self, upstream: str, body: dict[str, Any]) -> str:
        outcome = self.subscribers[upstream].deliver(body)
        self.wake()
        return outcome

    def catch_up(self) -> dict[str, int]:
        """Ask every upstream for anything missed (a lost message, a consumer that was
        down, a rebuild from zero all take this path)."""
        done: dict[str, int] = {}
        for upstream, subscriber in self.subscribers.items():
            if self.stopping:  # no new reads: an upstream may be stopping too
                break
            try:
                done[upstream] = subscriber.catch_up()
            except UnknownService:
                log.info("catch-up: %s is not running yet", upstream)
            except Exception as exc:
                log.warning("catch-up from %s failed: %s\n%s", upstream, type(exc).__name__,
                            "".join(traceback.format_tb(exc.__traceback__)))
        if any(done.values()):
            self.wake()
        return done


def consumers_ready(container: Any) -> bool:
    """Whether every queue consumer of the container consumes: nameko's web server
    answers while the consumers are still starting, and a container stopped in that
    window hangs in nameko's stop (it never stops: killed after the grace period)."""
    for entrypoint in container.entrypoints:
        consumer = getattr(entrypoint, "queue_consumer", None) or getattr(
            getattr(entrypoint, "rpc_consumer", None), "queue_consumer", None)
        ready = getattr(consumer, "_consumers_ready", None)
        if ready is not None and not ready.ready():
            return False
    return True


class ServiceRuntime(DependencyProvider):
    def __init__(self, app_factory: Callable[[], ServiceApplication],
                 upstreams: tuple[str, ...] = (), relay: bool = True):
        self.app_factory = app_factory
        self.upstreams = upstreams
        self.with_relay = relay
        self.runtime: Runtime | None = None

    def setup(self) -> None:
        # No key, or an entrypoint the permission table does not know: refuse to start.
        auth.check_service(self.container.service_cls)
        config = self.container.config
        app = self.app_factory()
        relay = None
        if self.with_relay:
            publisher = Publisher(config[AMQP_URI_CONFIG_KEY], use_confirms=True,
                                  delivery_mode=PERSISTENT, declare=[events_exchange(config)])
            relay = OutboxRelay(app, publisher, events_exchange(config))
        self.logs = [UpstreamLog(u, config, caller=self.container.service_name,
                                 timeout=UPSTREAM_RPC_SECONDS)
                     for u in self.upstreams]
        self.runtime = Runtime(app, relay, {log.upstream: Subscriber(app, log.upstream, log)
                                            for log in self.logs})
        self.runtime.ready = functools.partial(consumers_ready, self.container)

    def start(self) -> None:
        if self.runtime and self.runtime.relay:
            self.container.spawn_managed_thread(self.runtime.relay.run)

    def stop(self) -> None:
        for upstream_log in getattr(self, "logs", ()):
            upstream_log.close()
        if self.runtime and self.runtime.relay:
            self.runtime.relay.stop()
        if self.runtime:
            self.runtime.app.close()

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx: Any) -> Runtime:
        assert self.runtime is not None
        return self.runtime


class CallerContext(DependencyProvider):
    """The nameko context data a call arrived with (where RPC callers put their token)."""

    def get_dependency(self, worker_ctx: Any) -> dict[str, Any]:
        return dict(worker_ctx.context_data or {})


def secured_rpc(fn: Callable[..., Any]) -> Any:
    """An RPC entrypoint that first checks the caller's bearer token (context data key
    `authorization`, sent by UpstreamLog) against the permission table: the one place
    for every RPC entrypoint, as servicekit.http is for HTTP."""

    @functools.wraps(fn)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        principal = auth.authenticate(self.caller.get(auth.RPC_TOKEN_KEY))
        auth.permissions().authorize(principal, auth.action_of(self.name, fn.__name__))
        return fn(self, *args, **kwargs)

    method.rpc_action = True  # type: ignore[attr-defined]
    return rpc(expected_exceptions=(auth.Unauthenticated, auth.Denied))(method)


def subscriptions(*upstreams: str) -> type:
    """A base class with, per upstream, the reliable entrypoint `on_<upstream>_event`
    (exactly once, in order, via the runtime's subscriber) and the periodic catch-up
    that recovers anything missed. The service's runtime names the same upstreams."""

    def on_event(upstream: str):
        def handle(self: Any, body: dict[str, Any]) -> None:
            self.runtime.deliver(upstream, body)

        handle.__name__ = f"on_{upstream}_event"
        return upstream_events(upstream)(handle)

    def catch_up(self: Any) -> None:
        self.runtime.catch_up()

    namespace = {f"on_{u}_event": on_event(u) for u in upstreams}
    namespace["catch_up"] = timer(interval=CATCH_UP_SECONDS, eager=True)(catch_up)
    return type("Subscriptions", (), namespace)


class ServiceBase:
    """Entrypoints every service has: /health, /openapi.json and the notification log
    over RPC (how downstream consumers catch up)."""

    name: str
    title: str = ""
    runtime: Runtime
    caller = CallerContext()

    @endpoint("GET", "/health", response=Health, summary="health", public=True)
    def health(self, call) -> Any:
        """200 once the service consumes its queues; 503 while it is still starting."""
        if not self.runtime.ready():
            return json_response(Health(status="starting", service=self.name,
                                        position=self.runtime.app.head()), 503)
        return Health(status="ok", service=self.name, position=self.runtime.app.head())

    @endpoint("GET", "/openapi.json", summary="openapi", public=True)
    def openapi(self, call) -> Any:
        return openapi_document(type(self), self.title or self.name)

    @secured_rpc
    def notifications(self, start: int, limit: int = 100) -> list[dict[str, Any]]:
        envelopes = self.runtime.app.notifications(int(start), max(1, min(int(limit), MAX_PAGE)))
        return [e.model_dump(mode="json") for e in envelopes]


__all__ = ["CATCH_UP_SECONDS", "Request", "Runtime", "ServiceBase", "ServiceRuntime",
           "json_response"]
