"""The one small package of shared infrastructure: base application, outbox relay,
catch-up subscription, HTTP endpoints, configuration. Services import this and
contracts/, never each other."""

import os

# Under eventlet, psycopg's default wait function blocks the whole hub; wait_select
# cooperates. It must be set before psycopg is first imported (ARCHITECTURE.md).
os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")
