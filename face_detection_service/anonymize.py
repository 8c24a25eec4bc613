"""Hide faces: blur, pixelate or fill each (scaled) face region, as an ellipse or a box.

Every filter's strength follows the face's size, so a large face is blurred as thoroughly as a small one.
An ellipse is hidden completely inside the box grown by ``box_scale`` and fades out over a thin band around it
(``ELLIPSE_FEATHER``). Pixels outside ``touched_regions`` are never changed. Works on any decoded image: 1, 3 or 4
channels, 8 or 16 bits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from faceblur_proto.vocabulary import DEFAULT_BOX_SCALE, DEFAULT_MASK, DEFAULT_MODE, Mask, Mode

from .detection.geometry import clip_boxes, scale_boxes

# An ellipse fades out over a band this much wider than the ellipse it hides completely. A hard edge is detail of
# its own: a neighbour's edge crossing a face already hidden, or the face's own edge where its tracked box sits a
# little off the face, left 20-38 % of the face's detail. bench/video_bench.py, face-frames keeping over 20 %
# of their detail: hard edge 55 of 2,033 (longest run 11), band 0.1: 23 (4), band 0.25: 2 (1).
ELLIPSE_FEATHER = 0.25


@dataclass(frozen=True)
class AnonymizeOptions:
    mode: Mode = DEFAULT_MODE
    mask: Mask = DEFAULT_MASK
    box_scale: float = DEFAULT_BOX_SCALE


def touched_regions(boxes: np.ndarray, options: AnonymizeOptions, width: int, height: int) -> np.ndarray:
    """Integer pixel regions [N, 4] (x1, y1, x2, y2, end-exclusive, inside the image) that anonymizing may change."""
    return clip_boxes(_whole_regions(boxes, options), width, height)


def anonymize(image: np.ndarray, boxes: np.ndarray, options: AnonymizeOptions, solid_value: int = 0) -> np.ndarray:
    """A copy of `image` with every face in `boxes` hidden as `options` say. ``solid_value`` is the SOLID mode's
    fill: 0 (black) for images; a video's chroma planes need 128, their neutral value, or faces turn green."""
    result = image.copy()
    height, width = image.shape[:2]
    whole = _whole_regions(boxes, options)
    for (ux1, uy1, ux2, uy2), (x1, y1, x2, y2) in zip(whole, clip_boxes(whole, width, height), strict=True):
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        region = result[y1:y2, x1:x2]
        hidden = _hide(region, options.mode, solid_value)
        if options.mask is Mask.ELLIPSE:
            # The ellipse belongs to the whole box: a face cut by the image's edge keeps its own shape.
            inside = (slice(y1 - uy1, y2 - uy1), slice(x1 - ux1, x2 - ux1))
            alpha, rest = (np.ascontiguousarray(w[inside]) for w in _ellipse_weights(int(ux2 - ux1), int(uy2 - uy1)))
            _blend(region, hidden, alpha, rest)
        else:
            region[...] = hidden
    return result


def plate_options(options: AnonymizeOptions) -> AnonymizeOptions:
    """How a licence plate is hidden: in the faces' mode, by its (padded) box as it is. A plate is a flat
    rectangle: an ellipse would leave its corners, and box_scale is sized for faces."""
    return AnonymizeOptions(options.mode, Mask.BOX, 1.0)


def hide_plates(image: np.ndarray, boxes: np.ndarray, options: AnonymizeOptions, solid_value: int = 0) -> np.ndarray:
    """A copy of ``image`` with each licence plate in ``boxes`` (already padded) hidden as ``plate_options`` says."""
    if not len(boxes):
        return image
    return anonymize(image, boxes, plate_options(options), solid_value)


def _whole_regions(boxes: np.ndarray, options: AnonymizeOptions) -> np.ndarray:
    """The whole pixels (end-exclusive) each face's grown box touches, the fade band included, not clipped to the
    image."""
    scale = options.box_scale * (1 + ELLIPSE_FEATHER) if options.mask is Mask.ELLIPSE else options.box_scale
    grown = scale_boxes(boxes, scale)
    regions = np.empty((len(grown), 4), np.int64)
    regions[:, :2] = np.floor(grown[:, :2])
    regions[:, 2:] = np.ceil(grown[:, 2:4])
    return regions


def _blend(region: np.ndarray, hidden: np.ndarray, alpha: np.ndarray, rest: np.ndarray) -> None:
    """region := hidden * alpha + region * rest (rest = 1 - alpha), in place."""
    if region.dtype == np.uint8:  # every video plane and most photos: one OpenCV call
        region[...] = cv2.blendLinear(hidden, np.ascontiguousarray(region), alpha, rest).reshape(region.shape)
        return
    weight = alpha if region.ndim == 2 else alpha[..., None]
    original = region.astype(np.float32)
    region[...] = np.rint(original + (hidden.astype(np.float32) - original) * weight)


# The face is blurred at this working size (pixels across); blurring a shrunk copy is as strong and far cheaper.
BLUR_WORKING_SIZE = 64
# Gaussian sigma as a fraction of the face size: about deface's box blur of half the face size. A stronger blur
# does not make blurred faces less recognizable: it leaves a smooth face-shaped blob, and SFace matches blobs to
# poor photos (bench/recognition.py, 509 WIDER faces >= 32 px below the verify threshold, hard-edged ellipse: 1/6
# 97.5 %, 1/4 97.3 %, 1/2 95.1 %; fading the blob to its mean colour: worse). A weaker one keeps detail a video
# leak test sees. With the soft edge, in process on 400 WIDER photos (1,087 faces), faces left at or above the
# threshold: sigma 1/8 19, 1/6 14, 1/5 21, 1/4 27; feather 0.15 19, 0.4 15; box_scale 1.3 23, 1.5 17; working size
# 32 12, 24 15; a stronger vertical or horizontal blur 20-21; averaging the blob with its mirror 25; filling it from
# the surrounding band 18-22; also hiding the region the landmarks span 13-16. These defaults sit at the optimum.
# What those faces measure is SFace's answer to a featureless face, not identity: filling the ellipse with flat
# grey or the face's mean colour (nothing of the face left) leaves 52 and 50 at or above it, the blur darkened to
# 10 % 46; only an exact-black fill leaves 2, as SFace maps an all-zero input far from every face. On all 1,239
# photos (3,517 faces, 46 at or above), 40 of those originals match 4 to 2,449 other people's blurs as well, and a
# face's own blur is the nearest to its original for 0.17 % of faces (chance: 0.03 %).
BLUR_SIGMA_FRACTION = 1 / 6
PIXELATE_BLOCKS_ACROSS = 8


def _hide(region: np.ndarray, mode: Mode, solid_value: int = 0) -> np.ndarray:
    height, width = region.shape[:2]
    if mode is Mode.SOLID:
        return np.full_like(region, solid_value)
    if mode is Mode.PIXELATE:
        block = max(2, max(width, height) // PIXELATE_BLOCKS_ACROSS)
        small = cv2.resize(region, (max(1, width // block), max(1, height // block)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    shrink = min(1.0, BLUR_WORKING_SIZE / max(width, height))
    small_size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    small = cv2.resize(region, small_size, interpolation=cv2.INTER_AREA)
    sigma = max(small_size) * BLUR_SIGMA_FRACTION
    kernel = _gaussian_kernel(round(sigma, 1))
    blurred = cv2.sepFilter2D(small, -1, kernel, kernel, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR).reshape(region.shape)


@functools.lru_cache(maxsize=256)
def _gaussian_kernel(sigma: float) -> np.ndarray:
    """The Gaussian of ``sigma`` as GaussianBlur sizes it for 8-bit images (6 sigma wide). Applied with
    sepFilter2D: GaussianBlur's bit-exact 8-bit path took 2.7 ms for a 64 px face at this width, the separable
    filter 0.06 ms (a video hides faces in every frame)."""
    size = round(sigma * 6 + 1) | 1
    return cv2.getGaussianKernel(size, sigma)


# Weights of faces up to this many pixels are cached (8 bytes a pixel: at most 128 x 2 MiB).
CACHED_WEIGHTS_MAX_PIXELS = 512 * 512


def _ellipse_weights(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A video hides faces of the same size in frame after frame; a photo's one huge face is not worth keeping."""
    if width * height <= CACHED_WEIGHTS_MAX_PIXELS:
        return _cached_feathered_ellipse(width, height)
    return _feathered_ellipse(width, height)


def _feathered_ellipse(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 [height, width] weights of the hidden face and of the picture: 1 and 0 inside the ellipse hidden
    completely (inscribed in the box before the feather band was added), 0 and 1 from the ellipse inscribed in
    the whole box outwards (read-only)."""
    # Squared normalized radius, in float32 and without a square root: a video's tracked boxes change size from
    # frame to frame, so this runs for most faces of most frames.
    ys = ((np.arange(height, dtype=np.float32) - (height - 1) / 2) / max(height / 2, 0.5)) ** 2
    xs = ((np.arange(width, dtype=np.float32) - (width - 1) / 2) / max(width / 2, 0.5)) ** 2
    inner = (1 / (1 + ELLIPSE_FEATHER)) ** 2
    alpha = np.clip((1 - (ys[:, None] + xs[None, :])) / np.float32(1 - inner), 0.0, 1.0)
    rest = 1 - alpha
    alpha.flags.writeable = rest.flags.writeable = False
    return alpha, rest


_cached_feathered_ellipse = functools.lru_cache(maxsize=128)(_feathered_ellipse)
