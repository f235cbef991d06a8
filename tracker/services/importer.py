"""Batch import of photos from a manifest (CSV) or a folder.

Manifest columns (header row; extra columns are ignored):

=============  ========================================================================
patient        the clinic's patient identifier (required)
treatment      a treatment key, see ``tracker treatments`` (required)
treated_on     date of the session, YYYY-MM-DD (required)
photo          path of the photo, relative to the manifest (required)
taken_on       capture date or date-time (optional; else EXIF, else the file's time)
roi, control   X,Y,W,H boxes in the baseline photo's pixels (optional)
area           name of the treated area (optional, default "treated area")
skin_type      Fitzpatrick type I-VI (optional)
name           the patient's display name (optional, default the identifier)
treated        what the treatment covered: ``face`` (the whole face) or ``region`` (only the
               roi); optional: a new area is ``face``, an existing one keeps what it has
=============  ========================================================================

before_session  for a photo taken on a session's day: ``before`` or ``after`` the treatment (optional)

Folder convention: ``FOLDER/<patient>/<treatment>/<YYYY-MM-DD of the session>/<photos>``,
with an optional ``regions.txt`` in the treatment folder holding lines
``roi=X,Y,W,H``, ``control=X,Y,W,H`` and ``treated=face`` or ``treated=region``.

What is read: only regular files under the manifest's folder (or the import folder), by
paths relative to it, without ``..``; no symbolic links unless the import follows them
(``tracker import --follow-symlinks``); nothing larger than a photo can be
(:data:`tracker.services.records.MAX_PHOTO_BYTES`), checked before reading. A path that
breaks a rule is refused with its reason, so a manifest cannot make the import read
``/etc``, block on a FIFO or exhaust the memory on ``/dev/zero``.

Each photo is stored and recorded in its own transaction, so an interrupted
import keeps every photo it reported and a re-run adds only the rest; a photo
imported twice is recorded once. A run starts by sweeping what killed runs left
in the photo store: their temporary files at once, a photo they stored but never
recorded once the sweep's grace period is over (a re-run adopts it before then).
A bad row or file is refused with its reason, before its photo is stored, and
the others go on. A full disk stops the import (:class:`ImportStopped`): each
further photo would fail the same way; a re-run once there is room resumes it.
"""

from __future__ import annotations

import csv
import errno
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path, PurePath

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from tracker.recovery import TREATMENTS
from tracker.services.access import SYSTEM, InputError, ServiceError
from tracker.services.records import (
    MAX_PHOTO_BYTES,
    PhotoRecord,
    parse_region,
    record_photo,
    validate_skin_type,
    validate_treated_extent,
)
from tracker.services.batch import BatchReport, plan_jobs, run_batch
from tracker.store.db import Store
from tracker.store.models import Photo

_log = logging.getLogger(__name__)

__all__ = ["ImportRow", "ImportOutcome", "ImportStopped", "read_manifest", "scan_folder", "run_import",
           "read_file_under", "analyse_imported", "PHOTO_SUFFIXES"]

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".heic", ".heif"}
_REQUIRED = ("patient", "treatment", "treated_on", "photo")
_MAX_MANIFEST_BYTES = 20 * 1024 * 1024
_MAX_REGIONS_BYTES = 64 * 1024
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class ImportStopped(ServiceError):
    """The import cannot go on (the disk is full); ``outcomes`` holds what was done before."""

    def __init__(self, message: str, outcomes: list[ImportOutcome]):
        super().__init__(message)
        self.outcomes = outcomes


def read_file_under(root: Path, relative: str | PurePath, limit: int, *,
                    follow_symlinks: bool = False) -> tuple[bytes, float]:
    """The content and modification time of a regular file at ``relative`` under ``root``.

    Raises
    ------
    InputError
        With the reason: an absolute path or one with ``..``, a symbolic link (unless
        ``follow_symlinks``), not a regular file (a folder, FIFO or device), larger than
        ``limit`` bytes, absent or unreadable.
    """
    relative = PurePath(relative)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise InputError("the path must lead to a file inside the import's folder, without ..")
    path = Path(root)
    for part in relative.parts:
        path = path / part
        if not follow_symlinks and path.is_symlink():
            raise InputError("it is a symbolic link, which is not followed (tracker import --follow-symlinks)")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)  # non-blocking: opening a FIFO does not wait for a writer
    except FileNotFoundError:
        raise InputError("there is no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("it is a symbolic link, which is not followed "
                             "(tracker import --follow-symlinks)") from None
        raise InputError(f"cannot read the file ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InputError("it is not a regular file")
    with os.fdopen(fd, "rb") as file:
        if info.st_size > limit:
            raise InputError(f"it is larger than {limit / 2**20:g} MB")
        try:
            data = file.read(limit + 1)
        except OSError as exc:
            raise InputError(f"cannot read the file ({exc.strerror})") from None
    if len(data) > limit:  # grew while being read
        raise InputError(f"it is larger than {limit / 2**20:g} MB")
    return data, info.st_mtime


@dataclass(frozen=True)
class ImportRow:
    """One photo to import, with where it came from (``source``: manifest line or path)."""

    source: str
    patient: str
    treatment: str
    treated_on: date | None
    photo: Path  # the photo's path: ``root / relative path`` when read from a manifest or folder
    taken_at: datetime | None = None
    roi: tuple | None = None
    control: tuple | None = None
    area: str = "treated area"
    skin_type: str | None = None
    name: str | None = None
    before_session: bool | None = None
    treated_extent: str | None = None
    problem: str | None = None  # a reason to refuse the row before reading the photo
    root: Path | None = field(default=None, repr=False)  # the folder ``photo`` must stay inside


@dataclass(frozen=True)
class ImportOutcome:
    """What happened to one row: ``imported``, ``already`` (imported before) or ``refused``."""

    source: str
    photo: str
    status: str
    reason: str | None = None
    photo_id: int | None = None
    course_id: int | None = None


def _parse_date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{what} {text!r} is not a date like 2026-03-02") from None


def _parse_when(text: str) -> datetime:
    text = text.strip()
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise InputError(f"taken_on {text!r} is not a date like 2026-03-05 or 2026-03-05T09:30") from None


def read_manifest(path: Path) -> list[ImportRow]:
    """Rows of a manifest CSV; malformed rows come back with ``problem`` set.

    Raises
    ------
    InputError
        The file cannot be read or lacks a required column.
    """
    try:
        data, _ = read_file_under(path.parent, path.name, _MAX_MANIFEST_BYTES, follow_symlinks=True)
        text = data.decode("utf-8-sig")
    except InputError as exc:
        raise InputError(f"cannot read the manifest {path}: {exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"cannot read the manifest {path}: it is not UTF-8 text") from None
    reader = csv.DictReader(text.splitlines())
    columns = {c.strip().lower() for c in (reader.fieldnames or [])}
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise InputError(f"the manifest has no column {', '.join(missing)} (needs {', '.join(_REQUIRED)})")
    rows = []
    for number, raw in enumerate(reader, start=2):
        extra = raw.pop(None, None)  # cells beyond the header
        record = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        row = _row(f"line {number}", record, path.parent)
        if extra:
            row = replace(row, problem=f"the row has {len(extra)} more cells than the header")
        rows.append(row)
    return rows


def _before_session(text: str | None) -> bool | None:
    if not text:
        return None
    if text.lower() not in ("before", "after"):
        raise InputError(f"before_session {text!r} must be before or after")
    return text.lower() == "before"


def _row(source: str, r: dict, root: Path) -> ImportRow:
    photo = root / r["photo"] if r.get("photo") else root
    fields = dict(source=source, patient=r.get("patient", ""), treatment=r.get("treatment", ""), treated_on=None,
                  photo=photo, area=r.get("area") or "treated area", skin_type=r.get("skin_type") or None,
                  name=r.get("name") or None, root=root)
    try:
        for column in _REQUIRED:
            if not r.get(column):
                raise InputError(f"the {column} column is empty")
        if PurePath(r["photo"]).is_absolute() or ".." in PurePath(r["photo"]).parts:
            raise InputError("the photo path must lead to a file inside the manifest's folder, without ..")
        if r["treatment"] not in TREATMENTS:
            raise InputError(f"unknown treatment {r['treatment']!r} (see `tracker treatments`)")
        fields.update(
            treated_on=_parse_date(r["treated_on"], "treated_on"),
            taken_at=_parse_when(r["taken_on"]) if r.get("taken_on") else None,
            roi=parse_region(r.get("roi")), control=parse_region(r.get("control")),
            skin_type=validate_skin_type(r.get("skin_type")),
            before_session=_before_session(r.get("before_session")),
            treated_extent=validate_treated_extent(r.get("treated")),
        )
    except InputError as exc:
        fields["problem"] = str(exc)
    return ImportRow(**fields)


def _folders(parent: Path, follow_symlinks: bool) -> list[Path]:
    return sorted(p for p in parent.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (follow_symlinks or not p.is_symlink()))


def scan_folder(folder: Path, *, follow_symlinks: bool = False) -> list[ImportRow]:
    """Rows for every photo under ``FOLDER/<patient>/<treatment>/<YYYY-MM-DD>/``.

    Symbolically linked folders are skipped unless ``follow_symlinks``; files are checked as
    they are read (:func:`read_file_under`).
    """
    rows = []
    for patient_dir in _folders(folder, follow_symlinks):
        for treatment_dir in _folders(patient_dir, follow_symlinks):
            regions, problem = _read_regions(treatment_dir, follow_symlinks)
            for session_dir in _folders(treatment_dir, follow_symlinks):
                for photo in sorted(session_dir.iterdir()):
                    if photo.suffix.lower() not in PHOTO_SUFFIXES:
                        continue
                    relative = photo.relative_to(folder)
                    record = {"patient": patient_dir.name, "treatment": treatment_dir.name,
                              "treated_on": session_dir.name, "photo": str(relative), **regions}
                    row = _row(str(relative), record, folder)
                    rows.append(replace(row, problem=problem) if problem else row)
    return rows


def _read_regions(treatment_dir: Path, follow_symlinks: bool) -> tuple[dict[str, str], str | None]:
    """The regions of ``regions.txt`` in a treatment folder, or the reason they cannot be read."""
    if not os.path.lexists(treatment_dir / "regions.txt"):
        return {}, None
    try:
        data, _ = read_file_under(treatment_dir, "regions.txt", _MAX_REGIONS_BYTES, follow_symlinks=follow_symlinks)
        text = data.decode("utf-8-sig")
    except InputError as exc:
        return {}, f"its regions.txt cannot be used: {exc}"
    except UnicodeDecodeError:
        return {}, "its regions.txt cannot be used: it is not UTF-8 text"
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip().lower() in ("roi", "control", "treated"):
            out[key.strip().lower()] = value.strip()
    return out, None


def _read_photo(row: ImportRow, follow_symlinks: bool) -> tuple[bytes, float]:
    if row.root is None:  # a row made by a program: its photo path is taken as given
        return read_file_under(row.photo.parent, row.photo.name, MAX_PHOTO_BYTES, follow_symlinks=follow_symlinks)
    return read_file_under(row.root, row.photo.relative_to(row.root), MAX_PHOTO_BYTES,
                           follow_symlinks=follow_symlinks)


def _import_one(store: Store, row: ImportRow, follow_symlinks: bool = False) -> ImportOutcome:
    shown = str(row.photo)
    if row.problem:
        return ImportOutcome(row.source, shown, "refused", row.problem)
    try:
        data, modified = _read_photo(row, follow_symlinks)
    except InputError as exc:
        return ImportOutcome(row.source, shown, "refused", str(exc))
    outcome = record_photo(store, SYSTEM, PhotoRecord(
        patient=row.patient, treatment=row.treatment, treated_on=row.treated_on, data=data,
        taken_at=row.taken_at, fallback_time=datetime.fromtimestamp(modified).replace(microsecond=0),
        roi=row.roi, control=row.control, area=row.area, skin_type=row.skin_type, name=row.name,
        before_session=row.before_session, treated_extent=row.treated_extent))
    return ImportOutcome(row.source, shown, outcome.status, outcome.reason, outcome.photo_id, outcome.course_id)


def _sweep_leftovers(store: Store) -> None:
    """Remove what killed imports left in the photo store.

    Temporary files of dead writers go at once; a complete photo whose row was
    never committed stays for the sweep's grace period, so that a re-run adopts
    it and a concurrent importer's photo is never taken away before its commit.
    """
    with store.session() as s:
        referenced = set(s.scalars(select(Photo.content_hash)))
    store.photos.sweep(referenced)


def _import_one_retrying(store: Store, row: ImportRow, follow_symlinks: bool, attempts: int = 3) -> ImportOutcome:
    for _ in range(attempts - 1):
        try:
            return _import_one(store, row, follow_symlinks)
        except IntegrityError:
            # On PostgreSQL a concurrent importer can commit the same patient, area or
            # photo between our look-up and our insert; the next attempt finds its rows.
            pass
    return _import_one(store, row, follow_symlinks)


def _disk_full(exc: Exception) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in _DISK_FULL
    # SQLite says "database or disk is full"; PostgreSQL "could not extend file ... No space left on device".
    text = str(getattr(exc, "orig", exc)).lower()
    return "disk is full" in text or "no space left" in text


def run_import(store: Store, rows: list[ImportRow], progress: Callable[[str, int, int], None] | None = None,
               analyse: bool = True, *, follow_symlinks: bool = False) -> list[ImportOutcome]:
    """Import rows, then analyse the affected courses; returns one outcome per row.

    ``progress(stage, done, total)`` is called as photos are stored
    (``stage="import"``) and analysed (``"analyse"``). ``follow_symlinks`` lets photos be
    read through symbolic links (module notes).

    Raises
    ------
    ImportStopped
        The disk (of the photo store or the database) is full; what was imported stays.
    """
    _sweep_leftovers(store)
    outcomes = []
    for i, row in enumerate(rows):
        try:
            outcomes.append(_import_one_retrying(store, row, follow_symlinks))
        except (OSError, OperationalError) as exc:
            if _disk_full(exc):
                raise ImportStopped(f"the disk is full: stopped after {i} of {len(rows)} photos; make room and run "
                                    "the same import again, which adds only what is missing", outcomes) from None
            if isinstance(exc, OperationalError):
                raise
            outcomes.append(ImportOutcome(row.source, str(row.photo), "refused",
                                          f"could not store the photo ({exc.strerror})"))
        if progress:
            progress("import", i + 1, len(rows))
    if analyse:
        analyse_imported(store, outcomes, progress=(lambda done, total: progress("analyse", done, total))
                         if progress else None)
    return outcomes


def analyse_imported(store: Store, outcomes: list[ImportOutcome], *, workers: int = 1, dask: str | None = None,
                     progress: Callable[[int, int], None] | None = None) -> BatchReport:
    """Analyse the courses an import touched through the batch queue (:mod:`tracker.services.batch`).

    ``workers`` and ``dask`` as for :func:`tracker.services.batch.run_batch`; a photo whose
    analysis fails is reported with its reason and never stops the others.
    """
    courses = sorted({o.course_id for o in outcomes if o.course_id is not None})
    if not courses:
        return BatchReport()
    plan = plan_jobs(store, courses)
    return run_batch(store, courses, workers=workers, dask=dask, current=plan.current, progress=progress)
