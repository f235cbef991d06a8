"""Redness is not darkening (issue #10, section 3), through the engine, the store and the services.

Haemoglobin absorbs in the green, so erythema lowers L* as well as raising a*: by Takiwaki's
decomposition pure redness moves L* by -1.06/1.44 = -0.74 a* units per a* unit. ITA° and the
log-red melanin index fall with it. The darkening rule reads ``melanin_takiwaki``, along which
pure redness is zero. Two simulated fully ablative courses of a type II patient are stored as
photos and analysed by the services: one with redness alone, one with the same redness and a
true darkening (L* down at unchanged a*) from week 3 on.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from PIL import Image
from skimage import data

from tracker import services as sv
from tracker.analysis import simulate as sim
from tracker.recovery import melanin_change_threshold

SIDE = 1536
ROI = sim.scale_box(sim.ASTRONAUT_CHEEK, SIDE / 512)
CONTROL = sim.scale_box(sim.ASTRONAUT_CHIN, SIDE / 512)
TREATED = date(2026, 3, 2)
# Day after treatment and the a* added in the treated area: a fully ablative course at its peak.
COURSE = ((-1, 0.0), (3, 14.0), (14, 12.0), (21, 11.0), (30, 10.0))
REDNESS_L_PER_A = -1.06 / 1.44


def jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return sim.enlarge(data.astronaut(), SIDE, np.random.default_rng(10))


def photo(face: np.ndarray, delta_a: float, darkening_l: float, rng: np.random.Generator, moved: bool) -> bytes:
    """The face with redness (and darkening) in the treated area, seen by a hand-held camera when ``moved``.

    The baseline is taken square on, so the regions drawn on it are where the simulated change is.
    """
    mask = np.zeros(face.shape[:2], bool)
    x, y, w, h = ROI
    mask[y:y + h, x:x + w] = True
    skin = sim.add_redness(face, mask, delta_a, delta_l=REDNESS_L_PER_A * delta_a - darkening_l) \
        if delta_a or darkening_l else face
    view = skin
    if moved:
        motion = sim.random_motion(rng, SIDE, max_rotation=3, max_scale=0.05, max_shift=0.02)
        view = sim.render_view(skin, sim.camera_matrix(motion, face.shape))
    lit = sim.change_lighting(view, sim.random_lighting(rng, exposure=(0.9, 1.0), white_balance=0.03))
    return jpeg(sim.add_sensor_noise(lit, 1.5, rng))


def course(store, face: np.ndarray, reference: str, darkening_l: float, seed: int) -> sv.CourseDetail:
    rng = np.random.default_rng(seed)
    patient_id = sv.create_patient(store, sv.SYSTEM, reference, reference, "II")
    course_id = sv.add_course(store, sv.SYSTEM, patient_id, "fully_ablative_co2", TREATED, roi=ROI, control=CONTROL)
    for day, delta_a in COURSE:
        dark = darkening_l if day >= 21 else 0.0
        taken = datetime.combine(TREATED + timedelta(days=day), datetime.min.time()) + timedelta(hours=10)
        sv.add_photo(store, sv.SYSTEM, course_id, photo(face, delta_a, dark, rng, day > 0), taken)
    return sv.get_patient(store, sv.SYSTEM, patient_id).courses[0]


def test_redness_alone_is_not_darkening_but_a_true_melanin_rise_is(sqlite_store, face):
    red = course(sqlite_store, face, "redness-only", 0.0, seed=1)
    rules = [s.rule for s in red.progress.assessment.signals]
    assert "darkening_not_checked" not in rules, "the darkening rule must run on the stored melanin_takiwaki"
    assert "new_darkening" not in rules
    results = [pt.result for pt in red.progress.points]
    base = results[0]
    # What ITA° would have said: at the redness peak it falls by several degrees in type II skin.
    assert base.metric("ita_deg") - results[1].metric("ita_deg") > 5
    drift = [r.metric("melanin_takiwaki") - base.metric("melanin_takiwaki") for r in results[1:]]
    assert max(abs(d) for d in drift) < melanin_change_threshold(2) / 2, drift
    assert results[1].metric("haemoglobin_takiwaki") - base.metric("haemoglobin_takiwaki") > 10

    dark = course(sqlite_store, face, "redness-and-darkening", 14.0, seed=1)
    signal = next(s for s in dark.progress.assessment.signals if s.rule == "new_darkening")
    assert signal.status == "review" and signal.figures["first_day"] == 21
    assert signal.figures["change"] == pytest.approx(1.44 * 14.0, abs=4.0)
