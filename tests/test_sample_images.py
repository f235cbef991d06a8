"""The committed demo data in ``sample_images/`` still says what its README claims.

The files are read as committed (not regenerated): the manifest is well formed, the
photos are small, dated and labelled as simulated, the analysis engine recovers the
simulated redness from them, and the recovery model tells the typical course from the
slow one.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tracker.analysis import analyse_baseline, analyse_photo, parse_box, prepare_baseline
from tracker.analysis.io import read_photo
from tracker.recovery import CLEAR_CHANGE_DELTA_A, TREATMENTS, assess_course, get_treatment
from tracker.analysis.simulate import CameraMotion, camera_matrix

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"
MANIFEST_COLUMNS = ["patient", "treatment", "treated_on", "photo", "taken_on", "roi", "control", "skin_type"]
EXPECTED_STATUS = {"demo-ana": {"on_track", "ahead"}, "demo-ben": {"slower", "review"}}

# Measured Δa* against the simulated truth: 20 %, but never tighter than photo noise
# allows near zero.
RELATIVE_TOLERANCE = 0.2
ABSOLUTE_TOLERANCE = 0.5


def _read_csv(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with open(SAMPLES / name, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


MANIFEST_HEADER, MANIFEST = _read_csv("manifest.csv")
_, TRUTH_ROWS = _read_csv("truth.csv")
TRUTH = {row["photo"]: row for row in TRUTH_ROWS}
PATIENTS = list(dict.fromkeys(row["patient"] for row in MANIFEST))


def _rows(patient: str) -> list[dict[str, str]]:
    return [row for row in MANIFEST if row["patient"] == patient]


def _day(row: dict[str, str]) -> int:
    return (date.fromisoformat(row["taken_on"]) - date.fromisoformat(row["treated_on"])).days


def test_readme_says_the_images_are_simulated():
    top = (SAMPLES / "README.md").read_text(encoding="utf-8")[:600]
    assert "SIMULATED" in top and "public-domain" in top and "astronaut" in top


def test_manifest_describes_two_patients_with_a_baseline_and_follow_ups():
    assert MANIFEST_HEADER == MANIFEST_COLUMNS
    assert set(PATIENTS) == set(EXPECTED_STATUS)
    treatments = set()
    for patient in PATIENTS:
        rows = _rows(patient)
        days = [_day(r) for r in rows]
        assert days[0] <= 0 and all(d > 0 for d in days[1:]), "first row is the pre-treatment baseline"
        assert days == sorted(days)
        assert 6 <= len(rows) - 1 <= 10
        assert days[-1] >= 21, "follow-ups span weeks"
        for column in ("treatment", "treated_on", "roi", "control", "skin_type"):
            assert len({r[column] for r in rows}) == 1, f"{column} differs between rows of {patient}"
        assert rows[0]["treatment"] in TREATMENTS
        assert rows[0]["skin_type"] in {"I", "II", "III", "IV", "V", "VI"}
        parse_box(rows[0]["roi"]), parse_box(rows[0]["control"])
        treatments.add(rows[0]["treatment"])
    assert len(treatments) == len(PATIENTS), "each demo patient had a different treatment"
    assert [row["photo"] for row in MANIFEST] == [row["photo"] for row in TRUTH_ROWS]


def test_photos_are_small_dated_and_labelled_simulated():
    total = 0
    for row in MANIFEST:
        path = SAMPLES / row["photo"]
        total += path.stat().st_size
        photo = read_photo(path)
        assert max(photo.width, photo.height) <= 1200
        assert photo.captured_at is not None and photo.captured_at.date().isoformat() == row["taken_on"]
        with Image.open(path) as image:
            exif = image.getexif()
            assert "SIMULATED" in exif.get(0x010E, "")
            assert not exif.get_ifd(0x8825), "no GPS"
    assert total < 4_000_000


def test_truth_follows_the_stated_courses():
    """Ana's redness is the catalogue's typical course; Ben's is still clearly red past the band."""
    for patient in PATIENTS:
        treatment = get_treatment(_rows(patient)[0]["treatment"])
        late = [float(TRUTH[r["photo"]]["true_delta_a_added"]) for r in _rows(patient)
                if _day(r) > treatment.resolution_day_high]
        if patient == "demo-ben":
            assert np.median(late) > CLEAR_CHANGE_DELTA_A
        else:
            assert np.median(late) < CLEAR_CHANGE_DELTA_A


@pytest.fixture(scope="module")
def analysed() -> dict[str, list[tuple[dict[str, str], object]]]:
    """Every patient's photos analysed against their baseline, in manifest order."""
    out = {}
    for patient in PATIENTS:
        rows = _rows(patient)
        baseline = prepare_baseline(read_photo(SAMPLES / rows[0]["photo"]).rgb,
                                    parse_box(rows[0]["roi"]), parse_box(rows[0]["control"]))
        results = [analyse_baseline(baseline)]
        results += [analyse_photo(read_photo(SAMPLES / r["photo"]).rgb, baseline) for r in rows[1:]]
        out[patient] = list(zip(rows, results))
    return out


@pytest.mark.parametrize("patient", sorted(EXPECTED_STATUS))
def test_every_photo_aligns_and_only_the_badly_lit_one_fails_the_gate(analysed, patient):
    for row, result in analysed[patient]:
        assert result.ok, f"{row['photo']}: {result.error}"
        expected = TRUTH[row["photo"]]["expected_quality"] == "pass"
        assert result.quality.ok is expected, f"{row['photo']}: {result.quality.issues}"


@pytest.mark.parametrize("patient", sorted(EXPECTED_STATUS))
def test_alignment_recovers_the_simulated_camera_move(analysed, patient):
    (base_row, baseline), *follow_ups = analysed[patient]
    x, y, w, h = parse_box(base_row["roi"])
    height, width = read_photo(SAMPLES / base_row["photo"]).rgb.shape[:2]
    corners = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]], float).T
    for row, result in follow_ups:
        t = TRUTH[row["photo"]]
        motion = CameraMotion(float(t["rotation_deg"]), float(t["scale"]),
                              (float(t["shift_x_px"]), float(t["shift_y_px"])),
                              (float(t["tilt_x"]), float(t["tilt_y"])))
        in_photo = camera_matrix(motion, (height, width)) @ corners
        back = result.alignment.matrix @ (in_photo / in_photo[2])
        error = np.hypot(*(back[:2] / back[2] - corners[:2]))
        assert error.max() < 1.0, f"{row['photo']}: treated-area corners off by {error.max():.2f} px"


@pytest.mark.parametrize("patient", sorted(EXPECTED_STATUS))
def test_measured_redness_tracks_the_simulated_truth(analysed, patient):
    (_, baseline), *follow_ups = analysed[patient]
    for row, result in follow_ups:
        truth = TRUTH[row["photo"]]
        if truth["expected_quality"] != "pass":
            continue
        added = float(truth["true_delta_a_added"])
        tolerance = max(RELATIVE_TOLERANCE * added, ABSOLUTE_TOLERANCE)
        change_a = result.metrics["redness_a"] - baseline.metrics["redness_a"]
        change_delta_a = result.metrics["redness_delta_a"] - baseline.metrics["redness_delta_a"]
        assert abs(change_a - added) <= tolerance, f"{row['photo']}: a* +{change_a:.2f}, truth +{added:.2f}"
        assert abs(change_delta_a - added) <= tolerance, (
            f"{row['photo']}: Δa* +{change_delta_a:.2f}, truth +{added:.2f}")


@pytest.mark.parametrize("patient", sorted(EXPECTED_STATUS))
@pytest.mark.parametrize("against", ["control", "control_and_baseline"])
def test_assessment_tells_the_typical_course_from_the_slow_one(analysed, patient, against):
    """Raw Δa*, and Δa* with the baseline's own offset removed, give the same status."""
    rows = [row for row, _ in analysed[patient]]
    results = [result for _, result in analysed[patient]]
    offset = results[0].metrics["redness_delta_a"] if against == "control_and_baseline" else 0.0
    assessment = assess_course(
        rows[0]["treatment"],
        days=[_day(r) for r in rows],
        redness_delta_a=[r.metrics["redness_delta_a"] - offset for r in results],
        melanin_corrected=[r.metrics["melanin_takiwaki"] for r in results],
        quality_ok=[r.quality.ok for r in results],
        skin_type=rows[0]["skin_type"],
    )
    assert assessment.status in EXPECTED_STATUS[patient], assessment.provider_reasons
    badly_lit = [i for i, r in enumerate(rows) if TRUTH[r["photo"]]["expected_quality"] != "pass"]
    assert list(assessment.excluded) == badly_lit
