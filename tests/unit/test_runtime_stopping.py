"""A stopping service reads no further upstream log: the catch-up in progress when the
container stops would otherwise wait on upstreams that are stopping too."""

import contextlib

from servicekit.messaging import Subscriber, UpstreamEvents
from servicekit.runtime import Runtime
from services.reporting.application import ReportingApplication

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def test_a_stopping_runtime_reads_no_upstream_and_a_running_one_reads_each():
    app = ReportingApplication(env=POPO)
    asked: list[str] = []

    def log_of(upstream):
        def fetch(start, limit):
            asked.append(upstream)
            return []
        return fetch

    runtime = Runtime(app, None, {u: Subscriber(app, u, log_of(u))
                                  for u in ("intake", "investigation")})
    runtime.catch_up()
    assert asked == ["intake", "investigation"]
    asked.clear()
    runtime.stopping = True
    assert runtime.catch_up() == {} and asked == []


def test_stopping_the_upstream_entrypoint_tells_the_runtime():
    class Dependency:
        def __init__(self):
            self.runtime = Runtime(ReportingApplication(env=POPO), None, {})

    class Container:
        dependencies = [object(), Dependency()]

    entrypoint = UpstreamEvents.__new__(UpstreamEvents)
    entrypoint.container = Container()
    # The consumer machinery is not set up here; only the flag matters.
    with contextlib.suppress(Exception):
        entrypoint.stop()
    assert Container.dependencies[1].runtime.stopping is True


def test_health_waits_for_every_queue_consumer_to_consume():
    from eventlet.event import Event

    from servicekit.runtime import consumers_ready

    class QueueConsumer:
        def __init__(self):
            self._consumers_ready = Event()

    shared = QueueConsumer()

    class Rpc:
        class rpc_consumer:  # noqa: N801 - shaped like nameko's RpcConsumer
            queue_consumer = shared

    class Upstream:
        queue_consumer = shared

    class Timer:
        pass

    class Container:
        entrypoints = [Timer(), Rpc(), Upstream()]

    assert consumers_ready(Container()) is False
    shared._consumers_ready.send(None)
    assert consumers_ready(Container()) is True
