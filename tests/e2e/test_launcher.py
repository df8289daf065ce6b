"""`make run`'s launcher: prints the four URLs and development tokens signed with a key
it made for the run, and Ctrl-C stops every service."""

import os
import signal
import subprocess
import sys
import time

import requests

from servicekit import auth
from tests.e2e.conftest import ROOT


def test_the_launcher_prints_the_urls_and_ctrl_c_stops_every_service(amqp_uri, tmp_path,
                                                                     free_port):
    ports = {name: free_port() for name in ("intake", "investigation", "resolution",
                                            "reporting")}
    env = {**os.environ, "AMQP_URI": amqp_uri, "DATA_DIR": str(tmp_path),
           "PYTHONUNBUFFERED": "1",
           **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()}}
    del env["AUTH_SECRET"]  # the launcher makes one for the development run
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
    exports = dict(line.strip().removeprefix("export ").split("=", 1)
                   for line in lines if line.strip().startswith("export "))
    assert {"AGENT_TOKEN", "INVESTIGATOR_TOKEN", "RESOLVER_TOKEN", "SUPERVISOR_TOKEN",
            "QUALITY_MANAGER_TOKEN", "PRIVACY_OFFICER_TOKEN", "ADMIN_TOKEN"} <= set(exports)
    written = (tmp_path / "dev-tokens.env").read_text()
    assert all(f"export {var}={token}" in written for var, token in exports.items())
    triage = f"http://127.0.0.1:{ports['intake']}/triage"
    assert requests.get(triage, timeout=5).status_code == 401
    assert requests.get(triage, timeout=5, headers={
        "Authorization": f"Bearer {exports['AGENT_TOKEN']}"}).status_code == 200
    assert requests.get(triage, timeout=5, headers={  # the suite's key is not this run's
        "Authorization": "Bearer " + auth.issue("agent-7", "agent", 60)}).status_code == 401
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
