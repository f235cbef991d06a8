"""Regions drawn as boxes on the baseline (issue #15): the box in baseline pixels, and the figure it is drawn on.

The browser test, in which a provider drags the box with the mouse, is in ``test_e2e_regions.py``.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tracker import services as sv
from tracker.web.views import box_drawing_figure

SHOWN = (400, 300)  # width, height of the photo as shown
BASELINE = (4000, 3000)  # and of the baseline: ten baseline pixels per pixel shown


@pytest.mark.parametrize(("xs", "ys", "shown", "baseline", "expected"), [
    ([10, 50], [20, 60], SHOWN, BASELINE, (100, 200, 400, 400)),
    ([50, 10], [60, 20], SHOWN, BASELINE, (100, 200, 400, 400)),  # dragged up and to the left
    ([10.04, 49.96], [20, 60], SHOWN, BASELINE, (100, 200, 400, 400)),  # to the nearest baseline pixel
    ([0, 400], [0, 300], SHOWN, BASELINE, (0, 0, 4000, 3000)),  # the whole photo
    ([10, 50], [20, 60], BASELINE, BASELINE, (10, 20, 40, 40)),  # shown at full size
    ([10, 50], [20, 60], (800, 600), (400, 300), (5, 10, 20, 20)),  # shown larger than the baseline
    # A shown copy rounded to whole pixels: each side scales by its own ratio, the far edges land on the photo's.
    ([0, 333], [0, 250], (333, 250), (1000, 751), (0, 0, 1000, 751)),
])
def test_a_drawn_box_is_scaled_to_baseline_pixels(xs, ys, shown, baseline, expected):
    assert sv.drawn_region(xs, ys, shown, baseline) == expected


@pytest.mark.parametrize(("xs", "ys", "expected"), [
    ([-20, 10], [280, 330], (0, 2800, 100, 200)),  # over the left and bottom edges
    ([380, 450], [-5, 40], (3800, 0, 200, 400)),  # over the right and top edges
    ([-100, 500], [-100, 400], (0, 0, 4000, 3000)),  # around the whole photo
])
def test_a_box_over_the_edge_is_cut_at_the_photo(xs, ys, expected):
    box = sv.drawn_region(xs, ys, SHOWN, BASELINE)
    assert box == expected
    x, y, w, h = box
    assert x >= 0 and y >= 0 and x + w <= BASELINE[0] and y + h <= BASELINE[1]


@pytest.mark.parametrize(("xs", "ys"), [
    ([-50, -10], [20, 60]),  # left of the photo
    ([10, 50], [310, 400]),  # below it
    ([20, 20], [20, 60]),  # no width: a click, not a drag
])
def test_a_box_with_nothing_on_the_photo_is_refused_in_one_sentence(xs, ys):
    with pytest.raises(sv.InputError) as refused:
        sv.drawn_region(xs, ys, SHOWN, BASELINE, "treated area")
    assert str(refused.value) == "The treated area was drawn outside the photo: drag the box over the photo."


def test_a_box_under_eight_baseline_pixels_across_is_refused_in_one_sentence():
    assert sv.drawn_region([10, 10.8], [20, 30], SHOWN, BASELINE) == (100, 200, 8, 100)  # 8 px: just enough
    with pytest.raises(sv.InputError) as refused:
        sv.drawn_region([10, 10.7], [20, 30], SHOWN, BASELINE, "untreated control")
    assert str(refused.value) == ("The untreated control is too small (7x100 pixels); "
                                  "draw it at least 8 pixels across.")
    # Cut at the edge, what is left on the photo is what counts.
    with pytest.raises(sv.InputError, match=r"too small \(3x100 pixels\)"):
        sv.drawn_region([-30, 0.3], [20, 30], SHOWN, BASELINE)


@pytest.mark.parametrize(("xs", "ys"), [([1, 2, 3], [0, 9]), ([0, 9], [5]), ([float("nan"), 9], [0, 9]),
                                        ([0, float("inf")], [0, 9])])
def test_a_box_that_is_not_two_finite_edges_per_axis_is_a_programming_error(xs, ys):
    with pytest.raises(ValueError, match="two finite x and two finite y edges"):
        sv.drawn_region(xs, ys, SHOWN, BASELINE)


@pytest.mark.parametrize(("shown", "baseline"), [((0, 300), BASELINE), (SHOWN, (4000, -1))])
def test_sizes_that_are_not_positive_are_a_programming_error(shown, baseline):
    with pytest.raises(ValueError, match="sizes must be positive"):
        sv.drawn_region([10, 50], [20, 60], shown, baseline)


@pytest.mark.parametrize("image", [np.zeros((30, 40), np.uint8), np.zeros((30, 40, 4), np.uint8),
                                   np.zeros((30, 40, 3), np.float32)])
def test_the_figure_takes_only_an_rgb8_image(image):
    with pytest.raises(ValueError, match="H x W x 3 uint8 RGB"):
        box_drawing_figure(image)


def test_the_figure_counts_the_shown_photo_pixels_from_its_top_left_corner_and_drags_select():
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[:10, :20] = (230, 159, 0)  # an orange top-left quarter
    figure = box_drawing_figure(rgb)
    (image,) = figure.data
    # Pixel centres at half pixels: the axes count pixel edges, 0 to 40 across and 0 to 30 down.
    assert (image.x0, image.y0, image.dx, image.dy) == (0.5, 0.5, 1, 1)
    assert list(figure.layout.xaxis.range) == [0, 40]
    assert list(figure.layout.yaxis.range) == [30, 0]  # rows downwards, as in the photo
    assert figure.layout.yaxis.scaleanchor == "x"  # square pixels
    assert figure.layout.dragmode == "select"
    header, data = image.source.split(",", 1)
    assert header == "data:image/jpeg;base64"
    sent = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")).astype(int)
    assert sent.shape == rgb.shape
    assert np.abs(sent[2:8, 2:18] - rgb[2:8, 2:18]).max() < 12  # the same colours, the same way round
    assert np.abs(sent[15:, 25:]).max() < 12
