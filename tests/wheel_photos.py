"""Real photographs that ship inside installed wheels, for tests and validation (no download, no patient).

Licences are recorded in ``tests/real_photos.md``. Each loader returns an H x W x 3 uint8 sRGB
array; the names are those of that file.
"""

from __future__ import annotations

import numpy as np
from matplotlib import cbook
from PIL import Image
from skimage import data

__all__ = ["PHOTOS", "PORTRAITS", "NOT_SKIN", "FACE", "box_mask", "load"]


def _grace_hopper() -> np.ndarray:
    with cbook.get_sample_data("grace_hopper.jpg", asfileobj=True) as f:
        return np.asarray(Image.open(f).convert("RGB"))


PHOTOS = {
    "astronaut": data.astronaut,  # portrait, scikit-image
    "grace_hopper": _grace_hopper,  # portrait, matplotlib sample data
    "coffee": data.coffee,  # a cup of coffee, scikit-image
    "chelsea": data.chelsea,  # a cat, scikit-image
    "rocket": data.rocket,  # a rocket on its pad, scikit-image
}

PORTRAITS = ("astronaut", "grace_hopper")

# Hand-drawn boxes (x, y, width, height, in the photograph's pixels) of what is not the
# person's skin (the flag and the wall, the cap, the orange suit), and of the face.
NOT_SKIN = {
    "grace_hopper": [(0, 0, 150, 600), (400, 0, 112, 330), (150, 0, 250, 110), (0, 420, 512, 180)],
    "astronaut": [(0, 0, 100, 512), (330, 0, 182, 300), (0, 270, 512, 242)],
}
FACE = {"grace_hopper": (200, 150, 140, 160), "astronaut": (185, 80, 80, 90)}


def box_mask(shape: tuple[int, int], boxes) -> np.ndarray:
    """Boolean mask of ``shape`` (H, W) true inside any of ``boxes``."""
    mask = np.zeros(shape, bool)
    for x, y, w, h in boxes:
        mask[y:y + h, x:x + w] = True
    return mask


def load(name: str) -> np.ndarray:
    """The photograph ``name`` (a key of :data:`PHOTOS`) as H x W x 3 uint8 RGB."""
    rgb = np.ascontiguousarray(PHOTOS[name]()[..., :3])
    assert rgb.dtype == np.uint8 and rgb.ndim == 3
    return rgb
