"""Frames as numpy planes, upright, and faces hidden in them (no I/O).

Blur-video jobs hide faces in YUV 4:2:0 directly: converting a 720p frame to RGB and back costs about 12 ms, more
than the anonymizing itself. The luma plane gets the boxes as they are, the two half-size chroma planes get them
halved; the same filters (anonymize.py) run on each plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from ..anonymize import AnonymizeOptions, anonymize
from ..detection.turns import turn


@dataclass(frozen=True)
class Yuv420:
    """One upright frame's planes: y [H, W], u and v [H/2, W/2], uint8, W and H even."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @property
    def width(self) -> int:
        return self.y.shape[1]

    @property
    def height(self) -> int:
        return self.y.shape[0]


def even_size(width: int, height: int) -> tuple[int, int]:
    """4:2:0 needs even sides: an odd one loses its last column or row (cropped, never scaled)."""
    return width - width % 2, height - height % 2


def upright_size(width: int, height: int, turns: int) -> tuple[int, int]:
    return (height, width) if turns % 2 else (width, height)


def yuv420_planes(frame: av.VideoFrame, turns: int) -> Yuv420:
    """The frame as 8-bit 4:2:0 planes, cropped to even sides, turned upright (``turns`` quarter turns
    counterclockwise)."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    width, height = even_size(frame.width, frame.height)
    y, u, v = (_plane_view(plane) for plane in frame.planes[:3])
    y, u, v = y[:height, :width], u[: height // 2, : width // 2], v[: height // 2, : width // 2]
    if turns:
        y, u, v = (np.rot90(plane, turns) for plane in (y, u, v))
    return Yuv420(np.ascontiguousarray(y), np.ascontiguousarray(u), np.ascontiguousarray(v))


def upright_rgb(frame: av.VideoFrame, turns: int) -> np.ndarray:
    """The frame as RGB [H, W, 3] uint8, upright: what the detector sees."""
    rgb = frame.to_ndarray(format="rgb24")
    return turn(rgb, turns)


# SOLID mode in YUV: luma 16 is black in the limited range almost every video uses; chroma 128 is "no colour"
# (0 would paint the face green).
SOLID_LUMA = 16
SOLID_CHROMA = 128


def hide_faces(planes: Yuv420, boxes: np.ndarray, options: AnonymizeOptions) -> Yuv420:
    """The planes with every box (x1, y1, x2, y2 in upright luma pixels) hidden as ``options`` say."""
    if not len(boxes):
        return planes
    chroma_boxes = np.asarray(boxes, np.float32) / 2
    return Yuv420(
        anonymize(planes.y, boxes, options, SOLID_LUMA),
        anonymize(planes.u, chroma_boxes, options, SOLID_CHROMA),
        anonymize(planes.v, chroma_boxes, options, SOLID_CHROMA),
    )


def to_frame(planes: Yuv420) -> av.VideoFrame:
    """A yuv420p frame for the encoder."""
    stacked = np.concatenate([planes.y.ravel(), planes.u.ravel(), planes.v.ravel()])
    return av.VideoFrame.from_ndarray(stacked.reshape(planes.height * 3 // 2, planes.width), format="yuv420p")


def _plane_view(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A plane's pixels without copying: rows of ``line_size`` bytes, of which the first ``width`` are pixels."""
    rows = np.frombuffer(plane, np.uint8)[: plane.height * plane.line_size]
    return rows.reshape(plane.height, plane.line_size)[:, : plane.width]
