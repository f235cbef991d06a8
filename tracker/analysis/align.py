"""Registration of a follow-up photo to the patient's baseline photo.

Three stages, all in OpenCV:

1. **Coarse**: ORB keypoints on a reduced copy of each image, Lowe's ratio
   test, and a MAGSAC++ homography; when ORB finds too little evidence, SIFT
   (slower, more distinctive) is tried before giving up. Both are scale- and
   rotation-invariant and work on local contrast, so they tolerate the ±15°
   rotation, ±20 % scale, mild perspective and lighting changes of photos taken
   at home.
2. **Refine**: a grid of textured points chosen once on the full-resolution
   baseline.  For each, a patch of the follow-up photo is resampled into the
   baseline frame through the coarse homography and located against the baseline
   template by zero-mean normalised cross-correlation (invariant to gain and
   offset, so to exposure and white balance), with a sub-pixel parabolic peak.
   The homography is re-fitted to these correspondences; two rounds suffice.
3. **Region**: a head moves and turns against its background and is not a plane,
   so when boxes to measure are given the region around them is registered on
   its own (:class:`RegionAlignment`): keypoints on the skin around the boxes give
   a homography of its own, dense DIS optical flow [4]_ on a light-invariant
   pattern the smooth displacement a plane cannot take up, and the result is
   verified by correlation and by patches located again. Measurements and the
   per-pixel maps are resampled through it; a region that cannot be verified
   makes the photo refused.

The result says whether it can be trusted (``Alignment.ok``) rather than always
returning a warp: too few consistent matches, an implausible geometry, weak
correlation after refinement, or too little overlap all give ``ok=False`` with a
sentence saying why.

References
----------
.. [1] Lowe, D. G. (2004). Distinctive image features from scale-invariant
       keypoints. IJCV 60(2), 91-110. doi:10.1023/B:VISI.0000029664.99615.94
.. [2] Barath, D., Noskova, J., Ivashechkin, M., Matas, J. (2020). MAGSAC++, a
       fast, reliable and accurate robust estimator. CVPR, 1304-1312.
.. [3] Lewis, J. P. (1995). Fast normalized cross-correlation. Vision Interface.
.. [4] Kroeger, T., Timofte, R., Dai, D., Van Gool, L. (2016). Fast optical flow
       using dense inverse search. ECCV, 471-488. doi:10.1007/978-3-319-46493-0_29
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from tracker.analysis._checks import (
    check_array,
    check_homography,
    check_image,
    check_items,
    check_number,
    check_region,
    check_rgb8,
    check_type,
)
from tracker.analysis.colour import skin_mask

__all__ = [
    "AlignmentConfig",
    "Alignment",
    "Reference",
    "prepare_reference",
    "align_to_baseline",
    "RegionAlignment",
    "warp_to_baseline",
    "resample_to_baseline",
    "baseline_to_photo",
    "light_invariant_pattern",
    "map_points",
    "resize_matrix",
    "rescale_homography",
    "rescale_region",
    "shrink",
    "shrink_to",
    "flip_matrix",
    "unmirrored",
    "flips",
    "MIRRORED_NOTE",
]


@dataclass(frozen=True)
class AlignmentConfig:
    """Tuning of the registration; the defaults suit phone and clinic photos.

    Attributes
    ----------
    detectors : tuple of str
        Keypoint detectors tried in turn, ``"orb"`` and/or ``"sift"``.
    orb_side, sift_side : int
        Longest side, in pixels, of the copies each detector works on.
    ratio : float
        Lowe's ratio-test threshold.
    min_inliers : int
        Fewest coarse inliers accepted as evidence that the photos show the same
        scene. Unrelated photos give about 4-12 chance inliers.
    min_inlier_ratio : float
        Fewest coarse inliers as a fraction of ratio-test matches.
    patch_radius : int
        Half size of the refinement template, in baseline pixels.
    search_radius : int
        How far, in baseline pixels, refinement looks beyond the coarse estimate.
    refine_points : int
        Target number of refinement points on the baseline.
    min_ncc : float
        Lowest peak correlation accepted for a refinement point.
    max_rmse_px : float
        Largest accepted root-mean-square reprojection error of the refined
        inliers, in baseline pixels.
    min_overlap : float
        Fewest of the baseline's pixels (fraction) the photo must cover.
    min_roi_coverage : float
        Fewest of the region of interest's pixels (fraction) the photo must cover.
    region_margin : float
        Margin of the region registered on its own around the measured boxes, as a fraction of
        their extent (at least ``region_min_margin`` of the baseline's longest side).
    region_min_margin : float
        Smallest margin of that region, as a fraction of the baseline's longest side.
    region_side : int
        Longest side, in pixels, of the copy of the region the dense flow is computed on.
    region_grid : int
        Nodes of the region's displacement grid along its longer side.
    min_region_inliers : int
        Fewest keypoint matches inside the region for a homography of the region's own.
    min_region_correlation : float
        Lowest correlation of the registered region with the baseline's (light-invariant pattern)
        accepted as verification.
    max_region_rmse_px : float
        Largest accepted residual of the registered region, measured by patch correlation, in
        baseline pixels (or half a pixel of the region's reduced copy, where that is coarser;
        or the blur of a photo less sharp than the baseline, where that is larger still).
    max_disagreement_px : float
        Largest distance, in baseline pixels, between where the global and the region's
        registrations put the measured boxes' corners before the two are said to disagree (a
        region that cannot be verified is then put down to the head having moved).
    region_agreement_px : float
        When the two agree this closely, the global homography (fitted on more points, at full
        resolution) is what the region is measured through.
    """

    detectors: tuple[str, ...] = ("orb", "sift")
    orb_side: int = 1024
    sift_side: int = 800
    ratio: float = 0.8
    min_inliers: int = 20
    min_inlier_ratio: float = 0.15
    patch_radius: int = 12
    search_radius: int = 4
    refine_points: int = 200
    min_ncc: float = 0.7
    max_rmse_px: float = 2.0
    min_overlap: float = 0.4
    min_roi_coverage: float = 0.95
    region_margin: float = 0.6
    region_min_margin: float = 0.05
    region_side: int = 256
    region_grid: int = 16
    min_region_inliers: int = 12
    min_region_correlation: float = 0.5
    max_region_rmse_px: float = 1.0
    max_disagreement_px: float = 2.0
    region_agreement_px: float = 0.5


Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class _Region:
    """The baseline's region around the measured boxes, prepared for registering it on its own."""

    window: Box  # (x, y, width, height), baseline pixels
    scale: float  # window-copy pixels per baseline pixel
    boxes: tuple[Box, ...]  # the measured boxes, baseline pixels
    mask: np.ndarray = field(repr=False)  # bool, window copy: the skin around the boxes
    gray: np.ndarray = field(repr=False)  # uint8 window copy of the baseline's lightness
    pattern: np.ndarray = field(repr=False)  # uint8 light-invariant pattern of the window copy
    points: np.ndarray = field(repr=False)  # (M, 2) float32 textured points, window-copy pixels
    templates: np.ndarray = field(repr=False)  # (M, 2r+1, 2r+1) uint8 patches of the pattern
    keypoints: dict = field(repr=False)  # detector -> indices of the baseline's keypoints in the mask


@dataclass(frozen=True)
class Reference:
    """Everything about the baseline that registration needs, computed once.

    Build with :func:`prepare_reference`; reusing it across a patient's photos
    makes each further photo cheaper to align.
    """

    shape: tuple[int, int]
    features: dict = field(repr=False)  # detector -> _Features
    points: np.ndarray = field(repr=False)  # (M, 2) float32 refinement points, baseline pixels
    templates: np.ndarray = field(repr=False)  # (M, 2r+1, 2r+1) uint8 baseline patches
    region: _Region | None = field(default=None, repr=False)  # around the measured boxes, when given


@dataclass(frozen=True)
class RegionAlignment:
    """Registration of the measured region (the treated area and its surroundings on the face).

    A head moves and turns against the background and is not a plane, so the region is
    registered on its own: a homography fitted to keypoints inside it, then a smooth dense
    displacement that takes up what a plane cannot (the nose moves more than the cheeks).

    Attributes
    ----------
    ok : bool
        Whether the region's registration was verified (it is used for measuring only then).
    matrix : numpy.ndarray or None
        3x3 homography fitted on the region, photo pixels to baseline pixels.
    window : tuple of int
        ``(x, y, width, height)`` of the region in baseline pixels.
    displacement : numpy.ndarray or None
        ``(rows, cols, 2)`` residual displacement ``(dx, dy)`` in baseline pixels at the centres
        of a ``rows x cols`` grid of cells over ``window``: baseline point ``p`` of the region is
        seen at photo pixel ``matrix^-1 (p + d(p))``, ``d`` interpolated bilinearly.
    rmse_px : float or None
        Root-mean-square offset, in baseline pixels, of textured patches of the registered
        region from the baseline's, located by normalised cross-correlation.
    inliers : int
        Patches that were located (correlation peak at least ``min_ncc``).
    correlation : float or None
        Zero-mean normalised correlation of the registered region with the baseline's, on a
        light-invariant pattern (locally normalised lightness), over the skin around the boxes;
        where it is lower, that around one measured box alone (each must verify).
    flow_median_px, flow_max_px : float or None
        Median and largest length of ``displacement`` over that skin, baseline pixels.
    disagreement_px : float or None
        Largest distance between where the global homography and this registration put the
        corners of the measured boxes, baseline pixels.
    method : str
        ``"keypoints+flow"`` (the region's own keypoint homography, then dense flow),
        ``"global+flow"`` (too few keypoints in the region: dense flow from the global homography)
        or ``"global"`` (the region's registration agreed with the global homography within
        ``region_agreement_px``, so ``matrix`` is the global one and ``displacement`` zero; the
        verification figures are the region's).
    reason : str or None
        One sentence saying why ``ok`` is False.
    """

    ok: bool
    matrix: np.ndarray | None
    window: Box
    displacement: np.ndarray | None = None
    rmse_px: float | None = None
    inliers: int = 0
    correlation: float | None = None
    flow_median_px: float | None = None
    flow_max_px: float | None = None
    disagreement_px: float | None = None
    method: str = "keypoints+flow"
    reason: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready form: the ``alignment.region`` object of the CLI contract."""
        rounded = lambda v, n: None if v is None else round(float(v), n)  # noqa: E731
        return {
            "ok": self.ok,
            "matrix": None if self.matrix is None else np.round(self.matrix, 9).tolist(),
            "window": [int(v) for v in self.window],
            "displacement_px": None if self.displacement is None else np.round(self.displacement, 3).tolist(),
            "rmse_px": rounded(self.rmse_px, 4),
            "inliers": self.inliers,
            "correlation": rounded(self.correlation, 4),
            "flow_median_px": rounded(self.flow_median_px, 3),
            "flow_max_px": rounded(self.flow_max_px, 3),
            "disagreement_px": rounded(self.disagreement_px, 3),
            "method": self.method,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict) -> RegionAlignment:
        """Read the ``alignment.region`` object back (as stored or printed)."""
        matrix, grid = data.get("matrix"), data.get("displacement_px")
        return cls(
            ok=bool(data.get("ok")), matrix=None if matrix is None else np.asarray(matrix, dtype=np.float64),
            window=tuple(int(v) for v in data["window"]),
            displacement=None if grid is None else np.asarray(grid, dtype=np.float32).reshape(
                len(grid), len(grid[0]) if grid else 0, 2),
            rmse_px=data.get("rmse_px"), inliers=int(data.get("inliers") or 0), correlation=data.get("correlation"),
            flow_median_px=data.get("flow_median_px"), flow_max_px=data.get("flow_max_px"),
            disagreement_px=data.get("disagreement_px"), method=str(data.get("method", "keypoints+flow")),
            reason=data.get("reason"),
        )


@dataclass(frozen=True)
class Alignment:
    """Outcome of registering one photo to the baseline.

    Attributes
    ----------
    ok : bool
        Whether the registration can be trusted.
    matrix : numpy.ndarray or None
        3x3 homography mapping photo pixel coordinates ``(x, y, 1)`` (after EXIF
        orientation, pixel centres at integers) to baseline pixel coordinates.
        ``None`` when no geometry could be estimated at all.
    inliers : int
        Refined correspondences consistent with ``matrix`` (coarse inliers when
        refinement did not run).
    matches : int
        Coarse keypoint matches that passed the ratio test.
    rmse_px : float or None
        Root-mean-square reprojection error of the inliers, baseline pixels. Above
        ``max_rmse_px`` the photo is refused, unless ``region`` is given and verified: a head
        that fills much of the frame leaves the whole photo's homography a few pixels off.
    overlap : float
        Fraction of the baseline covered by the warped photo.
    roi_coverage : float or None
        Fraction of the region of interest covered by the warped photo.
    rotation_deg, scale : float or None
        Rotation and isotropic scale of the photo relative to the baseline.
    reason : str or None
        One sentence saying why ``ok`` is False.
    detector : str or None
        The keypoint detector whose matches were used (``"orb"`` or ``"sift"``).
    refined : bool
        Whether sub-pixel refinement succeeded; when not, ``matrix`` is the
        keypoint estimate (accurate to about a pixel).
    region : RegionAlignment or None
        The registration of the measured region, when the reference was prepared with boxes
        to measure; it is what measurements use (``matrix`` elsewhere).

    For a photo that is the baseline's scene mirrored left to right (as some front cameras save
    selfies), ``matrix`` and the region's include the flip (see :func:`unmirrored`), so they
    still map the photo's own pixels to the baseline's; :attr:`mirrored` reads it from ``matrix``,
    and the CLI contract's keys stay as they are.
    """

    ok: bool
    matrix: np.ndarray | None
    inliers: int
    matches: int
    rmse_px: float | None
    overlap: float
    roi_coverage: float | None = None
    rotation_deg: float | None = None
    scale: float | None = None
    reason: str | None = None
    detector: str | None = None
    refined: bool = False
    region: RegionAlignment | None = None

    @property
    def mirrored(self) -> bool:
        """Whether the photo was matched flipped back: ``matrix`` flips (:func:`flips`)."""
        return flips(self.matrix)

    def to_dict(self) -> dict:
        """JSON-ready form used by the CLI contract."""
        return {
            "ok": self.ok,
            "matrix": None if self.matrix is None else np.round(self.matrix, 9).tolist(),
            "inliers": self.inliers,
            "matches": self.matches,
            "rmse_px": None if self.rmse_px is None else round(self.rmse_px, 4),
            "overlap": round(self.overlap, 4),
            "roi_coverage": None if self.roi_coverage is None else round(self.roi_coverage, 4),
            "rotation_deg": None if self.rotation_deg is None else round(self.rotation_deg, 3),
            "scale": None if self.scale is None else round(self.scale, 5),
            "reason": self.reason,
            "detector": self.detector,
            "refined": self.refined,
            "region": None if self.region is None else self.region.to_dict(),
        }


@dataclass(frozen=True)
class _Features:
    scale: float  # of the reduced copy the keypoints were found on
    keypoints: np.ndarray  # (N, 2) float32, reduced-copy pixels
    descriptors: np.ndarray | None


_MAX_FEATURES = {"orb": 2000, "sift": 2000}
_NORMS = {"orb": cv2.NORM_HAMMING, "sift": cv2.NORM_L2}
REFINE_ROUNDS = 2


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an 8-bit sRGB image as uint8 (what OpenCV calls gray)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def resize_matrix(s: float | tuple[float, float]) -> np.ndarray:
    """Map pixel-centre coordinates of an image to those of a copy resized by ``s`` (or ``(sx, sy)``)."""
    sx, sy = _scale_pair(s, "s")
    # With pixel centres at integers, resizing maps x to (x + 0.5) * s - 0.5.
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], dtype=np.float64)


def _scale_pair(s: float | tuple[float, float], name: str) -> tuple[float, float]:
    """``(sx, sy)`` of a scale given as one number or a pair; ValueError unless both are positive."""
    pair = (s, s) if np.ndim(s) == 0 else s
    check_items(pair, name, "a positive number or a pair (sx, sy) of them", (2,))
    for value in pair:
        check_number(value, name, above=0)
    return pair[0], pair[1]


def rescale_homography(matrix: np.ndarray, photo_scale: float | tuple[float, float] = 1.0,
                       baseline_scale: float | tuple[float, float] = 1.0) -> np.ndarray:
    """A photo-to-baseline homography re-expressed for resized copies of the two images.

    ``photo_scale`` and ``baseline_scale`` are how much each image was resized from the one
    ``matrix`` was estimated on (0.5: half the size; a pair ``(sx, sy)`` per axis). A
    scale of ``1 / s`` undoes a resize by ``s``.

    Examples
    --------
    >>> m = rescale_homography(np.eye(3), photo_scale=0.5, baseline_scale=0.5)
    >>> bool(np.allclose(m, np.eye(3)))
    True
    """
    matrix = check_homography(matrix, "matrix")
    _scale_pair(photo_scale, "photo_scale")
    _scale_pair(baseline_scale, "baseline_scale")
    return resize_matrix(baseline_scale) @ matrix @ np.linalg.inv(resize_matrix(photo_scale))


def rescale_region(region: RegionAlignment, photo_scale: float | tuple[float, float]) -> RegionAlignment:
    """A region's registration re-expressed for a copy of the photo resized by ``photo_scale``.

    As :func:`rescale_homography` for the global homography; the region's window and
    displacement are in baseline pixels and do not change.
    """
    check_type(region, RegionAlignment, "region", "a RegionAlignment")
    _scale_pair(photo_scale, "photo_scale")
    return region if region.matrix is None else replace(region, matrix=rescale_homography(region.matrix, photo_scale))


def shrink(image: np.ndarray, scale: float) -> tuple[np.ndarray, float, float]:
    """Downscale by area averaging; returns the image and its exact scale per axis.

    With pixel centres at integers, output pixel ``x'`` sits at input
    ``(x' + 0.5) / sx - 0.5`` (likewise y). OpenCV's area averaging is several
    times faster for whole-number factors, so a large reduction is done as a
    whole-number step (dropping at most ``k - 1`` edge pixels) and then the
    small remainder. ``image`` is H x W or H x W x C, of a dtype OpenCV
    resamples (uint8, uint16, int16, float32, float64).

    Total for every positive scale and every shape: a side never shrinks below
    one pixel, so a very long, thin image still gives an image (of one row or
    column) rather than an OpenCV error.
    """
    check_image(image, "image")
    check_number(scale, "scale", above=0)
    h, w = image.shape[:2]
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    # The whole-number step must leave at least one pixel on the shorter side.
    k = min(int(1.0 / scale), h, w) if scale <= 0.5 else 1
    if k >= 2:
        w, h = w // k, h // k
        image = cv2.resize(image[: h * k, : w * k], (w, h), interpolation=cv2.INTER_AREA)
    if (w, h) != target:
        image = cv2.resize(image, target, interpolation=cv2.INTER_AREA)
    return image, target[0] / w / k, target[1] / h / k


#: A reduced copy asked for at a long side of ``side`` px may be as small as this fraction of it
#: when whole halvings reach it (:func:`shrink_to`): halving is OpenCV's fastest area reduction (a
#: 12-MP photo to 1000 px in about 3 ms, against about 16-25 ms through a factor of 3 and a
#: remainder to 1024 px; BENCHMARKS.md, section 1).
HALVING_SLACK = 0.95


def shrink_to(image: np.ndarray, side: int) -> tuple[np.ndarray, float, float]:
    """Reduce ``image`` to a long side of about ``side`` px; returns the image and its exact scale per axis.

    Whole halvings first, while the long side stays at least :data:`HALVING_SLACK` x ``side``
    (dropping, as :func:`shrink` does, the ``k - 1`` edge pixels past a multiple of the factor
    ``k``); then, if the copy is still longer than ``side``, the remainder to the size
    :func:`shrink` would give (``side`` px long). A 4000 x 3000 photo gives 1000 x 750 (exactly a
    quarter), an 8-MP 3264 x 2448 one 1632 x 1224 and then 1024 x 768. Where that is one halving
    or none (up to ``1.9 side`` px, and from ``2 side + 2`` to ``3 side``), the result is
    :func:`shrink`'s to ``side`` px, pixel for pixel. An image no longer than ``side`` is returned
    as it is, at scale 1.
    """
    check_image(image, "image")
    check_number(side, "side", above=0)
    h, w = image.shape[:2]
    if max(h, w) <= side:
        return image, 1.0, 1.0
    k = 1
    while max(h, w) // (2 * k) >= HALVING_SLACK * side and min(h, w) // (2 * k) >= 1:
        k *= 2
    out = image[: h // k * k, : w // k * k]
    for _ in range(k.bit_length() - 1):
        out = cv2.resize(out, (out.shape[1] // 2, out.shape[0] // 2), interpolation=cv2.INTER_AREA)
    oh, ow = out.shape[:2]
    if max(oh, ow) <= side:
        return out, 1.0 / k, 1.0 / k
    # The size shrink would give the whole image, so that with one halving or none this is shrink.
    scale = side / max(h, w)
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = cv2.resize(out, target, interpolation=cv2.INTER_AREA)
    return out, target[0] / ow / k, target[1] / oh / k


def _work_copy(gray: np.ndarray, work_side: int) -> tuple[np.ndarray, float]:
    small, sx, sy = shrink_to(gray, work_side)
    # The exact scale per axis differs by rounding; use the mean, error < 0.1 %.
    return small, 0.5 * (sx + sy)


def _detect(gray: np.ndarray, detector: str, config: AlignmentConfig,
            preview: tuple[np.ndarray, float] | None = None) -> _Features:
    side = config.orb_side if detector == "orb" else config.sift_side
    if preview is not None and max(preview[0].shape[:2]) >= HALVING_SLACK * min(side, max(gray.shape)):
        # A reduced copy the caller already made: shrinking it is far cheaper
        # than shrinking the full photo again.
        small, s = _work_copy(preview[0], side)
        s *= preview[1]
    else:
        small, s = _work_copy(gray, side)
    if detector == "orb":
        # A low FAST threshold finds corners in low-contrast skin too.
        finder = cv2.ORB_create(nfeatures=_MAX_FEATURES["orb"], fastThreshold=10)
    else:
        finder = cv2.SIFT_create(nfeatures=_MAX_FEATURES["sift"])
    kps, desc = finder.detectAndCompute(small, None)
    return _Features(s, np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2), desc)


def _refinement_points(gray: np.ndarray, n: int, r: int) -> np.ndarray:
    """Textured points spread over the baseline, at least ``r`` from its edges."""
    h, w = gray.shape
    # Detect on a copy of at most ~1200 px for speed, then pick a spread subset.
    small, s = _work_copy(gray, 1200)
    corners = cv2.goodFeaturesToTrack(
        small, maxCorners=n, qualityLevel=0.005, minDistance=max(4.0, min(small.shape) / 40),
        blockSize=5,
    )
    if corners is None:
        return np.empty((0, 2), np.float32)
    pts = corners.reshape(-1, 2).astype(np.float64)
    pts = (pts + 0.5) / s - 0.5
    margin = r + 8
    keep = (pts[:, 0] >= margin) & (pts[:, 0] < w - margin) & (pts[:, 1] >= margin) & (pts[:, 1] < h - margin)
    return np.round(pts[keep]).astype(np.float32)


def prepare_reference(baseline_rgb: np.ndarray, config: AlignmentConfig = AlignmentConfig(),
                      boxes: tuple[Box, ...] | None = None) -> Reference:
    """Pre-compute the baseline's keypoints and refinement templates.

    Parameters
    ----------
    baseline_rgb : numpy.ndarray
        H x W x 3 uint8 sRGB baseline photo.
    config : AlignmentConfig
    boxes : tuple of tuple of int, optional
        The boxes ``(x, y, width, height)`` that will be measured (the treated area and its
        control), baseline pixels. The region around them is then prepared for registering it
        on its own (:class:`RegionAlignment`).

    Returns
    -------
    Reference

    Raises
    ------
    ValueError
        ``baseline_rgb`` is not an H x W x 3 uint8 image, or a box is not four numbers with a
        positive size.
    """
    check_rgb8(baseline_rgb, "baseline_rgb")
    check_type(config, AlignmentConfig, "config", "an AlignmentConfig")
    if boxes is not None:
        check_items(boxes, "boxes", "boxes (x, y, width, height)", tuple(range(1, 9)))
        for box in boxes:
            check_region(box, "box", positive=True)
    gray8 = luminance(baseline_rgb)
    r = config.patch_radius
    pts = _refinement_points(gray8, config.refine_points, r)
    templates = np.stack(
        [gray8[int(y) - r : int(y) + r + 1, int(x) - r : int(x) + r + 1] for x, y in pts]
    ) if len(pts) else np.empty((0, 2 * r + 1, 2 * r + 1), np.uint8)
    # Flat templates cannot be located by correlation: drop them once, here.
    textured = templates.reshape(len(templates), -1).std(axis=1) >= 1.0
    pts, templates = pts[textured], templates[textured]
    features = {d: _detect(gray8, d, config) for d in config.detectors}
    return Reference(
        shape=gray8.shape, features=features, points=pts, templates=templates,
        region=None if not boxes else _prepare_region(baseline_rgb, gray8, features, tuple(boxes), config),
    )


# --- the measured region, registered on its own --------------------------------------------

_REGION_PATCH = 8  # half size of the verification templates, window-copy pixels
_REGION_SEARCH = 3  # how far verification looks for them, window-copy pixels
_PATTERN_SIGMA = 3.0  # scale of the local normalisation, window-copy pixels


def _region_window(boxes: tuple[Box, ...], shape: tuple[int, int], config: AlignmentConfig) -> Box:
    """The boxes' bounding box with a margin, inside the image."""
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    h, w = shape
    m = max(config.region_margin * max(x1 - x0, y1 - y0), config.region_min_margin * max(h, w))
    x0, y0 = int(max(0, np.floor(x0 - m))), int(max(0, np.floor(y0 - m)))
    x1, y1 = int(min(w, np.ceil(x1 + m))), int(min(h, np.ceil(y1 + m)))
    return x0, y0, x1 - x0, y1 - y0


def light_invariant_pattern(gray: np.ndarray, sigma: float = _PATTERN_SIGMA) -> np.ndarray:
    """Lightness normalised to zero mean and unit contrast over a Gaussian neighbourhood, as uint8.

    ``(g - G*g) / sqrt(G*(g - G*g)^2 + c^2)`` with ``G`` a Gaussian of ``sigma`` pixels and
    ``c`` = 2 grey levels (so that flat, noisy skin is not blown up), mapped to ``128 + 40 n``.
    A gain and an offset of the light cancel exactly, a gamma change nearly; what is left is
    the pattern of the skin, which dense flow and correlation compare. ``gray`` is an H x W
    uint8 image.
    """
    check_array(gray, "gray", "an H x W uint8 image", shapes=((None, None),), dtypes=(np.dtype(np.uint8),))
    check_number(sigma, "sigma", above=0)
    g = gray.astype(np.float32)
    detail = g - cv2.GaussianBlur(g, (0, 0), sigma)
    contrast = np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), sigma) + 4.0)
    return np.clip(128 + 40 * detail / contrast, 0, 255).astype(np.uint8)


def _in_window(box: Box, window: Box, scale: float, margin: float = 0.0) -> tuple[slice, slice]:
    """The window-copy pixels (rows, columns) a baseline box covers, widened by ``margin`` of its longest side."""
    bx, by, bw, bh = box
    wx, wy, _, _ = window
    m = margin * max(bw, bh)
    x0, y0 = max(0, int((bx - m - wx) * scale)), max(0, int((by - m - wy) * scale))
    x1, y1 = int(np.ceil((bx + bw + m - wx) * scale)), int(np.ceil((by + bh + m - wy) * scale))
    return slice(y0, y1), slice(x0, x1)


def _prepare_region(baseline_rgb: np.ndarray, gray8: np.ndarray, features: dict, boxes: tuple[Box, ...],
                    config: AlignmentConfig) -> _Region:
    """The window around the boxes, its skin, textured points to verify with, and the keypoints on that skin."""
    window = _region_window(boxes, gray8.shape, config)
    x, y, w, h = window
    s = min(1.0, config.region_side / max(w, h))
    # The window copy is made as the photo's will be, so that both share one pixel grid.
    gray = resample_to_baseline(gray8, np.eye(3), window, s)[0]
    rgb = resample_to_baseline(baseline_rgb, np.eye(3), window, s)[0]
    seeds = np.zeros(gray.shape, np.uint8)
    for box in boxes:
        seeds[_in_window(box, window, s)] = 1
    # The skin connected to the boxes (the face they are drawn on), not the rest of the window.
    skin = skin_mask(rgb).astype(np.uint8)
    skin = cv2.morphologyEx(skin, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    _, labels = cv2.connectedComponents(skin | seeds, connectivity=8)
    touched = np.unique(labels[seeds > 0])
    mask = np.isin(labels, touched[touched > 0])
    if mask.mean() < 0.1:  # too little skin found to register: the window itself
        mask = np.ones_like(mask)
    r = _REGION_PATCH
    inner = cv2.erode(mask.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8))
    inner[: r + _REGION_SEARCH + 1] = inner[-(r + _REGION_SEARCH + 1):] = 0
    inner[:, : r + _REGION_SEARCH + 1] = inner[:, -(r + _REGION_SEARCH + 1):] = 0
    corners = cv2.goodFeaturesToTrack(gray, maxCorners=60, qualityLevel=0.01,
                                      minDistance=max(4.0, max(gray.shape) / 20), blockSize=5, mask=inner)
    pts = np.empty((0, 2), np.float32) if corners is None else np.round(corners.reshape(-1, 2)).astype(np.float32)
    pattern = light_invariant_pattern(gray)
    templates = _patches(pattern, pts, r)
    textured = templates.reshape(len(templates), -1).std(axis=1) >= 1.0
    keypoints = {}
    for detector, found in features.items():
        full = (found.keypoints.astype(np.float64) + 0.5) / found.scale - 0.5
        col = np.round((full[:, 0] - x + 0.5) * s - 0.5).astype(int)
        row = np.round((full[:, 1] - y + 0.5) * s - 0.5).astype(int)
        inside = (col >= 0) & (col < mask.shape[1]) & (row >= 0) & (row < mask.shape[0])
        inside[inside] = mask[row[inside], col[inside]]
        keypoints[detector] = np.flatnonzero(inside)
    return _Region(window=window, scale=s, boxes=boxes, mask=mask, gray=gray, pattern=pattern,
                   points=pts[textured], templates=templates[textured], keypoints=keypoints)


def map_points(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 3x3 homography to (N, 2) points ``(x, y)`` (or to one point of shape (2,)); (N, 2) out."""
    matrix = check_homography(matrix, "matrix")
    pts = check_array(np.asarray(pts), "pts", "(N, 2) points (x, y)", shapes=((None, 2), (2,)), dtypes="uif",
                      empty=True)
    if pts.size == 0:
        return np.empty((0, 2))  # OpenCV returns None for no points
    pts = pts.astype(np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, matrix).reshape(-1, 2)


def _accepted(inliers: int, matches: int, config: AlignmentConfig) -> bool:
    return inliers >= config.min_inliers and inliers >= config.min_inlier_ratio * matches


def _coarse(photo_gray: np.ndarray, ref: Reference, config: AlignmentConfig,
            preview: tuple[np.ndarray, float] | None = None):
    """Keypoint homography from the first detector that finds enough evidence, and the photo's keypoints."""
    best = (None, 0, 0, None, None, None)
    for detector, base in ref.features.items():
        features = _detect(photo_gray, detector, config, preview)
        result = (*_match(features, base, _NORMS[detector], config), detector, features)
        if _accepted(result[1], result[2], config):
            return result
        if result[1] > best[1]:
            best = result
    return best


def _matcher(norm: int, candidates: int) -> cv2.DescriptorMatcher:
    if norm == cv2.NORM_HAMMING and candidates >= 500:
        # Locality-sensitive hashing: ~4x faster than brute force on binary
        # descriptors of the whole photo, and the ratio test plus MAGSAC absorb
        # the few neighbours it misses (a region's few hundred are matched by brute force).
        # Its hash tables are random: seeding OpenCV's generator makes a photo
        # always align the same way (reproducible measurements).
        cv2.setRNGSeed(20261122)
        return cv2.FlannBasedMatcher({"algorithm": 6, "table_number": 6, "key_size": 12, "multi_probe_level": 1},
                                     {"checks": 64})
    return cv2.BFMatcher(norm)


def _match(photo: _Features, base: _Features, norm: int, config: AlignmentConfig):
    """Homography photo -> baseline (full resolution), inliers, matches and inlier RMSE (baseline px)."""
    if photo.descriptors is None or base.descriptors is None or len(photo.keypoints) < 4 or len(base.keypoints) < 4:
        return None, 0, 0, None
    pairs = _matcher(norm, len(base.descriptors)).knnMatch(photo.descriptors, base.descriptors, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < config.ratio * m[1].distance]
    if len(good) < 4:
        return None, 0, len(good), None
    src = photo.keypoints[[m.queryIdx for m in good]]
    dst = base.keypoints[[m.trainIdx for m in good]]
    h_small, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, 2.0, maxIters=5000, confidence=0.999)
    if h_small is None:
        return None, 0, len(good), None
    keep = mask.ravel().astype(bool)
    if keep.sum() < 4:
        return None, int(keep.sum()), len(good), None
    err = np.linalg.norm(map_points(h_small, src[keep]) - dst[keep], axis=1) / base.scale
    matrix = rescale_homography(h_small, photo_scale=1 / photo.scale, baseline_scale=1 / base.scale)
    return matrix / matrix[2, 2], int(keep.sum()), len(good), float(np.sqrt(np.mean(err**2)))


def _subpixel_peak(resp: np.ndarray) -> tuple[float, float, float]:
    """Location and value of the maximum of a correlation map, parabolic sub-pixel fit."""
    _, peak, _, (px, py) = cv2.minMaxLoc(resp)
    dx = dy = 0.0
    h, w = resp.shape
    if 0 < px < w - 1:
        l, c, r = resp[py, px - 1], resp[py, px], resp[py, px + 1]
        den = l - 2 * c + r
        if den < 0:
            dx = min(max(float(0.5 * (l - r) / den), -0.5), 0.5)  # np.clip costs ~4 µs a scalar
    if 0 < py < h - 1:
        u, c, d = resp[py - 1, px], resp[py, px], resp[py + 1, px]
        den = u - 2 * c + d
        if den < 0:
            dy = min(max(float(0.5 * (u - d) / den), -0.5), 0.5)
    return px + dx, py + dy, float(peak)


def _refine(photo_gray: np.ndarray, matrix: np.ndarray, ref: Reference, config: AlignmentConfig):
    """Re-fit ``matrix`` to sub-pixel correspondences found by patch correlation."""
    r, sr = config.patch_radius, config.search_radius
    size = 2 * (r + sr) + 1
    h, w = photo_gray.shape
    inv = np.linalg.inv(matrix)
    # Only points whose search window falls inside the photo.
    corners = map_points(inv, ref.points)
    inside = (corners[:, 0] > r + sr + 2) & (corners[:, 0] < w - r - sr - 3) & (
        corners[:, 1] > r + sr + 2) & (corners[:, 1] < h - r - sr - 3)
    src, dst = [], []
    for (bx, by), tmpl in zip(ref.points[inside], ref.templates[inside]):
        # Resample the photo around the predicted location into a baseline-frame
        # window whose top-left pixel is (bx - r - sr, by - r - sr).
        shift = np.array([[1, 0, bx - r - sr], [0, 1, by - r - sr], [0, 0, 1]], dtype=np.float64)
        window = cv2.warpPerspective(
            photo_gray, inv @ shift, (size, size),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
        )
        low, high, _, _ = cv2.minMaxLoc(window)
        if high - low < 3.0:  # a flat (e.g. clipped) window has no peak to find
            continue
        resp = cv2.matchTemplate(window, tmpl, cv2.TM_CCOEFF_NORMED)
        px, py, peak = _subpixel_peak(resp)
        if peak < config.min_ncc:
            continue
        # The template centre matched at baseline-frame (bx + px - sr, by + py - sr).
        src.append((bx + px - sr, by + py - sr))
        dst.append((bx, by))
    if len(src) < 8:
        return None, len(src), None
    src_photo = map_points(inv, np.array(src))
    dst = np.array(dst, dtype=np.float64)
    refined, keep = _fit_homography(src_photo, dst, 1.0, min_inliers=8)
    if refined is None:
        return None, int(keep.sum()), None
    err = np.linalg.norm(map_points(refined, src_photo[keep]) - dst[keep], axis=1)
    return refined, int(keep.sum()), float(np.sqrt(np.mean(err**2)))


def _fit_homography(src: np.ndarray, dst: np.ndarray, threshold: float,
                   min_inliers: int = 8) -> tuple[np.ndarray | None, np.ndarray]:
    """Robust homography ``src -> dst`` (MAGSAC++), re-fitted by least squares on its inliers.

    Parameters
    ----------
    src, dst : numpy.ndarray
        (N, 2) corresponding points.
    threshold : float
        Largest reprojection error (in ``dst`` units) of an inlier.
    min_inliers : int
        Fewest inliers a fit is trusted with (at least 4, the minimum that
        determines a homography).

    Returns
    -------
    matrix : numpy.ndarray or None
        3x3 homography normalised to ``matrix[2, 2] = 1``; None when fewer than
        ``min_inliers`` points agree or the fit is degenerate (collinear points).
    inliers : numpy.ndarray
        (N,) boolean mask of the points the fit kept (all False when none).

    Notes
    -----
    The least-squares re-fit (method 0: algebraic, then Levenberg-Marquardt
    geometric error) on the inliers only is more precise than the robust
    estimate; it needs four points, and MAGSAC++ may keep fewer than that on
    repetitive patterns (a printed chart), which ends here as None, not as an
    OpenCV error.
    """
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    none = np.zeros(len(src), bool)
    need = max(4, int(min_inliers))
    if len(src) < need or len(dst) != len(src):
        return None, none
    fitted, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, threshold, maxIters=2000, confidence=0.999)
    if fitted is None or mask is None:
        return None, none
    keep = mask.ravel().astype(bool)
    if keep.sum() < need:
        return None, keep
    fitted, _ = cv2.findHomography(src[keep], dst[keep], 0)
    if fitted is None or not np.all(np.isfinite(fitted)) or abs(fitted[2, 2]) < 1e-12:
        return None, keep
    return fitted / fitted[2, 2], keep


def _jacobian(matrix: np.ndarray, x: float, y: float) -> np.ndarray:
    """Local linear part (2x2) of a homography at photo point ``(x, y)``."""
    h = np.asarray(matrix, dtype=np.float64)
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    u = h[:2, 0] * x + h[:2, 1] * y + h[:2, 2]
    return (h[:2, :2] * w - np.outer(u, h[2, :2])) / w**2


def _geometry(matrix: np.ndarray, photo_shape: tuple[int, int]) -> tuple[float, float, bool]:
    """Rotation (degrees) and isotropic scale at the photo's centre, and whether the warp is plausible."""
    a = _jacobian(matrix, (photo_shape[1] - 1) / 2, (photo_shape[0] - 1) / 2)
    det = float(np.linalg.det(a))
    scale = float(np.sqrt(abs(det)))
    rotation = float(np.degrees(np.arctan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1])))
    sv = np.linalg.svd(a, compute_uv=False)
    plausible = det > 0 and 0.25 < scale < 4.0 and sv[0] / max(sv[1], 1e-12) < 2.0
    return rotation, scale, plausible


def _coverage(matrix: np.ndarray, photo_shape: tuple[int, int], ref_shape: tuple[int, int],
              roi: tuple[int, int, int, int] | None) -> tuple[float, float | None, bool]:
    """Fraction of the baseline (and of the ROI) covered by the warped photo footprint."""
    h, w = photo_shape
    quad = map_points(matrix, [(-0.5, -0.5), (w - 0.5, -0.5), (w - 0.5, h - 0.5), (-0.5, h - 0.5)])
    convex = bool(cv2.isContourConvex(quad.astype(np.float32).reshape(-1, 1, 2)))
    bh, bw = ref_shape
    # Rasterise at reduced size: coverage fractions do not need pixel precision.
    s = min(1.0, 512 / max(bh, bw))
    mask = np.zeros((max(1, round(bh * s)), max(1, round(bw * s))), np.uint8)
    if convex:
        cv2.fillConvexPoly(mask, np.round((quad + 0.5) * s * 16).astype(np.int32), 1, shift=4)
    overlap = float(mask.mean())
    roi_cov = None
    if roi is not None:
        x, y, rw, rh = roi
        sub = mask[int(y * s): max(int(y * s) + 1, round((y + rh) * s)),
                   int(x * s): max(int(x * s) + 1, round((x + rw) * s))]
        roi_cov = float(sub.mean()) if sub.size else 0.0
    return overlap, roi_cov, convex


# --- registering the measured region -------------------------------------------------------

def _apply(matrix: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A homography applied to coordinate arrays of any shape."""
    den = matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2]
    return (matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]) / den, \
        (matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]) / den


def _grid_shape(window: Box, nodes: int) -> tuple[int, int]:
    w, h = window[2], window[3]
    return (nodes, max(2, round(nodes * w / h))) if h >= w else (max(2, round(nodes * h / w)), nodes)


def _grid_coordinate(coordinate: np.ndarray, origin: float, length: float, nodes: int) -> np.ndarray:
    """Baseline coordinates along one axis as positions on the grid (its nodes are the cells' centres)."""
    return ((np.asarray(coordinate, np.float64) - origin + 0.5) * nodes / length - 0.5).astype(np.float32)


def _displacement(grid: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """The grid's displacement at 2-D arrays of grid positions: bilinear, held beyond the outer nodes."""
    return cv2.remap(grid, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(*gx.shape, 2)


def _displacement_at(window: Box, grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The grid's displacement at baseline points (1-D arrays)."""
    rows, cols = grid.shape[:2]
    wx, wy, ww, wh = window
    # OpenCV's remap takes maps under 32767 pixels a side: lay the points out in rows of 256.
    n = len(x)
    size = -(-n // 256) * 256
    gx = np.zeros(size, np.float32)
    gy = np.zeros(size, np.float32)
    gx[:n] = _grid_coordinate(x, wx, ww, cols)
    gy[:n] = _grid_coordinate(y, wy, wh, rows)
    d = _displacement(grid, gx.reshape(-1, 256), gy.reshape(-1, 256)).reshape(-1, 2)[:n]
    return d[:, 0].astype(np.float64), d[:, 1].astype(np.float64)


def _region_weight(window: Box, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 inside the window, falling linearly to 0 a quarter of its longer side outside it."""
    wx, wy, ww, wh = window
    dx = np.maximum(np.maximum(wx - 0.5 - x, x - (wx + ww - 0.5)), 0)
    dy = np.maximum(np.maximum(wy - 0.5 - y, y - (wy + wh - 0.5)), 0)
    return np.clip(1 - np.hypot(dx, dy) / (0.25 * max(ww, wh)), 0, 1)


def _own(region: RegionAlignment | None) -> bool:
    """Whether the region has a registration of its own to use (verified, and not the global one)."""
    return region is not None and region.ok and region.method != "global"


def _to_photo(matrix: np.ndarray, region: RegionAlignment | None, x: np.ndarray,
              y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Photo coordinates of baseline points (1-D arrays ``x``, ``y``) under the registration.

    Inside the region's window, its homography and displacement; outside, the global
    homography; in a band around the window, a blend of the two.
    """
    qx, qy = _apply(np.linalg.inv(matrix), x, y)
    if not _own(region):
        return qx, qy
    weight = _region_weight(region.window, x, y)
    dx, dy = _displacement_at(region.window, region.displacement, x, y)
    rx, ry = _apply(np.linalg.inv(region.matrix), x + dx, y + dy)
    return qx + weight * (rx - qx), qy + weight * (ry - qy)


def _lattice_to_photo(matrix: np.ndarray, region: RegionAlignment | None, xs: np.ndarray,
                      ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_to_photo` on the lattice of baseline columns ``xs`` and rows ``ys``: (len(ys), len(xs)) float32 arrays.

    Only the arithmetic differs from :func:`_to_photo`: the same mapping, on broadcast rows
    and columns in float32.
    """
    x, y = xs.astype(np.float32)[None, :], ys.astype(np.float32)[:, None]
    qx, qy = _apply(np.linalg.inv(matrix).astype(np.float32), x, y)
    if not _own(region):
        return np.broadcast_to(qx, (len(ys), len(xs))), np.broadcast_to(qy, (len(ys), len(xs)))
    wx, wy, ww, wh = region.window
    rows, cols = region.displacement.shape[:2]
    shape = (len(ys), len(xs))
    gx = np.ascontiguousarray(np.broadcast_to(_grid_coordinate(xs, wx, ww, cols)[None, :], shape))
    gy = np.ascontiguousarray(np.broadcast_to(_grid_coordinate(ys, wy, wh, rows)[:, None], shape))
    d = _displacement(region.displacement, gx, gy)
    dx, dy = d[..., 0], d[..., 1]
    rx, ry = _apply(np.linalg.inv(region.matrix).astype(np.float32), x + dx, y + dy)
    weight = _region_weight(region.window, x, y).astype(np.float32)
    return qx + weight * (rx - qx), qy + weight * (ry - qy)


def baseline_to_photo(points: np.ndarray, matrix: np.ndarray, region: RegionAlignment | None = None) -> np.ndarray:
    """Where baseline points are seen in the photo under a registration.

    Parameters
    ----------
    points : numpy.ndarray
        (N, 2) baseline pixel coordinates ``(x, y)`` (or one point of shape (2,)).
    matrix : numpy.ndarray
        The global photo-to-baseline homography (:attr:`Alignment.matrix`).
    region : RegionAlignment, optional
        The region's registration (:attr:`Alignment.region`); used when it is ``ok``.

    Returns
    -------
    numpy.ndarray
        (N, 2) photo pixel coordinates.

    Notes
    -----
    Inside the region's window a point ``p`` is seen at ``H_r^-1 (p + d(p))`` (the region's
    homography and displacement); outside at ``H^-1 p`` (the global homography); within a
    quarter of the window's longer side around it, at a linear blend of the two, so that the
    mapping is continuous. Resampling (:func:`warp_to_baseline`) uses the same mapping.
    """
    matrix = check_homography(matrix, "matrix")
    pts = check_array(np.asarray(points), "points", "(N, 2) points (x, y)", shapes=((None, 2), (2,)),
                      dtypes="uif", empty=True).astype(np.float64).reshape(-1, 2)
    if region is not None:
        check_type(region, RegionAlignment, "region", "a RegionAlignment")
    qx, qy = _to_photo(matrix, region, pts[:, 0], pts[:, 1])
    return np.c_[qx, qy]


def _reframed(matrix: np.ndarray, region: RegionAlignment | None,
              change: np.ndarray) -> tuple[np.ndarray, RegionAlignment | None]:
    """The registration for a copy of the photo whose pixel ``q`` is the original's ``change^-1 q``."""
    back = np.linalg.inv(change)
    if region is not None and region.matrix is not None:
        region = replace(region, matrix=region.matrix @ back)
    return matrix @ back, region


def resample_to_baseline(photo: np.ndarray, matrix: np.ndarray, box: Box, scale: float = 1.0,
                         photo_scale: float = 1.0, region: RegionAlignment | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """The box resampled from the photo at ``scale`` output pixels per baseline pixel, with its valid mask.

    Parameters
    ----------
    photo : numpy.ndarray
        H x W or H x W x C image (as :func:`warp_to_baseline`).
    matrix : numpy.ndarray
        Global photo-to-baseline homography.
    box : tuple of int
        ``(x, y, width, height)`` in baseline pixels.
    scale : float
        Output pixels per baseline pixel.
    photo_scale : float
        Baseline pixels per photo pixel (:attr:`Alignment.scale`).
    region : RegionAlignment, optional
        The region's registration, used where it applies (:func:`baseline_to_photo`).

    Returns
    -------
    warped, valid : numpy.ndarray
        As :func:`warp_to_baseline`.

    Notes
    -----
    Only the part of the photo under the box is touched, and it is first shrunk by area
    averaging when the output is much coarser than the photo: fine texture then does not
    alias differently in photos of different resolution, and a 12-megapixel photo costs
    little more than a small one.
    """
    check_image(photo, "photo")
    matrix = check_homography(matrix, "matrix")
    check_region(box, "box", positive=True)
    check_number(scale, "scale", above=0)
    check_number(photo_scale, "photo_scale", above=0)
    if region is not None:
        check_type(region, RegionAlignment, "region", "a RegionAlignment")
    x, y, w, h = box
    # The box's outline, through the registration, bounds what is read of the photo (with a margin
    # for the kernel and for the displacement bending the inside beyond it).
    t = np.linspace(0, 1, 9)
    outline = np.r_[np.c_[x + w * t, np.full(9, y)], np.c_[x + w * t, np.full(9, y + h)],
                    np.c_[np.full(9, x), y + h * t], np.c_[np.full(9, x + w), y + h * t]]
    qx, qy = _to_photo(matrix, region, outline[:, 0], outline[:, 1])
    ph, pw = photo.shape[:2]
    x0, y0 = int(max(0, np.floor(qx.min() - 8))), int(max(0, np.floor(qy.min() - 8)))
    x1, y1 = int(min(pw, np.ceil(qx.max() + 8))), int(min(ph, np.ceil(qy.max() + 8)))
    if x1 <= x0 or y1 <= y0:  # the box is entirely outside the photo
        x0, y0, x1, y1 = 0, 0, pw, ph
    crop = photo[y0:y1, x0:x1]
    matrix, region = _reframed(matrix, region, np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], dtype=np.float64))
    factor = photo_scale * scale
    if factor < 0.7:
        crop, sx, sy = shrink(crop, factor)
        matrix, region = _reframed(matrix, region, resize_matrix((sx, sy)))
    return warp_to_baseline(crop, matrix, box, scale=scale, region=region)


def _zncc(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """Zero-mean normalised correlation of two images over a mask."""
    x, y = a[where].astype(np.float64), b[where].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / max(np.sqrt((x * x).sum() * (y * y).sum()), 1e-12))


def _region_flow(reference: np.ndarray, pattern: np.ndarray, window: Box, weight: np.ndarray,
                 nodes: int) -> np.ndarray | None:
    """Dense flow from the baseline's window pattern to the photo's, averaged over the skin in grid cells.

    Returns ``(rows, cols, 2)`` in window-copy pixels, or None with too little skin to go on.
    """
    # The fastest preset, but down to full resolution and with variational refinement: as
    # accurate here as the medium preset at half its cost.
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    dis.setFinestScale(1)
    dis.setVariationalRefinementIterations(5)
    flow = dis.calc(reference, pattern, None)
    rows, cols = _grid_shape(window, nodes)
    size = (cols, rows)
    num = cv2.resize(flow * weight[..., None], size, interpolation=cv2.INTER_AREA)
    den = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    if (den > 0.25).sum() < 8:
        return None
    # Cells with little skin take the flow of the skin around them (normalised convolution).
    spread = max(rows, cols) / 6
    wide = cv2.GaussianBlur(num, (0, 0), spread) / np.maximum(cv2.GaussianBlur(den, (0, 0), spread), 1e-6)[..., None]
    own = num / np.maximum(den, 1e-6)[..., None]
    return np.where((den > 0.25)[..., None], own, wide).astype(np.float32)


def _patches(image: np.ndarray, points: np.ndarray, r: int) -> np.ndarray:
    """(M, 2r+1, 2r+1) patches of ``image`` centred on integer points ``(x, y)``."""
    if not len(points):
        return np.empty((0, 2 * r + 1, 2 * r + 1), image.dtype)
    return np.stack([image[int(y) - r: int(y) + r + 1, int(x) - r: int(x) + r + 1] for x, y in points])


_BOX_VERIFY_MARGIN = 0.25  # each measured box is verified with this share of its longest side around it


def _verify_region(reference: np.ndarray, templates: np.ndarray, region: _Region, registered: np.ndarray,
                   covered: np.ndarray, config: AlignmentConfig) -> tuple[float, int, float | None, bool]:
    """Correlation of the registered pattern with the baseline's, the patch residual (rmse px,
    located), and whether every measured box located enough of its own patches.

    Each measured box is also judged on its own, widened by :data:`_BOX_VERIFY_MARGIN`:

    * the correlation is the region's, or that around one box where that is lower. The region's
      is dominated by its larger part: a registration right on the cheek and 20-30 px off on the
      chin passed at 0.63-0.66 overall while its chin read 0.34-0.38, every rightly registered
      box of the head series 0.87 or more (VALIDITY.md, "A second face"). A box with too little
      skin in view to judge (64 window-copy pixels) is not judged;
    * the box must locate as many of the patches judged around it as the region must of its
      own, all of them up to 8: a box whose patches are not found within the search is not where
      the registration puts it, however well the rest of the region is located.
    """
    where = region.mask & covered
    r, sr = _REGION_PATCH, _REGION_SEARCH
    offsets = []
    judged = np.zeros(len(region.points), bool)
    found = np.zeros(len(region.points), bool)
    for k, ((px, py), tmpl) in enumerate(zip(region.points.astype(int), templates)):
        window = registered[py - r - sr: py + r + sr + 1, px - r - sr: px + r + sr + 1]
        if not covered[py, px] or window.shape != (2 * (r + sr) + 1,) * 2 or np.ptp(window) < 3:
            continue
        judged[k] = True
        dx, dy, peak = _subpixel_peak(cv2.matchTemplate(window, tmpl, cv2.TM_CCOEFF_NORMED))
        if peak >= config.min_ncc:
            found[k] = True
            offsets.append((dx - sr, dy - sr))
    judge_correlation = where.sum() > 64
    correlation = _zncc(registered, reference, where) if judge_correlation else 0.0
    boxes_located = True
    for box in region.boxes:
        rows, cols = _in_window(box, region.window, region.scale, _BOX_VERIFY_MARGIN)
        if judge_correlation and where[rows, cols].sum() > 64:
            correlation = min(correlation, _zncc(registered[rows, cols], reference[rows, cols], where[rows, cols]))
        near = ((region.points[:, 0] >= cols.start) & (region.points[:, 0] < cols.stop)
                & (region.points[:, 1] >= rows.start) & (region.points[:, 1] < rows.stop))
        boxes_located &= bool(found[near].sum() >= min(8, judged[near].sum()))
    if not offsets:
        return correlation, 0, None, boxes_located
    rmse = float(np.sqrt(np.mean(np.sum(np.square(offsets), axis=1)))) / region.scale
    return correlation, len(offsets), rmse, boxes_located


def _detail(gray: np.ndarray, where: np.ndarray) -> float:
    """Mean squared gradient of lightly smoothed lightness over ``where``: how much fine detail is left."""
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)
    return float(np.mean((gx * gx + gy * gy)[where])) if where.any() else 0.0


_REGION_MOVED = ("The treated area could not be lined up with the baseline photo: keep your head still and facing "
                 "the camera as in the baseline photo, with the treated area in full view.")
_REGION_UNCLEAR = ("The treated area could not be lined up precisely with the baseline photo: retake it in focus and "
                   "in even light, with the treated area in full view.")
_MATCHING_BLURS = (1.0, 2.0, 3.0, 4.5, 6.0)  # Gaussian sigmas tried on the baseline's window copy, pixels


def _align_region(gray8: np.ndarray, features: _Features | None, detector: str | None, matrix: np.ndarray,
                  photo_scale: float, reference: Reference, config: AlignmentConfig) -> RegionAlignment:
    """Register the measured region on its own and verify it (see :class:`RegionAlignment`).

    The region's own keypoint homography is one start, the global homography the other
    (keypoints on a face are few, and can agree by chance). Both are registered against the
    baseline, and of those that verify the one whose pattern correlates best with the
    baseline's is kept: verification alone passed a keypoint start 35-61 px off (correlation
    0.51-0.54, against 0.91-0.97 from the global start) on Grace Hopper's moving head
    (VALIDITY.md, "Registration of the face"). When neither verifies, each is compared again
    with the baseline blurred to the photo's detail (defocus, noise, a coarser camera), so that
    it is registered and verified on what both still show, to within that blur; its sharpness
    is the quality gate's to judge.
    """
    region = reference.region
    wx, wy, ww, wh = region.window
    # A head moves a few percent of the frame at most against what the global fit followed.
    reach = 0.1 * max(reference.shape)
    starts = [(matrix, "global+flow")]
    if features is not None and detector in region.keypoints and len(region.keypoints[detector]) >= 4:
        base = reference.features[detector]
        idx = region.keypoints[detector]
        # Only the photo's keypoints the global fit puts near the region can be on it.
        at = map_points(matrix, (features.keypoints.astype(np.float64) + 0.5) / features.scale - 0.5)
        near = np.flatnonzero((at[:, 0] > wx - reach) & (at[:, 0] < wx + ww + reach) & (at[:, 1] > wy - reach)
                              & (at[:, 1] < wy + wh + reach))
        photo = _Features(features.scale, features.keypoints[near],
                          None if features.descriptors is None else features.descriptors[near])
        own, inliers, _, _ = _match(photo, _Features(base.scale, base.keypoints[idx], base.descriptors[idx]),
                                    _NORMS[detector], config)
        corners = np.array([(wx, wy), (wx + ww, wy), (wx + ww, wy + wh), (wx, wy + wh)], float)
        if (own is not None and inliers >= config.min_region_inliers and _geometry(own, gray8.shape)[2]
                and np.abs(map_points(matrix, map_points(np.linalg.inv(own), corners)) - corners).max() < reach):
            starts.insert(0, (own, "keypoints+flow"))
    # Half a pixel of the window copy is as fine as patches on it can be located.
    tolerance = max(config.max_region_rmse_px, 0.5 / region.scale)
    tried = []
    for start, method in starts:
        photo, covered = resample_to_baseline(gray8, start, region.window, region.scale, photo_scale)
        pattern = light_invariant_pattern(photo)
        tried.append((start, method, photo, covered, pattern, _register_region(
            region, region.pattern, region.templates, pattern, covered, matrix, start, method, tolerance, config)))
    attempts = [attempt for *_, attempt in tried]
    best = _best_verified(attempts)
    if best is not None:
        return _unless_contradicted(best, attempts, region.boxes, matrix, config)
    retries = []
    for start, method, photo, covered, pattern, _ in tried:
        where = region.mask & covered
        detail = _detail(photo, where)
        sigma = next((b for b in _MATCHING_BLURS
                      if _detail(cv2.GaussianBlur(region.gray, (0, 0), b), where) <= detail), _MATCHING_BLURS[-1])
        blurred = light_invariant_pattern(cv2.GaussianBlur(region.gray, (0, 0), sigma))
        # Patches blurred by sigma are located to no better than that.
        retries.append(_register_region(region, blurred, _patches(blurred, region.points, _REGION_PATCH), pattern,
                                        covered, matrix, start, method, max(tolerance, sigma / region.scale), config))
    best = _best_verified(retries)
    return tried[0][-1] if best is None else best


def _unless_contradicted(best: RegionAlignment, attempts: list[RegionAlignment], boxes: tuple[Box, ...],
                         matrix: np.ndarray, config: AlignmentConfig) -> RegionAlignment:
    """``best``, or refused when another start's registration correlates better and puts a measured box elsewhere.

    Two registrations of the same region that disagree by more than ``max_disagreement_px`` at
    a box cannot both be right. When the one that verified correlates less well than the
    other (which missed a check, e.g. its patch residual by a hundredth of a pixel), which one
    is right cannot be told: on Grace Hopper's head, with the treated area on the forehead and
    the control on a cheek without textured patches, the verified start put the control 3.9 px
    off (correlation 0.67) while the unverified one (0.91) was right (VALIDITY.md, "A second face").
    """
    corners = _box_corners(boxes)
    bx, by = _seen_through_global(matrix, best, corners)
    for other in attempts:
        if (other is best or other.displacement is None or other.correlation is None
                or other.correlation <= best.correlation):
            continue
        ox, oy = _seen_through_global(matrix, other, corners)
        if np.hypot(ox - bx, oy - by).max() > config.max_disagreement_px:
            return replace(best, ok=False, reason=_REGION_UNCLEAR)
    return best


def _box_corners(boxes: tuple[Box, ...]) -> np.ndarray:
    """The four corners of each box ``(x, y, width, height)``, an (4N, 2) array."""
    return np.array([c for bx0, by0, bw0, bh0 in boxes
                     for c in ((bx0, by0), (bx0 + bw0, by0), (bx0 + bw0, by0 + bh0), (bx0, by0 + bh0))], float)


def _seen_through_global(matrix: np.ndarray, attempt: RegionAlignment,
                         corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the global homography puts, in baseline pixels, the photo points that ``attempt``'s own
    registration (verified or not) finds ``corners`` at: the corners themselves where the two agree."""
    return _apply(matrix, *_to_photo(matrix, replace(attempt, ok=True), corners[:, 0], corners[:, 1]))


def _best_verified(attempts: list[RegionAlignment]) -> RegionAlignment | None:
    """The verified registration whose pattern correlates best with the baseline's (the first of equals), or None."""
    verified = [attempt for attempt in attempts if attempt.ok]
    return max(verified, key=lambda attempt: attempt.correlation) if verified else None


def _register_region(region: _Region, reference: np.ndarray, templates: np.ndarray, pattern: np.ndarray,
                     covered: np.ndarray, matrix: np.ndarray, start: np.ndarray, method: str, tolerance: float,
                     config: AlignmentConfig) -> RegionAlignment:
    """Dense flow from a first estimate ``start`` of the region's homography, then verification.

    ``reference`` and ``templates`` are the baseline's window pattern and patches of it,
    ``pattern`` the photo's, resampled through ``start``; ``matrix`` is the global homography;
    ``tolerance`` the largest patch residual (baseline pixels) accepted.
    """
    window, s = region.window, region.scale
    weight = (region.mask & covered).astype(np.float32)
    cells = _region_flow(reference, pattern, window, weight, config.region_grid)
    failed = RegionAlignment(ok=False, matrix=start, window=window, method=method, reason=_REGION_MOVED)
    if cells is None:
        return failed
    # Grid nodes in baseline pixels, and where the flow says each is seen in the photo.
    rows, cols = cells.shape[:2]
    wx, wy, ww, wh = window
    gx, gy = np.meshgrid(wx + (np.arange(cols) + 0.5) * ww / cols - 0.5, wy + (np.arange(rows) + 0.5) * wh / rows - 0.5)
    qx, qy = _apply(np.linalg.inv(start), gx + cells[..., 0] / s, gy + cells[..., 1] / s)
    skin = cv2.resize(weight, (cols, rows), interpolation=cv2.INTER_AREA) > 0.25
    src = np.c_[qx[skin], qy[skin]]
    dst = np.c_[gx[skin], gy[skin]]
    fitted, _ = _fit_homography(src, dst, max(1.0, 1.5 / s), min_inliers=8)
    if fitted is None:
        return failed
    fx, fy = _apply(fitted, qx, qy)
    displacement = np.dstack([fx - gx, fy - gy]).astype(np.float32)
    candidate = RegionAlignment(ok=True, matrix=fitted, window=window, displacement=displacement, method=method)
    # The registered pattern: each window-copy pixel's photo position, read in the photo's window copy.
    ch, cw = pattern.shape
    px, py = _lattice_to_photo(matrix, candidate, (np.arange(cw) + 0.5) / s - 0.5 + wx,
                               (np.arange(ch) + 0.5) / s - 0.5 + wy)
    sx_, sy_ = _apply(start.astype(np.float32), px, py)
    map_x = (sx_ - wx + 0.5) * np.float32(s) - 0.5
    map_y = (sy_ - wy + 0.5) * np.float32(s) - 0.5
    registered = cv2.remap(pattern, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.remap(covered.astype(np.uint8), map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                       borderValue=0) > 0
    correlation, located, rmse, boxes_located = _verify_region(reference, templates, region, registered, inside,
                                                               config)
    flow = np.hypot(displacement[..., 0], displacement[..., 1])[skin]
    corners = _box_corners(region.boxes)
    gx2, gy2 = _seen_through_global(matrix, candidate, corners)
    disagreement = float(np.hypot(gx2 - corners[:, 0], gy2 - corners[:, 1]).max())
    verified = (correlation >= config.min_region_correlation and rmse is not None
                and located >= min(8, len(region.points)) and boxes_located and rmse <= tolerance)
    if verified and disagreement <= config.region_agreement_px:
        # The head did not move against what the global fit followed: that fit is the better determined.
        candidate = replace(candidate, matrix=matrix, displacement=np.zeros_like(displacement), method="global")
    # Unverified where the global fit agrees: the face did not move, the photo lacks the detail to check it.
    reason = None if verified else _REGION_MOVED if disagreement > config.max_disagreement_px else _REGION_UNCLEAR
    return replace(candidate, ok=verified, rmse_px=rmse, inliers=located, correlation=correlation,
                   flow_median_px=float(np.median(flow)), flow_max_px=float(flow.max()),
                   disagreement_px=disagreement, reason=reason)


def _check_preview(preview: tuple[np.ndarray, float]) -> None:
    check_items(preview, "preview", "a pair (image, scale)", (2,))
    check_array(preview[0], "preview image", "an H x W or H x W x 3 uint8 image",
                shapes=((None, None), (None, None, 3)), dtypes=(np.dtype(np.uint8),))
    check_number(preview[1], "preview scale", above=0)


def align_to_baseline(
    photo_rgb: np.ndarray,
    reference: Reference,
    roi: tuple[int, int, int, int] | None = None,
    config: AlignmentConfig = AlignmentConfig(),
    preview: tuple[np.ndarray, float] | None = None,
) -> Alignment:
    """Register a photo to the baseline and judge whether the result is trustworthy.

    Parameters
    ----------
    photo_rgb : numpy.ndarray
        H x W x 3 uint8 sRGB follow-up photo, EXIF orientation applied.
    reference : Reference
        From :func:`prepare_reference` on the baseline.
    roi : tuple of int, optional
        Region of interest ``(x, y, width, height)`` in baseline pixels; when
        given, it must be covered by the photo.
    config : AlignmentConfig
    preview : tuple, optional
        ``(image, scale)``: a copy of the photo already reduced by ``scale``
        with :func:`shrink` (mean of its per-axis scales), used for keypoint
        detection instead of reducing the photo again.

    Returns
    -------
    Alignment
        ``matrix`` maps photo pixels to baseline pixels.

    Raises
    ------
    ValueError
        An argument is not of the form stated above.

    Notes
    -----
    Accuracy on 2048-pixel photos with JPEG noise and lighting changes is about
    0.1-0.3 px median (see ``tests/test_align.py``); the coarse stage alone is
    good to a few pixels.
    """
    check_rgb8(photo_rgb, "photo_rgb")
    check_type(reference, Reference, "reference", "a Reference (from prepare_reference)")
    if roi is not None:
        check_region(roi, "roi", positive=True)
    check_type(config, AlignmentConfig, "config", "an AlignmentConfig")
    if preview is not None:
        _check_preview(preview)
    gray8 = luminance(photo_rgb)
    if preview is not None:
        preview = (luminance(preview[0]) if preview[0].ndim == 3 else preview[0], preview[1])
    coarse, inliers, matches, coarse_rmse, detector, features = _coarse(gray8, reference, config, preview)
    if coarse is None or not _accepted(inliers, matches, config):
        return Alignment(
            ok=False, matrix=None if coarse is None else coarse, inliers=inliers, matches=matches,
            rmse_px=None, overlap=0.0,
            reason="This photo could not be matched to the baseline photo: make sure it shows the same "
                   "area, from a similar angle and distance.",
        )
    matrix, n_refined, rmse = coarse, inliers, None
    for _ in range(REFINE_ROUNDS):
        refined, n, err = _refine(gray8, matrix, reference, config)
        if refined is None:
            break
        # Patches were resampled through the previous estimate; when it was
        # already within half a pixel, another round changes nothing measurable.
        shift = np.abs(map_points(np.linalg.inv(refined), reference.points)
                       - map_points(np.linalg.inv(matrix), reference.points)).max(initial=0.0)
        matrix, n_refined, rmse = refined, n, err
        if shift < 0.5:
            break
    refined_ok = rmse is not None and n_refined >= 12
    if not refined_ok and inliers >= 2 * config.min_inliers:
        # Too little sharp detail to refine (a defocused photo, say), but the
        # keypoints agree well: keep their estimate and say it is unrefined.
        matrix, n_refined, rmse = coarse, inliers, coarse_rmse
    rotation, scale, plausible = _geometry(matrix, gray8.shape)
    overlap, roi_cov, convex = _coverage(matrix, gray8.shape, reference.shape, roi)

    reason, loose = None, False
    if not plausible or not convex:
        reason = "The photo could not be matched to the baseline reliably (the match implies an impossible camera move)."
    elif rmse is None or n_refined < 12:
        reason = "The photo matched the baseline only roughly: too few details could be lined up precisely. Retake it in focus, in even light."
    elif rmse > config.max_rmse_px:
        reason = f"The photo lines up with the baseline only to within {rmse:.1f} pixels; retake it from the same angle as the baseline."
        # Only the whole photo's residual is too large: it is refused unless a region to measure
        # registers on its own (below).
        loose = overlap >= config.min_overlap and (roi_cov is None or roi_cov >= config.min_roi_coverage)
    elif overlap < config.min_overlap:
        reason = f"The photo covers only {overlap:.0%} of the baseline view: frame the same area as in the baseline."
    elif roi_cov is not None and roi_cov < config.min_roi_coverage:
        reason = f"Only {roi_cov:.0%} of the treated area is in the photo: frame it fully, as in the baseline."
    region = None
    if reference.region is not None and (reason is None or loose):
        # A head moves against its background and is not a plane: the region measured is
        # registered on its own, and the photo is refused unless that registration verifies.
        # A head that fills much of the frame leaves a homography of the whole photo a few
        # pixels off everywhere (it mixes the head's move with the wall's): when the region's
        # own registration verifies, that is what the measurements use, and the photo is kept
        # (VALIDITY.md, "A second face"); when it does not, the whole photo's residual is the reason.
        region = _align_region(gray8, features, detector, matrix, scale, reference, config)
        reason = reason if loose and not region.ok else region.reason
    return Alignment(
        ok=reason is None, matrix=matrix, inliers=n_refined, matches=matches, rmse_px=rmse,
        overlap=overlap, roi_coverage=roi_cov, rotation_deg=rotation, scale=scale, reason=reason,
        detector=detector, refined=refined_ok, region=region,
    )


def warp_to_baseline(
    photo: np.ndarray,
    matrix: np.ndarray,
    box: tuple[int, int, int, int],
    scale: float = 1.0,
    interpolation: int = cv2.INTER_LINEAR,
    region: RegionAlignment | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample the part of ``photo`` that falls in a baseline box.

    Parameters
    ----------
    photo : numpy.ndarray
        H x W or H x W x C photo (uint8, uint16, int16, float32 or float64),
        in its own pixel grid.
    matrix : numpy.ndarray
        Photo-to-baseline homography.
    box : tuple of int
        ``(x, y, width, height)`` in baseline pixels.
    scale : float
        Output pixels per baseline pixel (< 1 to work at reduced size).
    interpolation : int
        OpenCV interpolation flag.
    region : RegionAlignment, optional
        The measured region's registration, in the same photo pixel grid as ``matrix``;
        when ``ok``, it is used in and around its window (:func:`baseline_to_photo`).

    Returns
    -------
    warped : numpy.ndarray
        ``round(height*scale) x round(width*scale)`` image of the box.
    valid : numpy.ndarray
        Boolean mask of output pixels that came from inside the photo.

    Raises
    ------
    ValueError
        ``photo`` is not an image OpenCV can resample, ``matrix`` not a finite
        3x3 matrix, ``box`` not four numbers with a positive size, ``scale``
        not positive, or ``region`` not a RegionAlignment.
    """
    check_image(photo, "photo")
    matrix = check_homography(matrix, "matrix")
    check_region(box, "box", positive=True)
    check_number(scale, "scale", above=0)
    check_number(interpolation, "interpolation", integer=True, minimum=0)
    if region is not None:
        check_type(region, RegionAlignment, "region", "a RegionAlignment")
    x, y, w, h = box
    out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
    # Output pixel (u, v) sits at baseline ((u + 0.5) / scale - 0.5 + x, ...).
    to_box = resize_matrix(scale) @ np.array([[1, 0, -x], [0, 1, -y], [0, 0, 1]], dtype=np.float64)
    full = to_box @ matrix
    # Pixels outside the photo are marked invalid rather than guessed: the photo's
    # footprint is rasterised in the output grid, shrunk by a pixel for the
    # interpolation kernel at its border.
    reach = _region_reach(region, box, scale) if _own(region) else None
    if reach == (0, 0, out_w, out_h):  # all of the box is the region's: no global warp to make
        warped = np.zeros((out_h, out_w, *photo.shape[2:]), photo.dtype)
        valid = np.zeros((out_h, out_w), np.uint8)
    else:
        warped = cv2.warpPerspective(photo, full, (out_w, out_h), flags=interpolation,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        ph, pw = photo.shape[:2]
        quad = map_points(full, [(0, 0), (pw - 1, 0), (pw - 1, ph - 1), (0, ph - 1)])
        valid = np.zeros((out_h, out_w), np.uint8)
        if cv2.isContourConvex(quad.astype(np.float32).reshape(-1, 1, 2)):
            cv2.fillConvexPoly(valid, np.round(quad * 16).astype(np.int32), 1, shift=4)
    if reach is not None:
        _warp_region(photo, matrix, region, (x, y, scale), reach, warped, valid, interpolation)
    valid = cv2.erode(valid, np.ones((3, 3), np.uint8))
    return warped, valid.astype(bool)


def _region_reach(region: RegionAlignment, box: Box, scale: float) -> tuple[int, int, int, int] | None:
    """The output pixels ``(u0, v0, u1, v1)`` of a box resampled at ``scale`` that the region's
    registration reaches (its window and blend band), or None when it reaches none."""
    x, y, w, h = box
    out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
    wx, wy, ww, wh = region.window
    band = 0.25 * max(ww, wh)
    u0 = max(0, int(np.floor((wx - band - x + 0.5) * scale - 0.5)))
    v0 = max(0, int(np.floor((wy - band - y + 0.5) * scale - 0.5)))
    u1 = min(out_w, int(np.ceil((wx + ww + band - x + 0.5) * scale - 0.5)) + 1)
    v1 = min(out_h, int(np.ceil((wy + wh + band - y + 0.5) * scale - 0.5)) + 1)
    return None if u1 <= u0 or v1 <= v0 else (u0, v0, u1, v1)


def _warp_region(photo: np.ndarray, matrix: np.ndarray, region: RegionAlignment, origin: tuple[float, float, float],
                 reach: tuple[int, int, int, int], warped: np.ndarray, valid: np.ndarray, interpolation: int) -> None:
    """Resample, in place, the output pixels ``reach`` (from :func:`_region_reach`) through the registration."""
    x, y, scale = origin
    u0, v0, u1, v1 = reach
    qx, qy = _lattice_to_photo(matrix, region, (np.arange(u0, u1) + 0.5) / scale - 0.5 + x,
                               (np.arange(v0, v1) + 0.5) / scale - 0.5 + y)
    ph, pw = photo.shape[:2]
    warped[v0:v1, u0:u1] = cv2.remap(photo, qx, qy, interpolation, borderMode=cv2.BORDER_CONSTANT,
                                     borderValue=0).reshape(warped[v0:v1, u0:u1].shape)
    valid[v0:v1, u0:u1] = (qx >= 0) & (qx <= pw - 1) & (qy >= 0) & (qy <= ph - 1)


MIRRORED_NOTE = "This photo was mirrored (as some front cameras save selfies); it was measured flipped back."


def flip_matrix(width: int) -> np.ndarray:
    """The homography of a left-right flip of an image ``width`` pixels wide (pixel centres at integers)."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def unmirrored(alignment: Alignment, width: int) -> Alignment:
    """An alignment of the left-right flipped photo re-expressed for the photo as it is.

    Every map (the global homography, the region's) is composed with the flip, so it takes the
    photo's own pixels to the baseline's; the region's displacement is in baseline pixels and
    does not change.

    Examples
    --------
    >>> a = Alignment(ok=True, matrix=np.eye(3), inliers=50, matches=80, rmse_px=0.2, overlap=1.0)
    >>> m = unmirrored(a, 100)
    >>> m.mirrored, map_points(m.matrix, np.array([[0.0, 5.0], [99.0, 5.0]])).tolist()
    (True, [[99.0, 5.0], [0.0, 5.0]])
    """
    check_type(alignment, Alignment, "alignment", "an Alignment")
    flip = flip_matrix(width)
    region = alignment.region
    if region is not None and region.matrix is not None:
        region = replace(region, matrix=region.matrix @ flip)
    matrix = None if alignment.matrix is None else alignment.matrix @ flip
    return replace(alignment, matrix=matrix, region=region)


def flips(matrix: np.ndarray | None) -> bool:
    """Whether a photo-to-baseline homography mirrors the photo (its linear part's determinant is negative).

    A plausible match never does (:func:`align_to_baseline` refuses it); only :func:`unmirrored` makes one.
    """
    return matrix is not None and bool(np.linalg.det(np.asarray(matrix, dtype=np.float64)[:2, :2]) < 0)
