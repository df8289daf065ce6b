"""The data-key table in a real SQLite file and a real PostgreSQL database: keys survive a
restart, a wrong master key is refused, and erasure removes the wrapped key's bytes from
the database files (not only from query results)."""

import uuid
from pathlib import Path

import psycopg
import pytest
from eventsourcing.application import Application

from servicekit import pii

CUSTOMER = {"name": "Store Test", "phone": "+8613800138000", "email": "store@example.com"}


def app_on(env):
    return Application(env={**env, "IS_SNAPSHOTTING_ENABLED": "n"})


def vault_on(app, master):
    return pii.Vault.from_env({pii.MASTER_KEY_ENV: master}.get, app.recorder)


def sqlite_files(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def postgres_files(env) -> tuple[bytes, str]:
    """Every relation file of the test's database (after a CHECKPOINT flushed them)."""
    with psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                         user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"] or None,
                         dbname=env["POSTGRES_DBNAME"], autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        data_dir = Path(conn.execute("SHOW data_directory").fetchone()[0])
        table_file = conn.execute(
            f"SELECT pg_relation_filepath('{pii.TABLE}')").fetchone()[0]
    if not data_dir.exists():
        pytest.skip(f"PostgreSQL's data directory {data_dir} is not on this machine "
                    "(a container): its files cannot be scanned")
    database_dir = (data_dir / table_file).parent
    return b"".join(p.read_bytes() for p in database_dir.iterdir() if p.is_file()), \
        str(data_dir / table_file)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "events.sqlite"
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
        return env, lambda: (sqlite_files(path), str(path))
    env = request.getfixturevalue("postgres_database")("pii")
    return env, lambda: postgres_files(env)


def test_keys_survive_a_restart_and_a_wrong_master_key_is_refused(store):
    env, _ = store
    master = pii.generate_master_key()
    app = app_on(env)
    cid = uuid.uuid4()
    blob = vault_on(app, master).seal(CUSTOMER, cid)
    app.close()

    app = app_on(env)
    try:
        assert vault_on(app, master).open(blob, cid) == CUSTOMER
        with pytest.raises(pii.PersonalDataError, match="wrong master key"):
            vault_on(app, pii.generate_master_key())
    finally:
        app.close()


def test_erasure_removes_the_wrapped_key_from_the_database_files(store):
    env, files = store
    master = pii.generate_master_key()
    app = app_on(env)
    try:
        vault = vault_on(app, master)
        cid, other = uuid.uuid4(), uuid.uuid4()
        blob = vault.seal(CUSTOMER, cid)
        kept = vault.seal({"name": "Someone Else", "email": "else@example.com"}, other)
        wrapped = vault.store.get(blob["key"])
        kept_wrapped = vault.store.get(kept["key"])
        content, where = files()
        # The scan sees the bytes while they are there (so it can fail).
        assert wrapped in content, f"the scan does not see the wrapped key in {where}"

        assert vault.erase([blob["key"]]) == 1
        assert vault.open(blob, cid) is pii.ERASED_DATA
        assert vault.open(kept, other)["name"] == "Someone Else"
        content, where = files()
        assert wrapped not in content, f"the erased key's bytes are still in {where}"
        assert blob["key"].encode() not in content
        assert kept_wrapped in content  # the scan still reads the live table
    finally:
        app.close()

    app = app_on(env)  # and after a restart
    try:
        assert vault_on(app, master).open(blob, cid) is pii.ERASED_DATA
    finally:
        app.close()
