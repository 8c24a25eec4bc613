"""The re-identification figure bench/recognition.py prints beside the blur check: a blurred face counts as
pointing to its person only when it is nearer to that person's original than the other blurred faces are."""

import numpy as np

from bench.recognition import reidentification


def unit_rows(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_a_blur_that_keeps_every_identity_is_re_identified_every_time() -> None:
    faces = unit_rows(np.random.default_rng(1).normal(size=(50, 128)))
    figures = reidentification(faces, faces, threshold=0.363)
    assert figures["own_blur_nearest_share"] == 1.0
    assert figures["own_blur_rank_median"] == 0
    assert figures["at_threshold_and_own_blur_nearest"] == 50


def test_one_featureless_blob_for_everyone_matches_low_quality_originals_without_pointing_to_them() -> None:
    rng = np.random.default_rng(2)
    blob = unit_rows(rng.normal(size=(1, 128)))[0]
    # Low-quality originals lie near the blob's direction; every face blurs to (nearly) the same blob.
    originals = unit_rows(blob + 0.8 * unit_rows(rng.normal(size=(40, 128))))
    blurred = unit_rows(blob + 0.05 * unit_rows(rng.normal(size=(40, 128))))
    figures = reidentification(originals, blurred, threshold=0.363)
    own = np.sum(originals * blurred, axis=1)
    assert (own >= 0.363).all()  # the check calls every one of them recognizable
    assert figures["own_blur_nearest_share"] < 0.25  # yet hardly any blur is nearer its own original than others
    assert min(figures["at_threshold_other_blurs_matched"]) == 39  # each original matches every other blur too


def test_fewer_than_two_faces_give_no_figure() -> None:
    assert reidentification(np.ones((1, 4)) / 2, np.ones((1, 4)) / 2, threshold=0.363) == {}
