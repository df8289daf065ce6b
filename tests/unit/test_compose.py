"""docker-compose.yml, the Dockerfile and the PostgreSQL init script describe a stack
that can run: there is no Docker engine here, so these read the files and check them
against the code they start."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml
from eventsourcing.postgres import PostgresFactory

ROOT = Path(__file__).resolve().parents[2]
APPS = {"intake": 8001, "investigation": 8002, "resolution": 8003, "reporting": 8004}
CLASSES = {"intake": "IntakeService", "investigation": "InvestigationService",
           "resolution": "ResolutionService", "reporting": "ReportingService"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def healthcheck_command(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def published_ports(service: dict) -> set[str]:
    return {str(port).split(":")[-1].split("/")[0] for port in service.get("ports", [])}


def test_compose_names_the_broker_the_database_and_the_four_services(compose):
    assert {"rabbitmq", "postgres", *APPS} <= set(compose["services"])
    assert compose["services"]["rabbitmq"]["image"].startswith("rabbitmq:3")
    assert compose["services"]["postgres"]["image"].startswith("postgres:16")


def test_every_compose_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name


def test_the_broker_and_database_healthchecks_ask_the_servers_themselves(compose):
    assert "rabbitmq-diagnostics -q ping" in healthcheck_command(compose["services"]["rabbitmq"])
    postgres = healthcheck_command(compose["services"]["postgres"])
    # over TCP, which the image opens only after the init scripts have run
    assert "pg_isready" in postgres and "-h 127.0.0.1" in postgres


@pytest.mark.parametrize("name", APPS)
def test_each_service_healthcheck_asks_its_own_health_endpoint(compose, name):
    command = healthcheck_command(compose["services"][name])
    assert "urllib" in command and f"127.0.0.1:{APPS[name]}/health" in command


@pytest.mark.parametrize("name", APPS)
def test_each_service_is_configured_from_the_environment_for_rabbitmq_and_its_database(
        compose, name):
    env = environment(compose["services"][name])
    assert env["SERVICE"] == name
    assert env["AMQP_URI"] == "amqp://guest:guest@rabbitmq:5672/"
    assert env["HTTP_ADDRESS"] == f"0.0.0.0:{APPS[name]}"
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert env["POSTGRES_HOST"] == "postgres"
    assert env["POSTGRES_PORT"] == "5432"
    assert env["POSTGRES_DBNAME"] == name
    assert env["PSYCOPG_WAIT_FUNC"] == "wait_select"
    postgres_env = environment(compose["services"]["postgres"])
    assert env["POSTGRES_USER"] == postgres_env["POSTGRES_USER"]
    assert env["POSTGRES_PASSWORD"] == postgres_env["POSTGRES_PASSWORD"]


@pytest.mark.parametrize("name", APPS)
def test_each_service_sets_only_postgres_variables_eventsourcing_reads(compose, name):
    known = {getattr(PostgresFactory, key) for key in dir(PostgresFactory)
             if key.startswith("POSTGRES_")}
    used = {key for key in environment(compose["services"][name]) if key.startswith("POSTGRES_")}
    assert used <= known, used - known


@pytest.mark.parametrize("name", APPS)
def test_no_service_enables_db_functions_which_drop_tracking_records(compose, name):
    # eventsourcing 9.5.6: with POSTGRES_ENABLE_DB_FUNCTIONS the insert goes through a
    # database function that ignores the tracking record of a process recorder, so a
    # subscriber's position would never be recorded with the events it produced.
    env = environment(compose["services"][name])
    assert env.get("POSTGRES_ENABLE_DB_FUNCTIONS", "n").lower() in ("n", "no", "f", "false", "0")


def test_each_service_has_its_own_database_and_its_own_port(compose):
    databases = [environment(compose["services"][n])["POSTGRES_DBNAME"] for n in APPS]
    assert sorted(databases) == sorted(APPS)
    for name, port in APPS.items():
        assert published_ports(compose["services"][name]) == {str(port)}, name


@pytest.mark.parametrize("name", APPS)
def test_each_service_waits_for_a_healthy_broker_and_database(compose, name):
    depends = compose["services"][name]["depends_on"]
    assert depends["rabbitmq"]["condition"] == "service_healthy"
    assert depends["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APPS)
def test_each_service_is_built_from_the_projects_dockerfile(compose, name):
    build = compose["services"][name]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).resolve() == ROOT / "Dockerfile"


def test_postgres_creates_every_service_database_from_the_mounted_init_script(compose):
    volumes = compose["services"]["postgres"]["volumes"]
    mounts = [v for v in volumes if str(v).split(":")[1].startswith("/docker-entrypoint-initdb.d")]
    assert mounts, volumes
    source = ROOT / str(mounts[0]).split(":")[0]
    assert source == ROOT / "deploy" / "postgres" / "init.sql"
    created = re.findall(r"(?im)^\s*CREATE\s+DATABASE\s+\"?(\w+)\"?\s*;", source.read_text())
    assert sorted(created) == sorted(APPS)


def test_the_image_installs_the_project_on_python_3_11_slim(dockerfile):
    assert re.search(r"(?m)^FROM python:3\.11-slim\b", dockerfile)
    assert re.search(r"(?m)pip install \.(\s|$)", dockerfile)
    assert "PSYCOPG_WAIT_FUNC=wait_select" in dockerfile


def test_the_image_runs_the_service_its_service_variable_names_with_nameko(dockerfile):
    assert "nameko run --config services/config.yaml" in dockerfile
    assert '"services.$SERVICE.service:$CLASS"' in dockerfile


def test_every_class_the_image_can_run_exists_in_its_service_module(dockerfile):
    chosen = dict(re.findall(r"(?m)^\s*(\w+)\)\s*CLASS=(\w+)\s*;;", dockerfile))
    assert chosen == CLASSES
    for name, class_name in chosen.items():
        module = importlib.import_module(f"services.{name}.service")
        service_cls = getattr(module, class_name)
        assert service_cls.name == name


def test_the_image_run_command_matches_the_local_launcher(dockerfile):
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        run_all = importlib.import_module("run_all")
    finally:
        sys.path.remove(str(ROOT / "tools"))
    assert run_all.CLASSES == CLASSES
    assert run_all.SERVICES == APPS
