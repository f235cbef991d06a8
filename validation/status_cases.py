"""The constructed courses of VALIDITY.md ("Recovery status") as a table: case, status, rules.

The same courses, with the status and the rule asserted, are tests in
``tests/test_recovery_cases.py`` and ``tests/test_recovery.py``. Run from the repository root::

    uv run python validation/status_cases.py
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np

from tracker.analysis.result import AnalysisResult
from tracker.recovery import TREATMENTS, PhotoPoint, assess_course, course_progress, melanin_change_threshold

PIGMENT = melanin_change_threshold(2)
ONE_PHOTO = melanin_change_threshold(1)


def _row(case: str, status: str, rules: str, projection: str, notes: list[str]) -> str:
    return f"| {case} | `{status}` | {rules} | {projection} | {', '.join(notes)} |"


def assessed(case: str, treatment: str, **inputs) -> str:
    """A table row for one course given as numbers."""
    a = assess_course(treatment, **inputs)
    fired = ", ".join(s.rule for s in a.signals if s.status != "info")
    projection = "none" if a.projected_resolution_day is None else f"{a.projected_resolution_day:.0f}"
    return _row(case, a.status, fired, projection, [s.rule for s in a.signals if s.status == "info"])


def placed(case: str, sessions: list, photos: list[PhotoPoint]) -> str:
    """A table row for one course given as dated photos: where the time line puts them."""
    progress = course_progress("fractional_co2", sessions, photos)
    where = (
        f"sessions {[pt.session for pt in progress.points]},"
        f" days since session {[pt.days_since_session for pt in progress.points]}"
    )
    return _row(case, progress.status, where, "", [s.rule for s in progress.assessment.signals if s.status == "info"])


def _result(delta_a: float) -> AnalysisResult:
    metrics = {"redness_delta_a": delta_a, "redness_a": 12 + delta_a}
    return AnalysisResult(ok=True, quality={"ok": True}, metrics=metrics)


def rows() -> list[str]:
    """Every case of the table, in the order of the issue's points."""
    out = [
        assessed("fractional CO2 9, 7, 4, 2.5 → 5 → 7.5 on days 1-21", "fractional_co2",
                 days=[1, 3, 7, 10, 14, 21], redness_delta_a=[9, 7, 4, 2.5, 5, 7.5]),
        assessed("fractional CO2 9, 5 → 9.5, 10 on days 1-4", "fractional_co2",
                 days=[1, 2, 3, 4], redness_delta_a=[9, 5, 9.5, 10]),
    ]
    for key in TREATMENTS:
        if key == "fractional_co2":
            continue
        peak = TREATMENTS[key].peak_day
        out.append(assessed(f"{key}: 8, 5, 3, 1.5 → 7, 7.5", key, days=[peak + d for d in (1, 2, 3, 5, 7, 9)],
                            redness_delta_a=[8, 5, 3, 1.5, 7, 7.5]))
    out += [
        assessed("fractional CO2 9, 6, 4, 3, then 6, 6, 6 all on day 14 (one day's light)", "fractional_co2",
                 days=[1, 3, 7, 10, 14, 14, 14], redness_delta_a=[9, 6, 4, 3, 6, 6, 6]),
        assessed("the same 6, 6, 6 on days 14, 21, 28", "fractional_co2",
                 days=[1, 3, 7, 10, 14, 21, 28], redness_delta_a=[9, 6, 4, 3, 6, 6, 6]),
    ]
    redness = np.array([0, 10, 9, 8, 7, 6, 5, 4.0])
    a_star, l_star = 12 + redness, 62 - 0.74 * redness  # erythema alone (Takiwaki)
    out += [
        assessed("fractional CO2 9, 6, 3, 2 → 3 → 2.5 (a wiggle)", "fractional_co2",
                 days=[1, 3, 7, 10, 14, 21], redness_delta_a=[9, 6, 3, 2, 3, 2.5]),
        assessed("fractional CO2 9, -3.5, 5, 4.5, 3 (one grossly low photo, then a normal course)", "fractional_co2",
                 days=[1, 3, 7, 10, 14], redness_delta_a=[9, -3.5, 5, 4.5, 3]),
        assessed("fractional CO2 9, 6, 3, 9, 1.5, 1 (one odd photo)", "fractional_co2",
                 days=[1, 3, 7, 10, 14, 21], redness_delta_a=[9, 6, 3, 9, 1.5, 1]),
        assessed("fractional CO2, one photo: 7.0 on day 18", "fractional_co2", days=[18], redness_delta_a=[7.0]),
        assessed("fractional CO2, one photo: 6.5 on day 26", "fractional_co2", days=[26], redness_delta_a=[6.5]),
        assessed("fractional CO2 8 on day 1, 7.5 on day 18", "fractional_co2", days=[1, 18], redness_delta_a=[8, 7.5]),
        assessed("fractional CO2 7, 4.3, 1.6, then 10.7 on day 10, then 0.3, 0, 0 (days 14-28)", "fractional_co2",
                 days=[1, 3, 7, 10, 14, 21, 28], redness_delta_a=[7, 4.3, 1.6, 10.7, 0.3, 0, 0]),
        assessed("fully ablative CO2, photos only on days 100 and 130: 7, 6", "fully_ablative_co2",
                 days=[100, 130], redness_delta_a=[7, 6]),
        assessed("fractional CO2 -3.5, -4.2, -4.8, -3.9 on days 1-14", "fractional_co2",
                 days=[1, 3, 7, 14], redness_delta_a=[-3.5, -4.2, -4.8, -3.9]),
        assessed("fractional CO2 8, 5, then -4, -4.5 on days 7-10 (the region slipped)", "fractional_co2",
                 days=[1, 3, 7, 10], redness_delta_a=[8, 5, -4, -4.5]),
        assessed("fractional Er:YAG -3.5, -3.2 on days 1-2 (before the band's early edge, 2.5 d)", "fractional_erbium",
                 days=[1, 2], redness_delta_a=[-3.5, -3.2]),
        assessed("fully ablative Er:YAG -3.5 alone on day 7 (early edge 7.6 d)", "fully_ablative_erbium",
                 days=[7], redness_delta_a=[-3.5]),
        assessed("fractional CO2 9, 7, then -3, -3 on days 60, 70 (redness may be gone: noise)", "fractional_co2",
                 days=[1, 3, 60, 70], redness_delta_a=[9, 7, -3.0, -3.0]),
        assessed("fully ablative CO2 0.4, 0.9 on days 1-2", "fully_ablative_co2",
                 days=[-1, 1, 2], redness_delta_a=[0, 0.4, 0.9]),
        assessed("non-ablative 1.5, 0.8, 0.3 on days 1-3", "non_ablative_fractional",
                 days=[1, 2, 3], redness_delta_a=[1.5, 0.8, 0.3]),
        assessed("Er:YAG redness alone (L* -0.74 per a*; ITA° 9° lower on day 1)", "fully_ablative_erbium",
                 days=[-1, 1, 7, 14, 21, 28, 42, 60], redness_delta_a=redness,
                 melanin_corrected=-1.06 * a_star - 1.44 * l_star),
        assessed(f"fractional CO2, pigment +{PIGMENT + 2:.1f}, +{PIGMENT + 3:.1f} on days 21, 28", "fractional_co2",
                 days=[0, 1, 7, 14, 21, 28], redness_delta_a=[0, 9, 4, 2, 1, 1],
                 melanin_corrected=[-120, -121, -120.5, -120, -120 + PIGMENT + 2, -120 + PIGMENT + 3]),
        assessed("the same, back to +1 on day 35 (darkening faded)", "fractional_co2",
                 days=[0, 1, 7, 14, 21, 28, 35], redness_delta_a=[0, 9, 4, 2, 1, 1, 1],
                 melanin_corrected=[-120, -121, -120.5, -120, -120 + PIGMENT + 2, -120 + PIGMENT + 3, -119]),
        assessed(f"fractional CO2, pigment +{ONE_PHOTO + 1:.1f} on day 60 alone", "fractional_co2",
                 days=[0, 1, 14, 30, 60], redness_delta_a=[0, 9, 2, 1, 0.5],
                 melanin_corrected=[0, 0, 0, 0, ONE_PHOTO + 1]),
        assessed("3 fractional CO2 sessions, pigment up on days 240, 280", "fractional_co2",
                 days=[-1, 1, 60, 61, 120, 121, 240, 280], redness_delta_a=[0, 9, 0, 8, 0, 8, 0.5, 0.2],
                 melanin_corrected=[0] * 6 + [PIGMENT + 1] * 2, session_starts=[60, 120]),
        assessed("fully ablative CO2, pigment down on days 120, 180", "fully_ablative_co2",
                 days=[0, 14, 30, 60, 120, 180], redness_delta_a=[0, 12, 9, 5, 1.5, 1],
                 melanin_corrected=[0, 0, 0, 0, -PIGMENT - 2, -PIGMENT - 2]),
        assessed("fractional CO2 fading on time, a patch focal (3.5, 3.6) on days 21, 28", "fractional_co2",
                 days=[1, 3, 7, 10, 14, 21, 28], redness_delta_a=[9, 6, 4, 2.5, 1.5, 1.0, 0.8],
                 redness_focal=[1.0, 0.9, 1.1, 1.2, 1.4, 3.5, 3.6]),
        assessed("the same course, the patch focal on day 28 alone (3.6)", "fractional_co2",
                 days=[1, 3, 7, 10, 14, 21, 28], redness_delta_a=[9, 6, 4, 2.5, 1.5, 1.0, 0.8],
                 redness_focal=[1.0, 0.9, 1.1, 1.2, 1.4, 1.2, 3.6]),
        assessed("the same patch focal on days 7-10 only (before the band's median, 12 d)", "fractional_co2",
                 days=[1, 3, 7, 10, 14, 21, 28], redness_delta_a=[9, 6, 4, 2.5, 1.5, 1.0, 0.8],
                 redness_focal=[1.0, 3.4, 3.5, 3.6, 1.0, 1.1, 1.0]),
        assessed("fractional CO2 still 6.8 on day 60", "fractional_co2",
                 days=[1, 3, 7, 14, 30, 60], redness_delta_a=[9, 8.5, 8, 7.5, 7, 6.8]),
        assessed("non-ablative 6, 5, 4.5, 4.2 on days 1-10", "non_ablative_fractional",
                 days=[1, 3, 6, 10], redness_delta_a=[6, 5, 4.5, 4.2]),
        assessed("non-ablative 6, 5.5, 5.2, 5.0 on days 1-10", "non_ablative_fractional",
                 days=[1, 3, 6, 10], redness_delta_a=[6, 5.5, 5.2, 5.0]),
        placed("photo at 16:00 on the session day, flagged after", [date(2026, 3, 2)], [
            PhotoPoint(1, datetime(2026, 3, 1, 18), _result(0.5)),
            PhotoPoint(2, datetime(2026, 3, 2, 16), _result(9.5), before_session=False),
            PhotoPoint(3, datetime(2026, 3, 5, 10), _result(7)),
        ]),
        placed("first photo on the session day, timing unknown", [date(2026, 3, 2)], [
            PhotoPoint(1, datetime(2026, 3, 2, 9), _result(0.5)),
            PhotoPoint(2, datetime(2026, 3, 4, 9), _result(8)),
        ]),
        placed("session at 11:00, photos at 09:00 and 15:00", [datetime(2026, 3, 2, 11)], [
            PhotoPoint(1, datetime(2026, 3, 2, 9), _result(0.5)),
            PhotoPoint(2, datetime(2026, 3, 2, 15), _result(9.5)),
            PhotoPoint(3, datetime(2026, 3, 5, 9), _result(7)),
        ]),
        placed("photo on the second session's day, timing unknown", [date(2026, 1, 5), date(2026, 3, 2)], [
            PhotoPoint(1, datetime(2026, 1, 4, 9), _result(0)),
            PhotoPoint(2, datetime(2026, 1, 6, 9), _result(9)),
            PhotoPoint(3, datetime(2026, 3, 2, 8), _result(1)),
        ]),
    ]
    return out


def main() -> None:
    print("| case | status | rules that set it | projection | also said (info) |")
    print("|---|---|---|---|---|")
    for row in rows():
        print(row)


if __name__ == "__main__":
    main()
