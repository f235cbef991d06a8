"""Finding a 24-patch ColorChecker Classic in a photo and reading its patches.

When a patient holds a ColorChecker Classic next to the treated skin, its 24
patches give the colour normalisation a known target.  This module only finds
the chart and measures it; fitting a correction is someone else's job.

Pipeline of :func:`find_colour_card`:

1. **Detect** with OpenCV's Macbeth-chart detector (``cv2.mcc``, classical
   contour-based path, no neural network) on a copy reduced to ``max_side``.
2. **Check the geometry** of each candidate quadrilateral (size, convexity,
   aspect, perspective, inside the image) and map it back to full resolution.
3. **Refine the corners** by aligning a rendering of the chart model, painted
   with the patch colours just measured, to the full-resolution photo with the
   enhanced correlation coefficient (ECC) [3]_.  The detector's corners are
   extrapolated from patch centres found on the reduced copy and are often
   several pixels off; the ECC fit uses every patch edge.
4. **Measure** each patch as the mean of its central ~50 % area, sampled
   through the chart's perspective transform on the full-resolution photo, so
   the values do not depend on the detector's internals.
5. **Orient and verify**: the chart may be upside down or mirrored.  cv2.mcc
   matches the orientation itself and, in our tests, returns the corners
   starting at dark skin, but its final corner sorting is not documented, so
   the order is not trusted.  Of the four orderings that keep the 6 x 4 grid,
   the one kept is the one whose grey row is neutral and ordered light to dark
   and whose 24 colours one affine map in linear RGB takes best to
   :data:`COLORCHECKER_SRGB`.  When no ordering fits, the detection is
   rejected rather than returned in a wrong order.  This also rejects grids of
   the right colours in the wrong places, which cv2.mcc accepts (its cost only
   compares colour directions patch by patch).

References
----------
.. [1] McCamy, C. S., Marcus, H., Davidson, J. G. (1976). A color-rendition
       chart. Journal of Applied Photographic Engineering 2(3), 95-99.
.. [2] X-Rite (2016). New color specifications for ColorChecker SG and Classic
       charts (values for charts made after November 2014).
.. [3] Evangelidis, G. D., Psarakis, E. Z. (2008). Parametric image alignment
       using enhanced correlation coefficient maximization. IEEE TPAMI 30(10),
       1858-1865.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tracker.analysis._checks import check_array, check_number

__all__ = [
    "COLORCHECKER_LAB_D50",
    "COLORCHECKER_NAMES",
    "COLORCHECKER_SRGB",
    "CARD_BOX_UNITS",
    "ColourCardReading",
    "COLORCHECKER_PITCH_MM",
    "chart_mm2_per_pixel",
    "find_colour_card",
]

COLORCHECKER_NAMES: tuple[str, ...] = (
    "dark skin",
    "light skin",
    "blue sky",
    "foliage",
    "blue flower",
    "bluish green",
    "orange",
    "purplish blue",
    "moderate red",
    "purple",
    "yellow green",
    "orange yellow",
    "blue",
    "green",
    "red",
    "yellow",
    "magenta",
    "cyan",
    "white 9.5",
    "neutral 8",
    "neutral 6.5",
    "neutral 5",
    "neutral 3.5",
    "black 2",
)
"""Patch names in the standard order: row by row from the dark-skin corner."""

COLORCHECKER_LAB_D50: np.ndarray = np.array(
    [
        [37.54, 14.37, 14.92],
        [64.66, 19.27, 17.50],
        [49.32, -3.82, -22.54],
        [43.46, -12.74, 22.72],
        [54.94, 9.61, -24.79],
        [70.48, -32.26, -0.37],
        [62.73, 35.83, 56.50],
        [39.43, 10.75, -45.17],
        [50.57, 48.64, 16.67],
        [30.10, 22.54, -20.87],
        [71.77, -24.13, 58.19],
        [71.51, 18.24, 67.37],
        [28.37, 15.42, -49.80],
        [54.38, -39.72, 32.27],
        [42.43, 51.05, 28.62],
        [81.80, 2.67, 80.41],
        [50.63, 51.28, -14.12],
        [49.57, -29.71, -28.32],
        [95.19, -1.03, 2.93],
        [81.29, -0.57, 0.44],
        [66.89, -0.75, -0.06],
        [50.76, -0.13, 0.14],
        [35.63, -0.46, -0.48],
        [20.64, 0.07, -0.46],
    ]
)
"""(24, 3) CIE L*a*b* (D50, 2 degree observer) of the ColorChecker Classic made
after November 2014, as published by X-Rite [2]_ (the same values are the
"ColorChecker24 - After November 2014" data set of the ``colour`` package)."""
COLORCHECKER_LAB_D50.setflags(write=False)

COLORCHECKER_SRGB: np.ndarray = np.array(
    [
        [0.4537, 0.3109, 0.2549],
        [0.7734, 0.5633, 0.4966],
        [0.3562, 0.4719, 0.6089],
        [0.3587, 0.4246, 0.2499],
        [0.5142, 0.4982, 0.6847],
        [0.3739, 0.7402, 0.6735],
        [0.8787, 0.4868, 0.1893],
        [0.2688, 0.3512, 0.6560],
        [0.7737, 0.3135, 0.3728],
        [0.3642, 0.2265, 0.4075],
        [0.6120, 0.7336, 0.2282],
        [0.8917, 0.6325, 0.1536],
        [0.1558, 0.2415, 0.5696],
        [0.2376, 0.5767, 0.2751],
        [0.6987, 0.2101, 0.2225],
        [0.9269, 0.7823, 0.0575],
        [0.7499, 0.3090, 0.5743],
        [0.0000, 0.5207, 0.6478],
        [0.9451, 0.9476, 0.9233],
        [0.7885, 0.7931, 0.7885],
        [0.6324, 0.6398, 0.6385],
        [0.4732, 0.4741, 0.4729],
        [0.3244, 0.3295, 0.3315],
        [0.1943, 0.1948, 0.1975],
    ]
)
"""(24, 3) reference sRGB (D65, IEC 61966-2-1 encoding, 0..1) of the
ColorChecker Classic [1]_ made after November 2014, in the standard order of
:data:`COLORCHECKER_NAMES` (dark skin ... cyan, then white 9.5 ... black 2).

Derived from X-Rite's published L*a*b* D50 values [2]_
(:data:`COLORCHECKER_LAB_D50`): L*a*b* -> XYZ (D50 white x, y = 0.3457, 0.3585)
-> Bradford chromatic adaptation to D65 -> linear sRGB -> sRGB encoding,
rounded to 4 decimals.  Patch 18 (cyan) lies just outside the sRGB gamut; its
red channel (-0.044 linear) is clipped to 0.

References
----------
.. [1] McCamy, C. S., Marcus, H., Davidson, J. G. (1976). A color-rendition
       chart. J. Appl. Photogr. Eng. 2(3), 95-99.
.. [2] X-Rite (2016). New color specifications for ColorChecker SG and Classic
       charts.
"""
COLORCHECKER_SRGB.setflags(write=False)

# Chart model of cv2.mcc (its MCC24 "box"), in units of 1/10 of the patch pitch
# plus gap: 2.5-unit square patches on a 2.75-unit pitch, with a 0.25-unit
# margin around the grid.  Our corners are the corners of this box.
CARD_BOX_UNITS: tuple[float, float] = (16.75, 11.25)
_PATCH = 2.5
_PITCH = 2.75
_MARGIN = 0.25
_ROWS, _COLS = 4, 6

_SRGB_LUMA = np.array([0.2126, 0.7152, 0.0722])

#: Patch pitch (patch plus gap, mm) of the ColorChecker Classic, for the scale of a photo.
#: X-Rite gives the card as 279.4 x 215.9 mm with the 24 patches in 6 columns and 4 rows; 6
#: pitches cannot exceed the card's width (46.6 mm), and its black border takes about 1 cm on
#: each side, which leaves about 43 mm. The middle value is used: 45 mm +- 2 mm, so an area
#: in cm2 carries about +-9 % from this constant alone. It has not been measured on a physical
#: chart here.
COLORCHECKER_PITCH_MM = 45.0


@dataclass(frozen=True)
class ColourCardReading:
    """A ColorChecker Classic found in a photo.

    Attributes
    ----------
    patches_rgb : numpy.ndarray
        (24, 3) float64 mean sRGB-encoded values in 0..1 of each patch's central
        ~50 % area, in the standard order of :data:`COLORCHECKER_NAMES` (dark
        skin, light skin, blue sky, foliage, ..., white 9.5, ..., black 2),
        whatever the chart's orientation in the photo.
    corners : numpy.ndarray
        (4, 2) float64 ``(x, y)`` corners in full-resolution image pixels
        (pixel centres at integers) of the box around the patch grid, with a
        margin of one tenth of a patch: ``corners[0]`` is next to dark skin,
        ``corners[1]`` next to bluish green, ``corners[2]`` next to black 2 and
        ``corners[3]`` next to white 9.5 (top-left, top-right, bottom-right,
        bottom-left of an upright, unmirrored chart).  The printed card's own
        border lies further out.
    confidence : float
        ``1 - cost / max_error`` clipped to 0..1, where ``cost`` is the cv2.mcc
        detector's cost of the chart (mean over patches of a colour-direction
        mismatch with its reference plus the within-patch variance, on the
        reduced copy) and ``max_error`` (0.1) is the largest cost the detector
        accepts.  In our tests a clean chart under neutral light scores about
        0.99 and one under a strong colour cast 0.92-0.97; noise, blur and
        glare lower it.  It says how clean the chart looks, not whether it is
        one: every reading returned has passed the colour checks above.
    """

    patches_rgb: np.ndarray
    corners: np.ndarray
    confidence: float


def chart_mm2_per_pixel(corners: np.ndarray) -> float:
    """Area (mm²) of one image pixel at the chart, from the corners of a chart's patch box.

    The box (:attr:`ColourCardReading.corners`) is ``CARD_BOX_UNITS`` model units across,
    2.75 units to a patch pitch of :data:`COLORCHECKER_PITCH_MM`; its area in mm² over its
    area in pixels (shoelace formula) is the scale at the chart, whatever the chart's
    rotation. Skin at another distance from the camera than the chart is at another scale.

    Examples
    --------
    >>> box = np.array([[0, 0], [167.5, 0], [167.5, 112.5], [0, 112.5]])  # 10 px per model unit
    >>> round(chart_mm2_per_pixel(box), 3)  # (45 mm / 27.5 px)^2
    2.678
    """
    check_array(np.asarray(corners), "corners", "(4, 2) finite pixel positions (x, y)", shapes=((4, 2),),
                dtypes="uif", finite=True)
    x, y = np.asarray(corners, float).T
    area_px = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    if area_px <= 0:
        raise ValueError("corners enclose no area; they must be the four corners of a chart's patch box")
    mm_per_unit = COLORCHECKER_PITCH_MM / _PITCH
    return CARD_BOX_UNITS[0] * CARD_BOX_UNITS[1] * mm_per_unit**2 / area_px


def find_colour_card(rgb: np.ndarray, max_side: int = 1600) -> ColourCardReading | None:
    """Find a ColorChecker Classic (24 patches) in an H x W x 3 uint8 sRGB image; None when there is none.

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 RGB image (an alpha channel is ignored; a single-channel
        image has no colours to check and gives None).
    max_side : int, optional
        Longest side, in pixels, of the reduced copy the detector runs on.  The
        patch colours are always measured on the full-resolution image.

    Returns
    -------
    ColourCardReading or None
        The chart's patch colours, corners and detector confidence, or None when
        no chart is found, its geometry is implausible, or its colours do not
        fit the ColorChecker Classic in any orientation.

    Raises
    ------
    ValueError
        If ``rgb`` is not an H x W, H x W x 3 or H x W x 4 uint8 array (when it
        is not a uint8 array the error is also a TypeError), or ``max_side`` is
        below 100.

    Notes
    -----
    Never raises on an ordinary photo: any error inside ``cv2.mcc``, or a
    numerical failure while reading a candidate, means "no chart".  On a
    2-core machine a 2048-pixel photo without a chart takes about 0.12-0.25 s
    (detection on the 1600-pixel copy dominates); a photo with a chart takes
    about 0.1-0.2 s more for the corner refinement and measurement.

    A chart is found reliably when its patches are at least ~25 px wide on the
    ``max_side`` copy (a chart over ~12 % of the photo's width at the default).
    Heavily clipped charts (fewer than 12 patches unsaturated) are rejected,
    since no colour correction could be fitted from them.

    Mirrored charts (front-camera photos) are accepted and returned in the
    standard order, like upside-down ones.  Charts seen at a right angle (the
    6-patch side vertical in the image) are accepted too; the orientation is
    decided by the patch colours, not by the image axes.

    References
    ----------
    .. [1] McCamy, C. S., Marcus, H., Davidson, J. G. (1976). A color-rendition
           chart. J. Appl. Photogr. Eng. 2(3), 95-99.
    .. [2] X-Rite. ColorChecker Classic (24 patches), product documentation and
           "New color specifications for ColorChecker SG and Classic charts"
           (2016).
    """
    check_array(rgb, "rgb", "an H x W x 3 uint8 sRGB image (H x W x 4 and H x W are accepted too)",
                shapes=((None, None), (None, None, 3), (None, None, 4)), dtypes=(np.dtype(np.uint8),), empty=True)
    check_number(max_side, "max_side", minimum=100)
    if rgb.ndim == 2:
        return None  # no colours to check
    image = np.ascontiguousarray(rgb[:, :, :3])
    h, w = image.shape[:2]
    if min(h, w) < 32:
        return None

    scale = min(1.0, float(max_side) / max(h, w))
    small = image
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        # the resize rounds each side; keep the exact per-axis factor
        sx, sy = size[0] / w, size[1] / h
    else:
        sx = sy = 1.0

    candidates = _detect(small)
    for box_small, cost in candidates:
        box = np.asarray(box_small, np.float64).reshape(4, 2)
        box = (box + 0.5) / np.array([sx, sy]) - 0.5  # pixel centres at integers
        try:
            reading = _read_candidate(image, box, cost)
        except (cv2.error, np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            reading = None  # a degenerate candidate, not a reason to fail the photo
        if reading is not None:
            return reading
    return None


# --------------------------------------------------------------------------- #
# detection


_MAX_COST = 0.1  # the detector's own acceptance limit (DetectorParametersMCC.maxError)


def _detect(small_rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Run cv2.mcc; return candidate boxes (reduced-copy pixels) best first."""
    try:
        detector = cv2.mcc.CCheckerDetector.create()
        detector.setColorChartType(cv2.mcc.MCC24)
        # No network is loaded; with the flag left on, process() tries the empty
        # net before falling back to the contour path anyway.
        detector.setUseDnnModel(False)
        params = detector.getDetectionParams()
        params.maxError = _MAX_COST
        detector.setDetectionParams(params)
        bgr = cv2.cvtColor(small_rgb, cv2.COLOR_RGB2BGR)
        # Ask for a few charts: the detector's best by its cost may fail our
        # stricter checks while a runner-up passes.
        if not detector.process(bgr, 3):
            return []
        out = []
        for checker in detector.getListColorChecker():
            box = np.asarray(checker.getBox(), np.float64).reshape(-1, 2)
            cost = float(checker.getCost())
            if box.shape == (4, 2) and np.all(np.isfinite(box)) and np.isfinite(cost):
                out.append((box, cost))
        out.sort(key=lambda bc: bc[1])
        return out
    except Exception:  # noqa: BLE001 - any failure inside cv2.mcc means "no chart"
        return []


# --------------------------------------------------------------------------- #
# geometry


def _model_box() -> np.ndarray:
    bw, bh = CARD_BOX_UNITS
    return np.array([[0.0, 0.0], [bw, 0.0], [bw, bh], [0.0, bh]])


def _plausible_quad(box: np.ndarray, shape: tuple[int, int]) -> bool:
    """Reject boxes no real chart photo produces, before any sampling."""
    h, w = shape
    if not np.all(np.isfinite(box)):
        return False
    if not cv2.isContourConvex(box.astype(np.float32).reshape(-1, 1, 2)):
        return False
    sides = np.linalg.norm(box - np.roll(box, -1, axis=0), axis=1)
    pairs = ((sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2)
    long_pair, short_pair = max(pairs), min(pairs)
    # a patch must span enough pixels for a mean to mean something (~8 px)
    if min(long_pair, short_pair) / CARD_BOX_UNITS[1] * _PATCH < 8:
        return False
    # the model box is 1.49:1; allow for foreshortening, not for a square
    aspect = long_pair / short_pair
    if not 1.1 < aspect < 2.5:
        return False
    # opposite sides: strong perspective means a grazing view, useless colours
    if max(sides[0], sides[2]) > 2 * min(sides[0], sides[2]):
        return False
    if max(sides[1], sides[3]) > 2 * min(sides[1], sides[3]):
        return False
    for i in range(4):
        a = box[i - 1] - box[i]
        b = box[(i + 1) % 4] - box[i]
        cosang = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        if abs(cosang) > np.cos(np.radians(50)):  # interior angle outside 50..130 deg
            return False
    # the box hugs the patches, so it must lie (nearly) inside the frame
    tol = 0.5 * min(long_pair, short_pair) / CARD_BOX_UNITS[1]
    if np.any(box < -tol) or np.any(box[:, 0] > w - 1 + tol) or np.any(box[:, 1] > h - 1 + tol):
        return False
    return True


def _long_side_first(box: np.ndarray) -> np.ndarray:
    """Roll the corners so that edge 0-1 is one of the long (6-patch) edges."""
    sides = np.linalg.norm(box - np.roll(box, -1, axis=0), axis=1)
    if sides[0] + sides[2] >= sides[1] + sides[3]:
        return box
    return np.roll(box, -1, axis=0)


def _homography(box: np.ndarray) -> np.ndarray:
    return cv2.getPerspectiveTransform(
        _model_box().astype(np.float32), box.astype(np.float32)
    ).astype(np.float64)


def _project(hom: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float64), hom).reshape(-1, 2)


# --------------------------------------------------------------------------- #
# sampling


def _pixels_per_unit(box: np.ndarray) -> float:
    sides = np.linalg.norm(box - np.roll(box, -1, axis=0), axis=1)
    native = max(sides[0] + sides[2], sides[1] + sides[3]) / 2 / CARD_BOX_UNITS[0]
    # match the photo's resolution (bilinear sampling then averages every pixel)
    # but cap it: beyond ~40 px per unit more samples add time, not accuracy
    return float(np.clip(native, 4.0, 40.0))


def _rectify(image: np.ndarray, hom: np.ndarray, ppu: float) -> np.ndarray:
    """Resample the chart box into model coordinates at ``ppu`` pixels per unit."""
    bw, bh = CARD_BOX_UNITS
    size = (int(np.ceil(bw * ppu)), int(np.ceil(bh * ppu)))
    canon_to_image = hom @ np.linalg.inv(_to_pixels(ppu))
    return cv2.warpPerspective(
        image,
        canon_to_image,
        size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _patch_stats(rect: np.ndarray, ppu: float, frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (0..1) of each patch's central square of side ``frac`` x patch.

    Returns (4, 6, 3) arrays in the grid order of the rectified image.
    """
    means = np.empty((_ROWS, _COLS, 3))
    stds = np.empty((_ROWS, _COLS, 3))
    half = 0.5 * _PATCH * frac
    for r in range(_ROWS):
        for c in range(_COLS):
            cx = _MARGIN + c * _PITCH + _PATCH / 2
            cy = _MARGIN + r * _PITCH + _PATCH / 2
            x0 = int(np.ceil((cx - half) * ppu - 0.5))
            x1 = int(np.floor((cx + half) * ppu - 0.5)) + 1
            y0 = int(np.ceil((cy - half) * ppu - 0.5))
            y1 = int(np.floor((cy + half) * ppu - 0.5)) + 1
            block = rect[y0:y1, x0:x1].reshape(-1, 3).astype(np.float64) / 255.0
            means[r, c] = block.mean(axis=0)
            stds[r, c] = block.std(axis=0)
    return means, stds


def _to_pixels(ppu: float) -> np.ndarray:
    """Model units -> pixels of a ``ppu`` resampling, pixel centres at integers."""
    return np.array([[ppu, 0.0, -0.5], [0.0, ppu, -0.5], [0.0, 0.0, 1.0]])


def _coverage(n: int, lo: float, hi: float) -> np.ndarray:
    """Fraction of each of ``n`` pixels (centres at integers) inside [lo, hi]."""
    centres = np.arange(n, dtype=np.float64)
    return np.clip(np.minimum(centres + 0.5, hi) - np.maximum(centres - 0.5, lo), 0.0, 1.0)


def _render_model(grid: np.ndarray, body: np.ndarray, ppu: float) -> np.ndarray:
    """Paint the chart model (patch means on the body colour) at ``ppu``.

    Edges are anti-aliased by exact pixel coverage, so the template has no
    half-pixel bias whatever ``ppu`` is.
    """
    bw, bh = CARD_BOX_UNITS
    h, w = int(np.ceil(bh * ppu)), int(np.ceil(bw * ppu))
    out = np.empty((h, w, 3), np.float64)
    out[:] = body
    for r in range(_ROWS):
        y0 = _MARGIN + r * _PITCH
        cov_y = _coverage(h, y0 * ppu - 0.5, (y0 + _PATCH) * ppu - 0.5)
        for c in range(_COLS):
            x0 = _MARGIN + c * _PITCH
            cov_x = _coverage(w, x0 * ppu - 0.5, (x0 + _PATCH) * ppu - 0.5)
            alpha = (cov_y[:, None] * cov_x[None, :])[:, :, None]
            out += alpha * (grid[r, c] - body)
    return out.astype(np.float32)


def _ecc_level(
    region: np.ndarray,
    origin: tuple[int, int],
    hom: np.ndarray,
    template: np.ndarray,
    ppu: float,
    native: float,
    motion: int,
    blur: int,
) -> tuple[np.ndarray, float, float]:
    """One ECC pass at ``ppu`` pixels per unit, in the chart's rectified frame.

    The photo is resampled into model coordinates through ``hom`` (with a
    one-unit margin), so what is left to find is a small, nearly affine
    correction.  Returns the corrected model->image homography, and the
    correlation of ``template`` with the photo before and after.
    """
    x0, y0 = origin
    f = min(1.0, ppu / native)
    if f < 1.0:
        # reduce by area first: bilinear resampling alone would alias the edges
        size = (max(1, round(region.shape[1] * f)), max(1, round(region.shape[0] * f)))
        crop = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    else:
        crop = region
    fx = crop.shape[1] / region.shape[1]
    fy = crop.shape[0] / region.shape[0]
    # image pixel -> crop pixel, pixel centres at integers in both
    to_crop = np.array(
        [[fx, 0.0, (0.5 - x0) * fx - 0.5], [0.0, fy, (0.5 - y0) * fy - 0.5], [0.0, 0.0, 1.0]]
    )
    margin = 1.0
    to_rect = np.array(
        [[ppu, 0.0, margin * ppu - 0.5], [0.0, ppu, margin * ppu - 0.5], [0.0, 0.0, 1.0]]
    )
    bw, bh = CARD_BOX_UNITS
    rect_size = (int(np.ceil((bw + 2 * margin) * ppu)), int(np.ceil((bh + 2 * margin) * ppu)))
    rect = cv2.warpPerspective(
        crop.astype(np.float32) / 255.0,
        to_crop @ hom @ np.linalg.inv(to_rect),
        rect_size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    to_template = _to_pixels(ppu)
    warp0 = to_rect @ np.linalg.inv(to_template)  # template px -> rectified px
    size = (template.shape[1], template.shape[0])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    cc0 = cv2.computeECC(template, cv2.warpPerspective(rect, warp0, size, flags=flags))
    init = warp0 if motion == cv2.MOTION_HOMOGRAPHY else warp0[:2]
    _, warp = cv2.findTransformECC(
        template,
        rect,
        init.astype(np.float32),
        motion,
        (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-6),
        None,
        blur,
    )
    warp = warp.astype(np.float64)
    if warp.shape[0] == 2:
        warp = np.vstack([warp, [0.0, 0.0, 1.0]])
    # ECC's own figure is on blurred copies; judge both warps the same way
    cc1 = cv2.computeECC(template, cv2.warpPerspective(rect, warp, size, flags=flags))
    new_hom = hom @ np.linalg.inv(to_rect) @ warp @ to_template
    return new_hom / new_hom[2, 2], float(cc0), float(cc1)


def _refine_box(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Sub-pixel chart corners by ECC alignment of the painted model to the photo.

    Coarse to fine, each pass in the frame rectified by the current estimate:
    an affine pass at ~8 px per unit pulls the box in from the detector's
    error (typically 5-10 px, over 20 px at a corner of a small chart), a
    homography pass at ~16 px per unit pins the patch edges.  (OpenCV's
    homography ECC drifts away from the truth at coarse scales; its affine one
    does not.)  A pass is kept only if it raises the
    correlation; the box is returned unchanged when alignment fails or moves
    the corners implausibly far.
    """
    hom = _homography(box)
    sides = np.linalg.norm(box - np.roll(box, -1, axis=0), axis=1)
    native = max(sides[0] + sides[2], sides[1] + sides[3]) / 2 / CARD_BOX_UNITS[0]

    # Paint the template with colours measured through the unrefined box: the
    # inner 40 % of each patch is safe from the detector's corner error.
    ppu0 = _pixels_per_unit(box)
    rect = _rectify(image, hom, ppu0)
    grid, _ = _patch_stats(rect, ppu0, 0.4)
    body = np.percentile(rect.reshape(-1, 3), 5, axis=0) / 255.0

    pad = 1.5 * native
    x0 = int(max(0, np.floor(box[:, 0].min() - pad)))
    y0 = int(max(0, np.floor(box[:, 1].min() - pad)))
    x1 = int(min(image.shape[1], np.ceil(box[:, 0].max() + pad) + 1))
    y1 = int(min(image.shape[0], np.ceil(box[:, 1].max() + pad) + 1))
    region = image[y0:y1, x0:x1]

    best_cc = None
    for ppu, motion, blur in ((8.0, cv2.MOTION_AFFINE, 3), (16.0, cv2.MOTION_HOMOGRAPHY, 3)):
        ppu = min(ppu, native)
        template = _render_model(grid, body, ppu)
        try:
            new_hom, cc0, cc1 = _ecc_level(
                region, (x0, y0), hom, template, ppu, native, motion, blur
            )
        except cv2.error:
            continue
        if np.isfinite(cc1) and cc1 > cc0 and np.all(np.isfinite(new_hom)):
            hom, best_cc = new_hom, cc1
    if best_cc is None or best_cc < 0.8:
        return box
    refined = _project(hom, _model_box())
    # The detector can be off by more than a gap (over a unit at a corner for
    # small charts), but a jump near a whole pitch (2.75 units) would mean ECC
    # slid onto the neighbouring patches.
    if not np.all(np.isfinite(refined)):
        return box
    if np.max(np.linalg.norm(refined - box, axis=1)) > 1.5 * native:
        return box
    return refined


# --------------------------------------------------------------------------- #
# orientation and verification


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


_REF_LINEAR = _srgb_to_linear(COLORCHECKER_SRGB)

# The four orderings of the 4 x 6 grid that keep its shape: name, grid transform,
# and the corner permutation that moves corners[0] to the dark-skin corner.
_ORIENTATIONS = (
    ("upright", lambda g: g, (0, 1, 2, 3)),
    ("rotated 180", lambda g: g[::-1, ::-1], (2, 3, 0, 1)),
    ("mirrored left-right", lambda g: g[:, ::-1], (1, 0, 3, 2)),
    ("mirrored top-bottom", lambda g: g[::-1, :], (3, 2, 1, 0)),
)

_MAX_FIT_RESIDUAL = 0.3  # normalised RMS residual of the affine colour fit
_MAX_GREY_SPREAD = 0.3  # grey-row chromaticity spread / colour patches' spread
_MAX_PATCH_STD = 0.1  # median within-patch std (0..1): patches must be flat


def _fit_residual(meas_lin: np.ndarray) -> float:
    """How well one affine map in linear RGB takes the patches to the reference.

    0 for a chart photographed under any illuminant that a 3 x 3 matrix plus an
    offset (flare) explains; about 0.6-1 for a wrong patch order.
    """
    usable = meas_lin.max(axis=1) < _srgb_to_linear(np.array(0.985))  # not clipped
    if usable.sum() < 12:
        return np.inf
    x = np.hstack([meas_lin[usable], np.ones((int(usable.sum()), 1))])
    y = _REF_LINEAR[usable]
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    spread = y - y.mean(axis=0)
    return float(np.sqrt(np.mean(resid**2) / np.mean(spread**2)))


def _balance_from_greys(meas_lin: np.ndarray) -> np.ndarray | None:
    """The patches with each channel mapped by the gain and offset that take the chart's greys to neutral.

    Per channel, a straight line through (reference grey, measured grey) of
    neutral 8 to neutral 3.5 (white may clip, black is mostly noise and
    flare), fitted by least squares, is inverted. A camera that was not
    white-balanced scales each channel by its own gain, and lens flare or a
    wrong black level adds an offset; both vanish here, so the checks after it
    judge the chart, not the light. None when a channel's greys do not get
    brighter with the reference (no gain to invert).
    """
    ref = _REF_LINEAR[19:23].mean(axis=1)
    design = np.c_[ref, np.ones_like(ref)]
    (gain, offset), *_ = np.linalg.lstsq(design, meas_lin[19:23], rcond=None)
    if np.any(gain <= 1e-4):
        return None
    return (meas_lin - offset) / gain


def _grey_row_ok(meas_lin: np.ndarray) -> bool:
    """Patches 19-24 must get darker left to right and, once balanced on themselves, be one chromaticity.

    The chromaticities are compared after :func:`_balance_from_greys`: under a
    strong cast the colours of the raw patches crowd towards the cast and an
    offset spreads the greys along it, which would reject a real chart.
    """
    grey = meas_lin[18:24]
    luma = grey @ _SRGB_LUMA
    # white may clip to the same value as neutral 8; the others must step down
    if luma[0] < luma[1] - 0.01 or not np.all(luma[1:-1] > 1.05 * luma[2:]):
        return False
    if luma[0] < 3.0 * luma[5]:
        return False
    balanced = _balance_from_greys(meas_lin)
    if balanced is None:
        return False
    chroma = balanced / np.maximum(np.abs(balanced).sum(axis=1, keepdims=True), 1e-6)
    mid = chroma[19:23]
    centre = np.median(mid, axis=0)
    grey_spread = np.max(np.linalg.norm(mid - centre, axis=1))
    colour_spread = np.median(np.linalg.norm(chroma[:18] - centre, axis=1))
    return bool(grey_spread <= _MAX_GREY_SPREAD * max(colour_spread, 1e-6))


def _orient(grid: np.ndarray) -> tuple[int, np.ndarray] | None:
    """Pick the grid ordering that reads as a ColorChecker; None if none does."""
    best = None
    for k, (_, transform, _) in enumerate(_ORIENTATIONS):
        patches = transform(grid).reshape(24, 3)
        lin = _srgb_to_linear(patches)
        if not _grey_row_ok(lin):
            continue
        res = _fit_residual(lin)
        if res <= _MAX_FIT_RESIDUAL and (best is None or res < best[0]):
            best = (res, k, patches)
    if best is None:
        return None
    return best[1], best[2]


def _read_candidate(image: np.ndarray, box: np.ndarray, cost: float) -> ColourCardReading | None:
    h, w = image.shape[:2]
    if not _plausible_quad(box, (h, w)):
        return None
    box = _long_side_first(box)
    box = _refine_box(image, box)
    if not _plausible_quad(box, (h, w)):
        return None
    hom = _homography(box)
    ppu = _pixels_per_unit(box)
    rect = _rectify(image, hom, ppu)
    # side 0.7 of the patch = central ~50 % of its area
    grid, stds = _patch_stats(rect, ppu, 0.7)
    if np.median(stds.max(axis=2)) > _MAX_PATCH_STD:
        return None
    oriented = _orient(grid)
    if oriented is None:
        return None
    k, patches = oriented
    corners = box[list(_ORIENTATIONS[k][2])]
    confidence = float(np.clip(1.0 - cost / _MAX_COST, 0.0, 1.0))
    patches = np.array(patches, np.float64)
    corners = np.array(corners, np.float64)
    patches.setflags(write=False)  # the dataclass is frozen; so are its arrays
    corners.setflags(write=False)
    return ColourCardReading(patches_rgb=patches, corners=corners, confidence=confidence)
