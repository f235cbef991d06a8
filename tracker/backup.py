"""Backup and restore of a whole installation: database rows, photo files and the export key.

The backup is a logical one (a gzip tar of JSON Lines per table, the photo
files and a manifest), so it restores into either database: SQLite to
PostgreSQL and back. Restore checks every photo's hash and refuses a target
store that already holds data.
"""

from __future__ import annotations

import base64
import os
import io
import json
import tarfile
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Date, DateTime, func, select, text

from tracker import __version__
from tracker.store.db import Store
from tracker.store.models import Base, Patient, User

__all__ = ["BackupError", "write_backup", "restore_backup"]

FORMAT = 1


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
    counts = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with store.session() as s, tarfile.open(tmp, "w:gz") as tar:
        referenced = set()
        for table in Base.metadata.sorted_tables:
            rows = [dict(r._mapping) for r in s.execute(select(table).order_by(*table.primary_key.columns))]
            counts[table.name] = len(rows)
            payload = "".join(json.dumps({k: _encode(v) for k, v in r.items()}) + "\n" for r in rows)
            _add(tar, f"database/{table.name}.jsonl", payload.encode())
            if table.name == "photos":
                referenced = {r["content_hash"] for r in rows}
        for content_hash in sorted(referenced):
            path = store.photos.path(content_hash)
            tar.add(path, arcname=f"photos/{path.name}")
        _add(tar, "secret.key", store.secret_key)
        manifest = {"format": FORMAT, "tracker_version": __version__, "tables": counts, "photos": len(referenced),
                    "created_at": datetime.now().isoformat(timespec="seconds")}
        _add(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
    tmp.replace(out)
    return manifest


def restore_backup(store: Store, backup: Path) -> dict:
    """Restore a backup into an empty store; returns the backup's manifest.

    Raises
    ------
    BackupError
        The file is not a readable backup, a photo's content does not match
        its hash, or the target store already holds patients or users.
    """
    with store.session() as s:
        if s.scalar(select(func.count()).select_from(Patient)) or s.scalar(select(func.count()).select_from(User)):
            raise BackupError("the target store is not empty; restore into a new data directory or database")
    try:
        tar = tarfile.open(backup, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{backup} is not a readable backup ({exc})") from None
    with tar:
        try:
            manifest = json.loads(tar.extractfile("manifest.json").read())
        except (KeyError, ValueError, AttributeError):
            raise BackupError(f"{backup} is not a tracker backup (no manifest)") from None
        if manifest.get("format") != FORMAT:
            raise BackupError(f"backup format {manifest.get('format')} is not supported by this version")
        for member in tar.getmembers():
            if member.name.startswith("photos/") and member.isfile():
                data = tar.extractfile(member).read()
                stored = store.photos.put(data, validated=True)
                expected = Path(member.name).stem
                if stored.content_hash != expected:
                    raise BackupError(f"photo {expected[:12]}… in the backup is damaged (its content does not match)")
        with store.session() as s:
            for table in Base.metadata.sorted_tables:
                member = f"database/{table.name}.jsonl"
                try:
                    lines = tar.extractfile(member).read().decode().splitlines()
                except KeyError:
                    raise BackupError(f"the backup lacks the {table.name} table") from None
                rows = [_decode(table, json.loads(line)) for line in lines if line]
                if rows:
                    s.execute(table.insert(), rows)
            if store.dialect == "postgresql":
                for table in Base.metadata.sorted_tables:
                    if "id" in table.c and table.c.id.autoincrement:
                        s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                       f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))
        key = tar.extractfile("secret.key").read()
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

