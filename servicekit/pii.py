"""Personal data at rest: envelope encryption, pseudonyms, blind indexes, masking.

Personal data is the customer's name, phone, email, customer id and address. A service
that must keep it (only intake) stores it in its events as a sealed blob:

    {"key": <data key id>, "nonce": <base64>, "ct": <base64 AES-256-GCM ciphertext>}

The ciphertext is the JSON of the personal fields, with the complaint id as associated
data (a blob copied onto another complaint does not open). Each customer has one random
256-bit data key, kept in a plain mutable table of the service's own database
(`pii_data_keys`), wrapped (AES-256-GCM) by the master key from the environment
(`PII_MASTER_KEY`, base64 of 32 bytes). Erasing a customer deletes the row: every blob
sealed with that key can never be opened again, while the events themselves (and every
figure computed from them) stay as they are. The delete is made physical: SQLite with
`secure_delete` and a WAL checkpoint(TRUNCATE); PostgreSQL with VACUUM FULL of the table
(PostgreSQL's own WAL and any backups still hold the row until they are recycled).

A customer's pseudonym (`customer_ref`) and the blind indexes of their phone, email and
customer id are HMAC-SHA256 under `CUSTOMER_REF_KEY` (default: derived from the master
key), so repeat and duplicate detection never needs the plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)

MASTER_KEY_ENV = "PII_MASTER_KEY"
REF_KEY_ENV = "CUSTOMER_REF_KEY"
PERSONAL_FIELDS = ("name", "phone", "email", "customer_id", "address")
IDENTIFIERS = ("customer_id", "email", "phone")  # in the order that picks the pseudonym
ERASED = "[erased]"
TABLE = "pii_data_keys"
NONCE_BYTES = 12


class PersonalDataError(Exception):
    """The master key is missing, malformed or not the one the keys were wrapped with."""


class Erased:
    """What opening a blob gives once its data key has been destroyed."""

    _instance: Erased | None = None

    def __new__(cls) -> Erased:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Erased()"

    def __bool__(self) -> bool:
        return False


ERASED_DATA = Erased()


# --- keys from the environment --------------------------------------------------


def generate_master_key() -> str:
    """A fresh master key in the form PII_MASTER_KEY takes (for development launchers)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def parse_key(value: str | None, name: str = MASTER_KEY_ENV) -> bytes:
    if not value:
        raise PersonalDataError(
            f"{name} is not set: personal data cannot be stored without it (base64 of 32 "
            f"random bytes, e.g. python -c 'import servicekit.pii as p; "
            f"print(p.generate_master_key())')")
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PersonalDataError(f"{name} is not valid base64") from None
    if len(key) != 32:
        raise PersonalDataError(f"{name} must decode to 32 bytes, not {len(key)}")
    return key


def derive(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"complaints-pii:{purpose}".encode()).derive(master)


def ref_key_from(get: Callable[[str], str | None], master: bytes) -> bytes:
    """CUSTOMER_REF_KEY (any string, used as the HMAC key) or one derived from the master
    key. Set it separately when the master key may be rotated: pseudonyms and blind
    indexes recorded in events depend on it."""
    value = get(REF_KEY_ENV)
    return value.encode() if value else derive(master, "customer-ref")


# --- pseudonyms and blind indexes -------------------------------------------------


def normalise(kind: str, value: str) -> str:
    value = value.strip()
    if kind == "phone":
        return re.sub(r"[^\d+]", "", value)
    return value.casefold()


def _hmac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def customer_ref(customer: Mapping[str, Any], key: bytes) -> str | None:
    """The customer's pseudonym: HMAC-SHA256 of their normalised customer id, else email,
    else phone; None when they gave none of these."""
    for kind in IDENTIFIERS:
        if customer.get(kind):
            return _hmac(key, f"ref:{kind}:{normalise(kind, customer[kind])}")
    return None


def blind_indexes(customer: Mapping[str, Any], key: bytes) -> list[str]:
    """One keyed hash per identifier given (phone, email, customer id): equal when the
    normalised values are equal, and useless without the key."""
    return [_hmac(key, f"index:{kind}:{normalise(kind, customer[kind])}")
            for kind in IDENTIFIERS if customer.get(kind)]


# --- masking ------------------------------------------------------------------------


def _mask_word(word: str) -> str:
    return word[:1] + "*" * (len(word) - 1) if len(word) > 1 else "*"


def mask_name(name: str) -> str:
    words = name.split()
    if len(words) == 1 and len(name) > 1 and not name.isascii():
        return name[0] + "*" * (len(name) - 1)  # 张伟 -> 张*
    return " ".join(_mask_word(w) for w in words)


def mask_phone(phone: str) -> str:
    """"+86 138 0013 8000" -> "+86 *** **** 8000": the country code and the last four
    digits stay."""
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    keep = set(digits[-4:])
    match = re.match(r"\s*\+\d+", phone)
    if match and len(digits) > 4 and " " in phone.strip():
        keep |= {i for i in range(match.end()) if phone[i].isdigit()}
    return "".join("*" if ch.isdigit() and i not in keep else ch
                   for i, ch in enumerate(phone))


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_id(value: str) -> str:
    return "*" * max(len(value) - 3, 3) + value[-3:] if len(value) > 6 else "***"


MASKS: dict[str, Callable[[str], str]] = {
    "name": mask_name, "phone": mask_phone, "email": mask_email, "customer_id": mask_id,
    "address": lambda _: "***",
}


def masked(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (MASKS[k](v) if k in MASKS and isinstance(v, str) and v else v)
            for k, v in fields.items()}


def erased(fields: Iterable[str] = PERSONAL_FIELDS) -> dict[str, Any]:
    return dict.fromkeys(fields, ERASED)


# --- key stores: a mutable table in the service's own database --------------------


class KeyStore(Protocol):
    def find(self, owner: str) -> tuple[str, bytes] | None: ...
    def get(self, key_id: str) -> bytes | None: ...
    def insert(self, key_id: str, owner: str, wrapped: bytes) -> bool: ...
    def delete(self, key_ids: Iterable[str]) -> int: ...
    def any_key(self) -> tuple[str, bytes] | None: ...


class MemoryKeyStore:
    """For the in-memory (popo) event store."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, bytes]] = {}  # key id -> (owner, wrapped)
        self._lock = threading.Lock()

    def find(self, owner: str) -> tuple[str, bytes] | None:
        return next(((k, w) for k, (o, w) in self.rows.items() if o == owner), None)

    def get(self, key_id: str) -> bytes | None:
        row = self.rows.get(key_id)
        return row[1] if row else None

    def insert(self, key_id: str, owner: str, wrapped: bytes) -> bool:
        with self._lock:
            if self.find(owner) is not None:
                return False
            self.rows[key_id] = (owner, wrapped)
            return True

    def delete(self, key_ids: Iterable[str]) -> int:
        with self._lock:
            return sum(self.rows.pop(k, None) is not None for k in set(key_ids))

    def any_key(self) -> tuple[str, bytes] | None:
        return next(((k, w) for k, (_, w) in self.rows.items()), None)


class SQLiteKeyStore:
    """In the SQLite file of the event store, through its connection pool."""

    def __init__(self, datastore: Any):
        self.datastore = datastore
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key_id TEXT PRIMARY KEY, "
                           "owner TEXT NOT NULL UNIQUE, wrapped BLOB NOT NULL, "
                           "created_at TEXT NOT NULL)")

    def _one(self, sql: str, *params: Any) -> Any:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()

    def find(self, owner: str) -> tuple[str, bytes] | None:
        row = self._one(f"SELECT key_id, wrapped FROM {TABLE} WHERE owner = ?", owner)
        return (row[0], bytes(row[1])) if row else None

    def get(self, key_id: str) -> bytes | None:
        row = self._one(f"SELECT wrapped FROM {TABLE} WHERE key_id = ?", key_id)
        return bytes(row[0]) if row else None

    def any_key(self) -> tuple[str, bytes] | None:
        row = self._one(f"SELECT key_id, wrapped FROM {TABLE} LIMIT 1")
        return (row[0], bytes(row[1])) if row else None

    def insert(self, key_id: str, owner: str, wrapped: bytes) -> bool:
        with self.datastore.get_connection(commit=True) as conn:
            cursor = conn.cursor()
            cursor.execute("PRAGMA secure_delete=ON")  # freed pages are zeroed
            cursor.execute(f"INSERT OR IGNORE INTO {TABLE} VALUES (?, ?, ?, ?)",
                           (key_id, owner, wrapped, datetime.now(UTC).isoformat()))
            return bool(cursor.sqlite_cursor.rowcount)

    def delete(self, key_ids: Iterable[str]) -> int:
        key_ids = sorted(set(key_ids))
        if not key_ids:
            return 0
        with self.datastore.get_connection(commit=True) as conn:
            cursor = conn.cursor()
            cursor.execute("PRAGMA secure_delete=ON")
            with conn.transaction(commit=True) as tx:
                tx.execute(f"DELETE FROM {TABLE} WHERE key_id IN "
                           f"({','.join('?' * len(key_ids))})", key_ids)
                deleted = tx.sqlite_cursor.rowcount
            # Copy the zeroed pages into the file and empty the WAL, which still holds
            # the row's earlier frames. A reader holding an old snapshot can make the
            # checkpoint incomplete: try again for a while.
            for _ in range(50):
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy = cursor.fetchone()
                if not busy or busy[0] == 0:
                    break
                time.sleep(0.1)
            else:
                log.warning("pii: the WAL checkpoint stayed busy; it completes at the next")
        return deleted


class PostgresKeyStore:
    """In the PostgreSQL database of the event store, through its connection pool
    (autocommit connections)."""

    def __init__(self, datastore: Any):
        from psycopg import sql

        self.datastore = datastore
        self.table = sql.Identifier(datastore.schema, TABLE)
        self.sql = sql
        self._execute(self.sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (key_id TEXT PRIMARY KEY, owner TEXT NOT NULL "
            "UNIQUE, wrapped BYTEA NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        ).format(self.table))

    def _execute(self, statement: Any, *params: Any, fetch: bool = False) -> Any:
        with self.datastore.get_connection() as conn:
            cursor = conn.execute(statement, params or None)
            return cursor.fetchone() if fetch else cursor.rowcount

    def find(self, owner: str) -> tuple[str, bytes] | None:
        row = self._execute(self.sql.SQL("SELECT key_id, wrapped FROM {} WHERE owner = %s")
                            .format(self.table), owner, fetch=True)
        return (row["key_id"], bytes(row["wrapped"])) if row else None

    def get(self, key_id: str) -> bytes | None:
        row = self._execute(self.sql.SQL("SELECT wrapped FROM {} WHERE key_id = %s")
                            .format(self.table), key_id, fetch=True)
        return bytes(row["wrapped"]) if row else None

    def any_key(self) -> tuple[str, bytes] | None:
        row = self._execute(self.sql.SQL("SELECT key_id, wrapped FROM {} LIMIT 1")
                            .format(self.table), fetch=True)
        return (row["key_id"], bytes(row["wrapped"])) if row else None

    def insert(self, key_id: str, owner: str, wrapped: bytes) -> bool:
        return bool(self._execute(self.sql.SQL(
            "INSERT INTO {} (key_id, owner, wrapped) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING").format(self.table), key_id, owner, wrapped))

    def delete(self, key_ids: Iterable[str]) -> int:
        key_ids = sorted(set(key_ids))
        if not key_ids:
            return 0
        deleted = self._execute(self.sql.SQL("DELETE FROM {} WHERE key_id = ANY(%s)")
                                .format(self.table), key_ids)
        # Rewrite the table into a new file so the dead row's bytes leave the database
        # files (VACUUM cannot run inside a transaction; these connections autocommit).
        self._execute(self.sql.SQL("VACUUM FULL {}").format(self.table))
        return int(deleted)


def key_store_for(recorder: Any) -> KeyStore:
    """The key table in the same database as the recorder's events."""
    datastore = getattr(recorder, "datastore", None)
    kind = type(datastore).__name__
    if kind == "SQLiteDatastore":
        return SQLiteKeyStore(datastore)
    if kind == "PostgresDatastore":
        return PostgresKeyStore(datastore)
    if datastore is None:
        return MemoryKeyStore()
    raise PersonalDataError(f"no key store for a {kind}")


# --- the vault ----------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Vault:
    """Seals and opens personal data; destroys a customer's data key on erasure."""

    def __init__(self, master_key: bytes, store: KeyStore, ref_key: bytes | None = None):
        self._master = AESGCM(master_key)
        self.store = store
        self.ref_key = ref_key or derive(master_key, "customer-ref")

    @classmethod
    def from_env(cls, get: Callable[[str], str | None], recorder: Any) -> Vault:
        """`get` reads a variable (e.g. an eventsourcing Application's env.get). Refuses
        a missing or malformed master key, and one that does not open the stored keys."""
        master = parse_key(get(MASTER_KEY_ENV))
        vault = cls(master, key_store_for(recorder), ref_key_from(get, master))
        vault.check()
        return vault

    def check(self) -> None:
        row = self.store.any_key()
        if row is not None:
            self._unwrap(*row)

    # pseudonyms ------------------------------------------------------------------

    def customer_ref(self, customer: Mapping[str, Any]) -> str | None:
        return customer_ref(customer, self.ref_key)

    def blind_indexes(self, customer: Mapping[str, Any]) -> list[str]:
        return blind_indexes(customer, self.ref_key)

    # keys --------------------------------------------------------------------------

    def _wrap(self, key_id: str, data_key: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._master.encrypt(nonce, data_key, key_id.encode())

    def _unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            return self._master.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                        key_id.encode())
        except InvalidTag:
            raise PersonalDataError(
                f"{MASTER_KEY_ENV} does not open the stored data keys (wrong master key)"
            ) from None

    def data_key(self, owner: str) -> tuple[str, bytes]:
        """The owner's data key (made on first use): (key id, key)."""
        for _ in range(3):
            found = self.store.find(owner)
            if found is not None:
                return found[0], self._unwrap(*found)
            key_id = uuid.uuid4().hex
            data_key = AESGCM.generate_key(bit_length=256)
            if self.store.insert(key_id, owner, self._wrap(key_id, data_key)):
                return key_id, data_key
        raise PersonalDataError("could not create a data key")  # pragma: no cover

    def key_exists(self, key_id: str) -> bool:
        return self.store.get(key_id) is not None

    def erase(self, key_ids: Iterable[str]) -> int:
        """Destroy these data keys; returns how many existed."""
        return self.store.delete(key_ids)

    # sealing -----------------------------------------------------------------------

    def seal(self, fields: Mapping[str, Any], complaint_id: uuid.UUID | str,
             owner: str | None = None) -> dict[str, str] | None:
        """The personal fields given (None values left out) as a sealed blob, bound to
        the complaint; None when there is nothing personal. `owner` (default: the
        customer's pseudonym, else the complaint itself) chooses the data key."""
        data = {k: v for k, v in fields.items() if k in PERSONAL_FIELDS and v is not None}
        if not data:
            return None
        owner = owner or self.customer_ref(data) or f"complaint:{complaint_id}"
        key_id, key = self.data_key(owner)
        nonce = secrets.token_bytes(NONCE_BYTES)
        plaintext = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
        ct = AESGCM(key).encrypt(nonce, plaintext, f"complaint:{complaint_id}".encode())
        return {"key": key_id, "nonce": _b64(nonce), "ct": _b64(ct)}

    def open(self, blob: Mapping[str, str] | None, complaint_id: uuid.UUID | str
             ) -> dict[str, Any] | Erased:
        """The personal fields, or ERASED_DATA once the data key is gone."""
        if not blob:
            return {}
        wrapped = self.store.get(blob["key"])
        if wrapped is None:
            return ERASED_DATA
        key = self._unwrap(blob["key"], wrapped)
        try:
            plaintext = AESGCM(key).decrypt(base64.b64decode(blob["nonce"]),
                                            base64.b64decode(blob["ct"]),
                                            f"complaint:{complaint_id}".encode())
        except InvalidTag:
            raise PersonalDataError("a sealed blob does not open for this complaint") from None
        result: dict[str, Any] = json.loads(plaintext)
        return result


def vault_for_app(app: Any) -> Vault:
    """The vault of an eventsourcing Application: its env, its database."""
    return Vault.from_env(lambda name: app.env.get(name) or os.environ.get(name) or None,
                          app.recorder)


# --- who sees what ------------------------------------------------------------------

PLAIN_ROLES = frozenset({"agent", "admin", "privacy_officer"})
ASSIGNED_ROLES = frozenset({"investigator", "resolver"})  # plain only on their own cases


def needs_plain(role: str | None, assigned: bool = False) -> bool:
    return role in PLAIN_ROLES or (role in ASSIGNED_ROLES and assigned)


def shown(data: Mapping[str, Any] | Erased, role: str | None, assigned: bool = False
          ) -> dict[str, Any]:
    """The customer block a reader in `role` may see: plain for agents, admins, privacy
    officers and the assigned investigator or resolver; masked for everyone else
    (supervisors, quality managers, an unidentified reader); "[erased]" after erasure."""
    if isinstance(data, Erased):
        return erased()
    return dict(data) if needs_plain(role, assigned) else masked(data)


def present(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The personal fields that have a value (what a sealed blob holds)."""
    return {k: v for k, v in fields.items() if k in PERSONAL_FIELDS and v is not None}
