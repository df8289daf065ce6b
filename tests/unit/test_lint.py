"""The code stays ruff-clean, and the domain and contracts type-check (STYLE.md)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = [f"services/{s}/domain.py" for s in
           ("intake", "investigation", "resolution", "reporting")]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True,
                          text=True)


def test_ruff_finds_nothing():
    result = run("ruff", "check", "contracts", "servicekit", "services", "tools", "tests")
    assert result.returncode == 0, result.stdout


def test_mypy_finds_nothing_in_the_domain_and_contracts():
    result = run("mypy", "contracts", *DOMAINS)
    assert result.returncode == 0, result.stdout
