"""The analysis core: one photo against the patient's baseline, as pure functions over arrays.

The stages, in the order a photo passes them:

=================  =======================================================================
``io``             bytes to an upright 8-bit sRGB array, or one clear refusal
``quality``        exposure, clipping, glare, focus against the baseline: a verdict with advice
``align``          registration to the baseline (keypoints, then sub-pixel refinement)
``colour_card``    a ColorChecker Classic found and read in the photo
``colour``         colour conversions and normalisation into the baseline's rendering
``metrics``        the metric definitions (formula, units, colour space, source): one registry
``pipeline``       the stages wired for one photo against a prepared baseline
``result``         :class:`AnalysisResult`, the record kept and printed per photo
``series``         a series of files against a baseline, as results or as a table
``simulate``       simulated follow-up photos with known truth (tests, benchmarks, demo)
=================  =======================================================================

Nothing here opens a database, imports Streamlit or reads a file it was not handed.
Public functions check their arguments on entry (dtypes and shapes, not pixel
values) and refuse a wrong one with a one-line ValueError that names it.

Examples
--------
>>> import numpy as np
>>> from skimage import data
>>> from tracker.analysis import analyse_photo, prepare_baseline
>>> face = data.astronaut()
>>> baseline = prepare_baseline(face, roi=(190, 115, 25, 25), control=(225, 160, 20, 10))
>>> result = analyse_photo(face.copy(), baseline).to_result()
>>> result.ok, result.alignment_ok
(True, True)
"""

from tracker.analysis.io import Photo, PhotoError, capture_time, decode_photo, read_photo
from tracker.analysis.metrics import METRIC_VERSION, METRICS, MetricDefinition
from tracker.analysis.pipeline import (
    TREATED_EXTENTS,
    AnalysisConfig,
    Baseline,
    Box,
    PhotoAnalysis,
    analyse_baseline,
    analyse_photo,
    check_box,
    parse_box,
    prepare_baseline,
)
from tracker.analysis.result import AnalysisResult
from tracker.analysis.series import SERIES_COLUMNS, analyse_files, analyse_series

__all__ = [
    "METRICS",
    "METRIC_VERSION",
    "SERIES_COLUMNS",
    "TREATED_EXTENTS",
    "AnalysisConfig",
    "AnalysisResult",
    "Baseline",
    "Box",
    "MetricDefinition",
    "Photo",
    "PhotoAnalysis",
    "PhotoError",
    "analyse_baseline",
    "analyse_files",
    "analyse_photo",
    "analyse_series",
    "capture_time",
    "check_box",
    "decode_photo",
    "parse_box",
    "prepare_baseline",
    "read_photo",
]
