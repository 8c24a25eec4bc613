"""Hide faces: blur, pixelate or fill each (scaled) face region, as an ellipse or a box.

Every filter's strength follows the face's size, so a large face is blurred as thoroughly as a small one.
Pixels outside the scaled face regions are never touched. Works on any decoded image: 1, 3 or 4 channels,
8 or 16 bits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from faceblur_proto.vocabulary import DEFAULT_BOX_SCALE, DEFAULT_MASK, DEFAULT_MODE, Mask, Mode

from .detection.geometry import clip_boxes, scale_boxes

# The face is blurred at this working size (pixels across); blurring a shrunk copy is as strong and far cheaper.
BLUR_WORKING_SIZE = 64
# Gaussian sigma as a fraction of the face size: about deface's box blur of half the face size. A stronger blur
# does not make blurred faces less recognizable (bench/recognition.py, 509 WIDER faces >= 32 px below the verify
# threshold: 1/6 97.5 %, 1/4 97.3 %, 1/2 95.1 %); what it still matches is mostly profiles and backs of heads.
BLUR_SIGMA_FRACTION = 1 / 6
PIXELATE_BLOCKS_ACROSS = 8


@dataclass(frozen=True)
class AnonymizeOptions:
    mode: Mode = DEFAULT_MODE
    mask: Mask = DEFAULT_MASK
    box_scale: float = DEFAULT_BOX_SCALE


def face_regions(boxes: np.ndarray, box_scale: float, width: int, height: int) -> np.ndarray:
    """Integer pixel regions [N, 4] (x1, y1, x2, y2, end-exclusive) that get anonymized."""
    scaled = clip_boxes(scale_boxes(boxes, box_scale), width, height)
    regions = np.empty_like(scaled, dtype=np.int64)
    regions[:, :2] = np.floor(scaled[:, :2])
    regions[:, 2:] = np.ceil(scaled[:, 2:])
    return regions


def anonymize(image: np.ndarray, boxes: np.ndarray, options: AnonymizeOptions, solid_value: int = 0) -> np.ndarray:
    """A copy of `image` with every face in `boxes` hidden as `options` say. ``solid_value`` is the SOLID mode's
    fill: 0 (black) for images; a video's chroma planes need 128, their neutral value, or faces turn green."""
    result = image.copy()
    height, width = image.shape[:2]
    for x1, y1, x2, y2 in face_regions(boxes, options.box_scale, width, height):
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        region = result[y1:y2, x1:x2]
        hidden = _hide(region, options.mode, solid_value)
        if options.mask is Mask.ELLIPSE:
            inside = _ellipse_mask(region.shape[1], region.shape[0])
            np.copyto(region, hidden, where=inside if region.ndim == 2 else inside[..., None])
        else:
            region[...] = hidden
    return result


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


@functools.lru_cache(maxsize=256)
def _ellipse_mask(width: int, height: int) -> np.ndarray:
    """True inside the ellipse inscribed in a width x height box (cached: a video hides faces of the same size in
    frame after frame; read-only)."""
    ys, xs = np.ogrid[:height, :width]
    cy, cx = (height - 1) / 2, (width - 1) / 2
    ry, rx = max(height / 2, 0.5), max(width / 2, 0.5)
    inside = ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1.0
    inside.flags.writeable = False
    return inside
