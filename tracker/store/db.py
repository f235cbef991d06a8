"""Opening the store: the database (SQLite by default, PostgreSQL by URL) and the photo files.

The embedded default keeps everything in one data directory::

    DATA_DIR/tracker.db      SQLite database (WAL journal)
    DATA_DIR/photos/         content-addressed photo files
    DATA_DIR/secret.key      key for pseudonymous export ids (never exported)

``TRACKER_DATA_DIR`` (or ``--data-dir``) moves the directory;
``TRACKER_DATABASE_URL`` points the database elsewhere, e.g.
``postgresql+psycopg://user@host/tracker``, while photos stay in the data
directory.

The data directory holds health data and the export key, so it is private to the account
running the tracker: :func:`open_store` creates it ``0700`` and its files ``0600``, and
on every start takes group and other permissions away from an existing one (and from
its database, key and demo files), refusing to go on if it cannot.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from tracker.store.photostore import PhotoStore

__all__ = ["Store", "open_store", "default_data_dir", "migrate", "StoreError", "make_private"]

_MIGRATIONS = Path(__file__).parent / "migrations"
_DATABASE_FILES = ("tracker.db", "tracker.db-wal", "tracker.db-shm", "tracker.db-journal")
_log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The store cannot be opened or used; the message is one line for people."""


def default_data_dir() -> Path:
    """``TRACKER_DATA_DIR``, else the per-user data directory (XDG)."""
    if os.environ.get("TRACKER_DATA_DIR"):
        return Path(os.environ["TRACKER_DATA_DIR"]).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "healing-tracker"


@dataclass
class Store:
    """The database and the photo store of one installation."""

    engine: Engine
    sessions: sessionmaker[Session]
    photos: PhotoStore
    data_dir: Path
    secret_key: bytes

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends normally, rolled back otherwise."""
        with self.sessions() as session, session.begin():
            yield session

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def integrity_problem(self) -> str | None:
        """What is wrong with the database file, in one line, or None (SQLite's ``quick_check``).

        Opening reads only the first pages, so a file damaged further in opens fine; this reads
        every page. PostgreSQL checks its own pages, so there it is always None.
        """
        if self.dialect != "sqlite":
            return None
        try:
            with self.engine.connect() as conn:
                rows = [row[0] for row in conn.exec_driver_sql("PRAGMA quick_check")]
        except Exception as exc:  # noqa: BLE001 - a damaged file fails the check itself
            return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
        return None if rows == ["ok"] else f"{len(rows)} problems, the first: {' '.join(str(rows[0]).split())}"

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" below own the transaction, so it can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA synchronous=FULL")  # a committed import survives power loss too
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")  # a second importer waits instead of failing
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Take the write lock up front: a deferred transaction that reads and then
        # writes can fail at once with "database is locked" under concurrency.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _secret_key(data_dir: Path) -> bytes:
    path = data_dir / "secret.key"
    if not path.exists():
        # Written under a private name, then linked into place: of two processes
        # starting together, the first link wins and both read the same key.
        tmp = data_dir / f".secret-{os.getpid()}-{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()


def make_private(data_dir: Path) -> list[str]:
    """Take group and other permissions away from the data directory and the files that hold secrets.

    Returns the names of what was changed. The photo folder is made private too; what is
    inside it cannot be reached through a private folder (and the photo store writes it
    private anyway), so its many files are not walked on every start.

    Raises
    ------
    StoreError
        A permission could not be changed (the directory belongs to another account).
    """
    fixed = []
    targets = [(data_dir, 0o700), (data_dir / "photos", 0o700),
               *((data_dir / name, 0o600) for name in (*_DATABASE_FILES, "secret.key", "demo-accounts.txt"))]
    for path, mode in targets:
        try:
            current = stat.S_IMODE(path.lstat().st_mode)
        except FileNotFoundError:
            continue
        if current & 0o077:
            try:
                os.chmod(path, current & mode)
            except OSError as exc:
                raise StoreError(f"the data directory {data_dir} is readable by others and cannot be made private "
                                 f"({exc.strerror}); fix its permissions (chmod -R go-rwx)") from None
            fixed.append(path.name)
    return fixed


def _create_private(path: Path) -> None:
    """Create an empty file readable by its owner only, unless it exists (SQLite then writes into it)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (safe to call on every start)."""
    # Imported here: a batch worker opens the store without upgrading, and Alembic is a good part
    # of its start-up (BENCHMARKS.md, section 4).
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Serialise concurrent starts; the lock ends with the transaction.
            conn.execute(text("SELECT pg_advisory_xact_lock(724311)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_store(data_dir: Path | str | None = None, database_url: str | None = None, *,
               upgrade: bool = True, create: bool = True) -> Store:
    """Open (and create or upgrade) the store.

    Parameters
    ----------
    data_dir : path, optional
        Defaults to :func:`default_data_dir`.
    database_url : str, optional
        SQLAlchemy URL; defaults to ``TRACKER_DATABASE_URL``, else SQLite in ``data_dir``.
    upgrade : bool
        Apply pending migrations.
    create : bool
        Create the data directory, its photo folder, key and SQLite database where they are
        missing. A batch's worker opens the store with ``False``: on a machine that does not
        mount the data directory it must say so (:class:`StoreError`), not start an empty store
        of its own and report every photo as missing.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    url = database_url or os.environ.get("TRACKER_DATABASE_URL")
    if not create:
        needed = [data_dir / "photos", data_dir / "secret.key", *([] if url else [data_dir / "tracker.db"])]
        if missing := [p.name for p in needed if not p.exists()]:
            raise StoreError(f"there is no store at {data_dir} on {socket.gethostname()} (no {', '.join(missing)}): "
                             "mount the data directory at the same path on every machine that analyses")
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StoreError(f"cannot create the data directory {data_dir}: {exc.strerror}") from None
    fixed = make_private(data_dir)
    if fixed:  # names of the store's own files, never of people
        _log.warning("made %d items of the data directory private to their owner", len(fixed))
    engine = None
    try:
        if not url:
            # SQLite creates its -wal and -shm files with the database file's permissions.
            _create_private(data_dir / "tracker.db")
        engine = create_engine(url, pool_pre_ping=True) if url else _sqlite_engine(data_dir / "tracker.db")
        if upgrade:
            migrate(engine)
    except Exception as exc:  # a malformed URL, a missing driver, an unreachable server: one line, no traceback
        if engine is not None:
            engine.dispose()
        first_line = (str(exc).splitlines() or [""])[0]
        raise StoreError(f"cannot open the database: {type(exc).__name__}: {first_line}") from None
    return Store(
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        photos=PhotoStore(data_dir / "photos"),
        data_dir=data_dir,
        secret_key=_secret_key(data_dir),
    )
