"""Make sure the servers answer, starting them when they do not (standard library only:
it runs before the virtualenv exists).

RabbitMQ at AMQP_URI: a local rabbitmq-server (installing the Debian package first when
missing and root), or `docker compose up -d rabbitmq` when a Docker engine answers.
PostgreSQL at POSTGRES_HOST:POSTGRES_PORT (tests only): the local cluster via
pg_ctlcluster, or `docker compose up -d postgres`.

`python tools/servers.py` ensures both; `python tools/servers.py rabbitmq` one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(host, port):
            return True
        time.sleep(1)
    return False


def docker_answers() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True).returncode == 0


def ensure_rabbitmq(uri: str | None = None) -> str:
    uri = uri or os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)
    parsed = urlparse(uri)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 5672
    if answers(host, port):
        return uri
    if host not in ("127.0.0.1", "localhost"):
        sys.exit(f"RabbitMQ at {host}:{port} does not answer, and it is not local to start")
    if shutil.which("rabbitmq-server") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing rabbitmq-server (Debian package)...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "rabbitmq-server"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if shutil.which("rabbitmq-server"):
        print("starting rabbitmq-server...", flush=True)
        subprocess.run(["rabbitmq-server", "-detached"], check=False)
    elif docker_answers():
        subprocess.run(["docker", "compose", "up", "-d", "rabbitmq"], check=True)
    else:
        sys.exit("no RabbitMQ at AMQP_URI and no way to start one: install rabbitmq-server "
                 "or a Docker engine, or set AMQP_URI")
    if not wait_for(host, port, 90):
        sys.exit(f"RabbitMQ did not start answering on {host}:{port}")
    return uri


def ensure_postgres() -> str:
    host = os.environ.get("POSTGRES_HOST", "127.0.0.1")
    port = int(os.environ.get("POSTGRES_PORT", "5432"))
    if answers(host, port):
        return f"{host}:{port}"
    if host not in ("127.0.0.1", "localhost"):
        sys.exit(f"PostgreSQL at {host}:{port} does not answer, and it is not local to start")
    clusters = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if shutil.which("pg_ctlcluster") and clusters:
        print("starting PostgreSQL...", flush=True)
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", clusters[-1], "main",
                        "start"], check=False)
    elif docker_answers():
        subprocess.run(["docker", "compose", "up", "-d", "postgres"], check=True)
    else:
        sys.exit("no PostgreSQL at POSTGRES_HOST:POSTGRES_PORT and no way to start one")
    if not wait_for(host, port, 60):
        sys.exit(f"PostgreSQL did not start answering on {host}:{port}")
    return f"{host}:{port}"


if __name__ == "__main__":
    wanted = sys.argv[1:] or ["rabbitmq", "postgres"]
    if "rabbitmq" in wanted:
        print("RabbitMQ:", ensure_rabbitmq())
    if "postgres" in wanted:
        print("PostgreSQL:", ensure_postgres())
