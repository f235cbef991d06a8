"""Photo quality gate: is this photo usable, and if not, what should the patient change?

Measurements (:func:`exposure_stats`, :func:`sharpness`) are separated from the
verdict (:func:`judge_quality`) so thresholds are in one place
(:class:`QualityThresholds`) and each rule can be tested with plain numbers.

Every issue is a sentence a patient can act on; the verdict is about the photo,
never about the skin.

References
----------
.. [1] Pech-Pacheco, J. L. et al. (2000). Diatom autofocusing in brightfield
       microscopy: a comparative study. ICPR 3, 314-317 (variance of the
       Laplacian as a focus measure).
.. [2] Crété-Roffet, F. et al. (2007). The blur effect: perception and
       estimation with a new no-reference perceptual blur metric. SPIE 6492.
       doi:10.1117/12.702790
.. [3] Khavkin, J., Ellis, D. A. F. (2011). Standardized photography for skin
       surface. Facial Plast Surg Clin N Am 19(2), 241-246.
.. [4] Wang, Z., Bovik, A. C., Evans, B. L. (2000). Blind measurement of
       blocking artifacts in images. ICIP 3, 981-984.
       doi:10.1109/ICIP.2000.899622
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from skimage.measure import blur_effect

from tracker.analysis._checks import check_gray, check_mask, check_rgb8, check_same_shape, check_type
from tracker.analysis.colour import channel_extreme, channels_at_or_above, srgb8_to_lab

__all__ = [
    "QUALITY_CODES",
    "QualityThresholds",
    "QualityMeasurements",
    "QualityReport",
    "exposure_stats",
    "sharpness",
    "detail_band",
    "blur_score",
    "blockiness",
    "noise_level",
    "colourless",
    "downscaled_issue",
    "judge_quality",
]


QUALITY_CODES = {
    "no_colour": "black and white, or a filter took the colour out",
    "compressed": "heavily compressed (JPEG blocks beyond the baseline's)",
    "overexposed": "washed out (two or more channels at 251-255)",
    "glare": "shine reflecting the light",
    "too_bright": "too bright overall",
    "colour_clipped": "one channel clipped, so colour is not true",
    "underexposed": "too dark, or darker than the baseline",
    "noisy": "grainier than the baseline",
    "control_exposure": "the untreated comparison area is badly lit",
    "blurred": "out of focus, or less sharp than the baseline",
    "framing": "the region is not (wholly) in the photo",
    "colour_not_normalised": "colour could not be normalised to the baseline",
    "low_resolution": "the region is too small in the photo",
    "too_far": "taken from further away than the baseline",
    "downscaled": "fewer pixels than the baseline at the same framing (a reduced copy, or a lower-resolution camera)",
}
"""Every code :func:`judge_quality` can report, with its meaning in a few words (the export's
data dictionary is generated from it)."""


@dataclass(frozen=True)
class QualityThresholds:
    """Limits of a usable photo.

    Attributes
    ----------
    max_overexposed : float
        Largest share of the region with two or more channels at 251-255
        (washed out towards white).
    max_channel_clipped : float
        Largest share of the region with any one channel at 251-255; a clipped
        red channel makes red skin read less red than it is.
    max_underexposed : float
        Largest share of the region with a channel at 0-4 (crushed black).
    min_lightness, max_lightness : float
        Range of the region's mean L* when there is no baseline to compare to.
    max_lightness_drop : float
        Largest fall of the region's mean L* below the baseline's, same region:
        exposure is judged against the baseline, so a photo a little darker
        than a dark baseline is not refused while one as dark as a bright
        baseline's shadows is.
    min_lightness_floor : float
        Smallest mean L* accepted whatever the baseline (nothing left to measure).
    max_glare : float
        Largest share of the region brighter than L* 92 (specular glare).
    max_glare_increase : float
        Largest increase of that share over the baseline's, same region: skin
        that shines in the baseline too is not the photographer's doing.
    min_relative_sharpness : float
        Smallest sharpness of the photo relative to the baseline, same region.
    max_blur_effect : float
        Largest no-reference blur score when there is no baseline to compare to.
    min_region_px : float
        Fewest photo pixels across the region (shorter side).
    texture_sharpness_tolerance : float
        Texture is compared with the baseline only when the photo's sharpness relative
        to the baseline is within 1 +- this. Measured (validation/pixel_change.py): GLCM
        contrast moved -14 % at a relative sharpness of 0.87 (0.8 px defocus), -25 % at
        0.74, and at most 8 % within the tolerance. Sensor noise is not caught: noise of
        4 grey levels raised it 26 % at a relative sharpness of 1.01.
    max_blockiness : float
        Largest JPEG blockiness (:func:`blockiness`) of the photo: 1 for an
        uncompressed photo, about 1.0-1.25 at JPEG quality 90 and 2.8 or more at
        quality 5 or below on the real photographs of ``tests/real_photos.md``.
    max_blockiness_increase : float
        How much blockier than the baseline a photo may be: a baseline sent
        compressed is not a reason to refuse photos sent the same way.
    max_distance_scale : float
        Largest size of the baseline's detail relative to the photo's (the
        alignment's scale): above it the skin is seen from too far away to
        show the baseline's detail.
    max_copy_distance : float
        When the skin has too few pixels (``max_distance_scale``) but the photo
        shows it at most this much smaller than its own reduction in size from
        the baseline explains (``distance_scale / size_ratio``), the photo is a
        reduced copy (``downscaled``), not taken from further away.
    max_noise_ratio, max_noise : float
        A photo whose grain (:func:`noise_level`, same region and scale as the
        baseline's) is above both this multiple of the baseline's and this many
        8-bit levels is too grainy: a phone amplifies its signal, and its
        noise, when there is too little light. Ordinary phone noise (SD up to
        about 4 levels) passes even against a very clean baseline.
    """

    max_overexposed: float = 0.05
    max_channel_clipped: float = 0.4
    max_underexposed: float = 0.05
    min_lightness: float = 20.0
    max_lightness: float = 90.0
    max_lightness_drop: float = 25.0
    min_lightness_floor: float = 8.0
    max_glare: float = 0.08
    max_glare_increase: float = 0.05
    min_relative_sharpness: float = 0.4
    max_blur_effect: float = 0.6
    min_region_px: float = 48.0
    texture_sharpness_tolerance: float = 0.1
    max_blockiness: float = 2.5
    max_blockiness_increase: float = 0.5
    max_distance_scale: float = 1.6
    max_copy_distance: float = 1.25
    max_noise_ratio: float = 2.0
    max_noise: float = 6.0


@dataclass(frozen=True)
class QualityMeasurements:
    """What was measured of a photo; ``None`` where it did not apply.

    Exposure (clipping, glare, lightness) is of the skin or the treated area
    only, never of the whole picture; NaN when there was none to judge, and a
    NaN measurement never fires a rule.
    """

    overexposed_fraction: float
    channel_clipped_fraction: float
    underexposed_fraction: float
    glare_fraction: float
    mean_lightness: float
    baseline_glare_fraction: float | None = None
    control_overexposed_fraction: float | None = None
    control_underexposed_fraction: float | None = None
    relative_sharpness: float | None = None
    blur_effect: float | None = None
    region_px: float | None = None
    region_label: str = "the treated area"
    framing_issue: str | None = None
    colour_issue: str | None = None
    baseline_lightness: float | None = None
    blockiness: float | None = None
    baseline_blockiness: float | None = None
    distance_scale: float | None = None
    noise_level: float | None = None
    baseline_noise_level: float | None = None
    colourless: bool = False
    size_ratio: float | None = None  # the baseline's long side over the photo's, in pixels

    @classmethod
    def of_region(cls, rgb: np.ndarray, mask: np.ndarray | None = None, **others) -> QualityMeasurements:
        """Exposure measurements of a region (see :func:`exposure_stats`) plus ``others``."""
        return cls(**exposure_stats(rgb, mask), **others)

    @classmethod
    def without_exposure(cls, **others) -> QualityMeasurements:
        """Measurements of a photo whose exposure is not judged (no skin or region to judge it on)."""
        nan = float("nan")
        return cls(overexposed_fraction=nan, channel_clipped_fraction=nan, underexposed_fraction=nan,
                   glare_fraction=nan, mean_lightness=nan, **others)


@dataclass(frozen=True)
class QualityReport:
    """The verdict: ``ok`` and, when not, sentences saying what to change."""

    ok: bool
    issues: tuple[str, ...]
    codes: tuple[str, ...]
    measurements: QualityMeasurements = field(repr=False)
    texture_withheld: str | None = None  # why texture is not compared with the baseline, when it is not

    def to_dict(self) -> dict:
        """JSON-ready form used by the CLI contract."""
        m = self.measurements
        rnd = lambda v, n=4: None if v is None or not np.isfinite(v) else round(float(v), n)  # noqa: E731
        return {
            "ok": self.ok,
            "issues": list(self.issues),
            "codes": list(self.codes),
            "overexposed_fraction": rnd(m.overexposed_fraction),
            "channel_clipped_fraction": rnd(m.channel_clipped_fraction),
            "underexposed_fraction": rnd(m.underexposed_fraction),
            "glare_fraction": rnd(m.glare_fraction),
            "mean_lightness": rnd(m.mean_lightness, 2),
            "control_overexposed_fraction": rnd(m.control_overexposed_fraction),
            "control_underexposed_fraction": rnd(m.control_underexposed_fraction),
            "relative_sharpness": rnd(m.relative_sharpness, 3),
            "texture_withheld": self.texture_withheld,
            "blur_effect": rnd(m.blur_effect, 3),
            "region_px": rnd(m.region_px, 1),
            "baseline_lightness": rnd(m.baseline_lightness, 2),
            "blockiness": rnd(m.blockiness, 3),
            "baseline_blockiness": rnd(m.baseline_blockiness, 3),
            "distance_scale": rnd(m.distance_scale, 3),
            "noise_level": rnd(m.noise_level, 3),
            "baseline_noise_level": rnd(m.baseline_noise_level, 3),
        }


def exposure_stats(rgb: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Clipping, glare and mean lightness of an 8-bit sRGB region.

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 sRGB image.
    mask : numpy.ndarray, optional
        Boolean H x W mask of the region's pixels.

    Returns
    -------
    dict
        ``overexposed_fraction`` (two or more channels >= 251),
        ``channel_clipped_fraction`` (any channel >= 251), ``underexposed_fraction``
        (any channel <= 4), ``glare_fraction`` (L* > 92, the specular level
        given for skin photos), ``mean_lightness`` (mean L*, 0-100).
    """
    check_rgb8(rgb, "rgb")
    check_mask(mask, rgb.shape[:2], "mask")
    px = rgb.reshape(-1, 3) if mask is None else rgb[mask]
    if px.size == 0:
        return {"overexposed_fraction": float("nan"), "channel_clipped_fraction": float("nan"),
                "underexposed_fraction": float("nan"),
                "glare_fraction": float("nan"), "mean_lightness": float("nan")}
    lightness = srgb8_to_lab(px[None])[0, :, 0]
    return {
        "overexposed_fraction": float(np.mean(channels_at_or_above(px, 251) >= 2)),
        "channel_clipped_fraction": float(np.mean(channel_extreme(px, np.maximum) >= 251)),
        "underexposed_fraction": float(np.mean(channel_extreme(px, np.minimum) <= 4)),
        "glare_fraction": float(np.mean(lightness > 92.0)),
        "mean_lightness": float(np.mean(lightness)),
    }


def detail_band(gray: np.ndarray) -> np.ndarray:
    """The difference of Gaussians (sigma 1 and 2 px) that :func:`sharpness` measures, of an H x W grey image."""
    check_gray(gray, "gray")
    g = gray.astype(np.float32)
    return cv2.GaussianBlur(g, (0, 0), 1.0) - cv2.GaussianBlur(g, (0, 0), 2.0)


def sharpness(gray: np.ndarray, mask: np.ndarray | None = None, band: np.ndarray | None = None) -> float:
    """Contrast-normalised band-pass energy (dimensionless): how much fine detail the image holds.

    The mean square of a difference of Gaussians (sigma 1 and 2 px) divided by
    the variance of the image. Unlike the variance of the Laplacian [1]_, this
    band ignores pixel-level sensor noise, which otherwise makes a defocused
    but noisy photo look sharp; normalising by the variance makes exposure or
    contrast changes alone read as no change of focus. Comparable only between
    images of the same scene at the same scale: compare a photo with its
    baseline, not with a fixed number. ``band`` may pass ``detail_band(gray)``
    when it is already known (a baseline measured against many photos).
    ``gray`` is an H x W grey image, ``mask`` a boolean H x W mask.
    """
    check_gray(gray, "gray")
    check_mask(mask, gray.shape, "mask")
    if band is not None:
        check_gray(band, "band")
        check_same_shape(band, gray, "band", "gray")
    g = gray.astype(np.float32)
    if band is None:
        band = detail_band(g)
    inner = np.zeros(g.shape, bool)
    inner[6:-6, 6:-6] = True  # away from the border the blur pads
    sel = inner if mask is None else inner & mask
    if sel.sum() < 64:
        return float("nan")
    return float(np.mean(band[sel] ** 2) / max(float(g[sel].var()), 1e-6))


def blockiness(image: np.ndarray, max_side: int = 1024) -> float:
    """JPEG blockiness (dimensionless, 1 = none) of an H x W grey or H x W x 3 uint8 sRGB image as it was decoded.

    The mean absolute step between neighbouring pixels across the 8-pixel
    block boundaries of JPEG, divided by the mean step everywhere else,
    averaged over rows and columns (after the block-boundary measure of Wang
    et al. [4]_). An uncompressed photo has no preferred boundary (about 1);
    heavy compression flattens each block and leaves steps at its edges
    (above 2.5 at JPEG quality 10 or below on real photographs). The grid is
    that of the decoded file, so the image must not have been resized or
    cropped off the 8-pixel grid since; a central part of at most
    ``max_side`` pixels on a block corner is measured (of a colour image,
    its Rec. 601 luma, computed on that part only).
    """
    if image.ndim == 3:
        check_rgb8(image, "image")
    else:
        check_gray(image, "image")
    h, w = image.shape[:2]
    if min(h, w) < 32:
        return float("nan")
    y0 = max(0, (h - max_side) // 2) // 8 * 8
    x0 = max(0, (w - max_side) // 2) // 8 * 8
    part = image[y0: y0 + max_side, x0: x0 + max_side]
    if part.ndim == 3:
        part = cv2.cvtColor(np.ascontiguousarray(part), cv2.COLOR_RGB2GRAY)
    g = part.astype(np.float32)
    ratios = []
    for steps in (np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0)).T):
        boundary = np.arange(steps.shape[1]) % 8 == 7
        ratios.append(float(steps[:, boundary].mean()) / max(float(steps[:, ~boundary].mean()), 1e-3))
    return float(np.mean(ratios))


def noise_level(gray: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Grain of an H x W grey image (8-bit levels): robust SD of each pixel less the mean of its 4 neighbours.

    The median absolute deviation (x 1.4826) of that residual over ``mask``
    (boolean H x W), divided by 1.118 so that white noise of SD s reads s.
    Fine texture counts too, so it is only comparable between photos of the
    same region at the same scale: compare a photo with its baseline. NaN
    with fewer than 64 pixels.
    """
    check_gray(gray, "gray")
    check_mask(mask, gray.shape, "mask")
    g = gray.astype(np.float32)
    residual = g[1:-1, 1:-1] - 0.25 * (g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:])
    sel = residual.ravel() if mask is None else residual[mask[1:-1, 1:-1]]
    if sel.size < 64:
        return float("nan")
    return float(1.4826 * np.median(np.abs(sel - np.median(sel))) / np.sqrt(1.25))


COLOURLESS_CHROMA = 4
"""Largest spread of a pixel's three 8-bit channels (max - min) that the 99th percentile of a
photo may reach and still count as colourless: a black-and-white JPEG decodes to equal channels,
or to a level or two apart after chroma subsampling, while skin in any light spreads them by tens."""


def colourless(rgb: np.ndarray) -> bool:
    """Whether an 8-bit RGB photo has no colour to measure (black and white, or a filter took it out).

    The 99th percentile of ``max(R, G, B) - min(R, G, B)`` over every 4th pixel each way is at
    most :data:`COLOURLESS_CHROMA`: even skin covering 1 % of the picture lifts it far above.

    Examples
    --------
    >>> grey = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    >>> colourless(grey), colourless(np.dstack([grey[..., 0], grey[..., 1] // 2, grey[..., 2] // 3]))
    (True, False)
    """
    check_rgb8(rgb, "rgb")
    sample = rgb[::4, ::4]
    spread = channel_extreme(sample, np.maximum).astype(np.int16) - channel_extreme(sample, np.minimum)
    return bool(np.percentile(spread, 99) <= COLOURLESS_CHROMA)


def blur_score(gray: np.ndarray) -> float:
    """No-reference perceptual blur (0 sharp - 1 blurred) of an H x W grey image, by Crété-Roffet et al. [2]_."""
    check_gray(gray, "gray")
    return float(blur_effect(gray))


def judge_quality(m: QualityMeasurements, t: QualityThresholds = QualityThresholds()) -> QualityReport:
    """Turn measurements into a verdict with sentences a patient can act on.

    Notes
    -----
    Rules that compare with the baseline (lightness, sharpness, glare,
    blockiness) are used whenever the baseline's measurement is given; the
    absolute limits only when it is not (the baseline itself). A photo too
    compressed to judge is told so instead of being called out of focus, and
    one taken from further away (``distance_scale``) is told to come closer:
    its sharpness is compared with the baseline's at the photo's resolution,
    so distance alone never reads as blur.
    """
    check_type(m, QualityMeasurements, "m", "QualityMeasurements")
    check_type(t, QualityThresholds, "t", "QualityThresholds")
    issues: list[tuple[str, str]] = []
    where = m.region_label
    known = lambda v: v is not None and bool(np.isfinite(v))  # noqa: E731
    if m.colourless:
        issues.append(("no_colour", "No colour: the photo is black and white (or a filter took its colour out), so "
                       "redness and pigment cannot be measured. Turn off any filter or black-and-white mode and take "
                       "it again in colour."))

    compressed = known(m.blockiness) and m.blockiness > t.max_blockiness and (
        not known(m.baseline_blockiness) or m.blockiness > m.baseline_blockiness + t.max_blockiness_increase)
    if compressed:
        issues.append(("compressed", "This photo was heavily compressed (sent through a chat app or shrunk to send), "
                       "so its detail and colours are lost: add the original photo from your phone's gallery."))
    if m.overexposed_fraction > t.max_overexposed:
        issues.append(("overexposed", f"Too bright: {m.overexposed_fraction:.0%} of {where} is washed out. "
                       "Avoid direct flash and strong sunlight; use even daylight."))
    elif m.glare_fraction > t.max_glare and (
            m.baseline_glare_fraction is None or m.glare_fraction > m.baseline_glare_fraction + t.max_glare_increase):
        issues.append(("glare", f"Shine: {m.glare_fraction:.0%} of {where} reflects the light. "
                       "Avoid direct flash and overhead lamps, and pat the skin dry."))
    elif m.mean_lightness > t.max_lightness:
        issues.append(("too_bright", "Too bright overall: use less light or step out of direct sunlight."))
    elif m.channel_clipped_fraction > t.max_channel_clipped:
        issues.append(("colour_clipped", f"Too bright for true colour: {m.channel_clipped_fraction:.0%} of {where} "
                       "is beyond what the camera can record. Use softer, indirect light."))
    if known(m.baseline_lightness):
        darkest = max(t.min_lightness_floor, m.baseline_lightness - t.max_lightness_drop)
    else:
        darkest = t.min_lightness
    if m.underexposed_fraction > t.max_underexposed or m.mean_lightness < darkest:
        issues.append(("underexposed", f"Too dark: {where} is in shadow. "
                       "Take the photo facing a window in daylight, without flash."))
    elif known(m.noise_level) and known(m.baseline_noise_level) and m.noise_level > max(
            t.max_noise, t.max_noise_ratio * m.baseline_noise_level):
        issues.append(("noisy", f"Grainy: {where} is about {m.noise_level / max(m.baseline_noise_level, 0.5):.0f} "
                       "times as grainy as in your first photo, from too little light. "
                       "Take the photo facing a window in daylight, without flash."))
    control_bad = [
        frac for frac in (m.control_overexposed_fraction, m.control_underexposed_fraction)
        if frac is not None and frac > t.max_overexposed
    ]
    if control_bad:
        issues.append(("control_exposure", f"The comparison area of untreated skin is badly lit "
                       f"({max(control_bad):.0%} washed out or black): light the whole area evenly."))
    # A compressed photo's lost detail is the compression's: its focus cannot be judged.
    if m.relative_sharpness is not None:
        if m.relative_sharpness < t.min_relative_sharpness and not compressed:
            issues.append(("blurred", f"Out of focus: this photo is about {1 - m.relative_sharpness:.0%} less sharp "
                           "than your first photo. Hold the phone still, tap the skin to focus, and use more light."))
    elif m.blur_effect is not None and m.blur_effect > t.max_blur_effect and not compressed:
        issues.append(("blurred", "Out of focus: hold the phone still, tap the skin to focus, and use more light."))
    if m.framing_issue:
        issues.append(("framing", m.framing_issue))
    if m.colour_issue:
        issues.append(("colour_not_normalised", m.colour_issue))
    # Both say "come closer": the region's size in pixels, when known, is the more precise.
    if m.region_px is not None and m.region_px < t.min_region_px:
        issues.append(("low_resolution", f"{where[0].upper() + where[1:]} is too small in the photo "
                       f"({m.region_px:.0f} pixels across): move closer, about 20 cm from the skin."))
    elif known(m.distance_scale) and m.distance_scale > t.max_distance_scale:
        if known(m.size_ratio) and m.distance_scale / m.size_ratio <= t.max_copy_distance:
            issues.append(("downscaled", downscaled_issue(m.size_ratio)))
        else:
            issues.append(("too_far", f"Too far away: the skin looks {1 / m.distance_scale:.0%} as large as in "
                           "your first photo. Come closer, to the distance of your first photo."))
    return QualityReport(ok=not issues, issues=tuple(msg for _, msg in issues),
                         codes=tuple(code for code, _ in issues), measurements=m,
                         texture_withheld=_texture_withheld(m, t))


def downscaled_issue(size_ratio: float) -> str:
    """What to do about a reduced copy of a photo, ``size_ratio`` times narrower than the baseline."""
    return (f"Too few pixels: this photo is {1 / size_ratio:.0%} as wide in pixels as your first photo, so it lacks "
            "the detail to measure. If it is a copy (sent by a messaging app, or a screenshot), send the original "
            "from your phone's photo gallery; if it is the camera's own photo, come closer.")


def _texture_withheld(m: QualityMeasurements, t: QualityThresholds) -> str | None:
    """Why texture cannot be compared with the baseline's (the focus differs), or None."""
    if m.relative_sharpness is not None and abs(m.relative_sharpness - 1) > t.texture_sharpness_tolerance:
        return (f"Texture not compared: this photo's focus differs from the baseline's (relative sharpness "
                f"{m.relative_sharpness:.2f}, tolerance 1 ± {t.texture_sharpness_tolerance:g}); focus alone moves it.")
    return None
