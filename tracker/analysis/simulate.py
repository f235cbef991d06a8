"""Simulated follow-up photos with known truth.

No public time series of post-laser photos exists, so accuracy is proven on
series made from a real photograph with known camera motion, known added
redness and known light changes. The same functions make the demo data and the
benchmark series.

Every function is pure: arrays in, arrays out, randomness only from the
``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tracker.analysis._checks import (
    check_array,
    check_homography,
    check_image,
    check_items,
    check_mask,
    check_number,
    check_region,
    check_rgb8,
    check_same_shape,
    check_shape,
    check_type,
)
from tracker.analysis.colour import lab_to_srgb8, srgb8_to_lab, srgb_to_linear, linear_to_srgb

__all__ = [
    "ASTRONAUT_CHEEK",
    "ASTRONAUT_CHIN",
    "scale_box",
    "CameraMotion",
    "Lighting",
    "enlarge",
    "camera_matrix",
    "render_view",
    "add_redness",
    "change_lighting",
    "jpeg_roundtrip",
    "add_sensor_noise",
    "random_motion",
    "random_lighting",
    "ASTRONAUT_HEAD",
    "ASTRONAUT_NOSE",
    "GRACE_HOPPER_CHEEK",
    "GRACE_HOPPER_CHIN",
    "GRACE_HOPPER_HEAD",
    "GRACE_HOPPER_NOSE",
    "HeadMotion",
    "HeadScene",
    "head_scene",
    "head_displacement",
    "render_head_view",
    "random_head_motion",
    "HeadFollowUp",
    "head_followup",
    "head_series",
    "draw_colour_card",
    "colour_card_corners",
    "paste_colour_card",
    "ASTRONAUT_FACE",
    "ASTRONAUT_CLOSE_UP",
    "ERYTHEMA_LIGHTNESS_PER_A",
    "ASTRONAUT_OTHER_CHEEK",
    "ellipse_mask",
    "face_skin",
    "CloseUp",
    "close_up",
    "FaceFollowUp",
    "face_followup",
    "full_face_series",
]


#: Regions of ``skimage.data.astronaut()`` (512 x 512), as ``(x, y, w, h)``: the
#: left cheek (a stand-in treated area) and the chin (untreated control skin).
ASTRONAUT_CHEEK = (190, 115, 25, 25)
ASTRONAUT_CHIN = (225, 160, 20, 10)


def scale_box(box: tuple[int, int, int, int], factor: float) -> tuple[int, int, int, int]:
    """A box ``(x, y, width, height)`` in an image enlarged by ``factor``."""
    check_region(box, "box")
    check_number(factor, "factor", above=0)
    return tuple(int(round(v * factor)) for v in box)


@dataclass(frozen=True)
class CameraMotion:
    """A camera move between the baseline and a follow-up photo.

    Rotation in degrees (counter-clockwise in the image), isotropic scale of the
    follow-up relative to the baseline, translation in baseline pixels, and a
    perspective tilt (projective terms, per baseline pixel).
    """

    rotation_deg: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    tilt: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Lighting:
    """A change of light and camera rendering between photos.

    ``exposure`` multiplies linear light (0.75 is 25 % darker); ``white_balance``
    multiplies linear R, G, B; ``gamma`` is applied to the encoded 0-1 values
    (v ** gamma). ``side_light`` is light from one side, as from a window: linear
    light is further multiplied by a ramp that rises linearly by that fraction
    across the frame (0.4: from 0.8 to 1.2), toward ``side_light_deg`` (0 = toward
    +x, 90 = toward +y, the image's down).
    """

    exposure: float = 1.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gamma: float = 1.0
    side_light: float = 0.0
    side_light_deg: float = 0.0


def _check_rng(rng: object, optional: bool = False) -> None:
    if not (optional and rng is None):
        check_type(rng, np.random.Generator, "rng", "a numpy.random.Generator (numpy.random.default_rng(seed))")


def enlarge(rgb: np.ndarray, side: int, rng: np.random.Generator | None = None,
            grain: float = 2.0) -> np.ndarray:
    """Upscale a photo so its longest side is ``side`` px, with fine skin-like grain.

    Bicubic enlargement alone leaves no detail finer than the source pixels;
    a faint band-limited grain (``grain`` grey levels) stands in for pores.
    ``rgb`` is an H x W x 3 uint8 image.
    """
    check_rgb8(rgb, "rgb")
    check_number(side, "side", integer=True, above=0)
    _check_rng(rng, optional=True)
    check_number(grain, "grain")
    h, w = rgb.shape[:2]
    s = side / max(h, w)
    big = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)
    if rng is None or grain <= 0:
        return big
    noise = rng.normal(0.0, 1.0, big.shape[:2]).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 1.2)
    noise *= grain / max(float(noise.std()), 1e-6)
    return np.clip(big.astype(np.float32) + noise[..., None], 0, 255).astype(np.uint8)


def camera_matrix(motion: CameraMotion, baseline_shape: tuple[int, int]) -> np.ndarray:
    """Homography mapping baseline pixels to the follow-up photo's pixels.

    The rotation and scale are about the baseline's centre; ``baseline_shape``
    is its ``(height, width[, channels])``.
    """
    check_type(motion, CameraMotion, "motion", "a CameraMotion")
    check_shape(baseline_shape, "baseline_shape")
    h, w = baseline_shape[:2]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    t = np.radians(motion.rotation_deg)
    c, s = np.cos(t) * motion.scale, np.sin(t) * motion.scale
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], float)
    rot = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]], float)
    persp = np.array([[1, 0, 0], [0, 1, 0], [motion.tilt[0], motion.tilt[1], 1]], float)
    back = np.array([[1, 0, cx + motion.shift[0]], [0, 1, cy + motion.shift[1]], [0, 0, 1]], float)
    m = back @ persp @ rot @ to_centre
    return m / m[2, 2]


def render_view(baseline: np.ndarray, baseline_to_photo: np.ndarray,
                out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """The follow-up photo the camera would take: the baseline seen through a homography.

    Parts of the view outside the baseline are filled by reflection so the
    frame has no artificial black border. ``baseline`` is an H x W (x C)
    image, ``out_shape`` the ``(height, width)`` of the view (the baseline's
    by default).
    """
    check_image(baseline, "baseline")
    baseline_to_photo = check_homography(baseline_to_photo, "baseline_to_photo")
    if out_shape is not None:
        check_shape(out_shape, "out_shape")
    h, w = (out_shape or baseline.shape[:2])[:2]
    return cv2.warpPerspective(baseline, baseline_to_photo, (w, h), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT_101)


def add_redness(rgb: np.ndarray, mask: np.ndarray, delta_a: float,
                feather_px: float = 0.0, delta_l: float = 0.0) -> np.ndarray:
    """Add ``delta_a`` CIELAB a* units (and ``delta_l`` L* units) inside ``mask``.

    ``mask`` is boolean or 0-1 float; with ``feather_px`` its edge is softened
    by a Gaussian of that sigma so the patch blends like real erythema.
    ``rgb`` is an H x W x 3 uint8 image and ``mask`` H x W.
    """
    check_rgb8(rgb, "rgb")
    check_mask(mask, rgb.shape[:2], "mask", weights=True, optional=False)
    check_number(delta_a, "delta_a")
    check_number(feather_px, "feather_px", minimum=0)
    check_number(delta_l, "delta_l")
    weight = mask.astype(np.float32)
    if feather_px > 0:
        weight = cv2.GaussianBlur(weight, (0, 0), feather_px)
    ys, xs = np.nonzero(weight > 1e-3)
    out = rgb.copy()
    if ys.size == 0:
        return out
    # Only the bounding box of the patch is converted: much faster on large photos.
    box = np.s_[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    lab = srgb8_to_lab(rgb[box])
    lab[..., 1] += delta_a * weight[box]
    lab[..., 0] += delta_l * weight[box]
    out[box] = lab_to_srgb8(lab)
    return out


def side_light_gain(shape: tuple[int, int], strength: float, direction_deg: float) -> np.ndarray:
    """The H x W float32 gain of light from one side: ``1 + strength * t``, ``t`` from -0.5 to 0.5 across the frame.

    ``t`` is the position along the direction ``direction_deg`` (0 = +x, 90 = +y),
    scaled so that the frame's extreme corners along it are at ±0.5.
    """
    check_shape(shape, "shape")
    check_number(strength, "strength", minimum=0, below=2)
    check_number(direction_deg, "direction_deg")
    h, w = shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    a = np.radians(direction_deg)
    t = (xs - (w - 1) / 2) * np.float32(np.cos(a)) + (ys - (h - 1) / 2) * np.float32(np.sin(a))
    extent = abs((w - 1) / 2 * np.cos(a)) + abs((h - 1) / 2 * np.sin(a))
    return (1 + strength * 0.5 * t / max(extent, 1e-6)).astype(np.float32)


def change_lighting(rgb: np.ndarray, lighting: Lighting) -> np.ndarray:
    """Apply exposure, white balance and side light in linear light, then a gamma change, to an H x W x 3 uint8 image."""
    check_rgb8(rgb, "rgb")
    check_type(lighting, Lighting, "lighting", "a Lighting")
    if lighting.side_light:
        gain = side_light_gain(rgb.shape, lighting.side_light, lighting.side_light_deg)[..., None]
        lin = srgb_to_linear(rgb.astype(np.float32) / 255) * gain
        lin *= lighting.exposure * np.asarray(lighting.white_balance, np.float32)
        enc = np.clip(linear_to_srgb(np.clip(lin, 0, 1)), 0, 1) ** lighting.gamma
        return np.round(enc * 255).astype(np.uint8)
    # Per channel this is a function of the 8-bit value alone: tabulate it.
    levels = np.arange(256, dtype=np.float32) / 255.0
    lin = srgb_to_linear(levels)[:, None] * (lighting.exposure * np.asarray(lighting.white_balance, np.float32))
    enc = np.clip(linear_to_srgb(np.clip(lin, 0, 1)), 0, 1) ** lighting.gamma
    table = np.round(enc * 255).astype(np.uint8)  # (256, 3)
    return np.stack([table[:, c][rgb[..., c]] for c in range(3)], axis=-1)


def jpeg_roundtrip(rgb: np.ndarray, quality: int = 85) -> np.ndarray:
    """Encode and decode an H x W x 3 uint8 image as JPEG (OpenCV's libjpeg) at ``quality`` (0-100)."""
    check_rgb8(rgb, "rgb")
    check_number(quality, "quality", integer=True, minimum=0, maximum=100)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def add_sensor_noise(rgb: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise of ``sigma`` grey levels to every channel of an H x W x 3 uint8 image."""
    check_rgb8(rgb, "rgb")
    check_number(sigma, "sigma", minimum=0)
    _check_rng(rng)
    noisy = rgb.astype(np.float32) + rng.normal(0.0, sigma, rgb.shape).astype(np.float32)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def random_motion(rng: np.random.Generator, side: int, max_rotation: float = 15.0,
                  max_scale: float = 0.2, max_shift: float = 0.05, max_tilt: float = 0.0001) -> CameraMotion:
    """A random hand-held camera move within the stated limits (shift as a fraction of ``side``)."""
    _check_rng(rng)
    check_number(side, "side", above=0)
    check_number(max_rotation, "max_rotation", minimum=0)
    check_number(max_scale, "max_scale", minimum=0, below=1)
    check_number(max_shift, "max_shift", minimum=0)
    check_number(max_tilt, "max_tilt", minimum=0)
    return CameraMotion(
        rotation_deg=float(rng.uniform(-max_rotation, max_rotation)),
        scale=float(rng.uniform(1 - max_scale, 1 + max_scale)),
        shift=tuple(float(v) for v in rng.uniform(-max_shift, max_shift, 2) * side),
        tilt=tuple(float(v) for v in rng.uniform(-max_tilt, max_tilt, 2) * 2048 / side),
    )


def random_lighting(rng: np.random.Generator, exposure=(0.75, 1.05), white_balance=0.08,
                    gamma=0.12) -> Lighting:
    """A random light change: exposure −25…+5 %, white balance ±8 % per channel, gamma ±12 %.

    ``exposure`` is the range ``(low, high)`` of the exposure factor;
    ``white_balance`` and ``gamma`` are the largest relative changes (below 1).
    """
    _check_rng(rng)
    check_items(exposure, "exposure", "a pair (low, high)", (2,))
    for limit in exposure:
        check_number(limit, "exposure", above=0)
    check_number(white_balance, "white_balance", minimum=0, below=1)
    check_number(gamma, "gamma", minimum=0, below=1)
    return Lighting(
        exposure=float(rng.uniform(*exposure)),
        white_balance=tuple(float(v) for v in rng.uniform(1 - white_balance, 1 + white_balance, 3)),
        gamma=float(rng.uniform(1 - gamma, 1 + gamma)),
    )


# --- a head that moves against a still background ----------------------------------

#: The astronaut's head in ``skimage.data.astronaut()`` (512 x 512) pixels: hair and face, and
#: the neck, as ellipses ``(cx, cy, half_width, half_height)``.
ASTRONAUT_HEAD = ((226.0, 96.0, 77.0, 89.0), (228.0, 168.0, 36.0, 36.0))
#: The tip of the astronaut's nose ``(x, y)``, 512-px coordinates.
ASTRONAUT_NOSE = (224.0, 123.0)

#: The same for matplotlib's public-domain portrait of Grace Hopper (``grace_hopper.jpg``, 512 x
#: 600), in pixels of its 512-px width: cap, hair and face, and the neck, in front of a flag.
GRACE_HOPPER_HEAD = ((258.0, 178.0, 106.0, 160.0), (262.0, 352.0, 55.0, 48.0))
GRACE_HOPPER_NOSE = (262.0, 252.0)
#: A stand-in treated area on her cheek beside the nose and a control on her chin, ``(x, y, w, h)``.
GRACE_HOPPER_CHEEK = (285, 235, 30, 30)
GRACE_HOPPER_CHIN = (240, 300, 40, 20)


@dataclass(frozen=True)
class HeadMotion:
    """A move of the head against a still background between the baseline and a follow-up.

    ``shift`` in baseline pixels; ``rotation_deg`` an in-plane roll about the head's centre
    (counter-clockwise in the image, as :class:`CameraMotion`); ``yaw_deg`` a turn to the side
    (positive moves the nose toward +x) and ``pitch_deg`` a nod (positive moves it toward +y),
    both rotations of the head's surface in depth, so that the nose moves more than the cheeks.
    """

    shift: tuple[float, float] = (0.0, 0.0)
    rotation_deg: float = 0.0
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0


@dataclass(frozen=True)
class HeadScene:
    """A portrait split into a head layer that can move and a still background.

    Attributes
    ----------
    head : numpy.ndarray
        H x W x 3 uint8: the portrait, of which the head layer is the part under ``alpha``.
    background : numpy.ndarray
        H x W x 3 uint8: the still scene behind the head, textured, filled where the head was.
    alpha : numpy.ndarray
        H x W float32, 0-1: opacity of the head layer (a smooth mask over hair, face and neck).
    depth : numpy.ndarray
        H x W float32: height of the head's surface toward the camera, in pixels (0 off the head).
    centre : tuple of float
        ``(x, y)`` pixel about which the head rolls and turns.
    """

    head: np.ndarray
    background: np.ndarray
    alpha: np.ndarray
    depth: np.ndarray
    centre: tuple[float, float]


def _check_head_motion(motion: object) -> None:
    check_type(motion, HeadMotion, "motion", "a HeadMotion")


def head_scene(portrait: np.ndarray, texture: np.ndarray, head=ASTRONAUT_HEAD, nose=ASTRONAUT_NOSE,
               contrast: float = 0.35) -> HeadScene:
    """Split a portrait into a movable head and a still background made more textured.

    Parameters
    ----------
    portrait : numpy.ndarray
        H x W x 3 uint8 photo of a head in front of a background.
    texture : numpy.ndarray
        H' x W' uint8 grey texture (a brick wall, a page of text, shelves) tiled over the
        background, its pixels enlarged like the portrait's (W / 512 times).
    head : tuple of tuple
        Ellipses ``(cx, cy, half_width, half_height)`` covering hair, face and neck, in pixels of a
        512-px-wide copy of ``portrait``; the first is the head, whose centre it turns about.
    nose : tuple of float
        ``(x, y)`` of the nose tip, same coordinates: the surface is raised there.
    contrast : float
        Strength of the texture: the background's linear light is multiplied by
        ``1 + contrast * t``, ``t`` the texture normalised to zero mean and unit deviation (clipped at ±2).

    Returns
    -------
    HeadScene

    Notes
    -----
    The head's opacity is the union of the ellipses, feathered by a Gaussian of 1.5 px (at 512 px).
    Its depth is a paraboloid of height 0.8 times the half-width over each ellipse (their maximum)
    plus a Gaussian bump of 0.2 half-widths (sigma 0.1 half-widths) at the nose: rough, but
    non-planar, which is what matters for registration. The background behind the head is filled
    by inpainting (Telea 2004) before the texture is laid over it, so that a head that moves
    uncovers background, not a copy of itself.

    References
    ----------
    .. [1] Telea, A. (2004). An image inpainting technique based on the fast marching method.
           Journal of Graphics Tools 9(1), 23-34. doi:10.1080/10867554.2004.10487568
    """
    check_rgb8(portrait, "portrait")
    check_array(texture, "texture", "an H x W uint8 grey image", shapes=((None, None),),
                dtypes=(np.dtype(np.uint8),))
    check_number(contrast, "contrast", minimum=0, below=0.5)
    check_items(head, "head", "ellipses (cx, cy, half_width, half_height)", tuple(range(1, 9)))
    for ellipse in head:
        check_items(ellipse, "head ellipse", "four numbers (cx, cy, half_width, half_height)", (4,))
    check_items(nose, "nose", "a point (x, y)", (2,))
    h, w = portrait.shape[:2]
    f = w / 512
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    inside = np.zeros((h, w), np.float32)
    depth = np.zeros((h, w), np.float32)
    for cx, cy, ax, ay in head:
        r2 = ((xs - cx * f) / (ax * f)) ** 2 + ((ys - cy * f) / (ay * f)) ** 2
        inside = np.maximum(inside, (r2 <= 1).astype(np.float32))
        depth = np.maximum(depth, 0.8 * ax * f * np.clip(1 - r2, 0, None))
    ax0 = head[0][2] * f
    bump = 0.2 * ax0 * np.exp(-((xs - nose[0] * f) ** 2 + (ys - nose[1] * f) ** 2) / (2 * (0.1 * ax0) ** 2))
    depth = (depth + bump * inside).astype(np.float32)
    alpha = cv2.GaussianBlur(inside, (0, 0), 1.5 * f)
    # Inpainting is slow at full size and the fill needs no detail: fill a 512-px copy, enlarge it.
    small = cv2.resize(portrait, (512, max(1, round(h / f))), interpolation=cv2.INTER_AREA)
    hole = cv2.resize((alpha > 0.01).astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    hole = cv2.dilate(hole, np.ones((9, 9), np.uint8))
    filled = cv2.resize(cv2.inpaint(small, hole, 5, cv2.INPAINT_TELEA), (w, h), interpolation=cv2.INTER_CUBIC)
    behind = np.where((cv2.resize(hole, (w, h), interpolation=cv2.INTER_NEAREST) > 0)[..., None], filled, portrait)
    th, tw = texture.shape
    tiled = np.tile(texture, (int(np.ceil(h / (th * f))) + 1, int(np.ceil(w / (tw * f))) + 1))
    tiled = cv2.resize(tiled, (round(tiled.shape[1] * f), round(tiled.shape[0] * f)), interpolation=cv2.INTER_CUBIC)
    t = tiled[:h, :w].astype(np.float32)
    t = np.clip((t - t.mean()) / max(float(t.std()), 1e-6), -2, 2)
    lin = srgb_to_linear(behind.astype(np.float32) / 255) * (1 + contrast * t)[..., None]
    background = np.clip(np.round(linear_to_srgb(np.clip(lin, 0, 1)) * 255), 0, 255).astype(np.uint8)
    return HeadScene(head=portrait, background=background, alpha=alpha, depth=depth,
                     centre=(head[0][0] * f, head[0][1] * f))


def _head_map(scene: HeadScene, motion: HeadMotion, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the head's surface point seen at baseline ``(x, y)`` is seen after ``motion`` (float32 arrays)."""
    cx, cy = scene.centre
    z = cv2.remap(scene.depth, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR,
                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # A rotation of the surface in depth (yaw about the vertical axis, then pitch), seen orthographically.
    yaw, pitch, roll = (np.radians(a) for a in (motion.yaw_deg, motion.pitch_deg, motion.rotation_deg))
    u = (x - cx) * np.cos(yaw) + z * np.sin(yaw)
    depth_after_yaw = z * np.cos(yaw) - (x - cx) * np.sin(yaw)
    v = (y - cy) * np.cos(pitch) + depth_after_yaw * np.sin(pitch)
    c, s = np.cos(roll), np.sin(roll)
    return (cx + motion.shift[0] + c * u + s * v).astype(np.float32), (cy + motion.shift[1] - s * u + c * v).astype(np.float32)


def head_displacement(scene: HeadScene, motion: HeadMotion, points: np.ndarray) -> np.ndarray:
    """Where baseline points on the head are after ``motion``, in the baseline frame (before any camera move).

    ``points`` is (N, 2) ``(x, y)`` baseline pixels; returns (N, 2). Compose with the camera's
    homography (:func:`camera_matrix`) for the point's position in the follow-up photo. The
    mapping holds for the head layer (where ``scene.alpha`` is 1); background points stay put.
    """
    check_type(scene, HeadScene, "scene", "a HeadScene (from head_scene)")
    _check_head_motion(motion)
    pts = check_array(np.asarray(points), "points", "(N, 2) points (x, y)", shapes=((None, 2),), dtypes="uif",
                      finite=True, empty=True).astype(np.float64)
    # OpenCV's remap takes maps under 32767 pixels a side: lay the points out in rows of 256.
    n = len(pts)
    padded = np.zeros((-(-n // 256) * 256, 2))
    padded[:n] = pts
    x, y = _head_map(scene, motion, padded[:, 0].reshape(-1, 256), padded[:, 1].reshape(-1, 256))
    return np.c_[x.ravel()[:n], y.ravel()[:n]].astype(np.float64)


def render_head_view(scene: HeadScene, motion: HeadMotion, baseline_to_photo: np.ndarray,
                     head: np.ndarray | None = None, out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """The follow-up photo: the head moved by ``motion`` over the still background, seen through the camera.

    Parameters
    ----------
    scene : HeadScene
    motion : HeadMotion
    baseline_to_photo : numpy.ndarray
        The camera's move, as for :func:`render_view`.
    head : numpy.ndarray, optional
        The head layer to use instead of ``scene.head`` (for example with redness added in the
        baseline frame by :func:`add_redness`).
    out_shape : tuple of int, optional
        ``(height, width)`` of the photo, the scene's by default.

    Returns
    -------
    numpy.ndarray
        H x W x 3 uint8 photo. With ``HeadMotion()`` and the identity, the baseline itself.

    Notes
    -----
    Each photo pixel is taken back through the camera to the scene, where the background is
    read directly and the head through the inverse of the head's move, found by fixed-point
    iteration ``p <- u - d(p)`` (the move ``d`` is smooth and small, so it converges).
    """
    check_type(scene, HeadScene, "scene", "a HeadScene (from head_scene)")
    _check_head_motion(motion)
    baseline_to_photo = check_homography(baseline_to_photo, "baseline_to_photo")
    layer = scene.head if head is None else head
    if head is not None:
        check_rgb8(head, "head")
        check_same_shape(head, scene.head, "head", "scene.head")
    if out_shape is not None:
        check_shape(out_shape, "out_shape")
    h, w = (out_shape or scene.head.shape[:2])[:2]
    qy, qx = np.mgrid[0:h, 0:w].astype(np.float32)
    inv = np.linalg.inv(baseline_to_photo)
    den = inv[2, 0] * qx + inv[2, 1] * qy + inv[2, 2]
    ux = ((inv[0, 0] * qx + inv[0, 1] * qy + inv[0, 2]) / den).astype(np.float32)
    uy = ((inv[1, 0] * qx + inv[1, 1] * qy + inv[1, 2]) / den).astype(np.float32)
    px, py = ux.copy(), uy.copy()
    for _ in range(30):
        mx, my = _head_map(scene, motion, px, py)
        step_x, step_y = ux - mx, uy - my
        px += step_x
        py += step_y
        if max(float(np.abs(step_x).max()), float(np.abs(step_y).max())) < 1e-3:
            break
    kw = dict(interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    background = cv2.remap(scene.background, ux, uy, **kw).astype(np.float32)
    moved = cv2.remap(layer, px, py, **kw).astype(np.float32)
    alpha = np.clip(cv2.remap(scene.alpha, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0), 0, 1)[..., None]
    return np.clip(np.round(alpha * moved + (1 - alpha) * background), 0, 255).astype(np.uint8)


def random_head_motion(rng: np.random.Generator, side: float, max_shift: float = 0.02, max_rotation: float = 3.0,
                       max_yaw: float = 5.0, max_pitch: float = 3.0) -> HeadMotion:
    """A random move of the head: shift up to ``max_shift`` of ``side`` (uniform over a disc), roll, yaw and pitch
    uniform within ± their limits in degrees."""
    _check_rng(rng)
    check_number(side, "side", above=0)
    for value, name in ((max_shift, "max_shift"), (max_rotation, "max_rotation"), (max_yaw, "max_yaw"),
                        (max_pitch, "max_pitch")):
        check_number(value, name, minimum=0)
    radius = max_shift * side * np.sqrt(rng.uniform())
    angle = rng.uniform(0, 2 * np.pi)
    return HeadMotion(shift=(float(radius * np.cos(angle)), float(radius * np.sin(angle))),
                      rotation_deg=float(rng.uniform(-max_rotation, max_rotation)),
                      yaw_deg=float(rng.uniform(-max_yaw, max_yaw)),
                      pitch_deg=float(rng.uniform(-max_pitch, max_pitch)))


@dataclass(frozen=True)
class HeadFollowUp:
    """A simulated follow-up of a head that moved against a still background, with its truth.

    Attributes
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 photo.
    camera : numpy.ndarray
        The camera's homography, baseline pixels to photo pixels (of the still background).
    motion : HeadMotion
        The head's move in the baseline frame: a head point ``p`` of the baseline is at
        ``camera(head_displacement(scene, motion, p))`` in the photo.
    lighting : Lighting
    true_delta_a : float
        a* added to the treated area, as realised in the baseline frame (mean over the area).
    """

    rgb: np.ndarray
    camera: np.ndarray
    motion: HeadMotion
    lighting: Lighting
    true_delta_a: float


def head_followup(scene: HeadScene, camera: CameraMotion, motion: HeadMotion, lighting: Lighting,
                  rng: np.random.Generator, treated: tuple[int, int, int, int] | None = None, delta_a: float = 0.0,
                  noise: float = 2.0, jpeg: int | None = 85) -> HeadFollowUp:
    """A follow-up photo: redness added to the treated area of the head, the head moved, the camera
    moved, the light changed, sensor noise and JPEG.

    ``treated`` is the box ``(x, y, width, height)`` in baseline pixels reddened by ``delta_a``
    a* units (on the head layer, so the redness moves with the skin).
    """
    check_type(scene, HeadScene, "scene", "a HeadScene (from head_scene)")
    check_type(camera, CameraMotion, "camera", "a CameraMotion")
    _check_head_motion(motion)
    check_type(lighting, Lighting, "lighting", "a Lighting")
    _check_rng(rng)
    check_number(delta_a, "delta_a")
    check_number(noise, "noise", minimum=0)
    layer, true = scene.head, 0.0
    if treated is not None and delta_a:
        check_region(treated, "treated", integer=True, positive=True)
        x, y, w, h = treated
        mask = np.zeros(scene.head.shape[:2], bool)
        mask[y:y + h, x:x + w] = True
        layer = add_redness(scene.head, mask, delta_a)
        true = float(srgb8_to_lab(layer[y:y + h, x:x + w])[..., 1].mean()
                     - srgb8_to_lab(scene.head[y:y + h, x:x + w])[..., 1].mean())
    to_photo = camera_matrix(camera, scene.head.shape)
    photo = change_lighting(render_head_view(scene, motion, to_photo, head=layer), lighting)
    if noise:
        photo = add_sensor_noise(photo, noise, rng)
    if jpeg is not None:
        photo = jpeg_roundtrip(photo, jpeg)
    return HeadFollowUp(rgb=photo, camera=to_photo, motion=motion, lighting=lighting, true_delta_a=true)


def head_series(scene: HeadScene, n: int, rng: np.random.Generator, treated: tuple[int, int, int, int],
                max_delta_a: float = 8.0, max_head_shift: float = 0.02) -> list[HeadFollowUp]:
    """``n`` follow-ups of a head that moves and turns in front of a still background.

    Each photo: redness uniform in 0-``max_delta_a`` a* added to ``treated``; the head shifted
    by up to ``max_head_shift`` of the frame's longest side, rolled ±3°, turned ±5° (yaw) and
    nodded ±3° (:func:`random_head_motion`); the camera moved ±8°, ±10 % scale, ±3 % shift with
    mild tilt (:func:`random_motion`); the light changed (:func:`random_lighting`); sensor
    noise of 2 grey levels and JPEG quality 85.
    """
    check_type(scene, HeadScene, "scene", "a HeadScene (from head_scene)")
    check_number(n, "n", integer=True, minimum=0)
    _check_rng(rng)
    check_number(max_delta_a, "max_delta_a", minimum=0)
    check_number(max_head_shift, "max_head_shift", minimum=0)
    side = max(scene.head.shape[:2])
    photos = []
    for _ in range(n):
        camera = random_motion(rng, side, max_rotation=8.0, max_scale=0.1, max_shift=0.03)
        motion = random_head_motion(rng, side, max_shift=max_head_shift)
        lighting = random_lighting(rng)
        delta_a = float(rng.uniform(0, max_delta_a))
        photos.append(head_followup(scene, camera, motion, lighting, rng, treated=treated, delta_a=delta_a))
    return photos


# --- a ColorChecker Classic chart in the photo ------------------------------------

_CHART_BODY = (0.09, 0.09, 0.09)


def draw_colour_card(colours: np.ndarray | None = None, ppu: int = 40, border: float = 0.0,
                      radius: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A ColorChecker Classic drawn in the proportions of OpenCV's chart model.

    Parameters
    ----------
    colours : numpy.ndarray, optional
        (24, 3) sRGB 0-1 patch colours in standard order; the reference values by default.
    ppu : int
        Pixels per model unit (patches are 2.5 units on a 2.75-unit pitch).
    border : float
        Dark card body beyond the model box, in units, like the printed card.
    radius : float
        Rounding of the patch corners, in units.

    Returns
    -------
    canvas : numpy.ndarray
        Float32 RGB 0-1 image of the chart.
    box : numpy.ndarray
        (4, 2) corners of the model box in canvas pixels (pixel centres at integers).
    """
    if colours is not None:
        check_array(colours, "colours", "(24, 3) float sRGB values in 0-1", shapes=((24, 3),), dtypes="f",
                    within=(0.0, 1.0))
    check_number(ppu, "ppu", integer=True, above=0)
    check_number(border, "border", minimum=0)
    check_number(radius, "radius", minimum=0)
    from tracker.analysis.colour_card import CARD_BOX_UNITS, COLORCHECKER_SRGB

    colours = COLORCHECKER_SRGB if colours is None else colours
    bw, bh = CARD_BOX_UNITS
    w = int(round((bw + 2 * border) * ppu))
    h = int(round((bh + 2 * border) * ppu))
    canvas = np.empty((h, w, 3), np.float32)
    canvas[:] = _CHART_BODY
    rr = int(round(radius * ppu))
    for i, colour in enumerate(colours):
        r, c = divmod(i, 6)
        x0 = int(round((border + 0.25 + 2.75 * c) * ppu))
        y0 = int(round((border + 0.25 + 2.75 * r) * ppu))
        x1 = x0 + int(round(2.5 * ppu)) - 1
        y1 = y0 + int(round(2.5 * ppu)) - 1
        mask = np.zeros((h, w), np.uint8)
        if rr:
            cv2.rectangle(mask, (x0 + rr, y0), (x1 - rr, y1), 1, -1)
            cv2.rectangle(mask, (x0, y0 + rr), (x1, y1 - rr), 1, -1)
            for cx in (x0 + rr, x1 - rr):
                for cy in (y0 + rr, y1 - rr):
                    cv2.circle(mask, (cx, cy), rr, 1, -1)
        else:
            mask[y0: y1 + 1, x0: x1 + 1] = 1
        canvas[mask > 0] = colour
    b0 = border * ppu - 0.5  # a pixel covers [i - 0.5, i + 0.5]
    box = np.array([[b0, b0], [b0 + bw * ppu, b0], [b0 + bw * ppu, b0 + bh * ppu], [b0, b0 + bh * ppu]])
    return canvas, box


def colour_card_corners(cx: float, cy: float, width: float, angle_deg: float, taper: float = 0.0) -> np.ndarray:
    """Chart box corners centred at ``(cx, cy)``: dark-skin corner first, clockwise when upright.

    ``taper`` narrows the top edge, a perspective view from below (below 0 it widens it).
    """
    for value, name in ((cx, "cx"), (cy, "cy"), (angle_deg, "angle_deg")):
        check_number(value, name)
    check_number(width, "width", above=0)
    check_number(taper, "taper", below=1)
    from tracker.analysis.colour_card import CARD_BOX_UNITS

    hw = width / 2
    hh = width * CARD_BOX_UNITS[1] / CARD_BOX_UNITS[0] / 2
    pts = np.array([[-hw * (1 - taper), -hh], [hw * (1 - taper), -hh], [hw, hh], [-hw, hh]])
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T + [cx, cy]


def paste_colour_card(photo: np.ndarray, corners: np.ndarray, **chart: object) -> np.ndarray:
    """Warp a drawn chart (:func:`draw_colour_card` options) into ``photo`` so its box lands on ``corners``.

    ``photo`` is an H x W x 3 uint8 image, ``corners`` (4, 2) pixel positions.
    """
    check_rgb8(photo, "photo")
    check_array(np.asarray(corners), "corners", "(4, 2) finite pixel positions (x, y)", shapes=((4, 2),),
                dtypes="uif", finite=True)
    canvas, box = draw_colour_card(**chart)
    hom = cv2.getPerspectiveTransform(box.astype(np.float32), np.asarray(corners, np.float32))
    size = (photo.shape[1], photo.shape[0])
    chart8 = np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8)
    warped = cv2.warpPerspective(chart8, hom, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(np.ones(canvas.shape[:2], np.float32), hom, size, flags=cv2.INTER_LINEAR)
    out = photo.astype(np.float32) * (1 - alpha[..., None]) + warped * alpha[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# --- the whole face treated ---------------------------------------------------------

#: The astronaut's face and neck in ``skimage.data.astronaut()`` (512 x 512) pixels, as ellipses
#: ``(cx, cy, half_width, half_height)``: the skin a full-face resurfacing treats.
ASTRONAUT_FACE = ((223.0, 124.0, 45.0, 62.0), (228.0, 175.0, 30.0, 25.0))
#: A clinic close-up of the astronaut ``(x, y, w, h)`` (512-px coordinates): the face fills most of
#: it, with some hair, background and collar around.
ASTRONAUT_CLOSE_UP = (168, 48, 112, 140)
#: The astronaut's other cheek (512-px coordinates), across the nose from :data:`ASTRONAUT_CHEEK`.
ASTRONAUT_OTHER_CHEEK = (240, 122, 20, 20)
#: L* lost per a* gained in erythema (ΔL* ≈ -0.74 Δa*), the figure issue #10 gives for real
#: erythema; the simulated series use it so that treated skin also darkens, as it does.
ERYTHEMA_LIGHTNESS_PER_A = -0.74


def ellipse_mask(shape: tuple[int, int], ellipses, scale: float = 1.0, offset=(0.0, 0.0)) -> np.ndarray:
    """Boolean H x W mask of the union of ellipses ``(cx, cy, half_width, half_height)``.

    The ellipses are in another image's pixels: a pixel ``p`` of this one is at
    ``p / scale + offset`` there (a crop at ``offset`` enlarged ``scale`` times).
    """
    check_shape(shape, "shape")
    check_number(scale, "scale", above=0)
    check_items(offset, "offset", "a point (x, y)", (2,))
    check_items(ellipses, "ellipses", "ellipses (cx, cy, half_width, half_height)", tuple(range(1, 9)))
    h, w = shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs, ys = xs / scale + offset[0], ys / scale + offset[1]
    inside = np.zeros((h, w), bool)
    for ellipse in ellipses:
        check_items(ellipse, "ellipse", "four numbers (cx, cy, half_width, half_height)", (4,))
        cx, cy, ax, ay = ellipse
        inside |= ((xs - cx) / ax) ** 2 + ((ys - cy) / ay) ** 2 <= 1
    return inside


def face_skin(rgb: np.ndarray, face=ASTRONAUT_FACE, scale: float = 1.0, offset=(0.0, 0.0)) -> np.ndarray:
    """The facial skin of a portrait: skin-coloured pixels (:func:`tracker.analysis.colour.skin_mask`),
    closed over small gaps (eyebrows, pores), within the face ellipses (see :func:`ellipse_mask`)."""
    from tracker.analysis.colour import skin_mask

    check_rgb8(rgb, "rgb")
    skin = skin_mask(rgb).astype(np.uint8)
    k = max(3, int(round(3 * scale)) | 1)
    skin = cv2.morphologyEx(skin, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8)) > 0
    return skin & ellipse_mask(rgb.shape, face, scale, offset)


@dataclass(frozen=True)
class CloseUp:
    """A close-up baseline cut from a portrait, with its facial skin and named boxes in its pixels."""

    rgb: np.ndarray
    face: np.ndarray
    boxes: dict


def close_up(portrait: np.ndarray, crop=ASTRONAUT_CLOSE_UP, side: int = 768, rng: np.random.Generator | None = None,
             face=ASTRONAUT_FACE, boxes: dict | None = None) -> CloseUp:
    """Cut ``crop`` ``(x, y, w, h)`` from a 512-px portrait and enlarge it to ``side`` px (:func:`enlarge`).

    ``boxes`` (by default the two cheeks, ``"cheek"`` and ``"other_cheek"``) and ``face`` are in the
    portrait's pixels; the result has them in the close-up's.
    """
    check_rgb8(portrait, "portrait")
    check_region(crop, "crop", integer=True, positive=True)
    x0, y0, w0, h0 = crop
    rgb = enlarge(portrait[y0:y0 + h0, x0:x0 + w0], side, rng)
    f = side / max(w0, h0)
    boxes = {"cheek": ASTRONAUT_CHEEK, "other_cheek": ASTRONAUT_OTHER_CHEEK} if boxes is None else boxes
    inside = {name: tuple(int(round(v)) for v in ((b[0] - x0) * f, (b[1] - y0) * f, b[2] * f, b[3] * f))
              for name, b in boxes.items()}
    return CloseUp(rgb=rgb, face=face_skin(rgb, face, f, (x0, y0)), boxes=inside)


@dataclass(frozen=True)
class FaceFollowUp:
    """A simulated follow-up of a full-face treatment, with its truth.

    Attributes
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 photo.
    camera : numpy.ndarray
        The camera's homography, baseline pixels to photo pixels.
    lighting : Lighting
    added_a : float
        a* units asked to be added to all facial skin.
    true_delta_a : dict
        a* added as realised (after the sRGB gamut), mean over each named box of the baseline frame.
    """

    rgb: np.ndarray
    camera: np.ndarray
    lighting: Lighting
    added_a: float
    true_delta_a: dict


def face_followup(baseline: np.ndarray, face: np.ndarray, camera: CameraMotion, lighting: Lighting,
                  rng: np.random.Generator, delta_a: float, boxes: dict | None = None,
                  lightness_per_a: float = ERYTHEMA_LIGHTNESS_PER_A, noise: float = 2.0,
                  jpeg: int | None = 85) -> FaceFollowUp:
    """A follow-up photo of a face treated whole: all of ``face`` reddened by ``delta_a`` a* units (and
    ``lightness_per_a * delta_a`` L*), the camera moved, the light changed, sensor noise and JPEG.

    ``face`` is the boolean H x W mask of the facial skin (:func:`face_skin`); its edge is feathered
    by 1.5 px. ``boxes`` names ``(x, y, w, h)`` boxes of the baseline in which the realised a* rise
    is reported.
    """
    check_rgb8(baseline, "baseline")
    check_mask(face, baseline.shape[:2], "face", optional=False)
    check_type(camera, CameraMotion, "camera", "a CameraMotion")
    check_type(lighting, Lighting, "lighting", "a Lighting")
    _check_rng(rng)
    check_number(delta_a, "delta_a")
    check_number(lightness_per_a, "lightness_per_a")
    check_number(noise, "noise", minimum=0)
    reddened = add_redness(baseline, face, delta_a, feather_px=1.5, delta_l=lightness_per_a * delta_a) \
        if delta_a else baseline
    true = {}
    for name, box in (boxes or {}).items():
        check_region(box, f"box {name}", integer=True, positive=True)
        x, y, w, h = box
        true[name] = float(srgb8_to_lab(reddened[y:y + h, x:x + w])[..., 1].mean()
                           - srgb8_to_lab(baseline[y:y + h, x:x + w])[..., 1].mean())
    to_photo = camera_matrix(camera, baseline.shape)
    photo = change_lighting(render_view(reddened, to_photo), lighting)
    if noise:
        photo = add_sensor_noise(photo, noise, rng)
    if jpeg is not None:
        photo = jpeg_roundtrip(photo, jpeg)
    return FaceFollowUp(rgb=photo, camera=to_photo, lighting=lighting, added_a=float(delta_a), true_delta_a=true)


def full_face_series(baseline: np.ndarray, face: np.ndarray, n: int, rng: np.random.Generator,
                     boxes: dict | None = None, max_delta_a: float = 12.0, side_light: float = 0.0,
                     **followup: object) -> list[FaceFollowUp]:
    """``n`` follow-ups of a full-face treatment (:func:`face_followup`), redness uniform in 0-``max_delta_a``.

    Each photo: a small hand-held camera move (±4°, ±5 % scale, ±2 % shift), a light change
    (:func:`random_lighting`: exposure -25…+5 %, white balance ±8 %, gamma ±12 %) and, when
    ``side_light`` is above 0, light from one side rising by that fraction across the frame toward
    a random direction.
    """
    check_rgb8(baseline, "baseline")
    check_number(n, "n", integer=True, minimum=0)
    _check_rng(rng)
    check_number(max_delta_a, "max_delta_a", minimum=0)
    check_number(side_light, "side_light", minimum=0, below=2)
    side = max(baseline.shape[:2])
    photos = []
    for _ in range(n):
        camera = random_motion(rng, side, max_rotation=4.0, max_scale=0.05, max_shift=0.02)
        lighting = random_lighting(rng)
        if side_light:
            lighting = Lighting(lighting.exposure, lighting.white_balance, lighting.gamma, side_light,
                                float(rng.uniform(0, 360)))
        delta_a = float(rng.uniform(0, max_delta_a))
        photos.append(face_followup(baseline, face, camera, lighting, rng, delta_a, boxes, **followup))
    return photos
