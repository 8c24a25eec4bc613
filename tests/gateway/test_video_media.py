"""The gateway's video media steps, in process: probe an upload, plan its segments, join blurred segments.

Clips are made here with PyAV (320x240, 25 fps, a few seconds). ``encode_segment`` stands in for the face
service's blur-video job: it decodes a planned segment (seek to seek_pts, drop frames before first_pts), turns it
upright and encodes it with libx264 without B-frames, in the input's time base with the input's pts.
"""

from __future__ import annotations

import itertools
import math
import struct
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from gateway_service.video.info import VideoInfo, VideoLimits
from gateway_service.video.join import JoinedVideo, JoinFailed, join_segments
from gateway_service.video.plan import SegmentPlan, plan_segments
from gateway_service.video.probe import VideoRejected, probe_video
from tests.videos import h264_stream, mux_frames, write_h264

WIDTH, HEIGHT, FPS = 320, 240, 25
LIMITS = VideoLimits(max_duration_seconds=1800, max_width=3840, max_height=2160, max_frames=108_000)
SAMPLE_RATE = 44100


# --- clips ---------------------------------------------------------------------------------------------------


def make_clip(
    path: Path,
    *,
    seconds: float = 2.0,
    gop: int = 12,
    bframes: int = 0,
    audio: str | None = "aac",
    rotation: int | None = None,
    container_format: str | None = None,
) -> Path:
    """A moving test pattern, ``seconds`` long at 25 fps, with a 440 Hz tone in ``audio`` (an encoder name)."""
    frames = map(_test_pattern, range(round(seconds * FPS)))
    keyframes = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}  # every gop frames, no others
    options = {"preset": "ultrafast", "bf": str(bframes), **keyframes}
    write_h264(path, frames, FPS, (WIDTH, HEIGHT), options, container=container_format, rotation=rotation)
    if audio:
        _add_audio(path, audio, seconds, container_format)
    return path


def _test_pattern(index: int) -> np.ndarray:
    """Frame ``index`` of the clips: a 24-pixel bar moving 6 pixels a frame, over a green level stepping 5 a frame."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:, (index * 6) % WIDTH : (index * 6) % WIDTH + 24] = 255
    image[..., 1] = index * 5 % 256
    return image


def _add_audio(path: Path, codec: str, seconds: float, container_format: str | None) -> None:
    """Remux ``path``'s video with a tone encoded by ``codec`` (streams must all exist before the header)."""
    video_only = path.with_name(path.stem + "-video" + path.suffix)
    path.rename(video_only)
    with av.open(str(video_only)) as source, av.open(str(path), "w", format=container_format) as output:
        video_in = source.streams.video[0]
        video_out = output.add_stream_from_template(video_in)
        sound = output.add_stream(codec, rate=SAMPLE_RATE, layout="mono")
        sample_format = "fltp" if codec == "aac" else "s16"
        size = sound.codec_context.frame_size or 1024
        total = round(seconds * SAMPLE_RATE)
        audio_packets = []
        for start in range(0, total, size):
            count = min(size, total - start)
            tone = 0.3 * np.sin(2 * math.pi * 440 * np.arange(start, start + count) / SAMPLE_RATE)
            samples = tone.astype(np.float32) if sample_format == "fltp" else (tone * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(samples[None, :], format=sample_format, layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            audio_packets.extend(sound.encode(frame))
        audio_packets.extend(sound.encode(None))
        for packet in source.demux(video_in):
            if packet.size:
                packet.stream = video_out
                output.mux(packet)
        for packet in audio_packets:
            output.mux(packet)
    video_only.unlink()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("clips")
    return SimpleNamespace(
        short_gop=make_clip(folder / "short_gop.mp4", seconds=3.0, gop=12),
        long_gop=make_clip(folder / "long_gop.mp4", seconds=3.0, gop=60, bframes=2),
        mkv=make_clip(folder / "clip.mkv", seconds=2.0, gop=25, container_format="matroska"),
        pcm=make_clip(folder / "pcm.mkv", seconds=2.0, gop=25, audio="pcm_s16le", container_format="matroska"),
        portrait=make_clip(folder / "portrait.mp4", seconds=1.0, gop=12, rotation=90),
        silent=make_clip(folder / "silent.mp4", seconds=1.0, gop=12, audio=None),
    )


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as output:
        sound = output.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        for index in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = SAMPLE_RATE, index * 1024
            output.mux(sound.encode(frame))
        output.mux(sound.encode(None))
    return path


# --- the face service's blur-video job, as far as the join needs it -----------------------------------------


def encode_segment(input_path: Path, info: VideoInfo, plan: SegmentPlan, output_path: Path) -> Path:
    """Decode ``plan``'s frames of ``input_path`` and write them, upright, as an H.264 MP4 without B-frames whose
    codec time base is the input stream's and whose pts are the input frames' pts."""
    time_base = info.time_base
    options = {"preset": "ultrafast", "bf": "0", "crf": "23"}
    with av.open(str(input_path)) as source, av.open(str(output_path), "w", format="mp4") as output:
        stream = source.streams.video[0]
        encoder = h264_stream(output, info.frame_rate, (info.width, info.height), options)
        encoder.time_base = time_base
        encoder.codec_context.time_base = time_base
        if info.seekable:
            source.seek(plan.seek_pts, stream=stream, backward=True)
        written = 0
        skipped = 0
        for frame in source.decode(stream):
            if info.seekable and frame.pts < plan.first_pts:
                continue
            if not info.seekable and skipped < plan.first_frame:
                skipped += 1
                continue
            image = frame.to_ndarray(format="rgb24")
            if info.rotation:
                image = np.ascontiguousarray(np.rot90(image, info.rotation // 90))
            upright = av.VideoFrame.from_ndarray(image, format="rgb24")
            upright.pts = frame.pts
            upright.time_base = time_base
            output.mux(encoder.encode(upright))
            written += 1
            if written == plan.frame_count:
                break
        output.mux(encoder.encode(None))
    assert written == plan.frame_count
    return output_path


def blur_all(clip: Path, info: VideoInfo, plans: list[SegmentPlan], folder: Path) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [encode_segment(clip, info, plan, folder / f"segment-{plan.index:05d}.mp4") for plan in plans]


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(container.streams.audio[0]) if packet.size]


def expected_audio(path: Path, info: VideoInfo) -> list[bytes]:
    """The input's audio packets that the join keeps: every one, byte for byte (copied audio is never trimmed)."""
    return audio_packets(path)


# --- probe ---------------------------------------------------------------------------------------------------


def test_probe_counts_frames_and_keyframes_from_packets(clips: SimpleNamespace) -> None:
    info = probe_video(clips.short_gop, LIMITS)
    assert (info.frame_count, info.width, info.height, info.rotation) == (75, WIDTH, HEIGHT, 0)
    assert info.fps == 25 and (info.fps_num, info.fps_den) == (25, 1)
    assert info.duration_s == pytest.approx(3.0)
    assert info.codec_name == "h264" and info.audio_codec == "aac" and "mp4" in info.format_name
    assert info.seekable and info.start_pts == info.frame_pts[0] == 0
    assert list(info.keyframe_indexes) == [0, 12, 24, 36, 48, 60, 72]
    assert len(info.frame_pts) == 75 and list(info.frame_pts) == sorted(set(info.frame_pts))
    assert VideoInfo.from_json(info.to_json()) == info


def test_probe_sorts_b_frames_into_presentation_order(clips: SimpleNamespace) -> None:
    info = probe_video(clips.long_gop, LIMITS)
    step = info.frame_pts[1] - info.frame_pts[0]
    assert info.frame_count == 75 and list(info.keyframe_indexes) == [0, 60]
    assert list(info.frame_pts) == [info.start_pts + step * index for index in range(75)]


def test_probe_keeps_the_streams_own_time_base(clips: SimpleNamespace) -> None:
    info = probe_video(clips.mkv, LIMITS)
    assert (info.time_base_num, info.time_base_den) == (1, 1000)
    assert info.frame_count == 50 and info.frame_pts[:3] == (0, 40, 80)
    assert info.duration_s == pytest.approx(2.0) and info.format_name.startswith("matroska")


def test_probe_reports_the_size_as_shown(clips: SimpleNamespace) -> None:
    info = probe_video(clips.portrait, LIMITS)
    assert (info.width, info.height, info.rotation) == (HEIGHT, WIDTH, 90)
    assert info.audio_codec == "aac"
    assert probe_video(clips.silent, LIMITS).audio_codec is None


def test_a_header_that_lies_about_the_duration_changes_nothing(clips: SimpleNamespace, tmp_path: Path) -> None:
    data = clips.mkv.read_bytes()
    duration = bytes.fromhex("4489") + b"\x88"  # Matroska's segment Duration: a float64, in milliseconds
    at = data.index(duration) + len(duration)
    liar = tmp_path / "liar.mkv"
    liar.write_bytes(data[:at] + struct.pack(">d", 7_200_000.0) + data[at + 8 :])
    with av.open(str(liar)) as container:
        assert container.duration / 1_000_000 > 3600  # the header says two hours
    info = probe_video(liar, VideoLimits(10, 3840, 2160, 1000))
    assert info.frame_count == 50 and info.duration_s == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("limits", "words"),
    [
        (VideoLimits(2.5, 3840, 2160, 108_000), ["3 s long", "2.5 s", "GATEWAY_VIDEO_MAX_DURATION_SECONDS"]),
        (VideoLimits(1800, 300, 200, 108_000), ["320x240", "300x200", "GATEWAY_VIDEO_MAX_RESOLUTION"]),
        (VideoLimits(1800, 3840, 2160, 70), ["75 frames", "70", "GATEWAY_VIDEO_MAX_FRAMES"]),
        (VideoLimits(1800, 3840, 2160, 20), ["frames", "20", "GATEWAY_VIDEO_MAX_FRAMES"]),
        (VideoLimits(1, 3840, 2160, 108_000), ["s long", "GATEWAY_VIDEO_MAX_DURATION_SECONDS"]),
    ],
)
def test_each_limit_is_a_413_naming_its_setting(clips: SimpleNamespace, limits: VideoLimits, words: list[str]) -> None:
    with pytest.raises(VideoRejected) as rejected:
        probe_video(clips.short_gop, limits)
    assert rejected.value.status_code == 413
    for word in words:
        assert word in rejected.value.message


def test_the_resolution_limit_takes_either_orientation(clips: SimpleNamespace) -> None:
    settings = SimpleNamespace(video_max_duration_seconds=60.0, video_max_resolution="320x240", video_max_frames=1000)
    limits = VideoLimits.from_settings(settings)
    assert limits == VideoLimits(60.0, 320, 240, 1000)
    assert probe_video(clips.portrait, limits).height == WIDTH  # shown 240x320
    assert probe_video(clips.short_gop, VideoLimits(60, 240, 320, 1000)).width == WIDTH


def test_unreadable_files_are_400s(clips: SimpleNamespace, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n" * 100)
    truncated = tmp_path / "truncated.mp4"  # moov last: half the file has no index
    data = clips.short_gop.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (text, truncated, empty):
        with pytest.raises(VideoRejected) as rejected:
            probe_video(path, LIMITS)
        assert rejected.value.status_code == 400, path
        assert "not a video" in rejected.value.message


def test_a_file_without_video_is_a_400(tmp_path: Path) -> None:
    with pytest.raises(VideoRejected) as rejected:
        probe_video(audio_only(tmp_path / "song.m4a"), LIMITS)
    assert rejected.value.status_code == 400
    assert "no video stream" in rejected.value.message and "audio" in rejected.value.message


def test_a_codec_without_a_decoder_is_a_415(clips: SimpleNamespace, tmp_path: Path) -> None:
    data = clips.mkv.read_bytes()
    for codec_id, named in ((b"V_MPEGH/ISO/VVC", None), (b"V_MPEG4/ISO/ASP", "mpeg4")):
        other = tmp_path / "other.mkv"
        other.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", codec_id))  # H.264 data labelled as another codec
        with pytest.raises(VideoRejected) as rejected:
            probe_video(other, LIMITS)
        assert rejected.value.status_code == 415
        assert "codec" in rejected.value.message and "not supported" in rejected.value.message
        if named:
            assert named in rejected.value.message


def test_a_file_cut_short_in_its_first_frame_is_called_truncated_not_an_unsupported_codec(tmp_path: Path) -> None:
    """The first 30 % of an MP4 whose index comes first (faststart) and whose first frame is most of the file: the
    index names H.264 frames the file no longer holds. The codec is fine; the file is not."""
    still = tmp_path / "still.mp4"
    noise = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8)  # a keyframe of ~100 KB
    with av.open(str(still), "w", format="mp4", options={"movflags": "+faststart"}) as output:
        video = h264_stream(output, FPS, (WIDTH, HEIGHT), {"preset": "ultrafast", "g": str(FPS)})
        mux_frames(output, video, [noise] * FPS)  # the same picture: every frame after the first is a few bytes
    data = still.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 3 // 10])

    assert probe_video(still, LIMITS).frame_count == FPS
    with pytest.raises(VideoRejected) as rejected:
        probe_video(cut, LIMITS)
    assert rejected.value.status_code == 400
    assert "truncated or damaged" in rejected.value.message and "not supported" not in rejected.value.message


def test_a_file_cut_short_keeps_its_whole_frames(clips: SimpleNamespace, tmp_path: Path) -> None:
    faststart = tmp_path / "faststart.mp4"  # index first: the first half still has whole frames
    with (
        av.open(str(clips.silent)) as source,
        av.open(str(faststart), "w", format="mp4", options={"movflags": "+faststart"}) as output,
    ):
        stream = output.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.size:
                packet.stream = stream
                output.mux(packet)
    data = faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    info = probe_video(cut, LIMITS)
    assert 0 < info.frame_count < 25


# --- plan ----------------------------------------------------------------------------------------------------


def _info(frames: int, keyframes: list[int], *, fps: int = 25, seekable: bool = True) -> VideoInfo:
    return VideoInfo(
        format_name="mp4",
        codec_name="h264",
        width=WIDTH,
        height=HEIGHT,
        rotation=0,
        fps=float(fps),
        fps_num=fps,
        fps_den=1,
        time_base_num=1,
        time_base_den=fps * 512,
        frame_count=frames,
        duration_s=frames / fps,
        start_pts=1024,
        frame_pts=tuple(1024 + 512 * index for index in range(frames)),
        keyframe_indexes=tuple(keyframes),
        seekable=seekable,
        audio_codec=None,
    )


def _covers_once(plans: list[SegmentPlan], frames: int) -> None:
    assert plans[0].first_frame == 0 and plans[-1].end_frame == frames
    for before, after in itertools.pairwise(plans):
        assert after.first_frame == before.end_frame and after.index == before.index + 1
    assert sum(plan.frame_count for plan in plans) == frames


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
@pytest.mark.parametrize("gop", [12, 30, 250])
def test_a_plan_covers_every_frame_once_with_seek_points_at_keyframes(workers: int, gop: int) -> None:
    frames = 25 * 60
    info = _info(frames, list(range(0, frames, gop)))
    plans = plan_segments(info, workers, 4.0)
    _covers_once(plans, frames)
    assert len(plans) == min(2 * workers, 15)  # 60 s, 4 s at least
    for plan in plans:
        assert plan.frame_count >= 100  # 4 s
        keyframe = max(key for key in info.keyframe_indexes if key <= plan.first_frame)
        assert plan.seek_pts == info.frame_pts[keyframe] and plan.first_pts == info.frame_pts[plan.first_frame]
        if gop <= 30 and workers <= 3:  # a keyframe near every split, and room to move (8 workers: 4 s each)
            assert plan.first_frame % gop == 0


def test_a_plan_starts_at_the_even_split_when_no_keyframe_is_near() -> None:
    info = _info(1000, [0, 10, 990])
    plans = plan_segments(info, 2, 1.0)
    _covers_once(plans, 1000)
    assert [plan.first_frame for plan in plans] == [0, 250, 500, 750]
    assert {plan.seek_pts for plan in plans[1:]} == {info.frame_pts[10]}


def test_a_plan_obeys_the_shortest_segment() -> None:
    info = _info(250, list(range(0, 250, 12)))  # 10 s
    for minimum, count in ((4.0, 2), (3.0, 3), (2.0, 4), (11.0, 1), (0.0, 4)):
        plans = plan_segments(info, 2, minimum)
        _covers_once(plans, 250)
        assert len(plans) == count, minimum
        assert count == 1 or all(plan.frame_count / 25 >= minimum - 1e-9 for plan in plans)


def test_a_long_video_on_few_workers_is_cut_into_segments_no_longer_than_the_longest() -> None:
    """Two segments per worker would make 20-minute jobs of a 40-minute video on one worker: past the timeout."""
    info = _info(60_000, list(range(0, 60_000, 50)))
    plans = plan_segments(info, 1, 1.0, max_frames=1000)
    _covers_once(plans, 60_000)
    assert len(plans) == 60
    assert all(plan.frame_count <= 1000 and plan.first_frame % 50 == 0 for plan in plans)


def test_keyframes_that_do_not_fall_on_the_longest_segment_add_few_segments() -> None:
    info = _info(54_000, list(range(0, 54_000, 48)), fps=30)  # 30 minutes
    plans = plan_segments(info, 2, 1.0, max_frames=1000)
    _covers_once(plans, 54_000)
    assert 54 <= len(plans) <= 57 and all(plan.frame_count <= 1000 for plan in plans)
    assert sum(plan.first_frame % 48 == 0 for plan in plans) >= 50


def test_the_longest_segment_wins_over_the_shortest() -> None:
    info = _info(250, list(range(0, 250, 12)))  # 10 s: one segment of at least 11 s is impossible
    plans = plan_segments(info, 2, 11.0, max_frames=100)
    _covers_once(plans, 250)
    assert len(plans) == 3 and all(plan.frame_count <= 100 for plan in plans)


def test_a_video_that_cannot_seek_is_cut_only_where_the_longest_segment_requires() -> None:
    info = _info(1000, [0, 250, 500, 750], seekable=False)
    plans = plan_segments(info, 8, 1.0, max_frames=300)
    _covers_once(plans, 1000)
    assert [plan.frame_count for plan in plans] == [250, 250, 250, 250]


def test_a_video_that_cannot_seek_is_one_segment() -> None:
    info = _info(1000, [0, 250, 500, 750], seekable=False)
    assert plan_segments(info, 8, 1.0) == [
        SegmentPlan(index=0, first_frame=0, frame_count=1000, seek_pts=1024, first_pts=1024)
    ]
    assert plan_segments(_info(1, [0]), 4, 1.0) == [SegmentPlan(0, 0, 1, 1024, 1024)]


# --- join ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["short_gop", "long_gop", "mkv"])
def test_joined_segments_are_the_input_with_its_audio(clips: SimpleNamespace, tmp_path: Path, name: str) -> None:
    clip = getattr(clips, name)
    info = probe_video(clip, LIMITS)
    plans = plan_segments(info, 2, 0.5)
    assert len(plans) >= 3
    segments = blur_all(clip, info, plans, tmp_path / "work")
    output = tmp_path / "video.mp4"
    joined = join_segments(segments, clip, info, output)

    assert isinstance(joined, JoinedVideo)
    assert (joined.frames, joined.width, joined.height) == (info.frame_count, WIDTH, HEIGHT)
    assert joined.fps == pytest.approx(25) and joined.duration_s == pytest.approx(info.duration_s, abs=0.1)
    assert joined.audio and joined.audio_copied
    result = probe_video(output, LIMITS)
    assert (result.frame_count, result.width, result.height) == (info.frame_count, WIDTH, HEIGHT)
    assert result.fps == pytest.approx(25) and result.duration_s == pytest.approx(info.duration_s, abs=0.1)
    assert result.start_pts == 0 and result.audio_codec == "aac"

    # The audio is the input's, packet for packet.
    expected = expected_audio(clip, info)
    assert len(expected) >= len(audio_packets(clip)) - 2
    assert audio_packets(output) == expected
    with av.open(str(output)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        assert min(packet.pts for packet in container.demux(container.streams.video[0]) if packet.size) == 0
    assert not list(tmp_path.glob(".*.tmp"))


def test_audio_the_mp4_cannot_hold_is_re_encoded(clips: SimpleNamespace, tmp_path: Path) -> None:
    info = probe_video(clips.pcm, LIMITS)
    assert info.audio_codec == "pcm_s16le"
    segments = blur_all(clips.pcm, info, plan_segments(info, 1, 0.5), tmp_path / "work")
    joined = join_segments(segments, clips.pcm, info, tmp_path / "video.mp4")
    assert joined.audio and not joined.audio_copied and joined.frames == 50
    with av.open(str(tmp_path / "video.mp4")) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        seconds = sum(frame.samples for frame in container.decode(audio)) / audio.codec_context.sample_rate
    assert seconds == pytest.approx(2.0, abs=0.1)


def test_the_output_is_upright_and_carries_no_metadata(clips: SimpleNamespace, tmp_path: Path) -> None:
    tagged = tmp_path / "tagged.mp4"
    with av.open(str(clips.portrait)) as source, av.open(str(tagged), "w", format="mp4") as output:
        output.metadata["location"] = "+48.8584+002.2945/"
        output.metadata["make"] = "ACME phone"
        mapping = {}
        for stream in source.streams:
            mapping[stream.index] = output.add_stream_from_template(stream)
        mapping[0].set_display_rotation(90)
        for packet in source.demux():
            if packet.size:
                packet.stream = mapping[packet.stream_index]
                output.mux(packet)
    with av.open(str(tagged)) as container:
        assert "location" in container.metadata
    info = probe_video(tagged, LIMITS)
    assert (info.width, info.height, info.rotation) == (HEIGHT, WIDTH, 90)
    segments = blur_all(tagged, info, plan_segments(info, 1, 0.4), tmp_path / "work")
    joined = join_segments(segments, tagged, info, tmp_path / "video.mp4")
    assert (joined.width, joined.height, joined.frames) == (HEIGHT, WIDTH, 25)

    with av.open(str(tmp_path / "video.mp4")) as container:
        tags = {key.lower() for key in container.metadata}
        for stream in container.streams:
            tags |= {key.lower() for key in stream.metadata}
        frame = next(container.decode(container.streams.video[0]))
    assert not tags & {"location", "location-eng", "com.apple.quicktime.location.iso6709", "make", "rotate"}
    assert (frame.width, frame.height, frame.rotation or 0) == (HEIGHT, WIDTH, 0)
    assert b"ACME" not in (tmp_path / "video.mp4").read_bytes()


def test_a_failing_join_leaves_no_file(clips: SimpleNamespace, tmp_path: Path) -> None:
    info = probe_video(clips.short_gop, LIMITS)
    plans = plan_segments(info, 2, 0.5)
    segments = blur_all(clips.short_gop, info, plans, tmp_path / "work")
    output = tmp_path / "video.mp4"

    broken = tmp_path / "work" / "broken.mp4"
    broken.write_bytes(b"not an mp4 at all")
    other = tmp_path / "other.mp4"  # different encoder settings: a different SPS/PPS
    options = {"preset": "ultrafast", "bf": "0", "crf": "40", "profile": "main"}
    with av.open(str(clips.short_gop)) as source, av.open(str(other), "w", format="mp4") as out:
        encoder = h264_stream(out, 25, (WIDTH, HEIGHT), options)
        for frame in source.decode(video=0):
            out.mux(encoder.encode(frame))
        out.mux(encoder.encode(None))

    cases = [
        ([], "no segments"),
        ([segments[0], broken], "cannot be read"),
        ([segments[0], other], "SPS/PPS"),
        ([segments[1], segments[0]], "overlaps"),
        ([*segments, segments[-1]], "overlaps"),
    ]
    for paths, words in cases:
        with pytest.raises(JoinFailed, match=words):
            join_segments(paths, clips.short_gop, info, output)
        assert not output.exists()
        assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_audio_that_starts_before_the_video_keeps_the_packet_across_its_start(
    clips: SimpleNamespace, tmp_path: Path
) -> None:
    late = tmp_path / "late.mp4"  # the video starts 10 ms after the audio
    with (
        av.open(str(clips.silent)) as silent,
        av.open(str(clips.short_gop)) as sound,
        av.open(str(late), "w", format="mp4") as output,
    ):
        video = output.add_stream_from_template(silent.streams.video[0])
        audio = output.add_stream_from_template(sound.streams.audio[0])
        shift = round(Fraction(1, 100) / silent.streams.video[0].time_base)
        packets = []
        for packet in silent.demux(silent.streams.video[0]):
            if packet.size:
                packet.pts, packet.dts, packet.stream = packet.pts + shift, packet.dts + shift, video
                packets.append(packet)
        for packet in sound.demux(sound.streams.audio[0]):
            if packet.size and packet.pts * packet.time_base < 1.2:
                packet.stream = audio
                packets.append(packet)
        for packet in sorted(packets, key=lambda packet: packet.dts * packet.time_base):
            output.mux(packet)
    info = probe_video(late, LIMITS)
    assert info.start_pts > 0 and info.duration_s == pytest.approx(1.0)
    segments = blur_all(late, info, plan_segments(info, 1, 0.4), tmp_path / "work")
    joined = join_segments(segments, late, info, tmp_path / "video.mp4")
    assert joined.frames == 25 and joined.audio_copied
    with av.open(str(tmp_path / "video.mp4")) as container:
        first_video = min(packet.pts for packet in container.demux(container.streams.video[0]) if packet.size)
    with av.open(str(tmp_path / "video.mp4")) as container:
        stream = container.streams.audio[0]
        starts = [packet.pts * stream.time_base for packet in container.demux(stream) if packet.size]
    assert first_video == 0
    assert starts[0] < 0 < starts[-1]  # audio before the first frame is kept, with its negative start
    assert audio_packets(tmp_path / "video.mp4") == expected_audio(late, info)
