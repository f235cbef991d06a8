"""Recovery model: treatment catalogue, expected course, and a status people can act on.

Pure functions over numbers the analysis engine measures per photo (Δa*, the redness-corrected
pigment measure ``melanin_takiwaki``, texture change); nothing here reads images.
:mod:`~tracker.recovery.timeline` places a
course's analysis results (:class:`tracker.analysis.AnalysisResult`) on its time line and
assesses them, for the services, the app, the report and the exports alike;
:mod:`~tracker.recovery.schedule` says which photo is due next, which were missed and whether
one is overdue, from each treatment's suggested photo days.

>>> from tracker.recovery import TREATMENTS, expected_course, assess_course
>>> band = expected_course("fractional_co2", days=range(0, 91))
>>> a = assess_course("fractional_co2", days=[1, 3, 7, 14], redness_delta_a=[9.0, 7.5, 3.1, 1.2])
>>> a.status
'on_track'
"""

from .assessment import (
    EARLY_BELOW_Z,
    MELANIN_Z,
    REBOUND_Z,
    REBOUND_Z_SINGLE,
    STATUSES,
    Assessment,
    Signal,
    assess_course,
    early_below_control_delta_a,
    melanin_change_threshold,
    rebound_threshold,
    texture_in_words,
)
from .catalogue import (
    BIBLIOGRAPHY,
    REVIEW_WINDOWS,
    TREATMENTS,
    DarkerSkin,
    DurationStatistic,
    Reference,
    ReviewWindows,
    Treatment,
    UnknownTreatmentError,
    adjusted_for_skin_type,
    describe_treatment,
    fitzpatrick_type,
    get_treatment,
    treatment_keys,
)
from .course import (
    CLEAR_CHANGE_DELTA_A,
    PHOTO_NOISE_SD_DELTA_A,
    PHOTO_NOISE_SD_MELANIN,
    RESOLVED_DELTA_A,
    RednessBand,
    SessionDays,
    TextureBand,
    clear_excess_delta_a,
    expected_course,
    expected_texture_course,
    session_relative_days,
)
from .fit import RednessFit, fit_redness_decay
from .schedule import PhotoSchedule, PhotoSlot, photo_schedule, photo_window_days
from .timeline import CoursePoint, CourseProgress, PhotoPoint, course_progress, days_between

__all__ = [
    "BIBLIOGRAPHY",
    "CLEAR_CHANGE_DELTA_A",
    "EARLY_BELOW_Z",
    "MELANIN_Z",
    "PHOTO_NOISE_SD_DELTA_A",
    "PHOTO_NOISE_SD_MELANIN",
    "REBOUND_Z",
    "REBOUND_Z_SINGLE",
    "RESOLVED_DELTA_A",
    "REVIEW_WINDOWS",
    "STATUSES",
    "TREATMENTS",
    "Assessment",
    "CoursePoint",
    "CourseProgress",
    "DarkerSkin",
    "DurationStatistic",
    "PhotoPoint",
    "PhotoSchedule",
    "PhotoSlot",
    "RednessBand",
    "RednessFit",
    "Reference",
    "ReviewWindows",
    "SessionDays",
    "Signal",
    "TextureBand",
    "Treatment",
    "UnknownTreatmentError",
    "adjusted_for_skin_type",
    "assess_course",
    "clear_excess_delta_a",
    "course_progress",
    "days_between",
    "describe_treatment",
    "early_below_control_delta_a",
    "expected_course",
    "expected_texture_course",
    "fit_redness_decay",
    "fitzpatrick_type",
    "get_treatment",
    "melanin_change_threshold",
    "photo_schedule",
    "photo_window_days",
    "rebound_threshold",
    "texture_in_words",
    "session_relative_days",
    "treatment_keys",
]
