"""The result of analysing one photo, as stored and as printed by ``tracker analyze --json``.

:class:`AnalysisResult` is the one typed reading of that record. The store keeps it as JSON,
the CLI prints it as JSON Lines, and every consumer (the course time line, exports, the app,
the PDF report) reads it through this class, never by string keys of its own. The keys of
the JSON contract are therefore written once, here.

Examples
--------
>>> r = AnalysisResult.from_dict({"ok": True, "quality": {"ok": False, "issues": ["Too dark."],
...                                "codes": ["underexposed"]}, "metrics": {"redness_a": 12.5}})
>>> r.usable, r.quality_codes, r.metric("redness_a")
(False, ('underexposed',), 12.5)
>>> AnalysisResult.from_dict(r.to_dict()) == r
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracker.analysis.align import RegionAlignment, flips
from tracker.analysis.colour import CHANNEL_METHODS
from tracker.analysis.metrics import METRIC_VERSION

__all__ = ["AnalysisResult", "camera_differs"]


@dataclass(frozen=True)
class AnalysisResult:
    """One photo's analysis: whether it could be measured, its verdicts and its metrics.

    Attributes
    ----------
    ok : bool
        True when metrics could be computed (the photo was read and aligned).
    quality, alignment, colour : Mapping or None
        The JSON objects of the contract (README, "Command line"); None where the stage did
        not run.
    metrics : Mapping or None
        Metric name to value (None where not measurable); None when ``ok`` is False.
    error : str or None
        One sentence saying why ``ok`` is False.
    metric_version : str
        Version of the metric definitions the values were computed with.
    skin : Mapping or None
        Which pixels were measured: ``source`` (``region``: the box drawn; ``face``: the face
        and the skin connected to it; ``largest_skin_area``; ``whole_photo``), ``fraction`` of
        the baseline frame, ``face`` box in baseline pixels, and a ``note``; None when nothing
        was measured, and in records made before it was kept.
    """

    ok: bool
    quality: Mapping[str, Any] | None = None
    alignment: Mapping[str, Any] | None = None
    colour: Mapping[str, Any] | None = None
    metrics: Mapping[str, float | None] | None = None
    error: str | None = None
    metric_version: str = METRIC_VERSION
    skin: Mapping[str, Any] | None = None

    @classmethod
    def failed(cls, error: str, **stages: Mapping[str, Any] | None) -> AnalysisResult:
        """A result for a photo that could not be measured, with the one-line reason."""
        return cls(ok=False, error=error, **stages)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnalysisResult:
        """Read the JSON object of the contract (a ``photo`` key, if present, is ignored)."""
        return cls(ok=bool(data.get("ok")), quality=data.get("quality"), alignment=data.get("alignment"),
                   colour=data.get("colour"), metrics=data.get("metrics"), error=data.get("error"),
                   metric_version=str(data.get("metric_version", METRIC_VERSION)), skin=data.get("skin"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the contract, without ``photo``; ``error`` only when there is one."""
        out: dict[str, Any] = {"ok": self.ok}
        if self.error:
            out["error"] = self.error
        out.update(quality=_plain(self.quality), alignment=_plain(self.alignment), colour=_plain(self.colour),
                   metrics=_plain(self.metrics), metric_version=self.metric_version, skin=_plain(self.skin))
        return out

    # --- verdicts -------------------------------------------------------------------------

    @property
    def quality_ok(self) -> bool | None:
        """The quality gate's verdict; None when the gate did not run."""
        return None if not self.quality else self.quality.get("ok")

    @property
    def usable(self) -> bool:
        """Measured and not refused by the quality gate: the rule for using a photo in a course."""
        return self.ok and self.quality_ok is not False

    @property
    def quality_issues(self) -> tuple[str, ...]:
        """Sentences a patient can act on, from the quality gate."""
        return tuple((self.quality or {}).get("issues") or ())

    @property
    def quality_codes(self) -> tuple[str, ...]:
        """Machine-readable codes of the quality issues (``blurred``, ``underexposed``...)."""
        return tuple((self.quality or {}).get("codes") or ())

    @property
    def texture_withheld(self) -> str | None:
        """Why texture was not compared with the baseline (``quality.texture_withheld``), or None."""
        return (self.quality or {}).get("texture_withheld")

    @property
    def problem(self) -> str:
        """What is wrong with the photo, in one or more sentences ('' when nothing is)."""
        return self.error or " ".join(self.quality_issues)

    # --- alignment ------------------------------------------------------------------------

    @property
    def alignment_ok(self) -> bool | None:
        return None if not self.alignment else self.alignment.get("ok")

    @property
    def matrix(self) -> np.ndarray | None:
        """3x3 homography from photo pixels to baseline pixels, when the photo was aligned."""
        values = (self.alignment or {}).get("matrix")
        return None if values is None else np.asarray(values, dtype=np.float64)

    @property
    def mirrored(self) -> bool:
        """Whether the photo was matched flipped back (a mirrored selfie): its homography flips, det < 0."""
        return flips(self.matrix)

    @property
    def region(self) -> RegionAlignment | None:
        """The registration of the measured region (``alignment.region``), when one was made.

        Measurements used it when its ``ok`` is True; draw per-pixel maps through it too
        (:func:`tracker.analysis.align.warp_to_baseline`).
        """
        data = (self.alignment or {}).get("region")
        return None if data is None else RegionAlignment.from_dict(data)

    @property
    def region_ok(self) -> bool | None:
        """Whether the measured region's own registration was verified; None when none was made."""
        data = (self.alignment or {}).get("region")
        return None if data is None else bool(data.get("ok"))

    @property
    def region_matrix(self) -> np.ndarray | None:
        """3x3 homography fitted on the measured region, photo pixels to baseline pixels."""
        values = ((self.alignment or {}).get("region") or {}).get("matrix")
        return None if values is None else np.asarray(values, dtype=np.float64)

    @property
    def alignment_rmse_px(self) -> float | None:
        return (self.alignment or {}).get("rmse_px")

    @property
    def alignment_inliers(self) -> int | None:
        return (self.alignment or {}).get("inliers")

    # --- colour and metrics ---------------------------------------------------------------

    @property
    def colour_method(self) -> str | None:
        return (self.colour or {}).get("method")

    @property
    def colour_residual_delta_e(self) -> float | None:
        return (self.colour or {}).get("residual_delta_e")

    @property
    def colour_tone(self) -> str | None:
        """The form of a fitted tone curve (``"encoded"`` or ``"linear"``); None for a chart, the baseline or none."""
        if self.colour_method not in CHANNEL_METHODS:
            return None
        return (self.colour or {}).get("tone", "linear")  # stored before metric version 2.3: linear

    def metric(self, name: str) -> float | None:
        """A metric's value when the photo was measured and the value is finite, else None."""
        if not self.ok or not self.metrics:
            return None
        value = self.metrics.get(name)
        return None if value is None or not math.isfinite(value) else float(value)


def camera_differs(camera: str | None, baseline_camera: str | None) -> bool | None:
    """Whether a photo's camera is another than the baseline photo's; None when either is not known.

    The one comparison behind every "another camera" note: the course time line, the upload,
    ``analyse_series``'s ``other_camera`` column and ``tracker analyze``'s table. ``camera`` is
    any value equal for photos of one camera (:func:`tracker.analysis.io.camera_of`).

    >>> camera_differs("a", "b"), camera_differs("a", "a"), camera_differs(None, "a")
    (True, False, None)
    """
    return None if camera is None or baseline_camera is None else camera != baseline_camera


def _plain(value: Any) -> Any:
    """Mappings as plain dicts, so the result serialises as JSON whatever it was built from."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
