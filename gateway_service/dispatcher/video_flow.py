"""A video task, segment by segment: detect, track over the whole video, hide, join.

1. The upload was probed when it came in (``probe.json``); it is split into segments (``video.plan``), at least
   two per face-service worker when it is long enough.
2. Every segment gets a detect-video job, all at once (each face-service worker decodes its own segment and runs
   the detector on every ``detect_every``-th frame), so every core of every replica works on the video.
3. The tracker links the faces over the whole video (``video.tracking``): it sees every detection before a
   single frame is hidden, so a face is hidden from the first frame it shows, through the frames the detector
   missed, with no seam at segment joins. The tracks are the task's ``faces.jsonl``.
4. Every segment gets a blur-video job with its frames' boxes; each writes an H.264 segment.
5. The segments and the input's audio are joined into one MP4 (``video.join``).

Every step's output is a file in the task's media directory, written whole or not at all, so an attempt that
is interrupted (a face service or this dispatcher killed) resumes from the segments already done.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceblur_proto.framing import JobAnswer
from faceblur_proto.media import TaskMedia
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import DEFAULT_VIDEO_PRESET, JobKind, TaskKind, to_proto
from gateway_service.core.config import Settings
from gateway_service.dispatcher.results import job_options_message
from gateway_service.tasks.models import TaskRecord
from gateway_service.tasks.store import TaskStore
from gateway_service.video.join import JoinFailed, join_segments
from gateway_service.video.plan import SegmentPlan, plan_segments
from gateway_service.video.probe import VideoInfo
from gateway_service.video.tracking import TrackedFace, track_count, track_faces, tracks_jsonl_lines

Send = Callable[[pb.JobOptions, bytes], Awaitable[JobAnswer]]
Detections = dict[int, np.ndarray]  # frame index -> [N, 5] x1, y1, x2, y2, confidence


class VideoRefused(Exception):
    """The video cannot be processed (its input is gone, a segment job failed); the task ends FAILURE."""


@dataclass(frozen=True)
class VideoOutcome:
    result: dict  # the task record's result: {"video": {...}, "preset": ..., "model": ...}
    timings: tuple[pb.StageTimings, ...] = ()


@dataclass(frozen=True)
class VideoFlow:
    settings: Settings
    store: TaskStore
    face_workers: Callable[[], int]  # workers of the connected face services now

    async def run(self, record: TaskRecord, send: Send) -> VideoOutcome:
        media = TaskMedia(record.task_id)
        root = self.settings.media_dir
        info = self._load_probe(root / media.probe)
        input_path = root / media.input(record.image_format)
        if not input_path.is_file():
            raise VideoRefused("the uploaded video is no longer in the media directory (GATEWAY_MEDIA_DIR)")
        (root / media.work).mkdir(parents=True, exist_ok=True)
        segments = await asyncio.to_thread(self._kept_plan, root / media.plan, info)
        progress = _Progress(self.store, record.task_id, info.frame_count)
        detect_every = self.settings.video_detect_every
        concurrency = asyncio.Semaphore(max(1, self.face_workers()))

        detections: Detections = {}
        model = ""

        async def detect(segment: SegmentPlan) -> None:
            nonlocal model
            path = root / media.detections(segment.index)
            if path.is_file():  # done by an earlier attempt
                stored = json.loads(path.read_text())
            else:
                options = self._segment_options(record, JobKind.DETECT_VIDEO, media, info, segment)
                options.video.detect_every = detect_every
                async with concurrency:
                    answer = await _video_job(send, options, f"detecting faces in frames {_frames(segment)}")
                model = model or answer.result.model
                stored = _detections_of(answer.result)
                _write_atomically(path, [json.dumps(stored)])
            detections.update(_as_arrays(stored))
            await progress.add(segment.frame_count)

        await _all(detect(segment) for segment in segments)

        tracks = await asyncio.to_thread(track_faces, detections, info.frame_count, detect_every, info.fps)
        faces_path = root / media.faces
        await asyncio.to_thread(
            _write_atomically, faces_path, (line + "\n" for line in tracks_jsonl_lines(tracks, info.fps))
        )

        async def hide(segment: SegmentPlan) -> None:
            path = root / media.segment(segment.index)
            if not path.is_file():
                options = self._segment_options(record, JobKind.BLUR_VIDEO, media, info, segment)
                options.video.output_path = media.segment(segment.index)
                options.video.crf = record.options.crf if record.options.crf is not None else self.settings.video_crf
                options.video.frames.extend(_frame_faces(tracks, segment))
                async with concurrency:
                    await _video_job(send, options, f"anonymizing frames {_frames(segment)}")
            await progress.add(segment.frame_count)

        await _all(hide(segment) for segment in segments)

        segment_paths = [root / media.segment(segment.index) for segment in segments]
        output = root / media.video
        try:
            joined = await asyncio.to_thread(join_segments, segment_paths, input_path, info, output)
        except JoinFailed as failed:
            raise VideoRefused(f"joining the anonymized segments failed: {failed}") from None
        video = {
            "video_url": f"/task_result/{record.task_id}/video",
            "faces_url": f"/task_result/{record.task_id}/faces",
            "frames": joined.frames,
            "fps": round(joined.fps, 3),
            "duration_s": round(joined.duration_s, 3),
            "width": joined.width,
            "height": joined.height,
            "audio": joined.audio,
            "audio_copied": joined.audio_copied,
            "tracks": track_count(tracks),
            "detect_every": detect_every,
            "segments": len(segments),
            "size_bytes": output.stat().st_size,
        }
        preset = record.options.preset.value if record.options.preset else DEFAULT_VIDEO_PRESET
        return VideoOutcome({"video": video, "preset": preset, "model": model})

    def _segment_options(
        self, record: TaskRecord, kind: JobKind, media: TaskMedia, info: VideoInfo, segment: SegmentPlan
    ) -> pb.JobOptions:
        options = job_options_message(TaskKind.BLUR, record.options)
        options.kind = to_proto(kind)
        if not options.preset:
            options.preset = DEFAULT_VIDEO_PRESET
        options.video.CopyFrom(
            pb.VideoSegment(
                input_path=media.input(record.image_format),
                first_frame=segment.first_frame,
                frame_count=segment.frame_count,
                seek_pts=segment.seek_pts,
                first_pts=segment.first_pts,
                seekable=info.seekable,
                frame_width=info.width,
                frame_height=info.height,
            )
        )
        return options

    def _kept_plan(self, path: Path, info: VideoInfo) -> list[SegmentPlan]:
        """The segments planned on the task's first attempt. A retry (often after a face service was lost, which
        changes the plan) must mean the same frames by the segment numbers of the work files already saved."""
        if path.is_file():
            return [SegmentPlan(**fields) for fields in json.loads(path.read_text())]
        segments = plan_segments(
            info,
            max(1, self.face_workers()),
            self.settings.video_segment_seconds,
            self.settings.video_segment_max_frames,
        )
        _write_atomically(path, [json.dumps([asdict(segment) for segment in segments])])
        return segments

    @staticmethod
    def _load_probe(path: Path) -> VideoInfo:
        try:
            return VideoInfo.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise VideoRefused("the uploaded video is no longer in the media directory (GATEWAY_MEDIA_DIR)") from None


class _Progress:
    """Frames detected plus frames anonymized, over twice the frames: reported as frames_done of frames_total."""

    def __init__(self, store: TaskStore, task_id: str, frame_count: int) -> None:
        self._store, self._task_id, self._total = store, task_id, frame_count
        self._steps = 0

    async def add(self, frames: int) -> None:
        self._steps += frames
        await self._store.set_progress(self._task_id, min(self._steps // 2, self._total), self._total)


async def _all(jobs: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run the jobs at once; the first failure cancels the others and is raised as itself, so the dispatcher
    retries an unanswered job and fails a refused one as it does for images."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task in done and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _video_job(send: Send, options: pb.JobOptions, doing: str) -> JobAnswer:
    answer = await send(options, b"")
    if answer.error is not None:
        raise VideoRefused(f"{doing}: {answer.error.message} ({answer.error.code.name})")
    assert answer.result is not None
    return answer


def _frames(segment: SegmentPlan) -> str:
    return f"{segment.first_frame}-{segment.first_frame + segment.frame_count - 1}"


def _detections_of(result: pb.JobResult) -> dict[str, list[list[float]]]:
    return {str(frame.frame): [[f.x1, f.y1, f.x2, f.y2, f.confidence] for f in frame.faces] for frame in result.frames}


def _as_arrays(stored: dict[str, list[list[float]]]) -> Detections:
    return {int(frame): np.array(faces, np.float32).reshape(-1, 5) for frame, faces in stored.items()}


def _frame_faces(tracks: list[list[TrackedFace]], segment: SegmentPlan) -> list[pb.FrameFaces]:
    frames = []
    for index in range(segment.first_frame, min(segment.first_frame + segment.frame_count, len(tracks))):
        if tracks[index]:
            faces = [
                pb.Face(x1=f.box[0], y1=f.box[1], x2=f.box[2], y2=f.box[3], confidence=f.confidence)
                for f in tracks[index]
            ]
            frames.append(pb.FrameFaces(frame=index, faces=faces))
    return frames


def _write_atomically(path: Path, lines: Iterable[str]) -> None:
    """``lines`` into ``path``, whole or not at all (a temporary file renamed onto it)."""
    temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with temporary.open("w") as file:
        file.writelines(lines)
    os.replace(temporary, path)
