"""`make run`: the four services as separate `nameko run` processes on SQLite event
stores (one file each under $DATA_DIR), until Ctrl-C. Without $AUTH_SECRET it makes a
random one for this run; it prints development tokens for every role and writes them
to $DATA_DIR/dev-tokens.env (`source` it in another terminal)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import ensure_rabbitmq  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from servicekit import auth  # noqa: E402

SERVICES = {"intake": 8001, "investigation": 8002, "resolution": 8003, "reporting": 8004}
CLASSES = {"intake": "IntakeService", "investigation": "InvestigationService",
           "resolution": "ResolutionService", "reporting": "ReportingService"}


# (variable, staff id, role, team): one per role, plus the people the README's second
# walk-through needs. Teams come from the roster unless given here.
DEV_IDENTITIES = [
    ("AGENT_TOKEN", "agent-7", "agent", None),
    ("INVESTIGATOR_TOKEN", "inv-1", "investigator", None),
    ("RESOLVER_TOKEN", "res-1", "resolver", None),
    ("SUPERVISOR_TOKEN", "sup-safe", "supervisor", None),
    ("QUALITY_MANAGER_TOKEN", "qm-1", "quality_manager", None),
    ("PRIVACY_OFFICER_TOKEN", "po-1", "privacy_officer", None),
    ("ADMIN_TOKEN", "admin-1", "admin", None),
    ("LEGAL_TOKEN", "legal-1", "investigator", "legal"),
]
DEV_TOKEN_TTL = 24 * 3600


def ensure_secret(env: dict[str, str]) -> bool:
    """A random key for this development run when none is set; True if it made one."""
    if env.get(auth.SECRET_ENV):
        return False
    env[auth.SECRET_ENV] = secrets.token_urlsafe(48)
    return True


def ensure_master_key(env: dict[str, str], data_dir: Path) -> Path | None:
    """Intake needs PII_MASTER_KEY. For development, make one the first time and keep it
    in $DATA_DIR/pii-master.key (0600): a new key each run would leave the stored
    customers unreadable. Returns the file when the key came from it."""
    from servicekit import pii

    if env.get(pii.MASTER_KEY_ENV):
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "pii-master.key"
    if not path.exists():
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(pii.generate_master_key() + "\n", encoding="utf-8")
    env[pii.MASTER_KEY_ENV] = path.read_text(encoding="utf-8").strip()
    return path


def dev_tokens(env: dict[str, str]) -> dict[str, str]:
    key = auth.secret(env)
    return {var: auth.issue(sub, role, DEV_TOKEN_TTL, team=team, key=key)
            for var, sub, role, team in DEV_IDENTITIES}


def write_dev_tokens(tokens: dict[str, str], data_dir: Path,
                     made_key: str | None = None) -> Path:
    """The tokens as `export` lines; with the random key this run made, that key too, so
    that the tools run from another terminal (the replay, the token command) share it.
    A key the user set is never written."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "dev-tokens.env"
    path.touch(mode=0o600)
    path.chmod(0o600)
    lines = [f"# development tokens ({DEV_TOKEN_TTL // 3600} h); `source {path}`"]
    lines += [f"export {var}={token}" for var, token in tokens.items()]
    if made_key:
        lines += ["# the random signing key of this development run (not set by you)",
                  f"export {auth.SECRET_ENV}={made_key}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def service_env(name: str, port: int, base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    host = env.get("HTTP_HOST", "127.0.0.1")
    env["HTTP_ADDRESS"] = f"{host}:{env.get(f'{name.upper()}_PORT', port)}"
    return env


def start_service(name: str, env: dict[str, str], log_file: Path | None = None
                  ) -> subprocess.Popen:
    output = open(log_file, "ab") if log_file else None  # noqa: SIM115 - lives with the process
    return subprocess.Popen(
        [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / "services/config.yaml"),
         f"services.{name}.service:{CLASSES[name]}"],
        cwd=ROOT, env=service_env(name, SERVICES[name], env),
        stdout=output, stderr=subprocess.STDOUT if output else None,
        # Own session: the terminal's Ctrl-C reaches only this launcher, which then stops
        # each service once with SIGTERM (a second signal crashes nameko's shutdown).
        start_new_session=True,
    )


def start(env: dict[str, str] | None = None, log_dir: Path | None = None
          ) -> dict[str, subprocess.Popen]:
    env = dict(os.environ if env is None else env)
    env.setdefault("DATA_DIR", str(ROOT / "data"))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return {name: start_service(name, env, log_dir / f"{name}.log" if log_dir else None)
            for name in SERVICES}


def wait_healthy(urls: dict[str, str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    for name, url in urls.items():
        while True:
            try:
                if requests.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not become healthy at {url}")
            time.sleep(0.3)


def stop(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def urls(env: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if env is None else env
    host = env.get("HTTP_HOST", "127.0.0.1")
    return {name: f"http://{host}:{env.get(f'{name.upper()}_PORT', port)}"
            for name, port in SERVICES.items()}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # Explicit handlers: Ctrl-C (and a supervisor's SIGTERM) stop everything, even where
    # the launcher inherited SIGINT as ignored (a background job of a script).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    os.environ["AMQP_URI"] = ensure_rabbitmq()
    made_key = ensure_secret(os.environ)  # type: ignore[arg-type]
    auth.secret()  # a key that is set but too short stops here, before any service starts
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / "data"))
    master_key_file = ensure_master_key(os.environ, data_dir)  # type: ignore[arg-type]
    processes = start()
    try:
        wait_healthy(urls())
        tokens = dev_tokens(dict(os.environ))
        token_file = write_dev_tokens(
            tokens, data_dir, os.environ[auth.SECRET_ENV] if made_key else None)
        print("\nThe complaint workflow is running:")
        for name, url in urls().items():
            print(f"  {name:<14} {url}   ({url}/openapi.json)")
        print(f"Event stores: {data_dir}/*.sqlite")
        if master_key_file:
            print(f"Personal data is encrypted with the development master key in "
                  f"{master_key_file} (set PII_MASTER_KEY to use your own)")
        print(f"\nDevelopment tokens ({DEV_TOKEN_TTL // 3600} h, signed with "
              f"{'a random AUTH_SECRET made for this run' if made_key else 'AUTH_SECRET'}):")
        for var, token in tokens.items():
            print(f"  export {var}={token}")
        print(f"The same lines are in {token_file}: `source {token_file}`"
              "\nPress Ctrl-C to stop.\n", flush=True)
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        dead = [n for n, p in processes.items() if p.poll() is not None]
        print(f"stopped: {', '.join(dead)} exited; stopping the rest", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        stop(processes)
    print("stopped.")


if __name__ == "__main__":
    main()
