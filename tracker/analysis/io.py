"""Read photos safely: bytes in, an upright 8-bit sRGB array out, or one clear refusal.

This module is pure: it is handed bytes (or a path) and knows nothing about
storage or the user interface.  Every photo that enters the tracker passes
through :func:`decode_photo`, so it makes the decisions the measurements rely
on, in this order:

1. **Refuse early.**  Width and height come from the file header, and an image
   that is too large, absurdly shaped (a side over :data:`MAX_SIDE`, or one side
   more than :data:`MAX_ASPECT_RATIO` times the other) or too small is refused
   before any pixel is decoded.  :data:`MAX_PIXELS` bounds the memory a decode
   takes: about 7 bytes per pixel at its peak, some 350 MB at the limit.
2. **Decode the first frame** (multi-page TIFF, MPO, animated WebP/GIF) with
   Pillow, or with OpenCV for 16-bit colour PNG/TIFF, because Pillow keeps only
   the high byte of those.  Deep samples are reduced as ``round(v / 257)``.
3. **Convert to sRGB.**  An embedded ICC profile that is not sRGB (Display P3
   from iPhones, Adobe RGB from cameras, CMYK press profiles) is converted with
   LittleCMS, perceptual intent.  No profile, an sRGB profile, or a profile that
   cannot be used means the pixels are taken as sRGB.
4. **Flatten alpha onto white.**  Transparent areas of a PNG or WebP carry
   arbitrary colour underneath (often black), which would pollute skin colour
   statistics; white is also how viewers show them.
5. **Apply the EXIF orientation**, so that the array is upright.

Truncated files are refused, not padded with grey: this relies on Pillow's
``ImageFile.LOAD_TRUNCATED_IMAGES`` staying ``False`` (its default), which
nothing in the tracker may change.
"""

from __future__ import annotations

import functools
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

from tracker.analysis._checks import check_array, check_number, check_path, check_type


__all__ = [
    "MAX_ASPECT_RATIO",
    "MAX_PIXELS",
    "MAX_SIDE",
    "MIN_SIDE",
    "Photo",
    "PhotoError",
    "camera_of",
    "capture_time",
    "decode_photo",
    "photo_camera",
    "read_photo",
    "to_bgr",
]

# 50 megapixels is the full resolution of the largest phone and clinic cameras in use;
# a 100-megapixel PNG of a few hundred kilobytes would take well over a gigabyte to decode.
MAX_PIXELS = 50_000_000
MAX_SIDE = 30_000
MIN_SIDE = 16
# Photos are 1:1 to 21:9; panoramas reach about 8:1. A 30000 x 16 strip is no photo of skin.
MAX_ASPECT_RATIO = 10

# Identifying is restricted to photo formats: obscure Pillow plugins (EPS hands
# the file to Ghostscript, for one) are attack surface that uploads do not need.
# JPEG includes MPO, the multi-picture JPEG that many phones write.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "HEIF", "GIF", "BMP")
_WITHOUT_HEIF = tuple(f for f in _OPEN_FORMATS if f != "HEIF")
_FORMAT_NAMES = {"MPO": "JPEG"}

_EMPTY = "The file is empty."
_NOT_AN_IMAGE = "This is not an image file we can read (JPEG, PNG, WebP, TIFF, HEIC)."
_TRUNCATED = "The image file is incomplete (truncated): upload it again."
_DAMAGED = "The image file is damaged and cannot be decoded: export or upload it again."
_OUT_OF_MEMORY = "The image is too large to decode with the memory available."

# Decoders word truncation differently: Pillow ("image file is truncated"),
# libheif ("Unexpected end of file"), libpng/libjpeg ("premature end").
_TRUNCATION_HINTS = ("truncat", "end of file", "unexpected end", "premature end")
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")

_ASSUMED_SRGB = "sRGB (assumed)"
_SRGB_PROFILE = ImageCms.createProfile("sRGB")

# Pillow modes whose samples are wider than 8 bits; all are single-channel.
_DEEP_GREY_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
# 8-bit working mode for every other Pillow mode: L, RGB, RGBA, or CMYK (which
# waits for its ICC profile, if any).  Modes absent here (LAB) are refused.
_WORKING_MODE = {
    "1": "L",
    "L": "L",
    "LA": "RGBA",
    "La": "RGBA",
    "P": "RGB",
    "PA": "RGBA",
    "RGB": "RGB",
    "RGBX": "RGB",
    "RGBA": "RGBA",
    "RGBa": "RGBA",
    "CMYK": "CMYK",
    "YCbCr": "RGB",
    "HSV": "RGB",
}
_SIXTEEN_TO_EIGHT = ((np.arange(65536, dtype=np.uint32) + 128) // 257).astype(np.uint8)

# What makes the stored pixels upright, per EXIF orientation (same geometry as
# ImageOps.exif_transpose).  OpenCV does it several times faster than NumPy
# strided copies or Pillow, which matters for every portrait phone photo.
_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: cv2.transpose,
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.transpose(cv2.rotate(a, cv2.ROTATE_180)),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}

# (date/time tag, matching UTC-offset tag), most to least specific.
_TIMESTAMP_TAGS = (
    (ExifTags.Base.DateTimeOriginal, ExifTags.Base.OffsetTimeOriginal),
    (ExifTags.Base.DateTimeDigitized, ExifTags.Base.OffsetTimeDigitized),
    (ExifTags.Base.DateTime, ExifTags.Base.OffsetTime),
)
_EXIF_STAMP = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})$")


class PhotoError(ValueError):
    """A photo that cannot be used.

    ``str(err)`` is a single line that a patient or researcher can act on, for
    example ``'The file is empty.'`` or
    ``'The image file is incomplete (truncated): upload it again.'``.  The
    decoder's own exception, when there was one, is chained as ``__cause__``
    for the logs.
    """


@dataclass(frozen=True, eq=False)
class Photo:
    """A decoded photo, upright and in sRGB.

    Attributes
    ----------
    rgb : numpy.ndarray
        ``H x W x 3`` ``uint8`` sRGB pixels, C-contiguous, EXIF orientation
        applied, alpha flattened onto white.  Read-only, like the rest of this
        frozen record: copy it before editing in place.
    captured_at : datetime or None
        When the photo was taken, from EXIF: naive local time, or aware when the
        camera recorded its UTC offset.  ``None`` if unknown.
    format : str
        Container format: ``"JPEG"``, ``"PNG"``, ``"WEBP"``, ``"TIFF"``,
        ``"HEIF"`` (also ``"GIF"``, ``"BMP"``).
    source_bit_depth : int
        8, or 16 when the source had deeper samples (16-bit PNG/TIFF, 10/12-bit
        HEIF, 32-bit integer or float TIFF).
    colour_profile : str
        ``"sRGB (assumed)"`` (no usable profile), ``"sRGB"`` (embedded sRGB, no
        conversion), or the description of the ICC profile that was converted
        from, e.g. ``"Display P3"``.
    camera : str or None
        The camera's maker and model from EXIF (``"Apple iPhone 12"``), None when
        the file does not say. Another camera renders colours differently, so a
        course compares photos taken with one camera best; the store keeps only a
        keyed digest of it, to tell cameras apart.
    """

    rgb: np.ndarray
    captured_at: datetime | None
    format: str
    source_bit_depth: int
    colour_profile: str
    camera: str | None = None

    @property
    def width(self) -> int:
        """Width in pixels, after orientation."""
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels, after orientation."""
        return int(self.rgb.shape[0])


@functools.cache
def _register_heif() -> None:
    """Teach Pillow HEIC and HEIF (pillow-heif), once per process."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def _open_image(source: io.BytesIO | str | os.PathLike) -> Image.Image:
    """``Image.open`` restricted to :data:`_OPEN_FORMATS`.

    pillow-heif, which reads HEIC, takes about 0.2 s to import: it is loaded on the first file
    whose header is an ISO media file's (``ftyp`` at byte 4, as in HEIC, HEIF and AVIF), so
    that a process that never meets one (a batch worker on JPEGs, ``tracker analyze``) does
    without it. Other files are offered to the other formats only, as they would refuse
    them anyway.
    """
    if isinstance(source, io.BytesIO):
        head = source.getbuffer()[4:8].tobytes()
    else:
        with open(source, "rb") as file:
            head = file.read(8)[4:8]
    if head == b"ftyp":
        _register_heif()
        return Image.open(source, formats=_OPEN_FORMATS)
    return Image.open(source, formats=_WITHOUT_HEIF)


def decode_photo(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Photo:
    """Decode an encoded photo into an upright sRGB array.

    Parameters
    ----------
    data : bytes
        The file's content (``bytearray`` and ``memoryview`` work too).
    max_pixels : int, optional
        Largest accepted ``width * height``, checked from the header before
        decoding.  Pillow's own process-wide ceiling (``2 *
        PIL.Image.MAX_IMAGE_PIXELS``, about 179 megapixels) still applies on
        top of it.

    Returns
    -------
    Photo
        Pixels and metadata; see :class:`Photo`.

    Raises
    ------
    PhotoError
        For any file that cannot be used: empty, not an image, truncated,
        damaged, too large, too small or implausibly shaped (a side over
        :data:`MAX_SIDE`, or over :data:`MAX_ASPECT_RATIO` times the other).
        No other exception escapes for bad input.
    ValueError
        ``data`` is not bytes-like, or ``max_pixels`` is not a positive integer
        (mistakes of the caller, not of the file).
    """
    check_type(data, (bytes, bytearray, memoryview), "data", "the content of an image file (bytes)")
    check_number(max_pixels, "max_pixels", integer=True, minimum=1)
    if not data:
        raise PhotoError(_EMPTY)
    try:
        with _open_image(io.BytesIO(data)) as img:
            _check_dimensions(img.size, max_pixels)
            depth = _source_bit_depth(img, data)
            rgb, profile_name = _fast_jpeg(img, data)
            if rgb is None:
                srgb, profile_name = _to_srgb(_eight_bit(img, data, depth), img.info.get("icc_profile"))
                rgb = _rgb_array(srgb)
            # After decoding, so that a PNG eXIf chunk behind the pixel data has been seen.
            exif = _read_exif(img)
            fmt = _FORMAT_NAMES.get(img.format, img.format)
    except PhotoError:
        raise
    except Exception as exc:  # decoders raise OSError, SyntaxError, struct.error, ValueError, ...
        raise _refusal(exc, data, max_pixels) from exc
    upright = _UPRIGHT.get(_orientation(exif))
    if upright is not None:
        rgb = upright(rgb)
    rgb = np.ascontiguousarray(rgb)
    rgb.flags.writeable = False
    return Photo(
        rgb=rgb,
        captured_at=_capture_time_from_exif(exif),
        format=fmt,
        source_bit_depth=depth,
        colour_profile=profile_name,
        camera=camera_of(exif),
    )


def read_photo(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> Photo:
    """Read a photo file and decode it with :func:`decode_photo`.

    Parameters
    ----------
    path : str or os.PathLike
        Location of the file.
    max_pixels : int, optional
        Passed to :func:`decode_photo`.

    Returns
    -------
    Photo
        The decoded photo.

    Raises
    ------
    PhotoError
        If the file is missing, is a folder, cannot be read, or is refused by
        :func:`decode_photo`.
    ValueError
        ``path`` is not a path, or ``max_pixels`` is not a positive integer.
    """
    check_path(path, "path")
    check_number(max_pixels, "max_pixels", integer=True, minimum=1)
    shown = " ".join(os.fsdecode(path).splitlines())
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise PhotoError(f"There is no file at '{shown}'.") from exc
    except (IsADirectoryError, PermissionError) as exc:
        # Windows reports opening a folder as PermissionError.
        if os.path.isdir(path):
            raise PhotoError(f"'{shown}' is a folder, not an image file.") from exc
        raise PhotoError(f"'{shown}' cannot be read: permission denied.") from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PhotoError(f"'{shown}' cannot be read ({reason}).") from exc
    return decode_photo(data, max_pixels=max_pixels)


def capture_time(data: bytes) -> datetime | None:
    """Read when a photo was taken from its EXIF, without decoding pixels.

    Parameters
    ----------
    data : bytes
        The file's content.

    Returns
    -------
    datetime or None
        DateTimeOriginal, else DateTimeDigitized, else DateTime, as naive local
        time; aware when the matching EXIF offset tag (e.g. OffsetTimeOriginal
        ``'+02:00'``) is present.  ``None`` when absent or unparseable, and for
        anything that is not a readable image: this function never raises.

    Notes
    -----
    Only the file header is parsed.  A PNG whose eXIf chunk follows the pixel
    data therefore reports ``None`` here, while :func:`decode_photo`, which
    decodes the pixels anyway, does find it.
    """
    exif = _header_exif(data)
    return None if exif is None else _capture_time_from_exif(exif)


def photo_camera(source: bytes | str | os.PathLike) -> str | None:
    """The camera that took a photo (:func:`camera_of` of its EXIF), without decoding pixels.

    ``source`` is the file's content or its path (then only its header is read). ``None``
    when the file does not say, and for anything that is not a readable image or file: this
    function never raises. Only the header is parsed, as for :func:`capture_time`.
    """
    exif = _header_exif(source)
    return None if exif is None else camera_of(exif)


def _header_exif(source: bytes | str | os.PathLike) -> Image.Exif | None:
    """The EXIF of a file's header (content or path), or None for anything that is not a readable image."""
    try:
        opened = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
        with _open_image(opened) as img:
            return _read_exif(img)
    except Exception:  # any unreadable input simply has no EXIF
        return None


def to_bgr(rgb: np.ndarray) -> np.ndarray:
    """Return a C-contiguous BGR copy of an RGB image, for OpenCV.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``H x W x 3`` RGB image, e.g. :attr:`Photo.rgb`.

    Returns
    -------
    numpy.ndarray
        A new writable ``H x W x 3`` array with the channels reversed.

    Raises
    ------
    ValueError
        ``rgb`` is not an H x W x 3 array of uint8, uint16 or float32 (what
        OpenCV converts).
    """
    rgb = check_array(np.asarray(rgb), "rgb", "an H x W x 3 image of uint8, uint16 or float32",
                      shapes=((None, None, 3),), dtypes=tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.float32)))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.1f} megapixels"


def _check_dimensions(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise PhotoError(
            f"The image is too large ({_megapixels(width * height)}; "
            f"the limit is {_megapixels(max_pixels)})."
        )
    if max(width, height) > MAX_SIDE:
        raise PhotoError(
            f"The image has implausible dimensions ({width} x {height} pixels; "
            f"no side may exceed {MAX_SIDE})."
        )
    if min(width, height) < MIN_SIDE:
        raise PhotoError(
            f"The image is too small ({width} x {height} pixels; "
            f"each side must be at least {MIN_SIDE})."
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise PhotoError(
            f"The image has implausible dimensions ({width} x {height} pixels; "
            f"one side may be at most {MAX_ASPECT_RATIO} times the other)."
        )


def _refusal(exc: Exception, data: bytes, max_pixels: int) -> PhotoError:
    """Turn whatever a decoder raised into the refusal the user should see."""
    if isinstance(exc, Image.DecompressionBombError):
        # Pillow refused in Image.open, before our own check could run; its
        # limit is the lower one whenever it is the one that fired.
        if Image.MAX_IMAGE_PIXELS is not None:
            max_pixels = min(max_pixels, 2 * Image.MAX_IMAGE_PIXELS)
        found = _BOMB_PIXELS.search(str(exc))
        size = f"{_megapixels(int(found.group(1)))}; " if found else ""
        return PhotoError(f"The image is too large ({size}the limit is {_megapixels(max_pixels)}).")
    if isinstance(exc, MemoryError):
        return PhotoError(_OUT_OF_MEMORY)
    if _looks_truncated(exc, data):
        return PhotoError(_TRUNCATED)
    if isinstance(exc, UnidentifiedImageError):
        return PhotoError(_NOT_AN_IMAGE)
    return PhotoError(_DAMAGED)


def _looks_truncated(exc: Exception, data: bytes) -> bool:
    if isinstance(exc, EOFError):
        return True
    message = str(exc).lower()
    if any(hint in message for hint in _TRUNCATION_HINTS):
        return True
    # libwebp only says it "could not create decoder object"; the RIFF header
    # records the complete file length, so a short file is provably cut off.
    head = bytes(data[:12])
    return (
        head[:4] == b"RIFF"
        and head[8:12] == b"WEBP"
        and int.from_bytes(head[4:8], "little") + 8 > len(data)
    )


def _read_exif(img: Image.Image) -> Image.Exif:
    if img.format == "PNG" and "exif" not in img.info:
        # Pillow's getexif() would decode every pixel hunting for an eXIf chunk
        # after the image data; one that exists is in info once decoded.
        return Image.Exif()
    # Broken EXIF costs the orientation and capture time, not the photo.
    try:
        return img.getexif()
    except Exception:
        return Image.Exif()


def _orientation(exif: Image.Exif) -> int:
    value = exif.get(ExifTags.Base.Orientation, 1)
    return value if isinstance(value, int) else 1


def _source_bit_depth(img: Image.Image, data: bytes) -> int:
    if img.mode in _DEEP_GREY_MODES:
        return 16
    if img.format == "PNG":
        # IHDR is always the first chunk; its bit-depth byte is at offset 24.
        bits = data[24]
    elif img.format == "TIFF":
        per_sample = img.tag_v2.get(258, 8)  # BitsPerSample
        bits = max(per_sample) if isinstance(per_sample, tuple) else per_sample
    elif img.format == "HEIF":
        bits = img.info.get("bit_depth", 8)
    else:
        return 8
    return 16 if bits > 8 else 8


def _eight_bit(img: Image.Image, data: bytes, depth: int) -> Image.Image:
    """Decode into one 8-bit working mode: L, RGB, RGBA or CMYK."""
    if img.mode in _DEEP_GREY_MODES:
        return Image.fromarray(_grey_to_eight_bit(np.asarray(img)))
    if depth == 16 and img.format in ("PNG", "TIFF") and img.mode in ("RGB", "RGBA", "LA"):
        precise = _decode_deep_colour(data)
        if precise is not None:
            return Image.fromarray(precise)
        # Let Pillow report why OpenCV could not decode it (truncated, ...);
        # should Pillow succeed, its high-byte reduction is still a usable photo.
        img.load()
    mode = _WORKING_MODE.get(img.mode)
    if mode is None:
        raise PhotoError(
            f"This image uses a pixel format we cannot read ({img.mode}): "
            "save it as JPEG or PNG and try again."
        )
    if mode != "CMYK" and img.has_transparency_data:
        mode = "RGBA"
    return img if img.mode == mode else img.convert(mode)


def _grey_to_eight_bit(samples: np.ndarray) -> np.ndarray:
    if samples.dtype.kind == "f":
        # Float images conventionally hold 0..1 (linear tools, HDR exports clip).
        return np.rint(np.clip(np.nan_to_num(samples), 0.0, 1.0) * 255.0).astype(np.uint8)
    return _SIXTEEN_TO_EIGHT[np.clip(samples, 0, 65535)]


def _decode_deep_colour(data: bytes) -> np.ndarray | None:
    """16-bit RGB/RGBA PNG or TIFF reduced to 8 bits, or ``None`` if OpenCV cannot."""
    try:
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if decoded is None or decoded.dtype != np.uint16 or decoded.ndim != 3:
        return None
    to_rgb = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}.get(decoded.shape[2])
    if to_rgb is None:
        return None
    return cv2.cvtColor(_SIXTEEN_TO_EIGHT[decoded], to_rgb)


def _fast_jpeg(img: Image.Image, data: bytes) -> tuple[np.ndarray | None, str]:
    """Pixels of a plain sRGB (or untagged) 8-bit JPEG decoded straight into numpy by OpenCV.

    Handing Pillow's decoded pixels to numpy costs another copy of the image;
    OpenCV's libjpeg-turbo decodes into the array itself. Only a file that
    ends with its end-of-image marker takes this path: OpenCV would fill the
    missing part of a truncated file with grey, where Pillow refuses it.
    Anything else (CMYK, other profiles, truncation) returns ``None`` for the
    general path.
    """
    if img.format not in ("JPEG", "MPO") or img.mode not in ("RGB", "L") or not _ends_with_eoi(data):
        return None, ""
    icc = img.info.get("icc_profile")
    try:
        profile_name = _srgb_transform(bytes(icc), img.mode)[0] if icc else _ASSUMED_SRGB
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        profile_name = _ASSUMED_SRGB
    if profile_name not in ("sRGB", _ASSUMED_SRGB):
        return None, ""
    rgb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    if rgb is None or (rgb.shape[1], rgb.shape[0]) != img.size:
        return None, ""
    return rgb, profile_name


def _ends_with_eoi(data: bytes) -> bool:
    # Some cameras pad after the end-of-image marker.
    return bytes(data[-64:]).rstrip(b"\x00\xff\r\n ").endswith(b"\xff\xd9") or bytes(data[-2:]) == b"\xff\xd9"


def _to_srgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, str]:
    """Convert from the embedded ICC profile to sRGB; leaves L, RGB or RGBA."""
    try:
        name, transform = _srgb_transform(bytes(icc), image.mode) if icc else (_ASSUMED_SRGB, None)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # Unparseable, or made for another colour space than the pixels.
        name, transform = _ASSUMED_SRGB, None
    if transform is not None:
        return transform.apply(image), name
    if image.mode == "CMYK":
        image = image.convert("RGB")
    return image, name


@functools.lru_cache(maxsize=16)
def _srgb_transform(icc: bytes, mode: str) -> tuple[str, ImageCms.ImageCmsTransform | None]:
    """Profile description and the transform to sRGB (``None`` when already sRGB).

    Cached because building a transform costs milliseconds and a batch of
    photos from one phone embeds the same profile every time.
    """
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    name = (profile.profile.profile_description or "").strip() or "unnamed ICC profile"
    if mode in ("RGB", "RGBA") and "srgb" in name.lower():
        return "sRGB", None
    transform = ImageCms.buildTransform(
        profile,
        _SRGB_PROFILE,
        mode,
        "RGBA" if mode == "RGBA" else "RGB",
        renderingIntent=ImageCms.Intent.PERCEPTUAL,
    )
    return name, transform


def _rgb_array(image: Image.Image) -> np.ndarray:
    """``H x W x 3`` uint8 from an L, RGB or RGBA image; alpha flattened onto white."""
    pixels = np.asarray(image)
    if image.mode == "L":
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    if image.mode == "RGBA":
        alpha = pixels[..., 3:]
        if alpha.min() == 255:
            return cv2.cvtColor(pixels, cv2.COLOR_RGBA2RGB)
        weight = alpha.astype(np.uint16)
        # Rounded integer "over" on white; the sum stays below 2**16.
        flattened = (pixels[..., :3] * weight + 255 * (255 - weight) + 127) // 255
        return flattened.astype(np.uint8)
    return pixels


def _capture_time_from_exif(exif: Image.Exif) -> datetime | None:
    try:
        details = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # a broken Exif sub-IFD leaves IFD0's DateTime usable
        details = {}

    def tag(number: int) -> object:
        # Some writers put Exif-IFD tags in IFD0; accept either place.
        return details.get(number, exif.get(number))

    for stamp_tag, offset_tag in _TIMESTAMP_TAGS:
        stamp = _parse_exif_stamp(tag(stamp_tag))
        if stamp is not None:
            return _apply_offset(stamp, tag(offset_tag))
    return None


CAMERA_MAX_CHARS = 80
"""The longest camera name kept; EXIF's maker and model are free text a file may fill at will."""


def camera_of(exif: Image.Exif) -> str | None:
    """The camera's maker and model (EXIF ``Make`` and ``Model``) in one line, or None.

    The model is given alone when it already names the maker (``"Canon EOS 5D"``),
    spaces are collapsed and control characters dropped.

    >>> exif = Image.Exif()
    >>> exif[ExifTags.Base.Make], exif[ExifTags.Base.Model] = "Apple", "iPhone 12"
    >>> camera_of(exif)
    'Apple iPhone 12'
    >>> exif[ExifTags.Base.Make], exif[ExifTags.Base.Model] = "Canon", "Canon  EOS 5D\\x00"
    >>> camera_of(exif), camera_of(Image.Exif())
    ('Canon EOS 5D', None)
    """
    make, model = (" ".join("".join(c for c in (_exif_text(exif.get(tag)) or "") if c.isprintable()).split())
                   for tag in (ExifTags.Base.Make, ExifTags.Base.Model))
    name = model if make and model.lower().startswith(make.lower()) else f"{make} {model}".strip()
    return name[:CAMERA_MAX_CHARS] or None


def _exif_text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 \t\r\n")


def _parse_exif_stamp(value: object) -> datetime | None:
    text = _exif_text(value)
    found = _EXIF_STAMP.match(text) if text else None
    if found is None:
        return None
    try:
        return datetime(*(int(part) for part in found.groups()))
    except ValueError:  # "0000:00:00 00:00:00" and other impossible dates
        return None


def _apply_offset(stamp: datetime, value: object) -> datetime:
    text = _exif_text(value)
    found = _EXIF_OFFSET.match(text) if text else None
    if found is None:
        return stamp
    sign, hours, minutes = found.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    try:
        return stamp.replace(tzinfo=timezone(-offset if sign == "-" else offset))
    except ValueError:  # |offset| of a day or more
        return stamp
