"""Fixtures for real servers. RabbitMQ and PostgreSQL come from testcontainers where
a Docker engine answers, otherwise from AMQP_URI and POSTGRES_* (on our machines the
local servers). Each test gets its own RabbitMQ vhost and its own PostgreSQL database."""

import eventlet

eventlet.monkey_patch()  # nameko's containers need it; must precede other imports

import contextlib  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402
from urllib.parse import quote, urlparse, urlunparse  # noqa: E402

import pytest  # noqa: E402

import servicekit  # noqa: E402,F401  (sets PSYCOPG_WAIT_FUNC before psycopg loads)
from servicekit.pii import MASTER_KEY_ENV, generate_master_key  # noqa: E402

# The master key that wraps personal-data keys (intake refuses to start without one):
# one per test session, inherited by the e2e `nameko run` processes.
os.environ.setdefault(MASTER_KEY_ENV, generate_master_key())

# One signing key for the whole suite: nameko containers in this process, the e2e
# `nameko run` processes and the tools inherit it; servicekit.client.auth_headers signs
# with it. Set unconditionally, so a developer's own AUTH_SECRET never leaks into a run.
TEST_AUTH_SECRET = "test-only-auth-secret-0123456789-abcdefghijklmnop"
os.environ["AUTH_SECRET"] = TEST_AUTH_SECRET
# Nor the development tokens of a `source data/dev-tokens.env` (signed with another key;
# the importer would use $ADMIN_TOKEN).
for _variable in [v for v in os.environ if v.endswith("_TOKEN")]:
    del os.environ[_variable]


def _docker_answers() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True).returncode == 0


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


# --- RabbitMQ -----------------------------------------------------------------


class Broker:
    def __init__(self, uri: str, ctl):
        self.uri = uri
        self.ctl = ctl  # runs rabbitmqctl with the given arguments, or None

    def vhost_uri(self, vhost: str) -> str:
        parts = urlparse(self.uri)
        return urlunparse(parts._replace(path="/" + quote(vhost, safe="")))

    @contextlib.contextmanager
    def fresh_vhost(self):
        """A vhost of its own (deleted afterwards), so queues and RPC names never leak
        between tests; the broker's default vhost when there is no rabbitmqctl."""
        if self.ctl is None:
            print("no rabbitmqctl for this broker: sharing the broker's default vhost")
            yield self.uri
            return
        vhost = f"test-{uuid.uuid4().hex[:12]}"
        self.ctl("add_vhost", vhost)
        self.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        try:
            yield self.vhost_uri(vhost)
        finally:
            self.ctl("delete_vhost", vhost)


@pytest.fixture(scope="session")
def broker():
    if _docker_answers():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13") as rabbit:
            uri = (f"amqp://guest:guest@{rabbit.get_container_host_ip()}:"
                   f"{rabbit.get_exposed_port(5672)}/")
            yield Broker(uri, lambda *args: rabbit.exec(["rabbitmqctl", *args]))
        return
    uri = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    parsed = urlparse(uri)
    if not _answers(parsed.hostname, parsed.port or 5672):
        pytest.fail(f"RabbitMQ does not answer at {parsed.hostname}:{parsed.port or 5672}; "
                    "start it (python tools/servers.py) or set AMQP_URI")
    ctl = None
    if shutil.which("rabbitmqctl") and parsed.hostname in ("127.0.0.1", "localhost"):
        def ctl(*args):
            subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True)
    yield Broker(uri, ctl)


@pytest.fixture
def amqp_uri(broker):
    """A fresh vhost per test, so queues and RPC names never leak between tests."""
    with broker.fresh_vhost() as uri:
        yield uri


# --- PostgreSQL ---------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server():
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", username="test", password="test") as pg:
            yield {"POSTGRES_HOST": pg.get_container_host_ip(),
                   "POSTGRES_PORT": str(pg.get_exposed_port(5432)),
                   "POSTGRES_USER": "test", "POSTGRES_PASSWORD": "test"}
        return
    server = {
        "POSTGRES_HOST": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        "POSTGRES_PORT": os.environ.get("POSTGRES_PORT", "5432"),
        "POSTGRES_USER": os.environ.get("POSTGRES_USER", "postgres"),
        "POSTGRES_PASSWORD": os.environ.get("POSTGRES_PASSWORD", ""),
    }
    if not _answers(server["POSTGRES_HOST"], int(server["POSTGRES_PORT"])):
        pytest.fail(f"PostgreSQL does not answer at {server['POSTGRES_HOST']}:"
                    f"{server['POSTGRES_PORT']}; start it (python tools/servers.py) "
                    "or set POSTGRES_*")
    yield server


def _admin(server):
    import psycopg

    return psycopg.connect(host=server["POSTGRES_HOST"], port=server["POSTGRES_PORT"],
                           user=server["POSTGRES_USER"],
                           password=server["POSTGRES_PASSWORD"] or None,
                           dbname="postgres", autocommit=True)


@pytest.fixture
def postgres_database(postgres_server):
    """Returns a function making a fresh database; all are dropped after the test."""
    made = []

    def make(prefix: str = "test") -> dict[str, str]:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with _admin(postgres_server) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return {**postgres_server, "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": name}

    yield make
    with _admin(postgres_server) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["popo", "sqlite", "postgres"])
def store_env(request, tmp_path):
    """The same application test on in-memory, SQLite and PostgreSQL stores."""
    if request.param == "popo":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if request.param == "sqlite":
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(tmp_path / "store.sqlite")}
    return request.getfixturevalue("postgres_database")()


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def free_port():
    return free_tcp_port
