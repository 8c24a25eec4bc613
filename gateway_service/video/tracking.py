"""Face tracks over a whole video from detections on some of its frames (pure numpy, no I/O).

The detector runs on every `detect_every`-th frame; every detection of the video is known before tracking, so the
tracker looks behind and ahead. The goal is privacy first: no frame may show a face that was found somewhere, so
every rule below errs towards a larger box or a longer track, never a smaller one.

The rule:

1. Linking. Detector frames are visited in order. A track is alive at detector frame f while its last detection is
   at most `gap` frames back, gap = max(detect_every * (1 + MAX_MISSED_RUNS), MAX_GAP_S * fps): it survives
   MAX_MISSED_RUNS consecutive detector misses, and at least MAX_GAP_S seconds. Each live track predicts its box at f
   by carrying its last box with the velocity (centre and size) between its last two detections; a track with one
   detection moves with the camera: the median centre velocity of the live tracks that have one. A detection and a
   prediction may link when their IoU >= MATCH_IOU or their centres are closer than MATCH_CENTRE times the size
   sqrt(w * h) of the predicted box, and their widths differ by less than MAX_SIZE_RATIO x. Pairs are taken greedily,
   best first (cost = centre distance / size - IoU; ties by track id, then detection order); unlinked detections
   start new tracks. Track ids count up in the order tracks start.
2. Filling. Between two detections of a track, the box is linearly interpolated (centre and size).
3. Extending. Each track is carried `extend` = detect_every + max(MIN_MARGIN, MARGIN_S * fps) frames before its
   first and after its last detection (the detector did not look at, or missed, those frames), moving with the
   velocity of its first (last) two detections when those are at most `gap` frames apart, else with the camera
   velocity of step 1 (zero when no other track moves).
4. Growing. A carried box (a frame that is not one of the track's detections) is scaled around its centre by
   1 + GROW_PER_FRAME * d, at most MAX_GROW, where d is the distance in frames to the nearest detection of the track.
5. Smoothing. Centre and log size are averaged with a Gaussian of sigma SMOOTH_S * fps frames over the track's span
   (weights renormalised at its ends); the final box is the union of the smoothed box and the raw box of steps 2-4,
   so smoothing can only enlarge a box, never uncover a face.

Boxes are in pixels and may leave the frame: the blur gets them whole (it grows a box around its centre, then
clips). The faces file (`tracks_jsonl_lines`) lists what is in the frame: each box clipped to it, and a box that
is wholly outside it (a track carried past the edge while the camera pans) left out. The result is deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

MAX_MISSED_RUNS = 2  # consecutive detector runs a track may miss and still be linked
MAX_GAP_S = 0.5  # ... and at least this long
MATCH_IOU = 0.1
MATCH_CENTRE = 1.0  # centre distance / sqrt(w * h) of the predicted box
MAX_SIZE_RATIO = 2.0
# Carry tracks this much beyond detect_every before the first / after the last detection: the detector misses a
# face for a second or more before it finds it (bench.video_tracking_sweep: 0.2 s leaked runs of 14-19 frames).
MARGIN_S = 1.0
MIN_MARGIN = 2  # frames
GROW_PER_FRAME = 0.04  # relative growth of a carried box per frame from the nearest detection
MAX_GROW = 1.5
SMOOTH_S = 0.08  # Gaussian sigma of the smoothing, in seconds


@dataclass(frozen=True)
class TrackedFace:
    track_id: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels, possibly outside the frame
    confidence: float
    detected: bool  # True only where this frame's own detection gave the box


@dataclass
class _Track:
    frames: list[int]
    boxes: list[np.ndarray]  # cx, cy, w, h
    scores: list[float]
    prior: np.ndarray  # velocity of the other tracks when this one started (camera motion), for a lone detection

    def own_velocity(self, last: bool, gap: int) -> np.ndarray | None:
        """Per-frame change of (cx, cy, w, h) between the last (or first) two detections, if close enough."""
        if len(self.frames) < 2:
            return None
        (f0, b0), (f1, b1) = ((-2, -2), (-1, -1)) if last else ((0, 0), (1, 1))
        f0, f1 = self.frames[f0], self.frames[f1]
        b0, b1 = self.boxes[b0], self.boxes[b1]
        if f1 - f0 > gap:
            return None
        return (b1 - b0) / (f1 - f0)

    def velocity(self, last: bool, gap: int) -> np.ndarray:
        own = self.own_velocity(last, gap)
        return self.prior if own is None else own

    def predict(self, frame: int, gap: int) -> np.ndarray:
        box = self.boxes[-1] + self.velocity(True, gap) * (frame - self.frames[-1])
        box[2:] = np.maximum(box[2:], self.boxes[-1][2:] * 0.5)  # a shrinking prediction must not vanish
        return box


def _to_cwh(xyxy: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = xyxy[..., 0], xyxy[..., 1], xyxy[..., 2], xyxy[..., 3]
    return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, np.maximum(x2 - x1, 1e-3), np.maximum(y2 - y1, 1e-3)], axis=-1)


def _to_xyxy(cwh: np.ndarray) -> np.ndarray:
    cx, cy, w, h = cwh[..., 0], cwh[..., 1], cwh[..., 2], cwh[..., 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box in a [N, 4] with every one in b [M, 4]."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=-1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _link(detections: Mapping[int, np.ndarray], frame_count: int, gap: int) -> list[_Track]:
    tracks: list[_Track] = []
    for frame in sorted(f for f in detections if 0 <= f < frame_count):
        found = np.asarray(detections[frame], dtype=np.float64).reshape(-1, 5)
        found = found[(found[:, 2] > found[:, 0]) & (found[:, 3] > found[:, 1])]
        if not len(found):
            continue
        found_cwh = _to_cwh(found[:, :4])
        live = [i for i, t in enumerate(tracks) if frame - t.frames[-1] <= gap and t.frames[-1] < frame]
        moving = [v for v in (tracks[i].own_velocity(True, gap) for i in live) if v is not None]
        prior = np.zeros(4)
        if moving:  # the camera's motion, as most faces see it: the median velocity of the centres
            prior[:2] = np.median(np.stack(moving)[:, :2], axis=0)
        for i in live:
            if len(tracks[i].frames) < 2:
                tracks[i].prior = prior
        pairs: list[tuple[float, int, int]] = []
        if live:
            predicted = np.stack([tracks[i].predict(frame, gap) for i in live])
            iou = pairwise_iou(_to_xyxy(predicted), found[:, :4])
            size = np.sqrt(predicted[:, 2] * predicted[:, 3])
            dist = np.linalg.norm(predicted[:, None, :2] - found_cwh[None, :, :2], axis=-1) / size[:, None]
            ratio = predicted[:, None, 2] / found_cwh[None, :, 2]
            ok = ((iou >= MATCH_IOU) | (dist <= MATCH_CENTRE)) & (ratio < MAX_SIZE_RATIO) & (ratio > 1 / MAX_SIZE_RATIO)
            for t, d in zip(*np.nonzero(ok), strict=True):
                pairs.append((float(dist[t, d] - iou[t, d]), live[t], int(d)))
        pairs.sort()
        used_tracks: set[int] = set()
        used_found: set[int] = set()
        for _, t, d in pairs:
            if t in used_tracks or d in used_found:
                continue
            used_tracks.add(t)
            used_found.add(d)
            tracks[t].frames.append(frame)
            tracks[t].boxes.append(found_cwh[d])
            tracks[t].scores.append(float(found[d, 4]))
        for d in range(len(found)):
            if d not in used_found:
                tracks.append(_Track([frame], [found_cwh[d]], [float(found[d, 4])], prior))
    return tracks


def _smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0, weights renormalised where the window runs past the ends."""
    if sigma <= 0 or len(values) < 2:
        return values
    radius = max(1, int(np.ceil(3 * sigma)))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    padded = np.pad(values, ((radius, radius), (0, 0)))
    weights = np.pad(np.ones(len(values)), radius)
    total = np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(values.shape[1])], axis=1)
    return total / np.convolve(weights, kernel, mode="valid")[:, None]


def _render(track: _Track, frame_count: int, extend: int, gap: int, sigma: float) -> tuple[int, np.ndarray, np.ndarray]:
    """First frame, xyxy boxes [T, 4] and confidences [T] of a track over its (extended) span."""
    keys = np.array(track.frames)
    boxes = np.stack(track.boxes)
    scores = np.array(track.scores)
    start = max(0, int(keys[0]) - extend)
    stop = min(frame_count, int(keys[-1]) + extend + 1)
    frames = np.arange(start, stop)
    cwh = np.stack([np.interp(frames, keys, boxes[:, k]) for k in range(4)], axis=1)
    conf = np.interp(frames, keys, scores)
    before, after = frames < keys[0], frames > keys[-1]
    cwh[before] += track.velocity(False, gap) * (frames[before] - keys[0])[:, None]
    cwh[after] += track.velocity(True, gap) * (frames[after] - keys[-1])[:, None]
    # Extrapolated sizes may shrink, but never below half the nearest detection's.
    cwh[before, 2:] = np.maximum(cwh[before, 2:], boxes[0, 2:] * 0.5)
    cwh[after, 2:] = np.maximum(cwh[after, 2:], boxes[-1, 2:] * 0.5)
    position = np.searchsorted(keys, frames)
    previous = keys[np.clip(position - 1, 0, len(keys) - 1)]
    following = keys[np.clip(position, 0, len(keys) - 1)]
    distance = np.minimum(np.abs(frames - previous), np.abs(following - frames))
    cwh[:, 2:] *= np.minimum(1 + GROW_PER_FRAME * distance, MAX_GROW)[:, None]
    raw = _to_xyxy(cwh)
    logged = np.concatenate([cwh[:, :2], np.log(cwh[:, 2:])], axis=1)
    smoothed = _smooth(logged, sigma)
    smooth = _to_xyxy(np.concatenate([smoothed[:, :2], np.exp(smoothed[:, 2:])], axis=1))
    final = np.concatenate([np.minimum(raw[:, :2], smooth[:, :2]), np.maximum(raw[:, 2:], smooth[:, 2:])], axis=1)
    return start, final, conf


def track_faces(
    detections: Mapping[int, np.ndarray], frame_count: int, detect_every: int, fps: float
) -> list[list[TrackedFace]]:
    """The faces to hide in each of `frame_count` frames, from detections [N, 5] (x1, y1, x2, y2, confidence) keyed
    by the frame indices the detector ran on (see the module docstring for the rule)."""
    detect_every = max(1, int(detect_every))
    fps = float(fps) if fps and fps > 0 else 25.0
    gap = max(detect_every * (1 + MAX_MISSED_RUNS), round(MAX_GAP_S * fps))
    extend = detect_every + max(MIN_MARGIN, round(MARGIN_S * fps))
    sigma = SMOOTH_S * fps
    result: list[list[TrackedFace]] = [[] for _ in range(max(0, frame_count))]
    for track_id, track in enumerate(_link(detections, frame_count, gap)):
        start, boxes, conf = _render(track, frame_count, extend, gap, sigma)
        detected = set(track.frames)
        for offset, (box, score) in enumerate(zip(boxes.tolist(), conf.tolist(), strict=True)):
            frame = start + offset
            result[frame].append(TrackedFace(track_id, tuple(box), round(score, 4), frame in detected))
    return result


def track_count(tracks: Sequence[Sequence[TrackedFace]]) -> int:
    """How many distinct tracks appear in the video."""
    return len({face.track_id for faces in tracks for face in faces})


def tracks_jsonl_lines(
    tracks: Sequence[Sequence[TrackedFace]],
    fps: float,
    frame_size: tuple[int, int],
    plate_tracks: Sequence[Sequence[TrackedFace]] | None = None,
) -> Iterator[str]:
    """One JSON line per frame: its index, time and faces (integer boxes clipped to the ``frame_size`` (width,
    height); a face with nothing left inside the frame is not listed); with ``plate_tracks``, its licence plates
    too, listed the same way (``plate_area``, their own track ids)."""
    for index, faces in enumerate(tracks):
        line: dict[str, object] = {
            "frame": index,
            "time_s": round(index / fps, 3),
            "faces": _listed(faces, frame_size, "facial_area"),
        }
        if plate_tracks is not None:
            line["plates"] = _listed(plate_tracks[index], frame_size, "plate_area")
        yield json.dumps(line, separators=(",", ":"))


def _listed(tracked: Sequence[TrackedFace], frame_size: tuple[int, int], area_name: str) -> list[dict[str, object]]:
    listed = []
    for face in tracked:
        area = visible_area(face.box, frame_size)
        if area is not None:
            listed.append(
                {
                    "track_id": face.track_id,
                    area_name: list(area),
                    "confidence": round(face.confidence, 4),
                    "detected": face.detected,
                }
            )
    return listed


def visible_area(
    box: tuple[float, float, float, float], frame_size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The part of ``box`` inside a frame of ``frame_size`` (width, height), rounded to whole pixels; None when no
    pixel of it is left."""
    width, height = frame_size
    x1, y1 = min(max(round(box[0]), 0), width), min(max(round(box[1]), 0), height)
    x2, y2 = min(max(round(box[2]), 0), width), min(max(round(box[3]), 0), height)
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None
