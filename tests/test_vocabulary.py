"""The shared vocabulary: every kind is complete, so a kind added in one place and forgotten in another fails here."""

from __future__ import annotations

import pytest

from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import JobKind, TaskKind, from_proto, to_proto


@pytest.mark.parametrize("kind", list(JobKind))
def test_every_job_kind_has_its_proto_value(kind: JobKind) -> None:
    assert from_proto(JobKind, to_proto(kind)) is kind


def test_every_proto_job_kind_has_a_name_here() -> None:
    for value in pb.JobKind.values():
        if value != pb.JOB_KIND_UNSPECIFIED:
            assert from_proto(JobKind, value) is not None


@pytest.mark.parametrize("kind", list(TaskKind))
def test_every_task_kind_names_its_main_job_kind(kind: TaskKind) -> None:
    assert isinstance(kind.job_kind, JobKind)


def test_a_video_task_runs_video_jobs_and_no_image_task_does() -> None:
    assert [kind for kind in TaskKind if kind.job_kind.is_video] == [TaskKind.BLUR_VIDEO]


def test_refusals_name_the_job_kinds_a_service_takes() -> None:
    assert JobKind.named(video=False) == "DETECT, BLUR or EMBED"
    assert JobKind.named(video=True) == "DETECT_VIDEO or BLUR_VIDEO"
