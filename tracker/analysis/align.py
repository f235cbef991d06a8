"""Registration of a follow-up photo to the patient's baseline photo.

Two stages, both in OpenCV:

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
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

__all__ = [
    "AlignmentConfig",
    "Alignment",
    "Reference",
    "prepare_reference",
    "align_to_baseline",
    "warp_to_baseline",
    "map_points",
    "resize_matrix",
    "rescale_homography",
    "shrink",
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
        Root-mean-square reprojection error of the inliers, baseline pixels.
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


def _work_copy(gray: np.ndarray, work_side: int) -> tuple[np.ndarray, float]:
    h, w = gray.shape
    s = min(1.0, work_side / max(h, w))
    if s == 1.0:
        return gray, 1.0
    small, sx, sy = shrink(gray, s)
    # The exact scale per axis differs by rounding; use the mean, error < 0.1 %.
    return small, 0.5 * (sx + sy)


def _detect(gray: np.ndarray, detector: str, config: AlignmentConfig,
            preview: tuple[np.ndarray, float] | None = None) -> _Features:
    side = config.orb_side if detector == "orb" else config.sift_side
    if preview is not None and max(preview[0].shape[:2]) >= 0.95 * min(side, max(gray.shape)):
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


def prepare_reference(baseline_rgb: np.ndarray, config: AlignmentConfig = AlignmentConfig()) -> Reference:
    """Pre-compute the baseline's keypoints and refinement templates.

    Parameters
    ----------
    baseline_rgb : numpy.ndarray
        H x W x 3 uint8 sRGB baseline photo.
    config : AlignmentConfig

    Returns
    -------
    Reference

    Raises
    ------
    ValueError
        ``baseline_rgb`` is not an H x W x 3 uint8 image.
    """
    check_rgb8(baseline_rgb, "baseline_rgb")
    check_type(config, AlignmentConfig, "config", "an AlignmentConfig")
    gray8 = luminance(baseline_rgb)
    r = config.patch_radius
    pts = _refinement_points(gray8, config.refine_points, r)
    templates = np.stack(
        [gray8[int(y) - r : int(y) + r + 1, int(x) - r : int(x) + r + 1] for x, y in pts]
    ) if len(pts) else np.empty((0, 2 * r + 1, 2 * r + 1), np.uint8)
    # Flat templates cannot be located by correlation: drop them once, here.
    textured = templates.reshape(len(templates), -1).std(axis=1) >= 1.0
    pts, templates = pts[textured], templates[textured]
    return Reference(
        shape=gray8.shape, features={d: _detect(gray8, d, config) for d in config.detectors},
        points=pts, templates=templates,
    )


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
    """Keypoint homography from the first detector that finds enough evidence."""
    best = (None, 0, 0, None, None)
    for detector, base in ref.features.items():
        features = _detect(photo_gray, detector, config, preview)
        result = (*_match(features, base, _NORMS[detector], config), detector)
        if _accepted(result[1], result[2], config):
            return result
        if result[1] > best[1]:
            best = result
    return best


def _matcher(norm: int) -> cv2.DescriptorMatcher:
    if norm == cv2.NORM_HAMMING:
        # Locality-sensitive hashing: ~4x faster than brute force on binary
        # descriptors here, and the ratio test plus MAGSAC absorb the few
        # neighbours it misses.
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
    pairs = _matcher(norm).knnMatch(photo.descriptors, base.descriptors, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < config.ratio * m[1].distance]
    if len(good) < 4:
        return None, 0, len(good), None
    src = photo.keypoints[[m.queryIdx for m in good]]
    dst = base.keypoints[[m.trainIdx for m in good]]
    h_small, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, 2.0, maxIters=5000, confidence=0.999)
    if h_small is None:
        return None, 0, len(good), None
    keep = mask.ravel().astype(bool)
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
            dx = float(np.clip(0.5 * (l - r) / den, -0.5, 0.5))
    if 0 < py < h - 1:
        u, c, d = resp[py - 1, px], resp[py, px], resp[py + 1, px]
        den = u - 2 * c + d
        if den < 0:
            dy = float(np.clip(0.5 * (u - d) / den, -0.5, 0.5))
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
    refined, mask = cv2.findHomography(src_photo, dst, cv2.USAC_MAGSAC, 1.0, maxIters=2000, confidence=0.999)
    if refined is None:
        return None, 0, None
    keep = mask.ravel().astype(bool)
    # Least-squares re-fit on the inliers only (method 0 minimises algebraic, then
    # Levenberg-Marquardt geometric error).
    refined, _ = cv2.findHomography(src_photo[keep], dst[keep], 0)
    if refined is None:
        return None, 0, None
    err = np.linalg.norm(map_points(refined, src_photo[keep]) - dst[keep], axis=1)
    return refined / refined[2, 2], int(keep.sum()), float(np.sqrt(np.mean(err**2)))


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
    coarse, inliers, matches, coarse_rmse, detector = _coarse(gray8, reference, config, preview)
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

    reason = None
    if not plausible or not convex:
        reason = "The photo could not be matched to the baseline reliably (the match implies an impossible camera move)."
    elif rmse is None or n_refined < 12:
        reason = "The photo matched the baseline only roughly: too few details could be lined up precisely. Retake it in focus, in even light."
    elif rmse > config.max_rmse_px:
        reason = f"The photo lines up with the baseline only to within {rmse:.1f} pixels; retake it from the same angle as the baseline."
    elif overlap < config.min_overlap:
        reason = f"The photo covers only {overlap:.0%} of the baseline view: frame the same area as in the baseline."
    elif roi_cov is not None and roi_cov < config.min_roi_coverage:
        reason = f"Only {roi_cov:.0%} of the treated area is in the photo: frame it fully, as in the baseline."
    return Alignment(
        ok=reason is None, matrix=matrix, inliers=n_refined, matches=matches, rmse_px=rmse,
        overlap=overlap, roi_coverage=roi_cov, rotation_deg=rotation, scale=scale, reason=reason,
        detector=detector, refined=refined_ok,
    )


def warp_to_baseline(
    photo: np.ndarray,
    matrix: np.ndarray,
    box: tuple[int, int, int, int],
    scale: float = 1.0,
    interpolation: int = cv2.INTER_LINEAR,
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
        3x3 matrix, ``box`` not four numbers with a positive size, or ``scale``
        not positive.
    """
    check_image(photo, "photo")
    matrix = check_homography(matrix, "matrix")
    check_region(box, "box", positive=True)
    check_number(scale, "scale", above=0)
    check_number(interpolation, "interpolation", integer=True, minimum=0)
    x, y, w, h = box
    out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
    # Output pixel (u, v) sits at baseline ((u + 0.5) / scale - 0.5 + x, ...).
    to_box = resize_matrix(scale) @ np.array([[1, 0, -x], [0, 1, -y], [0, 0, 1]], dtype=np.float64)
    full = to_box @ matrix
    # Pixels outside the photo are marked invalid rather than guessed: the photo's
    # footprint is rasterised in the output grid, shrunk by a pixel for the
    # interpolation kernel at its border.
    warped = cv2.warpPerspective(photo, full, (out_w, out_h), flags=interpolation,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ph, pw = photo.shape[:2]
    quad = map_points(full, [(0, 0), (pw - 1, 0), (pw - 1, ph - 1), (0, ph - 1)])
    valid = np.zeros((out_h, out_w), np.uint8)
    if cv2.isContourConvex(quad.astype(np.float32).reshape(-1, 1, 2)):
        cv2.fillConvexPoly(valid, np.round(quad * 16).astype(np.int32), 1, shift=4)
        valid = cv2.erode(valid, np.ones((3, 3), np.uint8))
    return warped, valid.astype(bool)
