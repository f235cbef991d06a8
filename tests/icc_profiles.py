"""Minimal ICC v2 matrix/TRC display profiles built with ``struct``, for tests.

No wide-gamut profile ships with Pillow, pillow-heif, OpenCV or the system,
so the fixtures are constructed here from the published colorimetry:
primaries, white point and tone curve.  The same numbers give a NumPy
reference conversion (:func:`reference_to_srgb`) that does not go through
LittleCMS, so a test can check what the decoder produced rather than merely
that it changed something.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

Primaries = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]

D65 = (0.3127, 0.3290)
SRGB_PRIMARIES: Primaries = ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060))
DISPLAY_P3_PRIMARIES: Primaries = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
ADOBE_RGB_PRIMARIES: Primaries = ((0.640, 0.330), (0.210, 0.710), (0.150, 0.060))
ADOBE_RGB_GAMMA = 563 / 256  # the u8Fixed8 value Adobe RGB (1998) specifies

# The ICC profile connection space is D50, stored as s15Fixed16 in the header.
_D50_XYZ = (0.9642, 1.0, 0.8249)
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)
_TRC_ENTRIES = 1024


def srgb_decode(v: np.ndarray) -> np.ndarray:
    """Map sRGB-encoded values in 0..1 to linear light."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v: np.ndarray) -> np.ndarray:
    """Map linear light in 0..1 to sRGB-encoded values."""
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def _xy_to_xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def rgb_to_xyz(primaries: Primaries, white: tuple[float, float] = D65) -> np.ndarray:
    """Linear RGB -> XYZ matrix (columns are the primaries scaled to ``white``)."""
    columns = np.column_stack([_xy_to_xyz(*p) for p in primaries])
    scale = np.linalg.solve(columns, _xy_to_xyz(*white))
    return columns * scale


def _to_d50(matrix: np.ndarray, white: tuple[float, float]) -> np.ndarray:
    """Bradford-adapt an RGB -> XYZ matrix to the D50 connection space, as ICC requires."""
    cone_ratio = (_BRADFORD @ np.array(_D50_XYZ)) / (_BRADFORD @ _xy_to_xyz(*white))
    return np.linalg.inv(_BRADFORD) @ np.diag(cone_ratio) @ _BRADFORD @ matrix


def _s15fixed16(values) -> bytes:
    return b"".join(struct.pack(">i", round(float(v) * 65536)) for v in values)


def _xyz_tag(xyz) -> bytes:
    return b"XYZ " + bytes(4) + _s15fixed16(xyz)


def _desc_tag(text: str) -> bytes:
    # v2 textDescriptionType: ASCII part, then empty Unicode and ScriptCode parts.
    ascii_text = text.encode("ascii") + b"\0"
    return (
        b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text
        + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + bytes(67)
    )


def _text_tag(text: str) -> bytes:
    return b"text" + bytes(4) + text.encode("ascii") + b"\0"


def _curve_tag(gamma: float | None) -> bytes:
    """``curv`` tag: a pure gamma, or (``None``) a sampled sRGB tone curve."""
    if gamma is not None:
        return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256))
    samples = np.round(srgb_decode(np.linspace(0.0, 1.0, _TRC_ENTRIES)) * 65535)
    return b"curv" + bytes(4) + struct.pack(f">I{_TRC_ENTRIES}H", _TRC_ENTRIES, *samples.astype(int))


def _pad4(blob: bytes) -> bytes:
    return blob + bytes(-len(blob) % 4)


def matrix_trc_profile(
    description: str,
    primaries: Primaries,
    *,
    white: tuple[float, float] = D65,
    gamma: float | None = None,
) -> bytes:
    """Build an ICC v2 RGB display profile (matrix/TRC).

    Parameters
    ----------
    description : str
        ASCII text for the ``desc`` tag, which decoders report as the profile name.
    primaries : tuple of three (x, y) pairs
        CIE xy chromaticities of red, green and blue.
    white : (x, y), optional
        Chromaticity of the device white (D65 by default).
    gamma : float or None, optional
        Pure power-law tone curve; ``None`` uses the sRGB curve (as Display P3 does).

    Returns
    -------
    bytes
        The complete profile, suitable for Pillow's ``icc_profile=`` save option.
    """
    colorants = _to_d50(rgb_to_xyz(primaries, white), white)
    curve = _curve_tag(gamma)
    tags: list[tuple[bytes, bytes]] = [
        (b"desc", _desc_tag(description)),
        (b"cprt", _text_tag("No copyright, test fixture")),
        # v2 convention: the media white point of a display is its own white, unadapted.
        (b"wtpt", _xyz_tag(_xy_to_xyz(*white))),
        (b"rXYZ", _xyz_tag(colorants[:, 0])),
        (b"gXYZ", _xyz_tag(colorants[:, 1])),
        (b"bXYZ", _xyz_tag(colorants[:, 2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table = struct.pack(">I", len(tags))
    body = b""
    for signature, blob in tags:
        table += struct.pack(">4sII", signature, offset + len(body), len(blob))
        body += _pad4(blob)
    size = offset + len(body)
    header = struct.pack(
        ">I4sI4s4s4s6H4s4sI4sI8sI12s4s16s28s",
        size, b"lcms", 0x02100000, b"mntr", b"RGB ", b"XYZ ",
        2024, 1, 1, 0, 0, 0,
        b"acsp", b"APPL", 0, bytes(4), 0, bytes(8), 0,
        _s15fixed16(_D50_XYZ), b"test", bytes(16), bytes(28),
    )
    assert len(header) == 128
    return header + table + body


def display_p3() -> bytes:
    """Display P3: DCI-P3 primaries, D65 white, sRGB tone curve (Apple's camera space)."""
    return matrix_trc_profile("Display P3", DISPLAY_P3_PRIMARIES)


def adobe_rgb() -> bytes:
    """Adobe RGB (1998): wider greens, D65 white, gamma 563/256."""
    return matrix_trc_profile("Adobe RGB (1998)", ADOBE_RGB_PRIMARIES, gamma=ADOBE_RGB_GAMMA)


def reference_to_srgb(
    rgb: np.ndarray,
    primaries: Primaries,
    decode: Callable[[np.ndarray], np.ndarray] = srgb_decode,
) -> np.ndarray:
    """Convert 8-bit RGB in a D65 space to 8-bit sRGB with plain matrix algebra.

    Both spaces share the D65 white, so the chromatic adaptation through the
    D50 connection space cancels and relative colorimetric conversion is
    ``inv(M_srgb) @ M_src`` in linear light, clipped to the sRGB gamut.
    """
    linear = decode(np.asarray(rgb, dtype=np.float64) / 255.0)
    to_srgb = np.linalg.inv(rgb_to_xyz(SRGB_PRIMARIES)) @ rgb_to_xyz(primaries)
    return np.round(srgb_encode(linear @ to_srgb.T) * 255.0).astype(np.uint8)
