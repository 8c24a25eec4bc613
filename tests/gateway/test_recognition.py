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
WIDER = Path(REPO_ROOT.parent / "shared" / "data" / "wider_train" / "images")
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


# --- the main face, verify against every face, several photos per subject, the quality gate -----------------------


def jpeg(image: Image.Image) -> bytes:
    output = io.BytesIO()
    image.convert("RGB").save(output, "JPEG", quality=95)
    return output.getvalue()


def photo(person: str, number: int, scale: float = 1.0) -> Image.Image:
    image = Image.open(io.BytesIO(lfw(person, number))).convert("RGB")
    return image.resize((round(250 * scale), round(250 * scale)), Image.LANCZOS) if scale != 1 else image


def centre_of(box: list[int]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def side_of(box: list[int]) -> float:
    return max(box[2] - box[0], box[3] - box[1])


def bystander_in_front() -> tuple[bytes, tuple[int, int, int, int]]:
    """Colin Powell in the middle of a 640 x 420 photo and, nearer the camera at its right edge, Tony Blair's face
    half as large again: the largest face is not the one the photo is of. Also Colin's region (x1, y1, x2, y2)."""
    canvas = Image.new("RGB", (640, 420), (128, 132, 126))
    canvas.paste(photo("Tony_Blair", 1, 1.5), (323, 20))
    canvas.paste(photo("Colin_Powell", 1), (195, 85))
    return jpeg(canvas), (195, 85, 445, 335)


def selfie() -> tuple[bytes, tuple[int, int, int, int]]:
    """A 720 x 960 selfie: Colin Powell's face large in the lower half, a little left of the middle, two small people
    behind him near the top. Also where his face is."""
    canvas = Image.new("RGB", (720, 960), (170, 190, 210))
    canvas.paste(photo("Jacques_Chirac", 1, 0.5), (215, 90))
    canvas.paste(photo("Hugo_Chavez", 1, 0.5), (390, 110))
    canvas.paste(photo("Colin_Powell", 1, 2.6), (-25, 295))
    return jpeg(canvas), (0, 420, 600, 960)


def id_card() -> tuple[bytes, tuple[int, int, int, int]]:
    """An 856 x 540 identity card: the portrait on the left, the small faded 'ghost' copy of it at the bottom right
    and lines of text. Also where the portrait is."""
    card = Image.new("RGB", (856, 540), (214, 228, 240))
    portrait = photo("Colin_Powell", 1).crop((40, 20, 210, 230))
    card.paste(portrait.resize((230, 284), Image.LANCZOS), (40, 150))
    ghost = Image.blend(portrait.convert("L").convert("RGB"), Image.new("RGB", portrait.size, (214, 228, 240)), 0.45)
    card.paste(ghost.resize((85, 105), Image.LANCZOS), (720, 380))
    for row in range(5):
        card.paste((60, 70, 90), (320, 170 + 45 * row, 690 - 40 * row, 190 + 45 * row))
    return jpeg(card), (40, 150, 270, 434)


def small_face(person: str, number: int, face_side: int) -> bytes:
    """The photo shrunk so its face's box is about ``face_side`` px (LFW's are about 125), on a 400 px canvas."""
    scale = face_side / 125
    canvas = Image.new("RGB", (400, 400), (118, 118, 118))
    small = photo(person, number, scale)
    canvas.paste(small, ((400 - small.width) // 2, (400 - small.height) // 2))
    return jpeg(canvas)


def blurred(person: str, number: int, sigma: float) -> bytes:
    from PIL import ImageFilter

    return jpeg(photo(person, number).filter(ImageFilter.GaussianBlur(sigma)))


def inside(box: list[int], region: tuple[int, int, int, int]) -> bool:
    x, y = centre_of(box)
    return region[0] <= x <= region[2] and region[1] <= y <= region[3]


def test_the_main_face_is_the_photos_person_not_the_largest_face(api: httpx.Client) -> None:
    composite, colin = bystander_in_front()
    gallery = gallery_name()
    enrolled = enroll(api, gallery, "Colin Powell", composite)
    assert enrolled["status"] == "SUCCESS", enrolled
    assert inside(enrolled["result"]["facial_area"], colin), enrolled["result"]
    largest = enroll(api, gallery, "Tony Blair", composite, face="largest")
    assert largest["status"] == "SUCCESS" and not inside(largest["result"]["facial_area"], colin)
    assert side_of(largest["result"]["facial_area"]) > side_of(enrolled["result"]["facial_area"])
    known = task(api, f"/galleries/{gallery}/identify", {"file": ("p.jpg", lfw("Colin_Powell", 3))})
    assert known["result"]["face_1"]["subject"] == "Colin Powell"

    other_photo = {"file2": ("b.jpg", lfw("Colin_Powell", 2))}
    main = task(api, "/verify_faces", {"file": ("a.jpg", composite), **other_photo})
    by_largest = task(api, "/verify_faces", {"file": ("a.jpg", composite), **other_photo}, face="largest")
    assert main["result"]["same_person"] is True and inside(main["result"]["face1"]["facial_area"], colin)
    assert by_largest["result"]["same_person"] is False
    assert not inside(by_largest["result"]["face1"]["facial_area"], colin)
    api.delete(f"/galleries/{gallery}")


@pytest.mark.parametrize(
    ("kind", "make"),
    [("selfie", selfie), ("ID card", id_card), ("news photo", None)],
)
def test_the_main_face_is_the_person_meant_in_a_selfie_an_id_card_and_a_news_photo(
    api: httpx.Client, kind: str, make: Callable[[], tuple[bytes, tuple[int, int, int, int]]] | None
) -> None:
    if make is None:  # LFW's photo of her, a larger face of someone else at its right edge
        image, meant = lfw("Julianna_Margulies", 2), (60, 40, 190, 210)
    else:
        image, meant = make()
    gallery = gallery_name()
    enrolled = enroll(api, gallery, "the person", image)
    assert enrolled["status"] == "SUCCESS", (kind, enrolled)
    assert inside(enrolled["result"]["facial_area"], meant), (kind, enrolled["result"])
    api.delete(f"/galleries/{gallery}")


def test_a_group_photo_has_no_main_face_to_enroll_but_verify_still_answers(api: httpx.Client) -> None:
    group = (WIDER / "20--Family_Group" / "20_Family_Group_Family_Group_20_79.jpg").read_bytes()
    refused = enroll(api, gallery_name(), "someone", group)
    assert refused["status"] == "FAILURE", refused
    assert "none stands out as the main face" in refused["error"] and "face=largest" in refused["error"]
    answered = task(api, "/verify_faces", {"file": ("a.jpg", group), "file2": ("b.jpg", lfw("Colin_Powell", 1))})
    assert answered["status"] == "SUCCESS" and answered["result"]["same_person"] is False


def test_verify_compares_the_first_face_with_every_face_of_the_second_image(api: httpx.Client) -> None:
    four = collage(lfw("Tony_Blair", 1), lfw("Colin_Powell", 2), lfw("Jacques_Chirac", 1), lfw("Hugo_Chavez", 1))
    body = task(api, "/verify_faces", {"file": ("a.jpg", lfw("Colin_Powell", 1)), "file2": ("b.jpg", four)})
    result = body["result"]
    assert body["status"] == "SUCCESS", body
    faces = result["faces"]
    assert len(faces) >= 4 and all("similarity" in face for face in faces.values())
    matched = faces[result["matched_face"]]
    assert _tile(matched["facial_area"]) == 1, "Colin Powell is the second tile"
    assert result["same_person"] is True and matched["same_person"] is True
    assert result["similarity"] == matched["similarity"] == max(f["similarity"] for f in faces.values())
    assert result["face2"]["facial_area"] == matched["facial_area"]
    others = [face for name, face in faces.items() if name != result["matched_face"]]
    assert not any(face["same_person"] for face in others)
    assert all(face["similarity"] < result["threshold"] for face in others)

    stranger = task(api, "/verify_faces", {"file": ("a.jpg", lfw("Gray_Davis", 1)), "file2": ("b.jpg", four)})
    assert stranger["result"]["same_person"] is False and stranger["result"]["matched_face"] is None
    assert stranger["result"]["best_face"] in stranger["result"]["faces"]


def test_several_photos_enroll_one_subject_in_one_step(api: httpx.Client, stack: Stack) -> None:
    gallery = gallery_name()
    files = [("file", (f"colin-{n}.jpg", lfw("Colin_Powell", n))) for n in (1, 2, 3)]
    response = api.post(f"/galleries/{gallery}/subjects/Colin Powell/faces", files=files)
    assert response.status_code == 202 and "task_id" in response.json(), response.text
    body = wait_for(api, response.json()["task_id"], timeout=120)
    assert body["status"] == "SUCCESS", body
    enrolled = body["result"]["faces"]
    assert [face["file"] for face in enrolled] == ["colin-1.jpg", "colin-2.jpg", "colin-3.jpg"]
    assert body["result"]["face_id"] == enrolled[0]["face_id"]
    assert all(face["quality"]["problem"] is None for face in enrolled)
    assert api.get(f"/galleries/{gallery}/subjects").json()["subjects"] == {"Colin Powell": 3}
    known = task(api, f"/galleries/{gallery}/identify", {"file": ("p.jpg", lfw("Colin_Powell", 4))})
    assert known["result"]["face_1"]["subject"] == "Colin Powell"
    assert len(known["result"]["face_1"]["matches"]) == 1, "one match per subject, not per enrolled face"

    blank = io.BytesIO()
    Image.new("RGB", (200, 200), (90, 120, 150)).save(blank, "JPEG")
    keys, client = RedisKeys("faceblur"), redis.Redis.from_url(stack.redis.url)
    before = client.hgetall(keys.gallery_faces("", gallery))
    for second in (("wall.jpg", blank.getvalue()), ("tiny.jpg", small_face("Tony_Blair", 1, 24))):
        files = [
            ("file", ("tony-1.jpg", lfw("Tony_Blair", 1))),
            ("file", second),
            ("file", ("tony-3.jpg", lfw("Tony_Blair", 3))),
        ]
        response = api.post(f"/galleries/{gallery}/subjects/Tony Blair/faces", files=files)
        refused = wait_for(api, response.json()["task_id"], timeout=120)
        assert refused["status"] == "FAILURE", refused
        assert repr(second[0]) in refused["error"] and "nothing was enrolled" in refused["error"], refused["error"]
    assert api.get(f"/galleries/{gallery}/subjects").json()["subjects"] == {"Colin Powell": 3}
    assert client.hgetall(keys.gallery_faces("", gallery)) == before, "nothing of Tony Blair was stored"
    assert api.get(f"/galleries/{gallery}/subjects/Tony Blair").status_code == 404
    api.delete(f"/galleries/{gallery}")


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (lambda: small_face("Colin_Powell", 1, 26), "too small: "),
        (lambda: blurred("Colin_Powell", 1, 3.0), "too blurred: sharpness "),
        (lambda: lfw("Jacques_Chirac", 6), "too turned: turn "),
    ],
    ids=["small", "blurred", "turned"],
)
def test_the_quality_gate_refuses_faces_too_small_blurred_or_turned_to_enroll(
    api: httpx.Client, image: Callable[[], bytes], reason: str
) -> None:
    gallery = gallery_name()
    refused = enroll(api, gallery, "Someone", image())
    assert refused["status"] == "FAILURE", refused
    error = refused["error"]
    assert reason in error, error
    threshold = {"too small: ": "< 40 px", "too blurred: sharpness ": "< 0.4", "too turned: turn ": "> 0.7"}[reason]
    assert threshold in error, error
    assert api.get(f"/galleries/{gallery}/subjects").status_code == 404, "nothing was stored"


def test_spare_gallery_hides_a_face_that_fails_the_quality_gate(api: httpx.Client) -> None:
    gallery = gallery_name()
    assert enroll(api, gallery, "Colin Powell", lfw("Colin_Powell", 1), face="largest")["status"] == "SUCCESS"
    sharp = task(api, "/blur_faces", {"file": ("p.jpg", lfw("Colin_Powell", 2))}, spare_gallery=gallery)
    small = task(api, "/blur_faces", {"file": ("p.jpg", small_face("Colin_Powell", 2, 30))}, spare_gallery=gallery)
    colin = nearest_face(sharp["faces"], 125, 125)
    tiny = nearest_face(small["faces"], 200, 200)
    assert colin["anonymized"] is False and colin["subject"] == "Colin Powell" and colin["quality"]["problem"] is None
    assert tiny["anonymized"] is True and tiny["subject"] is None
    assert tiny["quality"]["problem"].startswith("too small"), tiny
    api.delete(f"/galleries/{gallery}")


@pytest.mark.parametrize("path", ["/galleries/g-{u}/subjects/someone/faces", "/verify_faces"])
def test_an_unknown_face_choice_is_422_naming_the_choices(api: httpx.Client, path: str) -> None:
    files = {"file": ("a.jpg", reference_jpeg()), "file2": ("b.jpg", reference_jpeg())}
    response = api.post(path.format(u=uuid.uuid4().hex[:6]), files=files, data={"face": "biggest"})
    assert response.status_code == 422, response.text
    assert "'main' or 'largest'" in response.text


def nearest_face(faces: dict, x: float, y: float) -> dict:
    return min(
        faces.values(),
        key=lambda face: np.hypot(centre_of(face["facial_area"])[0] - x, centre_of(face["facial_area"])[1] - y),
    )


def _tile(box: list[int]) -> int:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return int(cy // 250) * 2 + int(cx // 250)


def _pixels(image: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(image)).convert("RGB"), np.int16)
