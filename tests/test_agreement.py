"""Agreement of photo Δa* with the clinician's erythema grade: ρ and its interval against scipy, and the
cohort page's statement (AppTest) above and below the minimum of graded photos."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from streamlit.testing.v1 import AppTest

from tracker import services as sv
from tracker.recovery.agreement import MIN_PAIRS, spearman_agreement, spearman_rho

APP = "../app.py"


def _known(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Grades 0-4 (many ties) and a Δa* that rises with them, plus noise."""
    rng = np.random.default_rng(seed)
    grade = rng.integers(0, 5, n).astype(float)
    return grade, 1.5 * grade + rng.normal(0, 2.0, n)


@pytest.mark.parametrize(("n", "seed"), [(10, 1), (25, 2), (60, 3), (200, 4)])
def test_rho_and_interval_agree_with_scipy(n, seed):
    grade, delta_a = _known(n, seed)
    found = spearman_agreement(delta_a, grade)
    rho = stats.spearmanr(delta_a, grade).statistic
    assert found.rho == pytest.approx(rho, abs=1e-12) and found.n == n
    half = stats.norm.ppf(0.975) * np.sqrt((1 + rho**2 / 2) / (n - 3))  # Bonett & Wright 2000
    assert (found.low, found.high) == pytest.approx((np.tanh(np.arctanh(rho) - half),
                                                     np.tanh(np.arctanh(rho) + half)), abs=1e-12)
    if n >= 60:  # large enough for a percentile bootstrap to be a fair second opinion
        boot = stats.bootstrap((delta_a, grade), lambda a, b: stats.spearmanr(a, b).statistic, paired=True,
                               vectorized=False, n_resamples=2000, method="percentile",
                               random_state=np.random.default_rng(seed))
        assert found.low == pytest.approx(boot.confidence_interval.low, abs=0.06)
        assert found.high == pytest.approx(boot.confidence_interval.high, abs=0.06)


def test_interval_narrows_with_more_photos_and_widens_with_confidence():
    grade, delta_a = _known(200, 5)
    small, large = spearman_agreement(delta_a[:20], grade[:20]), spearman_agreement(delta_a, grade)
    assert large.high - large.low < small.high - small.low
    wider = spearman_agreement(delta_a, grade, confidence=0.99)
    assert wider.low < large.low < large.rho < large.high < wider.high


def test_too_few_pairs_constant_values_and_bad_arguments():
    grade, delta_a = _known(MIN_PAIRS, 6)
    assert spearman_agreement(delta_a[:-1], grade[:-1]) is None
    with_gap = delta_a.copy()
    with_gap[0] = np.nan  # a photo without a measurement drops out, leaving too few
    assert spearman_agreement(with_gap, grade) is None
    assert spearman_agreement(delta_a, np.full(MIN_PAIRS, 2.0)) is None
    assert math.isnan(spearman_rho([1, 2, 3], [2, 2, 2]))
    perfect = spearman_agreement(np.arange(12.0), np.arange(12.0) ** 2)
    assert (perfect.rho, perfect.low, perfect.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="same length"):
        spearman_agreement([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="between 0 and 1"):
        spearman_agreement(delta_a, grade, confidence=95)


def _cohort(app_demo) -> AppTest:
    store, passwords = app_demo
    token, _ = sv.sign_in(store, "researcher", passwords["researcher"])
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["token"] = token
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_cohort_page_states_agreement_only_from_the_minimum(app_demo):
    store, passwords = app_demo
    _, provider = sv.sign_in(store, "dr.rivera", passwords["dr.rivera"])
    usable = []  # (photo id, Δa*) of photos that passed the quality gate, both patients
    for reference in ("demo-ana", "demo-ben"):
        course = sv.get_patient(store, sv.SYSTEM, sv.find_patient_id(store, sv.SYSTEM, reference)).courses[0]
        usable += [(pt.photo_id, pt.result.metric("redness_delta_a")) for pt in course.progress.points
                   if pt.ok and pt.quality_ok and pt.result.metric("redness_delta_a") is not None]
    assert len(usable) >= MIN_PAIRS + 1
    grades = {pid: int(np.clip(round(delta_a / 3), 0, 4)) for pid, delta_a in usable}  # roughly agreeing
    graded = usable[: MIN_PAIRS - 1]
    for pid, _ in graded:
        sv.grade_photo(store, provider, pid, "cea", {"grade": grades[pid]})
    at = _cohort(app_demo)
    assert [i.value for i in at.info] == [
        f"Not enough graded photos: {MIN_PAIRS - 1} photos that passed the quality gate have a clinician's "
        f"erythema grade (CEA); agreement is shown from {MIN_PAIRS}."]

    for pid, _ in usable[MIN_PAIRS - 1:]:
        sv.grade_photo(store, provider, pid, "cea", {"grade": grades[pid]})
    at = _cohort(app_demo)
    x = [d for _, d in usable]
    y = [grades[pid] for pid, _ in usable]
    rho = stats.spearmanr(x, y).statistic
    half = stats.norm.ppf(0.975) * np.sqrt((1 + rho**2 / 2) / (len(x) - 3))
    expected = (f"Spearman's ρ = {rho:.2f} (95 % confidence interval {np.tanh(np.arctanh(rho) - half):.2f} to "
                f"{np.tanh(np.arctanh(rho) + half):.2f}), {len(x)} graded photos of 2 patients.")
    assert expected in [m.value for m in at.markdown]
    assert any("Bonett and Wright (2000)" in c.value for c in at.caption)
    assert len([*at.get("arrow_vega_lite_chart"), *at.get("vega_lite_chart")]) == 2  # curves and agreement
