"""The photo store: content-addressed photo files, stripped of identifying metadata.

Every photo is kept once, under the SHA-256 of the bytes actually stored::

    root/ab/cd/abcd...(64 hex digits).jpg     (or .png)

The database (written elsewhere) refers to a photo by that hash alone.

Metadata
    Photos are health data, and phone photos carry far more than pixels: GPS
    position, camera serial numbers, owner names, editing history, thumbnails
    of the uncropped original.  :func:`strip_metadata` removes all of it before
    anything reaches the disk, keeping only what decoding needs:

    * **JPEG** (and the first picture of an MPO) is rewritten segment by
      segment, without re-encoding: the coded pixels, their tables, the JFIF
      and Adobe markers (both steer the colour transform) and the ICC profile
      survive; EXIF, XMP, IPTC, comments, maker notes, the MPF index and
      anything behind the end of the first image (further pictures, gain maps,
      motion-photo videos) do not.
    * **PNG** is rewritten chunk by chunk: pixels, palette, transparency and
      colour chunks survive (an embedded ICC profile only when it is one); text,
      time stamps, EXIF and unknown chunks do not.

    An "ICC profile" that is not one (any text can be put in its place) is dropped:
    the decoder ignores it too, so the pixels read the same, and nothing but a real
    colour profile rides along with a photo.
    * **Every other format** (HEIC/HEIF, WebP, TIFF, BMP, GIF) is decoded by
      :func:`tracker.analysis.io.decode_photo` and stored as a PNG of its upright 8-bit
      sRGB pixels.  Those containers keep metadata in too many places to
      rewrite safely (HEIF item properties, WebP RIFF chunks, TIFF tags), and
      the tracker measures exactly these decoded pixels, so nothing it uses is
      lost; a 16-bit source keeps only its 8-bit reduction.  The PNG is
      several times larger than a HEIC original, and its bytes (so its hash)
      depend on the zlib that wrote it: after an upgrade, the same HEIC may be
      stored a second time under a new hash.

    A JPEG or PNG whose EXIF orientation is not 1 keeps a new EXIF block that
    holds the orientation and nothing else, so that the stored photo decodes
    to the same upright pixels.  The capture time is not kept in the file: read
    it with :func:`tracker.analysis.io.decode_photo` from the original bytes and store
    it in the database.

Crash safety
    :meth:`PhotoStore.put` writes a temporary file beside the final one, syncs
    it, renames it into place and syncs the folder, so a file under its final
    name is always complete.  Importers put the file first and commit its
    database row afterwards: a crash in between leaves at worst a complete file
    that no row refers to, which the re-run adopts (same bytes, same hash) or
    :meth:`PhotoStore.sweep` removes, together with the temporary files of
    writers that died.

Concurrency
    Any number of processes and threads may put photos at once, including the
    same photo.  An advisory lock (``root/.lock``, ``flock``) keeps a sweep
    from removing a file while a put is deciding that the file is already
    there; a put of an existing photo refreshes its modification time, so the
    sweep's grace period also covers the moment between the put and the
    database commit.  File locks and process-liveness checks make the store
    POSIX-only (Linux, macOS).  Shared by several machines over a network file
    system, ``flock`` must reach across them (NFS v4 on Linux does); temporary
    files carry their machine's name, so no machine sweeps another's writes in
    progress.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import socket
import secrets
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import ExifTags, Image, ImageCms

from tracker.analysis.io import decode_photo

__all__ = ["DamagedPhoto", "PhotoStore", "StoredPhoto", "SweepReport", "strip_metadata", "stored_hash"]


def stored_hash(stored: bytes) -> str:
    """The name a photo is stored under: the SHA-256 of its stored bytes, 64 lowercase hex digits."""
    return hashlib.sha256(stored).hexdigest()


class DamagedPhoto(Exception):
    """A stored photo's file no longer holds what was stored under its hash (damaged on disk)."""

# The extensions strip_metadata produces, which are the only ones stored.
_EXTENSIONS = ("jpg", "png")

_HASH = re.compile(r"[0-9a-f]{64}")
_STORED_NAME = re.compile(rf"([0-9a-f]{{64}})\.(?:{'|'.join(_EXTENSIONS)})")
# ``.tmp-<host>_<pid>-<random>``; files of earlier versions have no host.
_TEMP_NAME = re.compile(r"\.tmp-(?:(?P<host>[A-Za-z0-9.-]{1,64})_)?(?P<pid>\d+)-[0-9a-f]+")
_FAN_OUT = re.compile(r"[0-9a-f]{2}")

_FILE_MODE = 0o600
_DIRECTORY_MODE = 0o700

_JPEG_START = b"\xff\xd8\xff"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Orientation values that change the decoded pixels (1 is upright; others are invalid).
_TURNING_ORIENTATIONS = frozenset(range(2, 9))

# In entropy-coded JPEG data 0xFF is followed by a stuffed 0x00 or is a restart
# marker RST0-7; any other byte after 0xFF starts the next marker segment.
_MARKER_AFTER_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_SOI, _EOI, _SOS, _APP0, _APP1, _APP2, _APP14, _COM = (
    0xD8, 0xD9, 0xDA, 0xE0, 0xE1, 0xE2, 0xEE, 0xFE,
)
# Markers without a length field: TEM and RST0-7.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_APPN = range(0xE0, 0xF0)
_JFIF = b"JFIF\x00"
# Identifier, version, units and densities: the JFIF fields before the thumbnail.
_JFIF_WITHOUT_THUMBNAIL = 12
_ICC_PROFILE = b"ICC_PROFILE\x00"
_MAX_ICC_BYTES = 4 * 1024 * 1024  # real profiles are a few kilobytes; CMYK press profiles under 4 MB
_ADOBE = b"Adobe"
_EXIF_HEADER = b"Exif\x00\x00"

# PNG chunks needed to decode the pixels and their colour as the original.
_PNG_KEPT = frozenset(
    {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"sBIT", b"pHYs"}
)


class _NotRewritable(Exception):
    """The file is not structured as its signature promises; store its decoded pixels instead."""


@dataclass(frozen=True)
class StoredPhoto:
    """A photo in the store.

    Attributes
    ----------
    content_hash : str
        SHA-256 of the stored bytes, 64 lowercase hex digits; the photo's key.
    extension : str
        ``"jpg"`` or ``"png"``.
    size : int
        Size of the stored file in bytes.
    path : pathlib.Path
        Where the file lives.
    """

    content_hash: str
    extension: str
    size: int
    path: Path


@dataclass(frozen=True)
class SweepReport:
    """What :meth:`PhotoStore.sweep` removed.

    Attributes
    ----------
    temp_files_removed : int
        Temporary files left by writers that died or stalled.
    unreferenced_removed : int
        Stored photos that no database row referred to.
    """

    temp_files_removed: int
    unreferenced_removed: int


def strip_metadata(data: bytes, *, validated: bool = False) -> tuple[bytes, str]:
    """The bytes to store for a photo, with identifying metadata removed.

    Parameters
    ----------
    data : bytes
        The photo file as uploaded.
    validated : bool, optional
        ``True`` when the caller has already decoded ``data`` successfully
        with :func:`tracker.analysis.io.decode_photo`; JPEG and PNG are then not
        decoded again.  Other formats are always decoded, since their pixels
        are what is stored.

    Returns
    -------
    stored : bytes
        A JPEG or PNG file that decodes (with :func:`tracker.analysis.io.decode_photo`)
        to the same upright sRGB pixels as ``data``.
    extension : str
        ``"jpg"`` or ``"png"``.

    Raises
    ------
    tracker.analysis.io.PhotoError
        If ``data`` is not a photo the tracker can read; the message is one
        sentence for the person who uploaded it.

    Notes
    -----
    JPEG and PNG are rewritten losslessly: the stored file holds the
    original's coded pixels byte for byte, so it decodes to identical pixels
    at the original bit depth.  What survives is listed in the module
    documentation.  A JPEG or PNG that its decoder accepts but whose structure
    cannot be rewritten safely (an unknown critical PNG chunk, for one) is
    stored like the other formats, as a PNG of its decoded pixels.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.new("RGB", (32, 32), "pink").save(buffer, "PNG")
    >>> stored, extension = strip_metadata(buffer.getvalue())
    >>> extension
    'png'
    """
    data = bytes(data)
    if data.startswith(_JPEG_START):
        extension, rewrite = "jpg", _strip_jpeg
    elif data.startswith(_PNG_SIGNATURE):
        extension, rewrite = "png", _strip_png
    else:
        return _upright_srgb_png(data), "png"
    if not validated:
        decode_photo(data)
    try:
        return rewrite(data), extension
    except _NotRewritable:
        return _upright_srgb_png(data), "png"


class PhotoStore:
    """Content-addressed photo files under one folder.

    Parameters
    ----------
    root : pathlib.Path
        The store's folder; created (mode ``0o700``) if missing.

    Notes
    -----
    Files are written with mode ``0o600`` and fan-out folders with ``0o700``:
    only the account running the tracker can read the photos.  See the
    module documentation for crash safety and concurrency.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(mode=_DIRECTORY_MODE, parents=True, exist_ok=True)

    def put(self, data: bytes, *, validated: bool = False) -> StoredPhoto:
        """Store a photo, stripped of metadata, unless it is already stored.

        Parameters
        ----------
        data : bytes
            The photo file as uploaded.
        validated : bool, optional
            Passed to :func:`strip_metadata`.

        Returns
        -------
        StoredPhoto
            The stored file; the same for every upload of the same photo,
            also when its metadata (GPS, time stamps) differed.

        Raises
        ------
        tracker.analysis.io.PhotoError
            If ``data`` is not a readable photo; nothing is written then.

        Notes
        -----
        Commit the database row that refers to the photo after this returns,
        and within the ``grace_seconds`` that :meth:`sweep` is given.
        """
        stored, extension = strip_metadata(data, validated=validated)
        content_hash = stored_hash(stored)
        folder = self._folder(content_hash)
        final = folder / f"{content_hash}.{extension}"
        with self._lock(fcntl.LOCK_SH):
            if _size_or_none(final) == len(stored):
                # A fresh modification time keeps a sweep that listed the
                # references before our caller commits from removing the file.
                os.utime(final)
            else:
                self._make_folders(content_hash)
                _write_atomically(folder, final.name, stored)
        return StoredPhoto(content_hash=content_hash, extension=extension, size=len(stored), path=final)

    def path(self, content_hash: str) -> Path:
        """Where a stored photo lives.

        Parameters
        ----------
        content_hash : str
            The photo's SHA-256, as in :attr:`StoredPhoto.content_hash`.

        Returns
        -------
        pathlib.Path
            The photo's file.

        Raises
        ------
        KeyError
            If no photo with this hash is stored.
        ValueError
            If ``content_hash`` is not 64 lowercase hex digits.
        """
        folder = self._folder(content_hash)
        for extension in _EXTENSIONS:
            candidate = folder / f"{content_hash}.{extension}"
            if candidate.is_file():
                return candidate
        raise KeyError(f"No photo with hash {content_hash} is in the photo store.")

    def read(self, content_hash: str, *, verify: bool = False) -> bytes:
        """The stored bytes of a photo.

        Parameters
        ----------
        content_hash : str
            The photo's SHA-256.
        verify : bool
            Check the bytes against ``content_hash`` (about 2 ms for a 4-MB photo), as an
            analysis does before it measures them.

        Returns
        -------
        bytes
            The stored file's content.

        Raises
        ------
        KeyError
            If no photo with this hash is stored.
        ValueError
            If ``content_hash`` is not 64 lowercase hex digits.
        DamagedPhoto
            With ``verify``, if the file no longer holds what was stored under that hash.
        """
        data = self.path(content_hash).read_bytes()
        if verify and stored_hash(data) != content_hash:
            raise DamagedPhoto(f"The stored photo {content_hash[:12]}… no longer matches its hash.")
        return data

    def exists(self, content_hash: str) -> bool:
        """Whether a photo with this hash is stored.

        Parameters
        ----------
        content_hash : str
            The photo's SHA-256.

        Returns
        -------
        bool
            ``True`` if its file is present.

        Raises
        ------
        ValueError
            If ``content_hash`` is not 64 lowercase hex digits.
        """
        try:
            self.path(content_hash)
        except KeyError:
            return False
        return True

    def delete(self, content_hash: str) -> None:
        """Remove a stored photo; nothing happens if it is absent.

        Parameters
        ----------
        content_hash : str
            The photo's SHA-256.

        Raises
        ------
        ValueError
            If ``content_hash`` is not 64 lowercase hex digits.

        Notes
        -----
        Only for a caller that knows no one is adding the same photo right
        now: a concurrent :meth:`put` of identical content returns before its
        row is committed, and this would take its file away.  In doubt, delete
        the database row and leave the file to :meth:`sweep`, whose grace
        period covers that case.
        """
        folder = self._folder(content_hash)
        with self._lock(fcntl.LOCK_EX):
            for extension in _EXTENSIONS:
                (folder / f"{content_hash}.{extension}").unlink(missing_ok=True)

    def hashes(self) -> set[str]:
        """The hashes of every stored photo.

        Returns
        -------
        set of str
            One SHA-256 per stored file.
        """
        return {match[1] for _, match in self._stored_files()}

    def sweep(self, referenced: set[str], *, grace_seconds: float = 3600) -> SweepReport:
        """Remove what crashed writers left behind and photos nothing refers to.

        Parameters
        ----------
        referenced : set of str
            Hashes that database rows refer to; read them before calling.
        grace_seconds : float, optional
            Age, by modification time, below which an unreferenced photo is
            kept, because a concurrent importer may have stored it and not yet
            committed its row.  Also the age beyond which a temporary file is
            removed even though its writer's process id is in use (process
            ids are reused).

        Returns
        -------
        SweepReport
            How many files were removed.

        Notes
        -----
        Temporary files are named ``.tmp-<host>_<pid>-<random>`` after the
        machine and process writing them; one whose process no longer exists
        on this machine can never be renamed into place. Another machine's
        (the store shared over a network file system) is removed only after the
        grace period: its process cannot be checked from here.  Safe to run
        while other processes import: removal happens under the store's
        exclusive lock, after checking the modification time again, so a
        photo that a put has just found present is kept.
        """
        cutoff = time.time() - grace_seconds
        stale_temps: list[str] = []
        unreferenced: list[str] = []
        for folder in self._fan_out_folders():
            for entry in os.scandir(folder):
                if not entry.is_file(follow_symlinks=False):
                    continue
                temp = _TEMP_NAME.fullmatch(entry.name)
                stored = _STORED_NAME.fullmatch(entry.name)
                if temp and (_writer_gone(temp) or entry.stat().st_mtime < cutoff):
                    stale_temps.append(entry.path)
                elif stored and stored[1] not in referenced and entry.stat().st_mtime < cutoff:
                    unreferenced.append(entry.path)
        with self._lock(fcntl.LOCK_EX):
            temps_removed = sum(_unlink(path) for path in stale_temps)
            photos_removed = sum(_unlink(path) for path in unreferenced if _older_than(path, cutoff))
        return SweepReport(temp_files_removed=temps_removed, unreferenced_removed=photos_removed)

    def _folder(self, content_hash: str) -> Path:
        if not isinstance(content_hash, str) or not _HASH.fullmatch(content_hash):
            raise ValueError(f"{content_hash!r} is not a photo hash (64 lowercase hex digits).")
        return self.root / content_hash[:2] / content_hash[2:4]

    def _make_folders(self, content_hash: str) -> None:
        parent = self.root
        for part in (content_hash[:2], content_hash[2:4]):
            folder = parent / part
            try:
                folder.mkdir(mode=_DIRECTORY_MODE)
            except FileExistsError:
                pass
            else:
                # The new folder's name must survive a power cut as much as the file in it.
                _fsync_folder(parent)
            parent = folder

    def _fan_out_folders(self) -> Iterator[Path]:
        for top in _subfolders(self.root):
            yield from _subfolders(top)

    def _stored_files(self) -> Iterator[tuple[Path, re.Match[str]]]:
        for folder in self._fan_out_folders():
            for entry in os.scandir(folder):
                match = _STORED_NAME.fullmatch(entry.name)
                if match and entry.is_file(follow_symlinks=False):
                    yield Path(entry.path), match

    @contextlib.contextmanager
    def _lock(self, operation: int) -> Iterator[None]:
        # A new open file per use: flock excludes open files, so threads of one
        # process sharing this store exclude each other too.
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, _FILE_MODE)
        try:
            fcntl.flock(fd, operation)
            yield
        finally:
            os.close(fd)


def _strip_jpeg(data: bytes) -> bytes:
    """Rewrite a JPEG's marker segments, keeping those that decoding needs."""
    kept = [data[:2]]
    icc_segments: dict[int, bytes] = {}  # index in ``kept``: payload
    exif_at = 1  # right after SOI, or after a JFIF APP0 that follows it
    position, end = 2, len(data)
    while position < end:
        # Between segments a decoder skips stray bytes and 0xFF fill bytes
        # (as libjpeg does); a stuffed 0x00 there is stray too.
        position = data.find(b"\xff", position)
        if position < 0:
            break
        while position < end and data[position] == 0xFF:
            position += 1
        if position == end:
            break
        marker = data[position]
        position += 1
        if marker == 0x00:
            continue
        if marker == _SOI:
            raise _NotRewritable
        if marker == _EOI:
            # Anything after the first image (MPO pictures, gain maps,
            # motion-photo videos, vendor trailers) is dropped with it.
            kept.append(b"\xff\xd9")
            break
        if marker in _STANDALONE:
            kept.append(bytes((0xFF, marker)))
            continue
        if position + 2 > end:
            raise _NotRewritable
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2 or position + length > end:
            raise _NotRewritable
        payload = data[position + 2 : position + length]
        position += length
        if marker == _APP0 and payload.startswith(_JFIF):
            if len(kept) == 1:
                exif_at = 2
            if len(payload) >= _JFIF_WITHOUT_THUMBNAIL + 2:
                # A JFIF thumbnail may show the original before it was cropped.
                payload = payload[:_JFIF_WITHOUT_THUMBNAIL] + b"\x00\x00"
            kept.append(_jpeg_segment(marker, payload))
        elif _keeps_jpeg_segment(marker, payload):
            if marker == _APP2:
                icc_segments[len(kept)] = payload
            kept.append(_jpeg_segment(marker, payload))
        if marker == _SOS:
            following = _MARKER_AFTER_SCAN.search(data, position)
            scan_end = following.start() if following else end
            kept.append(data[position:scan_end])
            position = scan_end
    if icc_segments:
        # Chunks carry a sequence number and a count after the identifier (ICC.1, annex B.4).
        chunks = sorted(icc_segments.values(), key=lambda payload: payload[len(_ICC_PROFILE):len(_ICC_PROFILE) + 1])
        if not _is_icc_profile(b"".join(chunk[len(_ICC_PROFILE) + 2:] for chunk in chunks)):
            kept = [segment for i, segment in enumerate(kept) if i not in icc_segments]
    orientation = _orientation(data, "JPEG")
    if orientation != 1:
        kept.insert(exif_at, _jpeg_segment(_APP1, _EXIF_HEADER + _orientation_tiff(orientation)))
    return b"".join(kept)


def _is_icc_profile(profile: bytes) -> bool:
    """Whether LittleCMS reads these bytes as an ICC profile."""
    try:
        ImageCms.ImageCmsProfile(io.BytesIO(profile))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False
    return True


def _png_icc_profile(body: bytes) -> bytes | None:
    """The profile of an iCCP chunk (name, NUL, method 0, zlib data), or None when it cannot be read."""
    name_end = body.find(b"\x00")
    if not 0 < name_end < 80 or body[name_end + 1:name_end + 2] != b"\x00":
        return None
    inflater = zlib.decompressobj()
    try:
        profile = inflater.decompress(body[name_end + 2:], _MAX_ICC_BYTES + 1)
    except zlib.error:
        return None
    return profile if len(profile) <= _MAX_ICC_BYTES else None


def _keeps_jpeg_segment(marker: int, payload: bytes) -> bool:
    """Whether a segment other than a JFIF APP0 is needed to decode the pixels and colour."""
    if marker == _APP2:
        return payload.startswith(_ICC_PROFILE)
    if marker == _APP14:
        return payload.startswith(_ADOBE)  # colour transform of RGB and CMYK JPEGs
    return marker not in _APPN and marker != _COM


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def _strip_png(data: bytes) -> bytes:
    """Rewrite a PNG's chunks, keeping those that decoding needs."""
    kept = [_PNG_SIGNATURE]
    had_exif = False
    exif_at = None
    position, end = len(_PNG_SIGNATURE), len(data)
    while True:
        if position + 12 > end:
            raise _NotRewritable
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        chunk_end = position + 12 + length
        if chunk_end > end:
            raise _NotRewritable
        if kind == b"iCCP":
            profile = _png_icc_profile(data[position + 8:chunk_end - 4])
            if profile is not None and _is_icc_profile(profile):
                kept.append(data[position:chunk_end])
        elif kind in _PNG_KEPT:
            if kind == b"IDAT" and exif_at is None:
                exif_at = len(kept)
            kept.append(data[position:chunk_end])
        elif kind == b"eXIf":
            had_exif = True
        elif not kind[0] & 0x20:
            # An unknown critical chunk: decoders that skipped it may have shown
            # pixels this file would not reproduce faithfully.
            raise _NotRewritable
        position = chunk_end
        if kind == b"IEND":
            break
    if exif_at is None:
        raise _NotRewritable
    # tracker.analysis.io only looks for an orientation when the PNG has an eXIf chunk.
    orientation = _orientation(data, "PNG") if had_exif else 1
    if orientation != 1:
        kept.insert(exif_at, _png_chunk(b"eXIf", _orientation_tiff(orientation)))
    return b"".join(kept)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def _orientation(data: bytes, fmt: str) -> int:
    """The EXIF orientation that :func:`tracker.analysis.io.decode_photo` applies to this photo.

    Read through Pillow, as ``decode_photo`` does, so that the same source wins
    when there are several (multiple EXIF blocks, or XMP ``tiff:Orientation``
    standing in for a missing EXIF tag).
    """
    try:
        with Image.open(io.BytesIO(data), formats=(fmt,)) as img:
            value = img.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # broken EXIF costs the orientation, as in tracker.analysis.io
        return 1
    return value if value in _TURNING_ORIENTATIONS else 1


def _orientation_tiff(orientation: int) -> bytes:
    """A TIFF structure holding one EXIF tag, Orientation."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    # Pillow prefixes the JPEG APP1 identifier; PNG's eXIf holds the bare TIFF.
    return exif.tobytes().removeprefix(_EXIF_HEADER)


def _upright_srgb_png(data: bytes) -> bytes:
    """A PNG of the pixels that :func:`tracker.analysis.io.decode_photo` reads from ``data``."""
    buffer = io.BytesIO()
    # Level 3 of 9: on a 12-megapixel phone photo the default (6) takes twice
    # as long, on the upload path, to save about a seventh of the size.
    Image.fromarray(decode_photo(data).rgb).save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def _write_atomically(folder: Path, name: str, content: bytes) -> None:
    """Write a file so that, under its final name, it is complete or absent."""
    temp = folder / f".tmp-{_HOST}_{os.getpid()}-{secrets.token_hex(8)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        with open(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        # Replacing is harmless when a concurrent writer got there first: same name, same bytes.
        os.replace(temp, folder / name)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _subfolders(folder: Path) -> Iterator[Path]:
    for entry in os.scandir(folder):
        if _FAN_OUT.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
            yield Path(entry.path)


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _older_than(path: str, cutoff: float) -> bool:
    try:
        return os.stat(path).st_mtime < cutoff
    except FileNotFoundError:
        return False


def _unlink(path: str) -> bool:
    """Remove a file; ``False`` if someone else already did."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


#: This machine's name as temporary files carry it (letters, digits, dots and hyphens).
_HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:64] or "host"


def _writer_gone(temp: re.Match[str]) -> bool:
    """Whether the process that wrote a temporary file is known to have ended (on this machine only)."""
    host = temp["host"]
    return (host is None or host == _HOST) and not _process_exists(int(temp["pid"]))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
