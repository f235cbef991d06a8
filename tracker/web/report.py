"""A patient's healing-progress report as a PDF, for the provider to print or share.

Pure: the caller hands in the patient's record (:class:`~tracker.services.PatientDetail`),
the notes and the decoded photos it fetched through the access-controlled services
(:func:`photos_needed` says which), and gets the PDF bytes back. Nothing here opens the
store, reads a file it was not handed (bar the fonts: DejaVu, shipped with matplotlib, and
Noto Sans CJK, from the ``noto-cjk-sans-jp-regular`` package) or imports Streamlit.

What a report holds, per treated area: the status in words with the rules and figures
that fired, the measured redness against the expected band (chart), texture change
(chart), a table of figures per photo, the baseline with its regions beside the latest
measured photo aligned onto it; then the provider notes, newest first.

Notes
-----
Tables, labels and images come from :mod:`tracker.web.views`, so the report shows what the
app shows. Text is set in DejaVu Sans (embedded, subset) because the PDF core fonts are
Latin-1 only and the report needs "Δa*", "°" and "≥"; DejaVu covers the Latin, Greek and
Cyrillic scripts. Names, notes and area names in Chinese, Japanese or Korean are set in Noto
Sans CJK (SIL Open Font License), embedded only when the record needs it. Text that neither
covers, or that is written right to left (which this layout cannot order), is refused before
anything is drawn (:class:`ReportError`, naming the problem, never the text), so nothing
vanishes from a report silently; and the font libraries' logging, which would list the
characters drawn, is kept to errors. Photos are embedded as JPEG (quality 85, longest side
900 px), which keeps a report well under 2 MB.
"""

from __future__ import annotations

import importlib.metadata
import io
import logging
import unicodedata
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import matplotlib
import numpy as np
from fontTools.ttLib import TTFont
from fpdf import FPDF, FontFace
from fpdf.enums import XPos, YPos
from matplotlib.figure import Figure

from tracker.recovery.timeline import CoursePoint, CourseProgress
from tracker.services.access import ServiceError
from tracker.web.views import (
    OKABE_ITO,
    aligned_pair,
    answers_text,
    grade_texts,
    course_frame,
    draw_regions,
    fit_within,
    redness_band_frame,
    course_provider_status,
    course_schedule,
    provider_schedule_line,
    treatment_name,
)

if TYPE_CHECKING:  # the records only: the report never touches the store
    from tracker.services.read_models import CourseDetail, PatientDetail

__all__ = ["NOTICE", "ReportError", "patient_report_pdf", "photos_needed"]

# fpdf warns of missing glyphs by listing the characters, and fontTools' subsetter lists the
# glyphs it keeps: from a report, both are a patient's name and notes. Only errors are logged.
logging.getLogger("fpdf").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)

NOTICE = ("Measurements from photos compare this patient with the typical course after the treatment. "
          "They are not a diagnosis.")

_FONT = "DejaVu"
_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_DEJAVU = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
_CJK_FONT = "NotoSansCJK"
_CJK_PACKAGE = "noto-cjk-sans-jp-regular"  # Noto Sans CJK JP: every CJK ideograph, kana and hangul


class ReportError(ServiceError):
    """The report cannot be made; the message names the problem, never the patient's text."""
_PHOTO_SIDE = 900  # px, longest side of an embedded photo
_JPEG_QUALITY = 85
_CHART_DPI = 150
_LABEL_WIDTH = 52  # mm, the label column of "label: value" lines
_REDNESS_LABEL = "Redness above before-treatment (Δa*, a* units)"
_TEXTURE_LABEL = "Texture contrast vs before treatment (%)"
_STATUS_COLOUR = {"review": "vermillion", "check_photos": "purple", "slower": "orange", "on_track": "green",
                  "ahead": "blue", "not_assessed": "grey"}


def photos_needed(patient: PatientDetail) -> set[int]:
    """The ids of the photos :func:`patient_report_pdf` shows: per course, the baseline and the latest measured photo.

    Parameters
    ----------
    patient : PatientDetail
        The record from :func:`tracker.services.get_patient`.

    Returns
    -------
    set of int
        Photo ids for the caller to fetch (with :func:`tracker.services.photo_bytes`) and decode.
    """
    needed = set()
    for course in patient.courses:
        if course.baseline_photo_id is not None:
            needed.add(course.baseline_photo_id)
        latest = _latest_measured(course)
        if latest is not None:
            needed.add(latest.photo_id)
    return needed


def patient_report_pdf(patient: PatientDetail, notes: list[dict], photos: dict[int, np.ndarray], *,
                       prepared_by: str, generated_at: datetime | None = None) -> bytes:
    """Render a patient's healing-progress report (A4 PDF).

    Parameters
    ----------
    patient : PatientDetail
        The record from :func:`tracker.services.get_patient`.
    notes : list of dict
        Provider notes as :func:`tracker.services.list_notes` returns them
        (``created_at``, ``author``, ``text``); shown newest first.
    photos : dict of int to numpy.ndarray
        Decoded RGB uint8 photos by id, at least those of :func:`photos_needed`;
        a missing one is reported as not available.
    prepared_by : str
        Who generated the report (user name), printed in the header.
    generated_at : datetime, optional
        When the report was generated (default now); also the reference for
        "days since the latest session".

    Returns
    -------
    bytes
        The PDF file.

    Examples
    --------
    With a store and a signed-in provider (see ``tracker.web.panels.report_panel``)::

        detail = services.get_patient(store, actor, patient_id)
        photos = {i: decode_photo(services.photo_bytes(store, actor, i)).rgb for i in photos_needed(detail)}
        pdf = patient_report_pdf(detail, services.list_notes(store, actor, patient_id), photos,
                                 prepared_by=actor.username)
    """
    generated_at = (generated_at or datetime.now()).replace(microsecond=0)
    needs_cjk = _needs_cjk([patient.display_name, patient.reference, prepared_by,
                            *(c.area for c in patient.courses), *(str(n["author"]) for n in notes),
                            *(str(n["text"]) for n in notes)])
    pdf = _ReportPDF(f"{patient.display_name} ({patient.reference}) · Healing progress report · "
                     f"{generated_at:%Y-%m-%d}", needs_cjk)
    pdf.set_title("Healing progress report")
    pdf.set_creator("tracker")
    pdf.set_creation_date(generated_at.astimezone())
    pdf.add_page()
    _header(pdf, patient, prepared_by, generated_at)
    if not patient.courses:
        _paragraph(pdf, "There are no treated areas and no photos yet.")
    for course in patient.courses:
        _course_section(pdf, course, patient.skin_type, photos, generated_at)
    _notes_section(pdf, notes)
    return bytes(pdf.output())


# --- fonts ---------------------------------------------------------------------------------

@cache
def _cjk_font_path() -> Path | None:
    """The Noto Sans CJK file, located without importing its package; None if it is not installed."""
    try:
        files = importlib.metadata.distribution(_CJK_PACKAGE).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = [f for f in files if f.name.endswith(".otf")]
    return Path(found[0].locate()) if found else None


@cache
def _characters(path: Path) -> frozenset[int]:
    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap())


@cache
def _dejavu_characters() -> frozenset[int]:
    """What every DejaVu style the report uses can draw."""
    return frozenset.intersection(*(_characters(_FONT_DIR / name) for name in _DEJAVU.values()))


def _needs_cjk(texts: list[str]) -> bool:
    """Whether the record's own text needs the CJK font; ReportError if no font here can draw it."""
    wanted = {ord(ch) for text in texts for ch in text if not ch.isspace()}
    if any(unicodedata.bidirectional(chr(code)) in ("R", "AL") for code in wanted):
        raise ReportError("The report cannot be made: the record holds right-to-left text (such as Arabic or "
                          "Hebrew), which the PDF report cannot yet lay out.")
    beyond = wanted - _dejavu_characters()
    cjk = _cjk_font_path()
    if beyond and (cjk is None or beyond - _characters(cjk)):
        raise ReportError("The report cannot be made: the record holds characters none of the report's fonts can "
                          f"show (Latin, Greek, Cyrillic{', Chinese, Japanese, Korean' if cjk else ''}).")
    return bool(beyond)


# --- document -----------------------------------------------------------------------------

class _ReportPDF(FPDF):
    """A4 portrait in DejaVu Sans (Noto Sans CJK where needed), with the patient and "Page n of N" in every footer."""

    def __init__(self, footer_text: str, needs_cjk: bool = False):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)
        for style, name in _DEJAVU.items():
            self.add_font(_FONT, style, _FONT_DIR / name)
        if needs_cjk:
            self.add_font(_CJK_FONT, "", _cjk_font_path())
            self.set_fallback_fonts([_CJK_FONT], exact_match=False)  # bold and italic fall back to regular
        self.set_font(_FONT, size=10)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(_FONT, size=7.5)
        self.set_text_color(90)
        self.cell(self.epw * 0.75, 5, self.footer_text)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0)


def _paragraph(pdf: FPDF, text: str, size: float = 10, style: str = "", gap: float = 1.0) -> None:
    pdf.set_font(_FONT, style, size)
    pdf.multi_cell(0, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(gap)


def _heading(pdf: FPDF, text: str, size: float = 13) -> None:
    # Keep a heading with at least a few lines of what follows it.
    if pdf.will_page_break(size * 0.6 + 25):
        pdf.add_page()
    pdf.ln(2)
    _paragraph(pdf, text, size, "B", gap=1.5)


def _label_value(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font(_FONT, "B", 10)
    pdf.cell(_LABEL_WIDTH, 5, label)
    pdf.set_font(_FONT, "", 10)
    pdf.multi_cell(0, 5, value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _bullets(pdf: FPDF, items, size: float = 9) -> None:
    pdf.set_font(_FONT, "", size)
    for item in items:
        pdf.cell(5, size * 0.5, "•")
        pdf.multi_cell(0, size * 0.5, item, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(0.8)


def _hex_rgb(name: str) -> tuple[int, int, int]:
    value = OKABE_ITO[name].lstrip("#")
    return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))


# --- sections -----------------------------------------------------------------------------

def _header(pdf: FPDF, patient: PatientDetail, prepared_by: str, generated_at: datetime) -> None:
    _paragraph(pdf, "Healing progress report", 18, "B", gap=2)
    _label_value(pdf, "Patient", patient.display_name)
    _label_value(pdf, "Identifier", patient.reference)
    _label_value(pdf, "Skin type", f"Fitzpatrick {patient.skin_type}" if patient.skin_type else "not recorded")
    _label_value(pdf, "Generated", f"{generated_at:%Y-%m-%d %H:%M} by {prepared_by}")
    pdf.ln(2)
    pdf.set_fill_color(238, 238, 238)
    pdf.set_font(_FONT, "I", 9)
    pdf.multi_cell(0, 5, NOTICE, fill=True, align="L", padding=2, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)


def _course_section(pdf: FPDF, course: CourseDetail, skin_type: str | None, photos: dict[int, np.ndarray],
                    generated_at: datetime) -> None:
    progress = course.progress
    _heading(pdf, f"{treatment_name(course.treatment)}: {course.area}")
    sessions = ", ".join(f"{d:%Y-%m-%d}" for d in course.sessions) or "none recorded"
    _label_value(pdf, "Sessions" if len(course.sessions) > 1 else "Session", sessions)
    if course.sessions:
        days = (generated_at.date() - max(course.sessions)).days
        _label_value(pdf, "Days since latest session", str(days))
    photo_plan = provider_schedule_line(course_schedule(course, generated_at.date()))
    if photo_plan:
        _label_value(pdf, "Photo schedule", photo_plan)
    _status(pdf, progress)
    if not progress.points:
        _paragraph(pdf, "No photos yet.")
        return
    _redness_chart(pdf, progress, skin_type)
    _texture_chart(pdf, progress)
    _figures_table(pdf, progress)
    _grades_section(pdf, course)
    _photo_pair(pdf, course, photos)


def _grades_section(pdf: FPDF, course: CourseDetail) -> None:
    """Clinicians' grades and the patient's answers beside each photo that has any."""
    lines = []
    for pt in course.progress.points:
        recorded = course.grades.get(pt.photo_id)
        texts = grade_texts(recorded) + [t for t in (answers_text(recorded),) if t]
        if texts:
            lines.append(f"{pt.taken_at:%Y-%m-%d} (day {pt.day}): " + "; ".join(texts))
    if lines:
        _paragraph(pdf, "Grades and the patient's answers", 10, "B", gap=0.5)
        _bullets(pdf, lines, size=8)


def _status(pdf: FPDF, progress: CourseProgress) -> None:
    assessment = progress.assessment
    pdf.set_font(_FONT, "B", 10)
    pdf.cell(_LABEL_WIDTH, 6, "Status")
    pdf.set_text_color(*_hex_rgb(_STATUS_COLOUR.get(progress.status, "black")))
    pdf.set_font(_FONT, "B", 11)
    pdf.multi_cell(0, 6, course_provider_status(progress), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0)
    if assessment is None:
        if progress.not_assessed_reason:
            _label_value(pdf, "Not assessed", progress.not_assessed_reason)
        return
    if assessment.projected_resolution_day is not None:
        projection = f"around day {assessment.projected_resolution_day:.0f}"
        if assessment.projected_interval is not None:
            low, high = assessment.projected_interval
            projection += f" (90% interval: day {low:.0f} to {high:.0f})"
        _label_value(pdf, "Projected resolution", projection)
    if assessment.provider_reasons:
        pdf.ln(1)
        _paragraph(pdf, "Why (rules and figures):", 9, "B", gap=0.5)
        _bullets(pdf, assessment.provider_reasons)


def _redness_chart(pdf: FPDF, progress: CourseProgress, skin_type: str | None) -> None:
    frame = course_frame(progress)
    measured = frame.dropna(subset=["excess_redness"])
    if measured.empty:
        _paragraph(pdf, "No redness measurements to chart yet.", 9)
        return
    band = redness_band_frame(progress, skin_type)
    fig = Figure(figsize=(7.2, 3.3))
    ax = fig.subplots()
    if band is not None:
        ax.fill_between(band["day"], band["low"], band["high"], color=OKABE_ITO["sky"], alpha=0.3, linewidth=0,
                        label="Expected range")
        ax.plot(band["day"], band["typical"], linestyle="--", color=OKABE_ITO["blue"], linewidth=1.2,
                label="Typical course")
    used = measured[measured["usable"]]
    left_out = measured[~measured["usable"]]
    ax.plot(used["day"], used["excess_redness"], marker="o", markersize=4.5, color=OKABE_ITO["vermillion"],
            linewidth=1.6, label="Measured")
    if not left_out.empty:
        ax.scatter(left_out["day"], left_out["excess_redness"], marker="x", s=40, color=OKABE_ITO["grey"],
                   linewidths=1.6, label="Left out (photo quality)", zorder=3)
    for day in progress.session_days[1:]:
        ax.axvline(day, color=OKABE_ITO["black"], linestyle=":", linewidth=0.8)
    ax.axhline(0, color=OKABE_ITO["grey"], linewidth=0.6)
    ax.set_xlabel("Days since treatment")
    ax.set_ylabel(_REDNESS_LABEL, fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    _place_figure(pdf, fig, width=pdf.epw)


def _texture_chart(pdf: FPDF, progress: CourseProgress) -> None:
    frame = course_frame(progress)
    measured = frame[frame["usable"]].dropna(subset=["texture_change_pct"])
    if measured.empty:
        return
    fig = Figure(figsize=(6.0, 2.2))
    ax = fig.subplots()
    ax.plot(measured["day"], measured["texture_change_pct"], marker="o", markersize=4, color=OKABE_ITO["purple"],
            linewidth=1.4)
    ax.axhline(0, color=OKABE_ITO["grey"], linewidth=0.6)
    ax.set_xlabel("Days since treatment", fontsize=8)
    ax.set_ylabel("Texture change (%)", fontsize=8)
    ax.set_title(_TEXTURE_LABEL, fontsize=8)
    ax.tick_params(labelsize=7)
    _place_figure(pdf, fig, width=pdf.epw * 0.8)


def _place_figure(pdf: FPDF, fig: Figure, width: float) -> None:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_CHART_DPI)
    w_in, h_in = fig.get_size_inches()
    height = width * h_in / w_in
    if pdf.will_page_break(height + 2):
        pdf.add_page()
    pdf.image(buffer, x=pdf.l_margin + (pdf.epw - width) / 2, y=pdf.get_y(), w=width, h=height)
    pdf.set_y(pdf.get_y() + height + 2)


def _fmt(value, spec: str = ".1f") -> str:
    return "–" if value is None or not np.isfinite(value) else format(value, spec)


def _quality_cell(point: CoursePoint) -> str:
    if not point.ok:
        return "not measured"
    if point.quality_ok:
        return "OK"
    if point.result.quality_codes:
        return ", ".join(point.result.quality_codes)
    return point.quality_issues[0] if point.quality_issues else "not checked"


def _figures_table(pdf: FPDF, progress: CourseProgress) -> None:
    headings = ("Date", "Day", "Session", "Δa* above before-treatment", "ITA°", "Melanin index",
                "Texture change %", "Quality", "Alignment RMSE px")
    if pdf.will_page_break(40):
        pdf.add_page()
    _paragraph(pdf, "Figures per photo", 10, "B", gap=1)
    pdf.set_font(_FONT, "", 7.5)
    with pdf.table(col_widths=(19, 9, 12, 27, 11, 14, 15, 24, 15), text_align=("LEFT",) + ("RIGHT",) * 6 + (
            "LEFT", "RIGHT"), line_height=4, padding=1, headings_style=FontFace(emphasis="BOLD", fill_color=235),
            borders_layout="HORIZONTAL_LINES") as table:
        row = table.row()
        for heading in headings:
            row.cell(heading)
        baseline_id = progress.points[0].photo_id
        for pt in progress.points:
            rmse = None if pt.photo_id == baseline_id else pt.result.alignment_rmse_px
            texture = None if pt.texture_change is None else 100.0 * pt.texture_change
            row = table.row()
            for cell in (f"{pt.taken_at:%Y-%m-%d}", str(pt.day), str(pt.session), _fmt(pt.excess_redness),
                         _fmt(pt.result.metric("ita_deg")), _fmt(pt.result.metric("melanin_index")),
                         _fmt(texture, "+.1f"), _quality_cell(pt), _fmt(rmse, ".2f")):
                row.cell(cell)
    pdf.ln(1)
    _paragraph(pdf, "Day: days since the first session (negative: before treatment); session 0: before "
               "treatment. Δa* in a* units (CIELAB); ITA° in degrees; alignment RMSE against the baseline.",
               7.5, "I", gap=1)
    problems = [pt for pt in progress.points if not pt.usable]
    if problems:
        _paragraph(pdf, "Photos left out:", 8.5, "B", gap=0.5)
        _bullets(pdf, [f"{pt.taken_at:%Y-%m-%d} (day {pt.day}): " + (pt.result.problem or "could not be measured.")
                       for pt in problems], size=8)


def _latest_measured(course: CourseDetail) -> CoursePoint | None:
    """The latest photo after the baseline that was measured, aligned and passed the quality gate."""
    for pt in reversed(course.progress.points):
        if (pt.photo_id != course.baseline_photo_id and pt.usable and pt.excess_redness is not None
                and pt.result.matrix is not None):
            return pt
    return None


def _jpeg(rgb: np.ndarray) -> io.BytesIO:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise ValueError("A photo could not be encoded for the report.")
    return io.BytesIO(encoded.tobytes())


def _photo_pair(pdf: FPDF, course: CourseDetail, photos: dict[int, np.ndarray]) -> None:
    points = {pt.photo_id: pt for pt in course.progress.points}
    baseline_rgb = photos.get(course.baseline_photo_id)
    if baseline_rgb is None:
        _paragraph(pdf, "Photos", 10, "B", gap=1)
        _paragraph(pdf, "The baseline photo is not available for this report.", 9)
        return
    latest = _latest_measured(course)
    latest_rgb = photos.get(latest.photo_id) if latest is not None else None
    if latest_rgb is not None:
        base_small, warped, _ = aligned_pair(baseline_rgb, latest_rgb, latest.result.matrix,
                                             _PHOTO_SIDE, region=latest.result.region)
    else:
        base_small, warped = fit_within(baseline_rgb, _PHOTO_SIDE), None
    scale = base_small.shape[1] / baseline_rgb.shape[1]
    images = [(draw_regions(base_small, course.roi, course.control, scale),
               _caption("Baseline", points[course.baseline_photo_id]))]
    if warped is not None:
        images.append((draw_regions(warped, course.roi, course.control, scale),
                       _caption("Latest measured, aligned to the baseline", latest)))

    gap = 6
    width = (pdf.epw - gap) / 2
    height = width * base_small.shape[0] / base_small.shape[1]
    if height > 120:  # keep a tall (portrait) pair on half a page
        height = 120
        width = height * base_small.shape[1] / base_small.shape[0]
    if pdf.will_page_break(height + 22):
        pdf.add_page()
    _paragraph(pdf, "Photos", 10, "B", gap=1)
    top = pdf.get_y()
    for i, (rgb, caption) in enumerate(images):
        x = pdf.l_margin + i * (width + gap)
        pdf.image(_jpeg(rgb), x=x, y=top, w=width, h=height)
        pdf.set_xy(x, top + height + 1)
        pdf.set_font(_FONT, "", 8)
        pdf.multi_cell(width, 4, caption, align="L")
    pdf.set_xy(pdf.l_margin, top + height + 10)
    if latest is None:
        _paragraph(pdf, "No photo after the baseline has been measured and passed the quality check yet.", 8.5)
    elif latest_rgb is None:
        _paragraph(pdf, "The latest measured photo is not available for this report.", 8.5)
    pdf.ln(2)


def _caption(what: str, point: CoursePoint) -> str:
    return f"{what}: {point.taken_at:%Y-%m-%d}, day {point.day}"


def _notes_section(pdf: FPDF, notes: list[dict]) -> None:
    _heading(pdf, "Notes")
    if not notes:
        _paragraph(pdf, "No notes.")
        return
    for note in sorted(notes, key=lambda n: (n["created_at"], n.get("id", 0)), reverse=True):
        _paragraph(pdf, f"{note['created_at']:%Y-%m-%d %H:%M} · {note['author']}", 9, "B", gap=0.3)
        _paragraph(pdf, note["text"], 9.5, gap=2)
