"""Skin metrics in a region of interest: redness, pigmentation and texture.

Each metric is a function over arrays registered with :func:`metric`, which
records its name, units, colour space and source. The registry
:data:`METRICS` is the single definition from which the documentation and the
export data dictionary are generated. Colours are measured after colour
normalisation to the baseline's rendering (:mod:`tracker.analysis.colour`); texture on
the region resampled into the baseline's pixel grid, so values of one patient
are comparable across photos.

Bump :data:`METRIC_VERSION` whenever a definition or its inputs change, so that
stored results can be recomputed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.feature import graycomatrix, graycoprops

from tracker.analysis._checks import check_gray, check_lab, check_mask, check_number, check_rgb01, check_text
from tracker.analysis.colour import srgb_to_linear

__all__ = [
    "METRIC_VERSION",
    "MetricDefinition",
    "METRICS",
    "metric",
    "CHANGE_MAP_SIGMA_PX",
    "CHANGE_THRESHOLD_A",
    "FOCAL_THRESHOLD_A",
    "redness_change_map",
    "TEXTURE_MAX_SIDE",
    "TAKIWAKI_HAEMOGLOBIN",
    "TAKIWAKI_MELANIN",
    "uniform_lbp_inner",
]

METRIC_VERSION = "2.4"
# 1.1: haemoglobin_takiwaki and melanin_takiwaki added (redness separated from darkening).
# 2.0: erythema_area_fraction is redefined on the per-pixel Δa* map against the baseline
#      (it compared each pixel with the control's median a*, and read 0.14-0.25 on untreated
#      skin); erythema_area_cm2, redness_change_p90 and redness_focal_a added.
# 2.1: no measure is redefined. A black-and-white photo fails the quality gate (no_colour) and
#      gets no colour measures (the colour fit made them up); a photo with far fewer pixels than
#      the baseline is told so (downscaled) instead of "too far" or "an impossible camera move";
#      a mirrored selfie is measured flipped back instead of failing. Stored results are
#      recomputed so that those photos get the new verdicts.
# 2.2: a photo whose treated area or control was registered off is refused (no measure redefined).
# 2.3: the colour fit's tone curve is fitted as a power of encoded values or of linear light.
# 2.4: a large photo's working copy is made by whole halvings first (4000 px gives 1000 px),
#      then the remainder; photos of up to 1945 px and of 2050-3071 px are reduced as before.

#: Gaussian sigma (px of the measurement grid) by which the per-pixel Δa* map is smoothed.
CHANGE_MAP_SIGMA_PX = 2.0

#: Smoothed Δa* against the baseline (CIELAB a* units) above which a pixel counts as
#: redder than before: above the per-pixel noise of repeat photos of unchanged skin
#: (validation/pixel_change.py, VALIDITY.md).
CHANGE_THRESHOLD_A = 3.0

#: p90 - median of the Δa* map (a* units) at which redness counts as focal.
FOCAL_THRESHOLD_A = 3.0

#: Longest side (px) at which the region is resampled for texture, so texture
#: is measured at a fixed scale for a given baseline region.
TEXTURE_MAX_SIDE = 512


@dataclass(frozen=True)
class MetricDefinition:
    """What a metric means, for people: its data-dictionary entry."""

    name: str
    label: str
    units: str
    colour_space: str
    formula: str
    source: str
    description: str


METRICS: dict[str, MetricDefinition] = {}


def metric(name: str, *, label: str, units: str, colour_space: str, formula: str, source: str):
    """Register a metric function and append its definition to its docstring."""
    for value, field_name in ((name, "name"), (label, "label"), (units, "units"), (colour_space, "colour_space"),
                              (formula, "formula"), (source, "source")):
        check_text(value, field_name)

    def register(fn: Callable) -> Callable:
        summary = (fn.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        METRICS[name] = MetricDefinition(name, label, units, colour_space, formula, source, summary)
        fn.__doc__ = (fn.__doc__ or "") + (
            f"\n\n    Definition\n    ----------\n    Units: {units}\n    Colour space: {colour_space}\n"
            f"    Formula: {formula}\n    Source: {source}\n"
        )
        fn.metric_name = name
        return fn

    return register


def _check_lab_region(lab: np.ndarray, mask: np.ndarray | None, name: str = "lab", mask_name: str = "mask") -> None:
    """Float L*a*b* on the last axis (an image or a list of pixels), a boolean mask over the other axes."""
    check_lab(lab, name, pixels=True)
    check_mask(mask, lab.shape[:-1], mask_name)


def _check_rgb01_region(rgb01: np.ndarray, mask: np.ndarray | None) -> None:
    """Float 0-1 sRGB on the last axis (an image or a list of pixels), a boolean mask over the other axes."""
    check_rgb01(rgb01, "rgb01", pixels=True)
    check_mask(mask, rgb01.shape[:-1], "mask")


def _check_lightness_region(lightness: np.ndarray, mask: np.ndarray | None) -> None:
    """An H x W image of L* and a boolean H x W mask."""
    check_gray(lightness, "lightness")
    check_mask(mask, lightness.shape, "mask")


def _mean(values: np.ndarray, mask: np.ndarray | None) -> float:
    v = values if mask is None else values[mask]
    return float(np.mean(v)) if v.size else float("nan")


# --- redness -----------------------------------------------------------------

@metric(
    "redness_a", label="Redness (mean a*)", units="CIELAB a* units (dimensionless, ~-128..127)",
    colour_space="CIELAB D65 from sRGB, normalised to the baseline's rendering",
    formula="mean of a* over the region",
    source="CIE 15:2004 Colorimetry; Logger et al. 2020, Skin Res Technol (a* for erythema follow-up)",
)
def redness_a(lab: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean CIELAB a* (green-red axis) of the region; higher is redder.

    Parameters
    ----------
    lab : numpy.ndarray
        H x W x 3 CIELAB image.
    mask : numpy.ndarray, optional
        Boolean mask of the pixels to measure.
    """
    _check_lab_region(lab, mask)
    return _mean(lab[..., 1], mask)


@metric(
    "redness_delta_a", label="Redness above untreated skin (Δa*)", units="CIELAB a* units",
    colour_space="CIELAB D65 from sRGB, normalised to the baseline's rendering",
    formula="mean a*(region of interest) - mean a*(untreated control region), same photo",
    source=("Logger et al. 2020, Skin Res Technol: Δa* against an internal control followed rosacea"
            " treatment but agreed only weakly with clinical erythema grades; CIE 15:2004"),
)
def redness_delta_a(lab_roi: np.ndarray, lab_control: np.ndarray, roi_mask: np.ndarray | None = None,
                    control_mask: np.ndarray | None = None) -> float:
    """Redness of the treated region above the photo's own untreated control.

    An internal control cancels much of what lighting and camera do to a*,
    since both regions share them. Logger et al. (2020) found only weak agreement
    of Δa* with clinicians' grades: it measures colour, not a clinical grade.
    """
    _check_lab_region(lab_roi, roi_mask, "lab_roi", "roi_mask")
    _check_lab_region(lab_control, control_mask, "lab_control", "control_mask")
    return redness_a(lab_roi, roi_mask) - redness_a(lab_control, control_mask)


@metric(
    "erythema_index", label="Erythema index (Diffey)", units="EI units (100 x log10 ratio, dimensionless)",
    colour_space="linear sRGB (IEC 61966-2-1), normalised to the baseline's rendering",
    formula="mean over pixels of 100 * log10(R_lin / G_lin)",
    source=("Diffey, Oliver & Farr 1984, Br J Dermatol 111:663-672 (EI = 100 log10(1/R_green) - 100 log10(1/R_red));"
            " an RGB analogue from broad camera channels, not comparable with narrow-band meter readings"),
)
def erythema_index(rgb01: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Diffey's erythema index from the red and green channels in linear light.

    The reflectance-spectroscopy index compares absorption in the green (where
    haemoglobin absorbs) with the red; on a colour-normalised photo the linear
    R and G channels stand in for the two bands. Camera channels are broad and
    overlap, so this is an RGB analogue of Diffey's narrow-band index: follow it
    within a patient, never compare it with an erythema meter's reading.
    """
    _check_rgb01_region(rgb01, mask)
    lin = srgb_to_linear(rgb01[..., :2] if mask is None else rgb01[mask][:, :2])
    ratio = np.maximum(lin[..., 0], 1e-4) / np.maximum(lin[..., 1], 1e-4)
    return float(np.mean(100.0 * np.log10(ratio))) if ratio.size else float("nan")


# --- where the skin changed: per-pixel Δa* against the baseline -------------------

def redness_change_map(lab: np.ndarray, baseline_lab: np.ndarray, mask: np.ndarray | None = None,
                       sigma_px: float | None = None) -> np.ndarray:
    """Smoothed per-pixel Δa* of a registered, colour-normalised photo against the baseline.

    ``lab`` and ``baseline_lab`` are H x W x 3 CIELAB images of the same region in the
    baseline's pixel grid; ``mask`` the pixels valid in both. Δa* = a*(photo) - a*(baseline)
    is smoothed by a Gaussian of ``sigma_px`` (default :data:`CHANGE_MAP_SIGMA_PX`) as a
    normalised convolution, so pixels outside the mask neither leak in nor pull the edge
    to zero. Returns an H x W float32 map in a* units, NaN outside the mask.
    """
    _check_lab_region(lab, mask)
    check_lab(baseline_lab, "baseline_lab")
    if baseline_lab.shape != lab.shape:
        raise ValueError(f"baseline_lab must have the shape of lab, {lab.shape}; got {baseline_lab.shape}")
    sigma = CHANGE_MAP_SIGMA_PX if sigma_px is None else sigma_px
    check_number(sigma, "sigma_px", minimum=0)
    weight = np.ones(lab.shape[:2], np.float32) if mask is None else mask.astype(np.float32)
    delta = (lab[..., 1] - baseline_lab[..., 1]).astype(np.float32)
    delta = np.where(weight > 0, delta, 0).astype(np.float32)
    if sigma > 0:
        num = cv2.GaussianBlur(delta * weight, (0, 0), sigma)
        den = cv2.GaussianBlur(weight, (0, 0), sigma)
        delta = num / np.maximum(den, 1e-6)
    return np.where(weight > 0, delta, np.nan).astype(np.float32)


def _changed(change_map: np.ndarray) -> np.ndarray:
    check_gray(change_map, "change_map")
    return change_map[np.isfinite(change_map)]


_CHANGE_SPACE = "CIELAB D65, normalised to the baseline's rendering, registered to the baseline's pixel grid"
_CHANGE_MAP = (f"map = GaussianBlur(a*(photo) - a*(baseline), sigma {CHANGE_MAP_SIGMA_PX:g} px of the measurement "
               "grid) over the region")
_LOGGER = ("Logger et al. 2020, Skin Res Technol (Δa* against the baseline followed rosacea"
           " treatment but agreed only weakly with clinical grades)")


@metric(
    "erythema_area_fraction", label="Share of the region redder than before treatment", units="fraction 0-1",
    colour_space=_CHANGE_SPACE,
    formula=f"{_CHANGE_MAP}; share of region pixels with map > {CHANGE_THRESHOLD_A:g}",
    source=("threshold above the per-pixel noise of repeat photos of unchanged skin (validation/pixel_change.py); "
            + _LOGGER),
)
def erythema_area_fraction(change_map: np.ndarray) -> float:
    """Share of the region whose smoothed Δa* against the baseline exceeds :data:`CHANGE_THRESHOLD_A`.

    ``change_map`` is from :func:`redness_change_map` (NaN outside the region). Until
    metric version 2.0 this compared each pixel with the median a* of untreated skin of
    the same photo, which read 0.14-0.25 on untreated skin: skin is not one colour.
    Against the same skin at baseline, untreated skin reads near 0.
    """
    values = _changed(change_map)
    return float(np.mean(values > CHANGE_THRESHOLD_A)) if values.size else float("nan")


@metric(
    "erythema_area_cm2", label="Area redder than before treatment", units="cm²",
    colour_space=_CHANGE_SPACE,
    formula=(f"(pixels with map > {CHANGE_THRESHOLD_A:g}) x mm² per pixel at the baseline's ColorChecker Classic "
             "/ 100; null without a chart in the baseline photo"),
    source=("ColorChecker Classic 279.4 x 215.9 mm, 6 x 4 patches (X-Rite; pitch taken as 45 +- 2 mm, "
            "tracker.analysis.colour_card.COLORCHECKER_PITCH_MM); " + _LOGGER),
)
def erythema_area_cm2(change_map: np.ndarray, mm2_per_px: float | None) -> float | None:
    """Area of the region redder than at baseline, in cm², when the photo's scale is known.

    ``mm2_per_px`` is the area of one pixel of ``change_map`` at the skin, known only from a
    chart in the baseline photo (assumed at the skin's distance); None gives None, never a
    guess.
    """
    values = _changed(change_map)
    if mm2_per_px is None:
        return None
    check_number(mm2_per_px, "mm2_per_px", above=0)
    return float(np.sum(values > CHANGE_THRESHOLD_A) * mm2_per_px / 100.0)


@metric(
    "redness_change_p90", label="Redness change, 90th percentile (Δa* vs baseline)", units="CIELAB a* units",
    colour_space=_CHANGE_SPACE, formula=f"{_CHANGE_MAP}; 90th percentile of the map", source=_LOGGER,
)
def redness_change_p90(change_map: np.ndarray) -> float:
    """The Δa* against the baseline that the reddest tenth of the region exceeds."""
    values = _changed(change_map)
    return float(np.percentile(values, 90)) if values.size else float("nan")


@metric(
    "redness_focal_a", label="Focal redness (p90 - median of Δa* vs baseline)", units="CIELAB a* units",
    colour_space=_CHANGE_SPACE, formula=f"{_CHANGE_MAP}; 90th percentile - median of the map",
    source=("defined here (issue #10): a patch that stays red while the rest fades, the early sign of a "
            "hypertrophic scar (Avram 2009; Fife 2009); " + _LOGGER),
)
def redness_focal_a(change_map: np.ndarray) -> float:
    """How much the reddest tenth of the region stands above its middle.

    Uniform redness, fading or not, keeps it near the noise of the map; a patch
    covering 10-50 % of the region that stays red while the rest fades raises it to
    the patch's excess. At or above :data:`FOCAL_THRESHOLD_A` the photo is flagged for
    the provider with the map. A finding to look at, not a diagnosis.
    """
    values = _changed(change_map)
    return float(np.percentile(values, 90) - np.median(values)) if values.size else float("nan")


# --- lightness and pigmentation -----------------------------------------------

@metric(
    "lightness_l", label="Lightness (mean L*)", units="CIELAB L* (0 black - 100 white)",
    colour_space="CIELAB D65, normalised to the baseline's rendering",
    formula="mean of L* over the region", source="CIE 15:2004 Colorimetry",
)
def lightness_l(lab: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean CIELAB lightness of the region."""
    _check_lab_region(lab, mask)
    return _mean(lab[..., 0], mask)


@metric(
    "yellowness_b", label="Yellowness (mean b*)", units="CIELAB b* units",
    colour_space="CIELAB D65, normalised to the baseline's rendering",
    formula="mean of b* over the region", source="CIE 15:2004 Colorimetry",
)
def yellowness_b(lab: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean CIELAB b* (blue-yellow axis) of the region."""
    _check_lab_region(lab, mask)
    return _mean(lab[..., 2], mask)


@metric(
    "ita_deg", label="Individual typology angle (ITA°)", units="degrees",
    colour_space="CIELAB D65, normalised to the baseline's rendering",
    formula="atan2(mean L* - 50, mean b*) * 180 / pi",
    source="Chardon, Cretois & Hourseau 1991, Int J Cosmet Sci 13:191-208; Del Bino & Bernerd 2013, Br J Dermatol 169 Suppl 3:33-40",
)
def ita_deg(lab: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Individual typology angle of the region's mean colour; lower is darker.

    Categories: very light > 55°, light 41-55°, intermediate 28-41°, tan
    10-28°, brown -30-10°, dark < -30°. Computed from the mean L* and b* (more
    stable than averaging per-pixel angles); ``atan2`` keeps it defined when b*
    is near zero.
    """
    _check_lab_region(lab, mask)
    l_mean, b_mean = _mean(lab[..., 0], mask), _mean(lab[..., 2], mask)
    return float(np.degrees(np.arctan2(l_mean - 50.0, b_mean)))


@metric(
    "melanin_index", label="Melanin index", units="MI units (100 x log10, dimensionless)",
    colour_space="linear sRGB (IEC 61966-2-1), normalised to the baseline's rendering",
    formula="mean over pixels of 100 * log10(1 / R_lin)",
    source=("Diffey, Oliver & Farr 1984, Br J Dermatol 111:663-672; Dawson et al. 1980, Phys Med Biol 25:695-709;"
            " an RGB analogue from broad camera channels, not comparable with narrow-band meter readings"),
)
def melanin_index(rgb01: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Melanin index from the red channel's reflectance in linear light; higher is darker.

    In the red band haemoglobin absorbs little, so absorption there is mostly
    melanin's. A camera's red channel is broad, so this is an RGB analogue of the
    narrow-band index, not comparable with a meter's reading; and redness still
    lowers it (see ``melanin_takiwaki``, on which darkening is judged).
    """
    _check_rgb01_region(rgb01, mask)
    lin = srgb_to_linear(rgb01[..., 0] if mask is None else rgb01[mask][:, 0])
    return float(np.mean(100.0 * np.log10(1.0 / np.maximum(lin, 1e-4)))) if lin.size else float("nan")


# --- haemoglobin and melanin axes (redness separated from darkening) ------------

#: Takiwaki's decomposition of a change of CIELAB colour into haemoglobin and melanin
#: (ΔHb, ΔMel) = TAKIWAKI @ (Δa*, ΔL*). Pure erythema moves L* by -1.06/1.44 = -0.74 a*
#: units per a* unit, and leaves ΔMel at zero.
TAKIWAKI_HAEMOGLOBIN = (1.68, 0.60)
TAKIWAKI_MELANIN = (-1.06, -1.44)
_TAKIWAKI_SOURCE = (
    "Takiwaki H 1998, J Med Invest 44:121-126 (haemoglobin and melanin axes in L*a*b*); applied to camera images"
    " by Yamamoto T, Takiwaki H, Arase S, Ohshima H 2008, Skin Res Technol 14:26-34. doi:10.1111/j.1600-0846.2007.00256.x"
)


@metric(
    "haemoglobin_takiwaki", label="Haemoglobin axis (Takiwaki)", units="CIELAB units (a change measure, dimensionless)",
    colour_space="CIELAB D65, normalised to the baseline's rendering",
    formula="1.68 * mean a* + 0.60 * mean L* over the region", source=_TAKIWAKI_SOURCE,
)
def haemoglobin_takiwaki(lab: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Redness along the haemoglobin axis of Takiwaki's decomposition; higher is redder.

    Only its change within a patient means something: the absolute value mixes
    the region's lightness in. A darkening by melanin alone (a* unchanged, L*
    down) lowers it, so it does not read pigment as redness.
    """
    _check_lab_region(lab, mask)
    a, l_ = _mean(lab[..., 1], mask), _mean(lab[..., 0], mask)
    return TAKIWAKI_HAEMOGLOBIN[0] * a + TAKIWAKI_HAEMOGLOBIN[1] * l_


@metric(
    "melanin_takiwaki", label="Pigment corrected for redness (Takiwaki melanin axis)",
    units="CIELAB units (a change measure, dimensionless)",
    colour_space="CIELAB D65, normalised to the baseline's rendering",
    formula="-1.06 * mean a* - 1.44 * mean L* over the region", source=_TAKIWAKI_SOURCE,
)
def melanin_takiwaki(lab: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Pigment along the melanin axis of Takiwaki's decomposition; higher is darker.

    Haemoglobin absorbs in the green, so redness lowers L* as well as raising
    a*; ITA° and the melanin index therefore fall with redness alone. Along
    this axis pure erythema (ΔL* = -0.74 Δa*) reads zero: darkening is judged
    on it (``tracker.recovery``), as a change against the pre-treatment value
    in absolute units.
    """
    _check_lab_region(lab, mask)
    a, l_ = _mean(lab[..., 1], mask), _mean(lab[..., 0], mask)
    return TAKIWAKI_MELANIN[0] * a + TAKIWAKI_MELANIN[1] * l_


# --- texture ------------------------------------------------------------------

_GLCM_LEVELS = 32
_GLCM_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
_TEXTURE_NOTE = "texture is a within-patient change measure, not an absolute roughness (no profilometry validation exists)"


def texture_glcm(lightness: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """GLCM features of a lightness image (L* 0-100), pooled over 4 directions at distance 1.

    L* is quantised to 32 levels over a fixed 0-100 range, so values of
    different photos are on the same scale; pixels outside ``mask`` are coded
    as an extra level that is dropped from the matrix.
    """
    _check_lightness_region(lightness, mask)
    q = np.clip(lightness / 100.0 * _GLCM_LEVELS, 0, _GLCM_LEVELS - 1).astype(np.uint8)
    levels = _GLCM_LEVELS
    if mask is not None:
        q = np.where(mask, q, _GLCM_LEVELS).astype(np.uint8)
        levels += 1
    glcm = graycomatrix(q, distances=[1], angles=list(_GLCM_ANGLES), levels=levels, symmetric=True)
    glcm = glcm[:_GLCM_LEVELS, :_GLCM_LEVELS].astype(np.float64)
    total = glcm.sum(axis=(0, 1), keepdims=True)
    if not np.all(total > 0):
        return {k: float("nan") for k in ("texture_contrast", "texture_homogeneity", "texture_energy", "texture_entropy")}
    p = glcm / total
    entropy = -np.sum(p * np.log2(np.where(p > 0, p, 1)), axis=(0, 1))
    return {
        "texture_contrast": float(np.mean(graycoprops(p, "contrast"))),
        "texture_homogeneity": float(np.mean(graycoprops(p, "homogeneity"))),
        "texture_energy": float(np.mean(graycoprops(p, "energy"))),
        "texture_entropy": float(np.mean(entropy)),
    }


_GLCM_SOURCE = "Haralick, Shanmugam & Dinstein 1973, IEEE Trans SMC 3(6):610-621. doi:10.1109/TSMC.1973.4309314"
for _name, _label, _units, _formula in (
    ("texture_contrast", "Texture contrast (GLCM)", "squared grey levels (32 levels of L*)", "sum_ij P(i,j) (i-j)^2"),
    ("texture_homogeneity", "Texture homogeneity (GLCM)", "dimensionless 0-1", "sum_ij P(i,j) / (1 + (i-j)^2)"),
    ("texture_energy", "Texture energy (GLCM)", "dimensionless 0-1", "sqrt(sum_ij P(i,j)^2)"),
    ("texture_entropy", "Texture entropy (GLCM)", "bits", "-sum_ij P(i,j) log2 P(i,j)"),
):
    METRICS[_name] = MetricDefinition(
        _name, _label, _units, "CIELAB L*, quantised to 32 levels over 0-100, baseline pixel grid",
        _formula + ", GLCM at distance 1 px averaged over 0°, 45°, 90°, 135°", _GLCM_SOURCE,
        f"Grey-level co-occurrence feature of the region's lightness; {_TEXTURE_NOTE}.",
    )


@metric(
    "lbp_uniformity", label="Texture uniformity (LBP)", units="fraction 0-1",
    colour_space="CIELAB L*, baseline pixel grid",
    formula="share of pixels whose 8-neighbour, radius-1 local binary pattern is uniform (<= 2 transitions)",
    source="Ojala, Pietikäinen & Mäenpää 2002, IEEE TPAMI 24(7):971-987. doi:10.1109/TPAMI.2002.1017623",
)
def lbp_uniformity(lightness: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Share of uniform local binary patterns: smooth, regular skin scores higher."""
    _check_lightness_region(lightness, mask)
    # LBP compares neighbours for equality, so it wants integers: L* in 0.4-unit steps.
    uniform = uniform_lbp_inner(np.clip(lightness * 2.55, 0, 255).astype(np.uint8))
    c = uniform if mask is None else uniform[mask[1:-1, 1:-1]]
    return float(np.mean(c)) if c.size else float("nan")


# Neighbour offsets (row, column) of the 8-point, radius-1 circle, rounded as scikit-image rounds them.
_LBP_ANGLES = 2 * np.pi * np.arange(8, dtype=np.float64) / 8
_LBP_ROWS = np.round(-np.sin(_LBP_ANGLES), 5)
_LBP_COLS = np.round(np.cos(_LBP_ANGLES), 5)


def uniform_lbp_inner(image: np.ndarray) -> np.ndarray:
    """Whether each inner pixel's 8-neighbour, radius-1 local binary pattern is uniform (boolean, H-2 x W-2).

    The same decision as ``skimage.feature.local_binary_pattern(image, 8, 1, "uniform") <= 8`` on
    ``[1:-1, 1:-1]``, bit for bit (``tests/test_metrics.py`` compares them): the diagonal
    neighbours are interpolated bilinearly with scikit-image's operations in its order, in float64,
    and, as there, a pattern is uniform when its 8 bits, read as a line (not a circle), change at
    most twice. Written with whole-array operations, it takes about a third of the time of
    scikit-image's per-pixel loop, which also codes every pattern and the border we leave out
    (Ojala, Pietikäinen & Mäenpää 2002).
    """
    img = np.ascontiguousarray(image, dtype=np.float64)
    h, w = img.shape
    if h < 3 or w < 3:
        return np.zeros((max(h - 2, 0), max(w - 2, 0)), bool)
    rows = np.arange(1, h - 1, dtype=np.float64)[:, None]
    cols = np.arange(1, w - 1, dtype=np.float64)[None, :]
    centre = img[1:-1, 1:-1]

    def shifted(dy: int, dx: int) -> np.ndarray:
        return img[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx]

    top, bottom, work = (np.empty(centre.shape) for _ in range(3))
    changes = np.zeros(centre.shape, np.uint8)
    previous = None
    for dy, dx in zip(_LBP_ROWS, _LBP_COLS):
        r0, r1, c0, c1 = int(np.floor(dy)), int(np.ceil(dy)), int(np.floor(dx)), int(np.ceil(dx))
        if r0 == r1 and c0 == c1:
            value = shifted(r0, c0)
        else:  # (1 - dr) * ((1 - dc) * tl + dc * tr) + dr * ((1 - dc) * bl + dc * br), as scikit-image
            at_r, at_c = rows + dy, cols + dx
            dr, dc = at_r - np.floor(at_r), at_c - np.floor(at_c)
            np.multiply(1 - dc, shifted(r0, c0), out=top)
            top += np.multiply(dc, shifted(r0, c1), out=work)
            np.multiply(1 - dc, shifted(r1, c0), out=bottom)
            bottom += np.multiply(dc, shifted(r1, c1), out=work)
            top *= 1 - dr
            bottom *= dr
            top += bottom
            value = top
        bit = np.subtract(value, centre, out=work) >= 0
        if previous is not None:
            changes += (bit != previous).view(np.uint8)
        previous = bit
    return changes <= 2


@metric(
    "hf_energy", label="Fine-detail energy", units="(CIELAB L* units)^2",
    colour_space="CIELAB L*, baseline pixel grid",
    formula="mean of (L* - GaussianBlur(L*, sigma=2 px))^2 over the region",
    source="difference-of-Gaussian band energy (Burt & Adelson 1983, IEEE Trans Commun 31(4):532-540)",
)
def hf_energy(lightness: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Energy of detail finer than ~2 px: pores, fine lines, roughness, and also noise and blur."""
    _check_lightness_region(lightness, mask)
    high = lightness.astype(np.float32) - cv2.GaussianBlur(lightness.astype(np.float32), (0, 0), 2.0)
    return _mean(high**2, mask)


def texture_metrics(lightness: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """All texture metrics of a lightness image, measured at most :data:`TEXTURE_MAX_SIDE` px across.

    A larger image is first reduced by area averaging, so texture is always
    measured at a bounded scale (and cost). ``lightness`` is an H x W image of
    L* (0-100), ``mask`` a boolean H x W mask.
    """
    _check_lightness_region(lightness, mask)
    h, w = lightness.shape
    s = TEXTURE_MAX_SIDE / max(h, w)
    if s < 1:
        size = (max(1, round(w * s)), max(1, round(h * s)))
        lightness = cv2.resize(lightness.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        if mask is not None:
            mask = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.999
    out = texture_glcm(lightness, mask)
    out["lbp_uniformity"] = lbp_uniformity(lightness, mask)
    out["hf_energy"] = hf_energy(lightness, mask)
    return out

