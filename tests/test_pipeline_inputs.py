"""The pipeline and series entry points check their arguments before any work: one ValueError naming each."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from tracker.analysis import (
    AnalysisConfig,
    PhotoError,
    analyse_baseline,
    analyse_files,
    analyse_photo,
    analyse_series,
    check_box,
    parse_box,
    prepare_baseline,
)

RGB8 = np.random.default_rng(80).integers(0, 256, (64, 80, 3), dtype=np.uint8)
NOT_RGB8 = {"float": RGB8 / 255, "uint16": RGB8.astype(np.uint16), "2-D": RGB8[..., 0],
            "4 channels": np.dstack([RGB8, RGB8[..., :1]]), "empty": RGB8[:0], "list": RGB8.tolist()}


@pytest.mark.parametrize("bad", NOT_RGB8.values(), ids=NOT_RGB8.keys())
@pytest.mark.parametrize("call", [
    lambda a: prepare_baseline(a),
    lambda a: prepare_baseline(a, roi=(10, 10, 20, 20)),
    lambda a: analyse_photo(a, None),
], ids=["prepare_baseline", "prepare_baseline with a region", "analyse_photo"])
def test_photos_must_be_8bit_colour_images(call, bad):
    with pytest.raises(ValueError, match=r"^rgb must be an H x W x 3 uint8 sRGB image; got "):
        call(bad)


@pytest.mark.parametrize("call,match", [
    (lambda: prepare_baseline(RGB8, config={"work_side": 512}), r"^config must be an AnalysisConfig; got a dict"),
    (lambda: analyse_photo(RGB8, RGB8), r"^baseline must be a Baseline \(from prepare_baseline\); got a uint8 array"),
    (lambda: analyse_baseline("baseline.jpg"), r"^baseline must be a Baseline \(from prepare_baseline\); got a str"),
    (lambda: parse_box(None), r'^text must be a string "X,Y,W,H"; got None'),
    (lambda: parse_box((1, 2, 3, 4)), r'^text must be a string "X,Y,W,H"; got a tuple of 4 items'),
], ids=["config", "analyse_photo baseline", "analyse_baseline baseline", "parse_box None", "parse_box tuple"])
def test_each_wrong_argument_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("box,match", [
    ((10, 10, 20), r"^the region of interest must be four integers \(x, y, width, height\); got a tuple of 3 items"),
    ((10, 10, 20.5, 20), r"^the region of interest width must be an integer; got float 20.5"),
    ("10,10,20,20", r"^the region of interest must be four integers"),
    ((10, 10, 4, 20), r"^the region of interest is too small \(4x20 pixels\)"),
    ((70, 10, 20, 20), r"^the region of interest 70,10,20,20 lies outside the baseline photo \(80x64 pixels\)"),
], ids=["three numbers", "fraction", "text", "too small", "outside"])
def test_check_box_refuses_what_is_not_a_box_inside_the_photo(box, match):
    with pytest.raises(ValueError, match=match):
        check_box(box, (64, 80), "region of interest")


@pytest.mark.parametrize("box", [None, (10, 10, 20, 20), [10, 10, 20, 20], np.array([10, 10, 20, 20])],
                         ids=["none", "tuple", "list", "array"])
def test_check_box_takes_any_four_integers_inside_the_photo(box):
    assert check_box(box, (64, 80), "region of interest") is None


@pytest.mark.parametrize("photos", ["day03.jpg", RGB8, 3], ids=["one path", "one array", "int"])
def test_analyse_files_wants_a_collection_of_photos(photos):
    with pytest.raises(ValueError, match=r"^photos must be an iterable \(a list\) of paths or arrays; got "):
        list(analyse_files(RGB8, photos))


def test_a_reference_that_is_not_a_photo_is_refused_in_one_line():
    with pytest.raises(PhotoError, match=r"^reference must be an H x W x 3 uint8 sRGB image; got a float64 array"):
        list(analyse_files(RGB8 / 255, []))
    with pytest.raises(PhotoError, match=r"^reference must be a file path or an H x W x 3 uint8 sRGB array; got None"):
        list(analyse_files(None, []))


def test_a_photo_that_is_not_an_image_fails_alone_with_its_reason_and_the_series_goes_on(astronaut):
    results = dict(analyse_files(astronaut, [astronaut / 255, None, astronaut.copy()]))
    assert results["photo 1"].error == ("photo 1 must be an H x W x 3 uint8 sRGB image; "
                                        "got a float64 array of shape (512, 512, 3)")
    assert results["None"].error == "photo 2 must be a file path or an H x W x 3 uint8 sRGB array; got None"
    assert results["photo 3"].ok and results["photo 3"].alignment_ok


def test_analyse_series_checks_its_arguments_as_analyse_files_does():
    with pytest.raises(ValueError, match=r"^photos must be an iterable"):
        analyse_series(RGB8, RGB8)
    with pytest.raises(ValueError, match=r"^config must be an AnalysisConfig; got "):
        analyse_series(RGB8, [], config=AnalysisConfig)


@pytest.mark.parametrize("regions,match", [
    (dict(roi=(70, 10, 20, 20)), r"^the region of interest 70,10,20,20 lies outside the baseline photo"),
    (dict(control=(10, 10, 20)), r"^the control region must be four integers \(x, y, width, height\)"),
    (dict(control=(10, 60, 20, 20)), r"^the control region 10,60,20,20 lies outside the baseline photo"),
], ids=["region of interest outside", "control of three numbers", "control outside"])
def test_prepare_baseline_refuses_regions_that_are_not_boxes_inside_the_photo(regions, match):
    with pytest.raises(ValueError, match=match):
        prepare_baseline(RGB8, **regions)


@pytest.mark.parametrize("width,height,scale,copy", [
    (4000, 3000, 0.25, (750, 1000)),  # halved twice to 1000 px: its exact scale, a quarter
    (3001, 2251, 1024 / 3001, (768, 1024)),  # one halving, then the remainder to 1024 px: as before 2.4
], ids=["12 MP", "odd 7 MP"])
def test_the_baselines_working_copy_and_its_scale(width, height, scale, copy):
    rgb = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_LINEAR)
    baseline = prepare_baseline(rgb, roi=(width // 2, height // 3, 200, 200))
    assert baseline.work_rgb.shape[:2] == copy and baseline.work_scale == scale
