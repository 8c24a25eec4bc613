#!/usr/bin/env bash
# The security context of the Kubernetes manifests, tried on the real images without a cluster: podman (as root,
# containers/containers.conf, as `make test-containers` runs it) starts Redis, the face service and the gateway
# in one network namespace, like the containers of a pod, each as the manifests run it: its non-root UID, a
# read-only root file system, no capabilities, no privilege escalation, and writable volumes only where the
# manifests mount them (/tmp, the media directory; the model read-only), with base/settings.env as environment.
# Then: the init container's model check (with the model, and with an empty models volume), the probes' targets
# (gRPC health "" and faceblur.v1.FaceDetection, /healthz, /readyz, the face metrics port), a photo and a video
# through the API (the video crosses the shared media directory), the user of every process, and a write to the
# root file system (refused).
#
#   deploy/kubernetes/check_in_podman.sh [FACE_IMAGE] [GATEWAY_IMAGE] [REDIS_IMAGE]
#
# Defaults: faceblur/face-service, faceblur/gateway (build them with `make test-containers`, or podman build --target
# face-service / gateway) and redis:7. The model: MODEL_DIR (default ../shared/models). Exits non-zero on the first
# failed check. What it does not show: a kubelet's probes, volume plugins, fsGroup, scheduling (no cluster ran).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
face_image=${1:-faceblur/face-service}
gateway_image=${2:-faceblur/gateway}
redis_image=${3:-redis:7}
model_dir=${MODEL_DIR:-$root/../shared/models}
py="$root/.venv/bin/python"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/containers/containers.conf}"

work=$(mktemp -d /tmp/faceblur-k8s-check-XXXXXX)
names=(faceblur-k8s-gateway faceblur-k8s-face faceblur-k8s-redis)
cleanup() {
    for name in "${names[@]}"; do podman rm -f "$name" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; for name in "${names[@]}"; do podman logs --tail 20 "$name" 2>&1 | sed "s/^/[$name] /" >&2 || true; done; exit 1; }

mkdir -p "$work/tmp-face" "$work/tmp-gateway" "$work/media" "$work/redis" "$work/no-model"
chmod 1777 "$work/tmp-face" "$work/tmp-gateway" "$work/redis"      # emptyDir: writable by any user
chown 10001:10001 "$work/media" && chmod 2775 "$work/media"        # what fsGroup 10001 gives the volume
settings="$here/base/settings.env"
secure=(--read-only --read-only-tmpfs=false --cap-drop=ALL --security-opt=no-new-privileges)
as_faceblur=(--user 10001:10001 --env-file "$settings")
check_model="$("$py" -c '
import sys, yaml
deployment = next(yaml.safe_load_all(open(sys.argv[1])))
print(deployment["spec"]["template"]["spec"]["initContainers"][0]["command"][2])' "$here/base/face-service.yaml")"

echo "== init container check-model"
podman run --rm "${secure[@]}" "${as_faceblur[@]}" -v "$model_dir:/models:ro" "$face_image" python -c "$check_model" \
    || fail "check-model refused the model"
if podman run --rm "${secure[@]}" "${as_faceblur[@]}" -v "$work/no-model:/models:ro" "$face_image" \
    python -c "$check_model"; then fail "check-model passed without a model"; fi
echo "(refused, as it should be)"

echo "== Redis, the face service and the gateway in one network namespace"
podman run -d --name faceblur-k8s-redis "${secure[@]}" --user 999:999 --entrypoint redis-server \
    -v "$work/redis:/data" "$redis_image" --appendonly yes --dir /data >/dev/null
podman run -d --name faceblur-k8s-face --network container:faceblur-k8s-redis "${secure[@]}" "${as_faceblur[@]}" \
    -v "$model_dir:/models:ro" -v "$work/media:/var/lib/faceblur/media" -v "$work/tmp-face:/tmp" \
    "$face_image" >/dev/null
podman run -d --name faceblur-k8s-gateway --network container:faceblur-k8s-redis "${secure[@]}" "${as_faceblur[@]}" \
    -e FACE_SERVICE_ADDRESSES=127.0.0.1:50051 -e REDIS_URL=redis://127.0.0.1:6379/0 -e GATEWAY_API_KEYS=check-key \
    -v "$work/media:/var/lib/faceblur/media" -v "$work/tmp-gateway:/tmp" "$gateway_image" >/dev/null
for _ in $(seq 1 90); do
    podman exec faceblur-k8s-gateway python scripts/healthcheck.py http http://127.0.0.1:8000/readyz 2>/dev/null && break
    sleep 2
done

echo "== the probes' targets"
podman exec faceblur-k8s-face python -c '
import sys
sys.path.insert(0, "scripts")
from healthcheck import grpc_is_serving
for service in ("", "faceblur.v1.FaceDetection"):
    ok = grpc_is_serving("127.0.0.1:50051", timeout=3, service=service)
    print("gRPC health", repr(service), "SERVING" if ok else "not serving")
    assert ok
import urllib.request
with urllib.request.urlopen("http://127.0.0.1:9090/metrics", timeout=5) as answer:
    assert answer.status == 200
    print("face metrics: 200")' || fail "face service probes"
podman exec faceblur-k8s-gateway python -c '
import urllib.request
for path in ("/healthz", "/readyz"):
    with urllib.request.urlopen("http://127.0.0.1:8000" + path, timeout=5) as answer:
        print(path, answer.status, answer.read().decode()[:160])' || fail "gateway probes"

echo "== a photo and a video through the API"
"$py" -c "
import sys; sys.path.insert(0, '$root')
from pathlib import Path
from tests.videos import write_clip
write_clip(Path('$work/clip.mp4'), seconds=2.0, size=(640, 360))"
podman cp "$root/../shared/data/reference/test.jpg" faceblur-k8s-gateway:/tmp/photo.jpg
podman cp "$work/clip.mp4" faceblur-k8s-gateway:/tmp/clip.mp4
podman exec faceblur-k8s-gateway python -c '
import httpx
with httpx.Client(base_url="http://127.0.0.1:8000", headers={"X-API-Key": "check-key"}, timeout=120) as api:
    assert httpx.post("http://127.0.0.1:8000/detect_faces", files={"file": ("a.jpg", b"x")}).status_code == 401
    answer = api.post("/detect_faces", params={"wait": 60}, files={"file": ("photo.jpg", open("/tmp/photo.jpg", "rb"))})
    task = answer.json()
    print("photo:", task["status"], sorted(task["result"]))
    assert task["status"] == "SUCCESS" and len(task["result"]) == 2
    task_id = api.post("/blur_video", files={"file": ("clip.mp4", open("/tmp/clip.mp4", "rb"))}).json()["task_id"]
    while (task := api.get(f"/task_result/{task_id}", params={"wait": 30}).json())["status"] not in ("SUCCESS", "FAILURE"):
        pass
    print("video:", task["status"], task.get("result", {}).get("frames"), "frames", task.get("error") or "")
    assert task["status"] == "SUCCESS"' || fail "API"

echo "== users, and the read-only root file system"
for name in faceblur-k8s-face faceblur-k8s-gateway; do
    users=$(podman top "$name" user | tail -n +2 | sort -u | tr '\n' ' ')
    echo "$name: processes run as: $users"
    [ "$users" = "faceblur " ] || fail "$name has processes not running as faceblur: $users"
    if podman exec "$name" touch /app/written 2>/dev/null; then fail "$name could write to /app"; fi
done
echo "(writes to /app refused)"
echo "all checks passed"
