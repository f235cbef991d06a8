"""The `tracker analyze` contract, driven through the installed console script on real files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from series import CONTROL, ROI, make_followup
from truth import apply_homography
from tracker.analysis import simulate as sim

TRACKER = shutil.which("tracker", path=str(Path(sys.executable).parent)) or "tracker"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([TRACKER, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def _save_jpeg(rgb: np.ndarray, path: Path, orientation: int | None = None) -> None:
    image = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0132] = "2026:03:14 09:30:00"
    if orientation:
        exif[0x0112] = orientation
    image.save(path, quality=90, exif=exif.tobytes())


@pytest.fixture(scope="module")
def photos(tmp_path_factory, baseline_rgb):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(41)
    _save_jpeg(baseline_rgb, folder / "baseline.jpg")
    truth = {}
    for name in ("day03.jpg", "day07.jpg"):
        follow = make_followup(baseline_rgb, rng, delta_a=6.0, jpeg=None)
        _save_jpeg(follow.rgb, folder / name)
        truth[name] = follow.photo_to_baseline
    # Stored sideways with EXIF orientation 6 (rotate 90° clockwise to view).
    follow = make_followup(baseline_rgb, rng, delta_a=3.0, jpeg=None)
    _save_jpeg(np.ascontiguousarray(np.rot90(follow.rgb, 1)), folder / "sideways.jpg", orientation=6)
    truth["sideways.jpg"] = follow.photo_to_baseline
    data = (folder / "day03.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not a photo")
    Image.fromarray(sim.enlarge(__import__("skimage").data.coffee(), 1024)).save(folder / "coffee.png")
    return folder, truth


def _box(b):
    return ",".join(str(v) for v in b)


def test_json_lines_contract(photos):
    folder, truth = photos
    result = run("analyze", "--reference", "baseline.jpg", "--roi", _box(ROI), "--control", _box(CONTROL), "--json",
                 "baseline.jpg", "day03.jpg", "day07.jpg", "sideways.jpg", cwd=folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4
    records = [json.loads(line) for line in lines]
    assert [r["photo"] for r in records] == ["baseline.jpg", "day03.jpg", "day07.jpg", "sideways.jpg"]
    for r in records:
        assert r["ok"] is True and "error" not in r
        assert isinstance(r["quality"]["ok"], bool) and isinstance(r["quality"]["issues"], list)
        assert r["alignment"]["ok"] is True
        assert np.array(r["alignment"]["matrix"]).shape == (3, 3)
        assert isinstance(r["alignment"]["inliers"], int) and isinstance(r["alignment"]["rmse_px"], float)
        assert isinstance(r["colour"]["method"], str)
        for key in ("redness_a", "redness_delta_a", "erythema_index", "erythema_area_fraction", "lightness_l",
                    "ita_deg", "melanin_index", "melanin_takiwaki", "haemoglobin_takiwaki", "redness_change_p90"):
            assert isinstance(r["metrics"][key], float), key
        assert r["metrics"]["erythema_area_cm2"] is None, "no colour chart in these photos"
        # Texture is null, with the reason, when the photo's focus differs from the baseline's.
        texture, withheld = r["metrics"]["texture_contrast"], r["quality"]["texture_withheld"]
        assert isinstance(texture, float) if withheld is None else (texture is None and "focus" in withheld)
    assert isinstance(records[0]["metrics"]["texture_contrast"], float)
    assert records[0]["colour"]["method"] == "baseline"
    assert np.allclose(records[0]["alignment"]["matrix"], np.eye(3))
    # Redness added to the follow-ups shows in the metrics (6 a* units; 3 for the sideways one).
    base_a = records[0]["metrics"]["redness_a"]
    assert records[1]["metrics"]["redness_a"] - base_a == pytest.approx(6.0, rel=0.15)
    assert records[3]["metrics"]["redness_a"] - base_a == pytest.approx(3.0, rel=0.2)


def test_matrix_maps_upright_photo_pixels_to_baseline_pixels(photos):
    folder, truth = photos
    result = run("analyze", "--reference", "baseline.jpg", "--json", "day03.jpg", "sideways.jpg", cwd=folder)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["photo"] for r in records] == ["day03.jpg", "sideways.jpg"]
    pts = np.array([[500.0, 500.0], [1500.0, 700.0], [1000.0, 1600.0]])
    for r in records:
        assert r["alignment"]["ok"] is True, r
        err = np.linalg.norm(apply_homography(r["alignment"]["matrix"], pts) - apply_homography(truth[r["photo"]], pts),
                             axis=1)
        assert err.max() < 1.0, (r["photo"], err)


def test_bad_photos_fail_one_line_each_and_the_rest_are_analysed(photos):
    folder, _ = photos
    names = ["cut.jpg", "day03.jpg", "empty.jpg", "notes.txt", "missing.jpg", "coffee.png", "."]
    result = run("analyze", "--reference", "baseline.jpg", "--json", *names, cwd=folder)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    records = {r["photo"]: r for r in map(json.loads, result.stdout.strip().splitlines())}
    assert set(records) == set(names)
    assert records["day03.jpg"]["ok"] is True
    for name in set(names) - {"day03.jpg"}:
        r = records[name]
        assert r["ok"] is False and r["error"] and "\n" not in r["error"], name
    assert "truncated" in records["cut.jpg"]["error"]
    assert "empty" in records["empty.jpg"]["error"]
    assert records["coffee.png"]["alignment"]["ok"] is False


def test_readable_table_without_json(photos):
    folder, _ = photos
    result = run("analyze", "--reference", "baseline.jpg", "--roi", _box(ROI), "day03.jpg", "notes.txt", cwd=folder)
    assert result.returncode == 1
    out = result.stdout
    assert "photo" in out.splitlines()[0] and "a*" in out.splitlines()[0]
    assert "day03.jpg" in out and "failed" in out and "not an image file" in out
    assert "1 of 2 photos analysed, 1 failed." in out


@pytest.mark.parametrize("args,words", [
    (["--roi", "1,2,3"], "X,Y,W,H"),
    (["--roi", "5000,0,100,100"], "outside the baseline"),
    (["--control", "0,0,-5,10"], "positive"),
])
def test_usage_errors_exit_2(photos, args, words):
    folder, _ = photos
    result = run("analyze", "--reference", "baseline.jpg", *args, "day03.jpg", cwd=folder)
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr


def test_unreadable_reference_is_a_usage_error(photos):
    folder, _ = photos
    result = run("analyze", "--reference", "notes.txt", "day03.jpg", cwd=folder)
    assert result.returncode == 2 and "reference" in result.stderr and "Traceback" not in result.stderr
    assert run("analyze", "day03.jpg", cwd=folder).returncode == 2  # --reference missing


def test_a_black_and_white_photo_is_checked_and_a_black_and_white_reference_refused(tmp_path, baseline_rgb):
    grey = np.repeat(np.asarray(Image.fromarray(baseline_rgb).convert("L"))[..., None], 3, axis=2)
    _save_jpeg(baseline_rgb, tmp_path / "baseline.jpg")
    Image.fromarray(grey).convert("L").save(tmp_path / "mono.jpg", quality=90)  # a one-channel JPEG
    result = run("analyze", "--reference", "baseline.jpg", "--roi", _box(ROI), "--control", _box(CONTROL), "--json",
                 "mono.jpg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["ok"] is True and record["quality"]["ok"] is False and record["quality"]["codes"] == ["no_colour"]
    assert record["metrics"]["redness_delta_a"] is None and record["metrics"]["ita_deg"] is None
    refused = run("analyze", "--reference", "mono.jpg", "baseline.jpg", cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == ("tracker: error: The baseline photo has no colour (black and white, or a filter"
                                      " took it out), so redness and pigment cannot be measured against it: choose a"
                                      " colour photo as the baseline.")


def test_a_mirrored_selfie_is_measured_and_the_table_says_it_was_flipped_back(photos):
    folder, _ = photos
    day = np.asarray(Image.open(folder / "day03.jpg"))
    Image.fromarray(np.ascontiguousarray(day[:, ::-1])).save(folder / "selfie.jpg", quality=92)
    result = run("analyze", "--reference", "baseline.jpg", "selfie.jpg", cwd=folder)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("selfie.jpg"))
    assert row.split()[1] == "ok"
    assert "This photo was mirrored (as some front cameras save selfies); it was measured flipped back." in row


def test_a_photo_from_another_camera_than_the_reference_is_said_in_the_table(photos, tmp_path):
    folder, _ = photos
    for name, source, camera in (("ref.jpg", "baseline.jpg", ("Apple", "iPhone 12")),
                                 ("other.jpg", "day03.jpg", ("Google", "Pixel 7")),
                                 ("same.jpg", "day07.jpg", ("Apple", "iPhone 12"))):
        exif = Image.Exif()
        exif[0x010F], exif[0x0110] = camera  # Make, Model
        Image.open(folder / source).save(tmp_path / name, quality=92, exif=exif.tobytes())
    shutil.copy(folder / "day03.jpg", tmp_path / "unknown.jpg")  # no camera in its EXIF
    result = run("analyze", "--reference", "ref.jpg", "other.jpg", "same.jpg", "unknown.jpg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.endswith(".jpg") or ".jpg " in line}
    note = "Taken with another camera than the reference photo"
    assert note in rows["other.jpg"] and rows["other.jpg"].split()[1] == "ok"
    assert note not in rows["same.jpg"] and note not in rows["unknown.jpg"]
    as_json = run("analyze", "--reference", "ref.jpg", "--json", "other.jpg", cwd=tmp_path)
    assert set(json.loads(as_json.stdout)) == set(json.loads(run("analyze", "--reference", "ref.jpg", "--json",
                                                                 "same.jpg", cwd=tmp_path).stdout))


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("tracker ")


def test_treatments_lists_the_catalogue_and_describes_one():
    from tracker.recovery import TREATMENTS

    listing = run("treatments")
    assert listing.returncode == 0
    keys = [line.split()[0] for line in listing.stdout.strip().splitlines()]
    assert keys == list(TREATMENTS) and "fractional_co2" in keys
    described = run("treatments", "fractional_co2")
    assert described.returncode == 0 and "not a diagnosis" in described.stdout
    unknown = run("treatments", "laser_magic")
    assert unknown.returncode == 2 and "fractional_co2" in unknown.stderr


def test_tracker_app_serves_this_machine_unless_a_host_is_given(tmp_path, monkeypatch):
    """Issue #13, finding 7: binding to every interface takes an explicit --host, with a warning."""
    import subprocess as sp

    from typer.testing import CliRunner

    from tracker import cli

    started = []
    monkeypatch.setattr(sp, "call", lambda command, **kwargs: started.append(command) or 0)
    runner = CliRunner()
    for extra, host in (([], "127.0.0.1"), (["--host", "0.0.0.0"], "0.0.0.0")):
        cli._OPTIONS.clear()
        result = runner.invoke(cli.app, ["--data-dir", str(tmp_path / "data"), "app", "--port", "8765", *extra])
        assert result.exit_code == 0, result.output
        command = started[-1]
        assert command[command.index("--server.address") + 1] == host
        assert command[command.index("run") + 1].endswith("serve.py")  # with the security headers
    assert "reachable from other machines" in result.output and "TLS" in result.output


def test_tracker_user_unlocks_and_sets_a_password(tmp_path):
    """Issue #13, finding 3: the command line unlocks an account from every source and resets its password."""
    from tracker import services as sv
    from tracker.store.db import open_store

    data_dir = tmp_path / "data"
    added = run("--data-dir", str(data_dir), "user", "add", "dr.kim", "--role", "provider",
                "--password", "first passphrase 1")
    assert added.returncode == 0, added.stderr
    store = open_store(data_dir)
    try:
        for source in ("203.0.113.9", None):
            for _ in range(sv.MAX_FAILED_SIGN_INS):
                with pytest.raises(sv.AccessDenied):
                    sv.sign_in(store, "dr.kim", "wrong guess here", source)
        assert {u["username"]: u["locked"] for u in sv.list_users(store, sv.SYSTEM)}["dr.kim"] is True
        unlocked = run("--data-dir", str(data_dir), "user", "unlock", "dr.kim")
        assert (unlocked.returncode, unlocked.stdout.strip()) == (0, "Account 'dr.kim' unlocked.")
        assert sv.sign_in(store, "dr.kim", "first passphrase 1", "203.0.113.9")[1].username == "dr.kim"
        reset = run("--data-dir", str(data_dir), "user", "passwd", "dr.kim", "--password", "second passphrase 2")
        assert reset.returncode == 0 and "its sessions have ended" in reset.stdout
        with pytest.raises(sv.AccessDenied):
            sv.sign_in(store, "dr.kim", "first passphrase 1")
        assert sv.sign_in(store, "dr.kim", "second passphrase 2")[1].username == "dr.kim"
    finally:
        store.close()
    unknown = run("--data-dir", str(data_dir), "user", "unlock", "nobody")
    assert (unknown.returncode, unknown.stderr.strip()) == (2, "tracker: error: there is no account 'nobody'")
