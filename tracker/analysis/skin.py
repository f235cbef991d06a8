"""Where the skin is when no region is drawn: the face and the skin connected to it.

A chrominance box (:func:`tracker.analysis.colour.skin_mask`) alone calls red curtains,
flags, wood and orange clothes skin. :func:`find_skin` keeps, of those pixels, the ones
that have the face's own skin colour and are connected to the face; the face is found by
a frontal-face LBP cascade [1]_ (the model OpenCV trained, shipped inside scikit-image,
run by :class:`skimage.feature.Cascade`). Without a face (a close-up of a cheek or an
arm), the largest connected skin-coloured area is kept. The result says which it was.

References
----------
.. [1] Liao, S., Zhu, X., Lei, Z., Zhang, L., Li, S. Z. (2007). Learning multi-scale
       block local binary patterns for face recognition. ICB 2007, LNCS 4642, 828-837.
       doi:10.1007/978-3-540-74549-5_87
.. [2] Chai, D., Ngan, K. N. (1999). Face segmentation using skin-color map in
       videophone applications. IEEE TCSVT 9(4), 551-564. doi:10.1109/76.767122
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from tracker.analysis._checks import check_number, check_rgb8
from tracker.analysis.colour import skin_mask

__all__ = ["SkinRegion", "find_faces", "find_skin"]

Box = tuple[int, int, int, int]

_DETECT_SIDE = 320  # longest side of the copy the face detector runs on
_MIN_FACE = 24  # smallest face, pixels of that copy
_CHROMA_SD = 3.0  # how far (robust SDs of the face's skin) a pixel's Cr, Cb may lie
_MIN_CHROMA_SD = 2.5  # floor of that SD, 8-bit Cr/Cb levels (JPEG rounding, a very even face)
_MIN_AREA = 0.01  # smallest skin area kept without a face, as a fraction of the photo


@dataclass(frozen=True)
class SkinRegion:
    """The skin measured when no region of interest is drawn.

    Attributes
    ----------
    mask : numpy.ndarray
        H x W boolean mask of the pixels measured.
    source : str
        ``"face"`` (the face and skin of its colour connected to it),
        ``"largest_skin_area"`` (no face found: the largest connected
        skin-coloured area) or ``"none"`` (no skin found).
    face : tuple of int or None
        The face found, ``(x, y, width, height)`` in the image's pixels.
    note : str
        One sentence saying which pixels were measured.
    """

    mask: np.ndarray = field(repr=False)
    source: str
    face: Box | None
    note: str

    @property
    def fraction(self) -> float:
        """Share of the image measured (0-1)."""
        return float(self.mask.mean()) if self.mask.size else 0.0

    def to_dict(self, scale: float = 1.0) -> dict:
        """JSON-ready form; ``scale`` converts the face box to another image's pixels (baseline from working copy)."""
        face = None if self.face is None else [int(round(v / scale)) for v in self.face]
        return {"source": self.source, "fraction": round(self.fraction, 4), "face": face, "note": self.note}


@lru_cache(maxsize=1)
def _face_detector():
    from skimage import data
    from skimage.feature import Cascade

    return Cascade(data.lbp_frontal_face_cascade_filename())


def find_faces(rgb: np.ndarray) -> list[Box]:
    """Frontal faces in an H x W x 3 uint8 sRGB image, largest first, as ``(x, y, width, height)``.

    Notes
    -----
    Runs on a copy of at most 400 pixels (faces down to about 6 % of its
    longest side); about 0.2 s on one core.
    """
    check_rgb8(rgb, "rgb")
    h, w = rgb.shape[:2]
    s = min(1.0, _DETECT_SIDE / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    if min(small.shape[:2]) < _MIN_FACE:
        return []
    found = _face_detector().detect_multi_scale(img=np.ascontiguousarray(small), scale_factor=1.25, step_ratio=1,
                                                 min_size=(_MIN_FACE, _MIN_FACE), max_size=small.shape[:2])
    boxes = [(int(round(d["c"] / s)), int(round(d["r"] / s)), int(round(d["width"] / s)),
              int(round(d["height"] / s))) for d in found]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def _opened(mask: np.ndarray) -> np.ndarray:
    """The mask without threads and specks narrower than about 1 % of the image (bridges to the background)."""
    r = max(1, round(0.005 * max(mask.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)


def _connected_to(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The connected parts of ``mask`` that touch ``seed``."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[seed & mask])] = True
    keep[0] = False
    return keep[labels]


def _largest(mask: np.ndarray) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n < 2:
        return np.zeros(mask.shape, bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def find_skin(rgb: np.ndarray, min_area: float = _MIN_AREA) -> SkinRegion:
    """The skin to measure in an H x W x 3 uint8 sRGB photo when no region is drawn.

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 sRGB image.
    min_area : float
        Smallest skin area kept without a face, as a fraction of the image.

    Returns
    -------
    SkinRegion

    Notes
    -----
    With a face: the skin-coloured pixels (YCrCb box [2]_) inside an ellipse
    inscribed in the face box give the face's own skin colour (median and a
    robust SD of Cr and Cb, from the median absolute deviation); the pixels
    within 3 SD of it, cleared of threads about 1 % of the image wide, are kept
    where they connect to the face. Background of another colour (a red
    curtain is redder than the face) and skin-coloured things not touching the
    person are left out; visible skin of the same person (neck, chest) stays.
    """
    check_rgb8(rgb, "rgb")
    check_number(min_area, "min_area", minimum=0, maximum=1)
    candidates = skin_mask(rgb)
    h, w = candidates.shape
    for x, y, fw, fh in find_faces(rgb):
        yy, xx = np.ogrid[:h, :w]
        inner = ((xx - (x + fw / 2)) / (0.4 * fw)) ** 2 + ((yy - (y + fh / 2)) / (0.45 * fh)) ** 2 <= 1
        seed = inner & candidates
        if seed.sum() < 0.2 * inner.sum():
            continue  # a face-like pattern with little skin in it
        ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
        chroma = ycc[..., 1:]
        centre = np.median(chroma[seed], axis=0)
        sd = np.maximum(1.4826 * np.median(np.abs(chroma[seed] - centre), axis=0), _MIN_CHROMA_SD)
        similar = candidates & (np.sum(((chroma - centre) / sd) ** 2, axis=-1) <= _CHROMA_SD**2)
        mask = _connected_to(_opened(similar) | seed, seed)
        return SkinRegion(mask=mask, source="face", face=(x, y, fw, fh),
                          note="The face and the skin of its colour connected to it were measured.")
    area = _largest(_opened(candidates))
    if area.sum() >= max(1.0, min_area * h * w):
        return SkinRegion(mask=area, source="largest_skin_area", face=None,
                          note="No face was found: the largest skin-coloured area of the photo was measured.")
    return SkinRegion(mask=np.zeros((h, w), bool), source="none", face=None,
                      note="No skin was found in the photo: draw the region to measure.")
