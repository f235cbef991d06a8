"""What the app's pages show, computed here so pages stay layout and wiring.

Tables (pandas), charts (Altair specifications) and images (numpy arrays) built
from the service layer's records and the analysis results. No Streamlit here:
every function can be tested on its own.

Colours follow the Okabe-Ito palette, which stays distinguishable with the
common forms of colour blindness (Okabe & Ito 2008, "Color Universal Design").
"""

from __future__ import annotations

import base64
import re
from datetime import date, datetime, time
from typing import Sequence

import altair as alt
import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tracker.analysis import AnalysisResult
from tracker.analysis.align import RegionAlignment, rescale_homography, rescale_region, warp_to_baseline
from tracker.analysis.colour import ColourCorrection, srgb8_to_lab, srgb_to_lab
from tracker.analysis.metrics import CHANGE_THRESHOLD_A, FOCAL_THRESHOLD_A
from tracker.recovery import (
    TREATMENTS,
    CoursePoint,
    CourseProgress,
    PhotoSchedule,
    PhotoSlot,
    expected_course,
    get_treatment,
    photo_schedule,
    texture_in_words,
)
from tracker.recovery.scales import QUESTIONNAIRE, SCALES

__all__ = [
    "OKABE_ITO", "STATUS_LABEL", "STATUS_HELP", "PROVIDER_STATUS", "status_label", "provider_status",
    "course_provider_status", "course_schedule", "schedule_sentences", "provider_schedule_line",
    "filter_patient_list", "PATIENT_LIST_ORDERS", "sort_patient_list", "course_frame", "redness_band_frame",
    "redness_chart", "texture_chart", "patient_list_frame", "aligned_pair", "redness_heatmap", "draw_regions",
    "box_drawing_figure", "cohort_curves", "cohort_chart", "fit_within", "treatment_name", "upload_time",
    "upload_verdict", "measured_points", "photo_figures", "focal_redness_note",
]

OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#999999"}

STATUS_LABEL = {
    "review": "Ask your provider to review",
    "check_photos": "Photos need checking",
    "slower": "Slower than typical",
    "on_track": "On track",
    "ahead": "Ahead of the typical course",
    "not_assessed": "Not enough photos yet",
}

STATUS_HELP = (
    "The status compares redness measured in your photos with the typical course after this treatment. "
    "It is not a diagnosis. Contact your provider whenever something worries you, whatever the status says."
)


def status_label(status: str) -> str:
    """Plain words for a status key."""
    return STATUS_LABEL.get(status, status)


PROVIDER_STATUS = {
    "review": "needs review",
    "check_photos": "check the photos and regions",
    "slower": "slower than typical",
    "on_track": "on track",
    "ahead": "ahead of the typical course",
    "not_assessed": "not assessed",
}
"""The status as the provider reads it: what to do, before the rule that says why."""

_RULE_WORDS = {
    "redness_beyond_outer_limit": "redness beyond the outer limit",
    "redness_rebound": "redness came back after fading",
    "new_darkening": "darker than before treatment",
    "focal_redness_persisting": "a patch stays redder than the rest",
    "lightening_below_baseline": "lighter than before treatment",
    "redness_below_control": "treated area less red than its control",
    "no_redness_after_treatment": "no redness in the days every patient is red",
    "redness_slower_than_band": "redness fading slower than the expected band",
    "redness_not_fading": "redness not fading",
    "redness_before_peak": "no photo from the redness peak on yet",
    "redness_within_band": "redness fading within the expected band",
    "redness_still_red_within_band": "still red, within the expected band",
    "redness_resolved_early": "redness gone before the expected band",
}
_RULE = re.compile(r"^rule (\w+):")
# The day a finding was seen on, as the provider sentences of tracker.recovery.assessment give
# it ("on day 28", "on day 44 after session 2", "on 2 photos from day 18"); the last one is
# the latest photo of the finding.
_FINDING_DAY = re.compile(
    r"\bon (?:(?:the latest )?\d+ (?:days' )?photos(?: \([^)]*\))?(?: of 1 day \(median\))? from )?"
    r"(day \d+(?: after session \d+)?)"
)


def provider_status(status: str, provider_reasons: Sequence[str]) -> str:
    """The status worded for the provider: what to do, the rule that fired and the day it was seen.

    Parameters
    ----------
    status : str
        A status key (:data:`~tracker.recovery.STATUSES` or ``not_assessed``).
    provider_reasons : sequence of str
        The provider-facing sentences of the assessment, most important first; each starts with
        ``"rule <name>:"`` (:class:`~tracker.recovery.Assessment`), or, for a course that is not
        assessed, the reason why.

    Returns
    -------
    str
        For example ``"needs review: redness beyond the outer limit on day 28"``; the patient
        reads :func:`status_label` instead.
    """
    words = PROVIDER_STATUS.get(status, status)
    first = next((r for r in provider_reasons if r), "")
    rule = _RULE.match(first)
    if rule is None:
        return f"{words}: {first[:1].lower()}{first[1:].rstrip('.')}" if first else words
    finding = _RULE_WORDS.get(rule.group(1), rule.group(1).replace("_", " "))
    days = _FINDING_DAY.findall(first)
    return f"{words}: {finding}" + (f" on {days[-1]}" if days else "")


def course_provider_status(progress: CourseProgress) -> str:
    """:func:`provider_status` of a course's current assessment (or of why it is not assessed)."""
    if progress.assessment is not None:
        return provider_status(progress.status, progress.assessment.provider_reasons)
    return provider_status(progress.status, [progress.not_assessed_reason or ""])


def treatment_name(key: str) -> str:
    """The catalogue's name of a treatment, or the key itself."""
    return TREATMENTS[key].name if key in TREATMENTS else key


def fit_within(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink an image so its longest side is at most ``max_side`` (area averaging)."""
    h, w = rgb.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


# --- a course over time ----------------------------------------------------------------

def course_frame(progress: CourseProgress) -> pd.DataFrame:
    """One row per photo: day, session, excess redness, texture change, quality."""
    rows = [{
        "photo_id": pt.photo_id,
        "taken_at": pt.taken_at,
        "day": pt.day,
        "session": pt.session,
        "excess_redness": pt.excess_redness,
        "texture_change_pct": None if pt.texture_change is None else 100.0 * pt.texture_change,
        "usable": pt.usable,
        "photo": "usable" if pt.usable else "left out (photo quality)",
        "issues": " ".join(pt.quality_issues),
    } for pt in progress.points]
    return pd.DataFrame(rows, columns=["photo_id", "taken_at", "day", "session", "excess_redness",
                                       "texture_change_pct", "usable", "photo", "issues"])


def redness_band_frame(progress: CourseProgress, skin_type: str | None = None, last_day: int | None = None
                       ) -> pd.DataFrame | None:
    """The expected redness band over the course's days, in a* units, or None when it cannot be scaled."""
    assessment = progress.assessment
    if assessment is None or not assessment.reference_peak_delta_a:
        return None
    end = max(last_day or 0, max((pt.day for pt in progress.points), default=0), 14)
    days = np.arange(0, end + 1)
    band = expected_course(progress.treatment, days, peak_delta_a=assessment.reference_peak_delta_a,
                           skin_type=skin_type, session_starts=list(progress.session_days[1:]) or None)
    return pd.DataFrame({"day": days, "low": band.low, "typical": band.typical, "high": band.high})


def redness_chart(frame: pd.DataFrame, band: pd.DataFrame | None) -> alt.Chart:
    """Measured redness against the expected band (shaded), days on x, a* units on y."""
    x = alt.X("day:Q", title="Days since treatment")
    layers = []
    if band is not None and len(band):
        layers.append(alt.Chart(band).mark_area(opacity=0.25, color=OKABE_ITO["sky"]).encode(
            x=x, y=alt.Y("low:Q", title="Redness above before-treatment (Δa*, a* units)"), y2="high:Q",
            tooltip=[alt.Tooltip("day:Q", title="Day"), alt.Tooltip("low:Q", format=".1f", title="Expected low"),
                     alt.Tooltip("high:Q", format=".1f", title="Expected high")]))
        layers.append(alt.Chart(band).mark_line(strokeDash=[4, 3], color=OKABE_ITO["blue"]).encode(
            x=x, y="typical:Q"))
    measured = frame.dropna(subset=["excess_redness"])
    if len(measured):
        layers.append(alt.Chart(measured).mark_line(color=OKABE_ITO["vermillion"]).encode(
            x=x, y=alt.Y("excess_redness:Q", title="Redness above before-treatment (Δa*, a* units)")
        ).transform_filter(alt.datum.usable))
        layers.append(alt.Chart(measured).mark_point(size=70, filled=True).encode(
            x=x, y="excess_redness:Q",
            shape=alt.Shape("photo:N", title="Photo", scale=alt.Scale(
                domain=["usable", "left out (photo quality)"], range=["circle", "cross"])),
            color=alt.Color("photo:N", title="Photo", scale=alt.Scale(
                domain=["usable", "left out (photo quality)"], range=[OKABE_ITO["vermillion"], OKABE_ITO["grey"]])),
            tooltip=[alt.Tooltip("day:Q", title="Day"),
                     alt.Tooltip("excess_redness:Q", format=".1f", title="Δa*"), alt.Tooltip("photo:N")]))
    if not layers:
        layers.append(alt.Chart(pd.DataFrame({"day": [0]})).mark_point(opacity=0).encode(x=x))
    return alt.layer(*layers).properties(height=300)


def texture_chart(frame: pd.DataFrame, treatment: str) -> alt.Chart:
    """Texture change against baseline (%) with the window when improvement usually becomes visible."""
    x = alt.X("day:Q", title="Days since treatment")
    layers = []
    t = get_treatment(treatment) if treatment in TREATMENTS else None
    if t is not None and t.texture_visible_day_low is not None:
        window = pd.DataFrame({"start": [t.texture_visible_day_low],
                               "end": [t.texture_visible_day_high or t.texture_visible_day_low]})
        tooltip = [alt.Tooltip("start:Q", title="Improvement usually visible from day"),
                   alt.Tooltip("end:Q", title="to day")]
        if window["end"][0] > window["start"][0]:
            mark = alt.Chart(window).mark_rect(opacity=0.15, color=OKABE_ITO["green"]).encode(
                x="start:Q", x2="end:Q", tooltip=tooltip)
        else:  # the sources give one day, not a range: a line, since a band would have no width
            mark = alt.Chart(window).mark_rule(color=OKABE_ITO["green"], strokeWidth=3).encode(
                x="start:Q", tooltip=tooltip)
        layers.append(mark)
    measured = frame.dropna(subset=["texture_change_pct"])
    if len(measured):
        layers.append(alt.Chart(measured).mark_line(point=True, color=OKABE_ITO["purple"]).encode(
            x=x, y=alt.Y("texture_change_pct:Q", title="Texture contrast vs before treatment (%)"),
            tooltip=[alt.Tooltip("day:Q"), alt.Tooltip("texture_change_pct:Q", format=".0f", title="%")]))
    if not layers:
        layers.append(alt.Chart(pd.DataFrame({"day": [0]})).mark_point(opacity=0).encode(x=x))
    return alt.layer(*layers).properties(height=220)


def measured_points(progress: CourseProgress) -> list[CoursePoint]:
    """Photos after treatment that were measured (aligned), for stepping through next to the baseline."""
    return [pt for pt in progress.points if pt.ok and pt.day > 0]


def photo_figures(point: CoursePoint) -> list[tuple[str, str]]:
    """The figures shown beside one photo: (label, formatted value)."""
    fmt = lambda v, spec=".1f": "-" if v is None else format(v, spec)  # noqa: E731
    if point.texture_change is not None:
        texture = texture_in_words(point.texture_change)
    else:
        texture = "not compared" if point.result.texture_withheld else "-"
    return [("Redness above before (Δa*)", fmt(point.excess_redness)),
            ("ITA°", fmt(point.result.metric("ita_deg"))),
            ("Melanin index", fmt(point.result.metric("melanin_index"))),
            ("Texture vs before", texture)]


def focal_redness_note(point: CoursePoint) -> str | None:
    """The provider's flag when part of the treated area stays redder than the rest, else None.

    Raised when the photo's ``redness_focal_a`` (90th percentile minus median of the Δa* map
    against the baseline) reaches :data:`~tracker.analysis.metrics.FOCAL_THRESHOLD_A`: a patch
    that stays red while the rest fades, the early sign of a hypertrophic scar. Shown beside
    the map; a finding to look at, not a diagnosis.
    """
    focal = point.result.metric("redness_focal_a")
    if not point.ok or focal is None or focal < FOCAL_THRESHOLD_A:
        return None
    p90, share = point.result.metric("redness_change_p90"), point.result.metric("erythema_area_fraction")
    area = point.result.metric("erythema_area_cm2")
    where = "" if share is None else (
        f"; {share:.0%} of the area" + ("" if area is None else f" ({area:.1f} cm²)")
        + f" is more than {CHANGE_THRESHOLD_A:g} a* units redder than at baseline")
    return (f"Focal redness on day {point.day}: the reddest tenth of the treated area stands {focal:.1f} a* units "
            f"above its middle (redness_focal_a ≥ {FOCAL_THRESHOLD_A:g}; Δa* 90th percentile "
            f"{'-' if p90 is None else format(p90, '.1f')}{where}). A patch that stays red while the rest fades can "
            "be an early sign of a hypertrophic scar: look at the map and the skin. A measurement, not a diagnosis.")


# --- photo schedule ------------------------------------------------------------------------

def course_schedule(course, today: date) -> PhotoSchedule:
    """The suggested photos of a course (a :class:`tracker.services.CourseDetail`) as of ``today``.

    Photos in use count; hidden ones, and ones held for being dated before the baseline, do not.
    """
    taken = [p.taken_at for p in course.photos if p.state == "active"]
    return photo_schedule(course.treatment, course.sessions, taken, today)


def _day_month(day: date) -> str:
    return f"{day.day} {day:%B}"


def _slot_words(slot: PhotoSlot, sessions: int) -> str:
    after = "after treatment" if sessions == 1 else f"after treatment {slot.session}"
    return f"day {slot.day} {after} ({_day_month(slot.due_on)})"


def schedule_sentences(schedule: PhotoSchedule, today: date) -> list[str]:
    """What the patient is told about their suggested photos, in plain words (none without a session)."""
    if not schedule.slots:
        return []
    sessions = schedule.slots[-1].session
    out = []
    if schedule.overdue is not None:
        out.append(f"Your photo for {_slot_words(schedule.overdue, sessions)} has not come yet. "
                   "Please take one as soon as you can.")
    due = schedule.next_due
    if due is None:
        out.append("No more photos are suggested for this treatment. You can still add one whenever the skin "
                   "changes or something worries you.")
    elif due.due_on <= today:
        out.append(f"A photo is due now: {_slot_words(due, sessions)}. It still counts until "
                   f"{_day_month(due.latest)}.")
    else:
        out.append(f"Your next photo: {_slot_words(due, sessions)}. Any day from {_day_month(due.earliest)} to "
                   f"{_day_month(due.latest)} is fine.")
    if schedule.missed:
        missed = ", ".join(_slot_words(slot, sessions) for slot in schedule.missed)
        out.append(f"Photos missed: {missed}. That is fine; the next ones still help.")
    return out


def provider_schedule_line(schedule: PhotoSchedule) -> str | None:
    """The suggested photos on one line for the provider (None without a session)."""
    if not schedule.slots:
        return None
    sessions = schedule.slots[-1].session
    parts = []
    if schedule.overdue is not None:
        parts.append(f"photo overdue: {_slot_words(schedule.overdue, sessions)}")
    due = schedule.next_due
    parts.append("no more suggested days" if due is None else
                 f"next {_slot_words(due, sessions)}, counted {_day_month(due.earliest)} to {_day_month(due.latest)}")
    if schedule.missed:
        parts.append(f"missed {len(schedule.missed)} of {len(schedule.slots)}: "
                     + ", ".join(_slot_words(slot, sessions) for slot in schedule.missed))
    return "Photos at the suggested days (the project's estimate): " + "; ".join(parts) + "."


# --- uploads -----------------------------------------------------------------------------

def upload_time(exif_time: datetime | None, chosen: date) -> tuple[datetime, str]:
    """When an uploaded photo was taken, and how that is known.

    The photo's own (EXIF) time when the patient kept its date; otherwise noon of the date
    the patient chose.
    """
    if exif_time is not None and exif_time.date() == chosen:
        return exif_time.replace(tzinfo=None), "exif"
    return datetime.combine(chosen, time(12)), "entered"


def upload_verdict(name: str, outcome) -> tuple[str, str]:
    """What the patient is told about an added photo: (``success``/``info``/``warning``, sentence).

    ``outcome`` is a :class:`tracker.services.PhotoOutcome`.
    """
    result = outcome.analysis
    if not outcome.created:
        return "info", f"{name} was added before."
    if outcome.is_baseline:
        if result is None or (result.ok and result.quality_ok is not False):
            return "success", f"{name} is now your first (reference) photo."
        # Every later photo is measured against this one: say now what is wrong with it.
        return "warning", (f"{name} is now your first (reference) photo, but it is not good enough to measure your "
                           f"later photos against. {result.problem} Add a better photo from before treatment, or ask "
                           "your provider to choose another first photo.")
    if result is not None and result.ok and result.quality_ok:
        if outcome.other_camera:
            return "info", (f"{name} is usable and has been added to your progress chart. It was taken with another "
                            "camera than your first photo: cameras show colours differently, so please take every "
                            "photo with the same phone or camera.")
        return "success", f"{name} is usable and has been added to your progress chart."
    problem = "" if result is None else result.problem
    return "warning", f"{name} was saved but cannot be used for your chart. {problem}".rstrip()


# --- lists ---------------------------------------------------------------------------------

def patient_list_frame(summaries) -> pd.DataFrame:
    """The provider's patient list, with the status in the provider's words: most concerning first, as given."""
    rows = [{
        "id": p.id,
        "patient": p.display_name,
        "identifier": p.reference,
        "status": provider_status(p.status, p.provider_reasons),
        "treatment": ", ".join(treatment_name(t) for t in p.treatments),
        "days since treatment": p.days_since_treatment,
        "photo overdue": p.photo_overdue,
        "last photo": p.last_photo_at.date() if p.last_photo_at else None,
        "photos": p.photos,
        "trend (Δa*)": None if p.trend is None else round(p.trend, 1),
        "status_key": p.status,
        "treatment_keys": tuple(p.treatments),
    } for p in summaries]
    return pd.DataFrame(rows, columns=["id", "patient", "identifier", "status", "treatment", "days since treatment",
                                       "photo overdue", "last photo", "photos", "trend (Δa*)", "status_key",
                                       "treatment_keys"])


def filter_patient_list(table: pd.DataFrame, *, statuses: Sequence[str] = (), treatments: Sequence[str] = (),
                        days_since_treatment: tuple[int, int] | None = None, overdue_only: bool = False,
                        last_photo_before: date | None = None) -> pd.DataFrame:
    """The rows of :func:`patient_list_frame` that match every filter given.

    Parameters
    ----------
    statuses, treatments : sequence of str
        Status and treatment keys; a patient matches any of them. Empty: no filter.
    days_since_treatment : (int, int), optional
        Inclusive range of days since the most recent session; patients without one are left out.
    overdue_only : bool
        Only patients with a suggested photo overdue.
    last_photo_before : date, optional
        Only patients whose latest photo is older than this date, or who have none.
    """
    keep = pd.Series(True, index=table.index)
    if statuses:
        keep &= table["status_key"].isin(list(statuses))
    if treatments:
        keep &= table["treatment_keys"].apply(lambda keys: any(t in keys for t in treatments))
    if days_since_treatment is not None:
        low, high = days_since_treatment
        days = pd.to_numeric(table["days since treatment"], errors="coerce")
        keep &= days.between(low, high)
    if overdue_only:
        keep &= table["photo overdue"].astype(bool)
    if last_photo_before is not None:
        keep &= table["last photo"].apply(lambda d: d is None or pd.isna(d) or d < last_photo_before)
    return table[keep]


PATIENT_LIST_ORDERS = {
    "Concern (review first)": ([], []),
    "Photo overdue first": (["photo overdue"], [False]),
    "Days since treatment, fewest first": (["days since treatment"], [True]),
    "Last photo, oldest first": (["last photo"], [True]),
    "Patient": (["patient"], [True]),
}
"""How the provider may order the list: columns and ascending flags (none: as the service ranks it)."""


def sort_patient_list(table: pd.DataFrame, order: str) -> pd.DataFrame:
    """The list in one of :data:`PATIENT_LIST_ORDERS`; ties and missing values keep the concern order."""
    columns, ascending = PATIENT_LIST_ORDERS[order]
    if not columns:
        return table
    return table.sort_values(columns, ascending=ascending, kind="stable", na_position="last")


# --- images --------------------------------------------------------------------------------

def aligned_pair(baseline: np.ndarray, photo: np.ndarray, matrix: list | np.ndarray, max_side: int = 900, *,
                 baseline_scale: float = 1.0, photo_scale: float = 1.0,
                 region: RegionAlignment | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The baseline and the photo warped onto it, both at display size, and the valid mask.

    ``matrix`` maps full-resolution photo pixels to full-resolution baseline
    pixels; ``baseline_scale`` and ``photo_scale`` say how much the arrays
    given were already shrunk from full resolution. ``region`` is the measured
    region's registration (:attr:`AnalysisResult.region`): when it was verified,
    the face around the region is drawn through it, as it was measured, so that
    a head that moved against the background lines up where it matters.
    """
    h, w = baseline.shape[:2]
    s = min(1.0, max_side / max(h, w))
    base_small = fit_within(baseline, max_side)
    # Warped in full-resolution baseline pixels (where the registration is expressed), at the display scale.
    full = rescale_homography(matrix, photo_scale)
    local = None if region is None else rescale_region(region, photo_scale)
    warped, valid = warp_to_baseline(photo, full, (0, 0, w / baseline_scale, h / baseline_scale),
                                     scale=s * baseline_scale, region=local)
    warped = warped[: base_small.shape[0], : base_small.shape[1]]
    return base_small, warped, valid[: base_small.shape[0], : base_small.shape[1]]


def redness_heatmap(baseline: np.ndarray, aligned: np.ndarray, valid: np.ndarray, result: AnalysisResult,
                    max_delta: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Added redness per pixel (Δa* of the normalised photo against the baseline) over the baseline.

    ``aligned`` is the photo from :func:`aligned_pair`, drawn through the region's
    registration when there is one, so that the map compares the same skin in both
    photos. Returns the overlay (RGB uint8) and the Δa* map (NaN outside the photo).
    Pixels that lost redness are shown as no change: the map answers "where
    is it redder than before?". The colour scale is cividis (readable with
    colour-vision deficiency), 0 to ``max_delta`` a* units.
    """
    correction = ColourCorrection.from_dict(result.colour) if result.colour else None
    photo01 = correction.apply(aligned) if correction else aligned.astype(np.float32) / 255
    delta = srgb_to_lab(photo01)[..., 1] - srgb8_to_lab(baseline)[..., 1]
    delta = cv2.GaussianBlur(delta.astype(np.float32), (0, 0), 2.0)
    delta[~valid] = np.nan
    level = np.clip(np.nan_to_num(delta, nan=0.0) / max_delta, 0, 1)
    colours = cv2.applyColorMap((level * 255).astype(np.uint8), cv2.COLORMAP_CIVIDIS)[..., ::-1]
    grey = cv2.cvtColor(cv2.cvtColor(baseline, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB).astype(np.float32)
    alpha = (0.25 + 0.6 * level)[..., None] * valid[..., None]
    overlay = grey * (1 - alpha) + colours.astype(np.float32) * alpha
    return np.clip(overlay, 0, 255).astype(np.uint8), delta


def draw_regions(rgb: np.ndarray, roi, control, scale: float = 1.0) -> np.ndarray:
    """The image with the region of interest (orange) and control (blue) outlined and labelled."""
    out = rgb.copy()
    thickness = max(2, round(max(out.shape[:2]) / 300))
    for box, colour, label in ((roi, (230, 159, 0), "treated area"), (control, (0, 114, 178), "control")):
        if not box:
            continue
        x, y, w, h = (int(round(v * scale)) for v in box)
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
        cv2.putText(out, label, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 + thickness * 0.1, colour,
                    max(1, thickness // 2), cv2.LINE_AA)
    return out


def box_drawing_figure(rgb: np.ndarray) -> go.Figure:
    """An image as a Plotly figure over which a box is dragged to select a region.

    The axes count the image's pixels from its top-left corner (pixel edges, not centres), so
    a box selection reports its edges in pixels of ``rgb``, as
    :func:`tracker.services.drawn_region` takes them. Dragging selects (no zoom); the image
    travels as a JPEG, far smaller than Plotly's array of numbers.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"the image must be H x W x 3 uint8 RGB; got shape {rgb.shape}, dtype {rgb.dtype}")
    height, width = rgb.shape[:2]
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ValueError("the image could not be encoded as JPEG")
    source = "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")
    figure = go.Figure(go.Image(source=source, x0=0.5, y0=0.5, dx=1, dy=1, hoverinfo="skip"))
    figure.update_xaxes(visible=False, range=[0, width], constrain="domain")
    figure.update_yaxes(visible=False, range=[height, 0], scaleanchor="x", constrain="domain")
    figure.update_layout(dragmode="select", height=height, margin=dict(l=0, r=0, t=0, b=0),
                         newselection=dict(line=dict(color=OKABE_ITO["vermillion"], width=2)))
    return figure


# --- cohorts -------------------------------------------------------------------------------

def cohort_curves(table: pd.DataFrame, bin_days: int = 7) -> pd.DataFrame:
    """Median and interquartile range of excess redness per treatment and week since treatment.

    Only photos that passed the quality gate and were measured count.
    """
    usable = table[(table["quality_ok"] == True) & table["excess_redness"].notna()  # noqa: E712
                   & (table["days_since_treatment"] > 0)].copy()
    if usable.empty:
        return pd.DataFrame(columns=["treatment", "day", "median", "q25", "q75", "photos", "patients"])
    usable["day"] = (usable["days_since_treatment"] // bin_days) * bin_days + bin_days / 2
    grouped = usable.groupby(["treatment", "day"])
    out = grouped["excess_redness"].agg(median="median", q25=lambda v: v.quantile(0.25),
                                        q75=lambda v: v.quantile(0.75), photos="count").reset_index()
    out["patients"] = grouped["patient_pseudonym"].nunique().to_numpy()
    return out


def cohort_chart(curves: pd.DataFrame) -> alt.Chart:
    """Cohort median (line) and interquartile range (band) of excess redness per treatment."""
    palette = [OKABE_ITO[k] for k in ("vermillion", "blue", "green", "orange", "purple", "sky", "yellow", "black")]
    colour = alt.Color("treatment:N", title="Treatment", scale=alt.Scale(range=palette))
    x = alt.X("day:Q", title="Days since treatment (weekly bins)")
    band = alt.Chart(curves).mark_area(opacity=0.2).encode(
        x=x, y=alt.Y("q25:Q", title="Redness above before-treatment (Δa*, a* units)"), y2="q75:Q", color=colour)
    line = alt.Chart(curves).mark_line(point=True).encode(
        x=x, y="median:Q", color=colour,
        tooltip=["treatment:N", alt.Tooltip("day:Q"), alt.Tooltip("median:Q", format=".1f"),
                 "photos:Q", "patients:Q"])
    return alt.layer(band, line).properties(height=320)


def graded_redness(table: pd.DataFrame) -> pd.DataFrame:
    """Photos of an export table with both a measured Δa* (quality passed) and a clinician's erythema grade."""
    keep = ((table["quality_ok"] == True) & table["redness_delta_a"].notna()  # noqa: E712
            & table["cea_grade"].notna())
    return table.loc[keep, ["patient_pseudonym", "treatment", "days_since_treatment", "redness_delta_a",
                            "cea_grade"]].astype({"redness_delta_a": float, "cea_grade": float})


def agreement_chart(graded: pd.DataFrame) -> alt.Chart:
    """Δa* of each graded photo against its CEA grade (points jittered sideways so ties show)."""
    offsets = (np.arange(len(graded)) % 7 - 3) * 0.04  # the same layout every time
    frame = graded.assign(grade_shown=graded["cea_grade"].to_numpy() + offsets)
    return alt.Chart(frame).mark_circle(size=50, opacity=0.7, color=OKABE_ITO["vermillion"]).encode(
        x=alt.X("grade_shown:Q", title="Clinician's erythema grade (CEA 0-4)", scale=alt.Scale(domain=[-0.5, 4.5]),
                axis=alt.Axis(values=[0, 1, 2, 3, 4])),
        y=alt.Y("redness_delta_a:Q", title="Δa* against untreated skin (a* units)"),
        tooltip=["treatment:N", "days_since_treatment:Q", alt.Tooltip("redness_delta_a:Q", format=".1f"),
                 "cea_grade:Q"],
    ).properties(height=300)


def grade_texts(recorded) -> list[str]:
    """Each of a photo's grades in words, with its scale's version (``recorded``: a ``PhotoGrades`` or None)."""
    out = []
    for key, grade in (recorded.grades.items() if recorded else ()):
        scale = SCALES[key]
        if len(scale.items) == 1:
            out.append(f"{scale.name} {scale.items[0].describe(int(grade.score))} (version {grade.scale_version})")
        else:
            parts = ", ".join(f"{item.name.lower()} {grade.items.get(item.key)}" for item in scale.items)
            out.append(f"{scale.name} total {grade.score:g} of {scale.high}: {parts} (version {grade.scale_version})")
    return out


def answers_text(recorded) -> str | None:
    """The patient's answers for a photo on one line, or None when there are none."""
    answers = recorded.answers if recorded else {}
    parts = []
    for question in QUESTIONNAIRE:
        if question.key in answers:
            value = answers[question.key]
            shown = ("yes" if value else "no") if question.kind == "yes_no" else f"{value}/{question.high}"
            parts.append(f"{question.short} {shown}")
    return "Patient's answers: " + ", ".join(parts) if parts else None
