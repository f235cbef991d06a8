"""Tests for tracker.recovery: catalogue, expected course, fit and assessment.

Courses are simulated with known truth from the model's own curve (no public time series of
post-laser redness exists), with small deterministic noise.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import tomllib
from importlib import resources

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tracker.recovery import (
    BIBLIOGRAPHY,

    RESOLVED_DELTA_A,
    REVIEW_WINDOWS,
    MELANIN_Z,
    PHOTO_NOISE_SD_MELANIN,
    STATUSES,
    TREATMENTS,
    UnknownTreatmentError,
    adjusted_for_skin_type,
    assess_course,
    describe_treatment,
    expected_course,
    expected_texture_course,
    fitzpatrick_type,
    get_treatment,
    melanin_change_threshold,
    treatment_keys,
)
from tracker.recovery import catalogue

EXPECTED_KEYS = {
    "fully_ablative_co2",
    "fractional_co2",
    "fully_ablative_erbium",
    "fractional_erbium",
    "non_ablative_fractional",
    "thulium_1927",
    "ipl",
    "skin_tightening",
}
NOISE = np.array([0.3, -0.2, 0.25, -0.3, 0.1, -0.15, 0.2, -0.25, 0.05, -0.1])
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def simulated_course(key: str, *, resolution_day: float, peak_delta_a: float, days, noise: bool = True):
    """Δa* on ``days`` for a patient whose redness reaches RESOLVED_DELTA_A on ``resolution_day``."""
    peak_day = TREATMENTS[key].peak_day
    days = np.asarray(days, dtype=float)
    exponent = np.clip(days - peak_day, 0, None) / (resolution_day - peak_day)
    values = peak_delta_a * (RESOLVED_DELTA_A / peak_delta_a) ** exponent
    if noise:
        values = values + NOISE[np.arange(days.size) % NOISE.size]
    return values


def typical_days(key: str) -> list[float]:
    t = TREATMENTS[key]
    span = t.resolution_day_typical - t.peak_day
    later = [t.peak_day + span * f for f in (0.25, 0.5, 0.75, 1.0, 1.25)]
    return sorted({1.0, 2.0, 3.0, *(round(d, 1) for d in later if d > 0)})


# --- catalogue -------------------------------------------------------------------------


def test_catalogue_has_every_treatment_type_with_snake_case_keys():
    assert set(TREATMENTS) == EXPECTED_KEYS
    assert treatment_keys() == tuple(TREATMENTS)
    for key, treatment in TREATMENTS.items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", key)
        assert treatment.key == key


def _numbers(treatment):
    for f in dataclasses.fields(treatment):
        value = getattr(treatment, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield f.name, value
    if treatment.darker_skin is not None:
        for f in dataclasses.fields(treatment.darker_skin):
            value = getattr(treatment.darker_skin, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                yield f"darker_skin.{f.name}", value


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_every_number_and_sentence_has_a_source_in_the_bibliography(key):
    treatment = TREATMENTS[key]
    names = [name for name, _ in _numbers(treatment)]
    names += ["pih_risk"] + (["texture_note"] if treatment.texture_note else [])
    names += ["darker_skin.pih_risk"] if treatment.darker_skin else []
    assert len(names) > 10
    for name in names:
        assert treatment.sources.get(name), f"{key}.{name} has no source"
        for citation in treatment.sources[name]:
            assert citation in BIBLIOGRAPHY, f"{key}.{name} cites unknown {citation!r}"


def test_review_windows_and_bibliography_are_complete():
    for f in dataclasses.fields(REVIEW_WINDOWS):
        if f.name != "sources":
            assert all(c in BIBLIOGRAPHY for c in REVIEW_WINDOWS.sources[f.name])
    cited = {c for t in TREATMENTS.values() for cs in t.sources.values() for c in cs}
    cited |= {c for cs in REVIEW_WINDOWS.sources.values() for c in cs}
    assert cited == set(BIBLIOGRAPHY), "every bibliography entry is cited and nothing else"
    for reference in BIBLIOGRAPHY.values():
        assert reference.title and reference.journal and reference.authors


def test_disagreeing_sources_widen_the_band():
    """Trelles's range of 10 patients gives the early edge, Nanni & Alster's mean the late one."""
    co2 = TREATMENTS["fully_ablative_co2"]
    assert co2.sources["resolution_day_low"] == ("Trelles 1998",)
    assert 50 <= co2.resolution_day_low < 60  # the 5th percentile lies below the smallest of 10 patients
    assert "Nanni & Alster 1998" in co2.sources["resolution_day_high"]
    assert co2.resolution_day_high > 137 * 1.5  # a mean of 4.5 months is no 95th percentile
    assert "mean 137 d" in co2.notes["resolution_day_high"] and "95th percentile" in co2.notes["resolution_day_high"]


def test_catalogue_is_read_only():
    with pytest.raises(TypeError):
        TREATMENTS["new"] = TREATMENTS["ipl"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        TREATMENTS["ipl"].peak_day = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        TREATMENTS["ipl"].sources["peak_day"] = ()  # type: ignore[index]


def test_unknown_treatment_names_the_known_keys():
    with pytest.raises(KeyError) as error:
        get_treatment("co2_laser")
    assert "fractional_co2" in str(error.value) and "co2_laser" in str(error.value)
    with pytest.raises(ValueError):
        expected_course("co2_laser", days=range(3))
    with pytest.raises(UnknownTreatmentError):
        assess_course("co2_laser", days=[1], redness_delta_a=[5.0])


def test_loader_refuses_a_number_without_a_source():
    data = tomllib.loads(resources.files("tracker.recovery").joinpath("treatments.toml").read_text("utf-8"))
    table = data["treatments"]["ipl"]
    table["peak_day"] = {"value": 0}
    with pytest.raises(ValueError, match="ipl.peak_day has no source"):
        catalogue._parse_treatment("ipl", table, BIBLIOGRAPHY)
    table["peak_day"] = {"value": 0, "sources": ["Someone 2024"]}
    with pytest.raises(ValueError, match="bibliography lacks"):
        catalogue._parse_treatment("ipl", table, BIBLIOGRAPHY)


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_describe_treatment_is_plain_and_sourced(key):
    text = describe_treatment(key)
    assert text.startswith(TREATMENTS[key].name)
    assert "not a diagnosis" in text
    assert f"after day {TREATMENTS[key].review_after_day:g}" in text
    assert "Sources:" in text and "\n" not in text


def test_fitzpatrick_type_reads_numbers_and_roman_numerals():
    assert fitzpatrick_type("iv") == 4 and fitzpatrick_type("6") == 6 and fitzpatrick_type(2) == 2
    assert fitzpatrick_type(None) is None
    for bad in ("VII", 0, "brown", True):
        with pytest.raises(ValueError):
            fitzpatrick_type(bad)


def test_darker_skin_lengthens_ablative_redness_and_uses_its_own_sources():
    co2 = TREATMENTS["fully_ablative_co2"]
    assert adjusted_for_skin_type(co2, "III") is co2
    darker = adjusted_for_skin_type(co2, "V")
    assert darker.resolution_day_high > co2.resolution_day_high
    assert darker.sources["resolution_day_high"] == ("Ko 2007",)
    assert darker.is_estimate("resolution_day_high"), "an Er:YAG series stands in for CO2 in darker skin"
    erbium = adjusted_for_skin_type(TREATMENTS["fully_ablative_erbium"], 3)
    # Measured in types III-V on the same device, Ko 2007 replaces the type I-III figure: mean 4.72 months.
    assert 110 <= erbium.resolution_day_typical <= 143 and erbium.sources["resolution_day_typical"] == ("Ko 2007",)
    assert not erbium.is_estimate("resolution_day_typical")


# --- expected course ---------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_expected_course_fades_to_resolved_on_the_catalogue_days(key):
    t = TREATMENTS[key]
    band = expected_course(key, days=[0, t.resolution_day_low, t.resolution_day_typical, t.resolution_day_high])
    assert band.unit == "fraction of peak"
    assert band.typical[0] == 0.0  # day 0 is the pre-treatment baseline
    assert band.low[1] == pytest.approx(0.15)
    assert band.typical[2] == pytest.approx(0.15)
    assert band.high[3] == pytest.approx(0.15)
    absolute = expected_course(key, days=[t.resolution_day_typical], peak_delta_a=12.0)
    assert absolute.unit == "delta_a" and absolute.typical[0] == pytest.approx(RESOLVED_DELTA_A)


def test_expected_course_matches_the_issue_example():
    band = expected_course("fractional_co2", days=range(0, 91))
    assert band.days.shape == band.low.shape == band.typical.shape == band.high.shape == (91,)
    assert np.all(band.low <= band.typical) and np.all(band.typical <= band.high)
    assert not band.typical.flags.writeable


def test_each_session_restarts_the_redness_course():
    band = expected_course("non_ablative_fractional", days=[1, 2, 29, 30, 31, 32], session_starts=[30])
    assert band.typical[4] == pytest.approx(band.typical[0])
    assert band.typical[3] < band.typical[4]  # the session day itself belongs to the old course
    with pytest.raises(ValueError):
        expected_course("ipl", days=[1], session_starts=[0])


def test_fully_ablative_co2_holds_its_peak_until_day_14():
    band = expected_course("fully_ablative_co2", days=[1, 8, 14, 15])
    assert list(band.typical[:3]) == [1.0, 1.0, 1.0] and band.typical[3] < 1.0


def test_texture_course_is_zero_until_visible_and_plateaus_after_the_last_session():
    band = expected_texture_course("fractional_co2", days=[0, 30, 105, 180, 300], session_starts=[90])
    assert band.high[1] == 0.0 and band.typical[0] == 0.0
    assert band.plateau_days == (270.0, 270.0)
    assert band.typical[3] < 1.0 and band.typical[4] == 1.0
    with pytest.raises(ValueError, match="no texture timeline for ipl"):
        expected_texture_course("ipl", days=[10])


# --- assessment: the issue's proof ---------------------------------------------------------


def test_issue_example():
    a = assess_course("fractional_co2", days=[1, 3, 7, 14], redness_delta_a=[9.0, 7.5, 3.1, 1.2])
    assert a.status == "on_track"
    assert a.status in STATUSES and a.reasons and a.provider_reasons
    low, high = a.projected_interval
    assert low <= a.projected_resolution_day <= high
    assert 7 <= a.projected_resolution_day <= 21
    assert a.reference_peak_delta_a == 9.0


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_typical_course_is_on_track(key):
    t = TREATMENTS[key]
    days = typical_days(key)
    peak = 10.0 if t.ablative else 6.0
    values = simulated_course(key, resolution_day=t.resolution_day_typical, peak_delta_a=peak, days=days)
    a = assess_course(key, days=days, redness_delta_a=values)
    assert a.status == "on_track", a.provider_reasons


@pytest.mark.parametrize(
    ("key", "days", "values"),
    [
        ("fractional_co2", [1, 2, 3, 4, 5], [9.0, 4.0, 1.5, 0.8, 0.5]),
        ("fully_ablative_co2", [2, 14, 21, 30, 40, 45], [12.0, 10.0, 6.0, 3.0, 1.5, 1.0]),
        ("non_ablative_fractional", [1, 2, 3], [1.5, 0.8, 0.3]),
    ],
)
def test_early_resolution_is_ahead(key, days, values):
    a = assess_course(key, days=days, redness_delta_a=values)
    assert a.status == "ahead", a.provider_reasons
    assert a.projected_interval[1] < TREATMENTS[key].resolution_day_low


def test_fractional_co2_still_red_on_day_60_is_review():
    days = [1, 3, 7, 14, 30, 60]
    a = assess_course("fractional_co2", days=days, redness_delta_a=[9.0, 8.5, 8.0, 7.5, 7.0, 6.8])
    assert a.status == "review"
    signal = next(s for s in a.signals if s.rule == "redness_beyond_outer_limit")
    assert signal.figures["last_day"] == 60 and signal.figures["outer_limit_day"] == 30
    assert "day 60" in signal.message and "provider" in signal.message
    assert "rule redness_beyond_outer_limit: Δa* 6.8 on day 60" in signal.detail
    assert "review limit 30 d (an estimate)" in signal.detail  # no source on this device gives the limit


def test_fully_ablative_co2_rising_after_the_peak_is_review():
    days = [2, 14, 21, 28, 35, 42]
    a = assess_course("fully_ablative_co2", days=days, redness_delta_a=[12.0, 12.0, 10.0, 12.5, 14.5, 16.0])
    assert a.status == "review"
    signal = next(s for s in a.signals if s.rule == "redness_rebound")
    assert signal.figures["low_day"] == 21 and signal.figures["rise_delta_a"] > signal.figures["threshold"]
    assert "come back" in signal.message and "infection" in signal.detail


def test_fully_ablative_co2_building_up_to_its_day_14_peak_is_no_rebound():
    """Redness under the crusts shows from about day 8 and peaks on day 14 (Trelles 1998)."""
    a = assess_course("fully_ablative_co2", days=[2, 5, 9, 14, 21], redness_delta_a=[9.0, 4.0, 9.5, 12.0, 11.0])
    assert "redness_rebound" not in [s.rule for s in a.signals]


def test_non_ablative_still_red_on_day_10_is_review():
    a = assess_course("non_ablative_fractional", days=[1, 3, 6, 10], redness_delta_a=[6.0, 5.5, 5.2, 5.0])
    assert a.status == "review"
    assert [s.rule for s in a.signals if s.status == "review"] == ["redness_beyond_outer_limit"]
    assert "day 10" in a.reasons[0]


def test_one_late_photo_within_photo_noise_of_clear_is_not_review():
    """Δa* 4.2 on one photo is under the one-photo threshold (4.3): the course reads slower, not review."""
    a = assess_course("non_ablative_fractional", days=[1, 3, 6, 10], redness_delta_a=[6.0, 5.0, 4.5, 4.2])
    assert a.status == "slower"


def test_redness_fading_late_but_before_the_outer_limit_is_slower():
    a = assess_course("fractional_co2", days=[1, 7, 14, 25], redness_delta_a=[10.0, 8.0, 6.5, 5.0])
    assert a.status == "slower"
    assert not any(s.status == "review" for s in a.signals)
    assert "more slowly" in a.reasons[0] and "after day 30" in a.reasons[0]


def test_darkening_of_the_corrected_pigment_is_review_and_names_no_diagnosis_to_the_patient():
    days = [0, 1, 7, 14, 21, 28]
    redness = [0.0, 9.0, 4.0, 2.0, 1.0, 1.0]
    threshold = melanin_change_threshold(2)
    melanin = [-120.0, -121.0, -120.5, -120.0, -120.0 + threshold + 2, -120.0 + threshold + 3]
    a = assess_course("fractional_co2", days=days, redness_delta_a=redness, melanin_corrected=melanin)
    assert a.status == "review"
    signal = next(s for s in a.signals if s.rule == "new_darkening")
    assert signal.figures["change"] == pytest.approx(threshold + 2.5)
    assert signal.figures["first_day"] == 21 and signal.figures["photos"] == 2
    assert "darker" in signal.message and "day 21" in signal.message
    assert "hyperpigmentation" in signal.detail and "melanin_takiwaki" in signal.detail
    assert not any("hyperpigmentation" in r for r in a.reasons), "patient text names no diagnosis"


def test_darkening_needs_two_photos_and_the_threshold_is_absolute():
    days = [0, 1, 7, 14, 28, 60]
    redness = [0.0, 9.0, 4.0, 2.0, 1.0, 0.5]
    threshold = melanin_change_threshold(2)

    def darkening(melanin):
        signals = assess_course("fractional_co2", days=days, redness_delta_a=redness, melanin_corrected=melanin).signals
        return "new_darkening" in [s.rule for s in signals]

    assert darkening([50.0, 50.0, 50.0, 50.0, 50.0 + threshold + 0.5, 50.0 + threshold + 0.5])
    assert not darkening([50.0, 50.0, 50.0, 50.0, 50.0 + threshold - 0.5, 50.0 + threshold - 0.5])
    assert not darkening([50.0, 50.0, 50.0, 50.0, 50.0, 50.0 + 3 * threshold]), "one photo may be a bad photo"
    assert not darkening([50.0, 50.0, 50.0, 50.0 + threshold + 5, 50.0 + threshold + 5, 50.0]), "faded again"
    assert threshold == pytest.approx(MELANIN_Z * PHOTO_NOISE_SD_MELANIN * math.sqrt(1 / 2 + 1))


def test_darkening_window_runs_six_months_after_the_last_session():
    threshold = melanin_change_threshold(2)
    days = [-1, 1, 30, 100, 150, 170]
    melanin = [0.0, 0.0, 0.0, 0.0, threshold + 2, threshold + 2]
    late = assess_course("fractional_co2", days=days, redness_delta_a=[0, 9, 1, 0, 0, 0], melanin_corrected=melanin)
    assert "new_darkening" in [s.rule for s in late.signals]
    assert REVIEW_WINDOWS.darkening_until_day >= 180


def test_redness_alone_is_never_called_darkening():
    """ITA° and the melanin index fall with redness alone, so the assessment takes neither."""
    days = [0, 1, 7, 14, 21, 28]
    assert not {"ita_deg", "melanin_index"} & set(inspect.signature(assess_course).parameters)
    a = assess_course("fractional_co2", days=days, redness_delta_a=[0.0, 9.0, 8.0, 7.0, 6.0, 5.0])
    assert "new_darkening" not in [s.rule for s in a.signals]
    signal = next(s for s in a.signals if s.rule == "darkening_not_checked")
    assert signal.status == "info" and "cannot be checked" in signal.message
    assert "redness alone lowers" in signal.detail


def test_lightening_months_later_is_review_after_ablative_treatment_only():
    threshold = melanin_change_threshold(2)
    days = [0, 14, 30, 60, 120, 180]
    melanin = [0.0, 0.0, 0.0, 0.0, -threshold - 2, -threshold - 2]
    co2 = assess_course(
        "fully_ablative_co2", days=days, redness_delta_a=[0.0, 12.0, 9.0, 5.0, 1.5, 1.0], melanin_corrected=melanin
    )
    assert "lightening_below_baseline" in [s.rule for s in co2.signals]
    assert "Ward & Baker 2008" in next(s.detail for s in co2.signals if s.rule == "lightening_below_baseline")
    ipl = assess_course("ipl", days=days, redness_delta_a=[0.0, 0.5, 0.3, 0.2, 0.1, 0.0], melanin_corrected=melanin)
    assert "lightening_below_baseline" not in [s.rule for s in ipl.signals]


def test_pigment_rules_need_a_baseline():
    threshold = melanin_change_threshold(2)
    a = assess_course("fractional_co2", days=[1, 7, 14, 21], redness_delta_a=[9.0, 4.0, 2.0, 1.0],
                      melanin_corrected=[0.0, 0.0, threshold + 5, threshold + 5])
    assert "no photo from before treatment" in next(s.message for s in a.signals if s.rule == "darkening_not_checked")
    b = assess_course("fractional_co2", days=[1, 7, 14, 21], redness_delta_a=[9.0, 4.0, 2.0, 1.0],
                      melanin_corrected=[0.0, 0.0, threshold + 5, threshold + 5], baseline_melanin_corrected=0.0)
    assert b.status == "review"


def test_a_course_first_photographed_after_it_resolved_is_not_slower():
    a = assess_course("fractional_co2", days=[22, 27], redness_delta_a=[0.2, -0.6])
    assert a.status == "on_track"
    assert "too faint for photos" in a.reasons[0]


def test_noise_in_closely_spaced_photos_is_not_a_rise():
    days = [8, 57, 164, 168, 172.6]
    a = assess_course("fully_ablative_co2", days=days, redness_delta_a=[13.7, 2.4, -0.8, 0.4, 1.3])
    assert "redness_rising_after_week_3" not in [s.rule for s in a.signals]


SCENARIOS = [
    ("fractional_co2", {"days": [1, 3, 7, 14], "redness_delta_a": [9.0, 7.5, 3.1, 1.2]}),
    ("fractional_co2", {"days": [1, 2, 3, 4, 5], "redness_delta_a": [9.0, 4.0, 1.5, 0.8, 0.5]}),
    ("fractional_co2", {"days": [1, 7, 14, 25], "redness_delta_a": [10.0, 8.0, 6.5, 5.0]}),
    ("fractional_co2", {"days": [1, 3, 7, 14, 30, 60], "redness_delta_a": [9.0, 8.5, 8.0, 7.5, 7.0, 6.8]}),
    ("fully_ablative_co2", {"days": [2, 14, 21, 28, 35, 42], "redness_delta_a": [12.0, 12, 11, 12.5, 14, 15.5]}),
    ("fully_ablative_co2", {"days": [1, 3, 7], "redness_delta_a": [12.0, 12.0, 11.0]}),
    (
        "fully_ablative_erbium",
        {"days": [0, 14, 30, 120], "redness_delta_a": [0.0, 9.0, 5.0, 1.0], "melanin_corrected": [-100, -100, -100, -80], "skin_type": 4},
    ),
    ("ipl", {"days": [1, 2, 3], "redness_delta_a": [2.0, 1.0, 0.5], "quality_ok": [True, False, True]}),
    (
        "non_ablative_fractional",
        {"days": [0, 1, 3, 31, 33], "redness_delta_a": [0, 6, 2, 5, 1], "session_starts": [30], "texture": [0] * 5},
    ),
]


@pytest.mark.parametrize(("key", "inputs"), SCENARIOS)
def test_every_sentence_is_formatted_and_the_patient_text_names_no_diagnosis(key, inputs):
    a = assess_course(key, **inputs)
    assert len(a.reasons) == len(a.signals) + (a.status != "review")
    assert a.provider_reasons == tuple(s.detail for s in a.signals)
    for sentence in (*a.reasons, *a.provider_reasons):
        assert not re.search(r"[{}]|\bnan\b|\bNone\b", sentence), sentence
    for sentence in a.reasons:
        assert not re.search(r"hyperpigmentation|infection|scar|PIH|Δa\*|ITA", sentence), sentence
    for signal in a.signals:
        assert signal.status in (*STATUSES, "info")
        assert signal.detail.startswith(f"rule {signal.rule}")


# --- assessment: fit, quality gate, sessions ----------------------------------------------


def test_photos_failing_the_quality_gate_are_left_out_and_said_so():
    days = [1, 3, 5, 7, 14, 21]
    values = simulated_course("fractional_co2", resolution_day=14, peak_delta_a=10.0, days=days)
    values[2] = 25.0  # a badly lit photo
    values[4] = 20.0
    a = assess_course("fractional_co2", days=days, redness_delta_a=values, quality_ok=[1, 1, 0, 1, 0, 1])
    assert a.excluded == (2, 4)
    assert "2 photos were left out because they did not pass the photo quality check." in a.reasons
    assert a.status == "on_track"
    unmeasured = assess_course("fractional_co2", days=[1, 3], redness_delta_a=[9.0, float("nan")])
    assert unmeasured.excluded == (1,)


def test_a_single_outlier_photo_barely_moves_the_projection():
    days = [1, 3, 5, 7, 10, 14, 21]
    clean = simulated_course("fractional_co2", resolution_day=14, peak_delta_a=10.0, days=days)
    outlier = clean.copy()
    outlier[4] += 8.0
    a = assess_course("fractional_co2", days=days, redness_delta_a=clean)
    b = assess_course("fractional_co2", days=days, redness_delta_a=outlier)
    assert b.status == "on_track"
    assert b.projected_resolution_day == pytest.approx(a.projected_resolution_day, rel=0.15)


def test_projection_interval_widens_honestly_with_few_photos():
    days = [1, 3, 5, 7, 10, 14]
    values = simulated_course("fractional_co2", resolution_day=14, peak_delta_a=10.0, days=days)
    widths = []
    for n in (1, 2, 6):
        a = assess_course("fractional_co2", days=days[:n], redness_delta_a=values[:n])
        widths.append(a.projected_interval[1] - a.projected_interval[0])
        if n <= 2:
            assert "projection_uncertain" in [s.rule for s in a.signals]
    assert widths[0] >= widths[1] > widths[2]
    band = TREATMENTS["fractional_co2"]
    assert widths[0] >= band.resolution_day_high - band.resolution_day_low  # one photo: as wide as the band


def test_no_usable_photo_is_a_plain_error():
    with pytest.raises(ValueError, match="did not pass the photo quality check"):
        assess_course("ipl", days=[1, 2], redness_delta_a=[3.0, 2.0], quality_ok=[False, False])
    with pytest.raises(ValueError, match="no usable photo"):
        assess_course("ipl", days=[0], redness_delta_a=[0.0])
    with pytest.raises(ValueError, match="one value per photo"):
        assess_course("ipl", days=[1, 2], redness_delta_a=[3.0])


def test_each_session_restarts_the_course_and_the_status_follows_the_latest():
    first = [1, 7, 14, 28]
    second = [85, 91, 98]
    values = np.concatenate(
        [
            simulated_course("fractional_co2", resolution_day=14, peak_delta_a=10.0, days=first),
            simulated_course("fractional_co2", resolution_day=14, peak_delta_a=9.0, days=np.array(second) - 84),
        ]
    )
    a = assess_course("fractional_co2", days=first + second, redness_delta_a=values, session_starts=[84])
    assert a.status == "on_track"
    assert 84 + 7 <= a.projected_resolution_day <= 84 + 21
    assert a.fit.session_start_day == 84 and a.reference_peak_delta_a == pytest.approx(values[4])
    assert "after session 2" in a.reasons[0]


def test_texture_is_reported_not_assessed():
    days = [0, 1, 7, 14, 60]
    redness = [0.0, 9.0, 4.0, 2.0, 0.5]
    plain = assess_course("fractional_co2", days=days, redness_delta_a=redness)
    with_texture = assess_course("fractional_co2", days=days, redness_delta_a=redness, texture=[0, 0, 0, -0.02, -0.12])
    assert with_texture.status == plain.status
    signal = next(s for s in with_texture.signals if s.rule == "texture_change")
    assert signal.status == "info" and "12%" in signal.message and "profilometry" in signal.detail


def test_darker_skin_uses_the_wider_band():
    a = assess_course("fully_ablative_co2", days=[14, 60, 120], redness_delta_a=[12.0, 8.0, 4.0], skin_type="VI")
    assert "darker_skin_course" in [s.rule for s in a.signals]
    darker = adjusted_for_skin_type(TREATMENTS["fully_ablative_co2"], "VI")
    detail = next(s.detail for s in a.signals if s.rule == "darker_skin_course")
    assert f"band {darker.resolution_day_low:g}-{darker.resolution_day_high:g} d" in detail


# --- properties --------------------------------------------------------------------------

keys = st.sampled_from(sorted(EXPECTED_KEYS))
skin_types = st.one_of(st.none(), st.integers(1, 6))


@PROPERTY_SETTINGS
@given(
    key=keys,
    days=st.lists(st.floats(-10, 400, allow_nan=False), min_size=1, max_size=30),
    peak=st.one_of(st.none(), st.floats(0.1, 40)),
    skin_type=skin_types,
    later_session=st.one_of(st.none(), st.floats(1, 200)),
)
def test_band_is_ordered(key, days, peak, skin_type, later_session):
    band = expected_course(
        key, days, peak_delta_a=peak, skin_type=skin_type, session_starts=[later_session] if later_session else None
    )
    assert np.all(band.low <= band.typical) and np.all(band.typical <= band.high)
    assert np.all(band.low >= 0)


@PROPERTY_SETTINGS
@given(
    key=st.sampled_from(sorted(k for k in EXPECTED_KEYS if k != "ipl")),
    days=st.lists(st.floats(-10, 800, allow_nan=False), min_size=1, max_size=30),
    later_session=st.one_of(st.none(), st.floats(1, 200)),
)
def test_texture_band_is_ordered(key, days, later_session):
    band = expected_texture_course(key, days, session_starts=[later_session] if later_session else None)
    assert np.all(band.low <= band.typical) and np.all(band.typical <= band.high)
    assert np.all((band.low >= 0) & (band.high <= 1))


@st.composite
def patient_courses(draw):
    key = draw(keys)
    t = TREATMENTS[key]
    span = t.resolution_day_high - t.peak_day
    resolution_day = t.peak_day + draw(st.floats(0.3, 2.5)) * (t.resolution_day_typical - t.peak_day)
    peak = draw(st.floats(2.5, 20))
    days = draw(
        st.lists(st.floats(0.5, t.peak_day + 3 * span + 10), min_size=1, max_size=8, unique=True).map(sorted)
    )
    noise = draw(st.lists(st.floats(-0.8, 0.8), min_size=len(days), max_size=len(days)))
    values = simulated_course(key, resolution_day=resolution_day, peak_delta_a=peak, days=days, noise=False)
    return key, days, values + np.array(noise)


@PROPERTY_SETTINGS
@given(course=patient_courses())
def test_projection_interval_contains_the_point_estimate(course):
    key, days, values = course
    a = assess_course(key, days=days, redness_delta_a=values)
    assert a.status in STATUSES
    if a.projected_resolution_day is not None:
        low, high = a.projected_interval
        assert low <= a.projected_resolution_day <= high
        assert math.isfinite(low) and math.isfinite(high)


@PROPERTY_SETTINGS
@given(course=patient_courses(), new_day=st.floats(0.5, 400), jitter=st.floats(-0.25, 0.25))
@example(  # a slightly rising noisy cluster after week 3 stretched by a late photo
    course=(
        "fractional_co2",
        [1.0, 2.0, 3.0, 23.0, 30.0, 31.0, 38.0],
        np.array([2.914, 2.831, 2.750, 1.041, 1.258, 1.222, 1.498]),
    ),
    new_day=156.0,
    jitter=0.0,
)
def test_a_photo_that_agrees_with_the_fit_never_moves_on_track_to_review(course, new_day, jitter):
    key, days, values = course
    assume(new_day not in days)
    before = assess_course(key, days=days, redness_delta_a=values)
    assume(before.status == "on_track" and before.fit is not None)
    agreeing = float(before.fit.delta_a_at(new_day)) + jitter
    after = assess_course(key, days=[*days, new_day], redness_delta_a=[*values, agreeing])
    assert after.status != "review", after.provider_reasons
