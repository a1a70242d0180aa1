# syntax=docker/dockerfile:1
# Every Bunri image, from this one file: build args say what an image installs and runs, and
# docker-compose.yml's `build.args` hold each image's set (`docker compose build SERVICE`). By
# hand, from the repository root:
#   docker build -t bunri/auth-api --build-arg ROLE=api --build-arg MEMBER=services/auth-api \
#     --build-arg PACKAGES="./libs/bunri ./services/auth-api" \
#     --build-arg ENTRY_POINT=bunri-auth-api --build-arg SETTINGS_PREFIX=BUNRI_AUTH_API \
#     --build-arg PORT=8001 .
# The builder installs the packages into a virtualenv (pinned by constraints.txt); the runtime is
# that virtualenv on a slim Python, run by an unprivileged user. What an arg switches on or off
# (the torch layer, a listen address, volumes) is a stage of its own, picked by `FROM x-${ARG}`:
# BuildKit builds only the stages the target reaches.
#
# Build args (all required unless a default is shown):
#   ROLE         ops | api | worker | ai-worker: what the runtime adds (below)
#   MEMBER       the workspace member the image runs (copied into the builder)
#   PACKAGES     what pip installs, e.g. "./libs/bunri[worker] ./programs ./workers/storage"
#   ENTRY_POINT  the console script the container runs (one of MEMBER's)
#   TORCH=none   cpu: torch's CPU build first, in a layer of its own (the AI image)
#   api:         SETTINGS_PREFIX (BUNRI_AUTH_API ...) and PORT, its listen port
#   worker, ai-worker: WORKER_NAME, which names its journal and heartbeat files

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG TORCH=none
ARG ROLE

FROM ${PYTHON_IMAGE} AS builder-base
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
WORKDIR /src
COPY constraints.txt ./

FROM builder-base AS torch-none

# PyPI's Linux wheels of torch bring some 3 GB of CUDA libraries that a CPU node never loads; the
# CPU build comes from PyTorch's own index, and constraints.txt pins it (torch==X+cpu, x86-64).
# Before the members, so that code changes do not rebuild this layer.
FROM builder-base AS torch-cpu
RUN /opt/venv/bin/pip install --constraint constraints.txt \
        --extra-index-url https://download.pytorch.org/whl/cpu torch

FROM torch-${TORCH} AS builder
ARG MEMBER
ARG PACKAGES
ARG ENTRY_POINT
# Unset, these would surface later as a puzzling COPY or pip error, or a container that cannot
# start.
RUN test -n "$MEMBER" && test -n "$PACKAGES" && test -n "$ENTRY_POINT" \
    || { echo "set the build args MEMBER, PACKAGES and ENTRY_POINT (see Dockerfile)" >&2; exit 1; }
COPY libs/bunri ./libs/bunri
# The `bunri` command (programs, without its standalone extra), for the images whose PACKAGES
# name it: the ops image, and the workers, whose health check is `bunri worker alive`. The APIs'
# images do not install it.
COPY programs ./programs
COPY ${MEMBER} ./${MEMBER}
# Not editable installs: the packages land in the virtualenv, so the runtime needs no source.
# PACKAGES is split into words unquoted; `set -f` keeps its extras' brackets from being globs.
RUN set -f; /opt/venv/bin/pip install --constraint constraints.txt ${PACKAGES}

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 bunri \
    && useradd --system --uid 10001 --gid bunri --create-home --shell /usr/sbin/nologin bunri
COPY --from=builder /opt/venv /opt/venv
ARG ENTRY_POINT
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BUNRI_STATE_DIR=/tmp/bunri \
    ENTRY_POINT=${ENTRY_POINT}
WORKDIR /home/bunri
# The image names its own program, so that it runs without compose too. An exec-form ENTRYPOINT
# takes no variables, and a shell-form one drops CMD and the arguments of `docker run IMAGE ARGS`.
# So a shell reads the script's name from ENTRY_POINT and `exec`s it with the arguments
# ("$@"): the script replaces the shell, and as PID 1 gets the container's signals itself.
ENTRYPOINT ["/bin/sh", "-c", "exec \"$ENTRY_POINT\" \"$@\"", "entrypoint"]

# The ops image (`bunri`: migrations, reaper, relay): bare, it prints its commands.
FROM runtime AS role-ops
CMD ["--help"]

# An API listens on every interface (the container's own) at its port.
FROM runtime AS role-api
ARG SETTINGS_PREFIX
ARG PORT
RUN test -n "$SETTINGS_PREFIX" && test -n "$PORT" \
    || { echo "an api image needs the build args SETTINGS_PREFIX and PORT" >&2; exit 1; }
ENV ${SETTINGS_PREFIX}_HOST=0.0.0.0 \
    ${SETTINGS_PREFIX}_PORT=${PORT}
EXPOSE ${PORT}

# A worker's journal must outlive the container: its volume mounts here, and a fresh named volume
# takes the directory's owner. The heartbeat stays off the volume: it must die with its writer.
FROM runtime AS role-worker
ARG WORKER_NAME
RUN test -n "$WORKER_NAME" \
    || { echo "a worker image needs the build arg WORKER_NAME" >&2; exit 1; }
RUN install -d -o bunri -g bunri /var/lib/bunri/journal
ENV BUNRI_JOURNAL_PATH=/var/lib/bunri/journal/${WORKER_NAME}.sqlite3 \
    BUNRI_HEARTBEAT_PATH=/tmp/bunri/heartbeat/${WORKER_NAME}.json
VOLUME /var/lib/bunri/journal

# The AI worker also keeps downloaded models (Hugging Face's cache) on a volume of their own.
FROM role-worker AS role-ai-worker
RUN install -d -o bunri -g bunri /var/cache/bunri/models
ENV HF_HOME=/var/cache/bunri/models
VOLUME /var/cache/bunri/models

FROM role-${ROLE}
USER 10001:10001
