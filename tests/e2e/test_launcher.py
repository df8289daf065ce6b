"""`make run`'s launcher: prints the four URLs, and Ctrl-C stops every service."""

import os
import signal
import subprocess
import sys
import time

import requests

from tests.e2e.conftest import ROOT


def test_the_launcher_prints_the_urls_and_ctrl_c_stops_every_service(amqp_uri, tmp_path,
                                                                     free_port):
    ports = {name: free_port() for name in ("intake", "investigation", "resolution",
                                            "reporting")}
    env = {**os.environ, "AMQP_URI": amqp_uri, "DATA_DIR": str(tmp_path),
           "PYTHONUNBUFFERED": "1",
           **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()}}
    launcher = subprocess.Popen([sys.executable, str(ROOT / "tools/run_all.py")], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    deadline = time.monotonic() + 60
    while "Press Ctrl-C to stop." not in "".join(lines):
        assert time.monotonic() < deadline, "".join(lines)
        lines.append(launcher.stdout.readline())
    printed = "".join(lines)
    for port in ports.values():
        assert f"http://127.0.0.1:{port}" in printed
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    children = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True,
                              text=True).stdout.split()
    assert len(children) == 4

    launcher.send_signal(signal.SIGINT)
    assert launcher.wait(timeout=40) == 0
    assert "stopped." in launcher.stdout.read()
    for pid in children:
        assert not os.path.exists(f"/proc/{pid}"), f"service process {pid} still running"
    for port in ports.values():
        try:
            requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
            raise AssertionError(f"port {port} still answers")
        except requests.ConnectionError:
            pass
    assert {p.name for p in tmp_path.glob("*.sqlite")} == {
        "intake.sqlite", "investigation.sqlite", "resolution.sqlite", "reporting.sqlite"}
