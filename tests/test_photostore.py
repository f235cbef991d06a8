"""Tests for tracker.store.photostore: real files and real processes, no mocks."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import stat
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageCms, PngImagePlugin
from PIL.ExifTags import GPS, IFD, Base

from tracker.analysis.io import PhotoError, decode_photo
from tracker.store import photostore
from tracker.store.photostore import PhotoStore, StoredPhoto, SweepReport, strip_metadata

pillow_heif.register_heif_opener()  # to write the HEIC test photos

REPO = Path(__file__).resolve().parents[1]

# What must not survive in a stored photo, planted in every metadata block the tests write.
MAKE = "AcmeCam"
MODEL = "Z9 serial 0042"
TAKEN = "2024:05:06 07:08:09"
MAP_DATUM = "WGS-84"
USER_COMMENT = b"ASCII\x00\x00\x00home: 12 Elm Street"
COMMENT = b"Jane Doe, left cheek, session 3"
XMP = (
    b"http://ns.adobe.com/xap/1.0/\x00"
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Dr Jones Clinic"/>'
    b"</rdf:RDF></x:xmpmeta>"
)
IPTC = (  # a Photoshop resource block holding an IPTC By-line
    b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + (20).to_bytes(4, "big")
    + b"\x1c\x02\x50\x00\x0eByline Dr Jones"
)
MAKER_NOTE_APP = b"Ducky\x00owner: Jane Doe"
IDENTIFYING = (
    MAKE.encode(), MODEL.encode(), TAKEN.encode(), MAP_DATUM.encode(), b"Elm Street", COMMENT,
    b"xmp", b"adobe:ns", b"Dr Jones", b"Photoshop", b"8BIM", b"Ducky", b"Jane Doe",
)

# A child process that puts every photo of a folder, reporting each hash once stored.
IMPORTER = """
import sys
from pathlib import Path
from tracker.store.photostore import PhotoStore

store = PhotoStore(Path(sys.argv[1]))
photos = [path.read_bytes() for path in sorted(Path(sys.argv[2]).iterdir())]
sys.stdin.readline()  # start together with the other importer
for photo in photos:
    print(store.put(photo).content_hash, flush=True)
"""


@pytest.fixture(scope="module")
def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture
def store(tmp_path) -> PhotoStore:
    return PhotoStore(tmp_path / "photos")


def identifying_exif(*, orientation: int | None = 6, latitude: float = 52.0) -> Image.Exif:
    exif = Image.Exif()
    exif[Base.Make] = MAKE
    exif[Base.Model] = MODEL
    if orientation is not None:
        exif[Base.Orientation] = orientation
    details = exif.get_ifd(IFD.Exif)
    details[Base.DateTimeOriginal] = TAKEN
    details[Base.UserComment] = USER_COMMENT
    exif.get_ifd(IFD.GPSInfo).update({
        GPS.GPSLatitudeRef: "N",
        GPS.GPSLatitude: (latitude, 22.0, 12.5),
        GPS.GPSLongitudeRef: "E",
        GPS.GPSLongitude: (4.0, 53.0, 1.25),
        GPS.GPSMapDatum: MAP_DATUM,
    })
    return exif


def encode(image: np.ndarray | Image.Image, fmt: str, **options) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def jpeg_header_markers(jpeg: bytes) -> list[int]:
    """Markers up to and including the first SOS (test oracle: no fill bytes expected)."""
    markers, position = [], 2
    while True:
        assert jpeg[position] == 0xFF
        marker = jpeg[position + 1]
        markers.append(marker)
        if marker == 0xDA:
            return markers
        position += 2 + int.from_bytes(jpeg[position + 2 : position + 4], "big")


def rich_jpeg(pixels: np.ndarray, icc: bytes, **options) -> bytes:
    """A JPEG carrying EXIF with GPS, XMP, IPTC, a vendor APP segment, a comment and an ICC profile."""
    jpeg = encode(pixels, "JPEG", exif=identifying_exif(), icc_profile=icc, comment=COMMENT, **options)
    return after_soi(
        jpeg, jpeg_segment(0xE1, XMP), jpeg_segment(0xED, IPTC), jpeg_segment(0xEC, MAKER_NOTE_APP)
    )


def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    chunks, position = [], 8
    while position < len(png):
        length = int.from_bytes(png[position : position + 4], "big")
        chunks.append((png[position + 4 : position + 8], png[position + 8 : position + 8 + length]))
        position += 12 + length
    return chunks


def chunk_kinds(png: bytes) -> list[bytes]:
    """Chunk types in order, a run of IDAT chunks counted once."""
    kinds = [kind for kind, _ in png_chunks(png)]
    return [kind for i, kind in enumerate(kinds) if not (kind == b"IDAT" and kinds[i - 1] == b"IDAT")]


def build_png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
        for kind, body in chunks
    )


def assert_nothing_identifying(stored: bytes) -> None:
    lowered = stored.lower()
    for secret in IDENTIFYING:
        assert secret.lower() not in lowered, secret


def assert_same_photo(stored: bytes, original: bytes) -> None:
    """Same upright sRGB pixels through tracker.analysis.io, bit for bit."""
    assert np.array_equal(decode_photo(stored).rgb, decode_photo(original).rgb)


def only_orientation(exif: Image.Exif, orientation: int) -> None:
    assert dict(exif) == {Base.Orientation: orientation}
    assert not exif.get_ifd(IFD.GPSInfo)
    assert not exif.get_ifd(IFD.Exif)


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file() and path.name != ".lock")


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --- JPEG ---------------------------------------------------------------------------------------


def test_jpeg_metadata_removed_losslessly(portrait, srgb_icc):
    original = rich_jpeg(portrait, srgb_icc)
    stored, extension = strip_metadata(original)

    assert extension == "jpg"
    assert_nothing_identifying(stored)
    assert_same_photo(stored, original)
    assert decode_photo(stored).rgb.shape == (384, 512, 3)  # orientation 6 still applied
    with Image.open(io.BytesIO(original)) as before, Image.open(io.BytesIO(stored)) as after:
        assert np.array_equal(np.asarray(before), np.asarray(after))  # Pillow's own decode too
        assert after.info["icc_profile"] == srgb_icc
        only_orientation(after.getexif(), 6)
    app_markers = [m for m in jpeg_header_markers(stored) if 0xE0 <= m <= 0xEF or m == 0xFE]
    assert app_markers == [0xE0, 0xE1, 0xE2]  # JFIF, the orientation, the ICC profile
    assert stored.count(b"Exif") == 1


@pytest.mark.parametrize("orientation", [1, 3, 5, 8])
def test_jpeg_orientation_kept_alone(portrait, orientation):
    original = encode(portrait, "JPEG", exif=identifying_exif(orientation=orientation))
    stored, _ = strip_metadata(original)

    assert_same_photo(stored, original)
    with Image.open(io.BytesIO(stored)) as image:
        if orientation == 1:
            assert b"Exif" not in stored
        else:
            only_orientation(image.getexif(), orientation)


def test_jpeg_orientation_from_xmp_survives(portrait):
    # No EXIF at all: Pillow, and so tracker.analysis.io, takes the orientation from XMP.
    xmp = XMP.replace(
        b"<rdf:Description ",
        b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="8" ',
    )
    original = after_soi(encode(portrait, "JPEG"), jpeg_segment(0xE1, xmp))
    stored, _ = strip_metadata(original)

    assert decode_photo(original).rgb.shape == (384, 512, 3)
    assert_same_photo(stored, original)
    assert b"xmp" not in stored.lower()
    with Image.open(io.BytesIO(stored)) as image:
        only_orientation(image.getexif(), 8)


@pytest.mark.parametrize(
    "options",
    [{"progressive": True}, {"restart_marker_blocks": 4}, {"progressive": True, "restart_marker_rows": 1}],
    ids=["progressive", "restart-markers", "progressive-restart-markers"],
)
def test_jpeg_coding_variants(portrait, srgb_icc, options):
    # Several scans, and restart markers inside the coded data, must be copied intact.
    original = rich_jpeg(portrait, srgb_icc, **options)
    stored, _ = strip_metadata(original)

    assert_nothing_identifying(stored)
    assert_same_photo(stored, original)


def test_mpo_keeps_only_the_first_picture(astronaut):
    second = Image.fromarray(np.ascontiguousarray(astronaut[::-1]))
    original = encode(astronaut, "MPO", save_all=True, append_images=[second], exif=identifying_exif())
    stored, extension = strip_metadata(original)

    assert extension == "jpg"
    assert b"MPF" not in stored
    assert stored.endswith(b"\xff\xd9") and stored.count(b"\xff\xd8") == 1
    assert_nothing_identifying(stored)
    assert_same_photo(stored, original)
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG"


def test_trailer_after_the_image_is_dropped(astronaut):
    # Motion photos and vendor trailers append data (videos, GPS tracks) after EOI.
    trailer = b"\x00\x00\x00\x18ftypmp42 MotionPhoto " + COMMENT
    original = encode(astronaut, "JPEG") + trailer
    stored, _ = strip_metadata(original)

    assert stored == encode(astronaut, "JPEG")


def test_jfif_thumbnail_dropped(astronaut):
    jpeg = encode(astronaut, "JPEG")
    assert jpeg[2:4] == b"\xff\xe0"
    thumbnail = bytes(range(200, 212))  # 2 x 2 RGB
    jfif = jpeg[6:18] + b"\x02\x02" + thumbnail
    original = jpeg[:2] + jpeg_segment(0xE0, jfif) + jpeg[4 + int.from_bytes(jpeg[4:6], "big") :]
    stored, _ = strip_metadata(original)

    assert thumbnail not in stored
    assert stored == jpeg
    assert_same_photo(stored, original)


def test_cmyk_jpeg_keeps_its_adobe_marker(astronaut):
    original = encode(Image.fromarray(astronaut).convert("CMYK"), "JPEG", comment=COMMENT)
    stored, _ = strip_metadata(original)

    assert b"Adobe" in stored and COMMENT not in stored
    assert_same_photo(stored, original)


# --- PNG ----------------------------------------------------------------------------------------


def rich_png(pixels: np.ndarray, icc: bytes, *, orientation: int = 6) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_text("Comment", COMMENT.decode(), zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP.split(b"\x00", 1)[1].decode())
    info.add(b"tIME", bytes((7, 232, 5, 6, 7, 8, 9)))
    info.add(b"prVt", b"Dr Jones private chunk")
    exif = identifying_exif(orientation=orientation)
    return encode(pixels, "PNG", pnginfo=info, exif=exif, icc_profile=icc)


def test_png_metadata_removed_losslessly(portrait, srgb_icc):
    original = rich_png(portrait, srgb_icc)
    stored, extension = strip_metadata(original)

    assert extension == "png"
    assert set(chunk_kinds(original)) >= {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf", b"prVt"}
    assert chunk_kinds(stored) == [b"IHDR", b"iCCP", b"eXIf", b"IDAT", b"IEND"]
    assert_nothing_identifying(stored)
    assert_same_photo(stored, original)
    assert decode_photo(stored).rgb.shape == (384, 512, 3)
    with Image.open(io.BytesIO(original)) as before, Image.open(io.BytesIO(stored)) as after:
        assert np.array_equal(np.asarray(before), np.asarray(after))
        assert after.info["icc_profile"] == before.info["icc_profile"]
        only_orientation(after.getexif(), 6)


def test_png_without_orientation_loses_its_exif_entirely(portrait, srgb_icc):
    original = rich_png(portrait, srgb_icc, orientation=1)
    stored, _ = strip_metadata(original)

    assert b"eXIf" not in stored
    assert_same_photo(stored, original)


def test_png_exif_behind_the_pixels(portrait):
    chunks = png_chunks(encode(portrait, "PNG", exif=identifying_exif(orientation=8)))
    exif = next(chunk for chunk in chunks if chunk[0] == b"eXIf")
    chunks.remove(exif)
    original = build_png([*chunks[:-1], exif, chunks[-1]])
    stored, _ = strip_metadata(original)

    assert decode_photo(original).rgb.shape == (384, 512, 3)
    assert_same_photo(stored, original)
    assert_nothing_identifying(stored)


def test_16_bit_png_keeps_its_depth(astronaut):
    deep = astronaut.astype(np.uint16) * 257 + np.arange(512, dtype=np.uint16)[None, :, None]
    ok, encoded = cv2.imencode(".png", deep)
    assert ok
    chunks = png_chunks(encoded.tobytes())
    original = build_png([chunks[0], (b"tEXt", b"Author\x00Jane Doe"), *chunks[1:]])
    stored, _ = strip_metadata(original)

    assert b"Jane Doe" not in stored
    assert np.array_equal(
        cv2.imdecode(np.frombuffer(stored, np.uint8), cv2.IMREAD_UNCHANGED),
        cv2.imdecode(np.frombuffer(original, np.uint8), cv2.IMREAD_UNCHANGED),
    )


def test_palette_png_with_transparency(astronaut):
    palette = Image.fromarray(astronaut).convert("P")
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    original = encode(palette, "PNG", pnginfo=info, transparency=0)
    stored, _ = strip_metadata(original)

    assert chunk_kinds(stored)[:3] == [b"IHDR", b"PLTE", b"tRNS"]
    assert_same_photo(stored, original)


def test_unknown_critical_png_chunk_stores_the_decoded_pixels(astronaut):
    chunks = png_chunks(encode(astronaut, "PNG"))
    original = build_png([chunks[0], (b"ABCD", b"Jane Doe"), *chunks[1:]])
    stored, extension = strip_metadata(original)

    assert extension == "png"
    assert chunk_kinds(stored) == [b"IHDR", b"IDAT", b"IEND"]
    assert_same_photo(stored, original)


# --- other formats ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, options", [("HEIF", {}), ("WEBP", {"lossless": True}), ("TIFF", {})])
def test_other_formats_become_plain_png(portrait, srgb_icc, fmt, options):
    original = encode(portrait, fmt, exif=identifying_exif().tobytes(), icc_profile=srgb_icc, **options)
    assert MAKE.encode() in original
    stored, extension = strip_metadata(original)

    assert extension == "png"
    assert set(chunk_kinds(stored)) == {b"IHDR", b"IDAT", b"IEND"}
    assert_nothing_identifying(stored)
    assert_same_photo(stored, original)


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"not a photo at all", b"\xff\xd8\xff\xe0garbage", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
    ids=["empty", "text", "jpeg-signature", "png-signature"],
)
@pytest.mark.parametrize("validated", [False, True])
def test_non_image_refused_and_nothing_written(store, content, validated):
    with pytest.raises(PhotoError) as refused:
        store.put(content, validated=validated)

    assert "\n" not in str(refused.value)
    assert list(store.root.iterdir()) == []


def test_truncated_jpeg_refused_and_nothing_written(store, astronaut):
    jpeg = encode(astronaut, "JPEG")
    with pytest.raises(PhotoError, match="incomplete"):
        store.put(jpeg[: len(jpeg) // 2])

    assert list(store.root.iterdir()) == []


# --- the store ----------------------------------------------------------------------------------


def test_put_layout_and_permissions(store, portrait, srgb_icc):
    original = rich_jpeg(portrait, srgb_icc)
    photo = store.put(original)
    digest = photo.content_hash

    stored = photo.path.read_bytes()
    where = store.root / digest[:2] / digest[2:4] / f"{digest}.jpg"
    assert photo == StoredPhoto(content_hash=digest, extension="jpg", size=len(stored), path=where)
    assert digest == hashlib.sha256(stored).hexdigest()
    assert stored == strip_metadata(original)[0]
    assert stat.S_IMODE(photo.path.stat().st_mode) == 0o600
    for folder in (photo.path.parent, photo.path.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [path.name for path in store.root.rglob(".tmp-*")] == []


def test_new_store_folder_is_private(tmp_path):
    store = PhotoStore(tmp_path / "data" / "photos")
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700


def test_same_photo_stored_once(store, astronaut):
    jpeg = encode(astronaut, "JPEG")
    first, second = store.put(jpeg), store.put(jpeg)

    assert first == second
    assert files_under(store.root) == [first.path]
    assert store.hashes() == {first.content_hash}


def test_copies_differing_only_in_gps_are_one_photo(store, portrait):
    here = store.put(encode(portrait, "JPEG", exif=identifying_exif(latitude=52.0)))
    there = store.put(encode(portrait, "JPEG", exif=identifying_exif(latitude=48.0)))

    assert here.content_hash == there.content_hash
    assert len(files_under(store.root)) == 1


def test_read_exists_path_delete(store, astronaut):
    photo = store.put(encode(astronaut, "PNG"))

    assert store.exists(photo.content_hash)
    assert store.path(photo.content_hash) == photo.path
    assert hashlib.sha256(store.read(photo.content_hash)).hexdigest() == photo.content_hash

    store.delete(photo.content_hash)
    store.delete(photo.content_hash)  # absent: nothing to do
    assert not store.exists(photo.content_hash)
    assert store.hashes() == set()
    with pytest.raises(KeyError, match=photo.content_hash):
        store.path(photo.content_hash)
    with pytest.raises(KeyError):
        store.read(photo.content_hash)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABCD" * 16, "ab" * 31, ""])
def test_malformed_hash_refused(store, bad):
    for method in (store.path, store.read, store.exists, store.delete):
        with pytest.raises(ValueError, match="not a photo hash"):
            method(bad)


def test_a_damaged_file_is_found_when_read_with_verify(store, astronaut):
    photo = store.put(encode(astronaut, "JPEG"))
    whole = photo.path.read_bytes()
    assert store.read(photo.content_hash, verify=True) == whole
    photo.path.write_bytes(whole[:100])
    assert store.read(photo.content_hash) == whole[:100]  # as stored now, unchecked
    with pytest.raises(photostore.DamagedPhoto, match=rf"^The stored photo {photo.content_hash[:12]}… no longer"):
        store.read(photo.content_hash, verify=True)


def test_damaged_file_is_rewritten(store, astronaut):
    jpeg = encode(astronaut, "JPEG")
    photo = store.put(jpeg)
    photo.path.write_bytes(photo.path.read_bytes()[:100])

    assert store.put(jpeg) == photo
    assert hashlib.sha256(photo.path.read_bytes()).hexdigest() == photo.content_hash


# --- sweep --------------------------------------------------------------------------------------


def test_sweep(store, astronaut):
    photos = [store.put(encode(astronaut[i * 64 : i * 64 + 128], "PNG")) for i in range(3)]
    referenced_old, unreferenced_old, unreferenced_fresh = photos
    long_ago = time.time() - 7200
    for photo in (referenced_old, unreferenced_old):
        os.utime(photo.path, (long_ago, long_ago))
    folder = referenced_old.path.parent
    here = photostore._HOST
    dead_writer = folder / f".tmp-{here}_{dead_pid()}-0123abcd"
    dead_writer_of_old = folder / f".tmp-{dead_pid()}-0123abce"  # named before temporary files named the host
    live_writer = folder / f".tmp-{here}_{os.getpid()}-4567cdef"
    stalled_writer = folder / f".tmp-{here}_{os.getpid()}-89abcdef"
    # Another machine sharing the store: its writer's process id means nothing here, so only age counts.
    elsewhere_writing = folder / f".tmp-other-host.example_{dead_pid()}-13579bdf"
    elsewhere_stalled = folder / f".tmp-other-host.example_{dead_pid()}-2468ace0"
    for temp in (dead_writer, dead_writer_of_old, live_writer, stalled_writer, elsewhere_writing, elsewhere_stalled):
        temp.write_bytes(b"half a photo")
    for temp in (stalled_writer, elsewhere_stalled):
        os.utime(temp, (long_ago, long_ago))

    report = store.sweep({referenced_old.content_hash}, grace_seconds=3600)

    assert report == SweepReport(temp_files_removed=4, unreferenced_removed=1)
    assert store.hashes() == {referenced_old.content_hash, unreferenced_fresh.content_hash}
    assert sorted(path.name for path in folder.glob(".tmp-*")) == sorted([live_writer.name, elsewhere_writing.name])


def test_put_of_a_present_photo_protects_it_from_sweep(store, astronaut):
    # An importer re-adding an orphaned photo commits its row after put returns.
    jpeg = encode(astronaut, "JPEG")
    photo = store.put(jpeg)
    long_ago = time.time() - 7200
    os.utime(photo.path, (long_ago, long_ago))

    store.put(jpeg)

    assert store.sweep(set()) == SweepReport(temp_files_removed=0, unreferenced_removed=0)
    assert store.exists(photo.content_hash)


# --- processes ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def twenty_photos(tmp_path_factory, astronaut) -> Path:
    folder = tmp_path_factory.mktemp("uploads")
    for i in range(20):
        row, column = divmod(i, 5)
        crop = astronaut[row * 96 : row * 96 + 128, column * 96 : column * 96 + 128]
        (folder / f"{i:02d}.jpg").write_bytes(encode(crop, "JPEG", exif=identifying_exif()))
    return folder


def start_importer(root: Path, uploads: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", IMPORTER, str(root), str(uploads)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


def test_two_processes_put_the_same_photos_at_once(tmp_path, twenty_photos):
    root = tmp_path / "photos"
    importers = [start_importer(root, twenty_photos) for _ in range(2)]
    for importer in importers:
        importer.stdin.write("go\n")
        importer.stdin.flush()
    outputs = [importer.communicate(timeout=60)[0].split() for importer in importers]

    assert [importer.returncode for importer in importers] == [0, 0]
    assert outputs[0] == outputs[1] and len(set(outputs[0])) == 20
    store = PhotoStore(root)
    assert store.hashes() == set(outputs[0])
    assert len(files_under(root)) == 20
    for digest in outputs[0]:
        assert decode_photo(store.read(digest)).rgb.shape == (128, 128, 3)


def test_killed_importer_loses_nothing_reported(tmp_path, twenty_photos):
    root = tmp_path / "photos"
    importer = start_importer(root, twenty_photos)
    importer.stdin.write("go\n")
    importer.stdin.flush()
    reported = {importer.stdout.readline().strip() for _ in range(5)}
    importer.send_signal(signal.SIGKILL)
    reported |= set(importer.communicate(timeout=60)[0].split())
    assert importer.returncode == -signal.SIGKILL

    store = PhotoStore(root)
    assert reported <= store.hashes()
    for digest in store.hashes():  # no stored file is half-written
        assert hashlib.sha256(store.read(digest)).hexdigest() == digest

    # The importer is dead: its temporary file and any unreported photo are orphans.
    store.sweep(reported, grace_seconds=0)
    assert store.hashes() == reported
    assert list(root.rglob(".tmp-*")) == []

    rerun = {store.put(path.read_bytes()).content_hash for path in twenty_photos.iterdir()}
    assert len(rerun) == 20 and reported <= rerun
    assert store.hashes() == rerun


# --- an "ICC profile" that is text (issue #13, low finding) ----------------------------------

PLANTED = b"Patient Maria Jansen-Berg, born 1980-04-01, MRN 7731 -- not a colour profile"


def _astronaut(fmt: str, icc: bytes) -> bytes:
    from skimage import data as samples

    buffer = io.BytesIO()
    Image.fromarray(samples.astronaut()).save(buffer, fmt, icc_profile=icc, **({"quality": 90} if fmt == "JPEG"
                                                                              else {}))
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_text_in_the_place_of_an_icc_profile_is_not_stored_and_a_real_profile_is(fmt):
    planted = _astronaut(fmt, PLANTED)
    stored, _ = strip_metadata(planted)
    assert PLANTED not in stored and zlib.compress(PLANTED) not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert "icc_profile" not in image.info
    assert np.array_equal(decode_photo(stored).rgb, decode_photo(planted).rgb)  # read the same either way

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    with Image.open(io.BytesIO(strip_metadata(_astronaut(fmt, srgb))[0])) as image:
        assert image.info["icc_profile"] == srgb
