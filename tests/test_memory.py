"""The allocator setting of processes that analyse photos one after another (tracker.memory)."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import cv2
import pytest
from skimage import data

from tracker.memory import ALLOCATOR_ENVIRON, MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES
from tracker.services.batch import _local_cluster_settings

# In a fresh process: decode a 12-MP JPEG four times and print the page faults of the last decode.
_DECODES = """
import resource, sys
import cv2, numpy as np
from tracker.memory import keep_photo_buffers
if sys.argv[2] == "keep":
    assert keep_photo_buffers()
encoded = np.fromfile(sys.argv[1], np.uint8)
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    rgb = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del rgb
print(faults)
"""


def _last_decode_faults(path, how: str) -> int:
    out = subprocess.run([sys.executable, "-c", _DECODES, str(path), how], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
                    reason="glibc's mallopt: Linux only")
def test_a_photo_decoded_after_another_reuses_its_buffer_instead_of_faulting_in_fresh_pages(tmp_path):
    photo = cv2.resize(data.astronaut(), (4000, 3000), interpolation=cv2.INTER_LINEAR)
    path = tmp_path / "photo.jpg"
    assert cv2.imwrite(str(path), photo, [cv2.IMWRITE_JPEG_QUALITY, 90])
    pages = photo.nbytes // 4096  # 8,789 pages of 4 kB in a 36 MB buffer
    assert _last_decode_faults(path, "default") > 0.9 * pages  # mapped afresh and zeroed page by page
    assert _last_decode_faults(path, "keep") < 0.05 * pages


def test_a_local_clusters_workers_get_the_same_setting_in_place_of_dasks_trim_threshold():
    environ = _local_cluster_settings()["distributed.nanny.pre-spawn-environ"]
    assert environ["MALLOC_TRIM_THRESHOLD_"] == str(TRIM_THRESHOLD_BYTES) == ALLOCATOR_ENVIRON["MALLOC_TRIM_THRESHOLD_"]
    assert environ["MALLOC_MMAP_THRESHOLD_"] == str(MMAP_THRESHOLD_BYTES)
