"""spare_gallery's threshold grows with the gallery so that the share of strangers left visible stays put."""

from __future__ import annotations

import itertools
import math

from gateway_service.galleries.matching import SFACE_FALSE_ACCEPTS, SPARE_STRANGER_RATE, spare_threshold

VERIFY, CEILING = 0.363, 0.6


def far_at(threshold: float) -> float:
    """The table's false-accept rate at ``threshold`` (log-linear between its points)."""
    for (t0, f0), (t1, f1) in itertools.pairwise(SFACE_FALSE_ACCEPTS):
        if t0 <= threshold <= t1:
            return math.exp(math.log(f0) + (threshold - t0) / (t1 - t0) * math.log(f1 / f0))
    raise AssertionError(threshold)


def test_a_gallery_of_one_face_is_just_above_the_verify_threshold_and_the_floor_holds() -> None:
    assert VERIFY < spare_threshold(1, VERIFY, CEILING) < 0.375
    assert spare_threshold(0, VERIFY, CEILING) == spare_threshold(1, VERIFY, CEILING)
    assert spare_threshold(1, 0.5, CEILING) == 0.5


def test_the_threshold_grows_with_the_gallery_up_to_the_ceiling() -> None:
    sizes = [1, 2, 3, 5, 10, 50, 100, 774, 1_000, 10_000, 100_000, 10**7]
    thresholds = [spare_threshold(n, VERIFY, CEILING) for n in sizes]
    assert thresholds == sorted(thresholds)
    assert VERIFY < spare_threshold(10, VERIFY, CEILING) < spare_threshold(774, VERIFY, CEILING) < CEILING
    assert thresholds[-1] == CEILING


def test_the_expected_share_of_strangers_visible_meets_the_target() -> None:
    for faces in (1, 3, 10, 100, 500):
        threshold = spare_threshold(faces, VERIFY, CEILING)
        assert math.isclose(faces * far_at(threshold), SPARE_STRANGER_RATE, rel_tol=0.01), faces


def test_beyond_the_table_the_last_segment_is_extended() -> None:
    (t0, f0), (t1, f1) = SFACE_FALSE_ACCEPTS[-2:]
    threshold = spare_threshold(round(SPARE_STRANGER_RATE / f1 * 10), VERIFY, 1.0)
    assert math.isclose(threshold, t1 + (t1 - t0) * math.log(10) / math.log(f0 / f1), abs_tol=1e-3)


def test_the_ceiling_wins_over_the_floor() -> None:
    assert spare_threshold(1, 0.5, 0.45) == 0.45
