"""Checks the public functions of the analysis core make of their arguments on entry.

A wrong argument should fail at once, with one line that names the parameter,
says what was expected and what was given, rather than deep inside OpenCV (a
bare ``cv2.error``) or not at all (a float image gives an empty skin mask).
The checks read dtypes and shapes, which costs nothing whatever the size of
the photo; values are read only for scalars and for arrays of a few numbers
(matrices, corners, chart patches).

Every failure is a :class:`ValueError`. When the argument is of the wrong kind
(a list where an array belongs, a float image where a uint8 one does) it is an
:class:`InputTypeError`, which is also a :class:`TypeError`, so code that
caught a TypeError from such a call before still does.

Examples
--------
>>> import numpy as np
>>> check_rgb8(np.zeros((20, 20)), "rgb")
Traceback (most recent call last):
    ...
tracker.analysis._checks.InputTypeError: rgb must be an H x W x 3 uint8 sRGB image; got a float64 array of shape (20, 20)
>>> check_number(0, "scale", above=0)
Traceback (most recent call last):
    ...
ValueError: scale must be a finite number above 0; got int 0
"""

from __future__ import annotations

import numbers
import os

import numpy as np

_UINT8 = (np.dtype(np.uint8),)
_FLOAT = "f"
_REAL = "uif"
#: What OpenCV resamples and filters (``cv2.resize``, ``cv2.warpPerspective``); it refuses the rest.
_OPENCV = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64))


class InputTypeError(ValueError, TypeError):
    """An argument of the wrong type or dtype."""


def describe(value: object) -> str:
    """What was given, in a few words: ``'a float64 array of shape (20, 20)'``, ``'float -1.0'``, ``'None'``."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"{_article(value.dtype.name)} {value.dtype} array of shape {value.shape}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, (numbers.Number, np.generic)):
        return f"{type(value).__name__} {value}"
    return f"{_article(type(value).__name__)} {type(value).__name__}"


def _article(word: str) -> str:
    # "a uint8", "an int64": only these initial vowels are read as vowels in type names.
    return "an" if word.startswith(("a", "e", "i", "o")) else "a"


def _fits(shape: tuple[int, ...], pattern: tuple) -> bool:
    """Whether ``shape`` matches ``pattern``: None is any length, a leading ``...`` any number of axes."""
    if pattern and pattern[0] is Ellipsis:
        tail = pattern[1:]
        return len(shape) >= len(tail) and _fits(shape[len(shape) - len(tail):], tail)
    return len(shape) == len(pattern) and all(p is None or p == s for p, s in zip(pattern, shape))


def check_array(value: object, name: str, expected: str, *, shapes: tuple[tuple, ...],
                dtypes: str | tuple[np.dtype, ...], empty: bool = False, finite: bool = False,
                within: tuple[float, float] | None = None) -> np.ndarray:
    """Refuse an array of the wrong dtype or shape; return it.

    Parameters
    ----------
    value : object
        The argument; only a :class:`numpy.ndarray` is accepted.
    name : str
        The parameter's name, as the caller spells it.
    expected : str
        What the parameter must be, in words (``'an H x W x 3 uint8 sRGB image'``).
    shapes : tuple of tuple
        Accepted shapes: ints, None for any length, a leading ``...`` for any
        number of axes before the rest.
    dtypes : str or tuple of numpy.dtype
        Accepted dtype kinds (``'f'``, ``'uif'``) or dtypes.
    empty : bool
        Whether an array with no elements is acceptable.
    finite, within : bool, tuple of float
        Refuse NaN and infinities, or values outside ``[low, high]``. Both read
        every value: only for arrays of a few numbers.

    Raises
    ------
    InputTypeError
        ``value`` is not an array or has the wrong dtype.
    ValueError
        It has the wrong shape, is empty, or holds values it must not.
    """
    if not isinstance(value, np.ndarray):
        raise InputTypeError(f"{name} must be {expected}; got {describe(value)}")
    kind_ok = value.dtype.kind in dtypes if isinstance(dtypes, str) else value.dtype in dtypes
    if not kind_ok:
        raise InputTypeError(f"{name} must be {expected}; got {describe(value)}")
    if not any(_fits(value.shape, pattern) for pattern in shapes) or (value.size == 0 and not empty):
        raise ValueError(f"{name} must be {expected}; got {describe(value)}")
    if (finite or within) and not np.all(np.isfinite(value)):
        raise ValueError(f"{name} must be {expected}; got NaN or infinite values")
    if within and value.size and (value.min() < within[0] or value.max() > within[1]):
        raise ValueError(f"{name} must be {expected}; got values from {value.min():g} to {value.max():g}")
    return value


def _check_colours(array: object, name: str, pixels: bool, image: str, values: str,
                   dtypes: str | tuple[np.dtype, ...]) -> None:
    """``image`` (an H x W x 3 image, in words) or, with ``pixels``, ``values`` in any array with
    the 3 channels on its last axis, even an empty one."""
    if pixels:
        check_array(array, name, f"{values} with 3 channels on the last axis", shapes=((..., 3),), dtypes=dtypes,
                    empty=True)
    else:
        check_array(array, name, image, shapes=((None, None, 3),), dtypes=dtypes)


def check_rgb8(array: object, name: str, *, pixels: bool = False) -> None:
    """An H x W x 3 uint8 sRGB image; with ``pixels``, any array of uint8 RGB triples (last axis 3), even none."""
    _check_colours(array, name, pixels, "an H x W x 3 uint8 sRGB image", "uint8 sRGB values", _UINT8)


def check_rgb01(array: object, name: str, *, pixels: bool = False) -> None:
    """Float sRGB in 0-1 (values are not read): H x W x 3, or with ``pixels`` any array of RGB triples."""
    _check_colours(array, name, pixels, "an H x W x 3 float sRGB image in 0-1", "float sRGB values in 0-1", _FLOAT)


def check_lab(array: object, name: str, *, pixels: bool = False) -> None:
    """Float CIELAB: H x W x 3, or with ``pixels`` any array of L*a*b* triples, even none."""
    _check_colours(array, name, pixels, "an H x W x 3 float CIELAB image", "float CIELAB values", _FLOAT)


def check_gray(array: object, name: str) -> None:
    """A single-channel H x W image of numbers (any integer or float dtype, not bool)."""
    check_array(array, name, "an H x W single-channel image of numbers", shapes=((None, None),), dtypes=_REAL)


def check_image(array: object, name: str) -> None:
    """An image OpenCV can resample: H x W or H x W x C, of uint8, uint16, int16, float32 or float64."""
    check_array(array, name, "an H x W or H x W x C image of uint8, uint16, int16, float32 or float64",
                shapes=((None, None), (None, None, None)), dtypes=_OPENCV)


def check_mask(mask: object, shape: tuple[int, ...], name: str, *, weights: bool = False,
               optional: bool = True) -> None:
    """A boolean mask of ``shape``; with ``weights``, 0-1 floats too; None passes when ``optional``."""
    if mask is None and optional:
        return
    shape = tuple(int(n) for n in shape)
    kind = "a boolean or 0-1 float" if weights else "a boolean"
    check_array(mask, name, f"{kind} mask of shape {shape}, like the image", shapes=(shape,),
                dtypes="bf" if weights else "b", empty=True)


def check_same_shape(array: np.ndarray, like: np.ndarray, name: str, like_name: str) -> None:
    """``array`` has the shape of ``like`` (both already checked to be arrays)."""
    if array.shape != like.shape:
        raise ValueError(f"{name} must have the shape of {like_name}, {like.shape}; got {describe(array)}")


def check_homography(matrix: object, name: str) -> np.ndarray:
    """A 3 x 3 matrix of finite numbers (an array or nested lists); returned as float64."""
    matrix = np.asarray(matrix) if isinstance(matrix, (list, tuple)) else matrix
    return check_array(matrix, name, "a 3 x 3 homography of finite numbers", shapes=((3, 3),), dtypes=_REAL,
                       finite=True).astype(np.float64)


def check_number(value: object, name: str, *, above: float | None = None, minimum: float | None = None,
                 below: float | None = None, maximum: float | None = None, integer: bool = False,
                 nan: bool = False) -> None:
    """A real number, not a bool, finite (or NaN when ``nan``), within the limits given.

    ``above`` and ``below`` are exclusive limits, ``minimum`` and ``maximum`` inclusive.
    """
    limits = [f"{word} {limit}" for word, limit in
              (("above", above), ("at least", minimum), ("below", below), ("at most", maximum)) if limit is not None]
    expected = ("an integer" if integer else "a number" if nan else "a finite number") + (
        " " + " and ".join(limits) if limits else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral if integer else numbers.Real):
        raise InputTypeError(f"{name} must be {expected}; got {describe(value)}")
    if nan and value != value:
        return
    if not np.isfinite(value) or any(broken for broken in (
            above is not None and not value > above, minimum is not None and not value >= minimum,
            below is not None and not value < below, maximum is not None and not value <= maximum)):
        raise ValueError(f"{name} must be {expected}; got {describe(value)}")


def check_items(value: object, name: str, expected: str, lengths: tuple[int, ...]) -> None:
    """A tuple, list or 1-D array of one of ``lengths`` items (the items are not looked at)."""
    if (not isinstance(value, (tuple, list, np.ndarray)) or (isinstance(value, np.ndarray) and value.ndim != 1)
            or len(value) not in lengths):
        raise InputTypeError(f"{name} must be {expected}; got {describe(value)}")


def check_region(box: object, name: str, *, integer: bool = False, positive: bool = False) -> None:
    """A box ``(x, y, width, height)`` of four numbers (or ``integer`` ones); ``positive``: width and height above 0."""
    check_items(box, name, f"four {'integers' if integer else 'numbers'} (x, y, width, height)", (4,))
    for part, value in zip(("x", "y", "width", "height"), box):
        sized = positive and part in ("width", "height")
        check_number(value, f"{name} {part}", integer=integer, above=0 if sized else None)


def check_shape(shape: object, name: str) -> None:
    """An image shape ``(height, width)`` or ``(height, width, channels)`` of positive integers."""
    check_items(shape, name, "an image shape (height, width[, channels])", (2, 3))
    for value in shape:
        check_number(value, f"{name} sides", integer=True, above=0)


def check_type(value: object, kind: type | tuple[type, ...], name: str, expected: str) -> None:
    """An instance of ``kind``, described to people as ``expected``."""
    if not isinstance(value, kind):
        raise InputTypeError(f"{name} must be {expected}; got {describe(value)}")


def check_text(value: object, name: str) -> None:
    """A string with something in it."""
    check_type(value, str, name, "a non-empty string")
    if not value.strip():
        raise ValueError(f"{name} must be a non-empty string; got {value!r}")


def check_path(value: object, name: str) -> None:
    """A file path: a str or an :class:`os.PathLike` (bytes paths too, as :func:`open` takes them)."""
    check_type(value, (str, bytes, os.PathLike), name, "a file path (str or os.PathLike)")
