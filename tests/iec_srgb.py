"""The sRGB transfer functions written out from IEC 61966-2-1 in float64: truth for the tests,
independent of :mod:`tracker.analysis.colour`."""

from __future__ import annotations

import numpy as np


def decode(encoded) -> np.ndarray:
    """Linear light of sRGB-encoded values in 0-1."""
    v = np.asarray(encoded, np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def encode(linear) -> np.ndarray:
    """sRGB-encoded values of linear light in 0-1."""
    v = np.asarray(linear, np.float64)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.maximum(v, 0) ** (1 / 2.4) - 0.055)
