"""Tests for tracker.analysis.io: real encoded files built from skimage sample photos, no mocks."""

from __future__ import annotations

import io
import struct
import time
import zlib
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageCms, ImageFile, ImageOps
from PIL.ExifTags import IFD, Base
from skimage import data as samples

import icc_profiles
from tracker.analysis.io import (
    MAX_PIXELS,
    MAX_SIDE,
    MIN_SIDE,
    Photo,
    PhotoError,
    capture_time,
    decode_photo,
    read_photo,
    to_bgr,
)

pillow_heif.register_heif_opener()  # to write the HEIC test photos (the code under test loads it itself)

LOSSY_TOLERANCE = 6.0  # mean absolute difference, in 8-bit levels
TAKEN = "2024:05:06 07:08:09"  # an EXIF DateTimeOriginal value


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    return samples.camera()


@pytest.fixture(scope="module")
def heic(astronaut) -> bytes:
    return encode(astronaut, "HEIF")


def encode(image: np.ndarray | Image.Image, fmt: str, **options) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def encode_cv2(pixels: np.ndarray, ext: str) -> bytes:
    ok, buffer = cv2.imencode(ext, pixels)
    assert ok
    return buffer.tobytes()


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def refusal(data: bytes, **kwargs) -> str:
    """Decode, expecting a one-line PhotoError; return its message."""
    with pytest.raises(Exception) as caught:
        decode_photo(data, **kwargs)
    assert isinstance(caught.value, PhotoError), repr(caught.value)
    message = str(caught.value)
    assert "\n" not in message and message.strip()
    return message


def exif_with(tags: dict[int, object]) -> bytes:
    """Encoded EXIF; DateTime, Orientation, Make and Model go in IFD0, every other tag in the Exif IFD.

    Bytes rather than an ``Image.Exif``: Pillow's PNG writer skips an Exif
    object whose IFD0 is empty, even when its Exif IFD is not.
    """
    exif = Image.Exif()
    for number, value in tags.items():
        if number in (Base.DateTime, Base.Orientation, Base.Make, Base.Model):
            exif[number] = value
        else:
            exif.get_ifd(IFD.Exif)[number] = value
    return exif.tobytes()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width x height`` but carries almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


# --- round trips -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "tolerance"),
    [
        ("JPEG", LOSSY_TOLERANCE),
        ("PNG", 0.0),
        ("WEBP", LOSSY_TOLERANCE),
        ("TIFF", 0.0),
        ("HEIF", LOSSY_TOLERANCE),
    ],
)
def test_round_trip(astronaut, heic, fmt, tolerance):
    data = heic if fmt == "HEIF" else encode(astronaut, fmt)
    photo = decode_photo(data)
    assert photo.format == fmt
    assert photo.rgb.shape == (512, 512, 3)
    assert photo.rgb.dtype == np.uint8
    assert photo.rgb.flags.c_contiguous
    assert mean_abs_diff(photo.rgb, astronaut) <= tolerance
    assert photo.source_bit_depth == 8
    assert photo.colour_profile == "sRGB (assumed)"
    assert photo.captured_at is None


def test_photo_is_read_only_and_sized(portrait):
    photo = decode_photo(encode(portrait, "JPEG"))
    assert (photo.width, photo.height) == (384, 512)
    assert not photo.rgb.flags.writeable
    with pytest.raises(ValueError):
        photo.rgb[0, 0] = 0


def test_read_photo_from_file(tmp_path, astronaut):
    path = tmp_path / "visit 1.png"
    path.write_bytes(encode(astronaut, "PNG"))
    assert np.array_equal(read_photo(path).rgb, astronaut)
    assert np.array_equal(read_photo(str(path)).rgb, astronaut)


def test_to_bgr_is_a_contiguous_writable_copy(astronaut):
    photo = decode_photo(encode(astronaut, "PNG"))
    bgr = to_bgr(photo.rgb)
    assert np.array_equal(bgr, astronaut[..., ::-1])
    assert bgr.flags.c_contiguous and bgr.flags.writeable
    assert not np.shares_memory(bgr, photo.rgb)
    with pytest.raises(ValueError):
        to_bgr(astronaut[..., 0])


# --- orientation -------------------------------------------------------------

# How a camera stores an upright scene for each EXIF orientation (the 0th row
# and column of the stored image, per the EXIF specification).
STORED_FOR_ORIENTATION = {
    1: lambda up: up,
    2: lambda up: up[:, ::-1],  # 0th row top, 0th column right
    3: lambda up: up[::-1, ::-1],  # bottom, right
    4: lambda up: up[::-1],  # bottom, left
    5: lambda up: up.transpose(1, 0, 2),  # left, top
    6: lambda up: np.rot90(up, 1),  # right, top: display rotates 90 degrees clockwise
    7: lambda up: np.rot90(up, 1)[:, ::-1],  # right, bottom
    8: lambda up: np.rot90(up, -1),  # left, bottom: display rotates 90 degrees anticlockwise
}


@pytest.mark.parametrize("orientation", sorted(STORED_FOR_ORIENTATION))
def test_orientation_png_exact(portrait, orientation):
    stored = np.ascontiguousarray(STORED_FOR_ORIENTATION[orientation](portrait))
    data = encode(stored, "PNG", exif=exif_with({Base.Orientation: orientation}))
    photo = decode_photo(data)
    assert np.array_equal(photo.rgb, portrait)
    assert photo.rgb.flags.c_contiguous
    # Same geometry as Pillow's reference implementation.
    assert np.array_equal(photo.rgb, np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data)))))


@pytest.mark.parametrize("orientation", sorted(STORED_FOR_ORIENTATION))
def test_orientation_jpeg(portrait, orientation):
    stored = np.ascontiguousarray(STORED_FOR_ORIENTATION[orientation](portrait))
    exif = exif_with({Base.Orientation: orientation})
    photo = decode_photo(encode(stored, "JPEG", quality=95, exif=exif))
    assert photo.rgb.shape == portrait.shape
    assert mean_abs_diff(photo.rgb, portrait) <= LOSSY_TOLERANCE


def test_orientation_heic_is_not_applied_twice(portrait):
    # HEIF keeps the rotation in the container, which libheif applies while
    # decoding; the EXIF tag must then not rotate the pixels a second time.
    stored = np.ascontiguousarray(STORED_FOR_ORIENTATION[6](portrait))
    photo = decode_photo(encode(stored, "HEIF", exif=exif_with({Base.Orientation: 6})))
    assert photo.rgb.shape == portrait.shape
    assert mean_abs_diff(photo.rgb, portrait) <= LOSSY_TOLERANCE


def move_chunk_behind_pixels(png: bytes, kind: bytes) -> bytes:
    """Re-order a PNG so that the ``kind`` chunk sits between the last IDAT and IEND."""
    chunks, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        chunks.append((png[pos + 4 : pos + 8], png[pos : pos + 12 + length]))
        pos += 12 + length
    moved = [raw for name, raw in chunks if name == kind]
    others = [raw for name, raw in chunks if name != kind]
    assert moved and chunks[-1][0] == b"IEND"
    return png[:8] + b"".join(others[:-1] + moved + others[-1:])


def test_png_exif_after_pixel_data(portrait):
    stored = np.ascontiguousarray(STORED_FOR_ORIENTATION[8](portrait))
    exif = exif_with({Base.Orientation: 8, Base.DateTimeOriginal: TAKEN})
    data = move_chunk_behind_pixels(encode(stored, "PNG", exif=exif), b"eXIf")
    photo = decode_photo(data)
    assert np.array_equal(photo.rgb, portrait)
    assert photo.captured_at == datetime(2024, 5, 6, 7, 8, 9)


# --- colour management -------------------------------------------------------

# Skin tones, a neutral, and saturated colours, all inside the sRGB gamut once converted.
PATCH_COLOURS = np.array(
    [[200, 150, 130], [180, 120, 100], [120, 80, 60], [128, 128, 128], [90, 60, 200], [60, 160, 90]],
    dtype=np.uint8,
)


def patches() -> np.ndarray:
    return np.repeat(np.repeat(PATCH_COLOURS[None], 16, axis=0), 16, axis=1)


WIDE_GAMUT = {
    "Display P3": (icc_profiles.display_p3, icc_profiles.DISPLAY_P3_PRIMARIES, icc_profiles.srgb_decode),
    "Adobe RGB (1998)": (
        icc_profiles.adobe_rgb,
        icc_profiles.ADOBE_RGB_PRIMARIES,
        lambda v: v**icc_profiles.ADOBE_RGB_GAMMA,
    ),
}


@pytest.mark.parametrize("name", sorted(WIDE_GAMUT))
@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_wide_gamut_profile_converted_to_srgb(name, fmt):
    build, primaries, decode = WIDE_GAMUT[name]
    source = patches()
    assumed = decode_photo(encode(source, fmt))
    photo = decode_photo(encode(source, fmt, icc_profile=build()))
    assert photo.colour_profile == name
    expected = icc_profiles.reference_to_srgb(source, primaries, decode)
    assert np.abs(photo.rgb.astype(int) - expected).max() <= 1
    # Wider primaries mean the same numbers are more saturated colours: the
    # skin-tone patches must come out with a larger channel spread than when
    # the profile is ignored (this fails if the conversion is skipped).
    for skin in range(3):
        converted, ignored = photo.rgb[0, 16 * skin].astype(int), assumed.rgb[0, 16 * skin].astype(int)
        assert np.ptp(converted) > np.ptp(ignored) + 5
        assert converted[0] > ignored[0]


def test_display_p3_jpeg_like_an_iphone(astronaut):
    photo = decode_photo(encode(astronaut, "JPEG", quality=95, icc_profile=icc_profiles.display_p3()))
    expected = icc_profiles.reference_to_srgb(astronaut, icc_profiles.DISPLAY_P3_PRIMARIES)
    assert photo.colour_profile == "Display P3"
    assert mean_abs_diff(photo.rgb, expected) <= LOSSY_TOLERANCE
    assert mean_abs_diff(photo.rgb, astronaut) > mean_abs_diff(photo.rgb, expected)


def test_profile_conversion_keeps_alpha():
    rgba = np.dstack([patches(), np.full(patches().shape[:2], 255, np.uint8)])
    photo = decode_photo(encode(rgba, "PNG", icc_profile=icc_profiles.display_p3()))
    expected = icc_profiles.reference_to_srgb(patches(), icc_profiles.DISPLAY_P3_PRIMARIES)
    assert photo.colour_profile == "Display P3"
    assert np.abs(photo.rgb.astype(int) - expected).max() <= 1


def test_embedded_srgb_is_not_converted(astronaut):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = decode_photo(encode(astronaut, "PNG", icc_profile=srgb))
    assert photo.colour_profile == "sRGB"
    assert np.array_equal(photo.rgb, astronaut)


@pytest.mark.parametrize(
    "profile",
    [b"this is not an ICC profile" * 8, icc_profiles.display_p3()[:200]],
    ids=["garbage", "cut-short"],
)
def test_broken_profile_falls_back_to_srgb(astronaut, profile):
    photo = decode_photo(encode(astronaut, "PNG", icc_profile=profile))
    assert photo.colour_profile == "sRGB (assumed)"
    assert np.array_equal(photo.rgb, astronaut)


def test_rgb_profile_on_greyscale_pixels_falls_back(camera):
    photo = decode_photo(encode(camera, "PNG", icc_profile=icc_profiles.display_p3()))
    assert photo.colour_profile == "sRGB (assumed)"
    assert np.array_equal(photo.rgb[..., 1], camera)


# --- pixel formats -------------------------------------------------------------


def test_greyscale_8bit_png(camera):
    photo = decode_photo(encode(camera, "PNG"))
    assert photo.rgb.shape == camera.shape + (3,)
    for channel in range(3):
        assert np.array_equal(photo.rgb[..., channel], camera)
    assert photo.source_bit_depth == 8


def test_greyscale_16bit_png(camera):
    photo = decode_photo(encode(camera.astype(np.uint16) * 257, "PNG"))
    assert photo.source_bit_depth == 16
    assert np.array_equal(photo.rgb[..., 0], camera)
    assert np.array_equal(photo.rgb[..., 2], camera)


# 16-bit samples and round(v / 257); 200 and 65280 tell rounding from keeping the high byte.
SIXTEEN_BIT = np.array([0, 200, 257, 32767, 32896, 65280, 65535], dtype=np.uint16)
EIGHT_BIT = np.array([0, 1, 1, 127, 128, 254, 255], dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_greyscale_16bit_scaling(fmt):
    ramp = np.tile(SIXTEEN_BIT, (16, 3))
    photo = decode_photo(encode(ramp, fmt))
    assert photo.source_bit_depth == 16
    assert np.array_equal(photo.rgb[0, : SIXTEEN_BIT.size, 0], EIGHT_BIT)


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_rgb_16bit_scaling(ext):
    rgb = np.zeros((16, 3 * SIXTEEN_BIT.size, 3), np.uint16)
    rgb[:, : SIXTEEN_BIT.size, 0] = SIXTEEN_BIT
    rgb[:, SIXTEEN_BIT.size : 2 * SIXTEEN_BIT.size, 1] = SIXTEEN_BIT
    rgb[:, 2 * SIXTEEN_BIT.size :, 2] = SIXTEEN_BIT[::-1]
    photo = decode_photo(encode_cv2(rgb[..., ::-1], ext))
    assert photo.format == ("PNG" if ext == ".png" else "TIFF")
    assert photo.source_bit_depth == 16
    assert np.array_equal(photo.rgb[0, : SIXTEEN_BIT.size, 0], EIGHT_BIT)
    assert np.array_equal(photo.rgb[0, SIXTEEN_BIT.size : 2 * SIXTEEN_BIT.size, 1], EIGHT_BIT)
    assert np.array_equal(photo.rgb[0, 2 * SIXTEEN_BIT.size :, 2], EIGHT_BIT[::-1])
    assert not photo.rgb[0, : SIXTEEN_BIT.size, 1:].any()


def test_heic_is_read_in_a_process_that_never_loaded_its_reader(astronaut, tmp_path):
    """The HEIC reader is loaded on the first HEIC file, header or pixels, and not before."""
    import subprocess
    import sys

    exif = exif_with({Base.DateTimeOriginal: TAKEN})
    (tmp_path / "photo.heic").write_bytes(encode(astronaut, "HEIF", exif=exif))
    (tmp_path / "photo.jpg").write_bytes(encode(astronaut, "JPEG"))
    code = """if True:
        import sys
        from tracker.analysis.io import capture_time, read_photo
        print(read_photo("photo.jpg").format, "pillow_heif" in sys.modules)
        print(capture_time("photo.heic"), "pillow_heif" in sys.modules)
        print(read_photo("photo.heic").format, read_photo("photo.heic").rgb.shape)
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.splitlines() == ["JPEG False", "2024-05-06 07:08:09 True", "HEIF (512, 512, 3)"]


def test_10bit_heic(astronaut):
    pixels = (astronaut.astype(np.uint16) * 257).tobytes()
    deep = pillow_heif.from_bytes(mode="RGB;16", size=(512, 512), data=pixels)
    buffer = io.BytesIO()
    deep.save(buffer, format="HEIF", quality=-1)
    photo = decode_photo(buffer.getvalue())
    assert photo.source_bit_depth == 16
    assert mean_abs_diff(photo.rgb, astronaut) <= LOSSY_TOLERANCE


def test_rgb_16bit_photo(astronaut):
    photo = decode_photo(encode_cv2(astronaut[..., ::-1].astype(np.uint16) * 257, ".png"))
    assert np.array_equal(photo.rgb, astronaut)


def test_rgba_16bit_png(astronaut):
    opaque = np.full(astronaut.shape[:2], 255, np.uint8)
    bgra = np.dstack([astronaut[..., ::-1], opaque]).astype(np.uint16) * 257
    photo = decode_photo(encode_cv2(bgra, ".png"))
    assert photo.source_bit_depth == 16
    assert np.array_equal(photo.rgb, astronaut)


def test_float_tiff_clipped_to_unit_range():
    ramp = np.linspace(-0.5, 1.5, 32 * 32, dtype=np.float32).reshape(32, 32)
    photo = decode_photo(encode(ramp, "TIFF"))
    expected = np.rint(np.clip(ramp, 0.0, 1.0) * 255).astype(np.uint8)
    assert np.array_equal(photo.rgb[..., 0], expected)
    assert photo.source_bit_depth == 16


def test_rgba_png_is_flattened_onto_white(astronaut):
    alpha = np.zeros(astronaut.shape[:2], np.uint8)
    alpha[:, 170:340] = 128
    alpha[:, 340:] = 255
    photo = decode_photo(encode(np.dstack([astronaut, alpha]), "PNG"))
    assert np.all(photo.rgb[:, :170] == 255)
    assert np.array_equal(photo.rgb[:, 340:], astronaut[:, 340:])
    blended = (astronaut[:, 170:340].astype(int) * 128 + 255 * 127 + 127) // 255
    assert np.array_equal(photo.rgb[:, 170:340], blended)


def test_cmyk_jpeg(astronaut):
    photo = decode_photo(encode(Image.fromarray(astronaut).convert("CMYK"), "JPEG", quality=95))
    assert photo.format == "JPEG"
    assert photo.rgb.shape == astronaut.shape
    assert mean_abs_diff(photo.rgb, astronaut) <= LOSSY_TOLERANCE


def test_palette_png(astronaut):
    palette = Image.fromarray(astronaut).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    photo = decode_photo(encode(palette, "PNG"))
    assert np.array_equal(photo.rgb, np.asarray(palette.convert("RGB")))


def test_palette_png_with_transparency(astronaut):
    palette = Image.fromarray(astronaut).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    transparent_index = int(np.asarray(palette)[0, 0])
    photo = decode_photo(encode(palette, "PNG", transparency=transparent_index))
    hidden = np.asarray(palette) == transparent_index
    assert np.all(photo.rgb[hidden] == 255)
    assert np.array_equal(photo.rgb[~hidden], np.asarray(palette.convert("RGB"))[~hidden])


def test_multi_page_tiff_uses_first_page(astronaut):
    first, second = Image.fromarray(astronaut), Image.fromarray(astronaut[::-1])
    photo = decode_photo(encode(first, "TIFF", save_all=True, append_images=[second]))
    assert np.array_equal(photo.rgb, astronaut)


def test_mpo_is_reported_as_jpeg(astronaut):
    first, second = Image.fromarray(astronaut), Image.fromarray(astronaut[::-1])
    photo = decode_photo(encode(first, "MPO", save_all=True, append_images=[second]))
    assert photo.format == "JPEG"
    assert mean_abs_diff(photo.rgb, astronaut) <= LOSSY_TOLERANCE


# --- capture time and camera ---------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_the_camera_is_read_from_exif_maker_and_model(astronaut, fmt):
    tagged = encode(astronaut, fmt, exif=exif_with({Base.Make: "Apple", Base.Model: "iPhone 12",
                                                   Base.DateTimeOriginal: TAKEN}))
    assert decode_photo(tagged).camera == "Apple iPhone 12"
    named_twice = encode(astronaut, fmt, exif=exif_with({Base.Make: "Canon", Base.Model: "Canon EOS 5D Mark IV"}))
    assert decode_photo(named_twice).camera == "Canon EOS 5D Mark IV"
    assert decode_photo(encode(astronaut, fmt, exif=exif_with({Base.DateTimeOriginal: TAKEN}))).camera is None
    assert decode_photo(encode(astronaut, fmt)).camera is None


def test_capture_time_from_datetime_original(astronaut):
    exif = exif_with({Base.DateTimeOriginal: TAKEN, Base.DateTime: "2030:01:01 00:00:00"})
    data = encode(astronaut, "JPEG", exif=exif)
    assert capture_time(data) == datetime(2024, 5, 6, 7, 8, 9)
    assert capture_time(data).tzinfo is None
    assert decode_photo(data).captured_at == datetime(2024, 5, 6, 7, 8, 9)


def test_capture_time_with_offset_is_aware(astronaut):
    exif = exif_with({Base.DateTimeOriginal: TAKEN, Base.OffsetTimeOriginal: "+02:00"})
    data = encode(astronaut, "JPEG", exif=exif)
    stamp = capture_time(data)
    assert stamp == datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert stamp.utcoffset() == timedelta(hours=2)


def test_capture_time_negative_offset(astronaut):
    exif = exif_with({Base.DateTimeOriginal: "2023:12:31 23:30:00", Base.OffsetTimeOriginal: "-05:30"})
    data = encode(astronaut, "PNG", exif=exif)
    assert capture_time(data).utcoffset() == -timedelta(hours=5, minutes=30)


def test_capture_time_falls_back_to_digitized_then_datetime(astronaut):
    exif = exif_with({Base.DateTimeDigitized: "2022:02:03 04:05:06", Base.DateTime: "2030:01:01 00:00:00"})
    digitized = encode(astronaut, "JPEG", exif=exif)
    assert capture_time(digitized) == datetime(2022, 2, 3, 4, 5, 6)
    modified = encode(astronaut, "JPEG", exif=exif_with({Base.DateTime: "2021:01:02 03:04:05"}))
    assert capture_time(modified) == datetime(2021, 1, 2, 3, 4, 5)


def test_capture_time_absent(astronaut):
    assert capture_time(encode(astronaut, "JPEG")) is None
    assert capture_time(encode(astronaut, "PNG")) is None


@pytest.mark.parametrize(
    "value", ["garbage", "0000:00:00 00:00:00", "2024:13:45 25:61:61", "    :  :     :  :  ", ""]
)
def test_capture_time_garbage_is_none(astronaut, value):
    data = encode(astronaut, "JPEG", exif=exif_with({Base.DateTimeOriginal: value}))
    assert capture_time(data) is None
    assert decode_photo(data).captured_at is None


def test_capture_time_garbage_offset_stays_naive(astronaut):
    exif = exif_with({Base.DateTimeOriginal: TAKEN, Base.OffsetTimeOriginal: "local"})
    data = encode(astronaut, "JPEG", exif=exif)
    assert capture_time(data) == datetime(2024, 5, 6, 7, 8, 9)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_capture_time_does_not_decode_pixels(astronaut, fmt):
    large = cv2.resize(astronaut, (2000, 1500), interpolation=cv2.INTER_LINEAR)
    if fmt == "JPEG":
        data = encode(large, fmt, exif=exif_with({Base.DateTimeOriginal: TAKEN}))
    else:
        data = encode(large, fmt, compress_level=1)
    started = time.perf_counter()
    capture_time(data)
    header_only = time.perf_counter() - started
    started = time.perf_counter()
    decode_photo(data)
    assert header_only < (time.perf_counter() - started) / 5


@pytest.mark.parametrize("data", [b"", b"plain text", b"%PDF-1.7\n", png_header_only(50_000, 50_000)])
def test_capture_time_never_raises(data):
    assert capture_time(data) is None


# --- refusals ------------------------------------------------------------------


def test_empty_file_refused():
    assert refusal(b"") == "The file is empty."


@pytest.mark.parametrize(
    "data",
    [
        b"Patient notes: healing well, some redness.\n" * 20,
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        np.random.default_rng(7).bytes(4096),
    ],
    ids=["text", "pdf", "random"],
)
def test_non_image_refused(data):
    message = refusal(data)
    assert "not an image" in message
    assert "JPEG, PNG, WebP, TIFF, HEIC" in message


def _truncation_message(data: bytes, fraction: float) -> str:
    return refusal(data[: int(len(data) * fraction)])


def test_jpeg_cut_in_half_refused(astronaut):
    message = _truncation_message(encode(astronaut, "JPEG"), 0.5)
    assert "incomplete" in message and "truncated" in message


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "HEIF"])
def test_other_formats_cut_in_half_refused(astronaut, heic, fmt):
    data = heic if fmt == "HEIF" else encode(astronaut, fmt)
    assert "truncated" in _truncation_message(data, 0.5)


def test_16bit_png_cut_in_half_refused(astronaut):
    data = encode_cv2(astronaut.astype(np.uint16) * 257, ".png")
    assert "truncated" in _truncation_message(data, 0.5)


@pytest.mark.parametrize("fraction", [0.005, 0.05, 0.3, 0.7, 0.95, 0.999])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "HEIF"])
def test_any_cut_is_a_photo_error(astronaut, heic, fmt, fraction):
    data = heic if fmt == "HEIF" else encode(astronaut, fmt)
    _truncation_message(data, fraction)


def test_decompression_bomb_refused_from_header():
    started = time.perf_counter()
    message = refusal(png_header_only(50_000, 50_000))
    assert time.perf_counter() - started < 0.5
    assert "too large" in message and "2500.0 megapixels" in message


# Pillow warns (but does not refuse) above 89.5 megapixels; the refusal here is ours.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_max_pixels_checked_before_decoding():
    started = time.perf_counter()
    message = refusal(png_header_only(12_000, 10_000), max_pixels=MAX_PIXELS)
    assert time.perf_counter() - started < 0.5
    assert message == "The image is too large (120.0 megapixels; the limit is 50.0 megapixels)."


def test_max_pixels_argument(astronaut):
    data = encode(astronaut, "PNG")
    assert "too large" in refusal(data, max_pixels=512 * 512 - 1)
    assert decode_photo(data, max_pixels=512 * 512).rgb.shape == (512, 512, 3)


def test_absurd_side_refused():
    message = refusal(png_header_only(MAX_SIDE + 1, 20))
    assert "implausible" in message and str(MAX_SIDE) in message


@pytest.mark.parametrize("size", [(1, 1), (MIN_SIDE - 1, 200)])
def test_tiny_image_refused(size):
    message = refusal(encode(Image.new("RGB", size, "white"), "PNG"))
    assert "too small" in message


def test_smallest_accepted_image():
    photo = decode_photo(encode(Image.new("RGB", (MIN_SIDE, MIN_SIDE), "red"), "PNG"))
    assert photo.rgb.shape == (MIN_SIDE, MIN_SIDE, 3)


def test_read_photo_missing_file(tmp_path):
    with pytest.raises(PhotoError) as caught:
        read_photo(tmp_path / "nope.jpg")
    assert "no file" in str(caught.value) and "\n" not in str(caught.value)


def test_read_photo_directory(tmp_path):
    with pytest.raises(PhotoError) as caught:
        read_photo(tmp_path)
    assert "folder" in str(caught.value) and "\n" not in str(caught.value)


def test_read_photo_newline_in_name_stays_one_line(tmp_path):
    with pytest.raises(PhotoError) as caught:
        read_photo(tmp_path / "two\nlines.jpg")
    assert "\n" not in str(caught.value)


def test_read_photo_refuses_bad_content(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a photo")
    with pytest.raises(PhotoError, match="not an image"):
        read_photo(path)


def test_truncated_images_stay_refused_globally():
    # The truncation refusals depend on Pillow's default; importing tracker.analysis.io must not change it.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_photo_error_is_a_value_error():
    assert issubclass(PhotoError, ValueError)
    fields = {"rgb", "captured_at", "format", "source_bit_depth", "colour_profile"}
    assert fields <= set(Photo.__dataclass_fields__)


# --- arguments -------------------------------------------------------------------


@pytest.mark.parametrize("data", ["a photo.jpg", None, np.zeros(16, np.uint8), 12, [255, 216]],
                         ids=["str", "None", "array", "int", "list"])
def test_decode_photo_takes_only_bytes(data):
    """Mistakes of the caller, not of the file: a plain ValueError naming the parameter, not a PhotoError."""
    with pytest.raises(ValueError, match=r"^data must be the content of an image file \(bytes\); got ") as caught:
        decode_photo(data)
    assert not isinstance(caught.value, PhotoError)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_decode_photo_takes_any_bytes_like_content(astronaut, kind):
    assert np.array_equal(decode_photo(kind(encode(astronaut, "PNG"))).rgb, astronaut)


@pytest.mark.parametrize("max_pixels", [0, -5, 1.5e6, "100", None], ids=["0", "negative", "float", "text", "None"])
@pytest.mark.parametrize("call", [
    lambda n, path: decode_photo(b"\x89PNG", max_pixels=n),
    lambda n, path: read_photo(path, max_pixels=n),
], ids=["decode_photo", "read_photo"])
def test_max_pixels_must_be_a_positive_integer(tmp_path, call, max_pixels):
    """Checked before the file is looked for: the missing file is not what is reported."""
    with pytest.raises(ValueError, match=r"^max_pixels must be an integer at least 1; got "):
        call(max_pixels, tmp_path / "missing.png")


@pytest.mark.parametrize("path", [None, 3, ["a.jpg"]], ids=["None", "int", "list"])
def test_read_photo_takes_a_path(path):
    with pytest.raises(ValueError, match=r"^path must be a file path \(str or os.PathLike\); got "):
        read_photo(path)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_to_bgr_reverses_the_channels_of_each_dtype_opencv_converts(astronaut, dtype):
    rgb = astronaut.astype(dtype)
    np.testing.assert_array_equal(to_bgr(rgb), rgb[..., ::-1])


@pytest.mark.parametrize("bad", [
    np.zeros((8, 8, 3), np.float64), np.zeros((8, 8, 3), np.int32), np.zeros((8, 8, 3), bool),
    np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 3, 1), np.uint8), np.zeros((0, 8, 3), np.uint8),
], ids=["float64", "int32", "bool", "4 channels", "4-D", "empty"])
def test_to_bgr_refuses_what_opencv_cannot_convert(bad):
    with pytest.raises(ValueError, match=r"^rgb must be an H x W x 3 image of uint8, uint16 or float32; got "):
        to_bgr(bad)
