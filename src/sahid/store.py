"""The archive's database and its lock (DESIGN §1).

Embedded mode keeps the ledger and the projections in one SQLCipher file whose raw key
is derived from the vault's data key: nothing in ``sahid.db`` (or its WAL) is readable
without a member's passphrase, and temp tables live in memory, never in plaintext files.
Writes run in ``BEGIN IMMEDIATE`` transactions with ``synchronous=FULL``: once a commit
returns, the entries it holds survive a crash or power cut.

A second process is kept out by an advisory ``flock`` on ``sahid.lock`` (exclusive for
writers, shared for readers), so users see "archive is in use" instead of a SQLite
busy error.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, insert, inspect, text
from sqlalchemy.pool import StaticPool

from sahid.errors import LockedError, SahidError, VerificationError
from sahid.records import native

LOCK_NAME = "sahid.lock"
SCHEMA_HEAD = "0009"
OLDER_SCHEMAS = ("0001", "0002", "0003", "0004", "0005")


class ArchiveLock:
    """An advisory lock on the archive folder, released on close or process death."""

    def __init__(self, root: Path, *, exclusive: bool) -> None:
        self.path = root / LOCK_NAME
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise LockedError(
                f"archive {root} is in use by another sahid process; "
                "wait for it to finish, then try again"
            ) from None

    def close(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


def open_engine(path: Path, key: bytes, *, create: bool = False, write: bool = True) -> Engine:
    """One SQLCipher connection keyed with ``key``; a wrong key or a damaged file fails."""
    import sqlcipher3.dbapi2 as dbapi

    if create and not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    if not create and not path.is_file():
        raise VerificationError(
            f"{path.name} is missing from the archive: restore it from a backup",
            step=1,
            where=path.name,
        )

    def connect() -> Any:
        conn = dbapi.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA cipher_log_level = NONE")
            conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
            conn.execute("PRAGMA temp_store = MEMORY")
            # 256 MiB of decrypted pages (used as pages are read): every page read from
            # the file costs an HMAC check and AES decryption, and a search of a million
            # records touches thousands (index levels, newest matches, facets).
            conn.execute("PRAGMA cache_size = -262144")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            # Deleted rows are overwritten, not left in free pages (`person erase`).
            conn.execute("PRAGMA secure_delete = ON")
        except dbapi.DatabaseError as exc:
            conn.close()
            raise VerificationError(
                f"{path.name} cannot be decrypted with this archive's key "
                f"({exc}): the database was replaced or corrupted",
                step=1,
                where=path.name,
            ) from None
        return conn

    engine = create_engine(
        "sqlite+pysqlite://", module=dbapi, creator=connect, poolclass=StaticPool
    )

    @event.listens_for(engine, "connect")
    def _functions(dbapi_conn: Any, record: Any) -> None:
        record.info[native.INFO_KEY] = native.load(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Writers take SQLite's write lock up front; readers never need it.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    @event.listens_for(engine, "handle_error")
    def _damaged(ctx: Any) -> None:
        """A damaged page is an integrity failure naming the file, not a traceback."""
        orig = ctx.original_exception
        if isinstance(orig, dbapi.OperationalError):
            raise SahidError(
                f"{path.name}: {orig}; check free disk space and permissions"
            ) from None
        if isinstance(orig, dbapi.DatabaseError) and not isinstance(orig, dbapi.IntegrityError):
            raise VerificationError(
                f"{path.name} is damaged ({orig}): a page failed its integrity check; "
                "restore the archive from a backup",
                where=path.name,
            ) from None

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to head with Alembic (used at init and by `sahid upgrade`)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "_migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def schema_version(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if rev is None else str(rev)


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema this version does not know."""
    rev = schema_version(engine)
    if rev in OLDER_SCHEMAS:
        raise VerificationError(
            f"sahid.db: the archive was made by an older sahid (schema {rev}); "
            "back it up, then run `sahid upgrade`",
            step=1,
            where="sahid.db",
        )
    if rev != SCHEMA_HEAD:
        raise VerificationError(
            f"sahid.db: schema version is {rev!r} but this sahid expects {SCHEMA_HEAD!r}",
            step=1,
            where="sahid.db",
        )


def page_problems(engine: Engine) -> list[str]:
    """SQLCipher's HMAC check of every page, including pages no query would read."""
    with engine.connect() as conn:
        return [str(r[0]) for r in conn.exec_driver_sql("PRAGMA cipher_integrity_check")]


_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def param_mark(conn: Connection) -> str:
    """The driver's positional placeholder, for the few driver-level hot paths."""
    return param_mark_for(conn.dialect.paramstyle)


def param_mark_for(paramstyle: str) -> str:
    mark = _MARKS.get(paramstyle)
    if mark is None:
        raise SahidError(f"database driver paramstyle {paramstyle} is not supported")
    return mark


def insert_many(conn: Connection, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """Bulk insert of positional rows straight to the driver (the append hot path).

    SQLAlchemy's per-row parameter processing costs more than SQLite's insert itself;
    the rows here are plain ints and bytes, so they can go to ``executemany`` as they are.
    """
    marks = _MARKS.get(conn.dialect.paramstyle)
    if marks is None:
        conn.execute(insert(table), [dict(zip(table.columns.keys(), r, strict=True)) for r in rows])
        return
    cols = ", ".join(table.columns.keys())
    values = ", ".join([marks] * len(table.columns))
    # Table and column names come from our schema, never from input.
    sql = f"INSERT INTO {table.name} ({cols}) VALUES ({values})"  # noqa: S608
    conn.exec_driver_sql(sql, list(rows))
