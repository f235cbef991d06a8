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
=============  ========================================================================

Folder convention: ``FOLDER/<patient>/<treatment>/<YYYY-MM-DD of the session>/<photos>``,
with an optional ``regions.txt`` in the treatment folder holding lines
``roi=X,Y,W,H`` and ``control=X,Y,W,H``.

Each photo is stored and recorded in its own transaction, so an interrupted
import keeps every photo it reported and a re-run adds only the rest; a photo
imported twice is recorded once. A run starts by sweeping what killed runs left
in the photo store: their temporary files at once, a photo they stored but never
recorded once the sweep's grace period is over (a re-run adopts it before then).
A bad row or file is refused with its reason, before its photo is stored, and
the others go on.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tracker.recovery import TREATMENTS
from tracker.services.access import SYSTEM, InputError
from tracker.services.records import PhotoRecord, parse_region, record_photo, refresh_analyses, validate_skin_type
from tracker.store.db import Store
from tracker.store.models import Photo

_log = logging.getLogger(__name__)

__all__ = ["ImportRow", "ImportOutcome", "read_manifest", "scan_folder", "run_import", "PHOTO_SUFFIXES"]

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".heic", ".heif"}
_REQUIRED = ("patient", "treatment", "treated_on", "photo")


@dataclass(frozen=True)
class ImportRow:
    """One photo to import, with where it came from (``source``: manifest line or path)."""

    source: str
    patient: str
    treatment: str
    treated_on: date | None
    photo: Path
    taken_at: datetime | None = None
    roi: tuple | None = None
    control: tuple | None = None
    area: str = "treated area"
    skin_type: str | None = None
    name: str | None = None
    problem: str | None = None  # a reason to refuse the row before reading the photo


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
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the manifest {path}: {getattr(exc, 'strerror', None) or exc}") from None
    reader = csv.DictReader(text.splitlines())
    columns = {c.strip().lower() for c in (reader.fieldnames or [])}
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise InputError(f"the manifest has no column {', '.join(missing)} (needs {', '.join(_REQUIRED)})")
    rows = []
    for number, raw in enumerate(reader, start=2):
        record = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        rows.append(_row(f"line {number}", record, path.parent))
    return rows


def _row(source: str, r: dict, base: Path) -> ImportRow:
    photo = base / r.get("photo", "") if r.get("photo") else base
    fields = dict(source=source, patient=r.get("patient", ""), treatment=r.get("treatment", ""), treated_on=None,
                  photo=photo, area=r.get("area") or "treated area", skin_type=r.get("skin_type") or None,
                  name=r.get("name") or None)
    try:
        for column in _REQUIRED:
            if not r.get(column):
                raise InputError(f"the {column} column is empty")
        if r["treatment"] not in TREATMENTS:
            raise InputError(f"unknown treatment {r['treatment']!r} (see `tracker treatments`)")
        fields.update(
            treated_on=_parse_date(r["treated_on"], "treated_on"),
            taken_at=_parse_when(r["taken_on"]) if r.get("taken_on") else None,
            roi=parse_region(r.get("roi")), control=parse_region(r.get("control")),
            skin_type=validate_skin_type(r.get("skin_type")),
        )
    except InputError as exc:
        fields["problem"] = str(exc)
    return ImportRow(**fields)


def scan_folder(folder: Path) -> list[ImportRow]:
    """Rows for every photo under ``FOLDER/<patient>/<treatment>/<YYYY-MM-DD>/``."""
    rows = []
    for patient_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for treatment_dir in sorted(p for p in patient_dir.iterdir() if p.is_dir()):
            regions = _read_regions(treatment_dir / "regions.txt")
            for session_dir in sorted(p for p in treatment_dir.iterdir() if p.is_dir()):
                for photo in sorted(session_dir.iterdir()):
                    if photo.suffix.lower() not in PHOTO_SUFFIXES:
                        continue
                    record = {"patient": patient_dir.name, "treatment": treatment_dir.name,
                              "treated_on": session_dir.name, "photo": str(photo), **regions}
                    rows.append(_row(str(photo.relative_to(folder)), record, folder))
    return rows


def _read_regions(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip().lower() in ("roi", "control"):
            out[key.strip().lower()] = value.strip()
    return out


def _file_time(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime).replace(microsecond=0)


def _import_one(store: Store, row: ImportRow) -> ImportOutcome:
    shown = str(row.photo)
    if row.problem:
        return ImportOutcome(row.source, shown, "refused", row.problem)
    try:
        data = row.photo.read_bytes()
    except FileNotFoundError:
        return ImportOutcome(row.source, shown, "refused", "there is no such file")
    except OSError as exc:
        return ImportOutcome(row.source, shown, "refused", f"cannot read the file ({exc.strerror})")
    outcome = record_photo(store, SYSTEM, PhotoRecord(
        patient=row.patient, treatment=row.treatment, treated_on=row.treated_on, data=data,
        taken_at=row.taken_at, fallback_time=_file_time(row.photo), roi=row.roi, control=row.control,
        area=row.area, skin_type=row.skin_type, name=row.name))
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


def _import_one_retrying(store: Store, row: ImportRow, attempts: int = 3) -> ImportOutcome:
    for _ in range(attempts - 1):
        try:
            return _import_one(store, row)
        except IntegrityError:
            # On PostgreSQL a concurrent importer can commit the same patient, area or
            # photo between our look-up and our insert; the next attempt finds its rows.
            pass
    return _import_one(store, row)


def run_import(store: Store, rows: list[ImportRow], progress: Callable[[str, int, int], None] | None = None,
               analyse: bool = True) -> list[ImportOutcome]:
    """Import rows, then analyse the affected courses; returns one outcome per row.

    ``progress(stage, done, total)`` is called as photos are stored
    (``stage="import"``) and analysed (``"analyse"``).
    """
    _sweep_leftovers(store)
    outcomes = []
    for i, row in enumerate(rows):
        try:
            outcomes.append(_import_one_retrying(store, row))
        except OSError as exc:  # the photo store's disk, not the photo
            outcomes.append(ImportOutcome(row.source, str(row.photo), "refused",
                                          f"could not store the photo ({exc.strerror})"))
        if progress:
            progress("import", i + 1, len(rows))
    if analyse:
        courses = sorted({o.course_id for o in outcomes if o.course_id is not None})
        for i, course_id in enumerate(courses):
            report = (lambda done, total, i=i: progress(f"analyse {i + 1}/{len(courses)}", done, total)) \
                if progress else None
            try:
                refresh_analyses(store, SYSTEM, course_id, progress=report)
            except Exception as exc:  # noqa: BLE001 - one course's analysis never stops the others
                _log.warning("analysis of course %d failed: %s", course_id, type(exc).__name__)
    return outcomes
