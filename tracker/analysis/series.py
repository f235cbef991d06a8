"""A patient's series of photos analysed against one baseline: the researcher's entry point.

:func:`analyse_files` is what ``tracker analyze`` runs; :func:`analyse_series` gives the
same results as a table, one row per photo, for a notebook::

    from tracker.analysis import analyse_series

    table = analyse_series("baseline.jpg", ["day03.jpg", "day07.jpg"],
                           roi=(760, 460, 100, 100), control=(900, 640, 80, 40))
    table[table["usable"]][["photo", "redness_delta_a", "ita_deg"]]

Every number in the table is the number ``tracker analyze --json`` prints for that photo.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tracker.analysis._checks import InputTypeError, check_rgb8, describe
from tracker.analysis.io import PhotoError, photo_camera, read_photo
from tracker.analysis.metrics import METRICS
from tracker.analysis.pipeline import (
    AnalysisConfig,
    Box,
    analyse_baseline,
    analyse_photo,
    parse_box,
    prepare_baseline,
)
from tracker.analysis.result import AnalysisResult, camera_differs

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SERIES_COLUMNS", "analyse_files", "analyse_series"]

PhotoSource = str | os.PathLike | np.ndarray

#: Columns of :func:`analyse_series` before the metrics (which follow in registry order).
SERIES_COLUMNS = ("photo", "ok", "usable", "error", "quality_ok", "quality_codes", "quality_issues",
                  "alignment_ok", "alignment_rmse_px", "alignment_inliers", "colour_method",
                  "colour_residual_delta_e", "other_camera", "metric_version")


def _box(value: Box | str | None) -> Box | None:
    if value is None or isinstance(value, tuple) or not isinstance(value, Iterable):
        return value  # check_box refuses what is not a box
    if isinstance(value, str):
        return parse_box(value)
    return tuple(int(v) for v in value)


def _rgb(source: PhotoSource, name: str) -> np.ndarray:
    """The pixels of a photo given as a file or as an array; PhotoError (one line) when there are none."""
    if isinstance(source, np.ndarray):
        try:
            check_rgb8(source, name)
        except ValueError as exc:
            raise PhotoError(str(exc)) from None
        return source
    if not isinstance(source, (str, bytes, os.PathLike)):
        raise PhotoError(f"{name} must be a file path or an H x W x 3 uint8 sRGB array; got {describe(source)}")
    return read_photo(source).rgb


def _same_file(a: PhotoSource, b: Path | None) -> bool:
    if not isinstance(a, (str, os.PathLike)) or b is None:
        return False
    try:
        return Path(a).resolve(strict=True) == b
    except OSError:
        return False


def analyse_files(reference: PhotoSource, photos: Iterable[PhotoSource], roi: Box | str | None = None,
                  control: Box | str | None = None,
                  config: AnalysisConfig = AnalysisConfig()) -> Iterator[tuple[str, AnalysisResult]]:
    """Analyse photos against a baseline, one at a time; yields ``(name, result)`` per photo.

    Parameters
    ----------
    reference : path or numpy.ndarray
        The baseline photo (a file, or an H x W x 3 uint8 sRGB array).
    photos : iterable of path or numpy.ndarray
        The follow-up photos. The baseline itself may be among them (it is then measured
        with no alignment or colour change).
    roi, control : tuple or str, optional
        Treated area and untreated control ``(x, y, w, h)`` (or ``"X,Y,W,H"``) in baseline pixels.
    config : AnalysisConfig

    Yields
    ------
    name : str
        The path as given, or ``"photo N"`` for an array.
    result : AnalysisResult
        A photo that cannot be read, or whose analysis fails, gets a failed result with a
        one-line reason; the series always goes on.

    Raises
    ------
    PhotoError
        The reference photo cannot be read, or is neither a path nor an
        H x W x 3 uint8 array.
    ValueError
        A region lies outside the baseline or is degenerate, or ``photos`` is
        a single path or array rather than a collection of them.
    """
    if isinstance(photos, (str, bytes, os.PathLike, np.ndarray)) or not isinstance(photos, Iterable):
        raise InputTypeError(f"photos must be an iterable (a list) of paths or arrays; got {describe(photos)}")
    baseline = prepare_baseline(_rgb(reference, "reference"), _box(roi), _box(control), config)
    reference_path = None
    if not isinstance(reference, np.ndarray):
        reference_path = Path(reference).resolve()
    for i, source in enumerate(photos, start=1):
        name = f"photo {i}" if isinstance(source, np.ndarray) else str(source)
        try:
            if _same_file(source, reference_path):
                result = analyse_baseline(baseline).to_result()
            else:
                result = analyse_photo(_rgb(source, f"photo {i}"), baseline).to_result()
        except PhotoError as exc:
            result = AnalysisResult.failed(str(exc))
        except Exception as exc:  # noqa: BLE001 - a defect must not stop the series or show a traceback
            result = AnalysisResult.failed(
                f"internal error while analysing this photo ({type(exc).__name__}); please report it")
        yield name, result


def series_row(name: str, result: AnalysisResult) -> dict:
    """One row of :func:`analyse_series`: the verdicts and every metric of one result."""
    row = {
        "photo": name, "ok": result.ok, "usable": result.usable, "error": result.error,
        "quality_ok": result.quality_ok, "quality_codes": ";".join(result.quality_codes),
        "quality_issues": " ".join(result.quality_issues), "alignment_ok": result.alignment_ok,
        "alignment_rmse_px": result.alignment_rmse_px, "alignment_inliers": result.alignment_inliers,
        "colour_method": result.colour_method, "colour_residual_delta_e": result.colour_residual_delta_e,
        "metric_version": result.metric_version,
    }
    row.update({metric: result.metric(metric) for metric in METRICS})
    return row


def analyse_series(reference: PhotoSource, photos: Sequence[PhotoSource], roi: Box | str | None = None,
                   control: Box | str | None = None, config: AnalysisConfig = AnalysisConfig()) -> pd.DataFrame:
    """Analyse a series against its baseline; one row per photo, the columns of :data:`SERIES_COLUMNS`
    followed by every metric of :data:`tracker.analysis.metrics.METRICS`.

    Parameters and errors are those of :func:`analyse_files`. Metric values are None (NaN in
    float columns) where a photo could not be measured; use ``usable`` to keep photos that
    passed the quality gate. ``other_camera`` (nullable boolean) is True for a photo whose EXIF
    names another camera than the reference's, and empty where either does not say or the photo
    is an array: another camera's colour rendering moves redness by about 1 a* unit, which no
    colour normalisation undoes (VALIDITY.md, "Another camera").
    """
    import pandas as pd

    if isinstance(photos, Iterable) and not isinstance(photos, (str, bytes, os.PathLike, np.ndarray)):
        photos = list(photos)  # read twice: analysed, then their cameras
    rows = [series_row(name, result) for name, result in analyse_files(reference, photos, roi, control, config)]
    reference_camera = _camera(reference)
    for row, source in zip(rows, photos):
        camera = _camera(source)
        row["other_camera"] = camera_differs(camera, reference_camera)
    table = pd.DataFrame(rows, columns=[*SERIES_COLUMNS, *METRICS])
    table["other_camera"] = table["other_camera"].astype("boolean")
    return table


def _camera(source: PhotoSource) -> str | None:
    """The camera a photo file names in its EXIF (header only); None for an array or a file that does not say."""
    return None if isinstance(source, np.ndarray) else photo_camera(source)
