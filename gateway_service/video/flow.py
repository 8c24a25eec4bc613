"""A video task, segment by segment: detect, track over the whole video, hide, join (``VideoFlow``).

1. The upload was probed when it came in (``probe.json``); it is split into segments (``video.plan``), at least
   two per face-service worker when it is long enough and none over GATEWAY_VIDEO_SEGMENT_MAX_FRAMES. The plan is
   kept (``plan.json``), so every attempt means the same frames by the same segment numbers.
2. Every segment gets a detect-video job, as many at once as the connected face services have workers (each
   worker decodes its own segment and runs the detector on every ``detect_every``-th frame), so every core of
   every replica works on the video.
3. The tracker links the faces over the whole video (``video.tracking``): it sees every detection before a
   single frame is hidden, so a face is hidden from the first frame it shows, through the frames the detector
   missed, with no seam at segment joins. The tracks are the task's ``faces.jsonl``.
4. Every segment gets a blur-video job with its frames' boxes; each writes an H.264 segment.
5. The segments and the input's audio are joined into one MP4 (``video.join``).

Every step's output is a file in the task's media directory (``video.storage``), written whole or not at all, so
an attempt that is interrupted (a face service or this dispatcher killed) resumes from the segments already done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from faceblur_proto.media import TaskMedia
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import DEFAULT_VIDEO_PRESET, JobKind, to_proto
from gateway_service.core.config import Settings
from gateway_service.dispatcher.flow import Flow, Refusal, Send, TaskOutput, TaskRefused, answer
from gateway_service.dispatcher.results import job_options_message
from gateway_service.tasks.models import TaskRecord, TaskStatus
from gateway_service.tasks.store import TaskStore
from gateway_service.video.info import VideoInfo
from gateway_service.video.join import JoinFailed, join_segments
from gateway_service.video.plan import SegmentPlan, plan_segments
from gateway_service.video.storage import MediaStore
from gateway_service.video.tracking import TrackedFace, track_count, track_faces, tracks_jsonl_lines

Detections = dict[int, np.ndarray]  # frame index -> [N, 5] x1, y1, x2, y2, confidence

_INPUT_GONE = "the uploaded video is no longer in the media directory (GATEWAY_MEDIA_DIR)"


@dataclass(frozen=True)
class VideoFlow(Flow[VideoInfo]):
    """blur_video: its input is the upload in the media directory, described by its probe."""

    settings: Settings
    tasks: TaskStore
    media: MediaStore
    face_workers: Callable[[], int]  # workers of the connected face services now

    async def load(self, task: TaskRecord) -> VideoInfo | Refusal:
        files = TaskMedia(task.task_id)
        try:
            info = VideoInfo.from_json(self.media.read_json(files.probe))
        except FileNotFoundError:
            return Refusal(_INPUT_GONE)
        if not self.media.exists(files.input(task.image_format)):
            return Refusal(_INPUT_GONE)
        return info

    async def output(self, task: TaskRecord, inputs: VideoInfo, send: Send) -> TaskOutput:
        info = inputs
        files = TaskMedia(task.task_id)
        segments = await asyncio.to_thread(self._kept_plan, files, info)
        progress = _Progress(self.tasks, task.task_id, info.frame_count)
        detect_every = self.settings.video_detect_every
        # At most one segment job per connected worker at a time: the others wait here, not in a face service's
        # bounded queue, where they would be turned away as busy or spend their segment timeout.
        per_worker = asyncio.Semaphore(max(1, self.face_workers()))
        timings: list[pb.StageTimings] = []

        async def job(options: pb.JobOptions, doing: str) -> pb.JobResult:
            async with per_worker:
                done = await answer(send, options, doing=doing, timeout=self.settings.video_segment_timeout_seconds)
            timings.append(done.result.timings)
            return done.result

        detections: Detections = {}
        model = ""

        async def detect(segment: SegmentPlan) -> None:
            nonlocal model
            path = files.detections(segment.index)
            if self.media.exists(path):  # done by an earlier attempt
                stored = self.media.read_json(path)
            else:
                options = self._segment_options(task, JobKind.DETECT_VIDEO, files, info, segment)
                options.video.detect_every = detect_every
                result = await job(options, f"detecting faces in frames {_frames(segment)}")
                model = model or result.model
                stored = _detections_of(result)
                self.media.write_json(path, stored)
            detections.update(_as_arrays(stored))
            await progress.add(segment.frame_count)

        await _all(detect(segment) for segment in segments)

        tracks = await asyncio.to_thread(track_faces, detections, info.frame_count, detect_every, info.fps)
        lines = (line + "\n" for line in tracks_jsonl_lines(tracks, info.fps, (info.width, info.height)))
        await asyncio.to_thread(self.media.write_lines, files.faces, lines)

        async def hide(segment: SegmentPlan) -> None:
            if not self.media.exists(files.segment(segment.index)):
                options = self._segment_options(task, JobKind.BLUR_VIDEO, files, info, segment)
                options.video.output_path = files.segment(segment.index)
                options.video.crf = task.options.crf if task.options.crf is not None else self.settings.video_crf
                options.video.frames.extend(_frame_faces(tracks, segment))
                await job(options, f"anonymizing frames {_frames(segment)}")
            await progress.add(segment.frame_count)

        await _all(hide(segment) for segment in segments)

        segment_paths = [self.media.path(files.segment(segment.index)) for segment in segments]
        input_path = self.media.path(files.input(task.image_format))
        try:
            joined = await asyncio.to_thread(
                join_segments, segment_paths, input_path, info, self.media.path(files.video)
            )
        except JoinFailed as failed:
            raise TaskRefused(f"joining the anonymized segments failed: {failed}") from None
        video = {
            "video_url": f"/task_result/{task.task_id}/video",
            "faces_url": f"/task_result/{task.task_id}/faces",
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
            "size_bytes": self.media.size(files.video),
        }
        preset = task.options.preset.value if task.options.preset else DEFAULT_VIDEO_PRESET
        return TaskOutput({"video": video, "preset": preset, "model": model}, timings=tuple(timings))

    async def ended(self, task_id: str, status: TaskStatus) -> None:
        """A finished task keeps only its results; a failed one keeps nothing."""
        remove = self.media.remove_work if status is TaskStatus.SUCCESS else self.media.remove_task
        await asyncio.to_thread(remove, task_id)

    async def upkeep(self) -> None:
        await self.media.sweep_expired(self.tasks.exists)

    def _segment_options(
        self, task: TaskRecord, kind: JobKind, files: TaskMedia, info: VideoInfo, segment: SegmentPlan
    ) -> pb.JobOptions:
        options = job_options_message(task.kind, task.options)
        options.kind = to_proto(kind)
        if not options.preset:
            options.preset = DEFAULT_VIDEO_PRESET
        options.video.CopyFrom(
            pb.VideoSegment(
                input_path=files.input(task.image_format),
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

    def _kept_plan(self, files: TaskMedia, info: VideoInfo) -> list[SegmentPlan]:
        """The segments planned on the task's first attempt. A retry (often after a face service was lost, which
        changes the plan) must mean the same frames by the segment numbers of the work files already saved."""
        if self.media.exists(files.plan):
            return [SegmentPlan(**fields) for fields in self.media.read_json(files.plan)]
        segments = plan_segments(
            info,
            max(1, self.face_workers()),
            self.settings.video_segment_seconds,
            self.settings.video_segment_max_frames,
        )
        self.media.write_json(files.plan, [asdict(segment) for segment in segments])
        return segments


class _Progress:
    """Frames detected plus frames anonymized, over twice the frames: reported as frames_done of frames_total."""

    def __init__(self, tasks: TaskStore, task_id: str, frame_count: int) -> None:
        self._tasks, self._task_id, self._total = tasks, task_id, frame_count
        self._steps = 0

    async def add(self, frames: int) -> None:
        self._steps += frames
        await self._tasks.set_progress(self._task_id, min(self._steps // 2, self._total), self._total)


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
