"""How a process that analyses photos has its C library allocate photo-sized buffers (glibc only).

glibc's ``malloc`` maps every allocation of more than 32 MB afresh from the system and unmaps it
when it is freed. A 12-MP photo decoded by OpenCV is a 36 MB buffer, so each photo's first
touch of it page-faults about 9,400 times, and the system zeroes every page: 20 ms of a 50 ms
decode on this project's benchmark machine (BENCHMARKS.md, section 4), and more for the
analysis's own full-size arrays. :func:`keep_photo_buffers` has such buffers served from
``malloc``'s heap instead and kept there when freed, so the next photo reuses them.

The cost is memory the process keeps after a photo rather than returning it: a batch worker's
peak stays what it was, because the same buffers are reused photo after photo (measured in
BENCHMARKS.md, section 4). Used by the processes that analyse in turn (``tracker analyze``, a
batch's workers), not by the app's server, whose memory should shrink back between uploads.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["ALLOCATOR_ENVIRON", "MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES", "keep_photo_buffers"]

#: Allocations up to this size come from the heap, not from a fresh mapping (glibc's default is
#: 128 kB, raised on the fly up to 32 MB): a 12-MP photo's float32 RGB copy (144 MB) included.
MMAP_THRESHOLD_BYTES = 256 << 20

#: Free memory at the top of the heap is returned to the system only beyond this (default 128 kB).
TRIM_THRESHOLD_BYTES = 512 << 20

#: The same settings as environment variables, for processes started by another program (a Dask
#: ``LocalCluster``'s workers): glibc reads them when the process starts.
ALLOCATOR_ENVIRON = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_BYTES),
                     "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD_BYTES)}

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_photo_buffers() -> bool:
    """Set this process's allocator as the module says; False where it is not glibc's (nothing changes)."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) & bool(mallopt(_M_TRIM_THRESHOLD,
                                                                                  TRIM_THRESHOLD_BYTES))
