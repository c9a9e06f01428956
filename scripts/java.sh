#!/usr/bin/env bash
# The Java client (clients/java), built offline from Debian's packaged jars and plugins.
#
#   bash scripts/java.sh install      # the Debian packages (JDK 17, Maven, gRPC, protoc)
#   bash scripts/java.sh build        # protos → Java, compile, package (no tests)
#   bash scripts/java.sh test HOST:PORT PHOTOS   # JUnit against a running server
#   bash scripts/java.sh bench HOST:PORT PHOTO SECONDS CONCURRENCY
#
# Triton's grpc_service.proto and model_config.proto come from the tritonclient wheel
# the project already installs: their descriptors are written as a FileDescriptorSet,
# from which protoc and the grpc-java plugin generate the Java sources at build time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROJECT="$ROOT/clients/java"
HOME_DIR="${TENSORGATE_HOME:-$HOME/.cache/tensorgate}/java"
PACKAGES=(openjdk-17-jdk-headless maven protobuf-compiler protobuf-compiler-grpc-java-plugin
  libgrpc-java libprotobuf-java libnetty-java libperfmark-java libgoogle-gson-java
  libgoogle-common-protos-java libgeronimo-annotation-1.3-spec-java junit4
  libmaven-compiler-plugin-java libmaven-resources-plugin-java libmaven-jar-plugin-java
  libsurefire-java libexec-maven-plugin-java libbuild-helper-maven-plugin-java
  libanimal-sniffer-java)  # grpc's poms name its annotations; only recommended by Debian

install() {
  local missing=()
  for package in "${PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if ((${#missing[@]})); then
    echo "installing ${missing[*]}" >&2
    if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends \
      "${missing[@]}" >&2
  fi
}

descriptors() {
  mkdir -p "$PROJECT/target"
  "$ROOT/.venv/bin/python" - "$PROJECT/target/triton.desc" <<'PY'
import sys
from google.protobuf import descriptor_pb2
from tritonclient.grpc import model_config_pb2, service_pb2

found = descriptor_pb2.FileDescriptorSet()
for module in (model_config_pb2, service_pb2):  # dependencies first
    module.DESCRIPTOR.CopyToProto(found.file.add())
with open(sys.argv[1], "wb") as handle:
    handle.write(found.SerializeToString())
PY
}

mvn_() {
  mvn -B -q -U -s "$PROJECT/settings.xml" -f "$PROJECT/pom.xml" \
    -Dmaven.repo.local="$HOME_DIR/m2" "$@"
}

case "${1:-build}" in
  install) install ;;
  build) install; descriptors; mvn_ package -DskipTests ;;
  test)
    install; descriptors
    mvn_ test -Dtensorgate.grpc="$2" -Dtensorgate.photos="$3" ;;
  bench)
    install; descriptors
    mvn_ compile exec:java -Dexec.mainClass=dev.tensorgate.client.Bench \
      -Dexec.classpathScope=runtime -Dexec.args="$2 $3 $4 $5" ;;
  *) echo "usage: $0 install|build|test HOST:PORT PHOTOS|bench HOST:PORT PHOTO SECONDS CONCURRENCY" >&2; exit 2 ;;
esac
