"""GET /task_result answers exactly what /openapi.json documents, for every kind of task the API returns."""

from __future__ import annotations

import time

import httpx

from gateway_service.tasks.models import JobOptions, TaskKind, TaskRecord, TaskStatus
from gateway_service.tasks.render import task_result
from tests.gateway.helpers import reference_jpeg, submit, wait_for

_JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "object": dict, "array": list, "boolean": bool}


def published_task_schema(api: httpx.Client) -> dict:
    spec = api.get("/openapi.json").json()
    response = spec["paths"]["/task_result/{task_id}"]["get"]["responses"]["200"]
    reference = response["content"]["application/json"]["schema"]["$ref"]
    return spec["components"]["schemas"][reference.rsplit("/", 1)[-1]]


def conforms(value: object, schema: dict) -> bool:
    """Enough of JSON Schema for the task body: type, anyOf, enum, additionalProperties."""
    if "anyOf" in schema:
        return any(conforms(value, option) for option in schema["anyOf"])
    if "enum" in schema and value not in schema["enum"]:
        return False
    kind = schema.get("type")
    if kind == "null":
        return value is None
    if kind is not None and (not isinstance(value, _JSON_TYPES[kind]) or (kind != "boolean" and value is True)):
        return False
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return all(conforms(item, schema["additionalProperties"]) for item in value.values())  # type: ignore[union-attr]
    return True


def assert_documented(body: dict, schema: dict, enums: dict[str, dict]) -> None:
    undocumented = set(body) - set(schema["properties"])
    assert not undocumented, f"fields missing from /openapi.json: {undocumented}"
    missing = set(schema.get("required", ())) - set(body)
    assert not missing, f"required fields missing from the answer: {missing}"
    for name, value in body.items():
        field_schema = schema["properties"][name]
        if "$ref" in field_schema:
            field_schema = enums[field_schema["$ref"].rsplit("/", 1)[-1]]
        assert conforms(value, field_schema), f"{name}={value!r} does not match {field_schema}"


def test_every_kind_of_task_answer_matches_the_published_schema(api: httpx.Client) -> None:
    schema = published_task_schema(api)
    components = api.get("/openapi.json").json()["components"]["schemas"]
    truncated = reference_jpeg()[:5000]
    bodies = {
        "detect": wait_for(api, submit(api, "detect_faces", reference_jpeg())),
        "detect with draw": wait_for(api, submit(api, "detect_faces", reference_jpeg(), draw=True)),
        "blur": wait_for(api, submit(api, "blur_faces", reference_jpeg(), mode="pixelate")),
        "failure": wait_for(api, submit(api, "detect_faces", truncated)),
    }
    assert [body["status"] for body in bodies.values()] == ["SUCCESS", "SUCCESS", "SUCCESS", "FAILURE"]
    assert "drawn_image" in bodies["detect with draw"] and "error" in bodies["failure"]

    waiting = TaskRecord("t", TaskKind.BLUR, TaskStatus.PENDING, JobOptions(), time.time(), last_problem="busy")
    with_webhook = TaskRecord(
        "t", TaskKind.DETECT, TaskStatus.FAILURE, JobOptions(), time.time(), error="bad", callback_url="https://x.test"
    )
    bodies["pending, with a retry reason"] = task_result(waiting).model_dump(mode="json", exclude_none=True)
    bodies["with a webhook"] = task_result(with_webhook).model_dump(mode="json", exclude_none=True)

    for kind, body in bodies.items():
        try:
            assert_documented(body, schema, components)
        except AssertionError as error:
            raise AssertionError(f"{kind}: {error}") from None
