"""tracker.analysis.series and tracker.analysis.result: the researcher's table and the JSON contract.

`analyse_series` must give, photo for photo, the numbers `tracker analyze --json` prints, and
the JSON objects must survive a round trip through `AnalysisResult` unchanged, with the keys
the README documents.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data

from tracker.analysis import METRICS, SERIES_COLUMNS, AnalysisResult, PhotoError, analyse_series
from tracker.analysis import simulate as sim
from tracker.analysis.colour import srgb8_to_lab

TRACKER = shutil.which("tracker", path=str(Path(sys.executable).parent)) or "tracker"
SIDE = 1024
FACTOR = SIDE / 512
ROI = sim.scale_box(sim.ASTRONAUT_CHEEK, FACTOR)
CONTROL = sim.scale_box(sim.ASTRONAUT_CHIN, FACTOR)
ADDED = {"day03.jpg": 8.0, "day07.jpg": 4.0, "day14.jpg": 0.0}

# The keys of the JSON contract as README documents them: changing one breaks researchers' scripts.
TOP_KEYS = {"photo", "ok", "quality", "alignment", "colour", "metrics", "metric_version", "skin"}
QUALITY_KEYS = {"ok", "issues", "codes", "overexposed_fraction", "channel_clipped_fraction", "underexposed_fraction",
                "glare_fraction", "mean_lightness", "control_overexposed_fraction", "control_underexposed_fraction",
                "relative_sharpness", "blur_effect", "region_px", "baseline_lightness", "blockiness",
                "baseline_blockiness", "distance_scale", "noise_level", "baseline_noise_level", "texture_withheld"}
ALIGNMENT_KEYS = {"ok", "matrix", "inliers", "matches", "rmse_px", "overlap", "roi_coverage", "rotation_deg", "scale",
                  "reason", "detector", "refined", "region"}
REGION_KEYS = {"ok", "matrix", "window", "displacement_px", "rmse_px", "inliers", "correlation", "flow_median_px",
               "flow_max_px", "disagreement_px", "method", "reason"}
COLOUR_KEYS = {"method", "residual_delta_e", "reference_pixels", "parameters", "note", "reference", "light", "tone"}


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    """A baseline, three follow-ups with known added redness, a broken file and an unrelated photo."""
    folder = tmp_path_factory.mktemp("series")
    rng = np.random.default_rng(7)
    baseline = sim.enlarge(data.astronaut(), SIDE, rng)
    Image.fromarray(baseline).save(folder / "baseline.jpg", quality=92)
    mask = np.zeros(baseline.shape[:2], bool)
    x, y, w, h = ROI
    mask[y:y + h, x:x + w] = True
    for name, delta_a in ADDED.items():
        reddened = sim.add_redness(baseline, mask, delta_a) if delta_a else baseline
        moved = sim.render_view(reddened, sim.camera_matrix(sim.random_motion(rng, SIDE, max_rotation=5,
                                                                              max_scale=0.05), baseline.shape))
        photo = sim.change_lighting(moved, sim.random_lighting(rng))
        Image.fromarray(sim.add_sensor_noise(photo, 2.0, rng)).save(folder / name, quality=92)
    (folder / "broken.jpg").write_bytes((folder / "day03.jpg").read_bytes()[:3000])
    Image.fromarray(sim.enlarge(data.coffee(), SIDE)).save(folder / "coffee.png")
    return folder


NAMES = ["baseline.jpg", "day03.jpg", "day07.jpg", "day14.jpg", "broken.jpg", "coffee.png"]


@pytest.fixture(scope="module")
def cli_records(series) -> list[dict]:
    done = subprocess.run([TRACKER, "analyze", "--reference", "baseline.jpg", "--roi", ",".join(map(str, ROI)),
                           "--control", ",".join(map(str, CONTROL)), "--json", *NAMES],
                          capture_output=True, text=True, cwd=series, timeout=300)
    assert done.returncode == 1, done.stderr  # the broken file and the coffee photo fail; the rest are analysed
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["photo"] for r in records] == NAMES
    return records


@pytest.fixture(scope="module")
def table(series, monkeypatch_module) -> pd.DataFrame:
    monkeypatch_module.chdir(series)
    return analyse_series("baseline.jpg", NAMES, roi=ROI, control=",".join(map(str, CONTROL)))


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_table_has_one_row_per_photo_with_every_metric(table):
    assert list(table.columns) == [*SERIES_COLUMNS, *METRICS]
    assert table["photo"].tolist() == NAMES


def test_table_holds_the_numbers_the_cli_prints(table, cli_records):
    for record, (_, row) in zip(cli_records, table.iterrows(), strict=True):
        result = AnalysisResult.from_dict(record)
        assert row["ok"] == record["ok"] and row["usable"] == result.usable
        assert row["error"] == record.get("error") or (pd.isna(row["error"]) and "error" not in record)
        if not record["ok"]:
            assert all(pd.isna(row[m]) for m in METRICS)
            continue
        assert row["quality_ok"] == record["quality"]["ok"]
        assert row["quality_codes"] == ";".join(record["quality"]["codes"])
        assert row["alignment_rmse_px"] == record["alignment"]["rmse_px"]
        assert row["colour_method"] == record["colour"]["method"]
        for metric in METRICS:
            printed = record["metrics"][metric]
            assert (pd.isna(row[metric]) and printed is None) or row[metric] == printed, metric


def test_failures_are_one_line_and_the_series_goes_on(table, cli_records):
    by_name = {r["photo"]: r for r in cli_records}
    assert not by_name["broken.jpg"]["ok"] and "\n" not in by_name["broken.jpg"]["error"]
    assert not by_name["coffee.png"]["ok"] and by_name["coffee.png"]["alignment"]["ok"] is False
    assert table.set_index("photo").loc[["baseline.jpg", "day03.jpg", "day07.jpg", "day14.jpg"], "ok"].all()


def test_redness_follows_the_added_truth(table, series):
    """Δa* over the baseline's tracks the a* added to the cheek (truth measured on the baseline itself)."""
    base = np.asarray(Image.open(series / "baseline.jpg").convert("RGB"))
    x, y, w, h = ROI
    rows = table.set_index("photo")
    for name, added in ADDED.items():
        mask = np.zeros(base.shape[:2], bool)
        mask[y:y + h, x:x + w] = True
        truth = float(srgb8_to_lab(sim.add_redness(base, mask, added)[y:y + h, x:x + w])[..., 1].mean()
                      - srgb8_to_lab(base[y:y + h, x:x + w])[..., 1].mean()) if added else 0.0
        measured = rows.loc[name, "redness_delta_a"] - rows.loc["baseline.jpg", "redness_delta_a"]
        assert measured == pytest.approx(truth, abs=1.0), name


def test_json_objects_round_trip_through_analysis_result(cli_records):
    for record in cli_records:
        expected = {k: v for k, v in record.items() if k != "photo"}
        assert AnalysisResult.from_dict(record).to_dict() == expected


def test_contract_keys_are_stable(cli_records):
    """The keys README documents: renaming one is a breaking change for researchers."""
    for record in cli_records:
        assert set(record) - {"error"} == TOP_KEYS
        assert ("error" in record) == (not record["ok"])
        if record["photo"] == "broken.jpg":  # never read: no stage ran
            assert (record["quality"], record["alignment"], record["colour"], record["metrics"]) == (None,) * 4
            continue
        assert set(record["quality"]) == QUALITY_KEYS
        assert set(record["alignment"]) == ALIGNMENT_KEYS
        if record["alignment"]["region"] is not None:
            assert set(record["alignment"]["region"]) == REGION_KEYS
        else:  # none for the baseline itself (its own frame), nor where a photo did not match it at all
            assert record["photo"] == "baseline.jpg" or not record["alignment"]["ok"]
        if record["ok"]:
            assert set(record["colour"]) == COLOUR_KEYS
            assert set(record["metrics"]) == set(METRICS)


def test_arrays_can_be_analysed_without_files(series):
    base = np.asarray(Image.open(series / "baseline.jpg").convert("RGB"))
    follow = np.asarray(Image.open(series / "day03.jpg").convert("RGB"))
    rows = analyse_series(base, [base, follow], roi=ROI, control=CONTROL)
    assert rows["photo"].tolist() == ["photo 1", "photo 2"]
    assert rows["ok"].all()


def test_a_reference_that_cannot_be_read_is_refused(series):
    with pytest.raises(PhotoError):
        analyse_series(series / "broken.jpg", [series / "day03.jpg"])
    with pytest.raises(ValueError, match="outside the baseline"):
        analyse_series(series / "baseline.jpg", [series / "day03.jpg"], roi=(SIDE - 10, 0, 50, 50))


def test_the_table_says_which_photos_another_camera_took(series, tmp_path):
    """other_camera: True where the EXIF names another camera than the reference's; empty where a file does not say."""
    from PIL.ExifTags import Base

    def with_camera(name: str, target: str, camera: tuple[str, str] | None) -> str:
        image = Image.open(series / name)
        exif = image.getexif()
        if camera is not None:
            exif[Base.Make], exif[Base.Model] = camera
        image.save(tmp_path / target, quality=92, exif=exif)
        return str(tmp_path / target)

    phone, other = ("Acme", "Phone 12"), ("Other", "Cam 3")
    reference = with_camera("baseline.jpg", "baseline.jpg", phone)
    photos = [with_camera("day03.jpg", "same.jpg", phone), with_camera("day07.jpg", "other.jpg", other),
              with_camera("day14.jpg", "silent.jpg", None)]
    table = analyse_series(reference, photos, roi=ROI, control=CONTROL)
    assert str(table["other_camera"].dtype) == "boolean"
    assert table["other_camera"].tolist() == [False, True, pd.NA]
    assert table["usable"].all()  # said, not refused
    unknown = analyse_series(str(series / "baseline.jpg"), photos[:2], roi=ROI, control=CONTROL)
    assert unknown["other_camera"].isna().all()  # the reference does not say which camera took it
