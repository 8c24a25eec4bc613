"""How a probed video is split into segments that face services process in parallel (pure: no I/O).

A segment that starts at a keyframe decodes only its own frames; one that starts elsewhere makes the face service
decode from the keyframe before and drop the frames up to its first (costly with long GOPs), so boundaries move to
a keyframe when one is near the even split (within a quarter of a segment's length).
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

from gateway_service.video.info import VideoInfo


@dataclass(frozen=True)
class SegmentPlan:
    """Frames ``first_frame`` .. ``first_frame + frame_count - 1`` (presentation order, whole-video indexes);
    decoding starts at ``seek_pts`` (the last keyframe at or before the first frame) and keeps frames from
    ``first_pts`` (the first frame's pts). Timestamps in the video stream's time base (``VideoSegment``)."""

    index: int
    first_frame: int
    frame_count: int
    seek_pts: int
    first_pts: int

    @property
    def end_frame(self) -> int:
        """The frame after the segment's last."""
        return self.first_frame + self.frame_count


def plan_segments(info: VideoInfo, workers: int, min_seconds: float, max_frames: int = 0) -> list[SegmentPlan]:
    """Split ``info``'s frames into consecutive segments covering each frame once: ``SEGMENTS_PER_WORKER`` per
    worker when the video is long enough, none shorter than ``min_seconds`` (a shorter video is one segment), and
    none longer than ``max_frames`` (0: no limit), which wins over ``min_seconds``: it keeps every job of a long
    video within the segment timeout however few workers there are. A video that is not seekable is cut only where
    ``max_frames`` requires, since each of its segments decodes from the start."""
    return [
        _segment(info, number, first, end - first)
        for number, (first, end) in enumerate(_at_most(_spans(info, workers, min_seconds, max_frames), max_frames))
    ]


SEGMENTS_PER_WORKER = 2
# A boundary moves to a keyframe at most this share of a segment's length away from the even split.
KEYFRAME_REACH = 0.25


def _spans(info: VideoInfo, workers: int, min_seconds: float, max_frames: int) -> list[tuple[int, int]]:
    """(first, end) frames of each segment, keyframe-aligned where one is near."""
    count = info.frame_count
    if count <= 0:
        return []
    if not info.seekable or count == 1:
        return [(0, count)]

    # Each frame's start, in seconds from the first; times[count] is the end of the video.
    base = info.frame_pts[0]
    time_base = info.time_base
    times = [float((pts - base) * time_base) for pts in info.frame_pts]
    total = max(info.duration_s, times[-1])
    times.append(total)
    keyframe_times = sorted((times[index], index) for index in info.keyframe_indexes if 0 < index < count)

    min_seconds = max(float(min_seconds), 0.0)
    wanted = max(1, workers) * SEGMENTS_PER_WORKER
    if min_seconds > 0:
        wanted = min(wanted, math.floor(total / min_seconds + 1e-9))
    if max_frames > 0:
        wanted = max(wanted, math.ceil(count / max_frames))
    wanted = max(1, min(wanted, count))
    length = total / wanted
    reach = KEYFRAME_REACH * length

    def fits(boundary: int, previous: int, after: int) -> bool:
        """Whether ``boundary`` ends a segment neither too short nor too long and leaves room for ``after`` more."""
        return (
            previous < boundary < count
            and (max_frames <= 0 or boundary - previous <= max_frames)
            and times[boundary] - times[previous] >= min_seconds - 1e-9
            and total - times[boundary] >= after * min_seconds - 1e-9
        )

    boundaries = [0]
    for k in range(1, wanted):
        previous = boundaries[-1]
        after = wanted - k  # segments after this boundary
        # Split what is left evenly, so a boundary that moved to a keyframe shifts none of the later ones.
        target_time = times[previous] + (total - times[previous]) / (after + 1)
        low = bisect.bisect_left(keyframe_times, (target_time - reach, -1))
        high = bisect.bisect_right(keyframe_times, (target_time + reach, count))
        near = sorted(keyframe_times[low:high], key=lambda item: (abs(item[0] - target_time), item[1]))
        choice = next((index for _, index in near if fits(index, previous, after)), None)
        if choice is None:
            target = _nearest_frame(times, count, target_time)
            if times[target] - times[previous] < min_seconds - 1e-9:
                target = bisect.bisect_left(times, times[previous] + min_seconds - 1e-9, 0, count)
            choice = target if fits(target, previous, after) else None
        if choice is not None:
            boundaries.append(choice)
    boundaries.append(count)
    return list(itertools.pairwise(boundaries))


def _at_most(spans: list[tuple[int, int]], max_frames: int) -> list[tuple[int, int]]:
    """Each span longer than ``max_frames`` cut into the fewest equal parts that are not (0: spans as they are)."""
    if max_frames <= 0:
        return spans
    cut: list[tuple[int, int]] = []
    for first, end in spans:
        parts = math.ceil((end - first) / max_frames)
        cut += itertools.pairwise(first + (end - first) * part // parts for part in range(parts + 1))
    return cut


def _nearest_frame(times: list[float], count: int, moment: float) -> int:
    index = bisect.bisect_left(times, moment, 0, count)
    if index >= count:
        return count - 1
    if index > 0 and moment - times[index - 1] < times[index] - moment:
        return index - 1
    return index


def _segment(info: VideoInfo, number: int, first: int, frames: int) -> SegmentPlan:
    position = bisect.bisect_right(info.keyframe_indexes, first) - 1
    seek_index = info.keyframe_indexes[position] if position >= 0 else 0
    return SegmentPlan(
        index=number,
        first_frame=first,
        frame_count=frames,
        seek_pts=info.frame_pts[seek_index],
        first_pts=info.frame_pts[first],
    )
