"""Truth for the tests, kept apart from the code under test.

What the demo was made from (``sample_images/manifest.csv``), what was simulated in each of
its photos (``truth.csv``, written by ``sample_images/make_samples.py``), the sample files'
own pixels, a store's rows read with SQL rather than through the services, and homographies
applied by hand. Tests compare what the services, pages and report show with these.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import select

from tracker.store.models import Analysis, Course, Patient, Photo

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"

# Measured against simulated Δa*: 20 %, but never tighter than photo noise allows near zero
# (sample_images/README.md).
RELATIVE_TOLERANCE = 0.2
ABSOLUTE_TOLERANCE = 0.5


def _read_csv(name: str) -> list[dict[str, str]]:
    with open(SAMPLES / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


MANIFEST = _read_csv("manifest.csv")
TRUTH = {row["photo"]: row for row in _read_csv("truth.csv")}


def manifest_rows(reference: str) -> list[dict[str, str]]:
    """A demo patient's rows of the manifest, baseline first, in the order taken."""
    return [row for row in MANIFEST if row["patient"] == reference]


def treated_on(reference: str) -> date:
    return date.fromisoformat(manifest_rows(reference)[0]["treated_on"])


def photo_day(row: dict[str, str]) -> int:
    """Days from the treatment to a manifest row's photo."""
    return (date.fromisoformat(row["taken_on"]) - date.fromisoformat(row["treated_on"])).days


def redness_tolerance(added: float) -> float:
    """How far a measured Δa* may be from the simulated one."""
    return max(RELATIVE_TOLERANCE * added, ABSOLUTE_TOLERANCE)


def sample_pixels(photo: str) -> np.ndarray:
    """The RGB pixels of a sample photo (a manifest ``photo`` path), decoded by Pillow."""
    with Image.open(SAMPLES / photo) as image:
        return np.asarray(image.convert("RGB"))


def stored_results(store, reference: str) -> dict[str, dict]:
    """Each of a patient's photos' latest stored analysis (the JSON of the contract) by the date taken, via SQL."""
    query = (select(Photo.taken_at, Analysis.result).join(Analysis, Analysis.photo_id == Photo.id)
             .join(Course, Photo.course_id == Course.id).join(Patient, Course.patient_id == Patient.id)
             .where(Patient.reference == reference).order_by(Photo.taken_at, Analysis.id))
    with store.session() as s:
        return {f"{taken:%Y-%m-%d}": result for taken, result in s.execute(query)}  # later analyses win


def apply_homography(matrix, points) -> np.ndarray:
    """A 3x3 homography applied to (N, 2) points, in homogeneous coordinates by hand."""
    pts = np.asarray(points, float)
    mapped = np.c_[pts, np.ones(len(pts))] @ np.asarray(matrix, float).T
    return mapped[:, :2] / mapped[:, 2:]
