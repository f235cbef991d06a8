"""The working copy of a large photo: ``shrink`` straight to 1024 px against ``shrink_to`` (halvings first).

For each photo size, an RGB photo of smooth random content is reduced both ways, ten times each
after one warm-up, and the median time of each is printed with the copy's size and whether the
two copies are the same pixels (they are where ``shrink_to`` takes one halving or none)::

    uv run python benchmarks/bench_shrink.py
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from tracker.analysis.align import shrink, shrink_to

sys.path.insert(0, os.path.dirname(__file__))
from common import median_call  # noqa: E402

SIZES = [(4000, 3000), (3264, 2448), (3000, 2000), (4608, 3456), (6000, 4000), (8064, 6048), (2000, 1500),
         (1600, 1200)]


def main() -> int:
    rng = np.random.default_rng(0)
    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads")
    print(f"{'photo':<12}{'shrink ms':>10}{'copy':>12}{'shrink_to ms':>14}{'copy':>12}  same pixels")
    for w, h in SIZES:
        photo = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)
        old, new = shrink(photo, 1024 / max(w, h))[0], shrink_to(photo, 1024)[0]
        t_old = 1000 * median_call(lambda: shrink(photo, 1024 / max(w, h)), 10)
        t_new = 1000 * median_call(lambda: shrink_to(photo, 1024), 10)
        same = old.shape == new.shape and np.array_equal(old, new)
        print(f"{w}x{h:<7}{t_old:>10.1f}{'%dx%d' % old.shape[1::-1]:>12}{t_new:>14.1f}{'%dx%d' % new.shape[1::-1]:>12}"
              f"  {'yes' if same else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
