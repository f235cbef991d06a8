"""De-identified research exports: one tidy row per photo, with a generated data dictionary.

What leaves the store:

* a pseudonymous patient id (HMAC-SHA256 of the patient's identifier under the
  installation's secret key: stable across exports of one installation,
  meaningless without the key);
* days since treatment instead of dates;
* the treatment type, session number, skin type and skin-tone category;
* every metric, the quality, alignment and colour verdicts, the course's
  recovery assessment and the metric version.

Never: names, identifiers, dates, free-text notes, area names, photos. Only patients whose
consent to research use stands are exported (:mod:`tracker.services.consent`); the export
says how many were left out.

The data dictionary is generated from :data:`tracker.analysis.metrics.METRICS` and the
column definitions below, so it cannot drift from what the columns hold.

Every text cell that a spreadsheet would read as a formula (starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) is written with a leading apostrophe
(:func:`neutralise_formulas`, after OWASP's "CSV injection"), in CSV and Parquet alike and
in the dictionary: whatever reached the store, an export opened in a spreadsheet runs nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from sqlalchemy import select

from tracker.analysis import METRICS
from tracker.analysis.quality import QUALITY_CODES
from tracker.recovery.scales import QUESTIONNAIRE, SCALES
from tracker.services.access import Actor, require
from tracker.services.audit import audited_refusals, record_event
from tracker.services.consent import consenting_patient_ids, pseudonym
from tracker.services.fhir import fhir_bundle
from tracker.services.read_models import course_detail
from tracker.store.db import Store
from tracker.store.models import Course, Patient

__all__ = ["COLUMNS", "ResearchExport", "ExportWritten", "column_order", "research_export", "export_table",
           "write_export", "data_dictionary", "ita_category",
           "neutralise_formulas"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """A non-metric export column: its meaning, units and source."""

    name: str
    meaning: str
    units: str = ""
    source: str = ""


#: Columns before the metrics.
LEADING_COLUMNS: tuple[Column, ...] = (
    Column("patient_pseudonym", "Pseudonymous patient id: HMAC-SHA256 of the clinic identifier under this "
           "installation's secret key, first 16 hex digits", "text"),
    Column("course_pseudonym", "Pseudonymous id of the treated area followed over time", "text"),
    Column("treatment", "Treatment type (catalogue key, see `tracker treatments`)", "text",
           "tracker/recovery/treatments.toml"),
    Column("session", "Treatment session the photo follows (0: before treatment)", "count"),
    Column("sessions_total", "Sessions recorded for this area", "count"),
    Column("days_since_treatment", "Days from the first session to the photo (negative: before treatment)", "days"),
    Column("days_since_session", "Days from the photo's session to the photo", "days"),
    Column("is_baseline", "Whether this photo is the course baseline (its earliest photo)", "boolean"),
    Column("skin_type", "Fitzpatrick skin type recorded by the clinic (I-VI), when recorded", "category",
           "Fitzpatrick 1988, Arch Dermatol 124:869-871"),
    Column("skin_tone_category", "ITA° category of the baseline photo's measured skin: very light > 55°, "
           "light 41-55°, intermediate 28-41°, tan 10-28°, brown -30-10°, dark < -30°", "category",
           "Chardon et al. 1991; Del Bino & Bernerd 2013"),
    Column("analysis_ok", "Whether the photo could be measured (read and aligned to the baseline)", "boolean"),
    Column("quality_ok", "Whether the photo passed the quality gate", "boolean"),
    Column("quality_issues", "Quality problems found, as codes separated by ';' ("
           + "; ".join(f"{code}: {meaning}" for code, meaning in QUALITY_CODES.items()) + ")", "text"),
    Column("alignment_ok", "Whether alignment to the baseline was trusted", "boolean"),
    Column("alignment_rmse_px", "Root-mean-square reprojection error of the alignment inliers", "baseline pixels"),
    Column("alignment_inliers", "Correspondences consistent with the alignment", "count"),
    Column("alignment_mirrored", "Whether the photo was a mirror image of the baseline's scene (as some front "
           "cameras save selfies) and was measured flipped back; empty when it was not aligned", "boolean"),
    Column("other_camera", "Whether the photo was taken with another camera than the course baseline (EXIF "
           "maker and model differ; their colour rendering differs too); empty when either file did not say",
           "boolean"),
    Column("colour_method", "How colour was normalised to the baseline: baseline, colorchecker, "
           "reference_skin, surroundings or none", "text"),
    Column("colour_residual_delta_e", "Median colour difference left after normalisation over the reference "
           "pixels or chart patches", "ΔE*ab (CIE 1976)", "CIE 15:2004"),
    Column("colour_tone", "Form of the fitted tone curve, whichever fitted the reference better: encoded (a power "
           "of the sRGB values, as a camera's tone curve acts) or linear (a power of linear light, the only form "
           "before metric version 2.3); empty for a colour chart, the baseline itself or no normalisation", "text"),
)

#: Columns after the metrics.
TRAILING_COLUMNS: tuple[Column, ...] = (
    Column("excess_redness", "Redness added since before treatment: Δa* (or a*) minus the baseline's; see "
           "tracker.recovery.timeline", "CIELAB a* units", "Logger et al. 2020"),
    Column("texture_change", "Relative change of GLCM texture contrast against the baseline (0.1 = +10 %)",
           "fraction", "Haralick et al. 1973"),
    Column("course_status", "Recovery assessment of the whole course as of the export: ahead, on_track, "
           "slower, check_photos (measurements implausible: region or photos to check), review or not_assessed. "
           "A comparison with the typical course, not a diagnosis", "category",
           "tracker.recovery"),
    Column("projected_resolution_day", "Day (since the latest session) the course's redness is projected to "
           "resolve", "days", "tracker.recovery"),
    Column("metric_version", "Version of the metric definitions the values were computed with", "text"),
)

#: Clinicians' grades (the newest per scale) and patients' answers, generated from their definitions.
OUTCOME_COLUMNS: tuple[Column, ...] = tuple(
    Column(s.export_column, f"{s.name}, version {s.version}, the newest grade of the photo: {s.definition}",
           f"score {s.low}-{s.high}", s.source) for s in SCALES.values()
) + tuple(
    Column(f"pro_{q.key}", f"{q.meaning}. Asked as: \"{q.text}\" (optional)",
           "1 yes, 0 no" if q.kind == "yes_no" else f"score {q.low}-{q.high}", "tracker.recovery.scales, questionnaire")
    for q in QUESTIONNAIRE)

COLUMNS = LEADING_COLUMNS + TRAILING_COLUMNS + OUTCOME_COLUMNS

#: Yes/no columns that are empty where not known (:func:`research_export` gives them as nullable booleans).
NULLABLE_BOOLEANS = ("alignment_mirrored", "other_camera")


def column_order() -> list[str]:
    """Export columns in order: identification and verdicts, every metric, derived values, grades and answers."""
    return ([c.name for c in LEADING_COLUMNS] + list(METRICS) + [c.name for c in TRAILING_COLUMNS]
            + [c.name for c in OUTCOME_COLUMNS])


def ita_category(ita: float | None) -> str | None:
    """Skin-tone category of an ITA° value (Chardon 1991; Del Bino 2013)."""
    if ita is None or not math.isfinite(ita):
        return None
    for limit, name in ((55, "very light"), (41, "light"), (28, "intermediate"), (10, "tan"), (-30, "brown")):
        if ita > limit:
            return name
    return "dark"


def neutralise_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """The table with every text cell that starts like a spreadsheet formula prefixed by ``'``.

    >>> table = pd.DataFrame({"a": ["=1+1", "ok", "-x", "@A1"], "b": [-1.5, 2.0, 3.0, 4.0]})
    >>> neutralise_formulas(table).to_dict("list")
    {'a': ["'=1+1", 'ok', "'-x", "'@A1"], 'b': [-1.5, 2.0, 3.0, 4.0]}
    """
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v)
    return out


@dataclass(frozen=True)
class ResearchExport:
    """The de-identified table and how many patients were left out for want of consent."""

    table: pd.DataFrame
    patients_left_out: int


@audited_refusals
def research_export(store: Store, actor: Actor) -> ResearchExport:
    """The de-identified table of consenting patients (researchers, administrators, the command line). Audited."""
    require(actor, "researcher", "admin")
    rows = []
    with store.session() as s:
        consenting = set(s.scalars(consenting_patient_ids(s)))
        patients = s.scalars(select(Patient).order_by(Patient.id)).all()
        for patient in patients:
            if patient.id not in consenting:
                continue
            for course in s.scalars(select(Course).where(Course.patient_id == patient.id).order_by(Course.id)):
                detail = course_detail(s, course, patient.skin_type)
                rows.extend(_course_rows(store.secret_key, patient, course, detail))
        left_out = len(patients) - len(consenting & {p.id for p in patients})
        record_event(s, actor, "export", None, f"{len(rows)} rows, {left_out} patients left out without consent")
    # Metrics, grades and answers as numbers (yes 1, no 0), missing ones NaN, even in a column
    # that holds none (an area in cm² without a colour chart): CSV and Parquet then read alike.
    numeric = [*METRICS, *(c.name for c in OUTCOME_COLUMNS)]
    # Yes/no columns that may be unknown are nullable booleans: Parquet keeps them as booleans with
    # nulls (a column of object would not say what it holds).
    table = pd.DataFrame(rows, columns=column_order()).astype(
        {**dict.fromkeys(numeric, float), **dict.fromkeys(NULLABLE_BOOLEANS, "boolean")})
    return ResearchExport(neutralise_formulas(table), left_out)


@audited_refusals
def export_table(store: Store, actor: Actor) -> pd.DataFrame:
    """The table of :func:`research_export` alone."""
    return research_export(store, actor).table


def _course_rows(key: bytes, patient: Patient, course: Course, detail) -> list[dict]:
    progress = detail.progress
    assessment = progress.assessment
    points = progress.points
    baseline_ita = points[0].result.metric("ita_deg") if points else None
    out = []
    for i, pt in enumerate(points):
        result = pt.result
        row = {
            "patient_pseudonym": pseudonym(key, "patient", patient.reference),
            "course_pseudonym": pseudonym(key, "course", f"{patient.reference}/{course.id}"),
            "treatment": course.treatment,
            "session": pt.session,
            "sessions_total": len(detail.sessions),
            "days_since_treatment": pt.day,
            "days_since_session": pt.days_since_session,
            "is_baseline": i == 0,
            "skin_type": patient.skin_type,
            "skin_tone_category": ita_category(baseline_ita),
            "analysis_ok": pt.ok,
            "quality_ok": pt.quality_ok,
            "quality_issues": ";".join(result.quality_codes),
            "alignment_ok": result.alignment_ok,
            "alignment_rmse_px": result.alignment_rmse_px,
            "alignment_inliers": result.alignment_inliers,
            "alignment_mirrored": result.mirrored if result.matrix is not None else None,
            "other_camera": pt.other_camera,
            "colour_method": result.colour_method,
            "colour_residual_delta_e": result.colour_residual_delta_e,
            "colour_tone": result.colour_tone,
            "excess_redness": pt.excess_redness,
            "texture_change": pt.texture_change,
            "course_status": progress.status,
            "projected_resolution_day": None if assessment is None else assessment.projected_resolution_day,
            "metric_version": result.metric_version,
        }
        row.update({name: result.metric(name) for name in METRICS})
        recorded = detail.grades.get(pt.photo_id)
        grades = recorded.grades if recorded else {}
        answers = recorded.answers if recorded else {}
        row.update({s.export_column: grades[k].score if k in grades else None for k, s in SCALES.items()})
        row.update({f"pro_{q.key}": answers.get(q.key) for q in QUESTIONNAIRE})
        out.append(row)
    return out


def data_dictionary() -> pd.DataFrame:
    """Column, meaning, units and source of every export column."""
    entries = [(c.name, c.meaning, c.units, c.source) for c in COLUMNS]
    entries += [(d.name, f"{d.label}: {d.description} Formula: {d.formula}. Colour space: {d.colour_space}.",
                 d.units, d.source) for d in METRICS.values()]
    order = {name: i for i, name in enumerate(column_order())}
    entries.sort(key=lambda e: order[e[0]])
    return neutralise_formulas(pd.DataFrame(entries, columns=["column", "meaning", "units", "source"]))


EXPORT_FORMATS = ("csv", "parquet", "fhir")


class ExportWritten(NamedTuple):
    """What :func:`write_export` wrote."""

    rows: int
    dictionary: Path
    patients_left_out: int  # without consent to research use


@audited_refusals
def write_export(store: Store, actor: Actor, out: Path, fmt: str) -> ExportWritten:
    """Write the table as ``csv``, ``parquet`` or ``fhir`` (an R4 Bundle in JSON) and the dictionary beside it."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError("the format must be csv, parquet or fhir")
    export = research_export(store, actor)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        export.table.to_csv(out, index=False)
    elif fmt == "parquet":
        export.table.to_parquet(out, index=False)
    else:
        out.write_text(json.dumps(fhir_bundle(export.table), indent=1, ensure_ascii=False), encoding="utf-8")
    dictionary = out.with_name(out.stem + ".dictionary.csv")
    data_dictionary().to_csv(dictionary, index=False)
    return ExportWritten(len(export.table), dictionary, export.patients_left_out)
