#!/usr/bin/env bash
# Build and run tensorgate's container images with podman / buildah, on a machine that
# reaches no image registry (only Debian's and PyPI's package mirrors).
#
#   bash scripts/container.sh setup        # install podman, buildah, debootstrap, runc
#   bash scripts/container.sh base         # a local Debian bookworm base image (cached)
#   bash scripts/container.sh build [--tag T] [--repository DIR | --no-models] [--extras E]
#                                          # the CPU image (default: EfficientNet-Lite0 baked in)
#   bash scripts/container.sh build-gpu [--tag T] [--repository DIR | --no-models]
#                                          # the GPU image (needs a registry with CUDA bases)
#   bash scripts/container.sh build-lambda [--tag T] [--repository DIR]
#                                          # the AWS Lambda image (docs/serverless.md)
#   bash scripts/container.sh podman ARGS  # podman with this script's configuration
#
# What makes podman work here, all kept in $TENSORGATE_HOME/container (default
# ~/.cache/tensorgate/container), never in the checkout:
#   - BUILDAH_ISOLATION=chroot (no user namespaces inside this sandbox);
#   - a containers.conf with runc, the cgroupfs manager and explicit nofile/nproc ulimits;
#   - a base image made with `debootstrap --variant=minbase`, since no registry is reached;
#   - a wheelhouse built on the host (pip inside a build cannot verify TLS here), copied
#     into the build context, so the build itself needs no network.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE="${TENSORGATE_HOME:-$HOME/.cache/tensorgate}/container"
BASE_IMAGE=localhost/tensorgate-base:bookworm
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$STATE"

export BUILDAH_ISOLATION=chroot
export CONTAINERS_CONF="$STATE/containers.conf"
# Explicit limits, within what this sandbox lets a container set (no raising past the
# hard limits): files as many as this shell may open, processes and threads 4,096.
nofile=$(ulimit -Hn); nproc=4096
[ "$nofile" = unlimited ] && nofile=65536
cat > "$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
EOF

say() { echo "container.sh: $*" >&2; }

setup() {
  local missing=()
  for tool in podman buildah debootstrap runc; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends \
    podman buildah debootstrap runc uidmap fuse-overlayfs >&2 \
    || { "${apt_get[@]}" update >&2 && DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" \
         install -y --no-install-recommends podman buildah debootstrap runc uidmap \
         fuse-overlayfs >&2; }
}

base() {
  setup
  if podman image exists "$BASE_IMAGE"; then return 0; fi
  local rootfs="$STATE/rootfs"
  rm -rf "$rootfs"
  say "debootstrap $SUITE (minbase + python3) into $rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$rootfs" "$MIRROR" >&2
  # What a serving image never needs: package caches, documentation, other locales.
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*
  find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'en*' -exec rm -rf {} +
  tar -C "$rootfs" --numeric-owner -c . | podman import \
    --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  say "base image $BASE_IMAGE: $(podman image inspect --format '{{.Size}}' "$BASE_IMAGE") bytes"
}

# The build context: the Dockerfile's inputs, made on the host.
context() {  # context DIR REPOSITORY|"" VARIANT(cpu|gpu|lambda) EXTRAS
  local ctx=$1 repository=$2 variant=$3 extras=$4
  rm -rf "$ctx" && mkdir -p "$ctx/repository"
  cp deploy/container/healthcheck.py "$ctx/"
  if [ -n "$repository" ]; then
    cp -rL "$repository"/. "$ctx/repository/"
  fi
  chmod -R a+rX "$ctx"  # the image's user (10001) reads what the host's user wrote
  if [ "$variant" = gpu ]; then
    .venv/bin/python -m pip wheel --quiet --no-deps -w "$ctx/dist" . >&2
    cp constraints.txt "$ctx/"
  else
    # Every wheel the image installs, pinned by constraints.txt; pip's cache makes it fast.
    .venv/bin/python -m pip wheel --quiet --disable-pip-version-check -c constraints.txt \
      -w "$STATE/wheels" ".[$extras]" 2> >(grep -v "^WARNING: Location" >&2)
    mkdir -p "$ctx/wheels"
    cp "$STATE"/wheels/*.whl "$ctx/wheels/"
  fi
}

default_repository() {  # the zoo's EfficientNet-Lite0, exported once on the host
  bash scripts/bootstrap.sh serve
  .venv/bin/tensorgate zoo pull efficientnet-lite0 >&2
  local home="${TENSORGATE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tensorgate}"
  local only="$STATE/default-repository"
  rm -rf "$only" && mkdir -p "$only"
  cp -rL "$home/repository/efficientnet-lite0" "$only/"
  echo "$only"
}

build() {  # build VARIANT(cpu|gpu|lambda) [--tag T] [--repository DIR | --no-models] [--extras E]
  local variant=$1; shift
  local tag=tensorgate:latest repository="" models=default extras=grpc
  local dockerfile=deploy/container/Dockerfile
  case "$variant" in
    gpu) tag=tensorgate-gpu:latest; dockerfile=deploy/container/Dockerfile.gpu ;;
    lambda) tag=tensorgate-lambda:latest; dockerfile=deploy/container/Dockerfile.lambda
            extras=lambda ;;
  esac
  while [ $# -gt 0 ]; do
    case "$1" in
      --tag) tag=$2; shift 2 ;;
      --repository) repository=$(cd "$2" && pwd); models=given; shift 2 ;;
      --no-models) models=none; shift ;;
      --extras) extras=$2; shift 2 ;;
      *) say "unknown option '$1'"; exit 2 ;;
    esac
  done
  if [ "$models" = default ]; then repository=$(default_repository); fi
  [ "$models" = none ] && repository=""
  local ctx="$STATE/context-$variant"
  context "$ctx" "$repository" "$variant" "$extras"
  local args=(--build-arg "EXTRAS=$extras")
  if [ "$variant" = gpu ]; then
    setup
  else
    base
    args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
  fi
  say "building $tag from $dockerfile"
  # --format docker keeps HEALTHCHECK (OCI image configs have no such field).
  buildah build --format docker --network host --layers -f "$ROOT/$dockerfile" \
    "${args[@]}" -t "$tag" "$ctx" >&2
  say "$tag: $(podman image inspect --format '{{.Size}}' "$tag") bytes"
}

case "${1:-}" in
  setup) setup ;;
  base) base ;;
  build) shift; build cpu "$@" ;;
  build-gpu) shift; build gpu "$@" ;;
  build-lambda) shift; build lambda "$@" ;;
  podman) shift; setup; exec podman "$@" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
