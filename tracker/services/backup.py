"""Backup and restore of a whole installation: database rows, photo files and the export key.

The backup is a logical one (a gzip tar of JSON Lines per table, the photo
files and a manifest), so it restores into either database: SQLite to
PostgreSQL and back. Restore refuses a target store that already holds data,
and checks the whole backup (every photo against its hash, that every photo the
rows refer to is there and is a photo, every row) before it writes anything; if
the rows still do not go in, the photos it stored are removed again, so a failed
restore leaves the target as it was.

A backup holds everything (photos, names, notes, password hashes, the export key),
so it is written readable by its owner only (``0600``). Restore reads no member
whole that is larger than such a member can be, so a crafted archive (gigabytes of
zeros) is refused instead of filling the memory.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Date, DateTime, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from tracker import __version__
from tracker.analysis.io import PhotoError, decode_photo
from tracker.services.records import MAX_PHOTO_BYTES
from tracker.store.db import Store
from tracker.store.models import Base, Patient, User
from tracker.store.photostore import stored_hash

__all__ = ["BackupError", "write_backup", "restore_backup"]

FORMAT = 1
# The largest member of each kind restore reads: a photo as accepted by upload or import, a
# table's rows (JSON Lines; about 5 kB an analysed photo), the key and the manifest.
_MAX_TABLE_BYTES = 2 * 1024**3
_MAX_SMALL_BYTES = 1024**2


class BackupError(RuntimeError):
    """A backup that cannot be written or restored; one line for people."""


def _encode(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def write_backup(store: Store, out: Path) -> dict:
    """Write a backup to ``out`` (``.tar.gz``); returns its manifest (counts per table, photos).

    The database is read in one transaction, so the rows are consistent; a
    photo referenced by those rows is always in the store, because files are
    written before their rows are committed.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # also when a stale .part was there with other permissions
        with os.fdopen(fd, "wb") as private:
            manifest = _write_archive(store, private)
            private.flush()
            os.fsync(private.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half-written backup left behind
        raise
    tmp.replace(out)
    return manifest


def _write_archive(store: Store, out: io.BufferedWriter) -> dict:
    counts = {}
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        referenced = set()
        with store.session() as s:
            if store.dialect == "postgresql":
                # One snapshot for every table; READ COMMITTED would see commits made between the tables.
                s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            for table in Base.metadata.sorted_tables:
                rows = [dict(r._mapping) for r in s.execute(select(table).order_by(*table.primary_key.columns))]
                counts[table.name] = len(rows)
                payload = "".join(json.dumps({k: _encode(v) for k, v in r.items()}) + "\n" for r in rows)
                _add(tar, f"database/{table.name}.jsonl", payload.encode())
                if table.name == "photos":
                    referenced = {r["content_hash"] for r in rows}
        # Copied after the transaction, which on SQLite holds the write lock: importers
        # would otherwise wait for the whole copy. Stored photos are never changed.
        for content_hash in sorted(referenced):
            path = store.photos.path(content_hash)
            tar.add(path, arcname=f"photos/{path.name}")
        _add(tar, "secret.key", store.secret_key)
        manifest = {"format": FORMAT, "tracker_version": __version__, "tables": counts, "photos": len(referenced),
                    "created_at": datetime.now().isoformat(timespec="seconds")}
        _add(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
    return manifest


def restore_backup(store: Store, backup: Path) -> dict:
    """Restore a backup into an empty store; returns the backup's manifest.

    The whole backup is read and checked (every photo against its hash, every
    table row) before anything is written, so a damaged backup leaves the
    target store as it was.

    Raises
    ------
    BackupError
        The file is not a readable backup, a photo's content does not match
        its hash, or the target store already holds patients or users.
    """
    with store.session() as s:
        if s.scalar(select(func.count()).select_from(Patient)) or s.scalar(select(func.count()).select_from(User)):
            raise BackupError("the target store is not empty; restore into a new data directory or database")
    unreadable = (OSError, EOFError, zlib.error, tarfile.TarError)  # e.g. a truncated file
    try:
        manifest, tables, key = _read_checked(backup)
    except unreadable as exc:
        raise BackupError(f"{backup} is not a readable backup ({exc})") from None
    photos_before = store.photos.hashes()
    try:
        for expected, data in _photos(backup):
            try:
                decode_photo(data)
            except PhotoError:
                raise BackupError(f"photo {expected[:12]}… in the backup is not a readable photo; "
                                  "nothing was restored") from None
            if store.photos.put(data, validated=True).content_hash != expected:
                raise BackupError(f"photo {expected[:12]}… changed when stored again; nothing was restored")
        with store.session() as s:
            for table in Base.metadata.sorted_tables:
                if tables[table.name]:
                    s.execute(table.insert(), tables[table.name])
            if store.dialect == "postgresql":
                for table in Base.metadata.sorted_tables:
                    if "id" in table.c and table.c.id.autoincrement:
                        s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                       f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))
    except BackupError:
        _remove_new_photos(store, photos_before)
        raise
    except (SQLAlchemyError, PhotoError, *unreadable) as exc:
        _remove_new_photos(store, photos_before)
        raise BackupError(f"the backup could not be restored ({type(exc).__name__}); nothing was restored") from None
    # Pseudonyms in exports stay the same after a restore only with the same key.
    tmp = store.data_dir / ".secret-restore.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(store.data_dir / "secret.key")
    store.secret_key = key
    return manifest


def _read_checked(backup: Path) -> tuple[dict, dict[str, list[dict]], bytes]:
    """The manifest, the decoded rows of every table and the key, once every photo matched its hash.

    One pass in archive order: a gzip stream cannot seek back cheaply.
    """
    manifest, key, lines, photos = None, None, {}, set()
    with tarfile.open(backup, "r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            if member.name.startswith("photos/"):
                expected = Path(member.name).stem
                if stored_hash(_read_member(tar, member, MAX_PHOTO_BYTES)) != expected:
                    raise BackupError(f"photo {expected[:12]}… in the backup is damaged (its content does not match)")
                photos.add(expected)
            elif member.name.startswith("database/"):
                lines[member.name] = _read_member(tar, member, _MAX_TABLE_BYTES)
            elif member.name == "secret.key":
                key = _read_member(tar, member, _MAX_SMALL_BYTES)
            elif member.name == "manifest.json":
                try:
                    manifest = json.loads(_read_member(tar, member, _MAX_SMALL_BYTES))
                except ValueError:
                    manifest = None
    if not isinstance(manifest, dict):
        raise BackupError(f"{backup} is not a tracker backup (no manifest)")
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')} is not supported by this version")
    tables = {}
    for table in Base.metadata.sorted_tables:
        data = lines.get(f"database/{table.name}.jsonl")
        if data is None:
            raise BackupError(f"the backup lacks the {table.name} table")
        try:
            tables[table.name] = [_decode(table, json.loads(line)) for line in data.decode().splitlines() if line]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BackupError(f"the {table.name} table in the backup is damaged") from None
    if not key:
        raise BackupError(f"{backup} lacks the export key")
    missing = {row["content_hash"] for row in tables["photos"]} - photos
    if missing:
        raise BackupError(f"the backup lacks {len(missing)} of the photos its records refer to; nothing was restored")
    return manifest, tables, key


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    """A member's content, refused unread when it is larger than such a member can be."""
    if member.size > limit:
        raise BackupError(f"{member.name} in the backup is larger than any the tracker writes; nothing was restored")
    return tar.extractfile(member).read()


def _remove_new_photos(store: Store, before: set[str]) -> None:
    # No row refers to them (the rows were rolled back or never written), and
    # nothing else writes to a store that is being restored into.
    for content_hash in store.photos.hashes() - before:
        store.photos.delete(content_hash)


def _photos(backup: Path) -> Iterator[tuple[str, bytes]]:
    """(hash, content) of every photo in the backup, in archive order."""
    with tarfile.open(backup, "r:gz") as tar:
        for member in tar:
            if member.name.startswith("photos/") and member.isfile():
                yield Path(member.name).stem, _read_member(tar, member, MAX_PHOTO_BYTES)


def _decode(table, row: dict) -> dict:
    out = {}
    for name, value in row.items():
        column = table.c[name]
        if value is not None and isinstance(column.type, DateTime):
            value = datetime.fromisoformat(value)
        elif value is not None and isinstance(column.type, Date):
            value = date.fromisoformat(value)
        out[name] = value
    return out

