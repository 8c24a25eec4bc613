"""Video segment jobs: decoding a stretch of a video, detecting on every n-th frame, hiding faces in an MP4 segment.

Clips are made here with PyAV from the reference photo (two large faces), 640x360, a short GOP and B-frames, so
that segments start mid-file and input timestamps are not in decoding order.
"""

from __future__ import annotations

import errno
from fractions import Fraction
from pathlib import Path

import av
import cv2
import grpc
import numpy as np
import pytest

from face_detection_service.anonymize import AnonymizeOptions
from face_detection_service.client import FaceServiceClient
from face_detection_service.detection.loader import load_detector
from face_detection_service.detection.presets import get_preset
from face_detection_service.detection.types import Detections
from face_detection_service.video import encoding
from face_detection_service.video.decoding import Segment, decode_segment, open_video
from face_detection_service.video.encoding import VideoOutputError
from face_detection_service.video.jobs import BlurVideoSpec, DetectVideoSpec, run_blur_video, run_detect_video
from face_detection_service.video.planes import upright_rgb
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import Mask, Mode
from tests.videos import write_clip, write_h264, write_resizing_clip

from .faces import reference_boxes
from .support import MODEL, REFERENCE_IMAGE, FaceServiceProcess

pytestmark = pytest.mark.timeout(180)

WIDTH, HEIGHT, FRAMES, GOP = 640, 360, 48, 8
SCALE = WIDTH / 1634  # the reference photo is 1634 x 1000; the clip is its middle 360 rows at this scale
TOP = (round(1000 * SCALE) - HEIGHT) // 2


def upright_frames() -> list[np.ndarray]:
    """RGB frames of the reference photo, drifting one pixel right per frame so every frame differs."""
    photo = cv2.cvtColor(cv2.imread(str(REFERENCE_IMAGE)), cv2.COLOR_BGR2RGB)
    photo = cv2.resize(photo, (WIDTH, round(1000 * SCALE)), interpolation=cv2.INTER_AREA)
    photo = cv2.copyMakeBorder(photo, 0, 0, FRAMES, 0, cv2.BORDER_REPLICATE)
    return [np.ascontiguousarray(photo[TOP : TOP + HEIGHT, FRAMES - i : FRAMES - i + WIDTH]) for i in range(FRAMES)]


def make_clip(path: Path, frames: list[np.ndarray], rotation: int = 0) -> None:
    """An H.264 MP4 at 25 fps with a keyframe every GOP frames, B-frames, and (if given) a display rotation."""
    height, width = frames[0].shape[:2]
    options = {"g": str(GOP), "crf": "12", "preset": "veryfast", "bf": "2", "sc_threshold": "0"}
    write_h264(path, frames, 25, (width, height), options, rotation=rotation)


def full_decode(path: Path) -> list[tuple[int, np.ndarray]]:
    """(pts, upright RGB) of every frame, in presentation order."""
    container, stream = open_video(path)
    with container:
        return [
            (d.pts, upright_rgb(d.frame, d.rotation))
            for d in decode_segment(container, stream, Segment(path, 0, 10**6))
        ]


def keyframe_pts(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return sorted(p.pts for p in container.demux(container.streams.video[0]) if p.is_keyframe and p.pts is not None)


def segment(path: Path, pts: list[int], first: int, count: int, seekable: bool = True) -> Segment:
    """The segment the gateway would ask for: seek to the keyframe at or before the first frame."""
    seek = max(k for k in keyframe_pts(path) if k <= pts[first])
    return Segment(path, first, count, seek_pts=seek, first_pts=pts[first], seekable=seekable)


def packets(path: Path) -> tuple[Fraction, list[tuple[int, int]]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.time_base, [(p.pts, p.dts) for p in container.demux(stream) if p.size]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("media")
    frames = upright_frames()
    make_clip(directory / "clip.mp4", frames)
    # Stored turned a quarter clockwise, shown turned back: a phone held upright.
    make_clip(directory / "rotated.mp4", [np.ascontiguousarray(np.rot90(f, -1)) for f in frames[:12]], rotation=90)
    (directory / "notes.txt").write_text("not a video\n" * 50)
    (directory / "fake.mp4").write_text("not a video either\n" * 50)
    return directory


@pytest.fixture(scope="module")
def clip(media: Path) -> tuple[Path, list[tuple[int, np.ndarray]]]:
    path = media / "clip.mp4"
    return path, full_decode(path)


@pytest.fixture(scope="module")
def detector():
    return load_detector(MODEL, 1)


def detect_spec(seg: Segment, every: int = 1) -> DetectVideoSpec:
    return DetectVideoSpec(segment=seg, preset=get_preset("fast"), detect_every=every)


def blur_spec(seg: Segment, output: Path, faces: dict[int, Detections], **anonymize) -> BlurVideoSpec:
    return BlurVideoSpec(
        segment=seg,
        faces=faces,
        anonymize=AnonymizeOptions(**anonymize),
        output_path=output,
        crf=16,
        encoder_preset="superfast",
    )


def reference_faces(count: int, shift: int = 0) -> Detections:
    """The reference photo's two faces as they sit in clip frame ``shift``."""
    boxes = np.array(sorted(reference_boxes()), np.float32) * SCALE + [shift, -TOP, shift, -TOP]
    boxes = np.clip(boxes, 0, [WIDTH, HEIGHT, WIDTH, HEIGHT]).astype(np.float32)
    return Detections(boxes, np.ones(len(boxes), np.float32))


def faces_on_every_frame() -> dict[int, Detections]:
    return {i: reference_faces(2, shift=i) for i in range(FRAMES)}


# --- decoding ------------------------------------------------------------------------------------------------


def test_a_mid_file_segment_gives_exactly_its_frames_with_global_indexes_and_pts(clip):
    path, everything = clip
    pts = [p for p, _ in everything]
    assert len(everything) == FRAMES and pts == sorted(pts)
    first, count = 19, 13  # neither end on a keyframe
    assert pts[first] not in keyframe_pts(path)

    for seekable in (True, False):
        container, stream = open_video(path)
        with container:
            got = list(decode_segment(container, stream, segment(path, pts, first, count, seekable)))
        assert [d.index for d in got] == list(range(first, first + count)), seekable
        assert [d.pts for d in got] == pts[first : first + count]
        for decoded, (_, expected) in zip(got, everything[first : first + count], strict=True):
            assert np.array_equal(upright_rgb(decoded.frame, decoded.rotation), expected)


def test_a_segment_past_the_end_gives_the_frames_that_are_left(clip):
    path, everything = clip
    pts = [p for p, _ in everything]
    container, stream = open_video(path)
    with container:
        got = list(decode_segment(container, stream, segment(path, pts, FRAMES - 5, 100)))
    assert [d.index for d in got] == list(range(FRAMES - 5, FRAMES))


def test_a_rotated_clip_gives_upright_frames(media, clip):
    _, upright = clip
    rotated = full_decode(media / "rotated.mp4")
    assert len(rotated) == 12
    for (_, got), (_, expected) in zip(rotated, upright, strict=False):
        assert got.shape == (HEIGHT, WIDTH, 3)
        assert np.abs(got.astype(int) - expected).mean() < 3


def test_a_corrupt_stretch_of_the_file_is_skipped_not_fatal(media, clip):
    path = media / "corrupt.mp4"
    data = bytearray((media / "clip.mp4").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = bytes(range(256)) * 11 + bytes(184)
    path.write_bytes(bytes(data))
    container, stream = open_video(path)
    with container:
        got = list(decode_segment(container, stream, Segment(path, 0, FRAMES)))
    assert len(got) >= FRAMES // 2


# --- detect-video ---------------------------------------------------------------------------------------------


def test_detect_video_runs_on_exactly_the_multiples_of_detect_every(clip, detector):
    path, everything = clip
    pts = [p for p, _ in everything]
    result = run_detect_video(detect_spec(segment(path, pts, 10, 20), every=3), detector)

    assert [index for index, _ in result.frames] == [i for i in range(10, 30) if i % 3 == 0]
    assert result.frames_done == 20 and (result.width, result.height) == (WIDTH, HEIGHT)
    for index, faces in result.frames:
        assert len(faces) == 2, index
        expected = reference_faces(2, shift=index).boxes
        assert np.abs(faces.boxes - expected).max() < 25, index


def test_detect_video_on_a_rotated_clip_gives_boxes_in_upright_pixels(media, clip, detector):
    path, _ = clip
    upright = run_detect_video(detect_spec(Segment(path, 0, 4)), detector)
    rotated = run_detect_video(detect_spec(Segment(media / "rotated.mp4", 0, 4)), detector)

    assert (rotated.width, rotated.height) == (WIDTH, HEIGHT)
    for (_, expected), (_, got) in zip(upright.frames, rotated.frames, strict=True):
        assert len(got) == len(expected) == 2
        assert np.abs(got.boxes - expected.boxes).max() < 6


# --- a resolution change mid-stream ---------------------------------------------------------------------------

FIRST_SIZE = (480, 270)


@pytest.fixture(scope="module")
def resizing(media: Path) -> Path:
    """2 s at 480x270, then 640x360 from frame 25 on: ``steady`` scaled, frame by frame."""
    return write_resizing_clip(media / "resizing.ts", [FIRST_SIZE, (640, 360)])


@pytest.fixture(scope="module")
def steady(media: Path) -> Path:
    return write_clip(media / "steady.mp4", seconds=2.0, size=FIRST_SIZE, audio=False)


def test_a_resolution_change_mid_stream_is_scaled_to_the_size_asked_for(resizing):
    assert {frame.shape for _, frame in full_decode(resizing)} == {(270, 480, 3), (360, 640, 3)}
    container, stream = open_video(resizing)
    with container:
        frames = list(decode_segment(container, stream, Segment(resizing, 0, 10**6, frame_size=FIRST_SIZE)))
    assert len(frames) == 50
    assert {(d.frame.width, d.frame.height) for d in frames} == {FIRST_SIZE}


def test_a_rotated_frame_is_scaled_to_the_size_as_shown(media, clip):
    _, upright = clip
    shown = (WIDTH // 2, HEIGHT // 2)
    path = media / "rotated.mp4"
    container, stream = open_video(path)
    with container:
        frames = list(decode_segment(container, stream, Segment(path, 0, 4, frame_size=shown)))
    assert [(d.frame.width, d.frame.height) for d in frames] == [(HEIGHT // 2, WIDTH // 2)] * 4  # as stored
    for decoded, (_, expected) in zip(frames, upright, strict=False):
        got = upright_rgb(decoded.frame, decoded.rotation)
        assert got.shape == (HEIGHT // 2, WIDTH // 2, 3)
        assert np.abs(got.astype(int) - cv2.resize(expected, shown, interpolation=cv2.INTER_AREA)).mean() < 4


def test_detect_video_gives_boxes_of_the_first_size_after_a_resolution_change(resizing, steady, detector):
    changed = run_detect_video(detect_spec(Segment(resizing, 0, 50, frame_size=FIRST_SIZE)), detector)
    same = run_detect_video(detect_spec(Segment(steady, 0, 50)), detector)

    assert (changed.frames_done, changed.width, changed.height) == (50, *FIRST_SIZE)
    for (index, got), (_, expected) in zip(changed.frames, same.frames, strict=True):
        assert len(got) == len(expected) >= 1, index
        assert np.abs(got.boxes - expected.boxes).max() < 8, index


def test_a_blurred_segment_after_a_resolution_change_is_written_at_the_first_size(resizing, tmp_path):
    """Segments are joined by remuxing, so each must have the size of the first, wherever it starts."""
    output = tmp_path / "out.mp4"
    result = run_blur_video(blur_spec(Segment(resizing, 30, 20, seekable=False, frame_size=FIRST_SIZE), output, {}))
    assert (result.frames_done, result.width, result.height) == (20, *FIRST_SIZE)
    assert [frame.shape for _, frame in full_decode(output)] == [(270, 480, 3)] * 20


# --- blur-video -----------------------------------------------------------------------------------------------


def test_two_blurred_segments_joined_have_the_inputs_frames_and_timestamps(clip, tmp_path):
    path, everything = clip
    pts = [p for p, _ in everything]
    split = 21
    first = run_blur_video(blur_spec(segment(path, pts, 0, split), tmp_path / "a.mp4", faces_on_every_frame()))
    second = run_blur_video(blur_spec(segment(path, pts, split, FRAMES), tmp_path / "b.mp4", faces_on_every_frame()))
    assert (first.frames_done, second.frames_done) == (split, FRAMES - split)

    with av.open(str(path)) as original:
        input_base = original.streams.video[0].time_base
    joined = []
    for part in ("a.mp4", "b.mp4"):
        time_base, written = packets(tmp_path / part)
        assert time_base == input_base
        assert all(p == d for p, d in written), "every packet's dts must equal its pts (no B-frames)"
        joined += sorted(p for p, _ in written)
        with av.open(str(tmp_path / part)) as output:
            assert output.streams.video[0].codec_context.has_b_frames == 0
            assert not {
                k: v
                for k, v in output.streams.video[0].metadata.items()
                if k not in ("language", "handler_name", "vendor_id")
            }
    assert joined == pts
    assert not list(tmp_path.glob("*.tmp-*"))


def test_blurred_faces_change_and_the_rest_of_the_frame_does_not(clip, tmp_path):
    path, everything = clip
    output = tmp_path / "blurred.mp4"
    run_blur_video(blur_spec(Segment(path, 0, 6), output, faces_on_every_frame(), mask=Mask.BOX, box_scale=1.0))
    blurred = full_decode(output)

    assert len(blurred) == 6
    for (index, (_, got)), (_, original) in zip(enumerate(blurred), everything, strict=False):
        outside = np.ones((HEIGHT, WIDTH), bool)
        for x1, y1, x2, y2 in reference_faces(2, shift=index).boxes.round().astype(int):
            inside = np.abs(got[y1:y2, x1:x2].astype(int) - original[y1:y2, x1:x2])
            assert inside.mean() > 8, index
            outside[max(0, y1 - 4) : y2 + 4, max(0, x1 - 4) : x2 + 4] = False
        assert np.abs(got.astype(int) - original)[outside].mean() < 2.5, index


def test_solid_mode_fills_faces_with_black_not_green(clip, tmp_path):
    path, _ = clip
    output = tmp_path / "solid.mp4"
    run_blur_video(blur_spec(Segment(path, 0, 2), output, faces_on_every_frame(), mode=Mode.SOLID, mask=Mask.BOX))
    _, frame = full_decode(output)[0]
    x1, y1, x2, y2 = reference_faces(2).boxes[0].round().astype(int)
    red, green, blue = frame[y1 + 4 : y2 - 4, x1 + 4 : x2 - 4].reshape(-1, 3).mean(axis=0)
    assert max(red, green, blue) < 24 and abs(green - red) < 6 and abs(green - blue) < 6


def test_a_rotated_clip_is_written_upright(media, tmp_path):
    output = tmp_path / "upright.mp4"
    result = run_blur_video(blur_spec(Segment(media / "rotated.mp4", 0, 12), output, {}))
    assert (result.width, result.height) == (WIDTH, HEIGHT)
    with av.open(str(output)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height, frame.rotation) == (WIDTH, HEIGHT, 0)


def test_a_full_disk_leaves_no_file_and_says_so(clip, tmp_path, monkeypatch):
    path, _ = clip
    real_open = encoding.open_output

    class FullDisk:
        def __init__(self, target: Path):
            self.container = real_open(target)

        def __getattr__(self, name):
            return getattr(self.container, name)

        def mux(self, packets):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(encoding, "open_output", FullDisk)
    output = tmp_path / "full.mp4"
    with pytest.raises(VideoOutputError, match=r"writing the video segment failed: \[Errno 28\] No space left"):
        run_blur_video(blur_spec(Segment(path, 0, 12), output, {}))
    assert list(tmp_path.iterdir()) == []


# --- through the real gRPC service ----------------------------------------------------------------------------


MAX_PIXELS = 300_000  # above the clips' 640x360


@pytest.fixture(scope="module")
def video_service(media: Path):
    service = FaceServiceProcess(
        FACE_MEDIA_DIR=str(media),
        FACE_WORKERS="1",
        FACE_VIDEO_ENCODER_PRESET="superfast",
        FACE_MAX_PIXELS=str(MAX_PIXELS),
    )
    yield service
    service.terminate()


@pytest.fixture()
def video_client(video_service):
    with FaceServiceClient(video_service.address) as face_client:
        yield face_client


def video_job(kind: int, **video) -> tuple[bytes, pb.JobOptions]:
    return b"", pb.JobOptions(kind=kind, video=pb.VideoSegment(**video))


def test_grpc_detect_video_lists_every_detected_frame_with_boxes_and_landmarks(video_client):
    (answer,) = video_client.run_jobs(
        [video_job(pb.JOB_KIND_DETECT_VIDEO, input_path="clip.mp4", first_frame=0, frame_count=10, detect_every=4)]
    )
    assert answer.error is None, answer.error
    result = answer.result
    assert result.frames_done == 10 and (result.image_width, result.image_height) == (WIDTH, HEIGHT)
    assert [f.frame for f in result.frames] == [0, 4, 8]
    for entry in result.frames:
        assert len(entry.faces) == 2
        for face in entry.faces:
            assert 0 < face.confidence <= 1 and len(face.landmarks) == 5 and face.x1 < face.x2


def test_grpc_blur_video_writes_the_segment_in_the_media_dir(video_client, media, clip):
    path, everything = clip
    pts = [p for p, _ in everything]
    seg = segment(path, pts, 10, 8)
    boxes = reference_faces(2, shift=12).boxes
    faces = [pb.Face(x1=b[0], y1=b[1], x2=b[2], y2=b[3], confidence=1) for b in boxes]
    (answer,) = video_client.run_jobs(
        [
            video_job(
                pb.JOB_KIND_BLUR_VIDEO,
                input_path="clip.mp4",
                first_frame=10,
                frame_count=8,
                seek_pts=seg.seek_pts,
                first_pts=seg.first_pts,
                seekable=True,
                output_path="tasks/t1/work/segment-00000.mp4",
                crf=20,
                frames=[pb.FrameFaces(frame=12, faces=faces)],
            )
        ]
    )
    assert answer.error is None, answer.error
    assert answer.result.frames_done == 8 and not answer.result.frames
    written = full_decode(media / "tasks/t1/work/segment-00000.mp4")
    assert [p for p, _ in written] == pts[10:18]
    x1, y1, x2, y2 = boxes[0].round().astype(int)
    changed = [
        np.abs(f[y1:y2, x1:x2].astype(int) - o[y1:y2, x1:x2]).mean()
        for (_, f), (_, o) in zip(written, everything[10:18], strict=True)
    ]
    assert changed[2] > 8 and max(changed[:2] + changed[3:]) < 5


@pytest.mark.parametrize(
    ("video", "problem"),
    [
        ({"input_path": "../clip.mp4"}, "inside the media directory"),
        ({"input_path": "/etc/passwd"}, "inside the media directory"),
        ({"input_path": "notes.txt"}, "'notes.txt' has no video stream"),
        ({"input_path": "fake.mp4"}, "cannot open 'fake.mp4' as a video"),
        ({"input_path": "missing.mp4"}, "does not exist"),
        ({"input_path": "clip.mp4", "detect_every": 31}, "detect_every"),
        ({"input_path": "clip.mp4", "frame_count": 0}, "frame_count"),
        ({"input_path": "clip.mp4", "frame_width": 640}, "frame_width and frame_height"),
        ({"input_path": "clip.mp4", "frame_width": 1000, "frame_height": 1000}, "over FACE_MAX_PIXELS"),
    ],
    ids=[
        "parent",
        "absolute",
        "text-file",
        "fake-mp4",
        "missing",
        "detect-every",
        "frame-count",
        "half-a-size",
        "size-over-the-pixel-limit",
    ],
)
def test_grpc_bad_video_jobs_get_invalid_argument(video_client, video, problem):
    (answer,) = video_client.run_jobs([video_job(pb.JOB_KIND_DETECT_VIDEO, **({"frame_count": 4} | video))])
    assert answer.error_code is grpc.StatusCode.INVALID_ARGUMENT
    assert problem in answer.error.message


def test_grpc_a_video_that_grows_past_the_pixel_limit_mid_stream_is_refused_naming_it(video_client, media):
    """The gateway's probe sees only the first frame; a later one may claim any size (a decompression bomb)."""
    write_resizing_clip(media / "growing.ts", [FIRST_SIZE, (960, 540)])
    (answer,) = video_client.run_jobs(
        [
            video_job(
                pb.JOB_KIND_DETECT_VIDEO, input_path="growing.ts", frame_count=50, frame_width=480, frame_height=270
            )
        ]
    )
    assert answer.error_code is grpc.StatusCode.INVALID_ARGUMENT
    assert answer.error.message == (
        "frame 25 is 960x540 = 0.5 megapixels; the limit is 0.3 megapixels (FACE_MAX_PIXELS)"
    )


def test_grpc_blur_video_outside_the_media_dir_or_bad_crf_is_invalid(video_client):
    for video, problem in (
        ({"output_path": "../escape.mp4", "crf": 20}, "inside the media directory"),
        ({"output_path": "out.mp4", "crf": 60}, "crf"),
    ):
        (answer,) = video_client.run_jobs(
            [video_job(pb.JOB_KIND_BLUR_VIDEO, input_path="clip.mp4", frame_count=4, **video)]
        )
        assert answer.error_code is grpc.StatusCode.INVALID_ARGUMENT and problem in answer.error.message


def test_grpc_a_failed_write_is_internal_and_leaves_nothing(video_client, media):
    (media / "taken").mkdir()
    (answer,) = video_client.run_jobs(
        [video_job(pb.JOB_KIND_BLUR_VIDEO, input_path="clip.mp4", frame_count=4, output_path="taken", crf=20)]
    )
    assert answer.error_code is grpc.StatusCode.INTERNAL
    assert answer.error.message.startswith("writing the video segment failed:")
    assert not list(media.glob("taken.tmp-*"))
