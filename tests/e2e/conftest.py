"""The four services as separate `nameko run` processes, as `make run` starts them."""

import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from servicekit.client import auth_headers

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import run_all  # noqa: E402

AGENT = auth_headers("agent-7", "agent")
INVESTIGATOR = auth_headers("inv-1", "investigator")
RESOLVER = auth_headers("res-1", "resolver")
READER = auth_headers("admin-1", "admin")  # reads that are not themselves under test


class System:
    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.processes: dict = {}
        self.urls = run_all.urls(env)

    def start(self, *names: str) -> None:
        for name in names or run_all.SERVICES:
            self.processes[name] = run_all.start_service(
                name, self.env, self.log_dir / f"{name}.log")
        run_all.wait_healthy({n: self.urls[n] for n in names or run_all.SERVICES})

    def stop(self, *names: str) -> None:
        run_all.stop({n: self.processes.pop(n) for n in names or list(self.processes)})

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def get(self, service: str, path: str, headers: dict | None = READER,
            **kwargs) -> requests.Response:
        return requests.get(self.urls[service] + path, headers=headers, timeout=10, **kwargs)

    def post(self, service: str, path: str, body: dict, actor: dict) -> requests.Response:
        return requests.post(self.urls[service] + path, json=body, headers=actor, timeout=10)

    def eventually(self, probe, what: str, seconds: float = 30.0):
        """Poll until probe() returns something truthy; fail naming what never happened."""
        deadline = time.monotonic() + seconds
        while True:
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {seconds}s waiting for {what}")
            time.sleep(0.2)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_dir.glob("*.log"))


@contextlib.contextmanager
def running_system(amqp_uri: str, root: Path, port: Callable[[], int]):
    """The four services as `make run` starts them, on `amqp_uri`, with their stores and
    logs under `root`; stopped afterwards."""
    env = dict(os.environ)
    env.update({
        "AMQP_URI": amqp_uri,
        "DATA_DIR": str(root / "data"),
        "CATCH_UP_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
        "RETRY_BASE_SECONDS": "0.5",
    })
    for name in run_all.SERVICES:
        env[f"{name.upper()}_PORT"] = str(port())
        env.pop(f"{name.upper()}_PERSISTENCE_MODULE", None)
    env.pop("PERSISTENCE_MODULE", None)
    (root / "logs").mkdir()
    running = System(env, root / "logs")
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def system(amqp_uri, tmp_path, free_port):
    with running_system(amqp_uri, tmp_path, free_port) as running:
        yield running
