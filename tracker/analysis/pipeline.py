"""The analysis of one photo against the patient's baseline: align, check, normalise, measure.

This module wires the pure stages together; it is what the CLI, the app and
batch re-analysis call. Prepare the baseline once with :func:`prepare_baseline`
and analyse each follow-up with :func:`analyse_photo`.

Coordinates: regions are ``(x, y, width, height)`` boxes in baseline pixels.
All colour metrics are measured on photos mapped into the baseline's colour
rendering; texture on the region resampled into the baseline's pixel grid at a
fixed scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from tracker.analysis import metrics as m
from tracker.analysis._checks import check_region, check_rgb8, check_type
from tracker.analysis.result import AnalysisResult
from tracker.analysis.align import (
    Alignment,
    AlignmentConfig,
    Box,
    Reference,
    align_to_baseline,
    luminance,
    prepare_reference,
    resample_to_baseline,
    rescale_homography,
    rescale_region,
    shrink_to,
    unmirrored,
)
from tracker.analysis.colour_card import ColourCardReading, chart_mm2_per_pixel, find_colour_card
from tracker.analysis.skin import SkinRegion, find_skin
from tracker.analysis.colour import (
    ColourCorrection,
    correct_region,
    fit_colour_card_correction,
    fit_reference_correction,
    frame_of_box,
    identity_correction,
    single_clipped,
    skin_mask,
    smooth_for_fit,
    srgb8_to_lab,
    srgb_to_lab,
    uncorrected,
)
from tracker.analysis.quality import (
    QualityMeasurements,
    QualityReport,
    QualityThresholds,
    blockiness,
    blur_score,
    colourless,
    noise_level,
    detail_band,
    exposure_stats,
    judge_quality,
    sharpness,
)

__all__ = ["Box", "TREATED_EXTENTS", "MIN_SURROUNDINGS_FRACTION", "AnalysisConfig", "Baseline", "PhotoAnalysis", "prepare_baseline", "analyse_photo",
           "analyse_baseline", "parse_box", "check_box"]

#: What a course's treatment covered: the whole face, or only the region of interest.
TREATED_EXTENTS = ("face", "region")

#: The least share of the photo's overlap with the baseline that must be neither skin nor the
#: treated area (hair, clothing, background) for the colour to be normalised on it alone.
MIN_SURROUNDINGS_FRACTION = 0.025

#: Skin is widened by this fraction of the working frame's longest side before the surroundings
#: are taken: the edges of the skin mask (hairline, shadows, lips) are skin the classifier missed.
SKIN_MARGIN = 0.01

COLOUR_NOT_NORMALISED = ("Colour could not be normalised: too little of the photo is neither skin nor the treated "
                         "area (hair, clothing, background) to tell a change of light from a change of the skin. "
                         "Take the next photo with the colour card in view, or ask your provider to mark a control "
                         "area of untreated skin.")


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of the whole analysis.

    Attributes
    ----------
    work_side : int
        Longest side of the baseline-frame copy used for colour fitting,
        sharpness, and metrics when no region is given.
    roi_margin : float
        Margin around the region of interest, as a fraction of its size, that
        is kept out of the colour reference: redness spreads past the drawn box.
    treated : str
        What was treated: ``"face"`` (the default: skin outside the region of
        interest may have been treated too, as in full-face resurfacing, so only
        a declared control region and what is not skin serve as the colour
        reference) or ``"region"`` (only the region of interest was treated: all
        skin outside it is an untreated reference).
    smooth_light : bool
        Let the colour correction's gain vary smoothly over the frame (light
        from one side); False fits one gain per channel, as before issue #10.
    max_card_residual_delta_e : float
        Largest median ΔE*ab of the chart-to-chart colour fit that is used.
        A 24-patch chart fits to well under 1 (Van Poucke 2010); above this the
        two readings disagree (glare on the chart, a different chart) and the
        photo is normalised from its surroundings instead.
    """

    work_side: int = 1024
    roi_margin: float = 0.15
    treated: str = "face"
    smooth_light: bool = True
    max_card_residual_delta_e: float = 3.0
    alignment: AlignmentConfig = AlignmentConfig()
    quality: QualityThresholds = QualityThresholds()

    def __post_init__(self) -> None:
        if self.treated not in TREATED_EXTENTS:
            raise ValueError(f"treated must be one of {', '.join(TREATED_EXTENTS)}; got {self.treated!r}")


@dataclass(frozen=True)
class Baseline:
    """The baseline photo with what every follow-up analysis needs from it."""

    rgb: np.ndarray = field(repr=False)
    reference: Reference = field(repr=False)
    roi: Box | None
    control: Box | None
    work_scale: float
    work_rgb: np.ndarray = field(repr=False)
    work_skin: np.ndarray = field(repr=False)
    work_surroundings: np.ndarray = field(repr=False)  # neither skin nor near it (_widened_skin)
    work_smoothed: np.ndarray = field(repr=False)
    work_gray: np.ndarray = field(repr=False)
    work_band: np.ndarray = field(repr=False)  # detail band of work_gray, for focus comparisons
    glare_fraction: float
    colour_card: ColourCardReading | None = field(repr=False)
    config: AnalysisConfig = field(repr=False)
    # The measured region (the ROI at the measurement scale, else the working copy) in CIELAB,
    # against which each photo's per-pixel change is measured.
    region_lab: np.ndarray = field(repr=False)

    @property
    def mm2_per_px(self) -> float | None:
        """Area (mm²) of one full-resolution baseline pixel at the chart; None without a chart."""
        return None if self.colour_card is None else chart_mm2_per_pixel(self.colour_card.corners)
    lightness: float = float("nan")  # mean L* of the region the quality gate judges
    blockiness: float = float("nan")  # JPEG blockiness of the photo as decoded
    noise_level: float = float("nan")  # grain of the judged region in the working frame
    skin: SkinRegion | None = field(default=None, repr=False)  # work_skin's source when no region is drawn

    @property
    def shape(self) -> tuple[int, int]:
        return self.rgb.shape[:2]


@dataclass(frozen=True)
class PhotoAnalysis:
    """Everything measured of one photo.

    ``ok`` is True when metrics could be computed; ``error`` says why not.
    A photo can be ``ok`` and still fail the quality gate: its metrics are then
    reported but should not be trusted for the course.
    """

    ok: bool
    quality: QualityReport
    alignment: Alignment
    colour: ColourCorrection | None
    metrics: dict[str, float | None] | None
    error: str | None = None
    metric_version: str = m.METRIC_VERSION
    # Smoothed Δa* against the baseline over the measured region (baseline grid, NaN outside).
    change_map: np.ndarray | None = field(default=None, repr=False)
    skin: dict | None = None  # which pixels were measured (``source``, ``fraction``, ``note``)

    def to_result(self) -> AnalysisResult:
        """The record kept and printed (the ``tracker analyze --json`` contract)."""
        return AnalysisResult(ok=self.ok, quality=self.quality.to_dict(), alignment=self.alignment.to_dict(),
                              colour=None if self.colour is None else self.colour.to_dict(),
                              metrics=self.metrics, error=self.error, metric_version=self.metric_version,
                              skin=self.skin)

    def to_dict(self) -> dict:
        """The JSON object of the ``tracker analyze --json`` contract (without ``photo``)."""
        return self.to_result().to_dict()


def parse_box(text: str) -> Box:
    """Parse ``"X,Y,W,H"`` into a box; raise ValueError with one line if malformed."""
    check_type(text, str, "text", 'a string "X,Y,W,H"')
    parts = [p.strip() for p in text.split(",")]
    try:
        x, y, w, h = (int(round(float(p))) for p in parts)
    except ValueError:
        raise ValueError(f"expected four numbers X,Y,W,H, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"width and height must be positive, got {text!r}")
    return x, y, w, h


def check_box(box: Box | None, shape: tuple[int, int], name: str) -> None:
    """Refuse (ValueError, one line) a region outside an image of ``shape`` (H, W) or under 8 px across.

    ``box`` is None or four integers ``(x, y, width, height)``; ``name`` says
    which region it is in the message (``"region of interest"``).
    """
    if box is None:
        return
    check_region(box, f"the {name}", integer=True)
    x, y, w, h = box
    H, W = shape
    if x < 0 or y < 0 or x + w > W or y + h > H:
        raise ValueError(f"the {name} {x},{y},{w},{h} lies outside the baseline photo ({W}x{H} pixels)")
    if min(w, h) < 8:
        raise ValueError(f"the {name} is too small ({w}x{h} pixels); draw it at least 8 pixels across")


UNMATCHED_COPY_RATIO = 2.0
"""A photo that cannot be matched to the baseline and whose long side is at most 1/this of the
baseline's is taken for a reduced copy (``downscaled``) rather than another scene."""

NO_COLOUR_BASELINE = ("The baseline photo has no colour (black and white, or a filter took it out), so redness and "
                      "pigment cannot be measured against it: choose a colour photo as the baseline.")


def prepare_baseline(rgb: np.ndarray, roi: Box | None = None, control: Box | None = None,
                     config: AnalysisConfig = AnalysisConfig()) -> Baseline:
    """Pre-compute what analysing photos against this baseline needs.

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 sRGB baseline photo, EXIF orientation applied.
    roi, control : tuple of int, optional
        Treated area and untreated control ``(x, y, width, height)`` in its pixels.
    config : AnalysisConfig

    Returns
    -------
    Baseline

    Raises
    ------
    ValueError
        When ``rgb`` is not an H x W x 3 uint8 image, has no colour
        (:data:`NO_COLOUR_BASELINE`), or a region lies outside the photo or is degenerate.
    """
    check_rgb8(rgb, "rgb")
    check_type(config, AnalysisConfig, "config", "an AnalysisConfig")
    check_box(roi, rgb.shape[:2], "region of interest")
    check_box(control, rgb.shape[:2], "control region")
    s, work = min(1.0, config.work_side / max(rgb.shape[:2])), rgb
    if s < 1:
        # Reduced as a follow-up's working copy is (shrink_to), so that the two are alike.
        work, sx, _ = shrink_to(rgb, config.work_side)
        if max(work.shape[:2]) < config.work_side:  # halvings stopped short of the side: their exact 1 / k
            s = sx
    if colourless(work):
        raise ValueError(NO_COLOUR_BASELINE)
    # Without a drawn region, what is measured is the face and the skin connected to it,
    # not whatever else has a skin-like colour (curtains, flags, orange clothes).
    found = None if roi is not None else find_skin(work)
    skin = skin_mask(work) if found is None else found.mask
    if roi is not None:
        region, region_mask = rgb[roi[1]: roi[1] + roi[3], roi[0]: roi[0] + roi[2]], None
    else:
        region, region_mask = work, skin if skin.sum() >= 256 else np.zeros(skin.shape, bool)
    region_rgb = resample_to_baseline(rgb, np.eye(3), roi, _measure_scale(roi))[0] if roi is not None else work
    exposure = exposure_stats(region, region_mask)
    return Baseline(
        rgb=rgb, reference=prepare_reference(rgb, config.alignment, tuple(b for b in (roi, control) if b) or None),
        roi=roi, control=control,
        work_scale=s, work_rgb=work, work_skin=skin, work_surroundings=~_widened_skin(skin), work_smoothed=smooth_for_fit(work),
        work_gray=luminance(work), work_band=detail_band(luminance(work)),
        glare_fraction=exposure["glare_fraction"], lightness=exposure["mean_lightness"],
        blockiness=blockiness(rgb), colour_card=find_colour_card(rgb), config=config, skin=found,
        noise_level=noise_level(luminance(work), _judged_mask(skin, roi, s)), region_lab=srgb8_to_lab(region_rgb),
    )


def _measure_scale(box: Box) -> float:
    return min(1.0, m.TEXTURE_MAX_SIDE / max(box[2], box[3]))


def _box_mask(shape: tuple[int, int], box: Box, scale: float, margin: float = 0.0) -> np.ndarray:
    x, y, w, h = box
    mx, my = w * margin, h * margin
    mask = np.zeros(shape, bool)
    x0, y0 = int(max(0, (x - mx) * scale)), int(max(0, (y - my) * scale))
    x1, y1 = int(np.ceil((x + w + mx) * scale)), int(np.ceil((y + h + my) * scale))
    mask[y0:y1, x0:x1] = True
    return mask


def _colour_correction(photo: np.ndarray, baseline: Baseline, work_photo: np.ndarray,
                       work_valid: np.ndarray) -> ColourCorrection:
    """Choose and fit the colour mapping into the baseline's rendering.

    A colour card in both photos wins, when the two charts' readings agree to
    ``max_card_residual_delta_e``. Otherwise the reference is what did not
    change: with ``treated="region"``, everything outside the region of interest
    (and its margin); with ``treated="face"`` (or no region), only what is not
    skin, widened by :data:`SKIN_MARGIN`, plus a declared control region. Skin
    that may be treated never votes: its redness would be read as a change of
    light and removed. When the surroundings are under
    :data:`MIN_SURROUNDINGS_FRACTION` of the overlap and there is no control,
    nothing is fitted (``method="none"``).
    """
    cfg = baseline.config
    chart_note = None
    if baseline.colour_card is not None:
        card = find_colour_card(photo)
        if card is not None:
            chart = fit_colour_card_correction(card.patches_rgb, baseline.colour_card.patches_rgb)
            if chart.residual_delta_e <= cfg.max_card_residual_delta_e:
                return chart
            chart_note = (f"The colour chart in this photo matches the baseline's only to {chart.residual_delta_e:.1f} "
                          "ΔE (glare on the chart, or another chart): colours were normalised from the surroundings.")
    shape = work_valid.shape
    roi_zone = (_box_mask(shape, baseline.roi, baseline.work_scale, cfg.roi_margin) if baseline.roi is not None
                else np.zeros(shape, bool))
    control = (work_valid & _box_mask(shape, baseline.control, baseline.work_scale)
               if baseline.control is not None else None)
    if baseline.roi is not None and cfg.treated == "region":
        reference, method, label = work_valid & ~roi_zone, "reference_skin", "untreated skin"
    else:
        reference = work_valid & ~roi_zone & baseline.work_surroundings
        if control is None:
            if reference.sum() < MIN_SURROUNDINGS_FRACTION * max(int(work_valid.sum()), 1):
                return uncorrected(COLOUR_NOT_NORMALISED)
            method, label = "surroundings", "surroundings"
        else:
            reference |= control
            method, label = "reference_skin", "control skin and surroundings"
    correction = fit_reference_correction(work_photo, baseline.work_rgb, reference,
                                          smoothed_baseline=baseline.work_smoothed, method=method, label=label,
                                          smooth_light=cfg.smooth_light)
    if correction is None:
        return uncorrected(COLOUR_NOT_NORMALISED)
    return correction if chart_note is None else replace(correction, note=chart_note)


def _widened_skin(skin: np.ndarray) -> np.ndarray:
    """``skin`` dilated by :data:`SKIN_MARGIN` of the frame's longest side."""
    r = max(1, int(round(SKIN_MARGIN * max(skin.shape))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(skin.astype(np.uint8), kernel) > 0


def analyse_baseline(baseline: Baseline) -> PhotoAnalysis:
    """Analyse the baseline photo itself (identity alignment, no colour change)."""
    check_type(baseline, Baseline, "baseline", "a Baseline (from prepare_baseline)")
    alignment = Alignment(ok=True, matrix=np.eye(3), inliers=0, matches=0, rmse_px=0.0, overlap=1.0,
                          roi_coverage=None if baseline.roi is None else 1.0, rotation_deg=0.0, scale=1.0,
                          refined=True)
    return _measure(baseline.rgb, baseline, alignment, identity_correction())


def analyse_photo(rgb: np.ndarray, baseline: Baseline) -> PhotoAnalysis:
    """Analyse one follow-up photo against the prepared baseline.

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 sRGB photo, EXIF orientation applied.
    baseline : Baseline
        From :func:`prepare_baseline`.

    Returns
    -------
    PhotoAnalysis

    Raises
    ------
    ValueError
        ``rgb`` is not an H x W x 3 uint8 image, or ``baseline`` not a Baseline.
    """
    check_rgb8(rgb, "rgb")
    check_type(baseline, Baseline, "baseline", "a Baseline (from prepare_baseline)")
    cfg = baseline.config
    # One reduced copy serves keypoint detection and the working frame.
    preview = None
    if max(rgb.shape[:2]) > cfg.alignment.orb_side:
        preview = shrink_to(rgb, cfg.alignment.orb_side)
    alignment = align_to_baseline(rgb, baseline.reference, baseline.roi, cfg.alignment,
                                  preview=None if preview is None else (preview[0], 0.5 * (preview[1] + preview[2])))
    if not alignment.ok:
        # A selfie some front cameras save mirrored: keypoints do not match a mirror image, its
        # flip back matches as well as any photo. The flip is folded into the maps, so the photo
        # itself is measured through them.
        flipped = align_to_baseline(np.ascontiguousarray(rgb[:, ::-1]), baseline.reference, baseline.roi,
                                    cfg.alignment)
        if flipped.ok:
            alignment = unmirrored(flipped, rgb.shape[1])
    if not alignment.ok:
        # Another person or another place: the reason is the framing, and what the
        # photo's light or focus is like says nothing about the skin to measure. A photo
        # with far fewer pixels than the baseline is most likely a reduced copy of one
        # framed alike (a messaging app's): that is the reason given.
        size_ratio = _size_ratio(baseline, rgb)
        copy = size_ratio >= UNMATCHED_COPY_RATIO
        quality = judge_quality(QualityMeasurements.without_exposure(
            region_label="the photo", framing_issue=None if copy else alignment.reason, blockiness=blockiness(rgb),
            baseline_blockiness=baseline.blockiness, distance_scale=size_ratio if copy else None,
            size_ratio=size_ratio,
        ), cfg.quality)
        return PhotoAnalysis(ok=False, quality=quality, alignment=alignment, colour=None, metrics=None,
                             error=quality.issues[0] if copy and quality.issues else alignment.reason)
    return _measure(rgb, baseline, alignment, None, preview)


def _measure(rgb: np.ndarray, baseline: Baseline, alignment: Alignment,
             correction: ColourCorrection | None, preview: tuple | None = None) -> PhotoAnalysis:
    """Colour-correct and measure an aligned photo (``correction`` None: fit one).

    ``preview`` is ``(image, sx, sy)``, a reduced copy of the photo made by
    :func:`tracker.analysis.align.shrink_to`, used for the working frame when it is at
    least as fine as that frame.
    """
    cfg = baseline.config
    matrix, region = alignment.matrix, alignment.region
    photo_scale = alignment.scale or 1.0
    bh, bw = baseline.shape
    work_source, work_matrix, work_region, work_photo_scale = rgb, matrix, region, photo_scale
    if preview is not None:
        small, sx, sy = preview
        # Up to 30 % upsampling from the reduced copy is harmless for colour fitting and focus.
        if photo_scale / min(sx, sy) * baseline.work_scale <= 1.3:
            work_source, work_photo_scale = small, photo_scale / sx
            work_matrix = rescale_homography(matrix, (sx, sy))
            work_region = None if region is None else rescale_region(region, (sx, sy))
    # The whole frame, through the region's registration around the region and the global one elsewhere.
    work_photo, work_valid = resample_to_baseline(work_source, work_matrix, (0, 0, bw, bh), baseline.work_scale,
                                                  work_photo_scale, work_region)
    if correction is None:
        correction = _colour_correction(rgb, baseline, work_photo, work_valid)

    if baseline.roi is not None:
        roi_rgb, roi_valid = resample_to_baseline(rgb, matrix, baseline.roi, _measure_scale(baseline.roi), photo_scale,
                                                  region)
        region_label = "the treated area"
        region_px = min(baseline.roi[2], baseline.roi[3]) / (alignment.scale or 1.0)
        skin_info = {"source": "region", "fraction": round(baseline.roi[2] * baseline.roi[3] / (bw * bh), 4),
                     "face": None, "note": "The region of interest drawn on the baseline was measured."}
    else:
        roi_rgb, roi_valid = work_photo, work_valid & baseline.work_skin
        region_label = "the skin in the photo"
        region_px = None
        skin_info = baseline.skin.to_dict(baseline.work_scale) if baseline.skin is not None else None
        if roi_valid.sum() < 256:
            roi_valid = work_valid
            region_label = "the photo"
            skin_info = {"source": "whole_photo", "fraction": 1.0, "face": None,
                         "note": "No skin was found where the photo overlaps the baseline: the whole photo was "
                                 "measured; draw the region to measure."}
    # Exposure and glare are judged on the skin or the treated area, never on the background.
    exposure_valid = roi_valid if region_label != "the photo" else np.zeros(roi_valid.shape, bool)

    control_rgb = control_valid = None
    if baseline.control is not None:
        control_rgb, control_valid = resample_to_baseline(rgb, matrix, baseline.control,
                                                          _measure_scale(baseline.control), photo_scale, region)

    control_stats = exposure_stats(control_rgb, control_valid) if control_rgb is not None else None
    corrected_work = correction.apply(work_photo)
    if baseline.roi is None:
        # The skin is part of the working frame: per-pixel colour work is done on its box
        # (_measured_box), and the corrected frame is the corrected skin unless a clipped
        # channel of the skin is restored first (correct_region).
        crop = _measured_box(roi_valid)
        restores = single_clipped(roi_rgb[crop], roi_valid[crop]).any()
        corrected_roi = correct_region(correction, roi_rgb, roi_valid) if restores else corrected_work
    else:
        crop = (slice(None), slice(None))
        corrected_roi = correct_region(correction, roi_rgb, roi_valid, frame_of_box(baseline.roi, baseline.shape))
    full_valid, full_shape = roi_valid, roi_valid.shape
    corrected_roi, roi_valid = corrected_roi[crop], roi_valid[crop]
    lab = srgb_to_lab(corrected_roi)
    is_baseline = correction.method == "baseline"
    # Focus is compared with the baseline over the whole overlap at the working
    # scale: more signal than a small region, and sensor noise is averaged down.
    # A photo from further away holds less of the baseline's detail however well it is
    # focused: it is compared with the baseline brought to its resolution.
    base_gray = baseline.work_gray
    upsampling = work_photo_scale * baseline.work_scale  # working-frame pixels per pixel of the photo sampled
    relative = None if is_baseline else (
        sharpness(_gray01(corrected_work), work_valid)
        / max(_baseline_sharpness(baseline, work_valid, upsampling), 1e-9))
    quality = judge_quality(QualityMeasurements.of_region(
        roi_rgb[crop], exposure_valid[crop],
        baseline_glare_fraction=None if is_baseline else baseline.glare_fraction,
        baseline_lightness=None if is_baseline else baseline.lightness,
        blockiness=blockiness(rgb), baseline_blockiness=None if is_baseline else baseline.blockiness,
        distance_scale=None if is_baseline else photo_scale,
        size_ratio=None if is_baseline else _size_ratio(baseline, rgb),
        # Grain over the judged region in the working frame, where the baseline's was measured.
        noise_level=noise_level(luminance(work_photo), work_valid & _judged_mask(baseline.work_skin, baseline.roi,
                                                                                         baseline.work_scale)),
        baseline_noise_level=None if is_baseline else baseline.noise_level,
        control_overexposed_fraction=None if control_stats is None else control_stats["overexposed_fraction"],
        control_underexposed_fraction=None if control_stats is None else control_stats["underexposed_fraction"],
        relative_sharpness=relative,
        blur_effect=blur_score(base_gray) if is_baseline else None,
        region_px=region_px, region_label=region_label,
        colour_issue=correction.note if correction.method == "none" else None,
        colourless=colourless(work_photo),
    ), cfg.quality)

    values: dict[str, float | None] = {
        "redness_a": m.redness_a(lab, roi_valid),
        "lightness_l": m.lightness_l(lab, roi_valid),
        "yellowness_b": m.yellowness_b(lab, roi_valid),
        "erythema_index": m.erythema_index(corrected_roi, roi_valid),
        "melanin_index": m.melanin_index(corrected_roi, roi_valid),
        "ita_deg": m.ita_deg(lab, roi_valid),
        "haemoglobin_takiwaki": m.haemoglobin_takiwaki(lab, roi_valid),
        "melanin_takiwaki": m.melanin_takiwaki(lab, roi_valid),
    }
    if control_rgb is not None:
        control_lab = srgb_to_lab(correct_region(correction, control_rgb, control_valid,
                                                 frame_of_box(baseline.control, baseline.shape)))
        values["redness_delta_a"] = m.redness_delta_a(lab, control_lab, roi_valid, control_valid)
    else:
        values["redness_delta_a"] = None
    change = np.full(full_shape, np.nan, np.float32)
    change[crop] = m.redness_change_map(lab, baseline.region_lab[crop], roi_valid)
    values["erythema_area_fraction"] = m.erythema_area_fraction(change)
    mm2 = baseline.mm2_per_px
    # A pixel of the measured grid covers 1 / scale² baseline pixels.
    grid_scale = _measure_scale(baseline.roi) if baseline.roi is not None else baseline.work_scale
    values["erythema_area_cm2"] = m.erythema_area_cm2(change, None if mm2 is None else mm2 / grid_scale**2)
    values["redness_change_p90"] = m.redness_change_p90(change)
    values["redness_focal_a"] = m.redness_focal_a(change)
    lightness = np.zeros(full_shape, lab.dtype)
    lightness[crop] = lab[..., 0]
    texture = m.texture_metrics(lightness, full_valid)
    if quality.measurements.colourless:  # every measure but texture is of colour, which this photo does not have
        values = dict.fromkeys(values)
    values.update({k: None for k in texture} if quality.texture_withheld else texture)
    metrics_out = {k: (None if v is None or not np.isfinite(v) else round(float(v), 5)) for k, v in values.items()}
    return PhotoAnalysis(ok=True, quality=quality, alignment=alignment, colour=correction, metrics=metrics_out,
                         change_map=change, skin=skin_info)


def _size_ratio(baseline: Baseline, rgb: np.ndarray) -> float:
    """The baseline's long side over the photo's, in pixels (2: a photo half as wide)."""
    return max(baseline.shape[:2]) / max(rgb.shape[:2])


def _measured_box(mask: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns of ``mask``'s bounding box widened by what the measurements' filters reach.

    The texture reduces the frame to :data:`~tracker.analysis.metrics.TEXTURE_MAX_SIDE` and
    filters it with a Gaussian of sigma 2 px (radius 8 px) and 3 x 3 patterns; the change map's
    Gaussian reaches 4 sigma. Beyond the widened box no pixel enters a value measured on the
    mask, so measuring the box gives what measuring the frame gives, bit for bit.
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return slice(0, 0), slice(0, 0)
    reduction = max(1.0, max(mask.shape) / m.TEXTURE_MAX_SIDE)
    reach = int(np.ceil(reduction * (4 * max(2.0, m.CHANGE_MAP_SIGMA_PX) + 3))) + 2
    return (slice(max(0, rows[0] - reach), rows[-1] + 1 + reach),
            slice(max(0, cols[0] - reach), cols[-1] + 1 + reach))


def _judged_mask(work_skin: np.ndarray, roi: Box | None, work_scale: float) -> np.ndarray:
    """The region the quality gate judges, in the working frame: the treated area's box, or the skin."""
    return work_skin if roi is None else _box_mask(work_skin.shape, roi, work_scale)


def _baseline_sharpness(baseline: Baseline, valid: np.ndarray, upsampling: float) -> float:
    """Sharpness of the baseline's working frame as a photo with ``upsampling`` working pixels per pixel would see it."""
    if upsampling <= 1.25:  # within the hand-held range of distances the tests and thresholds cover
        return sharpness(baseline.work_gray, valid, baseline.work_band)
    h, w = baseline.work_gray.shape
    coarse = cv2.resize(baseline.work_gray, (max(1, round(w / upsampling)), max(1, round(h / upsampling))),
                        interpolation=cv2.INTER_AREA)
    return sharpness(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR), valid)


def _gray01(rgb01: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb01, np.float32), cv2.COLOR_RGB2GRAY) * 255
