"""Video face tracking: a face that was found stays hidden in every frame it may be visible in."""

from __future__ import annotations

import json

import numpy as np

from gateway_service.video.tracking import TrackedFace, track_count, track_faces, tracks_jsonl_lines

FPS = 25.0


def face(x: float, y: float, size: float = 60.0, score: float = 0.9) -> list[float]:
    return [x, y, x + size, y + size, score]


def dets(*faces: list[float]) -> np.ndarray:
    return np.array(faces, dtype=np.float32).reshape(-1, 5)


def detected_every(step: int, frames: int, found: dict[int, list[float]]) -> dict[int, np.ndarray]:
    """The detector's output on every ``step``-th of ``frames`` frames: the face in ``found`` where it saw one."""
    return {f: dets(found[f]) if f in found else dets() for f in range(0, frames, step)}


def contains(outer: tuple[float, ...], inner: tuple[float, ...] | list[float], slack: float = 1e-6) -> bool:
    return (
        outer[0] <= inner[0] + slack
        and outer[1] <= inner[1] + slack
        and outer[2] >= inner[2] - slack
        and outer[3] >= inner[3] - slack
    )


def covering(faces: list[TrackedFace], box: list[float]) -> list[TrackedFace]:
    return [f for f in faces if contains(f.box, box[:4])]


def test_empty_input_gives_one_empty_list_per_frame():
    assert track_faces({}, 5, 3, FPS) == [[], [], [], [], []]
    assert track_faces({0: dets(), 3: dets()}, 6, 3, FPS) == [[]] * 6
    assert track_faces({}, 0, 1, FPS) == []
    assert track_count(track_faces({}, 5, 3, FPS)) == 0


def test_frames_between_detections_are_covered_by_interpolation():
    tracks = track_faces({0: dets(face(100, 100)), 3: dets(face(130, 100)), 6: dets(face(160, 100))}, 7, 3, FPS)
    for frame in (1, 2, 4, 5):
        true_box = face(100 + 10 * frame, 100)
        assert len(covering(tracks[frame], true_box)) == 1, frame
        assert not tracks[frame][0].detected
    assert [f.detected for f in tracks[3]] == [True]
    assert track_count(tracks) == 1


def test_a_single_detector_miss_is_bridged_when_detecting_every_frame():
    detections = {i: dets(face(200 + 2 * i, 150)) for i in range(10)}
    detections[5] = dets()  # the detector missed the face on frame 5
    tracks = track_faces(detections, 10, 1, FPS)
    assert len(covering(tracks[5], face(210, 150))) == 1
    assert track_count(tracks) == 1


def test_look_behind_and_look_ahead_cover_frames_the_detector_did_not_see():
    # The detector runs on 0, 3, ..., 18; the face is found on 9, 12 and 15 only.
    detections = detected_every(3, 19, {f: face(300, 200) for f in (9, 12, 15)})
    tracks = track_faces(detections, 30, 3, FPS)
    for frame in range(6, 19):  # it may be visible from just after frame 6 to just before frame 18
        assert len(covering(tracks[frame], face(300, 200))) == 1, frame
    assert track_count(tracks) == 1


def test_carried_boxes_follow_linear_motion_before_and_after_the_detections():
    # A face moving 8 px a frame to the right, detected on frames 12, 15, 18 (every 3rd frame).
    detections = detected_every(3, 31, {f: face(100 + 8 * f, 300, size=50) for f in (12, 15, 18)})
    tracks = track_faces(detections, 31, 3, FPS)
    for frame in range(9, 22):
        assert len(covering(tracks[frame], face(100 + 8 * frame, 300, size=50))) == 1, frame


def test_two_crossing_faces_keep_their_ids():
    # Face A moves right, face B moves left, a little lower; they overlap around frame 15.
    detections = {f: dets(face(100 + 10 * f, 200, 60, 0.9), face(400 - 10 * f, 230, 60, 0.8)) for f in range(0, 31, 3)}
    tracks = track_faces(detections, 31, 3, FPS)
    assert track_count(tracks) == 2
    for frame in range(0, 31, 3):
        ids_by_face = {f.track_id: f.box for f in tracks[frame] if f.detected}
        assert len(ids_by_face) == 2
        a, b = ids_by_face[0], ids_by_face[1]
        assert contains(a, face(100 + 10 * frame, 200)[:4]), frame
        assert contains(b, face(400 - 10 * frame, 230)[:4]), frame


def test_smoothed_boxes_contain_the_detections():
    rng = np.random.default_rng(0)
    raw = {i: face(300 + rng.normal(0, 4), 200 + rng.normal(0, 4), 60 + rng.normal(0, 3)) for i in range(40)}
    tracks = track_faces({i: dets(box) for i, box in raw.items()}, 40, 1, FPS)
    assert track_count(tracks) == 1
    for i, box in raw.items():
        (only,) = tracks[i]
        assert only.detected
        assert contains(only.box, box[:4], slack=1e-3), i


def test_output_is_deterministic_and_json_lines_describe_each_frame():
    detections = {0: dets(face(10.4, 20.6, 30)), 2: dets(face(12, 20, 30, 0.75))}
    first = track_faces(detections, 4, 2, FPS)
    assert first == track_faces(detections, 4, 2, FPS)
    lines = [json.loads(line) for line in tracks_jsonl_lines(first, FPS, (640, 480))]
    assert [line["frame"] for line in lines] == [0, 1, 2, 3]
    assert lines[1]["time_s"] == 0.04
    (entry,) = lines[0]["faces"]
    assert entry["track_id"] == 0 and entry["detected"] is True
    assert all(isinstance(v, int) for v in entry["facial_area"])
    assert entry["confidence"] == 0.9
    assert lines[1]["faces"][0]["detected"] is False


def test_the_faces_file_clips_boxes_to_the_frame_and_leaves_out_those_wholly_outside():
    """A face that enters while the camera pans is carried back before its first detection, past the frame's edge:
    the blur gets that box whole, the faces file lists only what is inside the frame."""
    # Found from frame 12 (touching the right edge) to frame 28 (near the left one), moving 10 px a frame leftwards.
    panning_left = {f: dets(face(320 - 10 * f, 100, 40)) for f in range(12, 29, 4)}
    tracks = track_faces(panning_left, 41, 4, FPS)
    assert tracks[0][0].box[0] >= 240 and tracks[40][0].box[2] <= 0, "the tracker carries it out of the frame"

    lines = [json.loads(line) for line in tracks_jsonl_lines(tracks, FPS, (240, 270))]
    listed = [(line["frame"], face["facial_area"]) for line in lines for face in line["faces"]]
    assert all(0 <= x1 < x2 <= 240 and 0 <= y1 < y2 <= 270 for _, (x1, y1, x2, y2) in listed), listed
    assert not lines[0]["faces"] and not lines[40]["faces"], "wholly outside the frame: not listed"
    assert any(x2 == 240 for _, (_, _, x2, _) in listed), "partly outside on the right: clipped at the edge"
    assert any(x1 == 0 for _, (x1, _, _, _) in listed), "partly outside on the left: clipped at the edge"
    assert [line["frame"] for line in lines] == list(range(41)), "still one line per frame"
