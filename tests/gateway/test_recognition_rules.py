"""The recognition rules as pure functions: the main face, the quality measures, templates and what they count for
spare_gallery's threshold (the figures behind them: README, bench/recognition_rules.py)."""

from __future__ import annotations

import numpy as np

from face_detection_service.recognition.align import ARCFACE_TEMPLATE
from faceblur_proto.main_face import MIN_MAIN_SHARE, Candidate, largest_face, main_face, main_share, stands_out
from gateway_service.galleries.matching import GalleryVectors, spare_threshold, template_false_accept_factor
from gateway_service.galleries.quality import MAX_TURN, MIN_SHARPNESS, MIN_SIZE, FaceQuality, turn


def test_a_centred_face_beats_a_larger_one_at_the_edge_but_not_a_far_larger_one() -> None:
    centred = Candidate((270, 150, 370, 270), 0.8)
    bystander = Candidate((470, 100, 620, 300), 0.8)  # 1.5 times the side, at the right edge
    assert main_face([bystander, centred], 640, 420) == 1 and largest_face([bystander, centred]) == 0
    assert stands_out([bystander, centred], 640, 420)
    selfie = Candidate((40, 200, 400, 620), 0.8)  # 3.5 times the side, off centre
    assert main_face([centred, selfie], 640, 640) == 1


def test_two_alike_faces_side_by_side_do_not_stand_out() -> None:
    pair = [Candidate((200, 150, 600, 700), 0.8), Candidate((1030, 230, 1450, 790), 0.8)]
    shares = main_share(pair, 1634, 1000)
    assert abs(sum(shares) - 1) < 1e-9 and max(shares) < MIN_MAIN_SHARE and not stands_out(pair, 1634, 1000)
    assert main_face([], 100, 100) is None and not stands_out([], 100, 100)
    assert stands_out([pair[0]], 1634, 1000), "a lone face always stands out"


def test_turn_is_zero_for_a_frontal_face_and_grows_as_the_nose_moves_aside() -> None:
    frontal = [tuple(point) for point in ARCFACE_TEMPLATE.tolist()]
    assert turn(frontal) is not None and turn(frontal) < 0.05
    aside = [*frontal[:2], (frontal[2][0] + 30, frontal[2][1]), *frontal[3:]]
    assert turn(aside) > MAX_TURN
    assert turn(frontal[:4]) is None


def test_the_gate_names_the_measure_and_its_threshold() -> None:
    assert FaceQuality(MIN_SIZE, MIN_SHARPNESS, 0.0).problem() is None
    assert FaceQuality(30, 1.0, 0.1).problem() == "too small: 30 px (the box's long side) < 40 px"
    assert FaceQuality(80, 0.2, 0.1).problem() == "too blurred: sharpness 0.200 < 0.4"
    assert FaceQuality(80, 1.0, 0.9).problem() == "too turned: turn 0.90 > 0.7"


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def test_a_subject_is_matched_by_the_template_of_its_faces() -> None:
    rng = np.random.default_rng(7)
    ada, bob = unit(rng.standard_normal(128)), unit(rng.standard_normal(128))
    ada_photos = [unit(ada + 0.6 * unit(rng.standard_normal(128))) for _ in range(3)]
    gallery = GalleryVectors(1, "m", ("ada", "bob", "ada", "ada"), np.stack([ada_photos[0], bob, *ada_photos[1:]]))
    names, templates, counts = gallery.templates
    assert names == ("ada", "bob") and counts.tolist() == [3, 1]
    assert np.allclose(templates[0], unit(np.sum(ada_photos, 0)), atol=1e-6)
    matches = gallery.best_matches(ada, 5)
    assert [m.subject for m in matches] == ["ada", "bob"], "one match per subject"
    assert matches[0].similarity > max(float(v @ ada) for v in ada_photos), "the template is nearer than any photo"
    assert gallery.comparisons == template_false_accept_factor(3) + template_false_accept_factor(1)


def test_spare_counts_a_template_as_several_comparisons() -> None:
    assert template_false_accept_factor(1) == 1.0 < template_false_accept_factor(2) < template_false_accept_factor(3)
    assert template_false_accept_factor(50) == template_false_accept_factor(5)
    three_each = GalleryVectors(1, "m", tuple(f"p{i // 3}" for i in range(600)), np.eye(600, 128, dtype=np.float32))
    one_each = GalleryVectors(1, "m", tuple(f"p{i}" for i in range(200)), np.eye(200, 128, dtype=np.float32))
    assert spare_threshold(one_each.comparisons, 0.363, 0.6) < spare_threshold(three_each.comparisons, 0.363, 0.6)
    assert spare_threshold(three_each.comparisons, 0.363, 0.6) < spare_threshold(len(three_each), 0.363, 0.6)
