"""Recognition through the client and the `faceblur` command, against a live stack: enroll, identify, verify,
list, delete, and blur that spares (or only hides) a gallery's people."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from PIL import Image

from faceblur_client import ApiError, FaceBlurClient, TaskFailed
from faceblur_client.multipart import encode_form
from tests.client.test_cli import faceblur
from tests.stack import REFERENCE_IMAGE, REPO_ROOT, Stack

LFW = REPO_ROOT.parent / "shared" / "data" / "lfw_dev" / "images"


def lfw(person: str, number: int) -> Path:
    return LFW / person / f"{person}_{number:04d}.jpg"


def gallery_name() -> str:
    return f"client test {uuid.uuid4().hex[:8]}"  # a space: names travel URL-quoted


@pytest.fixture(scope="module")
def client(stack: Stack) -> FaceBlurClient:
    return FaceBlurClient(stack.gateway.url, timeout=120)


@pytest.fixture()
def blank_photo(tmp_path: Path) -> Path:
    path = tmp_path / "wall.jpg"
    Image.new("RGB", (200, 200), (90, 120, 150)).save(path, "JPEG")
    return path


def test_verify_sends_the_second_image_in_its_own_field() -> None:
    body, _ = encode_form({}, [("a.jpg", b"A"), ("b.jpg", b"B", "file2")])

    assert b'name="file"; filename="a.jpg"' in body and b'name="file2"; filename="b.jpg"' in body


def test_enroll_identify_list_and_delete(client: FaceBlurClient) -> None:
    gallery = gallery_name()
    enrolled = client.enroll(gallery, "Colin Powell", lfw("Colin_Powell", 1), face="largest")
    client.enroll(gallery, "Tony Blair", lfw("Tony_Blair", 1).read_bytes(), face="largest")
    assert enrolled["gallery"] == gallery and enrolled["subject"] == "Colin Powell" and enrolled["face_id"]

    known = client.identify(gallery, lfw("Colin_Powell", 3))
    stranger = client.identify(gallery, lfw("Jacques_Chirac", 1), k=2)
    assert known.kind == "identify" and known.faces["face_1"]["subject"] == "Colin Powell"
    assert stranger.faces["face_1"]["subject"] is None and len(stranger.faces["face_1"]["matches"]) == 2
    assert client.identify(gallery, lfw("Jacques_Chirac", 1), threshold=0).faces["face_1"]["subject"] is not None

    assert client.galleries()["galleries"][gallery]["subjects"] == 2
    assert client.subjects(gallery)["subjects"] == {"Colin Powell": 1, "Tony Blair": 1}
    assert [face["face_id"] for face in client.subject(gallery, "Colin Powell")["faces"]] == [enrolled["face_id"]]
    assert client.delete_subject(gallery, "Colin Powell")["deleted"]["faces"] == 1
    assert client.subjects(gallery)["subjects"] == {"Tony Blair": 1}
    client.delete_gallery(gallery)
    with pytest.raises(ApiError) as gone:
        client.subjects(gallery)
    assert gone.value.status == 404


def test_verify_and_embed(client: FaceBlurClient, blank_photo: Path) -> None:
    same = client.verify(lfw("Colin_Powell", 1), lfw("Colin_Powell", 2))
    other = client.verify(lfw("Colin_Powell", 1).read_bytes(), lfw("Tony_Blair", 1))
    assert same["same_person"] is True and other["same_person"] is False
    assert same["similarity"] > other["similarity"] and same["threshold"] == other["threshold"]
    with pytest.raises(TaskFailed, match="no face found in file2"):
        client.verify(lfw("Colin_Powell", 1), blank_photo)

    embedded = client.embed(REFERENCE_IMAGE)
    assert embedded.face_count == 2
    assert all(len(face["embedding"]) == 128 for face in embedded.faces.values())


def test_blur_spares_or_only_hides_the_gallerys_people(client: FaceBlurClient) -> None:
    gallery = gallery_name()
    client.enroll(gallery, "Colin Powell", lfw("Colin_Powell", 1), face="largest")
    photo = lfw("Colin_Powell", 2)

    spared = client.blur(photo, spare_gallery=gallery)
    hidden = client.blur(photo, only_gallery=gallery)

    assert spared.image is not None and spared.task["gallery"] == gallery
    for outcome, hides_colin in ((spared, False), (hidden, True)):
        colin = [face for face in outcome.faces.values() if face["subject"] == "Colin Powell"]
        assert len(colin) == 1 and colin[0]["anonymized"] is hides_colin, outcome.faces
        others = [face for face in outcome.faces.values() if face["subject"] is None]
        assert all(face["anonymized"] is not hides_colin for face in others), outcome.faces
    with pytest.raises(ApiError) as unknown:
        client.blur(photo, spare_gallery=gallery_name())
    assert unknown.value.status == 404
    client.delete_gallery(gallery)


def test_the_cli_enrolls_identifies_verifies_and_blurs_sparing_a_gallery(
    stack: Stack, tmp_path: Path, blank_photo: Path
) -> None:
    url, gallery = stack.gateway.url, gallery_name()

    enrolled = faceblur("enroll", gallery, "Colin Powell", lfw("Colin_Powell", 1), "--largest", url=url)
    two_faces = faceblur("enroll", gallery, "Both", REFERENCE_IMAGE, url=url)
    assert enrolled.returncode == 0, enrolled.stderr
    assert json.loads(enrolled.stdout)["subject"] == "Colin Powell"
    assert two_faces.returncode == 1 and "2 faces found" in two_faces.stderr

    identified = faceblur("identify", gallery, lfw("Colin_Powell", 3), lfw("Hugo_Chavez", 1), "-k", "1", url=url)
    assert identified.returncode == 0, identified.stderr
    lines = {Path(line["file"]).stem: line for line in map(json.loads, identified.stdout.splitlines())}
    assert lines["Colin_Powell_0003"]["result"]["face_1"]["subject"] == "Colin Powell"
    assert lines["Hugo_Chavez_0001"]["result"]["face_1"]["subject"] is None
    assert len(lines["Hugo_Chavez_0001"]["result"]["face_1"]["matches"]) == 1
    assert "Colin Powell" in identified.stderr  # the progress line names who was recognized

    same = faceblur("verify", lfw("Colin_Powell", 1), lfw("Colin_Powell", 2), url=url)
    other = faceblur("verify", lfw("Colin_Powell", 1), lfw("Tony_Blair", 1), url=url)
    unknowable = faceblur("verify", lfw("Colin_Powell", 1), blank_photo, url=url)
    assert (same.returncode, other.returncode, unknowable.returncode) == (0, 1, 2), unknowable.stderr
    assert json.loads(same.stdout)["same_person"] is True and json.loads(other.stdout)["same_person"] is False
    assert "no face found in file2" in unknowable.stderr and unknowable.stdout == ""

    out = tmp_path / "out"
    blurred = faceblur("blur", lfw("Colin_Powell", 2), "-o", out, "--spare-gallery", gallery, url=url)
    assert blurred.returncode == 0, blurred.stderr
    faces = json.loads(blurred.stdout)["faces"].values()
    assert [face["anonymized"] for face in faces if face["subject"] == "Colin Powell"] == [False]
    assert (out / "Colin_Powell_0002.jpg").is_file()
    both = faceblur("blur", REFERENCE_IMAGE, "-o", out, "--spare-gallery", gallery, "--only-gallery", gallery, url=url)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    FaceBlurClient(url).delete_gallery(gallery)


def test_the_cli_reports_an_unknown_gallery(stack: Stack) -> None:
    run = faceblur("identify", gallery_name(), REFERENCE_IMAGE, url=stack.gateway.url)

    assert run.returncode == 1 and "HTTP 404" in run.stderr and "no gallery" in run.stderr


def test_enroll_takes_several_photos_and_verify_lists_every_face_of_the_second(
    client: FaceBlurClient, stack: Stack, blank_photo: Path
) -> None:
    gallery = gallery_name()
    photos = [lfw("Colin_Powell", 1), lfw("Colin_Powell", 2), lfw("Colin_Powell", 3).read_bytes()]
    enrolled = client.enroll(gallery, "Colin Powell", photos)
    assert [face["file"] for face in enrolled["faces"]] == ["Colin_Powell_0001.jpg", "Colin_Powell_0002.jpg", "image 3"]
    assert client.subjects(gallery)["subjects"] == {"Colin Powell": 3}
    with pytest.raises(TaskFailed, match=re.escape("no face found in 'wall.jpg'; nothing was enrolled")):
        client.enroll(gallery, "Tony Blair", [lfw("Tony_Blair", 1), blank_photo])
    assert client.subjects(gallery)["subjects"] == {"Colin Powell": 3}

    answer = client.verify(lfw("Colin_Powell", 4), REFERENCE_IMAGE)
    assert len(answer["faces"]) == 2 and all("similarity" in face for face in answer["faces"].values())
    assert answer["same_person"] is False and answer["matched_face"] is None
    by_largest = client.verify(REFERENCE_IMAGE, REFERENCE_IMAGE, face="largest")
    assert (
        by_largest["same_person"] is True and by_largest["face1"]["facial_area"] == by_largest["face2"]["facial_area"]
    )

    url = stack.gateway.url
    two = faceblur("enroll", gallery, "Tony Blair", lfw("Tony_Blair", 1), lfw("Tony_Blair", 2), url=url)
    assert two.returncode == 0, two.stderr
    assert [face["file"] for face in json.loads(two.stdout)["faces"]] == ["Tony_Blair_0001.jpg", "Tony_Blair_0002.jpg"]
    listed = faceblur("verify", lfw("Tony_Blair", 3), REFERENCE_IMAGE, "--largest", url=url)
    assert listed.returncode == 1 and len(json.loads(listed.stdout)["faces"]) == 2
    client.delete_gallery(gallery)
