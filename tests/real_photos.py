"""Real photographs that ship inside installed wheels, for tests and validation (no download, no patient).

Licences are recorded in ``tests/real_photos.md``. Each loader returns an H x W x 3 uint8 sRGB
array; the names are those of that file.
"""

from __future__ import annotations

import numpy as np
from matplotlib import cbook
from PIL import Image
from skimage import data

__all__ = ["PHOTOS", "load", "portraits"]


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


def load(name: str) -> np.ndarray:
    """The photograph ``name`` (a key of :data:`PHOTOS`) as H x W x 3 uint8 RGB."""
    rgb = np.ascontiguousarray(PHOTOS[name]()[..., :3])
    assert rgb.dtype == np.uint8 and rgb.ndim == 3
    return rgb


def portraits() -> tuple[str, ...]:
    return ("astronaut", "grace_hopper")
