"""Delivery with no loss, no duplicates, in order (ARCHITECTURE.md "Delivery").

- OutboxRelay: publishes the notification log to RabbitMQ (persistent, publisher
  confirms) and advances the published position only after the confirms.
- Subscriber: a catch-up subscriber of one upstream. Already seen -> drop; next in
  line -> process; ahead -> fetch the missing range from the upstream's log over
  RPC and process in order. The position is recorded with the produced events.
- upstream_events: a nameko entrypoint that never acks-and-drops a failed message:
  it re-queues it with back-off through a delay queue and, after the last attempt,
  parks it on a dead-letter queue (<queue>.dead) for an operator to re-drive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import eventlet
from eventlet.semaphore import Semaphore
from eventsourcing.persistence import RecordConflictError
from kombu import Exchange, Queue
from nameko.amqp.publish import Publisher
from nameko.constants import AMQP_URI_CONFIG_KEY, PERSISTENT
from nameko.messaging import Consumer
from nameko.standalone.rpc import ServiceRpcProxy

from contracts.envelope import Envelope
from servicekit import auth
from servicekit.application import ServiceApplication

log = logging.getLogger(__name__)

DEFAULT_EXCHANGE = "complaints.events"
Fetch = Callable[[int, int], list[dict[str, Any]]]


def events_exchange(config: dict[str, Any]) -> Exchange:
    return Exchange(config.get("EVENTS_EXCHANGE", DEFAULT_EXCHANGE), type="topic", durable=True)


class OutboxRelay:
    """One relay per service instance. Safe to run twice: a position another relay
    already recorded is simply not recorded again, and consumers drop duplicates."""

    def __init__(
        self,
        app: ServiceApplication,
        publisher: Publisher,
        exchange: Exchange,
        batch_size: int = 200,
        idle_seconds: float = 1.0,
    ):
        self.app = app
        self.publisher = publisher
        self.exchange = exchange
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self._wake = eventlet.Event()
        self._stopped = False

    def wake(self) -> None:
        if not self._wake.ready():
            self._wake.send()

    def stop(self) -> None:
        self._stopped = True
        self.wake()

    def publish_pending(self) -> int:
        """Publish one batch after the recorded position; returns how many."""
        position = self.app.outbox_position()
        envelopes = self.app.notifications(position + 1, self.batch_size)
        for envelope in envelopes:
            self.publisher.publish(
                envelope.model_dump(mode="json"),
                exchange=self.exchange,
                routing_key=envelope.routing_key,
                message_id=str(envelope.event_id),
            )
        if envelopes:
            last = envelopes[-1].origin_position
            try:
                self.app.record_outbox_position(last)
            except Exception:  # another relay recorded it (or later) first
                if self.app.outbox_position() < last:
                    raise
        return len(envelopes)

    def run(self) -> None:
        backoff = 0.5
        while not self._stopped:
            self._wake = eventlet.Event()
            try:
                published = self.publish_pending()
                backoff = 0.5
            except Exception as exc:  # the broker is down: the events are safe in the log
                log.warning("outbox of %s could not publish (%s); retrying in %.1fs",
                            self.app.name, type(exc).__name__, backoff)
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if published < self.batch_size:
                with eventlet.Timeout(self.idle_seconds, False):
                    self._wake.wait()


class _ReplyBodiesNotLogged(logging.Filter):
    """nameko.rpc logs every RPC reply's body at DEBUG ("RPC reply event complete"): a
    customer block from intake is personal data, so the body is replaced, whatever the
    log level."""

    MESSAGE = "RPC reply event complete %s %s"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == self.MESSAGE and isinstance(record.args, tuple) and record.args:
            record.args = (record.args[0], "(reply body not logged)")
        return True


def _redact_rpc_replies() -> None:
    logger = logging.getLogger("nameko.rpc")
    if not any(isinstance(f, _ReplyBodiesNotLogged) for f in logger.filters):
        logger.addFilter(_ReplyBodiesNotLogged())


_redact_rpc_replies()


class StandaloneRpc:
    """Calls one service's RPC methods on a standalone proxy with its own connection: a
    reply must never wait behind the container's worker pool, which may be full of
    handlers waiting on this very call (a fetch serving the subscriber, an HTTP request
    asking intake for a customer). Each call carries a service token (role `system`) in
    the context data; the proxy is rebuilt with a fresh one before the token runs out,
    and after any failure. A standalone proxy is single-threaded: one caller at a time
    (CustomerLookup keeps a pool of them)."""

    def __init__(self, service: str, config: dict[str, Any], timeout: float = 10.0,
                 caller: str = "service"):
        self.service = service
        self.config = config
        self.timeout = timeout
        self.caller = caller
        self._standalone: ServiceRpcProxy | None = None
        self._proxy: Any = None
        self._renew_at = 0.0

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._proxy is not None and time.monotonic() >= self._renew_at:
            self.close()
        try:
            if self._proxy is None:
                context = {auth.RPC_TOKEN_KEY: "Bearer " + auth.service_token(self.caller)}
                self._renew_at = time.monotonic() + auth.SERVICE_TOKEN_TTL / 2
                # Kept before start(): a start interrupted half-way is closed below too.
                self._standalone = ServiceRpcProxy(self.service, self.config,
                                                   context_data=context, timeout=self.timeout)
                self._proxy = self._standalone.start()
            return getattr(self._proxy, method)(*args, **kwargs)
        except BaseException:
            self.close()  # a broken connection (or an interrupted call) is rebuilt next time
            raise

    def close(self) -> None:
        standalone, self._standalone, self._proxy = self._standalone, None, None
        if standalone is not None:
            try:
                standalone.stop()
            except Exception:  # already broken; nothing left to release
                log.debug("closing the %s proxy failed", self.service, exc_info=True)


class UpstreamLog(StandaloneRpc):
    """Reads an upstream's notification log over RPC (see StandaloneRpc)."""

    @property
    def upstream(self) -> str:
        return self.service

    def __call__(self, start: int, limit: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("notifications", start, limit)
        return result


class Subscriber:
    """Processes one upstream's events exactly once and in order. Calls are serialised
    per subscriber; `fetch` is only ever used under that lock."""

    def __init__(self, app: ServiceApplication, upstream: str, fetch: Fetch,
                 batch_size: int = 100):
        self.app = app
        self.upstream = upstream
        self.fetch = fetch
        self.batch_size = batch_size
        self._lock = Semaphore()

    def deliver(self, body: dict[str, Any]) -> str:
        envelope = Envelope.model_validate(body)
        if envelope.origin_service != self.upstream:
            raise ValueError(f"{envelope.origin_service} event on the {self.upstream} queue")
        with self._lock:
            last = self.app.position(self.upstream)
            if envelope.origin_position <= last:
                return "duplicate"
            if envelope.origin_position == last + 1:
                self._process(envelope)
                return "processed"
            fetched = self._catch_up(until=envelope.origin_position)
            log.info("%s: %s position %d arrived after %d; fetched %d over RPC",
                     self.app.name, self.upstream, envelope.origin_position, last, fetched)
            return "caught-up"

    def catch_up(self) -> int:
        with self._lock:
            return self._catch_up(until=None)

    def _catch_up(self, until: int | None) -> int:
        processed = 0
        last = self.app.position(self.upstream)
        while until is None or last < until:
            batch = self.fetch(last + 1, self.batch_size)
            if not batch:
                break
            for body in batch:
                envelope = Envelope.model_validate(body)
                if envelope.origin_position <= last:
                    continue
                self._process(envelope)
                last = envelope.origin_position
                processed += 1
        return processed

    def _process(self, envelope: Envelope, attempts: int = 5) -> None:
        for attempt in range(1, attempts + 1):
            try:
                self.app.process(envelope)
                return
            except RecordConflictError:
                if self.app.position(self.upstream) >= envelope.origin_position:
                    return  # another consumer instance recorded this position first
                if attempt == attempts:
                    raise
                # another instance saved the same aggregate for another upstream: re-read


class UpstreamEvents(Consumer):
    """Entrypoint for one upstream's integration events, on a durable quorum queue
    `<service>.from.<upstream>` bound to `<upstream>.#`."""

    def stop(self) -> None:
        # nameko stops entrypoints first, then waits for running workers: tell the
        # service's runtime now, so a catch-up under way reads no further upstream
        # (which may be stopping as well) and the service stops promptly.
        for dependency in self.container.dependencies:
            runtime = getattr(dependency, "runtime", None)
            if runtime is not None and hasattr(runtime, "stopping"):
                runtime.stopping = True
        super().stop()

    def __init__(self, upstream: str, max_attempts: int | None = None, **kwargs: Any):
        self.upstream = upstream
        self._max_attempts = max_attempts
        super().__init__(queue=None, **kwargs)

    def setup(self) -> None:
        config = self.container.config
        name = f"{self.container.service_name}.from.{self.upstream}"
        self.queue = Queue(
            name,
            exchange=events_exchange(config),
            routing_key=f"{self.upstream}.#",
            durable=True,
            queue_arguments={"x-queue-type": "quorum"},
        )
        self.retry_queue = Queue(
            f"{name}.retry",
            durable=True,
            queue_arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": name},
        )
        self.dead_queue = Queue(f"{name}.dead", durable=True)
        self.max_attempts = self._max_attempts or int(config.get("DELIVERY_ATTEMPTS", 5))
        self.retry_base_seconds = float(config.get("RETRY_BASE_SECONDS", 1.0))
        self.publisher = Publisher(
            config[AMQP_URI_CONFIG_KEY],
            declare=[self.retry_queue, self.dead_queue],
            delivery_mode=PERSISTENT,
        )
        super().setup()

    def handle_message_processed(self, message, result=None, exc_info=None) -> None:
        if exc_info is not None:
            self._retry_or_park(message, exc_info)
        self.queue_consumer.ack_message(message)

    def _retry_or_park(self, message, exc_info) -> None:
        attempts = int((message.headers or {}).get("x-attempts", 0)) + 1
        error = exc_info[0].__name__
        headers = {"x-attempts": attempts, "x-error": error}
        if attempts < self.max_attempts:
            delay = self.retry_base_seconds * 2 ** (attempts - 1)
            log.warning("%s: %s failed (attempt %d), retrying in %.0fs",
                        self.queue.name, error, attempts, delay)
            self.publisher.publish(
                message.payload, exchange="", routing_key=self.retry_queue.name,
                headers=headers, expiration=delay,
            )
        else:
            log.error("%s: %s failed %d times; parked on %s",
                      self.queue.name, error, attempts, self.dead_queue.name)
            self.publisher.publish(
                message.payload, exchange="", routing_key=self.dead_queue.name, headers=headers,
            )


upstream_events = UpstreamEvents.decorator
