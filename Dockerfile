# syntax=docker/dockerfile:1
#
# One image per pixi environment and architecture, installed from pixi.lock and nothing else:
#   docker build --build-arg PIXI_ENV=cpu    -t coaxial-train:cpu .
#   docker build --build-arg PIXI_ENV=cuda12 -t coaxial-train:cuda12 .
#   docker buildx build --platform linux/arm64 --build-arg PIXI_ENV=cpu -t coaxial-train:cpu-arm64 .
# PIXI_ENV must be an environment of pixi.toml that the lock solves for the image's platform:
# linux/amd64 is the lock's linux-64 (cpu, cuda12, default), linux/arm64 its linux-aarch64 (cpu,
# default; torch is PyPI's CPU wheel there). Both bases are multi-arch, so pixi installs the
# platform it runs on. compose.yaml builds the images; tests/test_docker.py checks this file.
ARG PIXI_ENV=cpu

# ---------------------------------------------------------------------------------------------
# build: pixi installs the locked environment and runs the postinstall task.
# The pixi tag is the floor set by `requires-pixi` in pixi.toml. Debian bookworm, because the
# runtime stage is bookworm-slim: same glibc, so the environment runs where it was installed.
FROM ghcr.io/prefix-dev/pixi:0.77.0-bookworm AS build
ARG PIXI_ENV

# A GPU-less builder has no __cuda virtual package, and cuda12's platforms (linux-64-cuda in
# pixi.toml, locked with __cuda=12.8) need one; without this the cuda12 install refuses to start.
# Build stage only: at run time the real driver is what counts. CPU environments ignore it.
ENV CONDA_OVERRIDE_CUDA=12.8

WORKDIR /app

# Manifest and lock first, so editing the source does not reinstall gigabytes of packages.
COPY pixi.toml pixi.lock ./

# --locked: install exactly the records in pixi.lock (URLs and sha256s), and stop if pixi judges
# the lock out of date for pixi.toml instead of re-solving. The lock is in pixi's own format and
# CI checks it by pixi's rules, so an image can never be built from a lock that disagrees with
# the manifest; see docs/environments.md "Docker".
RUN --mount=type=cache,target=/root/.cache/rattler \
    pixi install --locked --environment "${PIXI_ENV}"

COPY . .

# Same step as a native install; --locked again, because `pixi run` would otherwise re-lock.
RUN pixi run --locked --environment "${PIXI_ENV}" postinstall

# The runtime stage has no pixi: the activation script is generated here, and the entrypoint
# sources it before running the container's command.
RUN pixi shell-hook --locked --environment "${PIXI_ENV}" --shell bash > /shell-hook.sh \
    && { echo '#!/bin/bash'; cat /shell-hook.sh; echo 'exec "$@"'; } > /entrypoint.sh \
    && chmod 0755 /entrypoint.sh

# ---------------------------------------------------------------------------------------------
# runtime: the environment at the same path it was installed to (conda prefixes are not
# relocatable once installed), the source, and a non-root user. No package manager runs here.
FROM debian:bookworm-slim AS runtime
ARG PIXI_ENV

LABEL org.opencontainers.image.title="coaxial-train" \
      org.opencontainers.image.description="Reproducible training of Piper (VITS) voices" \
      org.opencontainers.image.licenses="GPL-3.0-or-later" \
      io.github.coaxial-train.pixi-environment="${PIXI_ENV}"

# Numeric in USER below, so `runAsNonRoot`-style checks can verify it without /etc/passwd.
RUN useradd --create-home --uid 1000 --user-group --shell /bin/bash coaxial \
    && install -d -o coaxial -g coaxial /data /outputs

COPY --from=build /app /app
COPY --from=build /entrypoint.sh /entrypoint.sh

# The activation in /entrypoint.sh sets PIXI_ENVIRONMENT_NAME; the label above shows it too.
# PYTHONUNBUFFERED: training progress reaches `docker logs` as it is printed.
# PYTHONDONTWRITEBYTECODE: /app belongs to root; the user cannot (and need not) write .pyc there.
# NVIDIA_DRIVER_CAPABILITIES: the base is not an nvidia/cuda image, so ask the container toolkit
# for the compute libraries explicitly (ignored when no GPU is attached).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

WORKDIR /app
USER 1000:1000

# Fails the build if the copied environment is missing a library that the slim base lacks.
RUN ["/entrypoint.sh", "python", "-c", "import torch, soundfile, piper"]

ENTRYPOINT ["/entrypoint.sh"]
CMD ["python", "-m", "tasks.verify"]
