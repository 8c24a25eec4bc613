"""Recognition through the real stack: embeddings, verification, galleries (enroll, identify, list, delete),
tenancy, anonymization that spares (or only hides) enrolled people, and the refusals users rely on."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import httpx
import numpy as np
import pytest
import redis
from PIL import Image

from gateway_service.tasks.keys import RedisKeys
from tests.gateway.helpers import reference_jpeg, wait_for
from tests.stack import REPO_ROOT, Gateway, Stack

LFW = Path(REPO_ROOT.parent / "shared" / "data" / "lfw_dev" / "images")
# People with several photos (LFW folds 1-5): enrolled from one photo, recognized on another.
ENROLLED = ("Colin_Powell", "Tony_Blair")
STRANGERS = ("Jacques_Chirac", "Hugo_Chavez")


def lfw(person: str, number: int) -> bytes:
    return (LFW / person / f"{person}_{number:04d}.jpg").read_bytes()


def task(api: httpx.Client, path: str, files: dict, **fields: object) -> dict:
    """POST an image task and wait for its outcome."""
    response = api.post(path, files=files, data={k: str(v) for k, v in fields.items()})
    assert response.status_code == 202, response.text
    return wait_for(api, response.json()["task_id"], timeout=120)


def enroll(api: httpx.Client, gallery: str, subject: str, image: bytes, **fields: object) -> dict:
    """LFW photos often show someone behind the person: pass face="largest" for them."""
    return task(api, f"/galleries/{gallery}/subjects/{subject}/faces", {"file": ("face.jpg", image)}, **fields)


def gallery_name() -> str:
    return f"staff-{uuid.uuid4().hex[:8]}"


def collage(*photos: bytes) -> bytes:
    """2x2 LFW photos (250 px each) as one JPEG: four people in one picture, face_N in reading order."""
    tiles = [Image.open(io.BytesIO(photo)).convert("RGB") for photo in photos]
    canvas = Image.new("RGB", (500, 500))
    for index, tile in enumerate(tiles):
        canvas.paste(tile, ((index % 2) * 250, (index // 2) * 250))
    output = io.BytesIO()
    canvas.save(output, "JPEG", quality=95)
    return output.getvalue()


def test_embed_faces_gives_each_face_a_unit_embedding_and_its_model(api: httpx.Client) -> None:
    body = task(api, "/embed_faces", {"file": ("a.jpg", reference_jpeg())})
    assert body["status"] == "SUCCESS", body
    assert len(body["result"]) == 2
    for face in body["result"].values():
        vector = np.array(face["embedding"])
        assert vector.shape == (128,) and abs(np.linalg.norm(vector) - 1) < 1e-3
        assert face["embedding_model"].endswith(".onnx") and len(face["facial_area"]) == 4


def test_verify_tells_the_same_person_from_another(api: httpx.Client) -> None:
    same = task(
        api, "/verify_faces", {"file": ("a.jpg", lfw("Colin_Powell", 1)), "file2": ("b.jpg", lfw("Colin_Powell", 2))}
    )
    other = task(
        api, "/verify_faces", {"file": ("a.jpg", lfw("Colin_Powell", 1)), "file2": ("b.jpg", lfw("Tony_Blair", 1))}
    )
    assert same["result"]["same_person"] is True and other["result"]["same_person"] is False
    assert same["result"]["similarity"] > other["result"]["similarity"]
    assert same["result"]["threshold"] == other["result"]["threshold"]
    assert len(same["result"]["face1"]["facial_area"]) == len(same["result"]["face2"]["facial_area"]) == 4


def test_enroll_identify_list_and_delete_round_trip(api: httpx.Client, stack: Stack) -> None:
    gallery = gallery_name()
    enrolled = enroll(api, gallery, "Colin Powell", lfw("Colin_Powell", 1), face="largest")
    assert enrolled["status"] == "SUCCESS", enrolled
    face_id = enrolled["result"]["face_id"]
    assert enrolled["result"]["gallery"] == gallery and enrolled["result"]["subject"] == "Colin Powell"
    assert enroll(api, gallery, "Tony Blair", lfw("Tony_Blair", 1), face="largest")["status"] == "SUCCESS"

    known = task(api, f"/galleries/{gallery}/identify", {"file": ("p.jpg", lfw("Colin_Powell", 3))})
    stranger = task(api, f"/galleries/{gallery}/identify", {"file": ("p.jpg", lfw("Jacques_Chirac", 1))}, k=2)
    assert known["result"]["face_1"]["subject"] == "Colin Powell"
    assert known["result"]["face_1"]["matches"][0]["subject"] == "Colin Powell"
    assert "embedding" not in known["result"]["face_1"], "identify never returns face vectors"
    assert stranger["result"]["face_1"]["subject"] is None and len(stranger["result"]["face_1"]["matches"]) == 2

    assert api.get("/galleries").json()["galleries"][gallery]["subjects"] == 2
    assert api.get(f"/galleries/{gallery}/subjects").json()["subjects"] == {"Colin Powell": 1, "Tony Blair": 1}
    listed = api.get(f"/galleries/{gallery}/subjects/Colin Powell").json()["faces"]
    assert [face["face_id"] for face in listed] == [face_id] and "vector" not in listed[0]

    keys = RedisKeys("faceblur")
    client = redis.Redis.from_url(stack.redis.url)
    assert client.hexists(keys.gallery_faces("", gallery), face_id)
    assert api.delete(f"/galleries/{gallery}/subjects/Colin Powell/faces/{face_id}").status_code == 200
    assert not client.hexists(keys.gallery_faces("", gallery), face_id), "the vector is deleted at once"
    assert api.get(f"/galleries/{gallery}/subjects/Colin Powell").status_code == 404
    assert api.delete(f"/galleries/{gallery}").status_code == 200
    left = [key for key in client.scan_iter(f"{keys.gallery('', gallery)}*")]
    assert left == [], f"keys left after deleting the gallery: {left}"
    assert api.get(f"/galleries/{gallery}/subjects").status_code == 404


def test_spare_gallery_keeps_enrolled_people_visible_and_hides_the_rest(api: httpx.Client) -> None:
    gallery = gallery_name()
    for person in ENROLLED:
        assert enroll(api, gallery, person, lfw(person, 1), face="largest")["status"] == "SUCCESS"
    photo = collage(lfw(ENROLLED[0], 2), lfw(STRANGERS[0], 1), lfw(STRANGERS[1], 1), lfw(ENROLLED[1], 2))
    spared = task(api, "/blur_faces", {"file": ("c.jpg", photo)}, spare_gallery=gallery, mask="box")
    hidden = task(api, "/blur_faces", {"file": ("c.jpg", photo)}, only_gallery=gallery, mask="box")
    assert spared["status"] == hidden["status"] == "SUCCESS", (spared, hidden)

    def faces_by_tile(body: dict) -> dict[int, dict]:
        return {_tile(face["facial_area"]): face for face in body["faces"].values()}

    enrolled_tiles, stranger_tiles = {0, 3}, {1, 2}
    spared_faces, hidden_faces = faces_by_tile(spared), faces_by_tile(hidden)
    assert {t for t, f in spared_faces.items() if not f["anonymized"]} == enrolled_tiles
    assert {t for t, f in spared_faces.items() if f["anonymized"]} >= stranger_tiles
    assert {spared_faces[t]["subject"] for t in enrolled_tiles} == set(ENROLLED)
    assert {t for t, f in hidden_faces.items() if f["anonymized"]} == enrolled_tiles
    original = _pixels(photo)
    for body, visible in ((spared, enrolled_tiles), (hidden, stranger_tiles)):
        output = _pixels(base64.b64decode(body["result"]))
        for tile, face in faces_by_tile(body).items():
            x1, y1, x2, y2 = face["facial_area"]
            change = np.abs(output[y1:y2, x1:x2] - original[y1:y2, x1:x2]).mean()
            assert (change < 3) == (tile in visible), f"tile {tile}: change {change:.1f}"


def test_galleries_belong_to_the_key_that_made_them(stack: Stack, make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(stack.redis.url, [stack.face.address], GATEWAY_API_KEYS="alpha,beta")
    gallery = gallery_name()
    with gateway.client() as alpha, gateway.client() as beta:
        alpha.headers["X-API-Key"], beta.headers["X-API-Key"] = "alpha", "beta"
        assert enroll(alpha, gallery, "Colin Powell", lfw("Colin_Powell", 1), face="largest")["status"] == "SUCCESS"
        assert alpha.get(f"/galleries/{gallery}/subjects").status_code == 200
        assert beta.get(f"/galleries/{gallery}/subjects").status_code == 404
        assert gallery not in beta.get("/galleries").json()["galleries"]
        refused = beta.post(f"/galleries/{gallery}/identify", files={"file": ("p.jpg", lfw("Colin_Powell", 2))})
        assert refused.status_code == 404
        photo = {"file": ("p.jpg", lfw("Colin_Powell", 2))}
        for option in ("spare_gallery", "only_gallery"):
            blurred = beta.post("/blur_faces", files=photo, data={option: gallery})
            assert blurred.status_code == 404, (option, blurred.text)
            assert blurred.json()["detail"] == f"no gallery {gallery!r}", "the same answer as for no gallery at all"
        assert beta.get(f"/galleries/{gallery}/subjects/Colin Powell").status_code == 404
        assert beta.delete(f"/galleries/{gallery}/subjects/Colin Powell").status_code == 404
        assert beta.delete(f"/galleries/{gallery}").status_code == 404
        assert alpha.get(f"/galleries/{gallery}/subjects/Colin Powell").status_code == 200, "beta changed nothing"
        assert alpha.delete(f"/galleries/{gallery}").status_code == 200


def test_a_gallery_of_another_embedding_model_is_refused_with_409(api: httpx.Client, stack: Stack) -> None:
    gallery = gallery_name()
    assert enroll(api, gallery, "Colin Powell", lfw("Colin_Powell", 1), face="largest")["status"] == "SUCCESS"
    client = redis.Redis.from_url(stack.redis.url)
    client.hset(RedisKeys("faceblur").gallery("", gallery), "model", "someone-elses-arcface.onnx")
    for response in (
        api.post(f"/galleries/{gallery}/identify", files={"file": ("p.jpg", lfw("Colin_Powell", 2))}),
        api.post(f"/galleries/{gallery}/subjects/x/faces", files={"file": ("p.jpg", lfw("Colin_Powell", 2))}),
        api.post("/blur_faces", files={"file": ("p.jpg", lfw("Colin_Powell", 2))}, data={"spare_gallery": gallery}),
    ):
        assert response.status_code == 409 and "someone-elses-arcface.onnx" in response.json()["detail"]


def test_enrolling_needs_exactly_one_face_or_face_largest(api: httpx.Client) -> None:
    gallery = gallery_name()
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), (90, 120, 150)).save(blank, "JPEG")
    nobody = enroll(api, gallery, "nobody", blank.getvalue())
    two = enroll(api, gallery, "two", reference_jpeg())
    largest = enroll(api, gallery, "two", reference_jpeg(), face="largest")
    assert nobody["status"] == "FAILURE" and "no face" in nobody["error"]
    assert two["status"] == "FAILURE" and "2 faces" in two["error"] and "face=largest" in two["error"]
    assert largest["status"] == "SUCCESS"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("post", "/galleries/nowhere-{u}/identify", 404),
        ("get", "/galleries/nowhere-{u}/subjects", 404),
        ("get", "/galleries/nowhere-{u}/subjects/anyone", 404),
        ("delete", "/galleries/nowhere-{u}", 404),
        ("post", "/galleries/{long}/subjects/a/faces", 400),
        ("post", "/galleries/bad%01name/identify", 400),
        ("get", "/galleries/ok/subjects/bad%7Fname", 400),
    ],
)
def test_unknown_galleries_are_404_and_bad_names_400(api: httpx.Client, method: str, path: str, status: int) -> None:
    url = path.format(u=uuid.uuid4().hex[:6], long="g" * 65)
    files = {"file": ("p.jpg", reference_jpeg())} if method == "post" else None
    response = api.request(method.upper(), url, files=files)
    assert response.status_code == status, response.text
    if status == 400:
        assert "no '/', no control characters" in response.json()["detail"]


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("%2E", "the path step '.'"),
        ("%2E%2E", "the path step '..'"),
        ("admin%E2%80%AEgpj.exe", "a right-to-left override (U+202E)"),
        ("a%E2%81%A6b%E2%81%A9", "a left-to-right isolate and its end (U+2066, U+2069)"),
        ("al%E2%80%8Dice", "a zero-width joiner (U+200D)"),
        ("bad%C2%85name", "a C1 control character (U+0085)"),
    ],
)
def test_names_that_are_path_steps_or_hide_characters_are_refused(api: httpx.Client, name: str, what: str) -> None:
    """Names are shown back to people and used as keys: none may look like another name or like a path step."""
    enrolled = api.post(f"/galleries/{name}/subjects/someone/faces", files={"file": ("p.jpg", reference_jpeg())})
    as_subject = api.get(f"/galleries/ok/subjects/{name}")
    as_option = api.post(
        "/blur_faces", files={"file": ("p.jpg", reference_jpeg())}, data={"spare_gallery": unquote(name)}
    )
    for response in (enrolled, as_subject, as_option):
        assert response.status_code == 400, f"{what}: {response.status_code} {response.text}"
        detail = response.json()["detail"]
        assert "no invisible format characters" in detail and "not '.' or '..'" in detail, detail


def test_face_vectors_are_counted_in_metrics(api: httpx.Client) -> None:
    gallery = gallery_name()
    assert enroll(api, gallery, "Colin Powell", lfw("Colin_Powell", 1), face="largest")["status"] == "SUCCESS"
    lines = api.get("/metrics").text.splitlines()
    count = next(float(line.split()[-1]) for line in lines if line.startswith("faceblur_gateway_face_vectors "))
    assert count >= 1
    api.delete(f"/galleries/{gallery}")


def _tile(box: list[int]) -> int:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return int(cy // 250) * 2 + int(cx // 250)


def _pixels(image: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(image)).convert("RGB"), np.int16)
