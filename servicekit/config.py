"""Configuration comes only from the environment.

Event store: eventsourcing reads PERSISTENCE_MODULE, SQLITE_DBNAME, POSTGRES_* itself,
preferring the variables prefixed by the application's name (INTAKE_SQLITE_DBNAME,
INVESTIGATION_POSTGRES_DBNAME, ...). When neither the prefixed nor the plain
PERSISTENCE_MODULE is set, a service uses SQLite in $DATA_DIR/<service>.sqlite.
"""

from __future__ import annotations

import os
from pathlib import Path


def event_store_env(app_name: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = dict(os.environ if environ is None else environ)
    prefix = app_name.upper() + "_"
    if environ.get(prefix + "PERSISTENCE_MODULE") or environ.get("PERSISTENCE_MODULE"):
        return {}
    data_dir = Path(environ.get("DATA_DIR", "data"))
    data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(data_dir / f"{app_name}.sqlite"),
    }
